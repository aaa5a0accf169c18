"""Direct O(n^2) attention sums: fused numba kernel, tiled-BLAS path, plain-numpy reference.

For queries q_i, keys k_j and values w_j (rows of (n, .) arrays) and scores
a_ij = beta <q_i, k_j>, the kernel returns, for every i,

    USA:  out_i = (1/n) sum_j e^{a_ij} w_j
    SA:   out_i = sum_j e^{a_ij} w_j / sum_j e^{a_ij}          (softmax average)
    logz_i = log sum_j e^{a_ij}

with j running over all tokens, or over j <= i with ``causal=True`` (the USA prefactor stays
1/n). The numba kernel is parallel over i (``prange``), fused (the n x n matrix is never
formed: keys are processed in blocks of ``_BLOCK`` with a running max-shift as in
log-sum-exp / online softmax, so no exponential overflows for any beta), and vectorized over
the block with a branch-free polynomial exp (``_fexp``, relative error ~2e-16) because
numba's ``math.exp`` is a scalar libm call. Inputs may be float32 or float64; the
accumulation is always in float64.

For wide queries/values (``dq + dv >= TILED_MIN_WIDTH``, e.g. d >= 12 without Q, K, V; n
not tiny) the 4d flops per pair dominate and the fused loops cannot match BLAS, so a tiled
path is used instead: for row tiles of ``~2^20 / n`` queries it forms the tile of scores
S = beta Q_tile K^T (BLAS dgemm), shifts each row by its exact maximum (so, as above, no
exponential overflows), exponentiates it in place with ``_fexp`` (masking j > i when causal),
and accumulates E W (BLAS) and the row sums z: out_i = (E W)_i / z_i (SA) or
e^{max_i} (E W)_i / n (USA, which, as in the fused kernel, is inf once e^{max_i} overflows,
max_i > ~709), logz_i = max_i + log z_i. Only one tile of scores (~8 MB) is held, never the
n x n matrix; results agree with the fused kernel to rounding (~1e-15 relative).

Ensembles (``attention_sums_batched``, ``attention_euler_step``; arrays (R, n, d) of R
independent systems) run in one parallel loop over (system, tile) work items, the tile
arithmetic shared with the single-system kernel, optionally fused with the retracted Euler
step of the simulator. Small systems of unit tokens with identity Q, K (n <= SMALL_MAX_N,
d <= SMALL_MAX_D, not causal; the GLPR workload) run on a lane kernel instead: SMALL_LANES
systems in the SIMD lanes, a global shift e^{beta <x_i, x_j> - |beta|} (no overflow for unit
tokens) and each pair exponentiated once (e_ij = e_ji), n (n + 1) / 2 exponentials instead of
n^2. Every system's result is independent of R, of its place in the batch and of the number
of threads, bit for bit (small calls run on one thread of the same compiled kernel).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

__all__ = ["attention_sums", "attention_sums_numpy", "attention_sums_batched",
           "attention_euler_step", "batched_kernel", "uses_tiled_path", "uses_lane_path",
           "DIRECT_MAX_N",
           "TILED_MIN_WIDTH", "BATCH_TILED_WORK"]

#: Largest n the direct kernel accepts (n^2 ~ 7e10 pair interactions per evaluation,
#: a minute per velocity evaluation on 2 cores); beyond it use method="spectral" (circle).
DIRECT_MAX_N = 1 << 18

_BLOCK = 256  # keys per block
_ROWS = 32  # queries per tile

#: ``dq + dv`` (query width + value width; 2d without Q, K, V) from which attention_sums uses
#: the tiled-BLAS path. Measured at n = 8192 on 2 cores (tiled time / fused time, SA):
#: d = 3: 1.9, d = 6: 1.25-1.45, d = 8: 0.9-0.95, d = 12: 0.7-0.85, d = 16: 0.7, d = 64: 0.45.
TILED_MIN_WIDTH = 24

#: per-system work n^2 (dq + dv) from which ensembles of wide systems take the tiled-BLAS
#: path (one system after the other); below it all systems run in one fused parallel loop
BATCH_TILED_WORK = 1 << 20

_TILE_ELEMS = 1 << 20  # scores per row tile (8 MB of float64): ~128 rows at n = 8192

_FM = True  # reductions over a block vectorize only with reassociation allowed


@intrinsic
def _i64_as_f64(typingctx, x):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@intrinsic
def _f64_as_i64(typingctx, x):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


_SHIFTER = 6755399441055744.0  # 1.5 * 2^52: adding it rounds to an integer in the low bits
_SHIFTER_BITS = 0x4338000000000000
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10


@njit(inline="always", fastmath=_FM, cache=True)
def _fexp(x):
    """exp(x) for float64, branch-free (vectorizable); x clamped to [-708, 709].

    x = k ln2 + r, |r| <= ln2/2, exp(r) by its degree-13 Taylor polynomial (truncation
    < 2e-18), 2^k assembled in the exponent bits (k + 1.5 2^52 holds k in its low bits).
    Relative error <= (1 + |x|) 4e-16 (measured: 1.6e-15 on [-40, 40]).
    """
    x = min(max(x, -708.0), 709.0)
    kf = math.floor(x * _LOG2E + 0.5)
    t = kf + _SHIFTER
    r = x - kf * _LN2_HI
    r = r - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = _f64_as_i64(t) - _SHIFTER_BITS
    return p * _i64_as_f64((k + 1023) << 52)


@njit(inline="always", fastmath=_FM, cache=True)
def _tile(q, kT, wT, beta, causal, softmax, i0, nr, buf, acc, qi, mx, s):  # pragma: no cover
    """One tile of ``nr`` queries (rows i0, i0 + 1, ...) against all keys, online max-shift.

    Leaves the unnormalized sums in ``acc[:nr]``, the running maxima in ``mx[:nr]`` and the
    shifted row sums in ``s[:nr]``; the caller applies the factor 1/s (SA) or e^{mx}/m (USA).
    The key/value block (dq + dv) x _BLOCK stays in cache while the tile's rows use it; every
    inner loop runs over the block (contiguous rows of kT, wT) and vectorizes. Shared by the
    single-system and the batched kernels, so both do the same arithmetic per tile.
    """
    dq = q.shape[1]
    m = kT.shape[1]
    dv = wT.shape[0]
    for r in range(nr):
        mx[r] = -np.inf
        s[r] = 0.0
        for c in range(dv):
            acc[r, c] = 0.0
        for c in range(dq):
            qi[r, c] = beta * q[i0 + r, c]
    jend = min(i0 + nr, m) if causal else m
    for j0 in range(0, jend, _BLOCK):
        L = min(_BLOCK, jend - j0)
        for r in range(nr):
            Lr = min(L, i0 + r + 1 - j0) if causal else L
            if Lr <= 0:
                continue
            for jj in range(Lr):
                buf[jj] = 0.0
            for c in range(dq):
                a = qi[r, c]
                row = kT[c, j0:j0 + Lr]
                for jj in range(Lr):
                    buf[jj] += a * row[jj]
            bm = -np.inf
            for jj in range(Lr):
                bm = max(bm, buf[jj])
            mr = mx[r]
            if bm > mr:
                if s[r] > 0.0:
                    scale = math.exp(mr - bm)
                    s[r] *= scale
                    for c in range(dv):
                        acc[r, c] *= scale
                mr = bm
                mx[r] = bm
            bs = 0.0
            for jj in range(Lr):
                e = _fexp(buf[jj] - mr)
                buf[jj] = e
                bs += e
            s[r] += bs
            for c in range(dv):
                row = wT[c, j0:j0 + Lr]
                acc_c = 0.0
                for jj in range(Lr):
                    acc_c += buf[jj] * row[jj]
                acc[r, c] += acc_c


@njit(inline="always", fastmath=_FM, cache=True)
def _tile_order(t, ntiles):  # pragma: no cover - numba
    """Interleave cheap and expensive tiles (causal) so that threads get equal work."""
    return t // 2 if t % 2 == 0 else ntiles - 1 - t // 2


@njit(parallel=True, fastmath=_FM, cache=True)
def _attend(q, kT, wT, beta, causal, softmax, out, logz):  # pragma: no cover - numba
    """Fused kernel: tiles of _ROWS queries x blocks of _BLOCK keys (see :func:`_tile`)."""
    n, dq = q.shape
    m = kT.shape[1]
    dv = wT.shape[0]
    ntiles = (n + _ROWS - 1) // _ROWS
    for t in prange(ntiles):
        i0 = _tile_order(t, ntiles) * _ROWS
        nr = min(_ROWS, n - i0)
        buf = np.empty(_BLOCK)
        acc = np.empty((_ROWS, dv))
        qi = np.empty((_ROWS, dq))
        mx = np.empty(_ROWS)
        s = np.empty(_ROWS)
        _tile(q, kT, wT, beta, causal, softmax, i0, nr, buf, acc, qi, mx, s)
        for r in range(nr):
            i = i0 + r
            logz[i] = mx[r] + math.log(s[r])
            f = 1.0 / s[r] if softmax else math.exp(mx[r]) / m
            for c in range(dv):
                out[i, c] = acc[r, c] * f


@njit(parallel=True, fastmath=_FM, cache=True)
def _attend_batched(q, kT, wT, beta, causal, softmax, nchunks, step, x, h, noise,
                    out, logz):  # pragma: no cover - numba
    """R independent systems in one parallel loop over (replica, tile) work items.

    q (R, n, dq), kT (R, dq, m), wT (R, dv, m). The R * ntiles items are split into
    ``nchunks`` contiguous chunks (one prange iteration each, buffers allocated once per
    chunk); each tile does the arithmetic of :func:`_attend`, so results do not depend on R
    or on the number of threads. ``step`` False: writes the sums to ``out`` (R, n, dv) and
    ``logz`` (R, n). ``step`` True (dv = d, x (R, n, d) unit tokens): writes the retracted
    Euler step out_i = N(x_i + h P_{x_i} v_i + noise_i) instead (post-ln; noise (R, n, d)
    or an empty array for none), v_i the sums above; ``logz`` is not written.
    """
    R, n, dq = q.shape
    m = kT.shape[2]
    dv = wT.shape[1]
    ntiles = (n + _ROWS - 1) // _ROWS
    total = R * ntiles
    noisy = noise.shape[0] > 0
    for c in prange(nchunks):
        buf = np.empty(_BLOCK)
        acc = np.empty((_ROWS, dv))
        qi = np.empty((_ROWS, dq))
        mx = np.empty(_ROWS)
        s = np.empty(_ROWS)
        v = np.empty(dv)
        for item in range(c * total // nchunks, (c + 1) * total // nchunks):
            rep = item // ntiles
            i0 = _tile_order(item - rep * ntiles, ntiles) * _ROWS
            nr = min(_ROWS, n - i0)
            _tile(q[rep], kT[rep], wT[rep], beta, causal, softmax, i0, nr, buf, acc, qi,
                  mx, s)
            for r in range(nr):
                i = i0 + r
                lz = mx[r] + math.log(s[r])
                f = 1.0 / s[r] if softmax else math.exp(mx[r]) / m
                if not step:
                    logz[rep, i] = lz
                    for cc in range(dv):
                        out[rep, i, cc] = acc[r, cc] * f
                    continue
                xv = 0.0
                for cc in range(dv):
                    v[cc] = acc[r, cc] * f
                    xv += x[rep, i, cc] * v[cc]
                nrm = 0.0
                for cc in range(dv):
                    y = x[rep, i, cc] + h * (v[cc] - xv * x[rep, i, cc])
                    if noisy:
                        y += noise[rep, i, cc]
                    v[cc] = y
                    nrm += y * y
                nrm = 1.0 / math.sqrt(nrm)
                for cc in range(dv):
                    out[rep, i, cc] = v[cc] * nrm


#: the lane kernel needs no reassociation (no reductions run over the lanes); FMA contraction
#: only keeps vectorized and scalar lanes bit-identical and was measured 1.4x faster than
#: the full fast-math set there
_FM_LANES = {"contract"}
#: systems per SIMD group of :func:`_attend_lanes` (32 measured best of 32 / 64 / 128 at
#: n = 32, d = 2; the lane / tile kernel ratio per d is printed by
#: benchmarks/bench_ensemble.py)
SMALL_LANES = 32
#: systems of at most this many tokens (identity Q, K; not causal; |beta| <= SMALL_MAX_BETA;
#: d <= SMALL_MAX_D; unit tokens) run on :func:`_attend_lanes`
SMALL_MAX_N = 64
SMALL_MAX_D = 24
#: |beta| bound of the global shift of :func:`_attend_lanes`: e^{beta <x_i, x_j> - |beta|}
#: >= e^{-2 |beta|} stays a normal double
SMALL_MAX_BETA = 300.0



@njit(parallel=True, fastmath=_FM_LANES, cache=True)
def _attend_lanes(x, beta, softmax, lanes, step, V, h, noise, out, logz):  # pragma: no cover
    """Small systems, identity Q and K, not causal: systems in the SIMD lanes, each pair once.

    Systems are processed in groups of ``lanes`` (SMALL_LANES, or R if fewer), stored as
    X[token, coordinate, lane], so that every inner loop runs over the lanes: no reductions
    and the same operations for every lane. Compiled with FMA contraction only (no
    reassociation), a system's result does not depend on its lane, the group size, R or the
    number of threads, bit for bit (tested: replica r of an ensemble equals its single run);
    padding lanes of the last group repeat its last system.
    For unit tokens the scores lie in [-|beta|, |beta|], so the global shift
    e_ij = e^{beta <x_i, x_j> - |beta|} in [e^{-2|beta|}, 1] never overflows and (for
    |beta| <= SMALL_MAX_BETA) never underflows, and e_ij = e_ji: each pair j > i is
    exponentiated once and added to rows i and j (n (n + 1) / 2 exponentials, not n^2).
    Rows: acc_i = sum_j e_ij x_j, z_i = sum_j e_ij; v_i = V acc_i / z_i (SA) or
    V acc_i e^{|beta|} / n (USA); logz_i = |beta| + log z_i. ``V`` (dv, d), or (0, 0) for
    the identity. ``step``: out_i = N(x_i + h P_{x_i} v_i + noise_i) (dv = d) instead of v_i.
    """
    R, n, d = x.shape
    hasV = V.shape[0] > 0
    dv = V.shape[0] if hasV else d
    shift = abs(beta)
    eshift = math.exp(shift) / n
    noisy = noise.shape[0] > 0
    ngroups = (R + lanes - 1) // lanes
    for g in prange(ngroups):
        X = np.empty((n, d, lanes))
        A = np.zeros((n, d + 1, lanes))
        e = np.empty(lanes)
        s = np.empty(lanes)
        a = np.empty((d, lanes))
        v = np.empty((dv, lanes))
        for b in range(lanes):
            rep = min(g * lanes + b, R - 1)
            for i in range(n):
                for k in range(d):
                    X[i, k, b] = x[rep, i, k]
        for i in range(n):
            for j in range(i, n):
                for b in range(lanes):
                    s[b] = 0.0
                for k in range(d):
                    for b in range(lanes):
                        s[b] += X[i, k, b] * X[j, k, b]
                for b in range(lanes):
                    e[b] = _fexp_contract(beta * s[b] - shift)
                for k in range(d):
                    for b in range(lanes):
                        A[i, k, b] += e[b] * X[j, k, b]
                for b in range(lanes):
                    A[i, d, b] += e[b]
                if j > i:
                    for k in range(d):
                        for b in range(lanes):
                            A[j, k, b] += e[b] * X[i, k, b]
                    for b in range(lanes):
                        A[j, d, b] += e[b]
        for i in range(n):
            for b in range(lanes):
                s[b] = 1.0 / A[i, d, b] if softmax else eshift
            for k in range(d):
                for b in range(lanes):
                    a[k, b] = A[i, k, b] * s[b]
            if hasV:
                for c in range(dv):
                    for b in range(lanes):
                        v[c, b] = 0.0
                    for k in range(d):
                        for b in range(lanes):
                            v[c, b] += V[c, k] * a[k, b]
            else:
                for c in range(dv):
                    for b in range(lanes):
                        v[c, b] = a[c, b]
            for b in range(lanes):
                rep = g * lanes + b
                if rep >= R:
                    continue
                if not step:
                    logz[rep, i] = shift + math.log(A[i, d, b])
                    for c in range(dv):
                        out[rep, i, c] = v[c, b]
                    continue
                xv = 0.0
                for k in range(d):
                    xv += X[i, k, b] * v[k, b]
                nrm = 0.0
                for k in range(d):
                    y = X[i, k, b] + h * (v[k, b] - xv * X[i, k, b])
                    if noisy:
                        y += noise[rep, i, k]
                    a[k, b] = y
                    nrm += y * y
                nrm = 1.0 / math.sqrt(nrm)
                for k in range(d):
                    out[rep, i, k] = a[k, b] * nrm


def _renamed(func, name: str):
    """A copy of a Python function under another name (numba keys its cache by the name)."""
    import types as _pytypes

    out = _pytypes.FunctionType(func.__code__, func.__globals__, name, func.__defaults__,
                                func.__closure__)
    out.__qualname__ = name
    out.__doc__ = func.__doc__
    return out


# the same kernel, single-threaded (prange runs as range)
_attend_serial = njit(fastmath=_FM, cache=True)(_renamed(_attend.py_func, "_attend_serial"))
# the polynomial exp with contraction only, for the lane kernel (see _FM_LANES)
_fexp_contract = njit(inline="always", fastmath=_FM_LANES, cache=True)(
    _renamed(_fexp.py_func, "_fexp_contract"))

#: below this many flops-ish (pairs x (dq + dv)) a call runs on one thread: launching the
#: thread pool costs more than it saves, and much more on a loaded machine
SERIAL_WORK = 1 << 22


@njit(inline="always", fastmath=_FM, cache=True)
def _rowmax(row, L):
    """max(row[:L]); eight independent running maxima so that the loop vectorizes."""
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = -np.inf
    L8 = L // 8 * 8
    for j in range(0, L8, 8):
        m0 = max(m0, row[j])
        m1 = max(m1, row[j + 1])
        m2 = max(m2, row[j + 2])
        m3 = max(m3, row[j + 3])
        m4 = max(m4, row[j + 4])
        m5 = max(m5, row[j + 5])
        m6 = max(m6, row[j + 6])
        m7 = max(m7, row[j + 7])
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    for j in range(L8, L):
        m = max(m, row[j])
    return m


@njit(fastmath=_FM, cache=True)
def _shift_exp(S, i0, causal, mx, z):  # pragma: no cover - numba
    """Rows of a score tile (queries i0, i0 + 1, ...) -> e^{S - rowmax} in place.

    Writes the row maxima to ``mx`` and the row sums to ``z``; with ``causal`` the entries
    j > i are set to 0. Serial on purpose: it runs between two multithreaded BLAS calls whose
    worker threads keep spinning for a while afterwards, and a parallel numba loop competing
    with them on the same cores was measured 1.5-4x slower than this serial one.
    """
    nr, c = S.shape
    for r in range(nr):
        row = S[r]
        L = min(c, i0 + r + 1) if causal else c
        m = _rowmax(row, L)
        s = 0.0
        for j in range(L):
            e = _fexp(row[j] - m)
            row[j] = e
            s += e
        for j in range(L, c):
            row[j] = 0.0
        mx[r] = m
        z[r] = s


def _attend_tiled(q, kT, wT, beta, causal, softmax, out, logz):
    """Tiled-BLAS equivalent of :func:`_attend` (same arguments, same results to rounding).

    Per tile of queries: S = (beta q_tile) kT (dgemm), exact row max-shift and exp in place
    (``_shift_exp``), out_tile = E w (dgemm), scaled by 1/z (SA) or e^{max}/m (USA, as the
    fused kernel: it overflows to inf exactly when that does). With ``causal`` a tile of rows
    [i0, i0 + nr) only needs the key columns < i0 + nr.
    """
    n = q.shape[0]
    m = kT.shape[1]
    qb = beta * q.astype(np.float64)
    kT = kT.astype(np.float64, copy=False)
    w = wT.astype(np.float64, copy=False).T  # (m, dv), Fortran-ordered view: BLAS takes it
    rows = max(1, min(n, _TILE_ELEMS // max(m, 1)))
    buf = np.empty(rows * m)
    mx = np.empty(rows)
    z = np.empty(rows)
    for i0 in range(0, n, rows):
        nr = min(rows, n - i0)
        c = min(i0 + nr, m) if causal else m
        S = buf[:nr * c].reshape(nr, c)
        np.matmul(qb[i0:i0 + nr], kT[:, :c], out=S)
        _shift_exp(S, i0, causal, mx, z)
        o = out[i0:i0 + nr]
        np.matmul(S, w[:c], out=o)
        if softmax:
            f = 1.0 / z[:nr]
        else:
            with np.errstate(over="ignore"):
                f = np.exp(mx[:nr]) / m
        with np.errstate(invalid="ignore"):  # inf * 0 = nan, as in the fused kernel
            o *= f[:, None]
        logz[i0:i0 + nr] = mx[:nr] + np.log(z[:nr])


def _prepare(x, beta, Q, K, V):
    """Queries, transposed keys and transposed values (C-contiguous) for the kernel."""
    q = x if Q is None else x @ np.asarray(Q, dtype=x.dtype).T
    k = x if K is None else x @ np.asarray(K, dtype=x.dtype).T
    w = x if V is None else x @ np.asarray(V, dtype=x.dtype).T
    return (np.ascontiguousarray(q), np.ascontiguousarray(k.T), np.ascontiguousarray(w.T))


def attention_sums(x, beta: float, *, softmax: bool, causal: bool = False, Q=None, K=None,
                   V=None) -> tuple[np.ndarray, np.ndarray]:
    """Attention sums without the n x n matrix (see the module docstring).

    Uses the fused numba kernel for narrow queries/values and the tiled-BLAS path when
    ``dq + dv >= TILED_MIN_WIDTH`` (unless n is tiny); both give the same results to rounding.

    Parameters
    ----------
    x : ndarray, shape (n, d), float32 or float64
        Tokens (need not be unit vectors).
    beta : float
        Inverse temperature.
    softmax : bool
        SA (softmax average) if True, USA (1/n sum) if False.
    causal : bool
        Token i attends to j <= i only.
    Q, K, V : ndarray, shape (d', d), (d', d), (d'', d), optional
        Query, key and value matrices (identity if None).

    Returns
    -------
    out : ndarray, shape (n, d''), dtype of x
    logz : ndarray, shape (n,), float64, log sum_j e^{a_ij}

    Examples
    --------
    Both paths agree with the numpy reference (d = 3 runs the fused kernel, d = 16 the tiled
    one):

    >>> import numpy as np
    >>> from meanfield.particles.interactions import attention_sums, attention_sums_numpy
    >>> x = np.random.default_rng(0).standard_normal((50, 3))
    >>> out, logz = attention_sums(x, 2.0, softmax=True)
    >>> ref, ref_logz = attention_sums_numpy(x, 2.0, softmax=True)
    >>> out.shape, bool(np.allclose(out, ref, atol=1e-13)), bool(np.allclose(logz, ref_logz))
    ((50, 3), True, True)
    >>> x16 = np.random.default_rng(1).standard_normal((50, 16))
    >>> out, logz = attention_sums(x16, 0.5, softmax=False, causal=True)
    >>> ref, ref_logz = attention_sums_numpy(x16, 0.5, softmax=False, causal=True)
    >>> bool(np.allclose(out, ref, rtol=1e-13)), bool(np.allclose(logz, ref_logz))
    (True, True)

    The softmax average of n identical tokens is that token, with ``logz = log n + beta |x|^2``;
    the USA sum is ``e^{beta |x|^2}`` times it:

    >>> y = np.tile([[0.6, 0.8]], (4, 1))
    >>> out, logz = attention_sums(y, 5.0, softmax=True)
    >>> out[0].tolist(), bool(np.allclose(logz, np.log(4) + 5.0))
    ([0.6, 0.8], True)
    >>> out, _ = attention_sums(y, 5.0, softmax=False)
    >>> bool(np.allclose(out, np.exp(5.0) * y))
    True
    """
    x = np.ascontiguousarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    n = x.shape[0]
    if n > DIRECT_MAX_N:
        raise ValueError(
            f"n = {n} is too large for the direct O(n^2) kernel (limit {DIRECT_MAX_N}: "
            f"{float(n) ** 2:.1e} pair interactions per velocity evaluation); use "
            "method='spectral' (circle, d = 2) or fewer particles")
    return _attention_sums(x, beta, softmax, causal, Q, K, V, "auto")


def _attention_sums(x, beta, softmax, causal, Q, K, V, path):
    """attention_sums on a contiguous float32/float64 x; path "auto", "fused" or "tiled"."""
    n = x.shape[0]
    q, kT, wT = _prepare(x, beta, Q, K, V)
    out = np.empty((n, wT.shape[0]), dtype=np.float64)
    logz = np.empty(n, dtype=np.float64)
    width = q.shape[1] + wT.shape[0]
    if path == "auto":
        # tiny problems (n <~ 30): the fused kernel's 5 us beat the tiled path's ~10 us of calls
        tiled = width >= TILED_MIN_WIDTH and n * n * width >= 1 << 15
        path = "tiled" if tiled else "fused"
    if path == "tiled":
        kern = _attend_tiled
    else:
        kern = _attend_serial if n * n * width < SERIAL_WORK else _attend
    kern(q, kT, wT, float(beta), bool(causal), bool(softmax), out, logz)
    return out.astype(x.dtype, copy=False), logz


def uses_tiled_path(n: int, width: int) -> bool:
    """Whether systems of n tokens with query + value width ``width`` run on the tiled-BLAS
    path in :func:`attention_sums_batched` (and so in ``simulate_particles``).

    Examples
    --------
    >>> from meanfield.particles.interactions import uses_tiled_path
    >>> uses_tiled_path(32, 256), uses_tiled_path(4096, 256), uses_tiled_path(4096, 6)
    (False, True, False)
    """
    return width >= TILED_MIN_WIDTH and n * n * width >= BATCH_TILED_WORK


def _stack(M, R: int, dtype):
    """A weight matrix (k, d) or stack (R, k, d) as an (R, d, k) stack of transposes."""
    M = np.asarray(M, dtype=dtype)
    MT = np.swapaxes(M, -1, -2)
    return MT if M.ndim == 3 else np.broadcast_to(MT, (R,) + MT.shape)


def _prepare_batched(x, Q, K, V):
    """Queries (R, n, dq), transposed keys (R, dq, n), transposed values (R, dv, n)."""
    R = x.shape[0]
    q = x if Q is None else np.matmul(x, _stack(Q, R, x.dtype))
    k = x if K is None else np.matmul(x, _stack(K, R, x.dtype))
    w = x if V is None else np.matmul(x, _stack(V, R, x.dtype))
    return (np.ascontiguousarray(q), np.ascontiguousarray(np.swapaxes(k, 1, 2)),
            np.ascontiguousarray(np.swapaxes(w, 1, 2)))


def _check_batch(x) -> np.ndarray:
    x = np.ascontiguousarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (replicas, n, d), got {x.shape}")
    if x.shape[1] > DIRECT_MAX_N:
        raise ValueError(
            f"n = {x.shape[1]} is too large for the direct O(n^2) kernel (limit "
            f"{DIRECT_MAX_N}); use method='spectral' (circle, d = 2) or fewer particles")
    return x


def uses_lane_path(n: int, d: int, beta: float, causal: bool, Q, K) -> bool:
    """Whether systems of n unit tokens run on the symmetric lane kernel (identity Q, K)."""
    return (Q is None and K is None and not causal and 2 <= n <= SMALL_MAX_N
            and d <= SMALL_MAX_D and abs(beta) <= SMALL_MAX_BETA)


def batched_kernel(n: int, d: int, beta: float, *, causal: bool = False, Q=None, K=None,
                   V=None, lanes: bool = True) -> str:
    """The kernel :func:`attention_sums_batched` runs for systems of n unit tokens in R^d.

    "lanes" (small systems, identity Q and K, one shared V; the lane kernel also needs
    |x_i| <= 1, checked at the call unless the caller vouches for it), "tiled-blas" (wide
    systems) or "tiles". :func:`attention_euler_step` runs "lanes" or "tiles".

    Examples
    --------
    >>> from meanfield.particles.interactions import batched_kernel
    >>> batched_kernel(32, 2, 4.0), batched_kernel(32, 2, 4.0, causal=True)
    ('lanes', 'tiles')
    >>> batched_kernel(4096, 128, 1.0)
    'tiled-blas'
    """
    if lanes and uses_lane_path(n, d, beta, causal, Q, K) and (V is None or np.ndim(V) == 2):
        return "lanes"
    dq = d if Q is None else np.shape(Q)[-2]
    dv = d if V is None else np.shape(V)[-2]
    return "tiled-blas" if uses_tiled_path(n, dq + dv) else "tiles"


def _unit_rows_ok(x) -> bool:
    """|x_i| <= 1 (to 1e-6): the lane kernel's scores then lie within [-|beta|, |beta|]."""
    return _max_sqnorm(x) <= 1.0 + 1e-6


