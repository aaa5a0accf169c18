"""Compiled adaptive loops: the step controller in numba and the driver that replays them.

A scheme whose whole step is one compiled call (RODAS4 and ETDRK4 on the fused circle
transport, :mod:`meanfield.rosenbrock` and :mod:`meanfield.etdrk4_loop`) can also run
:func:`meanfield.timestepping.integrate`'s adaptive loop as compiled code. Its *chunk*
takes adaptive steps towards the next save time until it lands there, has a batch of
accepted steps, or fails; :func:`drive` hands each accepted state of the batch to the
run (``run.accept``: the run's ``check``, ``progress`` and counters) and makes the saves,
so that a compiled run is seen from outside as the Python loop (a check with a batch form,
``check.first_failure``, is asked once per batch): same steps, rejections and
step sizes (the controller's arithmetic below is that of
:class:`~meanfield.timestepping.StepController`, bit for bit), same saves and resumable
state. Only the evaluation count may be lower where a compiled step shares an evaluation
(ETDRK4's step doubling: 11 a step, not 12). Batches start at 16 steps and double up to the
scheme's ``buffer_size``: a run that its check stops wastes few steps.

numba caches each compiled function by its own source file: after editing a kernel that
another module's compiled code calls (``fused._transport``, the controller here), clear
``meanfield/__pycache__`` (``*.nbi``, ``*.nbc``) or the callers keep the old one.

A chunk has the signature ``chunk(u, f, have_f, target, limit, ts, counts, ctl, buf_u,
buf_h, buf_h_before, buf_lands, buf_counts) -> (status, n_accepted, have_f)`` with

* ``u`` (updated in place), ``f = N(u)`` where ``have_f``;
* ``ts = (t, h, err_prev, t_base, h_run, snap, h_min)`` and ``counts = (k, n_steps,
  n_rejected, max_steps, nfev, njev)``, updated in place (``t = t_base + k h_run`` as in
  the Python loop);
* ``ctl = (rtol, atol, safety, factor_min, factor_max, beta1, beta2, order + 1)``;
* accepted step ``i``: its state ``buf_u[i]``, step ``buf_h[i]``, the controller's step
  before it ``buf_h_before[i]``, whether it landed on ``target``, the counters
  ``(n_rejected, nfev, njev)`` after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["drive"]

Array = NDArray[Any]

# status codes of a chunk
LANDED, FULL, NON_FINITE, MAX_STEPS, H_MIN, SINGULAR = range(6)


@numba.njit(cache=True, fastmath={"contract"})
def max_abs_c(x):  # pragma: no cover - compiled
    """``np.abs(x).max()`` bit for bit (numpy's complex abs: ``hi * sqrt(r * r + 1)``, ``r =
    lo / hi``, fused multiply-add where the machine has it); NaN propagates, inf wins."""
    out = 0.0
    for k in range(x.shape[0]):
        a, b = abs(x[k].real), abs(x[k].imag)
        if math.isinf(a) or math.isinf(b):
            v = math.inf
        else:
            hi, lo = max(a, b), min(a, b)
            r = lo / hi if hi > 0 else 0.0
            v = hi * math.sqrt(r * r + 1.0)
        if v != v:
            return v
        out = max(out, v)
    return out


@numba.njit(cache=True)
def error_scale(ctl, a, b):  # pragma: no cover - compiled
    """StepController.error_norm's denominator ``atol + rtol * max(a, b)``."""
    return ctl[1] + ctl[0] * max(a, b)


@numba.njit(cache=True)
def propose(h, err_norm, err_prev, ctl):  # pragma: no cover - compiled
    """StepController.propose for order ``ctl[7] - 1``: (accept, h_next, err_prev)."""
    safety, fmin, fmax, beta1, beta2, k = ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7]
    if not np.isfinite(err_norm):
        return False, h * fmin, err_prev
    if err_norm > 1:
        factor = safety * err_norm ** (-1.0 / k)
        return False, h * min(1.0, max(fmin, factor)), err_prev
    if err_norm == 0:
        factor = fmax
    else:
        factor = safety * err_norm ** (-beta1 / k) * err_prev ** (beta2 / k)
    return True, h * min(fmax, max(fmin, factor)), max(err_norm, 1e-4)


@numba.njit(cache=True)
def quantize(h):  # pragma: no cover - compiled
    """timestepping._quantize: h rounded down to the grid 2**(j/4)."""
    return 2.0 ** (math.floor(4.0 * math.log2(h)) / 4.0)


