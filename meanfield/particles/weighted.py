"""Attention sums with positional weights: a dense (n, n) matrix W in place of the 1/n of USA.

For tokens x_i (unit vectors), queries Q x_i, keys K x_j, values V x_j and a nonnegative
matrix W (row i: how token i weighs token j),

    USA:  out_i = sum_j W_ij e^{beta <Q x_i, K x_j>} V x_j
    SA:   out_i = sum_j W_ij e^{beta <Q x_i, K x_j>} V x_j / sum_j W_ij e^{beta <Q x_i, K x_j>}

(SA: ``log W_ij`` enters as an additive bias of the scores, ``W_ij = 0`` masks the pair;
every row needs a positive sum). ``W = ones/n`` is the unweighted USA of
:mod:`meanfield.particles.interactions` and any positive row scaling of ``ones`` its SA;
``tril(ones)/n`` is its causal USA (the USA prefactor of ``causal=True`` stays 1/n) and
``tril(ones)`` its causal SA; a lower-triangular W is causal. The paper's ALiBi matrix is
:func:`meanfield.causal.alibi_weights`. :func:`meanfield.simulate_particles` takes W as
``weights=`` and then evaluates the interaction here (its integrators, noise, replicas and
normalization schemes unchanged).

Evaluation (``weighted_sums``): a numba kernel parallel over (system, row) pairs. Row i
runs over the pairs with W_ij > 0 only (j from the first to the last nonzero of the row: half
the pairs for a lower-triangular W); its scores a_ij = beta <Q x_i, K x_j> are shifted by
their maximum over those pairs before the exponential (the polynomial exp of the fused
kernel, :mod:`meanfield.particles.interactions`), so no exponential overflows for any beta;
USA multiplies e^{max_i} back (inf once that overflows, as the fused kernel), SA divides by
the weighted row sum. Q, K, V are applied before the kernel (BLAS). Cost O(R n^2 (dq + dv))
per evaluation; tokens up to ``WEIGHTED_MAX_N`` (W itself is n^2 doubles: 512 MiB at the
limit). ``weighted_sums_numpy`` is the plain-numpy version (score chunks of at most
``CHUNK_BYTES``), the kernel's second method in the tests.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .interactions import _FM, _fexp

__all__ = ["WEIGHTED_MAX_N", "CHUNK_BYTES", "check_weights", "weighted_sums",
           "weighted_sums_numpy", "weights_scale"]

#: largest number of tokens with dense positional weights (W and each score chunk are n^2)
WEIGHTED_MAX_N = 8192
#: largest (chunk, n, n) score array formed at once (float64 bytes)
CHUNK_BYTES = 1 << 25


def check_weights(weights, n: int, *, softmax: bool, causal: bool = False) -> np.ndarray:
    """Validated positional weights: a C-contiguous float64 (n, n) array.

    Parameters
    ----------
    weights : array_like, shape (n, n)
        Nonnegative, finite; row i weighs the tokens token i attends to.
    n : int
        Number of tokens.
    softmax : bool
        SA dynamics: every row (after the causal mask) must have a positive sum.
    causal : bool
        Multiply W by the lower-triangular mask j <= i (the diagonal kept).

    Returns
    -------
    ndarray, shape (n, n)

    Raises
    ------
    ValueError
        Wrong shape, NaN / inf, negative entries, a zero row under SA, or n beyond
        ``WEIGHTED_MAX_N``.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.weighted import check_weights
    >>> check_weights(np.ones((3, 3)), 3, softmax=True, causal=True)
    array([[1., 0., 0.],
           [1., 1., 0.],
           [1., 1., 1.]])
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= WEIGHTED_MAX_N:
        raise ValueError(f"weights: the number of tokens must be an integer in [1, "
                         f"{WEIGHTED_MAX_N}] (dense (n, n) weights), got n = {n!r}")
    try:
        W = np.array(weights, dtype=np.float64, order="C")
    except (TypeError, ValueError):
        raise ValueError(f"weights must be a real (n, n) array, got {type(weights).__name__}"
                         ) from None
    if W.shape != (n, n):
        raise ValueError(f"weights must have shape ({n}, {n}) (one row per token), got "
                         f"{W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("weights must be finite (no NaN or inf)")
    if np.any(W < 0):
        raise ValueError(f"weights must be >= 0, got the entry {W.min():.3g}")
    if causal:
        W = np.tril(W)
    if softmax:
        zero = np.flatnonzero(W.sum(axis=1) <= 0)
        if zero.size:
            raise ValueError(f"weights: with dynamics='sa' every row needs a positive sum (the "
                             f"softmax normalizes by it); rows {zero[:5].tolist()} "
                             f"{'(after the causal mask) ' if causal else ''}are zero")
    return W


def weights_scale(W: np.ndarray) -> float:
    """Largest row sum of W: the factor by which USA's speed bound grows over ``ones/n``.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.weighted import weights_scale
    >>> weights_scale(np.ones((4, 4)) / 4)
    1.0
    """
    return float(np.max(np.sum(W, axis=1))) if W.size else 0.0


def _per(M, r0: int, r1: int):
    """A matrix shared (k, d) or the replicas r0:r1 of a stack (R, k, d)."""
    if M is None:
        return None
    return M[r0:r1] if M.ndim == 3 else M


def _apply(x: np.ndarray, M) -> np.ndarray:
    return x if M is None else np.matmul(x, np.swapaxes(M, -1, -2))


def _chunk_sums(x, W, beta, softmax, Q, K, V):
    q, k, w = _apply(x, Q), _apply(x, K), _apply(x, V)
    a = np.matmul(q, np.swapaxes(k, -1, -2))
    a *= beta
    if softmax:
        mx = np.max(np.where(W > 0, a, -np.inf), axis=-1, keepdims=True)
    else:
        mx = np.max(a, axis=-1, keepdims=True)
    a -= mx
    np.exp(a, out=a)
    a *= W
    out = np.matmul(a, w)
    if softmax:
        out /= np.sum(a, axis=-1, keepdims=True)
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # inf, as the fused kernel
            out *= np.exp(mx)
    return out


def weighted_sums_numpy(x, W, beta: float, *, softmax: bool, Q=None, K=None,
                        V=None) -> np.ndarray:
    """Plain-numpy :func:`weighted_sums` (chunks of replicas; a reference for the kernel).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.weighted import weighted_sums, weighted_sums_numpy
    >>> x = np.random.default_rng(0).standard_normal((3, 5, 2))
    >>> x /= np.linalg.norm(x, axis=-1, keepdims=True)
    >>> W = np.tril(np.ones((5, 5)))
    >>> bool(np.allclose(weighted_sums_numpy(x, W, 2.0, softmax=True),
    ...                  weighted_sums(x, W, 2.0, softmax=True), rtol=1e-13))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    single = x.ndim == 2
    xb = x[None] if single else x
    R, n = xb.shape[0], xb.shape[1]
    step = max(1, CHUNK_BYTES // max(1, 8 * n * n))
    parts = [_chunk_sums(xb[r0:r0 + step], W, float(beta), softmax, _per(Q, r0, r0 + step),
                         _per(K, r0, r0 + step), _per(V, r0, r0 + step))
             for r0 in range(0, R, step)]
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return out[0] if single else out


def _row_ranges(W: np.ndarray) -> np.ndarray:
    """(n, 2) int64: first and one-past-last column of the nonzero entries of each row."""
    nz = W > 0
    any_ = nz.any(axis=1)
    lo = np.where(any_, np.argmax(nz, axis=1), 0)
    hi = np.where(any_, W.shape[1] - np.argmax(nz[:, ::-1], axis=1), 0)
    return np.ascontiguousarray(np.stack([lo, hi], axis=1).astype(np.int64))


@njit(parallel=True, fastmath=_FM, cache=True)
def _weighted_kernel(q, kT, wT, W, ranges, beta, softmax, out):  # pragma: no cover - numba
    """out[r, i] = sum_j W_ij e^{beta q_i.k_j - m_i} w_j (then / z_i or * e^{m_i})."""
    R, n, dq = q.shape
    dv = wT.shape[1]
    for item in prange(R * n):
        r = item // n
        i = item - r * n
        lo = ranges[i, 0]
        hi = ranges[i, 1]
        for c in range(dv):
            out[r, i, c] = 0.0
        if hi <= lo:
            continue
        buf = np.zeros(hi - lo)
        for c in range(dq):
            a = beta * q[r, i, c]
            for jj in range(hi - lo):
                buf[jj] += a * kT[r, c, lo + jj]
        mx = -np.inf
        for jj in range(hi - lo):
            if W[i, lo + jj] > 0.0:
                mx = max(mx, buf[jj])
        z = 0.0
        for jj in range(hi - lo):
            e = W[i, lo + jj] * _fexp(buf[jj] - mx)
            buf[jj] = e
            z += e
        scale = 1.0 / z if softmax else math.exp(mx)
        for c in range(dv):
            acc = 0.0
            for jj in range(hi - lo):
                acc += buf[jj] * wT[r, c, lo + jj]
            out[r, i, c] = acc * scale


def weighted_sums(x, W, beta: float, *, softmax: bool, Q=None, K=None,
                  V=None) -> np.ndarray:
    """Weighted attention sums out_i of the module docstring for one system or an ensemble.

    Parameters
    ----------
    x : ndarray, shape (n, d) or (R, n, d)
        Tokens.
    W : ndarray, shape (n, n)
        Positional weights, validated by :func:`check_weights`.
    beta : float
        Inverse temperature.
    softmax : bool
        SA (True) or USA (False).
    Q, K, V : ndarray, optional
        Query (k, d), key (k, d), value (d, d) matrices, or stacks with a leading replica
        axis; identity by default.

    Returns
    -------
    ndarray, shape (n, dv) or (R, n, dv), float64

    Examples
    --------
    ``W = ones/n`` is the plain USA sum (1/n) sum_j e^{beta <x_i, x_j>} x_j:

    >>> import numpy as np
    >>> from meanfield.particles.weighted import weighted_sums
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> out = weighted_sums(x, np.full((2, 2), 0.5), 1.0, softmax=False)
    >>> bool(np.allclose(out, [[np.e / 2, 0.5], [0.5, np.e / 2]]))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    single = x.ndim == 2
    xb = x[None] if single else x
    q = np.ascontiguousarray(_apply(xb, Q))
    kT = np.ascontiguousarray(np.swapaxes(_apply(xb, K), -1, -2))
    wT = np.ascontiguousarray(np.swapaxes(_apply(xb, V), -1, -2))
    W = np.ascontiguousarray(W, dtype=np.float64)
    out = np.empty((xb.shape[0], xb.shape[1], wT.shape[1]))
    _weighted_kernel(q, kT, wT, W, _row_ranges(W), float(beta), bool(softmax), out)
    return out[0] if single else out
