"""Planar basis on S^{d-1}: densities that depend only on y = (x_1, x_2), any 3 <= d <= 1024.

Convention (DESIGN.md §1): densities are taken with respect to the normalized uniform
measure sigma on S^{d-1}. A *planar* density is invariant under O(d-2) acting on
z = (x_3, ..., x_d), i.e. a function of y = (x_1, x_2) = r (cos phi, sin phi) in the unit
disk; sigma pushes forward to

    d mu(y) = ((a + 1) / pi) (1 - |y|^2)^a dA(y),   a = (d - 4) / 2,

so that s = r^2 has the law Beta(1, a + 1) and phi is uniform. The class holds the
k-cluster polygon states of the noisy dynamics (clusters at angles 2 pi j / k in the plane
of e_1, e_2) and every zonal density about an in-plane axis.

Coefficients (real, ``coeff_dtype = float64``)
----------------------------------------------
The degree-l spherical harmonics of the class are r^|m| e^{i m phi} P_k^{(a, |m|)}(2 r^2 - 1),
l = |m| + 2k (Jacobi polynomial). A function is stored by its coefficients in the real
basis, orthonormal w.r.t. mu (= sigma),

    Q_{l,m} = n_m R_{k,|m|}(r) T_m(phi),   R_{k,m}(r) = r^m p_k^{(a,m)}(s) / sqrt(Z_m),

T_m = cos(m phi) (m > 0), sin(|m| phi) (m < 0), 1 (m = 0); n_m = sqrt(2) for m != 0, else 1;
p_k^{(a,m)} the Jacobi polynomials in s = r^2 orthonormal for the probability measure
proportional to (1 - s)^a s^m ds on [0, 1], and Z_m = E_mu[s^m] = m! Gamma(a+2) / Gamma(m+a+2).
The p_k come from their normalized three-term recurrence (the Jacobi matrix of
(1 - s)^a s^m, written in s so that nothing cancels near s = 0) with a running rescaling, and
the prefactor r^m / sqrt(Z_m) is taken in logarithms: nothing overflows at d = 1024,
lmax ~ 128, and the cost does not depend on d.

Degree l holds l + 1 coefficients, (l, m) for m = -l..l with l - |m| even; the array is
ordered by degree (nested: the first (L+1)(L+2)/2 entries are the degrees <= L, which
``convert`` pads / truncates), and inside a degree by decreasing |m|, cosine before sine:
(l, l), (l, -l), (l, l-2), (l, -(l-2)), ..., so that the in-plane harmonic (k, k) is the
first coordinate of degree k (the critical direction that branch switching in
:mod:`meanfield.continuation` fixes). Index 0 is the mass. ``degrees`` and ``orders`` give
(l, m) per coefficient; :meth:`PlanarBasis.index` the position of (l, m).

Grid
----
Gauss–Jacobi nodes s_j = r_j^2 of (1 - s)^a on [0, 1] (Golub–Welsch on the s-Jacobi matrix,
refined by Newton's method; weights from the Christoffel function with a running rescaling,
full relative accuracy even where they are 1e-100) times an equispaced phi_p = 2 pi p / nphi.
With D = 2 dealias lmax: nphi = the smallest FFT-friendly size >= D + 1, and
n_r = ceil((floor(D/2) + 1) / 2), so the grid integrates every polynomial in y of degree
<= D exactly (averaging over phi leaves a polynomial in s of degree floor(D/2)). At the
default dealias = 1.5 that is degree 3 lmax: products of three degree-lmax functions (the
USA flux rho grad U tested against grad Q) are integrated exactly. Grid arrays have shape
(n_r, nphi); ``grid`` = (r, phi) as two (n_r, nphi) arrays; ``weights`` (n_r, nphi) sum
to 1. Transforms: an FFT in phi, then for each |m| a dense radial matrix (all |m| in one
batched matrix product, the orders packed in pairs (m, lmax + 1 - m) whose radial functions
fill one block without padding); batch axes lead.

``points`` (a property, built on access and cached only when small: n_r nphi d floats)
are the ambient representatives (r cos phi, r sin phi, sqrt(1 - r^2), 0, ..., 0).

Calculus
--------
On S^{d-1} write x = (sin theta cos phi, sin theta sin phi, cos theta omega), omega in S^{d-3},
r = sin theta. A planar tangent field is v = v_theta e_theta + v_phi e_phi with
e_theta = (cos theta cos phi, cos theta sin phi, -sin theta omega), e_phi = (-sin phi,
cos phi, 0), an orthonormal frame (so |v|^2 = v_theta^2 + v_phi^2). In ambient terms
v = (v_1, v_2, h z) with h fixed by tangency. As on S^2, it is stored as ONE complex grid
array w = v_theta + i v_phi in the layout (1, *batch, n_r, nphi) (complex128), so products
with scalar grid arrays broadcast; ``vector_norm`` is |w|. For f(r, phi):
grad f = sqrt(1 - r^2) d_r f e_theta + (1/r) d_phi f e_phi. ``div`` is taken weakly,

    (div v)_{l,m} = -int v . grad Q_{l,m} d sigma   (quadrature, the adjoint of ``grad``),

so the mass coefficient of a divergence is exactly 0 and div(grad c) = -l(l+d-2) c to
round-off (the quadrature is exact for grad Q . grad Q', a polynomial of degree 2 lmax).

Symmetries: ``rotate`` turns a density in the plane; ``rotation_generators`` is the one
generator left, -d/dphi (exact on coefficients). The reflection phi -> -phi keeps the cosine
part; the rotation by 2 pi / p keeps the orders m in pZ (``subspace_mask``, ``branch_mask``).

High dimension: mu concentrates at r ~ sqrt(2/d) and the Gauss nodes at large r carry
weights as small as 1e-100; grid values there carry round-off eps / sqrt(w_j) times the
coefficients' size (``pointwise_error``), and only ``reliable_nodes`` are meaningful
pointwise, while every integral (transforms, dynamics) stays accurate to round-off (as in
the zonal basis).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy.linalg import eigh_tridiagonal

from ._real import RealOrthonormalSeries
from .zonal import _check_int

#: largest padded radial operator ((lmax + 1) x n_r x (lmax // 2 + 1) entries) a PlanarBasis
#: builds: 2**24 entries, lmax <= 372 at dealias 1.5 (six such float64 arrays, ~0.8 GiB);
#: larger requests are refused up front
MAX_RADIAL_ENTRIES = 1 << 24
#: ``points`` is cached on the basis when it has at most this many entries (n_r nphi dim)
POINTS_CACHE_ENTRIES = 1 << 22
MAX_DIM = 1024
_SQRT2 = math.sqrt(2.0)


def _check_dealias(dealias) -> float:
    try:
        dealias = float(dealias)
    except (TypeError, ValueError):
        raise TypeError(f"dealias must be a number >= 1, got {dealias!r}") from None
    if not (np.isfinite(dealias) and dealias >= 1.0):
        raise ValueError(f"dealias must be a finite number >= 1, got {dealias}")
    return dealias


def shifted_jacobi_recurrence(n: int, alpha: float, beta) -> tuple[np.ndarray, np.ndarray]:
    """Jacobi matrix of the probability measure prop. to (1 - s)^alpha s^beta ds on [0, 1].

    Returns (b, c) with ``b`` (n, *beta.shape) the diagonal and ``c`` (n + 1, *beta.shape)
    the off-diagonal (c[0] = 0): s p_k = c_{k+1} p_{k+1} + b_k p_k + c_k p_{k-1} for the
    orthonormal p_k (p_0 = 1). Written in s (not in u = 2s - 1) so that the diagonal has full
    relative accuracy near s = 0.

    Examples
    --------
    alpha = beta = 0 is the shifted Legendre family: b_k = 1/2, c_k^2 = k^2 / (4 (4k^2 - 1)):

    >>> import numpy as np
    >>> from meanfield.bases.planar import shifted_jacobi_recurrence
    >>> b, c = shifted_jacobi_recurrence(3, 0.0, 0.0)
    >>> b.tolist(), bool(np.allclose(c**2, [0, 1 / 12, 4 / 60, 9 / 140]))
    ([0.5, 0.5, 0.5], True)
    >>> b, c = shifted_jacobi_recurrence(1, 2.0, np.array([0.0, 1.0]))
    >>> b.tolist()  # E[s] for Beta(beta + 1, alpha + 1): (beta + 1) / (alpha + beta + 2)
    [[0.25, 0.4]]
    """
    al = float(alpha)
    be = np.asarray(beta, dtype=float)
    S = al + be
    k = np.arange(n, dtype=float).reshape((n,) + (1,) * be.ndim)
    b = np.empty((n,) + be.shape)
    b[0] = (1.0 + be) / (S + 2.0)
    if n > 1:
        kk = k[1:]
        b[1:] = (2 * kk * (kk + S + 1) + S * (1 + be)) / ((2 * kk + S) * (2 * kk + S + 2))
    c = np.zeros((n + 1,) + be.shape)
    k = np.arange(1, n + 1, dtype=float).reshape((n,) + (1,) * be.ndim)
    c2 = k * (k + al) * (k + be) * (k + S) / ((2 * k + S) ** 2 * (2 * k + S + 1)
                                               * (2 * k + S - 1))
    c[1:] = np.sqrt(c2)
    return b, c


def _signed_exp(q: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """q * exp(log_scale) without overflow in the intermediate exp."""
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        return np.sign(q) * np.exp(np.log(np.abs(q)) + log_scale)


def radial_values(s: np.ndarray, kmax: int, b: np.ndarray, c: np.ndarray,
                  log_pre: np.ndarray, derivative: bool = False):
    """exp(log_pre) p_k(s) (and d/ds) for k = 0..kmax, by the recurrence with rescaling.

    ``s`` (N, 1), ``b`` / ``c`` recurrence coefficients (>= kmax + 1 rows, M columns) of
    :func:`shifted_jacobi_recurrence`, ``log_pre`` (N, M). Returns (N, M, kmax + 1) arrays.

    Examples
    --------
    Shifted Legendre (alpha = beta = 0): p_1(s) = sqrt(3) (2 s - 1):

    >>> import numpy as np
    >>> from meanfield.bases.planar import radial_values, shifted_jacobi_recurrence
    >>> b, c = shifted_jacobi_recurrence(3, 0.0, np.zeros(1))
    >>> p, dp = radial_values(np.array([[0.25]]), 1, b, c, np.zeros((1, 1)), derivative=True)
    >>> bool(np.allclose(p[0, 0], [1.0, -np.sqrt(3) / 2]))
    True
    >>> bool(np.allclose(dp[0, 0], [0.0, 2 * np.sqrt(3)]))
    True
    """
    shape = log_pre.shape
    q_prev, q = np.zeros(shape), np.ones(shape)
    dq_prev, dq = np.zeros(shape), np.zeros(shape)
    ls = np.zeros(shape)  # true value = stored value * exp(ls)
    out = np.empty(shape + (kmax + 1,))
    dout = np.empty_like(out) if derivative else None
    for k in range(kmax + 1):
        out[..., k] = _signed_exp(q, ls + log_pre)
        if derivative:
            dout[..., k] = _signed_exp(dq, ls + log_pre)
        if k == kmax:
            break
        q_next = ((s - b[k]) * q - c[k] * q_prev) / c[k + 1]
        dq_next = (q + (s - b[k]) * dq - c[k] * dq_prev) / c[k + 1]
        q_prev, q, dq_prev, dq = q, q_next, dq, dq_next
        size = np.maximum(np.abs(q), np.abs(q_prev))
        if derivative:
            size = np.maximum(size, np.maximum(np.abs(dq), np.abs(dq_prev)))
        big = size > 1e150
        if np.any(big):
            f = 1.0 / size[big]
            for arr in (q_prev, q, dq_prev, dq):
                arr[big] *= f
            ls[big] -= np.log(f)
    return (out, dout) if derivative else out


def _christoffel(s: np.ndarray, n: int, b: np.ndarray, c: np.ndarray):
    """log(1 / sum_{k<n} p_k(s)^2) and the Newton step p_n(s) / p_n'(s), rescaled."""
    q_prev, q = np.zeros_like(s), np.ones_like(s)
    dq_prev, dq = np.zeros_like(s), np.zeros_like(s)
    ssum = np.ones_like(s)
    log_scale = np.zeros_like(s)  # scaled value = true value * exp(log_scale)
    for k in range(n):
        q_next = ((s - b[k]) * q - c[k] * q_prev) / c[k + 1]
        dq_next = (q + (s - b[k]) * dq - c[k] * dq_prev) / c[k + 1]
        q_prev, q, dq_prev, dq = q, q_next, dq, dq_next
        if k + 1 < n:
            ssum = ssum + q * q
        big = (ssum > 1e200) | (np.abs(dq) > 1e200)
        if np.any(big):
            f = 1.0 / np.sqrt(ssum[big])
            for arr in (q_prev, q, dq_prev, dq):
                arr[big] *= f
            ssum[big] *= f * f
            log_scale[big] += np.log(f)
    return 2.0 * log_scale - np.log(ssum), q / dq


