"""Fast spectral summation of the attention sums on S^2 (d = 3): no n x n work.

For tokens x_j on S^2 the Funk–Hecke expansion e^{beta t} = sum_l (2l+1) lambda_l P_l(t)
(lambda_l(beta) = i_l(beta), the modified spherical Bessel function; ``AttentionKernel(beta)
.funk_hecke_scaled(l, 3)`` = lambda_l e^{-|beta|}) and the addition theorem
(2l+1) P_l(<x, y>) = 4 pi sum_m Y_lm(x) conj Y_lm(y) (ducc0's Y_lm, orthonormal w.r.t.
d Omega, Condon–Shortley phase) give

    F(x) = sum_j e^{beta <x, x_j>} = sum_{l,m} 4 pi lambda_l A_lm Y_lm(x),
    A_lm = sum_j conj Y_lm(x_j)                         (one spin-0 adjoint synthesis),
    T(x) = sum_j e^{beta <x, x_j>} P_x x_j = grad_S F(x) / beta
         = grad_S sum_{l,m} 4 pi mu_l A_lm Y_lm(x),   mu_l = lambda_l / beta
                                                        = (lambda_{l-1} - lambda_{l+1}) / (2l+1)

(the recurrence i_{l-1} - i_{l+1} = (2l+1) i_l / beta; its form has the beta -> 0 limit
mu_1 = 1/3, T = P_x sum_j x_j, built in). Both F and grad_S are evaluated at the n tokens by
ducc0's NUFFT-based ``synthesis_general`` (spin 0 and mode "DERIV1", which returns
(d_theta, d_phi / sin theta)); the (theta, phi) components are turned into Cartesian tangent
vectors. USA velocity P_{x_i} v_i = T(x_i) / n, SA velocity T(x_i) / F(x_i). All
coefficients are exponentially scaled (times e^{-|beta|}); nothing overflows and the SA ratio
never sees e^{|beta|}.

Truncation: L is the smallest degree with

    tail(L) = sum_{l > L} (2l+1) (|lambda_l| + sqrt(l(l+1)) |mu_l|) / lambda_0 < accuracy / 2.

Since |P_l| <= 1 and |sqrt(1-t^2) P_l'(t)| <= sqrt(l(l+1)), the truncation changes F / (n
lambda_0) and T / (n lambda_0) by at most tail(L) (pointwise, any configuration). ducc0's
transforms run at epsilon = accuracy / 20 (but >= 3e-13, its double-precision floor); its
error is relative to the norms of the inputs, which for the nonnegative weights used here
are of the size of n lambda_0 as well. Hence, with the velocity scale
s = lambda_0 e^{|beta|}-scaled (USA: s = lambda_0(beta); SA: 1), the velocity error is about

    USA: |dv_i| <= accuracy * lambda_0(beta),
    SA:  |dv_i| <= accuracy * (1 + |v_i|) n lambda_0 / F(x_i)   (~2 accuracy when spread out),

the same form as the circle bound of ``meanfield.particles.spectral``. The cost is
O(n + L^2 log L) per evaluation (three NUFFT transforms).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

try:
    import ducc0
except ImportError as exc:  # pragma: no cover - ducc0 is a dependency of the sphere basis
    raise ImportError("the spectral S^2 summation needs ducc0 (pip install ducc0)") from exc

__all__ = ["sphere_coefficients", "sphere_order", "sphere_sums", "sphere_velocity",
           "sphere_epsilon"]

_SHT = ducc0.sht.experimental
#: ducc0's smallest admissible epsilon in double precision is 2e-13
_EPS_FLOOR = 3e-13


def sphere_epsilon(accuracy: float) -> float:
    """The ducc0 NUFFT epsilon used for a requested accuracy.

    Examples
    --------
    ``accuracy / 20``, but not below ducc0's double-precision floor:

    >>> from meanfield.particles.spectral_s2 import sphere_epsilon
    >>> round(sphere_epsilon(1e-10), 20), sphere_epsilon(1e-14)
    (5e-12, 3e-13)
    """
    return max(float(accuracy) / 20.0, _EPS_FLOOR)


@lru_cache(maxsize=64)
def _coefficients(beta: float, accuracy: float, max_degree: int):
    from ..kernels import AttentionKernel

    kern = AttentionKernel(beta)
    lmax = int(abs(beta) + 10.0 * np.sqrt(abs(beta) + 1.0) + 40.0)
    while True:
        ls = np.arange(lmax + 2)
        lam = np.asarray(kern.funk_hecke_scaled(ls, 3), dtype=np.float64)
        mu = np.zeros(lmax + 1)
        mu[1:] = (lam[: lmax] - lam[2: lmax + 2]) / (2 * ls[1: lmax + 1] + 1)
        l1 = ls[: lmax + 1]
        term = (2 * l1 + 1) * (np.abs(lam[: lmax + 1])
                               + np.sqrt(l1 * (l1 + 1.0)) * np.abs(mu)) / lam[0]
        tail = np.concatenate([np.cumsum(term[::-1])[::-1][1:], [0.0]])
        if term[-1] < 1e-3 * accuracy or lmax >= max_degree:
            ok = np.nonzero(tail < 0.5 * accuracy)[0]
            if ok.size == 0 or term[-1] >= 1e-3 * accuracy:
                raise ValueError(
                    f"the spectral S^2 method needs more than degree {max_degree} for "
                    f"beta={beta} at accuracy {accuracy:g}; use method='direct'")
            L = max(int(ok[0]), 1)
            lam_c = lam[: L + 1].copy()
            mu_c = mu[: L + 1].copy()
            lam_c.flags.writeable = False
            mu_c.flags.writeable = False
            return lam_c, mu_c, L
        lmax = min(2 * lmax, max_degree)


def sphere_coefficients(beta: float, accuracy: float = 1e-10,
                        max_degree: int = 4096) -> tuple[np.ndarray, np.ndarray, int]:
    """Scaled coefficients (lambda_l e^{-|beta|}, mu_l e^{-|beta|}), l = 0..L, and L.

    L is chosen as described in the module docstring. Raises ValueError if no L up to
    ``max_degree`` reaches ``accuracy``.

    Examples
    --------
    ``lambda_0(beta) = i_0(beta) = sinh(beta) / beta`` and
    ``mu_l = (lambda_{l-1} - lambda_{l+1}) / (2l + 1) = lambda_l / beta``:

    >>> import math
    >>> import numpy as np
    >>> from meanfield.particles.spectral_s2 import sphere_coefficients
    >>> lam, mu, L = sphere_coefficients(2.0)
    >>> L, bool(abs(lam[0] - math.sinh(2.0) / 2.0 * math.exp(-2.0)) < 1e-15)
    (14, True)
    >>> bool(np.allclose(mu[1:], lam[1:] / 2.0, rtol=1e-12))
    True

    At ``beta = 0`` only degree 1 is left, with the limit ``mu_1 = 1/3``:

    >>> lam, mu, L = sphere_coefficients(0.0)
    >>> lam.tolist(), round(float(mu[1]), 15), L
    ([1.0, 0.0], 0.333333333333333, 1)
    """
    if not (np.isfinite(accuracy) and accuracy > 0):
        raise ValueError(f"accuracy must be a positive number, got {accuracy}")
    if not np.isfinite(beta):
        raise ValueError(f"beta must be finite, got {beta}")
    return _coefficients(float(beta), float(accuracy), int(max_degree))


def sphere_order(beta: float, accuracy: float = 1e-10) -> int:
    """The truncation degree L used for (beta, accuracy).

    Examples
    --------
    >>> from meanfield.particles.spectral_s2 import sphere_order
    >>> sphere_order(0.0), sphere_order(1.0), sphere_order(10.0)
    (1, 11, 27)
    """
    return sphere_coefficients(beta, accuracy)[2]


def _loc(x: np.ndarray):
    """Unit rows, and ducc0 locations (theta, phi) of shape (n, 2)."""
    xh = x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    th = np.arccos(np.clip(xh[:, 2], -1.0, 1.0))
    ph = np.arctan2(xh[:, 1], xh[:, 0])
    ph = np.where(ph < 0, ph + 2 * np.pi, ph)
    return xh, np.ascontiguousarray(np.stack([th, ph], axis=1)), th, ph


def _lm_factor(c: np.ndarray, L: int) -> np.ndarray:
    """Per-(l, m) multiplier in ducc0's triangular alm layout (m-major, l = m..L)."""
    return np.concatenate([c[m:L + 1] for m in range(L + 1)])


