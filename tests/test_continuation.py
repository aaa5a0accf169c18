"""Continuation, bifurcation points, folds and first-order transitions on the circle.

References: DESIGN.md §1 / LITERATURE.md: kappa_k = beta / I_k(beta); noisy Kuramoto
(beta = 0) r = I_1(kappa r)/I_0(kappa r); the first bifurcation is supercritical iff
I_2(beta)/I_1(beta) < 1/2, i.e. beta < beta_* = 2.4469... (Mun–Rosenzweig).
"""

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import i0e, i1e, iv

import meanfield as mf
from meanfield.continuation import (
    BranchSystem,
    bifurcation_diagram,
    bifurcation_points_of_uniform,
    trace_branch,
)
from meanfield.stationary import linear_stability


@pytest.mark.parametrize("beta, n_modes", [(0.5, 24), (3.0, 32), (8.0, 48)])
def test_branch_points_are_beta_over_I_k(beta, n_modes):
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0)
    b = mf.CircleBasis(n_modes)
    for k in (1, 2, 3, 4):
        exact = beta / iv(k, beta)
        roots = bifurcation_points_of_uniform(model, b, "kappa", (0.5 * exact, 2 * exact), k)
        assert len(roots) == 1 and abs(roots[0] - exact) < 1e-10 * max(1, exact)


def test_branch_point_in_beta_at_fixed_kappa():
    # kappa = 1: mode 1 destabilizes where I_1(beta) = beta (a root found independently)
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.0)
    b = mf.CircleBasis(32)
    exact = brentq(lambda x: iv(1, x) - x, 0.5, 6.0, xtol=1e-15)
    roots = bifurcation_points_of_uniform(model, b, "beta", (0.5, 6.0), 1)
    assert len(roots) == 1 and abs(roots[0] - exact) < 1e-10


@pytest.fixture(scope="module")
def kuramoto_diagram():
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=1.0)
    return bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (1.0, 11.0), modes=(1,))


def test_kuramoto_branch_is_von_mises(kuramoto_diagram):
    d = kuramoto_diagram
    (bp,) = d.bifurcation_points
    assert abs(bp.param - 2.0) < 1e-12 and bp.kind == "supercritical"
    br = d.branches[0]
    kappa, r = br.param[1:], br.amplitude[1:]
    # self-consistency r = I_1(kappa r)/I_0(kappa r) at every point of the branch
    assert np.max(np.abs(r - i1e(kappa * r) / i0e(kappa * r))) < 1e-10
    a = kappa * r
    F = (a * r - (np.log(i0e(a)) + a)) / kappa - r**2 / 2  # von Mises free energy
    assert np.max(np.abs(br.free_energy[1:] - F)) < 1e-10
    assert np.all(br.stable[1:]) and br.param[-1] == pytest.approx(11.0)
    # the normal form: r^2 ~ 8 (kappa - 2)/kappa^3 near kappa = 2, i.e. kappa = 2 + r^2:
    # c = 1/2 in kappa = 2 (1 + c r^2) (Kuramoto expansion, issue 5)
    assert bp.curvature == pytest.approx(0.5, rel=1e-8)


@pytest.mark.parametrize("beta, kind", [(2.3, "supercritical"), (2.6, "subcritical")])
def test_first_bifurcation_type_changes_at_beta_star(beta, kind):
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0)
    k1 = beta / iv(1, beta)
    d = bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.9 * k1, 1.3 * k1),
                            modes=(1,))
    (bp,) = d.bifurcation_points
    assert bp.kind == kind and abs(bp.param - k1) < 1e-10
    if kind == "subcritical":
        (fold,) = d.folds
        (tr,) = d.first_order_transitions
        assert fold.param < tr.param < k1  # fold, then kappa_c, then kappa_1
        assert d.branches[0].stable[-1]
    else:
        assert not d.folds and not d.first_order_transitions
        assert np.all(d.branches[0].stable[1:])


@pytest.fixture(scope="module")
def beta3():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    return model, bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.2, 2.0),
                                      modes=(1, 2, 3))