def controller_array(controller: Any, order: int) -> Array:
    """The ``ctl`` array of a chunk for a StepController and the order it controls."""
    return np.array([controller.rtol, controller.atol, controller.safety,
                     controller.factor_min, controller.factor_max, controller.beta1,
                     controller.beta2, order + 1.0])


def _first_failure(check: Any, us: Array) -> int:
    """Index of the first state of the batch ``us`` that is not finite or that ``check``
    fails (its ``first_failure``), ``len(us)`` if none; the states from there on are checked
    one by one (all of them if the check has no batch form)."""
    if not len(us):
        return 0
    bad = np.flatnonzero(~np.isfinite(us).all(axis=1))
    first = int(bad[0]) if bad.size else len(us)
    if check is None:
        return first
    batch = getattr(check, "first_failure", None)
    if batch is None:
        return 0
    failing = batch(us[:first])
    return first if failing is None else int(failing)


def drive(stepper: Any, run: Any, t_eval: Array, controller: Any, h: float, h_min: float,
          max_steps: int, chunk: Callable[..., tuple[int, int, bool]], order: int,
          h_min_message: Callable[[Any, float, float, float], str]) -> tuple[bool, float]:
    """Run ``chunk`` to the last save time, replaying its steps through ``run``.

    Parameters
    ----------
    stepper : Stepper
        The scheme; its ``nfev`` (and ``njev``, if it has one) are kept up to date, its
        ``buffer_size`` bounds a batch.
    run : timestepping._Run
        The run (state, time, saves, check, progress).
    t_eval : ndarray
        Save times (the first is the start).
    controller : StepController
        Tolerances and controller constants; its ``err_prev`` is kept up to date.
    h, h_min : float
        Step to start with; smallest step before the run fails.
    max_steps : int
        Limit on accepted plus rejected steps.
    chunk : callable
        The compiled chunk (module docstring), with the scheme's own arrays bound.
    order : int
        Order of the error estimate the controller sees.
    h_min_message : callable
        ``(stepper, t, h, h_min) -> str``, the message of a run whose step collapsed.

    Returns
    -------
    ok : bool
        False if the run failed (``run.message`` says why).
    h : float
        The step the run continues with.
    """
    n = np.asarray(run.u).shape[0]
    size = max(int(stepper.buffer_size), 1)
    limit = min(16, size)
    u, f, have_f = np.array(run.u, dtype=complex), np.empty(n, dtype=complex), False
    buf_u = np.empty((size, n), dtype=complex)
    buf_h, buf_h_before = np.empty(size), np.empty(size)
    buf_lands, buf_counts = np.zeros(size, dtype=bool), np.zeros((size, 3), dtype=np.int64)
    ctl = controller_array(controller, order)
    has_njev = hasattr(stepper, "njev")
    for target in t_eval[1:]:
        while run.t < target:
            ts = np.array([run.t, h, controller.err_prev, run.t_base, run.h_run, run.snap,
                           h_min])
            counts = np.array([run.k, run.n_steps, run.n_rejected, max_steps, stepper.nfev,
                               stepper.njev if has_njev else 0], dtype=np.int64)
            status, n_acc, have_f = chunk(u, f, have_f, float(target), limit, ts, counts, ctl,
                                          buf_u, buf_h, buf_h_before, buf_lands, buf_counts)
            limit = min(2 * limit, size)
            first_bad = _first_failure(run.check, buf_u[:n_acc])
            for i in range(n_acc):  # the run's checks, progress and counters, per step
                run.n_rejected = int(buf_counts[i, 0])
                stepper.nfev = int(buf_counts[i, 1])
                if has_njev:
                    stepper.njev = int(buf_counts[i, 2])
                if not run.accept(buf_u[i].copy(), float(buf_h[i]),
                                  target if buf_lands[i] else None, checked=i < first_bad):
                    return False, float(buf_h_before[i])
            run.n_rejected, stepper.nfev = int(counts[2]), int(counts[4])
            if has_njev:
                stepper.njev = int(counts[5])
            h = float(ts[1])
            controller.err_prev = float(ts[2])
            if status == SINGULAR:
                raise np.linalg.LinAlgError(f"I/(gamma h) - J is singular at h={h!r}")
            if status == MAX_STEPS:
                message = f"maximum number of steps ({max_steps}) reached at t={run.t:.12g}"
                return run.fail(message), h
            if status == H_MIN:
                return run.fail(h_min_message(stepper, run.t, h, h_min)), h
        run.h_next = h
        run.save()
    return True, h
