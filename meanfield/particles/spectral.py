"""Fast spectral summation of the attention sums on the circle (d = 2): O(n K), no n x n work.

With x_j = (cos theta_j, sin theta_j), z_j = e^{i theta_j} and the empirical moments
S_k = (1/n) sum_j z_j^k, the Jacobi–Anger expansion e^{beta cos t} = sum_k I_k(beta) e^{ikt}
gives, truncated at |k| <= K,

    D_i = (1/n) sum_j e^{beta cos(theta_i - theta_j)}
        = I_0 + 2 sum_{k>=1} I_k Re(z_i^k conj S_k)
    u_i = (1/n) sum_j e^{beta cos(theta_i - theta_j)} sin(theta_j - theta_i)
        = -2 sum_{k>=1} c_k Im(z_i^k conj S_k),   c_k = k I_k(beta)/beta = (I_{k-1} - I_{k+1})/2

(the recurrence form of c_k has the beta -> 0 limit c_1 = 1/2 built in). The USA angular
velocity is u_i (GLPR: dtheta_i/dt = -(1/n) sum_j e^{beta cos} sin(theta_i - theta_j)), the
SA one u_i / D_i. Bessel values are exponentially scaled (``scipy.special.ive``); the SA
ratio never sees e^{|beta|}. K is the smallest order with

    tail(K) = 2 sum_{k>K} (|I_k| + |c_k|) / I_0 < accuracy,

which bounds the truncation error of D_i / I_0 and u_i / I_0 (USA: velocity error
<= accuracy * I_0(beta); SA: <= accuracy * (1 + |u_i/D_i|) I_0 / D_i, i.e. ~2 accuracy for
spread-out tokens). Moments and evaluations are numba loops, parallel over blocks of
particles and vectorized across the block (powers z^k by recurrence, error ~ k eps).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc
from numba import get_num_threads, njit, prange

from .interactions import _renamed

__all__ = ["circle_order", "circle_coefficients", "circle_moments", "circle_velocity",
           "circle_energy"]

_P = 512  # particles per block


def circle_coefficients(beta: float, accuracy: float = 1e-10,
                        max_order: int = 1 << 16) -> tuple[np.ndarray, np.ndarray, int]:
    """Scaled Bessel coefficients (I_k e^{-|beta|}, c_k e^{-|beta|}), k = 0..K, and K.

    K is chosen as described in the module docstring. Raises ValueError if no K below
    ``max_order`` reaches ``accuracy``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import ive
    >>> from meanfield.particles.spectral import circle_coefficients
    >>> ik, ck, K = circle_coefficients(2.0)
    >>> K, bool(ik[0] == ive(0, 2.0))
    (13, True)
    >>> k = np.arange(1, K + 1)
    >>> bool(np.allclose(ck[1:], k * ik[1:] / 2.0, atol=1e-16))  # c_k = k I_k / beta
    True

    At ``beta = 0`` only the first mode is left, with the limit ``c_1 = 1/2``:

    >>> [c.tolist() for c in circle_coefficients(0.0)[:2]]
    [[1.0, 0.0], [0.0, 0.5]]
    """
    beta = float(beta)
    if not (np.isfinite(accuracy) and accuracy > 0):
        raise ValueError(f"accuracy must be a positive number, got {accuracy}")
    kmax = int(abs(beta) + 10.0 * np.sqrt(abs(beta) + 1.0) + 40.0)
    while True:
        k = np.arange(kmax + 2)
        ik = sc.ive(k, beta)  # I_k(beta) e^{-|beta|}; I_k(-b) = (-1)^k I_k(b)
        ck = np.zeros(kmax + 1)
        ck[1:] = 0.5 * (ik[:kmax] - ik[2:kmax + 2])
        term = 2.0 * (np.abs(ik[: kmax + 1]) + np.abs(ck)) / ik[0]
        # tail[K] = sum_{k > K} term_k
        tail = np.concatenate([np.cumsum(term[::-1])[::-1][1:], [0.0]])
        if term[-1] < 1e-3 * accuracy or kmax >= max_order:
            ok = np.nonzero(tail < accuracy)[0]
            if ok.size == 0 or term[-1] >= 1e-3 * accuracy:
                raise ValueError(
                    f"the spectral circle method needs more than {max_order} Fourier modes for "
                    f"beta={beta} at accuracy {accuracy:g}; use method='direct'")
            K = max(int(ok[0]), 1)
            return ik[: K + 1].copy(), ck[: K + 1].copy(), K
        kmax *= 2


def circle_order(beta: float, accuracy: float = 1e-10) -> int:
    """The truncation order K used for (beta, accuracy).

    Examples
    --------
    >>> from meanfield.particles.spectral import circle_order
    >>> circle_order(0.0), circle_order(1.0), circle_order(10.0), circle_order(10.0, 1e-4)
    (1, 11, 25, 15)
    """
    return circle_coefficients(beta, accuracy)[2]


@njit(parallel=True, fastmath=True, cache=True)
def _moments(x, K, nblocks, out_re, out_im):  # pragma: no cover - numba
    n = x.shape[0]
    per = (n + nblocks - 1) // nblocks
    part_re = np.zeros((nblocks, K + 1))
    part_im = np.zeros((nblocks, K + 1))
    for b in prange(nblocks):
        lo = b * per
        hi = min(n, lo + per)
        zr = np.empty(_P)
        zi = np.empty(_P)
        pr = np.empty(_P)
        pi = np.empty(_P)
        for p0 in range(lo, hi, _P):
            L = min(_P, hi - p0)
            for p in range(L):
                a = x[p0 + p, 0]
                c = x[p0 + p, 1]
                r = 1.0 / math.sqrt(a * a + c * c)
                zr[p] = a * r
                zi[p] = c * r
                pr[p] = 1.0
                pi[p] = 0.0
            part_re[b, 0] += L
            for k in range(1, K + 1):
                sr = 0.0
                si = 0.0
                for p in range(L):
                    a = pr[p] * zr[p] - pi[p] * zi[p]
                    c = pr[p] * zi[p] + pi[p] * zr[p]
                    pr[p] = a
                    pi[p] = c
                    sr += a
                    si += c
                part_re[b, k] += sr
                part_im[b, k] += si
    for k in range(K + 1):
        sr = 0.0
        si = 0.0
        for b in range(nblocks):
            sr += part_re[b, k]
            si += part_im[b, k]
        out_re[k] = sr / n
        out_im[k] = si / n


@njit(parallel=True, fastmath=True, cache=True)
def _evaluate(x, s_re, s_im, ik, ck, softmax, scale, v):  # pragma: no cover - numba
    n = x.shape[0]
    K = s_re.shape[0] - 1
    nblk = (n + _P - 1) // _P
    for b in prange(nblk):
        p0 = b * _P
        L = min(_P, n - p0)
        zr = np.empty(L)
        zi = np.empty(L)
        pr = np.empty(L)
        pi = np.empty(L)
        uu = np.zeros(L)
        dd = np.empty(L)
        for p in range(L):
            a = x[p0 + p, 0]
            c = x[p0 + p, 1]
            r = 1.0 / math.sqrt(a * a + c * c)
            zr[p] = a * r
            zi[p] = c * r
            pr[p] = 1.0
            pi[p] = 0.0
            dd[p] = ik[0]
        for k in range(1, K + 1):
            a2 = 2.0 * ik[k]
            c2 = 2.0 * ck[k]
            sr = s_re[k]
            si = s_im[k]
            for p in range(L):
                a = pr[p] * zr[p] - pi[p] * zi[p]
                c = pr[p] * zi[p] + pi[p] * zr[p]
                pr[p] = a
                pi[p] = c
                dd[p] += a2 * (a * sr + c * si)
                uu[p] -= c2 * (c * sr - a * si)
        for p in range(L):
            w = scale * uu[p] / dd[p] if softmax else scale * uu[p]
            v[p0 + p, 0] = -w * zi[p]
            v[p0 + p, 1] = w * zr[p]


_moments_serial = njit(fastmath=True, cache=True)(_renamed(_moments.py_func, "_moments_serial"))
_evaluate_serial = njit(fastmath=True, cache=True)(_renamed(_evaluate.py_func,
                                                            "_evaluate_serial"))

#: below this many particles the sums run on one thread (thread-pool launch overhead)
SERIAL_N = 1 << 15


def circle_moments(x: np.ndarray, K: int) -> np.ndarray:
    """Empirical moments S_k = (1/n) sum_j e^{i k theta_j}, k = 0..K (x: (n, 2), normalized
    inside).

    Examples
    --------
    Tokens at angles 0 and pi/2 (the second one not normalized):

    >>> import numpy as np
    >>> from meanfield.particles.spectral import circle_moments
    >>> S = circle_moments(np.array([[1.0, 0.0], [0.0, 2.0]]), 2)
    >>> np.round(S, 12).tolist()  # (1 + i^k) / 2
    [(1+0j), (0.5+0.5j), 0j]
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    re = np.empty(K + 1)
    im = np.empty(K + 1)
    if x.shape[0] < SERIAL_N:
        _moments_serial(x, int(K), 1, re, im)
    else:
        nblocks = max(1, min(4 * get_num_threads(), x.shape[0] // _P + 1))
        _moments(x, int(K), nblocks, re, im)
    return re + 1j * im


def circle_velocity(x: np.ndarray, beta: float, softmax: bool, accuracy: float = 1e-10,
                    coefficients=None, scale: float = 1.0) -> np.ndarray:
    """Tangent velocity ``scale * P_{x_i} v_i`` (n, 2) of USA (softmax=False) or SA.

    x : (n, 2) tokens (rows are normalized inside: x_i / |x_i| is used). ``coefficients``:
    a cached ``circle_coefficients(beta, accuracy)`` result. Returns float64.

    Examples
    --------
    Against the direct sums ``v_i = (1/n) sum_j e^{beta <x_i, x_j>} x_j`` (USA) and their
    softmax average (SA), projected on the tangent line at ``x_i``:

    >>> import numpy as np
    >>> from meanfield.particles.spectral import circle_velocity
    >>> theta = np.random.default_rng(0).uniform(0, 2 * np.pi, 100)
    >>> x = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    >>> G = np.exp(3.0 * x @ x.T)
    >>> def tangent(v):
    ...     return v - np.sum(v * x, axis=1)[:, None] * x
    >>> usa = tangent(G @ x / len(x))
    >>> bool(np.max(np.abs(circle_velocity(x, 3.0, softmax=False) - usa)) < 1e-10)
    True
    >>> sa = tangent(G @ x / G.sum(axis=1)[:, None])
    >>> bool(np.max(np.abs(circle_velocity(x, 3.0, softmax=True) - sa)) < 1e-10)
    True
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    ik, ck, K = coefficients if coefficients is not None else circle_coefficients(beta,
                                                                                 accuracy)
    S = circle_moments(x, K)
    n = x.shape[0]
    v = np.empty((n, 2))
    f = float(scale) if softmax else float(scale) * float(np.exp(abs(beta)))
    kern = _evaluate_serial if n < SERIAL_N else _evaluate
    kern(x, np.ascontiguousarray(S.real), np.ascontiguousarray(S.imag), ik, ck, bool(softmax),
         f, v)
    return v


def circle_energy(x: np.ndarray, beta: float, accuracy: float = 1e-12) -> float:
    """E_beta = (1/(2 beta n^2)) sum_{i,j} e^{beta cos(theta_i - theta_j)} in O(n K).

    (1/n^2) sum_{ij} e^{beta cos} = I_0 + 2 sum_{k>=1} I_k |S_k|^2; beta = 0: |m|^2 / 2.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.spectral import circle_energy
    >>> theta = np.random.default_rng(0).uniform(0, 2 * np.pi, 100)
    >>> x = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    >>> direct = np.exp(3.0 * x @ x.T).sum() / (2 * 3.0 * 100**2)
    >>> bool(abs(circle_energy(x, 3.0) - direct) < 1e-12)
    True

    At ``beta = 0`` it is ``|m|^2 / 2``; two tokens at the same point have ``|m| = 1``:

    >>> circle_energy(np.array([[1.0, 0.0], [1.0, 0.0]]), 0.0)
    0.5
    """
    if beta == 0:
        S = circle_moments(x, 1)
        return 0.5 * float(abs(S[1]) ** 2)
    ik, _, K = circle_coefficients(beta, accuracy)
    S = circle_moments(x, K)
    tot = ik[0] + 2.0 * np.sum(ik[1:] * np.abs(S[1:]) ** 2)
    return float(tot * np.exp(abs(beta)) / (2.0 * beta))
