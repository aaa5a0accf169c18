"""Compiled adaptive ETDRK4 runs (meanfield.etdrk4_loop on meanfield.compiled_loop).

Reference: the Python loop of meanfield.timestepping.integrate with the same stepper
(``compiled = False``): the compiled loop must take the same steps, rejections and step
sizes and give the same states to round-off (the stages run on the same compiled
transport; only the phi-functions are evaluated by another implementation of the same
formulas), stop where the Python loop stops, with the same message, and resume as it does.
"""

import math

import numpy as np
import pytest

import meanfield as mf
from meanfield import etdrk4_loop
from meanfield.fused import fused_transport
from meanfield.timestepping import ETDRK4, ETDRK4Embedded, StepController, integrate

USA = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)


def _setup(n_modes, seed=0):
    basis = mf.CircleBasis(n_modes)
    c0 = basis.forward(mf.initial.perturbed_uniform(basis, 0.3, seed=seed))
    return basis, c0, USA.linear_operator(basis), fused_transport(USA, basis)


def _pair(cls, L, N, c0, t_eval, **kw):
    ctrl = dict(rtol=kw.pop("rtol", 1e-8), atol=kw.pop("atol", 1e-12))
    out = []
    for compiled in (True, False):
        s = cls(L, N)
        s.compiled = compiled
        out.append(integrate(s, c0, t_eval, controller=StepController(**ctrl), **kw))
    return out


@pytest.mark.parametrize("n_modes", [8, 48, 200])
@pytest.mark.parametrize("cls, extrapolate", [(ETDRK4, True), (ETDRK4, False),
                                              (ETDRK4Embedded, True)])
def test_compiled_loop_takes_the_python_loops_steps(n_modes, cls, extrapolate):
    basis, c0, L, N = _setup(n_modes)
    fast, slow = _pair(cls, L, N, c0, [0.0, 0.5, 1.3, 3.0], rtol=1e-7,
                       extrapolate=extrapolate)
    assert (fast.n_steps, fast.n_rejected) == (slow.n_steps, slow.n_rejected)
    assert fast.success and fast.t.tolist() == slow.t.tolist()
    assert np.max(np.abs(fast.u - slow.u)) < 1e-13
    assert fast.h_last == pytest.approx(slow.h_last, rel=1e-12)
    # evaluations: step doubling shares N(u) between the full and the first half step
    # (plus the 12 of the Python trial step that picks the first step)
    per_step = 4 if cls is ETDRK4Embedded else 11
    assert fast.nfev <= per_step * (fast.n_steps + fast.n_rejected) + 12
    assert fast.nfev <= slow.nfev


def test_rejected_steps_are_reproduced():
    basis, c0, L, N = _setup(32)
    # a first step far too large: rejections at once, then the controller's steps
    fast, slow = _pair(ETDRK4, L, N, c0, [0.0, 2.0], rtol=1e-10, dt=1.0)
    assert fast.n_rejected == slow.n_rejected > 0
    assert fast.n_steps == slow.n_steps
    assert np.max(np.abs(fast.u - slow.u)) < 1e-13


