"""Tests of meanfield.timestepping (schemes, phi-functions, controller, driver)."""

from __future__ import annotations

import math
import re

import mpmath
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from meanfield.timestepping import (
    ETDRK4,
    IMEXRK,
    RK4,
    STEPPERS,
    StepController,
    Stepper,
    get_stepper,
    integrate,
    phi_functions,
    register,
    step_doubling,
)

# A mildly stiff, nonlinearly coupled diagonal system (complex state): hL >= -20/64
# at the finest steps, so RK4 is stable and every scheme is in its asymptotic regime.
L_TEST = np.array([-1.0, -4.0, -20.0])
U0_TEST = np.array([1 + 0.5j, 0.5 - 0.2j, -0.3 + 0.1j])


def n_test(u):
    return 0.5 * np.roll(u, 1) * u + np.cos(u)


@pytest.fixture(scope="module")
def reference():
    """u(1) from scipy's DOP853 at rtol=1e-13, atol=1e-15 (error ~1e-13)."""
    sol = solve_ivp(
        lambda t, y: L_TEST * y + n_test(y),
        (0.0, 1.0),
        U0_TEST,
        method="DOP853",
        rtol=1e-13,
        atol=1e-15,
        dense_output=True,
    )
    return sol.sol


# ---------------------------------------------------------------- phi-functions


def phi_mp(z, k):
    """phi_k(z) = (e^z - sum_{j<k} z^j/j!) / z^k at 100 digits (reference)."""
    with mpmath.workdps(100):
        z = mpmath.mpmathify(z)
        if z == 0:
            return mpmath.mpf(1) / mpmath.factorial(k)
        partial = sum(z**j / mpmath.factorial(j) for j in range(k))
        return (mpmath.exp(z) - partial) / z**k


PHI_POINTS = [
    0.0, 1e-12, -1e-12, 1e-6, 0.5, -0.5, 0.999, -0.999, 1.0, -1.0, 1.001, -1.001,
    2.5, -3.0, 10.0, -50.0, -1e4, 0.3j, 0.999j, 1.001j, -0.7 + 0.7j, 0.6 - 0.8j,
    -2 + 5j, -50 + 30j, 1e-12j, -1e4 + 1e2j,
]  # fmt: skip


@pytest.mark.parametrize("complex_input", [False, True])
def test_phi_functions_match_mpmath(complex_input):
    points = PHI_POINTS if complex_input else [z for z in PHI_POINTS if np.isreal(z)]
    z = np.array(points, dtype=complex if complex_input else float)
    phis = phi_functions(z, n=4)
    assert len(phis) == 5
    for k, values in enumerate(phis):
        assert values.shape == z.shape and values.dtype == z.dtype
        expected = np.array([complex(phi_mp(zi, k)) for zi in points])
        np.testing.assert_allclose(values, expected, rtol=1e-14, atol=1e-300, err_msg=f"k={k}")


def test_phi_functions_scalar_and_zero():
    phis = phi_functions(0.0)
    assert [float(p) for p in phis] == [1.0, 1.0, 0.5, 1 / 6]
    with pytest.raises(ValueError, match="n must be"):
        phi_functions(1.0, n=-1)


# ---------------------------------------------------------------- registry


def test_registry_contents_and_lookup():
    assert {"rk4", "etdrk4", "imex-ars232", "imex-ars443"} <= set(STEPPERS)
    assert get_stepper("etdrk4") is ETDRK4
    with pytest.raises(ValueError, match=r"unknown time stepper 'nope'.*rk4"):
        get_stepper("nope")


def test_register_rejects_duplicates_and_nameless():
    class Clash(RK4):
        name = "rk4"

    with pytest.raises(ValueError, match="already registered"):
        register(Clash)
    with pytest.raises(ValueError, match="no name"):
        register(type("Nameless", (Stepper,), {}))
    assert STEPPERS["rk4"] is RK4


@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_tableau_consistency(name):
    cls = STEPPERS[name]
    if issubclass(cls, IMEXRK):
        for A, b in ((cls.A_expl, cls.b_expl), (cls.A_impl, cls.b_impl)):
            np.testing.assert_allclose(A.sum(axis=1), cls.c, atol=1e-15)
            assert math.isclose(b.sum(), 1.0)
        assert np.all(np.triu(cls.A_expl) == 0) and np.all(np.triu(cls.A_impl, 1) == 0)


