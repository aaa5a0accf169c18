"""Compiled transport term of the isotropic USA model on the circle (up to 512 modes).

For ``CircleBasis(n)`` the USA transport term is ``N(c)_k = -ik F_k`` with the flux
``F = rho v`` and ``v = grad(G * rho)``, whose coefficients are ``w_j = i j g_j c_j``. In
coefficient space the flux is the convolution

    F_k = sum_j c_j w_{k-j},   |j|, |k - j| <= n - 1,   c_{-j} = conj(c_j),

which the pseudo-spectral product (``basis.backward``, a product on the grid,
``basis.forward``) computes exactly when the grid has at least ``3n - 2`` points (no
aliasing into the kept modes; the default ``dealias = 1.5`` gives ``3n``). An attention
kernel's ``g_j`` decays faster than exponentially, so ``w`` is negligible beyond a small
band ``|j| <= M`` (``M`` = 17 at beta = 3, whatever ``n``): summed directly over that band
the flux costs about ``n (2M + 1)`` complex multiply-adds and no Python call, against
three FFTs of ``3n`` points and their Python calls (``benchmarks/bench_evolve.py`` prints
the evaluations' share of a run as the hot loop's floor: 2.4 / 4.9 us an evaluation at
32 / 64 modes on a 2-core machine). :class:`ConvolutionUSA` also offers a whole
ETDRK4 step with its embedded error estimate as one compiled call
(:meth:`ConvolutionUSA.etdrk4_pair`); :mod:`meanfield.etdrk4_loop` and
:class:`meanfield.rosenbrock.RODAS4` compile whole adaptive runs on it.

:func:`fused_transport` says whether the fused path applies; :func:`meanfield.evolve`
uses it when it does. The model API is unchanged: the result equals
``model.nonlinear_term(basis)`` to round-off.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["MAX_MODES", "MAX_TERMS", "ConvolutionUSA", "fused_transport", "kernel_band"]

Array = NDArray[Any]

MAX_MODES = 512
"""Largest ``n_modes`` for which :func:`fused_transport` returns the convolution."""

MAX_TERMS = 24_000
"""Largest ``n_modes (2 M + 1)`` (``M``: :func:`kernel_band`), the terms of the flux sum for
any state, for which :func:`fused_transport` returns the convolution: about the cost of the
FFT path there (attention kernel at beta = 3: ``M`` = 22, so every size up to 512 modes; every
kernel up to 96 modes)."""

_TRUNCATION = 1e-17
"""Terms ``c_j w_{k-j}`` of the flux with ``|w_{k-j}| <= _TRUNCATION max|w|`` or ``|c_j| <=
_TRUNCATION max|c|`` are left out (see :func:`_transport`)."""


@numba.njit(cache=True)
def _transport(c, wf, ik, full_c, full_w, out):  # pragma: no cover - compiled
    """out_k = -ik_k sum_j c_j w_{k-j} (w = wf c), on n modes; full_*: scratch (2n - 1).

    Terms with ``|w_{k-j}| <= _TRUNCATION max|w|`` or ``|c_j| <= _TRUNCATION max|c|`` are
    left out: for one ``k`` their sum is at most ``1e-17 (|c|_1 max|w| + |w|_1 max|c|)``,
    below the round-off of the pseudo-spectral product (about ``n eps`` of the same scale).
    With the super-exponential decay of an attention kernel's ``g`` the sum then runs over
    ``|k - j| <= M`` (``M`` = 17 for beta = 3, whatever ``n``), and for a smooth density
    over ``|j| <= J`` too: the flux vanishes beyond ``k = J + M``.
    """
    n = c.shape[0]
    m = n - 1
    wmax2 = cmax2 = 0.0
    finite = True
    for j in range(n):
        cj = c[j]
        wj = wf[j] * cj
        full_c[m + j] = cj
        full_c[m - j] = cj.conjugate()
        full_w[m + j] = wj
        full_w[m - j] = wj.conjugate()
        w2 = wj.real * wj.real + wj.imag * wj.imag
        c2 = cj.real * cj.real + cj.imag * cj.imag
        if not (w2 < math.inf and c2 < math.inf):  # NaN, inf (or beyond 1e154)
            finite = False
        wmax2 = w2 if w2 > wmax2 else wmax2
        cmax2 = c2 if c2 > cmax2 else cmax2
    band = reach = m
    if finite:  # else the whole sum, so that NaN and inf reach the flux
        band = _last_above(full_w, m, wmax2 * _TRUNCATION**2)
        reach = _last_above(full_c, m, cmax2 * _TRUNCATION**2)
    for k in range(n):
        s = 0j
        for j in range(max(k - band, -reach), min(k + band, reach) + 1):
            s += full_c[m + j] * full_w[m + k - j]
        out[k] = -ik[k] * s


@numba.njit(cache=True)
def _last_above(full, m, thr2):  # pragma: no cover - compiled
    """Largest j <= m with |full[m + j]|**2 > thr2 (0 if none)."""
    for j in range(m, -1, -1):
        x = full[m + j]
        if x.real * x.real + x.imag * x.imag > thr2:
            return j
    return 0


@numba.njit(cache=True)
def _etdrk4_step(u, f0, e, e2, q, f1, f2, f3, wf, ik, work,
                 u_new):  # pragma: no cover - compiled
    """One Cox-Matthews ETDRK4 step from u with f0 = N(u) (ETDRK4._step_impl) into u_new;
    work rows 0-1: the transport's scratch, 2-7: the stages (N(c) left in row 7)."""
    n = u.shape[0]
    full_c, full_w = work[0], work[1]
    a, na, b, nb, c, nc = work[2, :n], work[3, :n], work[4, :n], work[5, :n], work[6, :n], \
        work[7, :n]
    for k in range(n):
        a[k] = e2[k] * u[k] + q[k] * f0[k]
    _transport(a, wf, ik, full_c, full_w, na)
    for k in range(n):
        b[k] = e2[k] * u[k] + q[k] * na[k]
    _transport(b, wf, ik, full_c, full_w, nb)
    for k in range(n):
        c[k] = e2[k] * a[k] + q[k] * (2.0 * nb[k] - f0[k])
    _transport(c, wf, ik, full_c, full_w, nc)
    for k in range(n):
        u_new[k] = e[k] * u[k] + f1[k] * f0[k] + 2.0 * f2[k] * (na[k] + nb[k]) + f3[k] * nc[k]