def test_beta3_diagram(beta3):
    model, d = beta3
    kinds = {p.mode: p.kind for p in d.bifurcation_points}
    assert kinds == {1: "subcritical", 2: "supercritical"}  # kappa_3 = 3.13 is out of bounds
    for p in d.bifurcation_points:
        assert abs(p.param - 3.0 / iv(p.mode, 3.0)) < 1e-10
    assert not d.branches[1].stable.any()  # two clusters: unstable to mode-1 perturbations
    label, mode, _ = d.minimizer(1.5)
    assert mode == 1
    assert d.minimizer(0.5)[1] == 0


def test_stable_branch_state_is_the_long_time_limit_of_evolve(beta3):
    model, d = beta3
    br = d.branches[0]
    i = int(np.nonzero(br.stable & (br.param > 1.0))[0][0])
    kappa, c_branch = br.param[i], br.coeffs[i]
    b = mf.CircleBasis(c_branch.size)
    m = model.replace(kappa=kappa)
    sol = mf.evolve(m, b, mf.initial.von_mises(b, 2.0), 300.0, [0, 300.0], rtol=1e-11,
                    atol=1e-14)
    c = sol.coeffs[-1] * np.exp(-1j * np.arange(b.n_modes) * np.angle(sol.coeffs[-1, 1]))
    assert np.max(np.abs(c - c_branch)) < 1e-9


def test_spectrum_predicts_what_evolve_does(beta3):
    # an unstable point of the subcritical branch (between the bifurcation and the fold):
    # evolve from it, slightly perturbed, leaves it; from the stable part it returns.
    model, d = beta3
    br = d.branches[0]
    for want_stable in (False, True):
        idx = np.nonzero((br.stable == want_stable) & (br.amplitude > 0.05))[0]
        i = int(idx[len(idx) // 2])
        c0 = br.coeffs[i]
        b = mf.CircleBasis(c0.size)
        m = model.replace(kappa=br.param[i])
        stab = linear_stability(m, b, c0)
        assert stab.stable == want_stable
        lam = stab.leading(1)[0].real
        T = 10.0 / abs(lam)  # e^10 growth or decay of the leading mode
        rho0 = b.backward(c0) * (1 + 1e-6 * np.cos(b.grid))
        sol = mf.evolve(m, b, rho0, T, [0, T], normalize=True, rtol=1e-10)
        dev = np.max(np.abs(sol.rho[-1] - b.backward(c0)))
        assert (dev < 1e-6) if want_stable else (dev > 1e-3), (want_stable, lam, dev)


def test_fold_location_independent_of_step_control():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    folds = []
    for ds, ds_max in ((0.02, 0.2), (0.003, 0.01)):
        d = bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,),
                                ds=ds, ds_max=ds_max)
        folds.append(d.folds[0].param)
    assert abs(folds[0] - folds[1]) < 1e-9


def test_mode_refinement_along_a_concentrating_branch():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    d = bifurcation_diagram(model, mf.CircleBasis(16), "kappa", (0.7, 6.0), modes=(1,),
                            resolution_tol=1.0)
    br = d.branches[0]
    assert br.n_modes[0] == 16 and br.n_modes[-1] >= 32
    assert br.param[-1] == pytest.approx(6.0)


def test_bad_input():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    b = mf.CircleBasis(32)
    with pytest.raises(ValueError, match=r"contain no bifurcation point.*mode 1: 0\.758846"):
        bifurcation_diagram(model, b, "kappa", (0.2, 0.5), modes=(1,))
    with pytest.raises(ValueError, match="param must be one of"):
        bifurcation_diagram(model, b, "temperature", (0.2, 0.5))
    with pytest.raises(ValueError, match="lo < hi"):
        bifurcation_diagram(model, b, "kappa", (2.0, 0.5))
    with pytest.raises(ValueError, match="AttentionKernel"):
        bifurcation_diagram(mf.MeanFieldModel(mf.KuramotoKernel(), kappa=1.0), b, "beta",
                            (0.1, 1.0))
    with pytest.raises(ValueError, match=r"modes must be integers in \[1, 31\]"):
        bifurcation_diagram(model, b, "kappa", (0.2, 2.0), modes=(0,))
    assert BranchSystem and trace_branch  # public building blocks


