"""Two-parameter continuation (meanfield/two_parameter.py) against independent references.

- fold points: the fold that bifurcation_diagram locates at fixed beta (arclength
  continuation and Brent on dkappa/ds, an independent path), to 1e-9;
- the curve's at(beta) between computed points (the fold equation solved there), to 1e-9;
- the branch-point curve: beta / I_1(beta) (DESIGN §1), to 1e-12;
- beta_* extrapolated from the fold curve (amplitude -> 0) against the curvature-based
  tricritical point of phase_diagram (the sign change of c in kappa = kappa_1 (1 + c a^2)),
  to 1e-6: two independent computations of the same codimension-two point.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import iv

import meanfield as mf
from meanfield.two_parameter import branch_point_curve, fold_curve

MODEL = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
BASIS = mf.CircleBasis(32)


def _diagram_fold(beta):
    m = MODEL.replace(kernel=mf.AttentionKernel(beta))
    k1 = beta / iv(1, beta)
    return mf.bifurcation_diagram(m, BASIS, "kappa", (0.5 * k1, 1.2 * k1), modes=(1,)).folds[0]


def test_fold_curve_points_are_the_diagram_folds():
    betas = np.array([3.5, 3.2, 3.0, 2.8])
    fc = fold_curve(MODEL, BASIS, betas)
    for b, k, a in zip(fc.beta, fc.kappa, fc.amplitude, strict=True):
        f = _diagram_fold(b)
        assert abs(k - f.param) < 1e-9
        assert abs(a - f.amplitude) < 1e-6
    assert np.all(fc.kappa < betas / iv(1, betas))  # the fold lies below kappa_1
    assert abs(fc.at(2.9) - _diagram_fold(2.9).param) < 1e-9  # solved there, not interpolated


def test_branch_point_curve_is_the_closed_form():
    betas = np.array([0.5, 2.0, 4.0])
    bp = branch_point_curve(MODEL, BASIS, betas)
    assert np.allclose(bp.kappa, betas / iv(1, betas), rtol=1e-12)


def test_phase_diagram_exposes_the_curves_and_the_tricritical_point():
    pd = mf.phase_diagram([2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the curve is followed to within 1e-3 of beta_*
        fc = pd.fold_curve
    assert fc.beta[0] == 3.0 and fc.amplitude[-1] < 0.03
    (cp,) = pd.codim2_points
    assert cp.kind == "tricritical"
    assert abs(cp.beta - pd.beta_star) < 1e-6
    assert abs(cp.beta - _closed_form_beta_star(2)) < 1e-8  # closed form: 2.4469183113
    assert abs(cp.kappa - cp.beta / iv(1, cp.beta)) < 1e-12
    assert np.allclose(pd.branch_point_curve.kappa, pd.kappa_1, rtol=1e-12)


def test_fold_curve_refuses_a_start_without_fold():
    with pytest.raises(ValueError, match="no fold"):
        fold_curve(MODEL, BASIS, [2.0])  # supercritical: no fold


def test_maxwell_curve_is_the_first_order_transition_of_the_diagrams():
    # reference: kappa_c located by bifurcation_diagram (Brent on F_branch - F_uniform along
    # the arclength) at fixed beta
    from meanfield.two_parameter import maxwell_curve

    mc = maxwell_curve(MODEL, BASIS, [3.2, 3.1, 3.0, 2.9, 2.8])
    for b, k in zip(mc.beta[[0, 2, 4]], mc.kappa[[0, 2, 4]], strict=True):
        m = MODEL.replace(kernel=mf.AttentionKernel(b))
        k1 = b / iv(1, b)
        d = mf.bifurcation_diagram(m, BASIS, "kappa", (0.5 * k1, 1.2 * k1), modes=(1,))
        assert abs(k - d.first_order_transitions[0].param) < 1e-9
    folds = fold_curve(MODEL, BASIS, mc.beta)
    assert np.all(folds.kappa < mc.kappa) and np.all(mc.kappa < mc.beta / iv(1, mc.beta))


def _closed_form_beta_star(d: int) -> float:
    """The root of the normal-form coefficient c(beta) (meanfield.symbolic, sympy's closed
    form in Bessel functions), by mpmath at 30 digits."""
    import mpmath as mp
    import sympy as sp

    from meanfield import symbolic

    nf = symbolic.normal_form("attention", mode=1, dim=d)
    (beta,) = nf.c.free_symbols
    with mp.workdps(30):
        return float(mp.findroot(sp.lambdify(beta, nf.c, "mpmath"), 2.0))


def test_the_tricritical_point_in_dimension_d_from_the_continued_fold_curve():
    """Issue 14: beta_*^{(d)} from two-parameter continuation (zonal basis for d > 2, the
    default of phase_diagram) against the closed form, to 1e-8 (d = 2 is above)."""
    from meanfield.two_parameter import tricritical_curve

    tc = tricritical_curve([3, 4])
    for d, b, k in zip(tc.dim, tc.beta, tc.kappa, strict=True):
        assert abs(b - _closed_form_beta_star(int(d))) < 1e-8
        g1 = mf.AttentionKernel(b).coefficients(1, int(d))[1]
        assert abs(k * g1 - 1.0) < 1e-10  # on the branch-point curve kappa_1 = 1/g_1
    assert tc.beta[0] > tc.beta[1]  # beta_* decreases with d (2.447, 1.816, 1.575)
    ax = tc.plot()
    assert len(ax.get_lines()[0].get_xdata()) == 2


# --- the fold curve by pseudo-arclength (issue 14, part 3) ------------------------------


@pytest.fixture(scope="module")
def path3():
    from meanfield.two_parameter import fold_path

    return fold_path(MODEL, BASIS, 3.0)


def test_fold_path_passes_the_tricritical_turning_point(path3):
    """The arclength fold path from the beta = 3 fold goes down to the tricritical point,
    where the fold meets the branch-point curve and beta turns (beta - beta_* ~ a^2), and
    back up on the mirror image of the branch (a < 0): the beta-parametrized fold curve
    stops there. References: the beta-parametrized fold curve solved at the path's betas
    (Newton in beta, an independent parametrization) and the diagram's fold (Brent on
    dkappa/ds) to 1e-9 (both solvers converge to 1e-11); beta_* against the closed form of
    the normal form, kappa_* against beta / I_1(beta), to 1e-8 and 1e-10 (the fit through
    a = 0 has error O(a^6) ~ 1e-13, the corrector's 1e-11)."""
    fp = path3
    pos, neg = fp.amplitude > 0, fp.amplitude < 0
    assert pos.sum() >= 5 and neg.sum() >= 5 and fp.beta[-1] >= 3.0
    i_turn = int(np.argmin(fp.beta))
    assert fp.amplitude[i_turn] * fp.amplitude[i_turn + 1] <= 0 or \
        fp.amplitude[i_turn - 1] * fp.amplitude[i_turn] <= 0  # beta turns where a = 0
    fc = fold_curve(MODEL, BASIS, [3.0, 2.9, 2.8, 2.7, 2.6, 2.5])
    for i in np.nonzero((fp.beta >= 2.5) & (fp.beta <= 3.0))[0][::3]:  # both sides of the turn
        assert abs(fp.kappa[i] - fc.at(float(fp.beta[i]))) < 1e-9
    i = int(np.nonzero(neg & (fp.beta > 2.8))[0][0])
    assert abs(fp.kappa[i] - _diagram_fold(float(fp.beta[i])).param) < 1e-9
    (cp,) = fp.codim2_points
    assert cp.kind == "tricritical"
    assert abs(cp.beta - _closed_form_beta_star(2)) < 1e-8
    assert abs(cp.kappa - cp.beta / iv(1, cp.beta)) < 1e-10
    # no cusp: the quadratic coefficient keeps its sign on each side, vanishing at a = 0
    assert np.all(fp.quadratic[pos] < 0) and np.all(fp.quadratic[neg] > 0)


def test_fold_quadratic_coefficient_is_the_branch_curvature(path3):
    """<w, D^2R(v, v)> (finite differences of the exact Jacobian) against the branch solved
    at fixed critical coordinate a around the fold (an independent computation): on the
    branch kappa''(a) = -<w, D^2R(v, v)> / (<w, R_kappa> v_a^2) at the fold (differentiate
    R(x(a), kappa(a)) = 0 twice, project on w). kappa''(a) by the 5-point stencil, h = 0.01:
    error ~ h^4 kappa^(6) / 90, relative ~1e-7 here (h = 0.005 changes it by 2e-7); 1e-5
    allowed."""
    from meanfield.continuation import BranchSystem, _solve_at_amplitude
    from meanfield.two_parameter import _FoldFamily

    z = path3.states[0]
    bs = BranchSystem(MODEL.replace(kernel=mf.AttentionKernel(3.0)), BASIS, "kappa", mode=1)
    v = z[bs.n:2 * bs.n]
    fam = _FoldFamily(MODEL, BASIS, 1, v / (v @ v))  # any l with <l, v> = 1
    F, DF, d2, J = fam.evaluate(z)
    assert np.max(np.abs(F)) < 1e-11  # the path's start is a fold
    w = np.linalg.svd(J)[0][:, -1]
    predicted = -(w @ (d2 @ v)) / ((w @ DF[:fam.n, -1]) * v[fam.i_mode] ** 2)
    a_f, h = z[fam.i_mode], 0.01
    ks = [_solve_at_amplitude(bs, 1, a_f + j * h, z[-1], np.append(z[:fam.n], z[-1]))[-1]
          for j in (-2, -1, 0, 1, 2)]
    measured = (-ks[0] + 16 * ks[1] - 30 * ks[2] + 16 * ks[3] - ks[4]) / (12 * h**2)
    assert abs(measured / predicted - 1.0) < 1e-5
    assert path3.quadratic[0] * measured < 0 < measured  # a minimum of kappa: the fold


def test_phase_curves_add_the_cusps_of_the_fold_path():
    """phase_curves(pd, cusps=True) (the hook for phase_diagram's codim2_points): on the
    circle the arclength fold path from beta = 3 meets no cusp before the tricritical point,
    which it locates as the beta-parametrized curve's extrapolation does (both ~1e-10 from
    the closed form with 16 points; 1e-9 allowed)."""
    from meanfield.two_parameter import phase_curves

    pd = mf.phase_diagram([2.0, 3.0])
    out = phase_curves(pd, n_points=16, cusps=True)
    assert [c.kind for c in out["codim2_points"]] == ["tricritical"]
    (cp,) = out["fold_path"].codim2_points
    assert abs(cp.beta - out["codim2_points"][0].beta) < 1e-9
    assert out["fold_path"].beta.max() == 3.0 and np.all(out["fold_path"].quadratic[:-1] < 0)


def test_fold_path_guards():
    from meanfield.two_parameter import fold_path

    with pytest.raises(ValueError, match="direction"):
        fold_path(MODEL, BASIS, 3.0, direction=0)
    with pytest.raises(ValueError, match="start"):
        fold_path(MODEL, BASIS, 3.0, start="guess")
    with pytest.raises(ValueError, match="beta_bounds"):
        fold_path(MODEL, BASIS, 3.0, beta_bounds=(3.5, 4.0))


# --- beta_*^(d) on the planar basis (issue 14, part 2) ----------------------------------


def _mun_rosenzweig(d: int) -> float:
    """beta_*^(d): the root of I_{d/2+1}(beta) / I_{d/2}(beta) = 1/d (Mun–Rosenzweig)."""
    from scipy.optimize import brentq

    return brentq(lambda b: iv(d / 2 + 1, b) / iv(d / 2, b) - 1.0 / d, 0.5, 4.0, xtol=1e-15)


def test_tricritical_curve_on_the_planar_basis_is_the_zonal_one():
    """The 1-cluster branch is zonal about an in-plane axis, so PlanarBasis(d, 14) holds it
    exactly as ZonalBasis(d, 14) does (the same harmonics of degree <= 14): beta_*^(d) is
    the same up to the fold path's error (~5e-11: round-off / |a| in the points near a = 0
    and the fit through them; 1e-9 allowed), and both are the Mun–Rosenzweig root to 1e-8.
    A small lmax and a bracket close to beta_* keep the planar run short (lmax 14 is the
    kernel's required_degree(1e-12) at beta <= 2.2; at beta_* the branch's amplitude is 0,
    so the truncation does not enter beta_*)."""
    from meanfield.two_parameter import tricritical_curve

    kw = {"bracket": (1.0, 2.0), "lmax": 14}
    zon = tricritical_curve([3, 4], basis="zonal", **kw)
    pla = tricritical_curve([3, 4], basis="planar", **kw)
    assert pla.basis == "planar" and zon.basis == "zonal"
    assert np.all(np.abs(pla.beta - zon.beta) < 1e-9)
    for d, b, k in zip(pla.dim, pla.beta, pla.kappa, strict=True):
        assert abs(b - _mun_rosenzweig(int(d))) < 1e-8
        g1 = mf.AttentionKernel(b).coefficients(1, int(d))[1]
        assert abs(k * g1 - 1.0) < 1e-9  # on the branch-point curve
    with pytest.raises(ValueError, match="basis must be one of"):
        tricritical_curve([3], basis="sphere")
    with pytest.raises(ValueError, match="dims >= 3"):
        tricritical_curve([2, 3], basis="planar")


def test_maxwell_curve_takes_a_large_first_step():
    """The first step of the Maxwell curve from beta = 8 to 7.4 (kappa_c changes by a
    factor ~1.7 there) is predicted by the ratio of the branch points kappa_1 (then a secant
    in log kappa); reference: kappa_c of the beta = 7.4 diagram (Brent on F - F_uniform)."""
    from meanfield.continuation import _default_basis_for
    from meanfield.two_parameter import maxwell_curve

    model = MODEL.replace(kernel=mf.AttentionKernel(8.0))
    basis = _default_basis_for(model)
    k8, k1 = 8.0 / iv(1, 8.0), 7.4 / iv(1, 7.4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old secant predictor stopped here with a warning
        # short diagram windows: kappa_c / kappa_1 is ~0.8 at these beta
        mc = maxwell_curve(model, basis, [8.0, 7.4], kappa_bounds=(0.7 * k8, 1.02 * k8))
    d = mf.bifurcation_diagram(model.replace(kernel=mf.AttentionKernel(7.4)), basis, "kappa",
                               (0.7 * k1, 1.02 * k1), modes=(1,), ds=0.01 * k1)
    assert abs(mc.kappa[1] - d.first_order_transitions[0].param) < 1e-9 * max(1.0, k1)