@numba.njit(cache=True)
def _etdrk4_pair(u, f0, have_f0, e, e2, q, f1, f2, f3, wf, ik,
                 u_new, f_new, err, work):  # pragma: no cover - compiled
    """One Cox-Matthews ETDRK4 step and its FSAL error estimate (see ETDRK4.step_pair)."""
    n = u.shape[0]
    if not have_f0:
        _transport(u, wf, ik, work[0], work[1], f0)
    _etdrk4_step(u, f0, e, e2, q, f1, f2, f3, wf, ik, work, u_new)
    _transport(u_new, wf, ik, work[0], work[1], f_new)
    for k in range(n):
        err[k] = f3[k] * (f_new[k] - work[7, k])


class ConvolutionUSA:
    """The USA transport term ``c -> -div(rho grad(G * rho))`` on a circle basis, compiled.

    Parameters
    ----------
    g : array_like
        Per-coefficient potential multiplier (``model.potential_multiplier(basis)``).
    fallback : callable
        The model's own transport term, used for arrays with leading batch axes.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.fused import fused_transport
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> N = fused_transport(model, basis)
    >>> c = basis.forward(mf.initial.perturbed_uniform(basis, 0.3, seed=0))
    >>> bool(np.max(np.abs(N(c) - model.nonlinear_term(basis)(c))) < 1e-14)
    True
    """

    def __init__(self, g: Array, fallback) -> None:
        g = np.asarray(g, dtype=float)
        n = g.shape[0]
        self.n = n
        self.ik = 1j * np.arange(n, dtype=float)
        self.wf = self.ik * g
        self.fallback = fallback
        self._work = np.zeros((8, max(2 * n - 1, 1)), dtype=complex)

    def __call__(self, c: Array) -> Array:
        c = np.asarray(c)
        if c.shape != (self.n,) or c.dtype != np.complex128:
            return self.fallback(c)
        out = np.empty(self.n, dtype=complex)
        _transport(c, self.wf, self.ik, self._work[0], self._work[1], out)
        return out

    def etdrk4_pair(self, u: Array, f0: Array | None,
                    coeffs: tuple[Array, ...]) -> tuple[Array, Array, Array] | None:
        """One ETDRK4 step with its embedded estimate, or None if ``u`` does not fit.

        ``coeffs`` are :class:`meanfield.timestepping.ETDRK4`'s ``(e, e2, q, f1, f2, f3)``;
        returns ``(u_new, err, f_new)`` as :meth:`meanfield.timestepping.ETDRK4.step_pair`.
        """
        if u.shape != (self.n,) or u.dtype != np.complex128 or any(
                x.shape != u.shape or x.dtype != np.float64 for x in coeffs):
            return None
        have = f0 is not None
        f0 = np.empty(self.n, dtype=complex) if f0 is None else np.asarray(f0, dtype=complex)
        u_new, f_new, err = (np.empty(self.n, dtype=complex) for _ in range(3))
        _etdrk4_pair(u, f0, have, *coeffs, self.wf, self.ik, u_new, f_new, err, self._work)
        return u_new, err, f_new