# ---------------------------------------------------------------- convergence


@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_observed_order(name, reference):
    """Error at t=1 against DOP853 for h = 1/64, 1/128, 1/256.

    ARS(4,4,3) approaches order 3 only slowly on this problem (observed 2.4, 2.6,
    2.8, 2.9 from h = 1/16), hence the small steps.
    """
    cls = STEPPERS[name]
    errors = []
    for n in (64, 128, 256):
        result = integrate(cls(L_TEST, n_test), U0_TEST, [0.0, 1.0], dt=1.0 / n)
        assert result.success and result.n_steps == n
        errors.append(np.max(np.abs(result.u[-1] - reference(1.0))))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert orders[0] > cls.order - 0.5, orders
    slack = getattr(cls, "order_test_slack", 0.3)  # pre-asymptotic excess (rodas4: 0.6)
    assert -0.3 < orders[-1] - cls.order < slack, orders


def test_etdrk4_exact_for_linear_problem():
    L = -np.array([0.0, 0.5, 2.0, 30.0, 1e3, 1e4])
    u0 = np.array([1.0, -2.0, 0.5 + 1j, 3.0, 1.0, 1.0])
    stepper = ETDRK4(L, np.zeros_like)
    result = integrate(stepper, u0, [0.0, 0.5, 1.0], dt=0.1)
    expected = u0 * np.exp(np.outer(result.t, L))
    np.testing.assert_allclose(result.u, expected, rtol=1e-14, atol=1e-300)
    assert stepper.nfev == 4 * 10


def test_etdrk4_without_linear_part_is_rk4():
    rk4, etd = RK4(0.0, n_test), ETDRK4(np.zeros(3), n_test)
    u_rk4, u_etd = U0_TEST, U0_TEST
    for _ in range(5):
        u_rk4, u_etd = rk4.step(u_rk4, 0.1), etd.step(u_etd, 0.1)
    np.testing.assert_allclose(u_etd, u_rk4, rtol=1e-15, atol=1e-15)


def test_step_validates_h_and_counts_nfev():
    stepper = RK4(L_TEST, n_test)
    for bad in (0.0, -0.1, np.inf, np.nan):
        with pytest.raises(ValueError, match="step size h must be positive and finite"):
            stepper.step(U0_TEST, bad)
    stepper.step(U0_TEST, 0.1)
    assert stepper.nfev == 4


@pytest.mark.parametrize("name", ["imex-ars232", "imex-ars443"])
def test_imex_stable_for_very_stiff_linear_part(name):
    """Implicit L: no blow-up at h|L| = 1e5; the fast modes are damped."""
    L = np.array([-1.0, -1e6])
    stepper = get_stepper(name)(L, lambda u: 0.1 * u**2)
    result = integrate(stepper, np.array([1.0, 1.0]), [0.0, 1.0], dt=0.1)
    assert result.success and abs(result.u[-1, 1]) < 1e-5
    assert abs(result.u[-1, 0] - 1 / (np.e - 0.1 * (np.e - 1))) < 1e-2  # u' = -u + 0.1u^2


def test_coefficient_cache_is_bounded():
    stepper = ETDRK4(L_TEST, n_test)
    for k in range(20):
        stepper.step(U0_TEST, 0.01 * (k + 1))
    assert len(stepper._cache) <= stepper.cache_size
    stepper.step(U0_TEST, 0.2)
    assert 0.2 in stepper._cache


# ---------------------------------------------------------------- controller


