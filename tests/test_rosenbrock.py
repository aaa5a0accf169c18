"""Tests of meanfield.rosenbrock (RODAS4 with the exact Jacobian).

References: scipy's DOP853 at rtol 1e-13 on a small nonlinear system (convergence orders of
the scheme and of its embedded solution); the model's own linearization and central
differences (the closed-form Jacobian); ETDRK4 at a tight tolerance and fixed-step ETDRK4
at dt = 1e-3 (agrees with DOP853 to 3e-12, benchmarks/bench_evolve.py) on the benchmark
case of the issue (beta = 3, kappa = 1, smooth data, t = 10, 32 modes).
"""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import meanfield as mf
from meanfield.fused import fused_transport
from meanfield.rosenbrock import RODAS4, real_jacobian
from meanfield.timestepping import STEPPERS, StepController, integrate

USA = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
# Milder than tests/test_timestepping.py's L = (-1, -4, -20): there RODAS4's h**5 error
# terms, which carry powers of the Jacobian, still dominate at h = 1/256 (observed orders
# 4.54, 4.42, 4.30 for h = 1/64 .. 1/512; 4.02 with L = 0), so that the asymptotic order
# shows only for |h L| << 0.1.
L_TEST = np.array([-1.0, -2.0, -4.0])
U0_TEST = np.array([1 + 0.5j, 0.5 - 0.2j, -0.3 + 0.1j])


def n_test(u):
    return 0.5 * np.roll(u, 1, axis=-1) * u + np.cos(u)


def exact_linearization(u):
    """Derivative of L u + n_test(u) (complex-analytic, so C-linear)."""
    return lambda du: (L_TEST * du + 0.5 * (np.roll(du, 1, axis=-1) * u + np.roll(u, 1) * du)
                       - np.sin(u) * du)


@pytest.fixture(scope="module")
def reference():
    sol = solve_ivp(lambda t, y: L_TEST * y + n_test(y), (0.0, 1.0), U0_TEST,
                    method="DOP853", rtol=1e-13, atol=1e-15)
    return sol.y[:, -1]


def _stepper(exact=True):
    s = RODAS4(L_TEST, n_test)
    if exact:
        s.linearization = exact_linearization
    return s


def _orders(errors):
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


def test_registered_and_stiff():
    assert STEPPERS["rodas4"] is RODAS4
    assert RODAS4.handles_stiff and RODAS4.adaptive_estimate == "embedded"
    # stiffly accurate: the last two stage arguments take all earlier increments
    np.testing.assert_array_equal(RODAS4.A[5, :4], RODAS4.A[4, :4])


@pytest.mark.parametrize("exact", [True, False])
def test_observed_order(reference, exact):
    """Errors at t = 1 for h = 1/16 .. 1/128: order 4 (exact or differenced Jacobian)."""
    errors = []
    for n in (16, 32, 64, 128):
        res = integrate(_stepper(exact), U0_TEST, [0.0, 1.0], dt=1.0 / n)
        assert res.success and res.n_steps == n
        errors.append(np.max(np.abs(res.u[-1] - reference)))
    orders = _orders(errors)
    assert np.all(np.abs(orders - 4) < 0.15), orders


def test_embedded_solution_has_order_three(reference):
    errors = []
    for n in (16, 32, 64):
        s, u = _stepper(), U0_TEST
        for _ in range(n):
            u_new, err, f_new = s.step_pair(u, 1.0 / n)
            np.testing.assert_array_equal(f_new, n_test(u_new))  # first same as last
            u = u_new - err
        errors.append(np.max(np.abs(u - reference)))
    assert np.all(np.abs(_orders(errors) - 3) < 0.3), _orders(errors)


def test_l_stable_on_a_very_stiff_linear_part():
    u1 = RODAS4(-1e8, lambda u: 0 * u).step(np.array([1.0]), 1.0)
    assert abs(u1[0]) < 1e-6  # R(-inf) = 0; the exact value is exp(-1e8)


@pytest.mark.parametrize("n_modes", [5, 24, 48])
def test_closed_form_jacobian_matches_the_linearization(n_modes):
    basis = mf.CircleBasis(n_modes)
    rng = np.random.default_rng(n_modes)
    c = basis.forward(mf.initial.perturbed_uniform(basis, 0.3, seed=1))
    c = c + 0.01 * (rng.normal(size=n_modes) + 1j * rng.normal(size=n_modes))
    c[0] = 1.0
    L = USA.linear_operator(basis)
    closed = real_jacobian(L, fused_transport(USA, basis), c)
    plain = USA.nonlinear_term(basis)
    exact = real_jacobian(L, plain, c, lambda c: USA.linearization(basis, c))
    differenced = real_jacobian(L, plain, c)
    scale = np.max(np.abs(exact))
    assert np.max(np.abs(closed - exact)) < 1e-13 * scale
    assert np.max(np.abs(differenced - exact)) < 1e-8 * scale  # O(eps**(2/3))


# ---------------------------------------------------------------- the benchmark case


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")
def test_agrees_with_etdrk4_and_conserves_mass(issue_case):
    basis, rho0, _ = issue_case
    times = [0.0, 2.5, 10.0]
    ros = mf.evolve(USA, basis, rho0, 10.0, times, method="rodas4", rtol=1e-10)
    etd = mf.evolve(USA, basis, rho0, 10.0, times, method="etdrk4", rtol=1e-10)
    assert ros.success and etd.success and ros.method == "rodas4"
    assert np.max(np.abs(ros.rho - etd.rho)) / np.max(etd.rho) < 1e-9
    np.testing.assert_allclose(ros.coeffs[:, 0], 1.0, rtol=0, atol=1e-14)


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")
def test_global_error_tracks_rtol(issue_case):
    basis, rho0, ref = issue_case
    steps = []
    for rtol in (1e-5, 1e-7, 1e-9):
        sol = mf.evolve(USA, basis, rho0, 10.0, [0, 10.0], method="rodas4", rtol=rtol)
        assert sol.success, sol.message
        err = np.max(np.abs(sol.rho[-1] - ref)) / np.max(ref)
        assert 0.1 * rtol <= err <= 10 * rtol, (rtol, err)
        steps.append(sol.n_steps)
    assert np.all(np.diff(steps) > 0)


def test_adaptive_run_on_a_bare_nonlinear_term(reference):
    """Without a linearization the Jacobian is differenced; the run still meets rtol."""
    res = integrate(RODAS4(L_TEST, n_test), U0_TEST, [0.0, 1.0],
                    controller=StepController(rtol=1e-10))
    assert res.success
    assert np.max(np.abs(res.u[-1] - reference)) < 1e-8 * math.sqrt(3)
