"""Stationary states by Newton's method, and their linear stability.

References: noisy Kuramoto (Bertini–Giacomin–Pakdaman 2010): rho = e^{a cos}/I_0(a),
a = kappa r, r = I_1(a)/I_0(a); DESIGN.md §1 for growth rates of the uniform state.
"""

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import i0e, i1e

import meanfield as mf
from meanfield.stationary import ConvergenceError, linear_stability, stationary_state


def kuramoto_r(kappa):
    return brentq(lambda r: r - i1e(kappa * r) / i0e(kappa * r), 1e-6, 1.0, xtol=1e-15)


@pytest.mark.parametrize("kappa", [2.5, 3.0, 4.0, 10.0])
def test_noisy_kuramoto_branch_closed_form(kappa):
    b = mf.CircleBasis(64)
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=kappa)
    r = kuramoto_r(kappa)
    st = stationary_state(model, b, mf.initial.von_mises(b, 0.8 * kappa * r))
    assert abs(st.amplitude(1) - r) < 1e-10
    a = kappa * r
    F = (a * r - (np.log(i0e(a)) + a)) / kappa - r**2 / 2  # entropy/kappa - |m|^2/2
    assert abs(st.free_energy - F) < 1e-10
    assert st.stable and st.morse_index == 0
    assert len(st.stability.symmetry_eigenvalues) == 1  # the rotation, set aside


def test_newton_agrees_with_long_time_evolution_and_converges_quadratically():
    b = mf.CircleBasis(48)
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    st = stationary_state(model, b, mf.initial.von_mises(b, 3.0))
    h = st.residual_history
    assert h[-1] < 1e-12
    # quadratic convergence: r_{n+1} <= C r_n^2 on every step from r_n < 1e-2 on (a linearly
    # converging iteration, r_{n+1} = q r_n, fails this once r_n < q / C)
    pairs = [(a, b) for a, b in zip(h[:-1], h[1:], strict=True) if a < 1e-2]
    assert len(pairs) >= 2 and all(b <= 10 * a * a + 1e-14 for a, b in pairs), h
    sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b, 0.2, seed=1), 200.0, [0, 200],
                    rtol=1e-11, atol=1e-14)
    c = sol.coeffs[-1] * np.exp(-1j * np.arange(48) * np.angle(sol.coeffs[-1, 1]))
    assert np.max(np.abs(c - st.coeffs)) < 1e-9


def test_full_space_newton_finds_the_same_state_up_to_rotation():
    b = mf.CircleBasis(48)
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    even = stationary_state(model, b, mf.initial.von_mises(b, 3.0))
    full = stationary_state(model, b, mf.initial.von_mises(b, 3.0, mean=0.7), symmetric=False)
    assert full.converged and abs(full.amplitude(2) - even.amplitude(2)) < 1e-12


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_uniform_spectrum_is_the_growth_rates(dynamics):
    b = mf.CircleBasis(24)
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=1.7, dynamics=dynamics)
    stab = linear_stability(model, b, b.forward(np.ones(b.shape)))
    rates = np.sort(np.repeat(model.growth_rates(b.max_degree)[1:], 2))[::-1]
    assert np.allclose(stab.eigenvalues.real, rates, atol=1e-12)
    assert stab.morse_index == int(np.sum(rates > 0))
    if dynamics == "usa":  # I_1(2)/2 > 1/1.7 > I_2(2)/2: mode 1, twice (cos and sin)
        assert stab.morse_index == 2


def test_leading_eigenvalue_is_the_decay_rate_seen_by_evolve():
    # perturb the stable cluster along its slowest even eigenvector: evolve decays at that rate
    b = mf.CircleBasis(48)
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    st = stationary_state(model, b, mf.initial.von_mises(b, 3.0))
    lam = st.stability.leading(1)[0].real
    assert lam < 0
    pert = 1e-5 * np.cos(b.grid) * st.rho  # mostly the slow even mode after a transient
    sol = mf.evolve(model, b, st.rho + pert - b.integrate(pert), 12.0, [6.0, 12.0],
                    rtol=1e-12, atol=1e-16)
    dev = [np.max(np.abs(r - st.rho)) for r in sol.rho]
    rate = np.log(dev[1] / dev[0]) / 6.0
    assert rate == pytest.approx(lam, rel=1e-3)


def test_newton_failure_reports_history():
    b = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    with pytest.raises(ConvergenceError, match="did not converge.*residual history") as exc:
        stationary_state(model, b, mf.initial.von_mises(b, 3.0), max_iter=1)
    assert len(exc.value.result.residual_history) == 2
    st = stationary_state(model, b, mf.initial.von_mises(b, 3.0), max_iter=1,
                          raise_on_failure=False)
    assert not st.converged and "residual history" in st.message


def test_bad_guesses():
    b = mf.CircleBasis(16)
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=3.0)
    with pytest.raises(ValueError, match="nonnegative density"):
        stationary_state(model, b, 1 + 2 * np.cos(b.grid))
    with pytest.raises(ValueError, match="shape"):
        stationary_state(model, b, np.ones(7))
    with pytest.raises(ValueError, match="NaN"):
        stationary_state(model, b, np.full(b.shape, np.nan))
    with pytest.raises(ValueError, match="kappa must be finite"):
        stationary_state(mf.MeanFieldModel(mf.AttentionKernel(1.0)), b, np.ones(b.shape))