def test_error_norm_and_propose():
    ctrl = StepController(rtol=1e-3, atol=1e-6)
    err = np.array([1e-3, 0.0])
    u0, u1 = np.array([1.0, 0.0]), np.array([-2.0, 0.0])
    scale = 1e-6 + 1e-3 * 2.0
    assert ctrl.error_norm(err, u0, u1) == pytest.approx(1e-3 / scale)  # norm-wise: max-norms
    accept, h = ctrl.propose(0.1, 0.01, order=4)
    assert accept and 0.1 < h <= 0.5
    accept, h = ctrl.propose(0.1, 0.9, order=4)  # PI: error grew 90-fold -> shrink
    assert accept and h == pytest.approx(0.1 * 0.9 * 0.9 ** (-0.7 / 5) * 0.01 ** (0.4 / 5))
    accept, h = ctrl.propose(0.1, 10.0, order=4)
    assert not accept and 0.02 <= h < 0.1
    assert ctrl.propose(0.1, np.nan, order=4) == (False, pytest.approx(0.02))
    assert ctrl.propose(0.1, 0.0, order=4) == (True, pytest.approx(0.5))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"rtol": 0.0}, "rtol"), ({"atol": -1.0}, "atol"), ({"rtol": np.nan}, "rtol"),
     ({"safety": 1.5}, "safety"), ({"factor_min": 2.0}, "factor_min")],
)  # fmt: skip
def test_controller_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StepController(**kwargs)


def test_step_doubling_error_estimate():
    """For u' = -u, |err| matches the true local error of the two half steps.

    With err = (u_half - u_full) / (2^p - 1) the sign is opposite to that error.
    """
    stepper = RK4(-1.0, np.zeros_like)
    u_half, err = step_doubling(stepper, np.array([1.0]), 0.05)
    assert stepper.nfev == 12
    true_err = u_half - np.exp(-0.05)
    assert -err[0] == pytest.approx(true_err[0], rel=0.05)


# ---------------------------------------------------------------- integrate


STIFF_STEPPERS = sorted(name for name, cls in STEPPERS.items() if cls.handles_stiff)


@pytest.mark.parametrize("name", STIFF_STEPPERS)
def test_adaptive_accuracy_and_save_times(name, reference):
    t_eval = np.array([0.0, 0.1, 0.25, 0.5, 1.0])
    saved = []
    tight = integrate(
        get_stepper(name)(L_TEST, n_test),
        U0_TEST,
        t_eval,
        controller=StepController(rtol=1e-10),
        on_save=lambda t, u: saved.append(t),
    )
    assert tight.success and tight.message == ""
    assert np.array_equal(tight.t, t_eval) and saved == list(t_eval)
    assert tight.u.shape == (5, 3)
    expected = reference(t_eval).T
    rel = np.max(np.abs(tight.u - expected)) / np.max(np.abs(expected))
    assert rel < 1e-8
    loose = integrate(
        get_stepper(name)(L_TEST, n_test), U0_TEST, t_eval, controller=StepController(rtol=1e-5)
    )
    assert loose.success and loose.n_steps < tight.n_steps and loose.nfev < tight.nfev


def test_adaptive_save_times_do_not_shrink_steps():
    ctrl = StepController(rtol=1e-6)
    sparse = integrate(ETDRK4(L_TEST, n_test), U0_TEST, [0.0, 2.0], controller=ctrl)
    dense = integrate(ETDRK4(L_TEST, n_test), U0_TEST, np.linspace(0, 2, 5), controller=ctrl)
    assert dense.n_steps <= sparse.n_steps + 4


def test_fixed_step_lands_exactly_on_save_times():
    """dt = 0.01 does not divide 0.1 in binary; still 10 equal steps per interval."""
    t_eval = np.linspace(0.0, 1.0, 11)
    stepper = RK4(L_TEST, n_test)
    times = []
    result = integrate(stepper, U0_TEST, t_eval, dt=0.01, progress=times.append)
    assert np.array_equal(result.t, t_eval)
    assert result.n_steps == 100 and result.nfev == 400 and len(times) == 100
    assert list(stepper._cache) == []  # RK4 has no h-dependent coefficients
    etd = ETDRK4(L_TEST, n_test)
    integrate(etd, U0_TEST, t_eval, dt=0.01)
    assert list(etd._cache) == [0.01]  # every step used the identical h


def test_fixed_step_clips_last_step():
    result = integrate(RK4(L_TEST, n_test), U0_TEST, [0.0, 0.25], dt=0.1)
    assert result.n_steps == 3 and result.t[-1] == 0.25 and result.h_last == 0.1