def gauss_jacobi_s(n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss rule of ((alpha+1)) (1 - s)^alpha ds on [0, 1]: nodes (ascending), log-weights.

    The weights sum to 1 (the law of s = r^2 = x_1^2 + x_2^2 under sigma on S^{d-1} for
    alpha = (d - 4) / 2); exact for polynomials of degree <= 2n - 1.

    Examples
    --------
    alpha = 0 (d = 4, s uniform): Gauss–Legendre on [0, 1]:

    >>> import numpy as np
    >>> from meanfield.bases.planar import gauss_jacobi_s
    >>> s, log_w = gauss_jacobi_s(2, 0.0)
    >>> bool(np.allclose(s, [0.5 - 0.5 / np.sqrt(3), 0.5 + 0.5 / np.sqrt(3)]))
    True
    >>> bool(np.allclose(np.exp(log_w), 0.5))
    True
    >>> s, log_w = gauss_jacobi_s(3, 6.0)  # E[s^5] = 5! 7! / 12! for Beta(1, 7), exact
    >>> bool(np.isclose(np.exp(log_w) @ s**5, 120 * 5040 / 479001600, rtol=1e-13))
    True
    """
    b, c = shifted_jacobi_recurrence(n, alpha, 0.0)
    if n == 1:
        return b[:1].copy(), np.zeros(1)
    s = np.sort(eigh_tridiagonal(b, c[1:n], eigvals_only=True))
    for _ in range(2):  # Newton on p_n (the eigenvalues are already accurate to ~eps)
        _, step = _christoffel(s, n, b, c)
        s = s - step
    log_w, _ = _christoffel(s, n, b, c)
    return s, log_w


def log_moments(mmax: int, a: float) -> np.ndarray:
    """log Z_m = log E[s^m] = log(m! Gamma(a + 2) / Gamma(m + a + 2)), m = 0..mmax.

    Summed as -sum_{j <= m} log1p((a + 1) / j) (gammaln differences lose ~1e-13 at d = 1024).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.bases.planar import log_moments
    >>> bool(np.allclose(np.exp(log_moments(3, 0.0)), [1, 1 / 2, 1 / 3, 1 / 4]))  # s ~ U(0, 1)
    True
    """
    j = np.arange(1, mmax + 1, dtype=float)
    return np.concatenate([[0.0], -np.cumsum(np.log1p((a + 1.0) / j))])


def _flush(arr: np.ndarray) -> np.ndarray:
    """arr with entries below 1e-200 set to 0 in place: no denormals (slow), nothing of
    weight lost."""
    arr[np.abs(arr) < 1e-200] = 0.0
    return arr


def _layout(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """(degrees, signed orders) in the coefficient order of the module docstring."""
    deg, order = [], []
    for l in range(lmax + 1):
        for mm in range(l, -1, -2):
            deg.append(l)
            order.append(mm)
            if mm > 0:
                deg.append(l)
                order.append(-mm)
    return np.array(deg), np.array(order)


class PlanarBasis(RealOrthonormalSeries):
    """Spectral basis for densities on S^{dim-1} that depend only on (x_1, x_2).

    Parameters
    ----------
    dim : int
        Ambient dimension d, 3 <= d <= 1024 (d = 3: densities on S^2 even in x_3).
    lmax : int
        Highest degree kept (>= 1); (lmax + 1)(lmax + 2)/2 real coefficients. Radial
        operators beyond ``MAX_RADIAL_ENTRIES`` entries raise MemoryError up front.
    dealias : float
        Grid factor (>= 1): the grid integrates polynomials in (x_1, x_2) of degree
        2 dealias lmax exactly; 1.5 (default) integrates the quadratic USA flux exactly.

    Attributes
    ----------
    r, s, phi : ndarray (n_r,), (n_r,), (nphi,)
        Radii (ascending), s = r^2 (the Gauss–Jacobi nodes) and angles of the grid.
    grid : tuple of two ndarrays (n_r, nphi)
        (r, phi) at every node.
    weights : ndarray (n_r, nphi)
        Quadrature weights of sigma (sum 1; tiny at large r for large d).
    degrees, orders : ndarray ((lmax + 1)(lmax + 2)/2,)
        Degree l and signed order m of each coefficient (m < 0: the sine part).
    laplacian : ndarray
        Laplace–Beltrami eigenvalue -l(l+d-2) of each coefficient.
    pointwise_error : ndarray (n_r, nphi)
        Round-off of a grid value from ``backward`` per unit L2(sigma) norm of the series,
        eps sqrt(sum_i Q_i(x_j)^2) (large at the outer rings for large d).
    reliable_nodes : ndarray of bool (n_r, nphi)
        Nodes with pointwise_error <= 1e-10: pointwise checks look only there.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> b = mf.PlanarBasis(16, 8)  # densities of (x_1, x_2) on S^15
    >>> b
    PlanarBasis(dim=16, lmax=8, dealias=1.5, grid=7x25)
    >>> round(float(b.integrate(np.ones(b.shape))), 14), b.coeff_shape
    (1.0, (45,))
    """

    coeff_dtype = np.float64
    is_zonal = False
    #: the class of densities held (and of perturbations its spectra cover)
    restriction = "planar"
    is_planar = True

    def __init__(self, dim: int, lmax: int, dealias: float = 1.5) -> None:
        self.dim = _check_int(dim, "dim", 3, "the sphere S^(dim-1); use CircleBasis for d = 2")
        if self.dim > MAX_DIM:
            raise ValueError(f"dim must be an integer in [3, {MAX_DIM}], got {self.dim}")
        self.lmax = _check_int(lmax, "lmax", 1, "the highest degree")
        self.dealias = _check_dealias(dealias)
        L = self.lmax
        self.n_r, self.nphi = self._grid_size(L, self.dealias)
        M, K = L + 1, L // 2 + 1
        if M * self.n_r * K > MAX_RADIAL_ENTRIES:
            raise MemoryError(self._too_big(L))
        self.a = (self.dim - 4) / 2.0
        s, log_w = gauss_jacobi_s(self.n_r, self.a)
        self.s, self.r = s, np.sqrt(s)
        self.phi = 2 * np.pi * np.arange(self.nphi) / self.nphi
        self._log_w = log_w
        self._sw = np.exp(0.5 * log_w)
        self.weights = np.broadcast_to(np.exp(log_w)[:, None] / self.nphi, self.shape).copy()
        rr, pp = np.meshgrid(self.r, self.phi, indexing="ij")
        self.grid = (rr, pp)
        self._points = None
        self.degrees, self.orders = _layout(L)
        self.laplacian = -(self.degrees * (self.degrees + self.dim - 2)).astype(float)
        self._log_z = log_moments(L, self.a)
        self._build_layout(M, K)
        self._build_radial(M, K)

    @staticmethod
    def _grid_size(lmax: int, dealias: float) -> tuple[int, int]:
        D = max(2 * lmax, math.ceil(2 * dealias * lmax - 1e-9))
        n_r = max((lmax + 2) // 2, (D // 2 + 2) // 2)
        nphi = scipy.fft.next_fast_len(D + 1, real=True)
        return n_r, nphi

    def _too_big(self, L: int) -> str:
        most = L
        while most > 1:
            n_r, _ = self._grid_size(most, self.dealias)
            if (most + 1) * n_r * (most // 2 + 1) <= MAX_RADIAL_ENTRIES:
                break
            most -= 1
        n_r = self.n_r
        return (f"PlanarBasis(dim={self.dim}, lmax={L}, dealias={self.dealias:g}) needs radial "
                f"operators of {L + 1} x {n_r} x {L // 2 + 1} entries (~"
                f"{6 * 8 * (L + 1) * n_r * (L // 2 + 1) / 2**30:.3g} GiB), beyond "
                f"meanfield.bases.planar.MAX_RADIAL_ENTRIES = {MAX_RADIAL_ENTRIES}: use lmax "
                f"<= {most} (the kernel needs model.required_degree(1e-12)), or "
                "simulate_particles for very concentrated states")

    def _build_layout(self, M: int, K: int) -> None:
        """Pack the orders in pairs: 0 alone, then (m, L + 1 - m) for m = 1, 2, ..., whose
        K_m = (L - m) // 2 + 1 radial functions fill one row of W = K (K + 1 for odd L)
        columns (order (L + 1) / 2 alone for odd L). Pair q has order q in its first slot
        (columns [0, K_q)) and order L + 1 - q (pairs 1..L + 1 - Q) in its second (the next
        columns), so one batched product over the Q pairs does every order with no padded
        entries. A coefficient (l, m) sits at row ``_row`` (pair q times W plus its column
        (l - |m|) / 2 in the pair), slot ``_cslot`` and part ``_part`` (0: cosine or m = 0,
        1: sine), with the factor ``_scale`` = n_m (signed: the sine part is -Im)."""
        L = self.lmax
        pair = [(0, -1)] + [(m, L + 1 - m) if m < L + 1 - m else (m, -1)
                            for m in range(1, (L + 1) // 2 + 1)]
        self._pair = np.array(pair)
        self._kcount = (L - np.arange(M)) // 2 + 1
        grp, slot, off = np.zeros(M, int), np.zeros(M, int), np.zeros(M, int)
        for q, (ma, mb) in enumerate(pair):
            grp[ma] = q
            if mb >= 0:
                grp[mb], slot[mb], off[mb] = q, 1, self._kcount[ma]
        self._width = int(max(off + self._kcount))
        self._grp, self._slot = grp, slot
        m = np.abs(self.orders)
        self._row = grp[m] * self._width + off[m] + (self.degrees - m) // 2
        self._cslot = slot[m]
        self._part = (self.orders < 0).astype(int)
        self._index_cache, self._index_parts = {}, {}
        self._scale = np.where(self.orders == 0, 1.0, np.where(self.orders > 0, _SQRT2, -_SQRT2))
        self._nm = (M, K)
        self._valid = (np.arange(K)[None, :] <= (self.lmax - np.arange(M)[:, None]) // 2)

    def _pack(self, P: np.ndarray, axis: int) -> np.ndarray:
        """Per-order radial matrices P (M, ..., K on ``axis``, ...) -> pair blocks (Q, ...,
        W on ``axis``, ...), each pair's orders side by side on that axis."""
        P = np.moveaxis(P, axis, 1)
        out = np.zeros((len(self._pair), self._width) + P.shape[2:])
        for q, (ma, mb) in enumerate(self._pair):
            ka = self._kcount[ma]
            out[q, :ka] = P[ma, :ka]
            if mb >= 0:
                out[q, ka:ka + self._kcount[mb]] = P[mb, :self._kcount[mb]]
        return np.ascontiguousarray(np.moveaxis(out, 1, axis))

    def _build_radial(self, M: int, K: int) -> None:
        """Radial matrices of R, sqrt(1 - s) dR/dr and R / r at the nodes, packed in order
        pairs (:meth:`_build_layout`): analysis (Q, W, J) times the quadrature weight
        w_j / nphi, synthesis (Q, J, W) times the FFT normalization (nphi for m = 0,
        nphi / 2 else); J = n_r, or 2 n_r for grad / div (orders +m and -m of the field)."""
        m = np.arange(M, dtype=float)
        b, c = shifted_jacobi_recurrence(K, self.a, m)
        log_r = np.log(self.r)[:, None]
        # P = sqrt(w) r^(m-1) p_k(s) / sqrt(Z_m): then R = r P, R/r = P, dR/dr = m P + 2 s P'
        log_pre = 0.5 * self._log_w[:, None] + (m[None, :] - 1.0) * log_r - 0.5 * self._log_z
        P, dP = radial_values(self.s[:, None], K - 1, b, c, log_pre, derivative=True)
        valid = self._valid[None, :, :]
        P = np.where(valid, P, 0.0)
        dP = np.where(valid, dP, 0.0)
        s = self.s[:, None, None]
        sw = self._sw[:, None, None]
        S0 = self.r[:, None, None] * P
        St = np.sqrt(1.0 - s) * (m[None, :, None] * P + 2 * s * dP)
        Sp = m[None, :, None] * P  # (1/r) d_phi carries the factor m
        del P, dP
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            U0, Ut, Up = S0 / sw, St / sw, Sp / sw
        if not all(np.all(np.isfinite(u)) for u in (U0, Ut, Up)):
            raise ValueError(f"lmax={self.lmax} is too large for dim={self.dim}: the radial "
                             "functions overflow float64 at the outer nodes")
        for arr in (S0, St, Sp, U0, Ut, Up):
            _flush(arr)
        # eps sqrt(sum_i Q_i(x_j)^2): the m != 0 pairs count twice (cos^2 + sin^2 = 1, n_m^2 = 2)
        mult = np.where(m == 0, 1.0, 2.0)[None, :, None]
        norm2 = np.sum(mult * S0 * S0, axis=(1, 2))
        err = np.finfo(float).eps * np.exp(0.5 * np.log(norm2) - 0.5 * self._log_w)
        self.pointwise_error = np.broadcast_to(err[:, None], self.shape).copy()
        self.reliable_nodes = self.pointwise_error <= 1e-10

        def tr(A):  # analysis: (M, K, n_r)
            return np.ascontiguousarray(np.transpose(A, (1, 2, 0)))

        def sy(A):  # synthesis: (M, n_r, K)
            return np.ascontiguousarray(np.transpose(A, (1, 0, 2)))
        fa = (self._sw / self.nphi)[None, None, :]  # sqrt(w_j) (the other one is in S) / nphi
        fs = np.where(m == 0, float(self.nphi), 0.5 * self.nphi)[:, None, None]
        self._A0 = self._pack(_flush(tr(S0) * fa), 1)  # (Q, W, n_r)
        self._B0 = self._pack(sy(U0) * fs, 2)  # (Q, n_r, W)
        del S0, U0
        # grad and div act on the complex field w = v_theta + i v_phi by one complex FFT:
        # with T_m, i P_m the order-m spectra of v_theta, v_phi (T, P from the blocks by the
        # theta and phi matrices), w has (T_m - P_m) / 2 at order m and conj(T_m + P_m) / 2
        # at -m; div = -(weak form) is the adjoint
        At, Ap = tr(St) * fa, tr(Sp) * fa
        del St, Sp
        self._Adiv = self._pack(_flush(-0.5 * np.concatenate([At - Ap, At + Ap], axis=2)), 1)
        del At, Ap
        Bt, Bp = sy(Ut) * fs, sy(Up) * fs
        del Ut, Up
        self._Bgrad = self._pack(np.concatenate([Bt - Bp, Bt + Bp], axis=1), 2)  # (Q, 2 n_r, W)
        # ambient frame at the representative points
        cp, sp = np.cos(self.phi)[None, :], np.sin(self.phi)[None, :]
        ct = np.sqrt(1.0 - self.s)[:, None]
        self._e_theta = (ct * cp, ct * sp, -np.broadcast_to(self.r[:, None], self.shape))
        self._e_phi = (-np.broadcast_to(sp, self.shape), np.broadcast_to(cp, self.shape))

    # -- shapes -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """Shape of a grid function: (n_r, nphi).

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> b.shape  # n_r = ceil((floor(1.5 lmax) + 1) / 2), nphi >= 3 lmax + 1
        (4, 15)
        """
        return (self.n_r, self.nphi)

    @property
    def coeff_shape(self) -> tuple[int]:
        """Shape of a coefficient array: ((lmax + 1)(lmax + 2)/2,).

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.PlanarBasis(5, 4).coeff_shape
        (15,)
        """
        return (self.degrees.size,)

    def __repr__(self) -> str:
        return (f"PlanarBasis(dim={self.dim}, lmax={self.lmax}, dealias={self.dealias}, "
                f"grid={self.n_r}x{self.nphi})")

    def index(self, l: int, m: int) -> int:
        """Position of the real coefficient (l, m) (m < 0: the sine part).

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> b.index(0, 0), b.index(1, 1), b.index(1, -1), b.index(2, 2), b.index(2, 0)
        (0, 1, 2, 3, 5)
        >>> int(b.degrees[b.index(4, -2)]), int(b.orders[b.index(4, -2)])
        (4, -2)
        """
        if not (0 <= l <= self.lmax and abs(m) <= l and (l - abs(m)) % 2 == 0):
            raise ValueError(f"(l, m) = ({l}, {m}) is not in the basis (lmax={self.lmax}; "
                             "|m| <= l and l - |m| even)")
        mm = abs(m)
        return l * (l + 1) // 2 + (l - mm) + (1 if m < 0 else 0)

    @property
    def points(self) -> np.ndarray:
        """The grid as unit vectors (r cos phi, r sin phi, sqrt(1 - r^2), 0, ..., 0),
        shape (n_r, nphi, dim); built on access (cached when small).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> p = b.points
        >>> p.shape, bool(np.allclose(np.linalg.norm(p, axis=-1), 1.0))
        ((4, 15, 5), True)
        >>> bool(np.all(p[..., 3:] == 0))
        True
        """
        if self._points is not None:
            return self._points
        rr, pp = self.grid
        pts = np.zeros(self.shape + (self.dim,))
        pts[..., 0] = rr * np.cos(pp)
        pts[..., 1] = rr * np.sin(pp)
        pts[..., 2] = np.sqrt(1.0 - self.s)[:, None]
        if pts.size <= POINTS_CACHE_ENTRIES:
            self._points = pts
        return pts

    # -- transforms -------------------------------------------------------------------
    def _check_grid(self, f, name: str = "grid values", dtype=float) -> np.ndarray:
        f = np.asarray(f, dtype=dtype)
        if f.shape[-2:] != self.shape:
            raise ValueError(f"{name} must have trailing grid shape {self.shape} "
                             f"(n_r, nphi) = basis.shape, got shape {f.shape}")
        return f

    # Layout of the radial products (one batched matmul over the Q order pairs per
    # transform): the right-hand side is (Q, J, 4B) real, i.e. a C-contiguous (Q, J, 2, B)
    # complex array (slot in the pair, batch), so that products are complex arrays by a view.
    def _analyze(self, X: np.ndarray, A: np.ndarray, batch: tuple) -> np.ndarray:
        """Coefficients (*batch, n_coef) of sum_j A[q, w, j] X[q, j, slot, b] for the spectrum
        X (Q, J, 2, B) complex of :meth:`_spectrum`."""
        B = math.prod(batch)
        Y = A @ X.reshape(A.shape[0], A.shape[-1], 2 * B).view(float)
        return self._gather(Y, batch)

    def _gather(self, Y: np.ndarray, batch: tuple) -> np.ndarray:
        """(Q, W, 4B) real blocks (the layout of :meth:`_scatter`) -> coefficients
        (*batch, n_coef)."""
        out = Y.reshape(-1)[self._index("block", math.prod(batch))]
        out = out.reshape(batch + self.coeff_shape)
        out *= self._scale
        return out

    def _scatter(self, c: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Coefficients (..., n_coef) -> ((Q, W, 4B) real blocks, batch shape): the block of
        order m holds n_m (c_{l,m} - i c_{l,-m}) at row offset + (l - m) / 2 of its pair,
        slot, batch and real / imaginary part on the last axis."""
        batch = c.shape[:-1]
        B = math.prod(batch)
        blk = np.zeros((len(self._pair), self._width, 4 * B))
        blk.reshape(-1)[self._index("block", B)] = (c * self._scale).reshape(-1)
        return blk, batch

    def _index(self, kind: str, B: int) -> np.ndarray:
        """Flat gather / scatter positions of the layout moves for batch size B, as
        ``mul * B + add + step * b`` from B-free parts (the last B of each kind is cached
        when small):

        * ``block``: coefficients (B, n_coef) in the (Q, W, 4B) real blocks;
        * ``spectrum``: the pair layout (Q, n_r, 2, B) from an rfft (B, n_r, nphi // 2 + 1);
        * ``field_spectrum``: (Q, 2, n_r, 2, B), orders +m and -m, from an fft (B, n_r, nphi);
        * ``grid``: an irfft input (B, n_r, nphi // 2 + 1) from pair spectra (Q, n_r, 2, B);
        * ``field``: an fft input (B, n_r, nphi) from pair spectra (Q, 2, n_r, 2, B)."""
        cached = self._index_cache.get(kind)
        if cached is not None and cached[0] == B:
            return cached[1]
        if kind not in self._index_parts:
            self._index_parts[kind] = self._index_part(kind)
        mul, add, step, bshape = self._index_parts[kind]
        idx = mul * B + add + step * np.arange(B).reshape(bshape)
        idx = idx.reshape(-1) if kind == "block" else idx
        if idx.size <= 1 << 20:
            self._index_cache[kind] = (B, idx)
        return idx

    def _index_part(self, kind: str) -> tuple:
        """(mul, add, step, shape of the batch axis) of :meth:`_index`. An empty slot reads
        order 0 (its products are never gathered); a frequency above lmax reads the second
        slot of pair 0, an exact zero."""
        n_r, n, L = self.n_r, self.nphi, self.lmax
        j = np.arange(n_r)[:, None]
        if kind == "block":
            return self._row * 4 + self._cslot * 2, self._part, 2, (-1, 1)
        mq = np.where(self._pair >= 0, self._pair, 0)  # (Q, 2): order in (pair, slot)
        if kind == "spectrum":
            nf = n // 2 + 1
            return 0, j[..., None] * nf + mq[:, None, :, None], n_r * nf, (-1,)
        if kind == "field_spectrum":
            f = np.stack([mq, (n - mq) % n], axis=1)[:, :, None, :, None]  # (Q, 2, 1, 2, 1)
            return 0, j[..., None] * n + f, n_r * n, (-1,)
        freq = np.arange(n // 2 + 1 if kind == "grid" else n)
        m = np.where(freq <= L, freq, n - freq)  # the order at each frequency
        pad = m > L
        mm = np.where(pad, 0, m)
        q = np.where(pad, 0, self._grp[mm])
        s = np.where(pad, 1, self._slot[mm])
        if kind == "field":
            q = q * 2 + ((freq > L) & ~pad)  # orders -m: the second (conjugated) spectrum
        return (q * n_r + j) * 2 + s, 0, 1, (-1, 1, 1)

    def _synthesize(self, blk: np.ndarray, Bmat: np.ndarray) -> np.ndarray:
        """Radial sums sum_w Bmat[q, j, w] blk[q, w]: (Q, J, 2, B) complex (slot, batch)."""
        G = (Bmat @ blk).view(complex)
        return G.reshape(G.shape[:2] + (2, blk.shape[-1] // 4))

    def _to_grid(self, G: np.ndarray, batch: tuple) -> np.ndarray:
        """Real grid values sum_m Re(G_m e^{i m phi}) (*batch, n_r, nphi) from the pair
        spectrum G (Q, n_r, 2, B) (the irfft normalization is in the synthesis matrices)."""
        H = np.take(G, self._index("grid", G.shape[-1]))
        return scipy.fft.irfft(H, n=self.nphi, axis=-1).reshape(batch + self.shape)

    def _to_field(self, G: np.ndarray, batch: tuple) -> np.ndarray:
        """The field v_theta + i v_phi (*batch, n_r, nphi) from the pair spectra G
        (Q, 2, n_r, 2, B) of its orders +m and (conjugated) -m, by one inverse FFT."""
        H = np.take(G, self._index("field", G.shape[-1]))
        neg = H[..., self.nphi - self.lmax:]
        np.conjugate(neg, out=neg)
        return scipy.fft.ifft(H, axis=-1).reshape(batch + self.shape)

    def _spectrum(self, f: np.ndarray) -> np.ndarray:
        """sum_p f(j, p) e^{-i m phi_p} for real grid values f (..., n_r, nphi), in the pair
        layout (Q, n_r, 2, B) complex of :meth:`_analyze`."""
        F = scipy.fft.rfft(f.reshape((-1,) + self.shape), axis=-1)
        return np.take(F, self._index("spectrum", F.shape[0]))

    def _field_spectrum(self, w: np.ndarray) -> np.ndarray:
        """The orders +m and (conjugated) -m of a complex field w (..., n_r, nphi) by one
        FFT, in the pair layout (Q, 2, n_r, 2, B) complex (the adjoint of :meth:`_to_field`)."""
        W = scipy.fft.fft(w.reshape((-1,) + self.shape), axis=-1)
        X = np.take(W, self._index("field_spectrum", W.shape[0]))
        neg = X[:, 1]
        np.conjugate(neg, out=neg)
        return X

    def forward(self, f: np.ndarray) -> np.ndarray:
        """Grid values (..., n_r, nphi) -> coefficients int f Q_i d sigma (quadrature).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> x1 = b.points[..., 0]
        >>> c = b.forward(x1)  # x_1 = r cos phi = sqrt(Z_1 / 2) Q_{1,1}, Z_1 = E[r^2] = 2/5
        >>> np.round(c[:3], 12) + 0
        array([0.       , 0.4472136, 0.       ])
        """
        f = self._check_grid(f)
        return self._analyze(self._spectrum(f), self._A0, f.shape[:-2])

    def backward(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., n_coef) -> grid values (..., n_r, nphi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> f = b.points[..., 0] * b.points[..., 1] + 1.0
        >>> bool(np.allclose(b.backward(b.forward(f)), f))
        True
        """
        blk, batch = self._scatter(self._check_coeffs(c))
        return self._to_grid(self._synthesize(blk, self._B0), batch)

    def harmonics(self, where) -> np.ndarray:
        """Values Q_i(x) of every basis function at ambient points x (..., dim):
        shape (*where.shape[:-1], n_coef). Only x_1, x_2 are used (|(x_1, x_2)| <= 1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(4, 2)  # d = 4: s = r^2 uniform on [0, 1], Z_1 = 1/2
        >>> q = b.harmonics(np.array([0.6, 0.0, 0.8, 0.0]))
        >>> bool(np.isclose(q[b.index(1, 1)], np.sqrt(2) * 0.6 / np.sqrt(0.5)))
        True
        """
        x = np.asarray(where, dtype=float)
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"points must have shape (..., {self.dim}), got {x.shape}")
        flat = x.reshape(-1, self.dim)
        r = np.hypot(flat[:, 0], flat[:, 1])
        if np.any(r > 1 + 1e-12) or not np.all(np.isfinite(r)):
            raise ValueError("points must lie on the unit sphere: |(x_1, x_2)| <= 1")
        r = np.minimum(r, 1.0)
        phi = np.arctan2(flat[:, 1], flat[:, 0])
        M, K = self._nm
        m = np.arange(M, dtype=float)
        b, c = shifted_jacobi_recurrence(K, self.a, m)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_r = np.where(r > 0, np.log(np.where(r > 0, r, 1.0)), -np.inf)[:, None]
            log_pre = np.where(m[None, :] == 0, 0.0, m[None, :] * log_r) - 0.5 * self._log_z
        R = radial_values((r * r)[:, None], K - 1, b, c, log_pre)  # (N, M, K)
        mabs = np.abs(self.orders)
        ang = np.where(self.orders > 0, _SQRT2 * np.cos(mabs * phi[:, None]),
                       np.where(self.orders < 0, _SQRT2 * np.sin(mabs * phi[:, None]), 1.0))
        kk = (self.degrees - mabs) // 2
        out = R[:, mabs, kk] * ang
        return out.reshape(x.shape[:-1] + (self.degrees.size,))

    def evaluate(self, c: np.ndarray, where) -> np.ndarray:
        """The series c (..., n_coef) at ambient points (..., dim) (only x_1, x_2 matter).

        Returns shape (*c.shape[:-1], *where.shape[:-1]).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> c = b.forward(b.points[..., 0] ** 2)
        >>> x = np.array([[0.6, 0.0, 0.8, 0, 0], [0.0, 0.6, 0.0, 0.8, 0]])
        >>> np.round(b.evaluate(c, x), 12) + 0
        array([0.36, 0.  ])
        """
        c = self._check_coeffs(c)
        x = np.asarray(where, dtype=float)
        flat = x.reshape(-1, x.shape[-1]) if x.ndim else x
        out = np.empty(c.shape[:-1] + (flat.shape[0],))
        step = 4096
        for lo in range(0, flat.shape[0], step):
            Q = self.harmonics(flat[lo:lo + step])
            out[..., lo:lo + step] = c @ Q.T
        return out.reshape(c.shape[:-1] + x.shape[:-1])

    def from_function(self, f, *, check: bool = True, n_rotations: int = 3,
                      tol: float = 1e-10, seed: int = 0) -> np.ndarray:
        """Grid values of a function f(x) of ambient points x (..., dim) on S^{dim-1}.

        With ``check`` (default), f is also evaluated at the grid points with
        z = (x_3..x_d) turned by ``n_rotations`` random rotations and the reflection
        z -> -z; a ValueError is raised if f is not planar, i.e. varies at fixed (x_1, x_2)
        by more than ``tol`` relative to max(1, max |f|).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> f = b.from_function(lambda x: x[..., 0] ** 2 + x[..., 1])
        >>> f.shape, round(float(b.integrate(f)), 12)  # int x_1^2 d sigma = 1/5
        ((4, 15), 0.2)
        >>> b.from_function(lambda x: x[..., 2])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the function is not planar ...
        """
        if not callable(f):
            raise TypeError(f"f must be a callable of points x with shape (..., {self.dim})")
        pts = self.points.copy()
        vals = np.array(f(pts.copy()), dtype=float)  # a copy: f may return a view of x
        if vals.shape != self.shape:
            raise ValueError(f"f must return one value per point, shape {self.shape}, "
                             f"got {vals.shape}")
        if check:
            rng = np.random.default_rng(seed)
            height = pts[..., 2].copy()
            dirs = [-np.eye(self.dim - 2)[0]]
            if self.dim >= 4:
                for _ in range(n_rotations):
                    u = rng.standard_normal(self.dim - 2)
                    dirs.append(u / np.linalg.norm(u))
            scale = max(1.0, float(np.max(np.abs(vals))))
            for u in dirs:
                pts[..., 2:] = height[..., None] * u
                dev = np.abs(np.asarray(f(pts.copy()), dtype=float) - vals)
                if not float(np.max(dev)) <= tol * scale:
                    j = np.unravel_index(int(np.argmax(dev)), self.shape)
                    raise ValueError(
                        "the function is not planar (not a function of (x_1, x_2) alone): at "
                        f"r = {self.r[j[0]]:.6g}, phi = {self.phi[j[1]]:.6g} it varies by "
                        f"{float(np.max(dev)):.3e} between points of the same (x_1, x_2); "
                        "PlanarBasis holds densities invariant under rotations of x_3..x_d "
                        "only")
        return vals

    # -- calculus ---------------------------------------------------------------------
    def grad(self, c: np.ndarray) -> np.ndarray:
        """Tangent gradient as w = v_theta + i v_phi (complex), layout (1, *batch, n_r, nphi):
        v_theta = sqrt(1 - r^2) d_r f, v_phi = d_phi f / r.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> r, phi = b.grid
        >>> w = b.grad(b.forward(r**2))  # grad r^2 = 2 r sqrt(1 - r^2) e_theta
        >>> w.shape, bool(np.allclose(w, 2 * r * np.sqrt(1 - r**2)))
        ((1, 4, 15), True)
        """
        blk, batch = self._scatter(self._check_coeffs(c))
        G = self._synthesize(blk, self._Bgrad)
        return self._to_field(G.reshape((G.shape[0], 2, self.n_r) + G.shape[2:]), batch)[None]

    def div(self, v: np.ndarray) -> np.ndarray:
        """Coefficients of div v for a field w = v_theta + i v_phi in the layout
        (1, *batch, n_r, nphi), taken weakly: (div v)_i = -int v . grad Q_i d sigma.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> c = b.forward(b.from_function(lambda x: x[..., 0] * x[..., 1] ** 2 + x[..., 1]))
        >>> bool(np.allclose(b.div(b.grad(c)), b.laplacian * c))  # div grad = -l(l+d-2)
        True
        >>> bool(b.div(b.grad(c))[0] == 0)  # a divergence has no mass, exactly
        True
        """
        v = np.asarray(v)
        if v.ndim < 3 or v.shape[0] != 1:
            raise ValueError("a planar tangent field has the layout (1, *batch, n_r, nphi) "
                             f"(complex: v_theta + i v_phi), got shape {v.shape}")
        w = self._check_grid(v[0], "vector field values", dtype=complex)
        # the phi part: -int v_phi (1/r) d_phi Q; _Adiv carries the factor m of d_phi
        return self._analyze(self._field_spectrum(w), self._Adiv, w.shape[:-2])

    def vector_norm(self, v: np.ndarray) -> np.ndarray:
        """Pointwise length |v_theta + i v_phi| of a field (1, *batch, n_r, nphi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> x1 = b.points[..., 0]
        >>> g = b.vector_norm(b.grad(b.forward(x1)))  # |grad x_1|^2 = 1 - x_1^2
        >>> bool(np.allclose(g, np.sqrt(1 - x1**2)))
        True
        """
        return np.abs(np.asarray(v)[0])

    def tangent_components(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(v_theta, v_phi), each (*batch, n_r, nphi), of a field in this layout.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> r, phi = b.grid
        >>> vt, vp = b.tangent_components(b.grad(b.forward(r**2 * np.sin(2 * phi))))
        >>> bool(np.allclose(vp, 2 * r * np.cos(2 * phi)))  # (1/r) d_phi (r^2 sin 2 phi)
        True
        """
        v = np.asarray(v)[0]
        return v.real, v.imag

    def tangent_to_cartesian(self, v: np.ndarray) -> np.ndarray:
        """A field (1, *batch, n_r, nphi) as ambient vectors at ``points``: (*batch, n_r,
        nphi, dim) (components 4..d are zero at the representative points).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> V = b.tangent_to_cartesian(b.grad(b.forward(b.points[..., 0])))
        >>> x = b.points  # grad x_1 = e_1 - x_1 x
        >>> bool(np.allclose(V, np.eye(5)[0] - x[..., :1] * x))
        True
        """
        vt, vp = self.tangent_components(v)
        out = np.zeros(vt.shape + (self.dim,))
        et, ep = self._e_theta, self._e_phi
        out[..., 0] = vt * et[0] + vp * ep[0]
        out[..., 1] = vt * et[1] + vp * ep[1]
        out[..., 2] = vt * et[2]
        return out

    def tangent_from_cartesian(self, u: np.ndarray, tol: float = 1e-10) -> np.ndarray:
        """Ambient vectors u (*batch, n_r, nphi, dim) at ``points`` -> the planar tangent
        field P_x u in this layout (1, *batch, n_r, nphi).

        A planar (O(d-2)-equivariant) field has zero components 4..d at the representative
        points; a ValueError is raised when they exceed ``tol`` relative to max(1, max |u|)
        (the field is not planar and the basis cannot hold it).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> u = np.random.default_rng(0).normal(size=b.points.shape)
        >>> u[..., 3:] = 0.0
        >>> x = b.points
        >>> w = b.tangent_to_cartesian(b.tangent_from_cartesian(u))  # = P_x u
        >>> bool(np.allclose(w, u - np.sum(u * x, -1)[..., None] * x))
        True
        """
        u = np.asarray(u, dtype=float)
        if u.shape[-3:] != self.shape + (self.dim,):
            raise ValueError(f"u must have shape (..., {self.n_r}, {self.nphi}, {self.dim}), "
                             f"got {u.shape}")
        if self.dim > 3 and u.size:
            off = float(np.max(np.abs(u[..., 3:])))
            if not off <= tol * max(1.0, float(np.max(np.abs(u)))):
                raise ValueError(
                    f"the ambient field is not planar: its components x_4..x_d at the grid "
                    f"points reach {off:.3e} (a field of the planar class has none there); "
                    "PlanarBasis holds O(d-2)-invariant densities and fields only")
        et, ep = self._e_theta, self._e_phi
        vt = u[..., 0] * et[0] + u[..., 1] * et[1] + u[..., 2] * et[2]
        vp = u[..., 0] * ep[0] + u[..., 1] * ep[1]
        return (vt + 1j * vp)[None]

    def integrate(self, f: np.ndarray) -> np.ndarray:
        """Integral against sigma over the two grid axes (Gauss–Jacobi x trapezoid).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> x1 = b.points[..., 0]
        >>> round(float(b.integrate(x1**2)), 12), round(float(b.integrate(x1**4)), 12)  # 3/35
        (0.2, 0.085714285714)
        """
        f = self._check_grid(f)
        return np.einsum("...ij,ij->...", f, self.weights)

    def amplitude(self, c: np.ndarray, k: int) -> np.ndarray:
        """Polygon order parameter |<(x_1 + i x_2)^k>| = |int rho r^k e^{ik phi} d sigma|
        (k >= 1; 1 for k clusters at the vertices of a regular k-gon on the unit circle
        of the plane, as |rho_k| on the circle); k = 0: the mass.

        It is sqrt(Z_k / 2) |(c_{k,k}, c_{k,-k})|, rotation invariant in the plane.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> x = b.points
        >>> rho = b.forward(1 + 0.5 * x[..., 0])  # <x_1 + i x_2> = 0.5 <x_1^2> = 0.1
        >>> round(float(b.amplitude(rho, 1)), 12)
        0.1
        """
        k = int(k)
        if not 0 <= k <= self.lmax:
            raise ValueError(f"degree k must be in [0, {self.lmax}], got {k}")
        c = np.asarray(c).real
        if k == 0:
            return c[..., 0]
        pair = c[..., [self.index(k, k), self.index(k, -k)]]
        return math.exp(0.5 * self._log_z[k]) / _SQRT2 * np.linalg.norm(pair, axis=-1)

    def degree_power(self, c: np.ndarray) -> np.ndarray:
        """sqrt(sum_m c_{l,m}^2) per degree l = 0..lmax (O(2)-invariant): (..., lmax+1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(4, 4)
        >>> c = b.forward(b.points[..., 0])  # |x_1|_{L2} = 1/2 on S^3
        >>> np.round(b.degree_power(c), 12) + 0
        array([0. , 0.5, 0. , 0. , 0. ])
        """
        c = np.asarray(c).real
        sel = (self.degrees[None, :] == np.arange(self.lmax + 1)[:, None]).astype(float)
        return np.sqrt((c**2) @ sel.T)

    # -- symmetries -------------------------------------------------------------------
    def rotate(self, c: np.ndarray, angle: float) -> np.ndarray:
        """Coefficients of f(R^{-1} x), f turned by ``angle`` in the (x_1, x_2) plane.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> x = b.points
        >>> c = b.rotate(b.forward(x[..., 0]), np.pi / 2)  # x_1 turned by 90 degrees: x_2
        >>> bool(np.allclose(c, b.forward(x[..., 1])))
        True
        """
        c = self._check_coeffs(c)
        out = c.copy()
        pos = self.orders > 0
        i_c = np.nonzero(pos)[0]
        i_s = np.array([self.index(l, -m) for l, m in zip(self.degrees[pos], self.orders[pos],
                                                          strict=True)], dtype=int)
        ma = self.orders[pos] * float(angle)
        co, si = np.cos(ma), np.sin(ma)
        out[..., i_c] = c[..., i_c] * co - c[..., i_s] * si
        out[..., i_s] = c[..., i_c] * si + c[..., i_s] * co
        return out

    def rotation_generators(self, c: np.ndarray) -> list[np.ndarray]:
        """The one continuous symmetry left: the in-plane rotation, -d/dphi applied to c
        (d/dangle of ``rotate(c, angle)`` at 0; exact). Zero for radial densities.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> x = b.points
        >>> (g,) = b.rotation_generators(b.forward(x[..., 0]))  # -d/dphi (r cos phi) = x_2
        >>> bool(np.allclose(g, b.forward(x[..., 1])))
        True
        >>> (g,) = b.rotation_generators(b.forward(x[..., 0]**2 + x[..., 1]**2))
        >>> bool(np.allclose(g, 0))
        True
        """
        c = self._check_coeffs(c)
        out = np.zeros_like(c)
        pos = self.orders > 0
        i_c = np.nonzero(pos)[0]
        i_s = np.array([self.index(l, -m) for l, m in zip(self.degrees[pos], self.orders[pos],
                                                          strict=True)], dtype=int)
        m = self.orders[pos]
        out[..., i_c] = -m * c[..., i_s]
        out[..., i_s] = m * c[..., i_c]
        return [out]

    # -- resolution changes -----------------------------------------------------------
    def with_max_degree(self, max_degree: int) -> PlanarBasis:
        """A basis of the same kind (same dim and dealias) keeping degrees <= max_degree.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.PlanarBasis(5, 4).with_max_degree(8)
        PlanarBasis(dim=5, lmax=8, dealias=1.5, grid=7x25)
        """
        return PlanarBasis(self.dim, int(max_degree), dealias=self.dealias)

    def convert(self, c: np.ndarray, other: PlanarBasis) -> np.ndarray:
        """Coefficients c of this basis expressed in ``other`` (zero-padded or truncated).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> c = b.forward(b.points[..., 0] ** 3)
        >>> big = b.with_max_degree(8)
        >>> cb = b.convert(c, big)
        >>> cb.shape, bool(np.allclose(big.backward(cb), big.points[..., 0] ** 3))
        ((45,), True)
        """
        if not isinstance(other, PlanarBasis) or other.dim != self.dim:
            raise ValueError(f"can only convert to a PlanarBasis with dim={self.dim}, "
                             f"got {other!r}")
        c = np.asarray(c)
        out = np.zeros(c.shape[:-1] + other.coeff_shape)
        n = (min(self.lmax, other.lmax) + 1) * (min(self.lmax, other.lmax) + 2) // 2
        out[..., :n] = c[..., :n].real
        return out

    # -- real coordinates (Newton, continuation, stability) --------------------------------
    @property
    def real_orders(self) -> np.ndarray:
        """Signed order m of each real coordinate.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.PlanarBasis(5, 2).real_orders.tolist()
        [1, -1, 2, -2, 0]
        """
        return self.orders[1:]

    def subspace_mask(self, symmetric: bool = False, period: int = 1) -> np.ndarray:
        """Real coordinates spanning an invariant subspace of planar densities.

        ``period`` p: densities invariant under the rotation by 2 pi / p in the plane
        (m in pZ); ``symmetric``: also invariant under the reflection phi -> -phi
        (x_2 -> -x_2: the cosine part, m >= 0), which removes the rotation.

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> int(b.subspace_mask().sum()), int(b.subspace_mask(symmetric=True).sum())
        (14, 8)
        >>> b.real_orders[b.subspace_mask(symmetric=True, period=3)].tolist()  # (2,0), (3,3), (4,0)
        [0, 3, 0]
        """
        if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
            raise ValueError(f"period must be an integer >= 1, got {period!r}")
        m = self.real_orders
        mask = m % period == 0
        if symmetric:
            mask &= m >= 0
        return mask

    def branch_mask(self, k: int) -> np.ndarray:
        """The subspace of the k-cluster polygon branch born at mode k: D_k symmetry (orders
        in kZ, cosine part; the k-gon with a vertex on e_1). For even k the mode-k kernel in
        it is two-dimensional ((k, k) and (k, 0)); branch switching fixes (k, k).

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> [(int(b.real_degrees[i]), int(b.real_orders[i])) for i in b.branch_mask(3).nonzero()[0]]
        [(2, 0), (3, 3), (4, 0)]
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"mode k must be >= 1, got {k}")
        return self.subspace_mask(symmetric=True, period=k)

    def branch_types(self, k: int) -> list:
        """The isotropy types of the mode-k branches from rho = 1 in this class.

        The degree-k planar harmonics have orders m = k, k-2, ... and the equivariant
        branching lemma (see :mod:`meanfield.isotropy`) gives a branch for each subgroup
        whose fixed-point subspace meets them in one dimension:

        * ``O(d-1)``, zonal about e_1 (a function of x_1; k = 1: the 1-cluster state),
          traced among zonal densities (``ZonalBasis(dim, lmax)``, embedded exactly);
        * ``D_k x O(d-2)`` for odd k >= 3: k clusters at the vertices of a regular k-gon in
          the (x_1, x_2) plane (orders in kZ, cosine part);
        * ``O(2) x O(d-2)`` for even k: a ring, a function of x_1^2 + x_2^2 (m = 0);
        * ``D_k x O(d-2)`` for even k >= 4: the k-gon, whose fixed-point subspace meets the
          eigenspace in the plane of (k, 0) and (k, k); its direction is the root of the
          quadratic bifurcation equation off the ring's axis. (For k = 2 that root is the
          zonal branch, listed once.)

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(16, 8)
        >>> [t.name for t in b.branch_types(3)], [t.name for t in b.branch_types(2)]
        (['O(d-1)', 'D_3 x O(d-2)'], ['O(2) x O(d-2)', 'O(d-1)'])
        """
        from ..isotropy import BranchType, degree_norm
        from .zonal import ZonalBasis

        k = int(k)
        if k < 1:
            raise ValueError(f"mode k must be >= 1, got {k}")
        zonal = BranchType(
            "O(d-1)", "zonal about e_1: a function of x_1"
            + (" (one cluster)" if k == 1 else ""),
            subbasis=lambda b: ZonalBasis(b.dim, b.lmax),
            embed=lambda c, sub, b: b.from_zonal(c, sub))
        ring = BranchType("O(2) x O(d-2)", "ring: a function of x_1^2 + x_2^2",
                          mask=lambda b: b.real_orders == 0, amplitude=degree_norm)
        gon = BranchType(f"D_{k} x O(d-2)", f"{k} clusters at the vertices of a regular "
                         f"{k}-gon in the (x_1, x_2) plane",
                         mask=lambda b: b.branch_mask(k), exclude=((k, 0),))
        if k % 2:
            return [zonal] if k == 1 else [zonal, gon]
        return [ring, zonal] if k == 2 else [ring, zonal, gon]

    def from_zonal(self, c: np.ndarray, zonal) -> np.ndarray:
        """Coefficients of the zonal density (about e_1) with ``ZonalBasis`` coefficients c.

        Exact when ``zonal.lmax <= self.lmax`` (a polynomial of degree lmax in x_1 is a
        planar density of the same degree).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b, z = mf.PlanarBasis(6, 6), mf.ZonalBasis(6, 6)
        >>> cz = z.forward(1 + 0.5 * z.grid**3)
        >>> c = b.from_zonal(cz, z)
        >>> bool(np.allclose(b.backward(c), 1 + 0.5 * b.points[..., 0]**3, atol=1e-13))
        True
        """
        if zonal.dim != self.dim or zonal.lmax > self.lmax:
            raise ValueError(f"from_zonal needs a ZonalBasis of dim {self.dim} and lmax <= "
                             f"{self.lmax}, got {zonal!r}")
        return self.forward(zonal.evaluate(np.asarray(c).real, self.points[..., 0]))

    def invariant_blocks(self, c: np.ndarray, rtol: float = 1e-12) -> list[np.ndarray]:
        """Real coordinates split into subspaces the linearization at c leaves invariant.

        Uniform state: every coordinate alone. Otherwise the state's orders (of its
        coefficients above rtol of the largest) have a gcd p: radial states (p = 0) keep
        every |m| apart; a 2 pi / p-periodic state couples |m| = +-r mod p only (the
        circle's classes). When the state is reflection symmetric (cosine part only) each
        class splits further into its cosine and sine parts.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.PlanarBasis(5, 4)
        >>> len(b.invariant_blocks(np.eye(15)[0]))  # uniform
        14
        >>> x = b.points
        >>> len(b.invariant_blocks(b.forward(1 + x[..., 0]**2 + x[..., 1]**2)))  # radial
        9
        >>> [blk.size for blk in b.invariant_blocks(b.forward(1 + x[..., 0]**2))]  # D_2
        [5, 3, 3, 3]
        >>> len(b.invariant_blocks(b.forward(1 + x[..., 0] * x[..., 1] + x[..., 0])))
        1
        """
        c = np.asarray(c).real
        mag = np.abs(c[1:])
        thr = rtol * max(abs(float(c[0])), float(mag.max()) if mag.size else 0.0)
        active = mag > thr
        if not np.any(active):
            return [np.array([i]) for i in range(self.n_real)]
        m = self.real_orders
        mabs = np.abs(m)
        p = int(np.gcd.reduce(mabs[active]))
        parts = [m >= 0, m < 0] if np.all(m[active] >= 0) else [np.ones(m.size, bool)]
        if p == 0:
            classes = [mabs == mm for mm in range(self.lmax + 1)]
        else:
            classes = [np.isin(mabs % p, (r, (p - r) % p)) for r in range(p // 2 + 1)]
        blocks = []
        for cls in classes:
            for part in parts:
                idx = np.nonzero(cls & part)[0]
                if idx.size:
                    blocks.append(idx)
        return blocks
