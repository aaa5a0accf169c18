"""Compiled adaptive ETDRK4 runs on the fused circle transport.

:func:`meanfield.timestepping.integrate`'s adaptive loop for
:class:`~meanfield.timestepping.ETDRK4` (step doubling, the default, with or without
Richardson extrapolation) and :class:`~meanfield.timestepping.ETDRK4Embedded` (the
first-same-as-last embedded pair), as one compiled chunk of steps per batch
(:mod:`meanfield.compiled_loop`): the coefficients (phi-functions of ``h L``, recomputed
when the step changes), the stages on the compiled transport of :mod:`meanfield.fused`,
the error estimate and the controller. It applies where ``N`` is a
:class:`~meanfield.fused.ConvolutionUSA`, the state its coefficient vector and ``L`` real
(diffusion), and takes the steps, rejections and step sizes of the Python loop, to
round-off (the phi-functions are evaluated by the same formulas; a step doubling shares
``N(u)`` between the full and the first half step: 11 evaluations a step, not 12).

Examples
--------
>>> import numpy as np
>>> import meanfield as mf
>>> from meanfield.fused import fused_transport
>>> from meanfield.timestepping import ETDRK4, StepController, integrate
>>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
>>> basis = mf.CircleBasis(32)
>>> c0 = basis.forward(mf.initial.perturbed_uniform(basis, 0.3, seed=0))
>>> L, N = model.linear_operator(basis), fused_transport(model, basis)
>>> fast, slow = ETDRK4(L, N), ETDRK4(L, N)
>>> slow.compiled = False
>>> a, b = (integrate(s, c0, [0, 1, 2], controller=StepController(rtol=1e-8))
...         for s in (fast, slow))
>>> a.n_steps == b.n_steps, bool(np.max(np.abs(a.u - b.u)) < 1e-13)
(True, True)
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from .compiled_loop import (
    FULL,
    H_MIN,
    LANDED,
    MAX_STEPS,
    NON_FINITE,
    drive,
    error_scale,
    max_abs_c,
    propose,
    quantize,
)
from .fused import ConvolutionUSA, _etdrk4_step, _transport

__all__ = ["compiled_run"]

Array = NDArray[Any]

_TAYLOR_TERMS = 24  # as timestepping.phi_functions
_INV_FACTORIAL = np.array([1.0 / math.factorial(j) for j in range(_TAYLOR_TERMS + 8)])


@numba.njit(cache=True)
def _phis(z, out):  # pragma: no cover - compiled
    """out[0..3] = phi_0..phi_3 of real z, as timestepping.phi_functions."""
    out[0] = math.exp(z)
    if abs(z) < 1.0:
        for k in range(1, 4):
            s, zj = 0.0, 1.0
            for j in range(_TAYLOR_TERMS):
                s += zj * _INV_FACTORIAL[j + k]
                zj *= z
            out[k] = s
    else:
        p = out[0]
        for k in range(1, 4):
            p = (p - _INV_FACTORIAL[k - 1]) / z
            out[k] = p


@numba.njit(cache=True)
def _coefficients(h, lin, co, ph):  # pragma: no cover - compiled
    """co = (e, e2, q, f1, f2, f3) of ETDRK4._compute_coefficients(h); ph: 4 scratch."""
    half = 0.5 * h
    for k in range(lin.shape[0]):
        _phis(half * lin[k], ph)
        e2, hp1 = ph[0], ph[1]
        _phis(h * lin[k], ph)
        co[0, k], co[1, k], co[2, k] = ph[0], e2, half * hp1
        co[3, k] = h * (ph[1] - 3 * ph[2] + 4 * ph[3])
        co[4, k] = h * (ph[2] - 2 * ph[3])
        co[5, k] = h * (4 * ph[3] - ph[2])


@numba.njit(cache=True)
def _step(u, f0, co, wf, ik, work, u_new):  # pragma: no cover - compiled
    """fused._etdrk4_step with the coefficients co = (e, e2, q, f1, f2, f3)."""
    _etdrk4_step(u, f0, co[0], co[1], co[2], co[3], co[4], co[5], wf, ik, work, u_new)


@numba.njit(cache=True)
def _attempt(u, f, have_f, h, mode, lin, wf, ik, co, co_h, ph, work,
             out):  # pragma: no cover - compiled
    """One step of h with its error estimate: out = (u_new, err, f_new, scratch);
    returns the evaluations of N it took. mode 0/1: step doubling with/without Richardson
    extrapolation, 2: the embedded pair (f_new = N(u_new))."""
    n = u.shape[0]
    u_new, err, f_new, mid = out[0], out[1], out[2], out[3]
    nfev = 0
    if not have_f:
        _transport(u, wf, ik, work[0], work[1], f)
        nfev += 1
    if co_h[0] != h:
        _coefficients(h, lin, co[0], ph)
        co_h[0] = h
    if mode == 2:
        _step(u, f, co[0], wf, ik, work, u_new)
        _transport(u_new, wf, ik, work[0], work[1], f_new)
        for k in range(n):
            err[k] = co[0, 5, k] * (f_new[k] - work[7, k])
        return nfev + 4
    if co_h[1] != 0.5 * h:
        _coefficients(0.5 * h, lin, co[1], ph)
        co_h[1] = 0.5 * h
    _step(u, f, co[0], wf, ik, work, err)  # the full step, kept in err
    _step(u, f, co[1], wf, ik, work, mid)
    _transport(mid, wf, ik, work[0], work[1], f_new)
    _step(mid, f_new, co[1], wf, ik, work, u_new)
    for k in range(n):
        d = (u_new[k] - err[k]) / 15.0  # 2**order - 1
        err[k] = d
        if mode == 0:
            u_new[k] = u_new[k] + d
    return nfev + 10


@numba.njit(cache=True)
def _chunk(u, f, have_f, target, limit, ts, counts, ctl, buf_u, buf_h, buf_h_before,
           buf_lands, buf_counts, mode, lin, wf, ik, co, co_h, ph, work,
           out):  # pragma: no cover - compiled
    """timestepping._run_adaptive for ETDRK4 (quantized steps), as compiled_loop describes."""
    n = u.shape[0]
    u_new, err, f_new = out[0], out[1], out[2]
    t, h, err_prev, t_base, h_run, snap, h_min = ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], ts[6]
    k_run, n_steps, n_rej, max_steps, nfev = counts[0], counts[1], counts[2], counts[3], \
        counts[4]
    status, n_acc = LANDED, 0
    while t < target:
        if n_steps + n_rej >= max_steps:
            status = MAX_STEPS
            break
        hq = quantize(h)
        remaining = target - t
        lands = remaining <= hq + snap
        h_step = hq if (not lands or abs(remaining - hq) <= snap) else remaining
        nfev += _attempt(u, f, have_f, h_step, mode, lin, wf, ik, co, co_h, ph, work, out)
        have_f = True
        scale = error_scale(ctl, max_abs_c(u), max_abs_c(u_new))
        accept, h_next, err_prev = propose(h_step, max_abs_c(err) / scale, err_prev, ctl)
        if accept:
            if lands:
                t, t_base, h_run, k_run = target, target, 0.0, 0
            else:
                if h_step != h_run:
                    t_base, h_run, k_run = t, h_step, 0
                k_run += 1
                t = t_base + k_run * h_step
            for e in range(n):
                buf_u[n_acc, e] = u_new[e]
                u[e] = u_new[e]
            if mode == 2:
                for e in range(n):
                    f[e] = f_new[e]
            else:
                have_f = False
            buf_h[n_acc], buf_h_before[n_acc], buf_lands[n_acc] = h_step, h, lands
            n_steps += 1
            buf_counts[n_acc, 0], buf_counts[n_acc, 1], buf_counts[n_acc, 2] = n_rej, nfev, 0
            n_acc += 1
            h = max(h_next, h) if (lands and h_step < h) else h_next
            if not np.all(np.isfinite(u_new)):
                status = NON_FINITE
                break
        else:
            n_rej += 1
            h = h_next
        if h < h_min:
            status = H_MIN
            break
        if n_acc == limit and t < target:
            status = FULL
            break
    ts[0], ts[1], ts[2], ts[3], ts[4] = t, h, err_prev, t_base, h_run
    counts[0], counts[1], counts[2], counts[4] = k_run, n_steps, n_rej, nfev
    return status, n_acc, have_f


def compiled_run(stepper: Any, run: Any, t_eval: Array, controller: Any, h: float,
                 h_min: float, max_steps: int, embedded: bool, extrapolate: bool,
                 h_min_message: Any) -> tuple[bool, float] | None:
    """The compiled adaptive loop of an ETDRK4 stepper, or None where it does not apply.

    Applies when ``stepper.N`` is a :class:`~meanfield.fused.ConvolutionUSA`, ``run.u``
    its complex coefficient vector, ``stepper.L`` real and broadcastable to it; see
    :meth:`meanfield.timestepping.ETDRK4.run_adaptive`.
    """
    N, u = stepper.N, np.asarray(run.u)
    if not (isinstance(N, ConvolutionUSA) and u.shape == (N.n,) and u.dtype == np.complex128):
        return None
    L = np.asarray(stepper.L)
    if np.iscomplexobj(L):
        if np.any(L.imag != 0):
            return None
        L = L.real
    try:
        lin = np.ascontiguousarray(np.broadcast_to(L.astype(float), u.shape))
    except ValueError:
        return None
    n = N.n
    mode = 2 if embedded else (0 if extrapolate else 1)
    order = stepper.embedded_order if embedded else stepper.order
    co, co_h, ph = np.empty((2, 6, n)), np.full(2, math.nan), np.empty(4)
    work = np.zeros((8, max(2 * n - 1, 1)), dtype=complex)
    out = np.empty((4, n), dtype=complex)

    def chunk(*args):
        return _chunk(*args, mode, lin, N.wf, N.ik, co, co_h, ph, work, out)

    return drive(stepper, run, t_eval, controller, h, h_min, max_steps, chunk, order,
                 h_min_message)