def sphere_sums(x: np.ndarray, beta: float, accuracy: float = 1e-10, coefficients=None,
                nthreads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Scaled kernel sums at the tokens: (F_i e^{-|beta|}, T_i e^{-|beta|}).

    ``nthreads`` (default 1) is ducc0's thread count: with more than one thread its
    reductions run in a varying order and runs differ in the last bits (~1e-13 here), so
    the default keeps spectral runs bit-identical for a seed (and at n = 20000 one thread is
    as fast as two on a 2-core machine).

    F_i = sum_j e^{beta <x_i, x_j>} (n,), T_i = sum_j e^{beta <x_i, x_j>} P_{x_i} x_j (n, 3),
    x : (n, 3) tokens (rows normalized inside).

    Examples
    --------
    Against the direct O(n^2) sums:

    >>> import numpy as np
    >>> from meanfield.particles.spectral_s2 import sphere_sums
    >>> x = np.random.default_rng(0).standard_normal((60, 3))
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> G = np.exp(3.0 * x @ x.T)
    >>> F, T = sphere_sums(x, 3.0)
    >>> F.shape, T.shape
    ((60,), (60, 3))
    >>> bool(np.allclose(F * np.exp(3.0), G.sum(axis=1), rtol=1e-10))
    True
    >>> T_direct = G @ x - np.sum((G @ x) * x, axis=1)[:, None] * x
    >>> bool(np.max(np.abs(T * np.exp(3.0) - T_direct)) < 1e-10 * np.abs(T_direct).max())
    True
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"tokens on S^2 must have shape (n, 3), got {x.shape}")
    lam, mu, L = coefficients if coefficients is not None else sphere_coefficients(beta,
                                                                                 accuracy)
    eps = sphere_epsilon(accuracy)
    xh, loc, th, ph = _loc(x)
    n = x.shape[0]
    ones = np.ones((1, n))
    A = _SHT.adjoint_synthesis_general(map=ones, spin=0, lmax=L, loc=loc, epsilon=eps,
                                       nthreads=nthreads)
    a_f = A * (4 * np.pi * _lm_factor(lam, L))
    F = _SHT.synthesis_general(alm=a_f, spin=0, lmax=L, loc=loc, epsilon=eps,
                               nthreads=nthreads)[0]
    # DERIV1 multiplies by sqrt(l(l+1)) itself and returns (d_theta, d_phi / sin theta)
    a_t = A * (4 * np.pi * _lm_factor(mu, L))
    g = _SHT.synthesis_general(alm=a_t, spin=1, lmax=L, loc=loc, epsilon=eps,
                               mode="DERIV1", nthreads=nthreads)
    ct, st, cp, sp = np.cos(th), np.sin(th), np.cos(ph), np.sin(ph)
    gt, gp = g[0], g[1]
    T = np.empty((n, 3))
    T[:, 0] = gt * ct * cp - gp * sp
    T[:, 1] = gt * ct * sp + gp * cp
    T[:, 2] = -gt * st
    return F, T