@njit(cache=True)
def _max_sqnorm(x):  # pragma: no cover - numba
    """max_i |x_i|^2 over (R, n, d) (compiled: numpy's reduction over a short last axis is
    several times slower)."""
    R, n, d = x.shape
    m = 0.0
    for r in range(R):
        for i in range(n):
            s = 0.0
            for k in range(d):
                s += x[r, i, k] * x[r, i, k]
            m = max(m, s)
    return m


def single_threaded():
    """Context manager: numba kernels on one thread (restored on exit).

    ``simulate_particles`` runs its whole time loop so when every interaction evaluation is
    small, which spares two thread-count changes per kernel call.
    """
    import contextlib

    import numba

    @contextlib.contextmanager
    def ctx():
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(threads)
    return ctx()


def _one_thread_if_small(work, call):
    """Run ``call(threads)``, on one thread of the parallel kernel when work is small.

    A separately compiled serial copy (as :func:`_attend_serial`) vectorizes differently and
    differs in the last bit, which would break "replica r of an ensemble equals its single
    run bit for bit"; one thread of the parallel kernel avoids waking a second thread for a
    few microseconds of work (which on a busy machine waits for a core).
    """
    import numba

    threads = numba.get_num_threads()
    if work >= SERIAL_WORK or threads == 1:
        return call(threads)
    numba.set_num_threads(1)
    try:
        return call(1)
    finally:
        numba.set_num_threads(threads)