def _time_in(message):
    return float(re.search(r"at t=([-+0-9.eE]+)", message).group(1))


@pytest.mark.parametrize(
    "name, options",
    [("rk4", {"dt": 0.01}), ("etdrk4", {"controller": StepController(rtol=1e-8)})],
)
def test_blow_up_fails_gracefully(name, options):
    """u' = u^2, u(0) = 1 blows up at t = 1 (u = 1/(1-t))."""
    t_eval = np.linspace(0.0, 2.0, 21)
    stepper = get_stepper(name)(np.zeros(1), lambda u: u**2)
    with np.errstate(over="ignore", invalid="ignore"):
        result = integrate(stepper, np.ones(1), t_eval, **options)
    assert result.status == "failed" and not result.success
    assert abs(_time_in(result.message) - 1.0) < 0.1, result.message
    if "controller" in options:
        assert "h_min" in result.message and "blowing up" in result.message
    else:
        assert "non-finite" in result.message and "last finite state" in result.message
    # the saves made, then the last good state (appended, flagged in the message)
    saved = result.t[:-1]
    assert 5 <= len(saved) <= 11 and np.array_equal(saved, t_eval[: len(saved)])
    assert result.t[-1] > saved[-1] and "last good state" in result.message
    # the numerical solution is still finite (but huge) at t = 1 itself
    before = result.t < 0.95
    np.testing.assert_allclose(result.u[before, 0], 1 / (1 - result.t[before]), rtol=1e-3)


def test_h_min_message_mentions_stiffness_for_explicit_scheme():
    stepper = RK4(np.array([-1e6]), np.zeros_like)
    result = integrate(
        stepper, np.ones(1), [0.0, 1.0], controller=StepController(), h_min=1e-3, max_steps=1000
    )
    assert result.status == "failed" and "too stiff" in result.message


def test_check_callback_and_max_steps_stop_the_run():
    t_eval = np.linspace(0.0, 1.0, 11)

    def check(t, u):
        return f"norm too large at t={t:.3f}" if t > 0.45 else None

    result = integrate(RK4(L_TEST, n_test), U0_TEST, t_eval, dt=0.05, check=check)
    assert result.status == "failed"
    assert result.message.startswith("norm too large at t=0.500 [last good state, t=0.45")
    np.testing.assert_array_equal(result.t[:5], t_eval[:5])
    assert result.t[-1] == pytest.approx(0.45)  # the offending state at 0.5 is not kept
    result = integrate(RK4(L_TEST, n_test), U0_TEST, t_eval, dt=0.01, max_steps=25)
    assert result.status == "failed" and "maximum number of steps (25)" in result.message
    assert len(result.t) == 4 and result.t[-1] == pytest.approx(0.25)


def test_integrate_argument_errors():
    stepper = RK4(L_TEST, n_test)
    with pytest.raises(ValueError, match="dt or a StepController"):
        integrate(stepper, U0_TEST, [0.0, 1.0])
    with pytest.raises(ValueError, match="dt must be positive"):
        integrate(stepper, U0_TEST, [0.0, 1.0], dt=-0.1)
    with pytest.raises(ValueError, match="strictly increasing"):
        integrate(stepper, U0_TEST, [0.0, 1.0, 1.0], dt=0.1)
    single = integrate(stepper, U0_TEST, [3.0], dt=0.1)
    assert single.success and single.t.tolist() == [3.0] and single.n_steps == 0


@pytest.mark.parametrize(
    "name", sorted(n for n, cls in STEPPERS.items() if cls.embedded_order is not None)
)
def test_embedded_solution_has_its_order(name, reference):
    """The embedded solution ``u_new - err`` of ``step_pair``, stepped on its own, has
    global order ``embedded_order`` (errors at t=1 against DOP853, h = 1/64 .. 1/256)."""
    cls = STEPPERS[name]
    errors = []
    for n in (64, 128, 256):
        stepper, u = cls(L_TEST, n_test), U0_TEST
        for _ in range(n):
            u_new, err, _ = stepper.step_pair(u, 1.0 / n)
            u = u_new - err
        errors.append(np.max(np.abs(u - reference(1.0))))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert abs(orders[-1] - cls.embedded_order) < 0.3, orders