def test_phase_diagram_tricritical_beta():
    # beta_* solves I_2(beta)/I_1(beta) = 1/2 (Mun–Rosenzweig, d = 2): 2.44691831...
    from meanfield.continuation import phase_diagram

    exact = brentq(lambda x: iv(2, x) / iv(1, x) - 0.5, 2.0, 3.0, xtol=1e-15)
    pd = phase_diagram([2.0, 2.5, 3.0])
    assert pd.kind == ["supercritical", "subcritical", "subcritical"]
    # curvature from Richardson at amplitudes 1e-2, 2e-2: relative error ~1e-8 -> beta_* ~1e-7
    assert abs(pd.beta_star - exact) < 1e-6
    assert np.allclose(pd.kappa_1, [b / iv(1, b) for b in pd.beta], rtol=1e-12)
    sub = np.array(pd.kind) == "subcritical"
    assert np.all(pd.kappa_fold[sub] < pd.kappa_c[sub])
    assert np.all(pd.kappa_c[sub] < pd.kappa_1[sub])
    assert np.all(np.isnan(pd.kappa_c[~sub]))


def test_stability_changes_along_the_subcritical_branch(beta3):
    # the 1-cluster branch at beta = 3: Morse index 1 between kappa_1 and the fold, 0 after
    _, d = beta3
    changes = [c for c in d.stability_changes() if c["mode"] == 1]
    fold = d.folds[0].param
    assert any(c["morse_before"] == 1 and c["morse_after"] == 0
               and abs(c["param"] - fold) < 0.01 for c in changes)


def test_fold_against_an_independent_amplitude_parametrization():
    # the fold is the minimum of kappa(a) along the branch parametrized by its amplitude a
    # (a different system: x_1 = a fixed, kappa unknown), found by a bounded scalar search
    from scipy.optimize import minimize_scalar

    from meanfield.continuation import _solve_at_amplitude

    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    b = mf.CircleBasis(32)
    d = bifurcation_diagram(model, b, "kappa", (0.6, 1.0), modes=(1,))
    bs = BranchSystem(model, b, "kappa")
    res = minimize_scalar(lambda a: _solve_at_amplitude(bs, 1, a, 0.75)[-1],
                          bounds=(0.2, 0.6), method="bounded", options={"xatol": 1e-8})
    # near the extremum kappa(a) is flat: an a-error of 1e-8 gives ~1e-16 in kappa
    assert abs(d.folds[0].param - res.fun) < 1e-9
    assert abs(d.folds[0].amplitude - res.x) < 1e-6


def test_transition_close_to_onset_is_found_with_default_steps():
    # beta = 2.45, just above beta_*: fold and kappa_c lie within ~1e-4 of kappa_1
    model = mf.MeanFieldModel(mf.AttentionKernel(2.45), kappa=1.0)
    k1 = 2.45 / iv(1, 2.45)
    d = bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.5, 1.5), modes=(1,))
    (fold,) = d.folds
    (tr,) = d.first_order_transitions
    assert fold.param < tr.param < k1 and k1 - fold.param < 1e-3


@pytest.mark.parametrize("param, bounds, kind", [
    ("noise", (0.5, 2.0), "subcritical"),   # beta = 3: noise_1 = I_1(3)/3 = 1.3178
    ("beta", (0.5, 6.0), "subcritical"),    # kappa = 1: I_1(beta) = beta at beta = 2.4868
])
def test_classification_in_other_parameters(param, bounds, kind):
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    d = bifurcation_diagram(model, mf.CircleBasis(32), param, bounds, modes=(1,))
    bp = d.bifurcation_points[0]
    assert bp.kind == kind
    if param == "noise":
        assert abs(bp.param - iv(1, 3.0) / 3.0) < 1e-10 and d.folds and d.folds[0].param > bp.param
    else:
        assert abs(bp.param - brentq(lambda x: iv(1, x) - x, 1, 5, xtol=1e-15)) < 1e-10


def test_branch_stopping_early_warns_and_minimizer_does_not_stand_in():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    with pytest.warns(UserWarning, match="stopped before the bounds.*max_modes"):
        d = bifurcation_diagram(model, mf.CircleBasis(16), "kappa", (0.5, 20.0), modes=(1,),
                                max_modes=32, resolution_tol=1.0)
    br = d.branches[0]
    assert br.param[-1] < 20.0 and "max_modes" in br.message
    with pytest.raises(ValueError, match="no stable state"):
        d.minimizer(19.0)  # the uniform state is unstable there and the branch is unknown


def test_minimizer_at_the_upper_bound(beta3):
    _, d = beta3
    assert d.branches[0].param[-1] == 2.0
    assert d.minimizer(2.0)[1] == 1