def _run_lanes(x, beta, softmax, step, V, h, noise, out, logz):
    R, n, d = x.shape
    lanes = min(SMALL_LANES, R)
    Vm = np.empty((0, 0)) if V is None else np.ascontiguousarray(V, dtype=np.float64)
    if Vm.ndim == 3:
        raise ValueError("the lane kernel takes one value matrix for all systems")
    # work in the units of SERIAL_WORK (pairs x width): n (n + 1) / 2 pairs per system, each
    # ~2d flops and one exponential (~16 flops' worth)
    _one_thread_if_small(R * n * (n + 1) // 2 * (2 * d + 16), lambda threads: _attend_lanes(
        x, float(beta), bool(softmax), lanes, bool(step), Vm, float(h), noise, out, logz))


def _run_batched(q, kT, wT, beta, causal, softmax, step, x, h, noise, out, logz):
    """Run the batched kernel (small problems on one thread, see _one_thread_if_small)."""
    R, n, dq = q.shape
    items = R * ((n + _ROWS - 1) // _ROWS)
    work = R * n * kT.shape[2] * (dq + wT.shape[1])
    _one_thread_if_small(work, lambda threads: _attend_batched(
        q, kT, wT, float(beta), bool(causal), bool(softmax), min(items, 8 * threads),
        bool(step), x, float(h), noise, out, logz))


_NO_NOISE = np.empty((0, 0, 0))


def attention_sums_batched(x, beta: float, *, softmax: bool, causal: bool = False, Q=None,
                           K=None, V=None, lanes: bool = True,
                           unit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`attention_sums` for R independent systems at once.

    All systems run in one parallel loop over (system, tile of queries) (no Python loop over
    systems, no n x n matrix beyond a tile), except wide systems with
    ``uses_tiled_path(n, dq + dv)``, which take the tiled-BLAS path one after the other.
    Each system's result does not depend on R or on the number of threads.

    Parameters
    ----------
    x : ndarray, shape (R, n, d), float32 or float64
        R systems of n tokens.
    beta, softmax, causal
        As in :func:`attention_sums`.
    Q, K, V : ndarray, shape (k, d) / (d'', d) shared, or (R, k, d) / (R, d'', d), optional
        Query, key and value matrices (identity if None), one per system with a leading axis.
    lanes : bool
        Allow the lane kernel for small systems of unit tokens with identity Q, K (see the
        module docstring; default). False runs the tile kernel (what ``simulate_particles``
        uses for a single system, ``replicas=None``: the lane kernel is built for many).
    unit : bool
        The caller guarantees unit rows (skips the lane kernel's O(R n d) norm check).

    Returns
    -------
    out : ndarray, shape (R, n, d''), float64
    logz : ndarray, shape (R, n), float64

    Examples
    --------
    Each system agrees with the single-system kernel:

    >>> import numpy as np
    >>> from meanfield.particles.interactions import attention_sums, attention_sums_batched
    >>> x = np.random.default_rng(0).standard_normal((5, 40, 3))
    >>> Q = np.random.default_rng(1).standard_normal((5, 3, 3))
    >>> out, logz = attention_sums_batched(x, 2.0, softmax=True, Q=Q)
    >>> ref = attention_sums(x[3], 2.0, softmax=True, Q=Q[3])[0]
    >>> out.shape, bool(np.allclose(out[3], ref, rtol=1e-13, atol=1e-14))
    ((5, 40, 3), True)
    """
    x = _check_batch(x)
    R, n, d = x.shape
    kernel = batched_kernel(n, d, beta, causal=causal, Q=Q, K=K, V=V, lanes=lanes)
    if kernel == "lanes" and not (unit or _unit_rows_ok(x)):
        kernel = batched_kernel(n, d, beta, causal=causal, Q=Q, K=K, V=V, lanes=False)
    if kernel == "lanes":
        dv = d if V is None else np.shape(V)[0]
        out = np.empty((R, n, dv))
        logz = np.empty((R, n))
        _run_lanes(x, beta, softmax, False, V, 0.0, _NO_NOISE, out, logz)
        return out, logz
    q, kT, wT = _prepare_batched(x, Q, K, V)
    out = np.empty((R, n, wT.shape[1]))
    logz = np.empty((R, n))
    if kernel == "tiled-blas":
        for r in range(R):
            _attend_tiled(q[r], kT[r], wT[r], float(beta), bool(causal), bool(softmax), out[r],
                          logz[r])
    else:
        _run_batched(q, kT, wT, beta, causal, softmax, False, x, 0.0, _NO_NOISE, out, logz)
    return out, logz


def attention_euler_step(x, beta: float, h: float, *, softmax: bool, causal: bool = False,
                         Q=None, K=None, V=None, noise=None, lanes: bool = True,
                         unit: bool = False) -> np.ndarray:
    """One retracted Euler(-Maruyama) step of R systems, fused into the attention kernel.

    x_i <- N(x_i + h P_{x_i} v_i + noise_i), N(y) = y / |y|, P_x y = y - <x, y> x, with v_i
    the attention sums of :func:`attention_sums_batched` (USA or SA): the Post-LN step of
    ``simulate_particles`` (h is the step times the coupling). The sums never leave the
    kernel's registers and cache.

    Parameters
    ----------
    x : ndarray, shape (R, n, d), float32 or float64
        Unit tokens.
    beta, softmax, causal, Q, K, V
        As in :func:`attention_sums_batched` (V square, d x d).
    h : float
        Step (times the coupling).
    noise : ndarray (R, n, d), optional
        Increments added before the retraction (e.g. sqrt(2 dt / kappa) xi).
    lanes, unit : bool
        As in :func:`attention_sums_batched`.

    Returns
    -------
    ndarray (R, n, d), dtype of x

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.interactions import attention_euler_step, attention_sums
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 16, 3))
    >>> x /= np.linalg.norm(x, axis=-1, keepdims=True)
    >>> new = attention_euler_step(x, 1.0, 0.1, softmax=True)
    >>> v = attention_sums(x[1], 1.0, softmax=True)[0]
    >>> y = x[1] + 0.1 * (v - np.sum(v * x[1], axis=1, keepdims=True) * x[1])
    >>> bool(np.allclose(new[1], y / np.linalg.norm(y, axis=1, keepdims=True), atol=1e-14))
    True
    """
    x = _check_batch(x)
    if V is not None and np.shape(V)[-2:] != (x.shape[2], x.shape[2]):
        raise ValueError(f"the Euler step needs a square value matrix V (d, d) for d = "
                         f"{x.shape[2]}, got shape {np.shape(V)}")
    if noise is None:
        noise = _NO_NOISE
    else:
        noise = np.ascontiguousarray(noise, dtype=np.float64)
        if noise.shape != x.shape:
            raise ValueError(f"noise must have the shape of x {x.shape}, got {noise.shape}")
    out = np.empty_like(x)
    R, n, d = x.shape
    if (batched_kernel(n, d, beta, causal=causal, Q=Q, K=K, V=V, lanes=lanes) == "lanes"
            and (unit or _unit_rows_ok(x))):
        _run_lanes(x, beta, softmax, True, V, h, noise, out, np.empty((0, 0)))
        return out
    q, kT, wT = _prepare_batched(x, Q, K, V)
    _run_batched(q, kT, wT, beta, causal, softmax, True, x, h, noise, out, np.empty((0, 0)))
    return out


def attention_sums_numpy(x, beta: float, *, softmax: bool, causal: bool = False, Q=None,
                         K=None, V=None) -> tuple[np.ndarray, np.ndarray]:
    """Plain-numpy reference of :func:`attention_sums`: forms the n x n score matrix.

    Raises MemoryError (suggesting the fused kernel or the spectral method) if the matrices
    would not fit in the available memory.

    Examples
    --------
    With ``causal=True`` the first token attends to itself only, the last to all:

    >>> import numpy as np
    >>> from meanfield.particles.interactions import attention_sums_numpy
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> out, logz = attention_sums_numpy(x, 1.0, softmax=True, causal=True)
    >>> out[0].tolist()
    [1.0, 0.0]
    >>> w = np.exp(1.0) / (1 + np.exp(1.0))  # softmax weight of <x_1, x_1> = 1 vs 0
    >>> bool(np.allclose(out[1], [1 - w, w])), bool(np.isclose(logz[1], np.log(1 + np.e)))
    (True, True)
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    n = x.shape[0]
    need = 3 * n * n * x.dtype.itemsize
    avail = _available_memory()
    if avail is not None and need > 0.8 * avail:
        raise MemoryError(
            f"the numpy reference needs ~{need / 2**30:.1f} GiB for n = {n} "
            f"({avail / 2**30:.1f} GiB available); use method='direct' (fused numba kernel, "
            "no n x n matrix) or method='spectral' (circle, d = 2)")
    q = x if Q is None else x @ np.asarray(Q, dtype=x.dtype).T
    k = x if K is None else x @ np.asarray(K, dtype=x.dtype).T
    w = x if V is None else x @ np.asarray(V, dtype=x.dtype).T
    a = beta * (q @ k.T)
    if causal:
        a[np.triu_indices(n, 1)] = -np.inf
    mx = a.max(axis=1, keepdims=True)
    e = np.exp(a - mx)
    s = e.sum(axis=1, keepdims=True)
    num = e @ w
    logz = (mx + np.log(s))[:, 0].astype(np.float64)
    out = num / s if softmax else num * np.exp(mx) / n
    return out, logz


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
