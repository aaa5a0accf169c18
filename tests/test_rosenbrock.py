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
from meanfield import rosenbrock
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


# ------------------------------------------------ the compiled loop (fused circle transport)


def _python_rodas4(monkeypatch):
    """Make every RODAS4 take the Python stages (closed-form Jacobian, scipy's LU)."""
    monkeypatch.setattr(RODAS4, "compiled", False)


def _stepper_pair(basis):
    """A compiled RODAS4 and the Python one on the same (fused) right-hand side."""
    L, N = USA.linear_operator(basis), fused_transport(USA, basis)
    python = RODAS4(L, N)
    python.compiled = False
    return RODAS4(L, N), python


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")
def test_compiled_loop_matches_python_rodas4_on_the_issue_case(issue_case, monkeypatch):
    """evolve uses the compiled loop; it takes the Python scheme's steps (to round-off) and
    both reach 1e-8 against the ETDRK4 reference (dt = 1e-3) at t = 10."""
    basis, rho0, ref = issue_case
    calls = []
    chunk = rosenbrock._rodas4_chunk
    monkeypatch.setattr(rosenbrock, "_rodas4_chunk", lambda *a: calls.append(1) or chunk(*a))
    times = [0.0, 2.5, 10.0]
    fast = mf.evolve(USA, basis, rho0, 10.0, times, method="rodas4", rtol=1e-8)
    n_calls = len(calls)  # compiled batches of 16, 32, ... steps, within each save interval
    assert 2 <= n_calls <= 2 * math.log2(fast.n_steps)
    _python_rodas4(monkeypatch)
    slow = mf.evolve(USA, basis, rho0, 10.0, times, method="rodas4", rtol=1e-8)
    assert len(calls) == n_calls
    assert fast.success and slow.success
    assert (fast.n_steps, fast.n_rejected, fast.nfev) == (slow.n_steps, slow.n_rejected,
                                                          slow.nfev)
    scale = np.max(ref)
    assert np.max(np.abs(fast.rho - slow.rho)) < 1e-12 * scale
    for sol in (fast, slow):
        assert np.max(np.abs(sol.rho[-1] - ref)) < 1e-8 * scale


def test_compiled_step_matches_the_python_stages():
    basis = mf.CircleBasis(24)
    c = basis.forward(mf.initial.perturbed_uniform(basis, 0.3, seed=2))
    fast, slow = _stepper_pair(basis)
    for h in (1e-3, 0.1, 2.0):
        for x, y in zip(fast.step_pair(c, h), slow.step_pair(c, h), strict=True):
            assert np.max(np.abs(x - y)) < 1e-13 * np.max(np.abs(y))
    assert (fast.nfev, fast.njev) == (slow.nfev, slow.njev) == (3 * 7, 3)
    a, b = fast.step(c, 0.1), slow.step(c, 0.1)
    assert np.max(np.abs(a - b)) < 1e-13 and fast.nfev == slow.nfev == 3 * 7 + 6


def _run(stepper, u0, times, buffer_size=None, **kw):
    if buffer_size is not None:
        stepper.buffer_size = buffer_size
    seen = []
    res = integrate(stepper, u0, times, controller=StepController(rtol=1e-6, atol=1e-9),
                    progress=seen.append, **kw)
    return res, seen


@pytest.mark.parametrize("buffer_size", [3, 256])
def test_run_contract_checks_progress_and_failures(buffer_size):
    """The compiled loop reports every accepted step to progress and check, and fails as the
    Python loop does (a check message, max_steps), with the same last good state."""
    basis = mf.CircleBasis(16)
    c0 = basis.forward(mf.initial.perturbed_uniform(basis, 0.3, max_degree=3, seed=0))
    times = [0.0, 0.5, 1.0, 3.0]

    def check(t, c):
        return "stop" if t > 2.0 else None
    cases = [(dict(), ""), (dict(check=check), "stop [last good state"),
             (dict(max_steps=7), "maximum number of steps (7)"),
             (dict(h_min=0.05), "step size h=")]
    for kw, message in cases:
        fast, slow = _stepper_pair(basis)
        (a, seen_a), (b, seen_b) = (_run(fast, c0, times, buffer_size, **kw),
                                    _run(slow, c0, times, **kw))
        assert a.message.startswith(message) and a.success == (message == "")
        assert (a.status, a.message, a.n_steps, a.n_rejected, a.nfev) == (
            b.status, b.message, b.n_steps, b.n_rejected, b.nfev)
        np.testing.assert_allclose(a.t, b.t, rtol=1e-12, atol=0)
        assert np.max(np.abs(a.u - b.u)) < 1e-13
        assert len(seen_a) == a.n_steps
        np.testing.assert_allclose(seen_a, seen_b, rtol=1e-10, atol=0)
        assert a.h_last == pytest.approx(b.h_last, rel=1e-9)


def test_checkpoint_resume_through_the_compiled_loop(tmp_path):
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.perturbed_uniform(basis, 0.3, max_degree=4, seed=0)
    times = [0, 1, 2, 3, 4]

    def stop(t):
        if t > 2.2:
            raise KeyboardInterrupt
    ck = tmp_path / "ck.npz"
    with pytest.raises(KeyboardInterrupt):
        mf.evolve(USA, basis, rho0, 4.0, times, method="rodas4", checkpoint=ck,
                  checkpoint_every=0, progress=stop)
    rest = mf.evolve(USA, basis, rho0, 4.0, times, method="rodas4", resume=ck)
    whole = mf.evolve(USA, basis, rho0, 4.0, times, method="rodas4")
    # the resumed run evaluates N once more: at its start (first same as last)
    assert rest.success and rest.n_steps == whole.n_steps and rest.nfev == whole.nfev + 1
    np.testing.assert_array_equal(rest.coeffs, whole.coeffs)


def test_python_path_where_the_fused_transport_does_not_apply():
    """Batched or real states, or a plain N: no compiled step (same answers anyway)."""
    s = RODAS4(L_TEST, n_test)
    assert s._fused(U0_TEST) is None
    basis = mf.CircleBasis(8)
    fast, _ = _stepper_pair(basis)
    c = basis.forward(mf.initial.perturbed_uniform(basis, 0.3, seed=0))
    assert fast._fused(c) is not None
    assert fast._fused(np.stack([c, c])) is None and fast._fused(c.real.copy()) is None