def sphere_velocity(x: np.ndarray, beta: float, dynamics: str = "usa",
                    accuracy: float = 1e-10, coefficients=None, scale: float = 1.0,
                    nthreads: int = 1) -> np.ndarray:
    """Tangent velocity ``scale * P_{x_i} v_i`` (n, 3), float64, of USA or SA on S^2.

    dynamics : "usa" (v_i = (1/n) sum_j e^{beta <x_i,x_j>} x_j) or "sa" (softmax average);
    a bool is accepted as ``softmax``. x : (n, 3) tokens (rows normalized inside).
    ``coefficients``: a cached ``sphere_coefficients(beta, accuracy)`` result. Error bound:
    see the module docstring.

    Examples
    --------
    Against the direct sums, projected on the tangent plane at ``x_i``:

    >>> import numpy as np
    >>> from meanfield.particles.spectral_s2 import sphere_velocity
    >>> x = np.random.default_rng(0).standard_normal((60, 3))
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> G = np.exp(3.0 * x @ x.T)
    >>> def tangent(v):
    ...     return v - np.sum(v * x, axis=1)[:, None] * x
    >>> usa = tangent(G @ x / len(x))
    >>> bool(np.max(np.abs(sphere_velocity(x, 3.0, "usa") - usa)) < 1e-10)
    True
    >>> sa = tangent(G @ x / G.sum(axis=1)[:, None])
    >>> bool(np.max(np.abs(sphere_velocity(x, 3.0, "sa") - sa)) < 1e-10)
    True
    """
    if isinstance(dynamics, bool | np.bool_):
        softmax = bool(dynamics)
    elif dynamics in ("usa", "sa"):
        softmax = dynamics == "sa"
    else:
        raise ValueError(f"dynamics must be 'usa' or 'sa', got {dynamics!r}")
    F, T = sphere_sums(x, beta, accuracy, coefficients, nthreads)
    if softmax:
        return (float(scale) / F)[:, None] * T
    f = float(scale) * math.exp(abs(float(beta))) / x.shape[0]
    return f * T