def fused_transport(model, basis, max_modes: int = MAX_MODES) -> ConvolutionUSA | None:
    """The compiled transport term of ``model`` on ``basis``, or None where it does not apply.

    It applies to the isotropic USA interaction (a zonal kernel) on a
    :class:`~meanfield.bases.circle.CircleBasis` with at most ``max_modes`` modes and a
    grid of at least ``3 n_modes - 2`` points (the pseudo-spectral product is then
    alias-free, so the two agree to round-off), and where the sum is not costlier than the
    FFTs: ``n_modes (2 M + 1) <=`` :data:`MAX_TERMS`, ``M`` the kernel's band
    (:func:`kernel_band`; an attention kernel at moderate beta, not one with algebraic
    decay at large ``n_modes``).

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.fused import fused_transport
    >>> usa = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> type(fused_transport(usa, mf.CircleBasis(32))).__name__
    'ConvolutionUSA'
    >>> fused_transport(usa, mf.CircleBasis(1024)) is None  # FFTs are as fast there
    True
    >>> fused_transport(usa.replace(dynamics="sa"), mf.CircleBasis(32)) is None
    True
    """
    from .bases.circle import CircleBasis
    from .interactions.isotropic import IsotropicUSA

    if type(basis) is not CircleBasis or type(model.interaction) is not IsotropicUSA:
        return None
    n = basis.n_modes
    if n > max_modes or basis.grid_size < 3 * n - 2:
        return None
    g = np.asarray(model.potential_multiplier(basis))
    if n * (2 * kernel_band(g) + 1) > MAX_TERMS:  # a slowly decaying kernel: FFTs win
        return None
    return ConvolutionUSA(g, model.nonlinear_term(basis))


def kernel_band(g: Array) -> int:
    """Largest ``j`` with ``|j g_j| > 1e-17 max_j |j g_j|``: the band of ``w = i j g_j c_j``
    whatever ``c`` (0 for a constant kernel).

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.fused import kernel_band
    >>> basis = mf.CircleBasis(64)
    >>> kernel_band(mf.MeanFieldModel(mf.AttentionKernel(3.0)).potential_multiplier(basis))
    22
    """
    jg = np.abs(np.arange(len(g)) * np.asarray(g))
    if not jg.size or jg.max() == 0:
        return 0
    return int(np.flatnonzero(jg > _TRUNCATION * jg.max()).max())