def test_evolve_uses_the_compiled_loop(monkeypatch):
    basis = mf.CircleBasis(64)
    rho0 = mf.initial.perturbed_uniform(basis, 0.3, seed=0)
    calls = []
    real = etdrk4_loop.compiled_run

    def spy(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(etdrk4_loop, "compiled_run", spy)
    fast = mf.evolve(USA, basis, rho0, 2.0, [0, 1, 2])
    assert calls
    monkeypatch.setattr(ETDRK4, "compiled", False)
    slow = mf.evolve(USA, basis, rho0, 2.0, [0, 1, 2])
    assert len(calls) == 1 and fast.n_steps == slow.n_steps
    assert np.max(np.abs(fast.coeffs - slow.coeffs)) < 1e-13


def test_it_does_not_apply_where_it_would_differ():
    basis, c0, L, N = _setup(16)
    run_args = (None, np.array([0.0, 1.0]), StepController(), 0.1, 1e-12, 100)

    class Run:
        u = c0

    class Other(ETDRK4):  # another scheme: its own steps
        def _step_impl(self, u, h):
            return super()._step_impl(u, h)

    assert Other(L, N).run_adaptive(Run, *run_args[1:]) is None
    assert ETDRK4(L, USA.nonlinear_term(basis)).run_adaptive(Run, *run_args[1:]) is None
    assert ETDRK4(L + 1j, N).run_adaptive(Run, *run_args[1:]) is None  # complex L
    assert ETDRK4(L, N).run_adaptive(Run, np.array([0.0, 1.0]), StepController(), 0.1, 0.0,
                                     100) is None  # h_min = 0: the Python loop's own error
    # L stored complex with zero imaginary part is real diffusion: it applies
    done = []
    real = etdrk4_loop.compiled_run

    def spy(*args, **kw):
        result = real(*args, **kw)
        done.append(result is not None)
        return result

    etdrk4_loop.compiled_run = spy
    try:
        fast = integrate(ETDRK4(L.astype(complex), N), c0, [0.0, 1.0],
                         controller=StepController(rtol=1e-8))
    finally:
        etdrk4_loop.compiled_run = real
    slow = ETDRK4(L, N)
    slow.compiled = False
    slow = integrate(slow, c0, [0.0, 1.0], controller=StepController(rtol=1e-8))
    assert done == [True]
    assert fast.n_steps == slow.n_steps and np.max(np.abs(fast.u - slow.u)) < 1e-14


def test_the_compiled_loop_runs_the_current_transport():
    """The loop's N(u) is bit for bit the fused transport's (a stale numba cache of the
    loop would keep an older transport: meanfield.compiled_loop)."""
    basis, c0, L, N = _setup(64)
    co, co_h, ph = np.empty((2, 6, 64)), np.full(2, math.nan), np.empty(4)
    work, out, f = np.zeros((8, 127), dtype=complex), np.empty((4, 64), dtype=complex), \
        np.empty(64, dtype=complex)
    for c in (c0, c0 * (1 + 1e-3j)):
        etdrk4_loop._attempt(c, f, False, 0.01, 2, L.astype(float), N.wf, N.ik, co, co_h, ph,
                             work, out)
        assert np.array_equal(f, N(c))


@pytest.mark.parametrize("batch", [True, False])
def test_a_failing_check_stops_both_loops_at_the_same_step(batch):
    basis, c0, L, N = _setup(32)
    threshold = 0.25  # |c_1| grows from 0.06 to 0.2+ as the cluster forms

    def check(t, u):
        return f"|c_1| reached {abs(u[1]):.3f} at t={t:.6g}" if abs(u[1]) > threshold else None

    if batch:
        check.first_failure = lambda us: next(
            (i for i, u in enumerate(us) if abs(u[1]) > threshold), None)
    fast, slow = _pair(ETDRK4, L, N, c0, [0.0, 5.0, 10.0], check=check)
    assert fast.status == slow.status == "failed"
    assert fast.message == slow.message and "|c_1| reached" in fast.message
    assert fast.n_steps == slow.n_steps and fast.t[-1] == slow.t[-1]
    assert np.max(np.abs(fast.u[-1] - slow.u[-1])) < 1e-13


def test_blow_up_and_step_limit_messages_match():
    basis, c0, L, N = _setup(16)
    fast, slow = _pair(ETDRK4, L, N, c0, [0.0, 10.0], max_steps=7)
    assert fast.message == slow.message and "maximum number of steps (7)" in fast.message
    # backward diffusion: the step size collapses
    fast, slow = _pair(ETDRK4, -L, N, c0, [0.0, 1.0], rtol=1e-6, h_min=1e-6)
    assert fast.status == slow.status == "failed"
    assert fast.message.split(";")[0] == slow.message.split(";")[0]
    assert "fell below h_min" in fast.message or "non-finite" in fast.message


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")
def test_evolve_resumes_the_compiled_run_bit_identically(tmp_path):
    basis = mf.CircleBasis(48)
    rho0 = mf.initial.perturbed_uniform(basis, 0.3, seed=0)
    t_eval = np.linspace(1.0, 6.0, 6)
    whole = mf.evolve(USA, basis, rho0, 6.0, t_eval, rtol=1e-7)
    ck = tmp_path / "ck.npz"

    def stop(t):
        if t > 3.2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mf.evolve(USA, basis, rho0, 6.0, t_eval, checkpoint=ck, checkpoint_every=0,
                  progress=stop, rtol=1e-7)
    rest = mf.evolve(USA, basis, rho0, 6.0, t_eval, resume=ck, rtol=1e-7)
    assert np.array_equal(rest.coeffs, whole.coeffs)
    assert (rest.n_steps, rest.n_rejected) == (whole.n_steps, whole.n_rejected)


def test_batch_positivity_check_equals_the_step_check():
    """evolve's check.first_failure flags the first state the per-step check rejects."""
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.perturbed_uniform(basis, 0.3, seed=0)
    seen = {}
    real = etdrk4_loop.compiled_run

    def spy(stepper, run, *args):
        seen["check"] = run.check
        return real(stepper, run, *args)

    import meanfield.etdrk4_loop as mod
    mod_run, mod.compiled_run = mod.compiled_run, spy
    try:
        mf.evolve(USA, basis, rho0, 0.5, [0, 0.5])
    finally:
        mod.compiled_run = mod_run
    check = seen["check"]
    good = basis.forward(rho0)
    bad = good.copy()
    bad[1] = 0.9 * good[0]  # rho = c_0 (1 + 1.8 cos theta) dips below zero
    us = np.stack([good, good, bad, good])
    assert check.first_failure(us) == 2
    assert check.first_failure(us[:2]) is None
    assert check(1.0, bad) is not None and check(1.0, good) is None
    nan = good.copy()
    nan[3] = math.nan
    assert check.first_failure(np.stack([good, nan])) == 1  # checked one by one from there


def test_band_limited_flux_keeps_non_finite_values_visible():
    """The band-limited sum (meanfield.fused._transport) drops only terms below round-off:
    a NaN or an inf anywhere in c still reaches the flux (a blow-up is never hidden)."""
    basis, c0, _, N = _setup(64)
    for bad in (math.nan, math.inf):
        c = c0.copy()
        c[60] = bad  # far beyond the band of w and the reach of c
        assert not np.any(np.isfinite(N(c)))  # the whole sum is taken: every mode
    # and on a smooth state the flux beyond k = reach + band is exactly zero (an evolved
    # state: a forward transform leaves round-off, ~1e-17, in every mode, which is kept)
    c0 = mf.evolve(USA, basis, basis.backward(c0), 1.0).coeffs[-1]
    out = N(c0)
    w = N.wf * c0
    band = int(np.flatnonzero(np.abs(w) > 1e-17 * np.abs(w).max()).max())
    reach = int(np.flatnonzero(np.abs(c0) > 1e-17 * np.abs(c0).max()).max())
    assert reach + band < 63
    assert np.all(out[reach + band + 1:] == 0)
    plain = USA.nonlinear_term(basis)(c0)
    # where the FFT path holds its own round-off (n eps of the largest flux coefficient)
    assert np.max(np.abs(plain[reach + band + 1:])) < 64 * 2.3e-16 * np.max(np.abs(plain))
