"""Harmonic basis on the full 3-sphere S^3 (d = 4), in Hopf coordinates.

Convention (DESIGN.md §1): densities are taken with respect to the normalized uniform
measure sigma on S^3, so the uniform state is rho = 1. ``SphereBasis(lmax, dim=4)`` returns
this basis.

Coordinates
-----------
Hopf coordinates x = (cos eta cos xi1, cos eta sin xi1, sin eta cos xi2, sin eta sin xi2),
eta in [0, pi/2], xi1, xi2 in [0, 2 pi). With u = cos 2 eta = x_1^2 + x_2^2 - x_3^2 - x_4^2,

    d sigma = (du / 2) (d xi1 / 2 pi) (d xi2 / 2 pi),   u in [-1, 1].

Coefficients (real, ``coeff_dtype = float64``)
----------------------------------------------
The real orthonormal harmonics (w.r.t. sigma) of degree l = |a1| + |a2| + 2k are

    Z_{a1, a2, k} = Theta_{a1}(xi1) Theta_{a2}(xi2) R_k^{|a1|, |a2|}(u),
    Theta_0 = 1, Theta_a = sqrt(2) cos(a xi), Theta_{-a} = sqrt(2) sin(a xi)  (a >= 1),
    R_k^{p, q}(u) = cos^p(eta) sin^q(eta) P_k^{(q, p)}(u) / h_k,

with P_k^{(alpha, beta)} the Jacobi polynomials of the weight (1 - u)^alpha (1 + u)^beta
(alpha = |a2|, the power of sin^2 eta = (1 - u)/2; beta = |a1|) and h_k the normalization
int R^2 du/2 = 1. R is computed by the orthonormal three-term recurrence of that weight
started from R_0 = cos^p sin^q / sqrt(B(q + 1, p + 1)) (in logarithms), never through
P_k or h_k separately. The coefficients are ordered by degree (nested: the first entries
are the degrees <= L, so ``convert`` pads / truncates), index 0 is the mass, Parseval is a
dot product. ``degrees``, ``orders1`` (a1), ``orders2`` (a2) and ``radial`` (k) label them.

Grid and transforms
-------------------
Gauss–Legendre in u (n_u nodes, eta ascending) times equispaced xi1, xi2 (n_xi points
each). With D = ceil(2 dealias lmax) (3 lmax at the default dealias = 1.5), n_xi >= D + 1
(FFT-friendly) and 2 n_u - 1 >= floor(D/2) (the xi-average of a degree-D polynomial is a
polynomial of degree D/2 in u), so the quadrature integrates products of three degree-lmax
functions exactly (the USA flux rho grad U tested against grad Z). Grid arrays have shape
(n_u, n_xi, n_xi); ``grid`` = (eta, xi1, xi2) as three such arrays; ``points``
(n_u, n_xi, n_xi, 4); ``weights`` sum to 1. ``forward`` is the quadrature projection
int f Z_i d sigma: two real FFTs (xi2, then xi1) and one radial (Jacobi) matrix per
(|a1|, |a2|) applied as batched matmuls; ``backward`` is its transpose. Batch axes lead.

Calculus
--------
A tangent field is stored by its components in the orthonormal frame
(e_eta, e_xi1, e_xi2), e_eta = d x / d eta, e_xi1 = (-sin xi1, cos xi1, 0, 0),
e_xi2 = (0, 0, -sin xi2, cos xi2), in the real layout (3, *batch, n_u, n_xi, n_xi):

    grad f = (d_eta f, d_xi1 f / cos eta, d_xi2 f / sin eta).

The Gauss nodes in u avoid the coordinate singularities eta = 0, pi/2. ``div`` is taken
weakly, as the quadrature adjoint of ``grad``: (div v)_i = -int v . grad Z_i d sigma, so
its mass coefficient is exactly 0 and div(grad c) = -l(l + 2) c to round-off.

Symmetries
----------
Zonal densities are taken about e_1 (functions of x_1). They are not a coordinate
subspace in Hopf coordinates (a harmonic of x_1 mixes several (a1, k)); the smallest
coordinate subspace holding them is a2 = 0, a1 >= 0: densities of (x_1, x_2) even in x_2
(invariant under the rotations of the (x_3, x_4)-plane and the reflection x_2 -> -x_2).
That is ``subspace_mask(symmetric=True)`` and ``branch_mask(1)``; see ``branch_mask`` for
k >= 2. ``amplitude(c, k)`` = <P_k(x . e_1)> (P_k(t) = U_k(t) / (k + 1), the Gegenbauer
polynomial of S^3 with P_k(1) = 1), as on ``ZonalBasis(4, lmax)``. ``rotation_generators``
are the six L_ij f = x_i d_j f - x_j d_i f.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
from scipy.special import gammaln, roots_legendre

from ._real import RealOrthonormalSeries

#: largest memory (bytes) of the arrays a Sphere3Basis holds (grid, frames, radial
#: tensors): 2 GiB, lmax <= 101 at dealias 1.5; larger requests are refused up front
MAX_BASIS_BYTES = 1 << 31
_BYTES_PER_POINT = 8 * 24  # grid, points, weights, the three frame vectors, 1/cos, 1/sin


def _check_int(value, name: str, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int >= {minimum} ({what}), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} ({what}), got {value}")
    return int(value)


def grid_sizes(lmax: int, dealias: float) -> tuple[int, int]:
    """(n_u, n_xi) of the grid of Sphere3Basis(lmax, dealias) (module docstring).

    Examples
    --------
    >>> from meanfield.bases.sphere3 import grid_sizes
    >>> grid_sizes(16, 1.5)  # exact for degree 48: n_xi >= 49, 2 n_u - 1 >= 24
    (13, 50)
    """
    D = max(2 * lmax, math.ceil(2 * dealias * lmax - 1e-9))
    n_u = max(lmax // 2 + 1, (D // 2 + 2) // 2)
    return n_u, int(sfft.next_fast_len(D + 1, real=True))


def footprint(lmax: int, dealias: float) -> int:
    """Bytes of the arrays a Sphere3Basis(lmax, dealias) holds (grid and radial tensors).

    Examples
    --------
    >>> from meanfield.bases.sphere3 import footprint
    >>> footprint(16, 1.5) < 2**27  # ~ 70 MB
    True
    """
    n_u, n_xi = grid_sizes(lmax, dealias)
    radial = 2 * 8 * (lmax + 1) ** 2 * n_u * (lmax // 2 + 1)
    return n_u * n_xi * n_xi * _BYTES_PER_POINT + radial


def radial_functions(lmax: int, u, eta=None):
    """R_k^{p, q}(u) for p, q = 0..lmax, k = 0..lmax//2 (zero where p + q + 2k > lmax).

    Returns an array (lmax + 1, lmax + 1, *u.shape, lmax//2 + 1); with ``eta`` (the
    matching eta = arccos(u)/2, away from 0 and pi/2) also d/d eta of them.

    Examples
    --------
    R_0^{0,0} = 1, R_1^{0,0} = sqrt(3) u (orthonormal Legendre), R_0^{1,0} = sqrt(2) cos eta:

    >>> import numpy as np
    >>> from meanfield.bases.sphere3 import radial_functions
    >>> u = np.array([0.3])
    >>> R = radial_functions(2, u)
    >>> R.shape
    (3, 3, 1, 2)
    >>> bool(np.allclose([R[0, 0, 0, 0], R[0, 0, 0, 1], R[1, 0, 0, 0]],
    ...                  [1.0, np.sqrt(3) * 0.3, np.sqrt(2) * np.sqrt(1.3 / 2)]))
    True
    """
    u = np.asarray(u, dtype=float)
    K = lmax // 2 + 1
    p = np.arange(lmax + 1, dtype=float)[:, None]
    q = np.arange(lmax + 1, dtype=float)[None, :]
    ext = (Ellipsis,) + (None,) * u.ndim
    cos2, sin2 = np.maximum((1 + u) / 2, 0.0), np.maximum((1 - u) / 2, 0.0)
    with np.errstate(divide="ignore"):
        lc, ls = 0.5 * np.log(cos2), 0.5 * np.log(sin2)
    log_b = gammaln(q + 1) + gammaln(p + 1) - gammaln(p + q + 2)
    with np.errstate(invalid="ignore"):
        log_r0 = p[ext] * lc + q[ext] * ls - 0.5 * log_b[ext]
    r0 = np.exp(np.nan_to_num(log_r0, nan=-np.inf))  # 0 * log 0 = 0
    r0 = np.where((p == 0)[ext] & (q == 0)[ext], 1.0, r0)
    out = np.zeros((lmax + 1, lmax + 1) + u.shape + (K,))
    d_out = np.zeros_like(out) if eta is not None else None
    alpha, beta = q, p  # weight (1 - u)^alpha (1 + u)^beta
    r_prev, r = np.zeros_like(r0), r0
    if eta is not None:
        eta = np.asarray(eta, dtype=float)
        du = -2.0 * np.sin(2 * eta)
        s_prev, s = np.zeros_like(r0), (-p[ext] * np.tan(eta) + q[ext] / np.tan(eta)) * r0
    for k in range(K):
        out[..., k] = r
        if eta is not None:
            d_out[..., k] = s
        if k + 1 == K:
            break
        n = 2 * k + alpha + beta
        a_k = (beta - alpha) / (alpha + beta + 2) if k == 0 else \
            (beta**2 - alpha**2) / (n * (n + 2))
        b_next = np.sqrt(4 * (k + 1) * (k + 1 + alpha) * (k + 1 + beta) * (k + 1 + alpha + beta)
                         / ((n + 2) ** 2 * (n + 3) * (n + 1)))
        b_k = np.zeros_like(b_next) if k == 0 else np.sqrt(
            4 * k * (k + alpha) * (k + beta) * (k + alpha + beta) / (n**2 * (n + 1) * (n - 1)))
        r_next = ((u - a_k[ext]) * r - b_k[ext] * r_prev) / b_next[ext]
        if eta is not None:
            s_next = (du * r + (u - a_k[ext]) * s - b_k[ext] * s_prev) / b_next[ext]
            s_prev, s = s, s_next
        r_prev, r = r, r_next
    keep = (p + q)[..., None] + 2 * np.arange(K) <= lmax  # (L+1, L+1, K)
    keep = keep.reshape(keep.shape[:2] + (1,) * u.ndim + (K,))
    out *= keep
    if eta is not None:
        d_out *= keep
        return out, d_out
    return out


def _angular_index(a: np.ndarray, lmax: int) -> np.ndarray:
    """Position of signed order a in the angular layout: a >= 0 at a, a < 0 at lmax + |a|."""
    return np.where(a >= 0, a, lmax - a)


class Sphere3Basis(RealOrthonormalSeries):
    """Pseudo-spectral harmonic basis on the full 3-sphere (module docstring).

    Parameters
    ----------
    lmax : int
        Highest degree kept (>= 1); (lmax + 1)(lmax + 2)(2 lmax + 3)/6 real coefficients.
        A basis beyond ``MAX_BASIS_BYTES`` raises MemoryError up front.
    dealias : float
        Grid factor (>= 1): the grid integrates degree ceil(2 dealias lmax) exactly; 1.5
        (default) integrates the quadratic USA flux exactly.
    nthreads : int
        Workers of scipy.fft per transform (0: all hardware threads).

    Attributes
    ----------
    eta, xi : ndarray (n_u,), (n_xi,)
        Hopf angle eta of the Gauss nodes (ascending) and the equispaced xi1 = xi2 values.
    grid : tuple of three ndarrays (n_u, n_xi, n_xi)
        (eta, xi1, xi2) at every node.
    points : ndarray (n_u, n_xi, n_xi, 4)
        The grid as unit vectors.
    weights : ndarray (n_u, n_xi, n_xi)
        Quadrature weights of sigma (sum 1).
    degrees, orders1, orders2, radial : ndarray (n_coef,)
        Degree l, signed orders a1, a2 (negative: the sine part) and radial index k.
    laplacian : ndarray (n_coef,)
        Laplace–Beltrami eigenvalue -l(l + 2) of each coefficient.
    reliable_nodes : ndarray of bool (n_u, n_xi, n_xi)
        All True (Gauss–Legendre weights are never negligible).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> b = mf.SphereBasis(8, dim=4)
    >>> b
    Sphere3Basis(lmax=8, dealias=1.5, grid=7x25x25)
    >>> round(float(b.integrate(b.points[..., 0] ** 2)), 14)  # int x_1^2 d sigma = 1/4
    0.25
    """

    dim = 4
    coeff_dtype = np.float64
    is_zonal = False
    #: the class of densities held (and of perturbations its spectra cover)
    restriction = "all"

    def __init__(self, lmax: int, dealias: float = 1.5, nthreads: int = 1) -> None:
        self.lmax = _check_int(lmax, "lmax", 1, "the highest harmonic degree on S^3")
        try:
            dealias = float(dealias)
        except (TypeError, ValueError):
            raise TypeError(f"dealias must be a number >= 1, got {dealias!r}") from None
        if not (np.isfinite(dealias) and dealias >= 1.0):
            raise ValueError(f"dealias must be a finite number >= 1, got {dealias}")
        self.dealias = dealias
        self.nthreads = _check_int(nthreads, "nthreads", 0, "0 = all hardware threads")
        self._workers = self.nthreads if self.nthreads > 0 else -1
        self._check_size()
        self._build_grid()
        self._build_layout()

    def _check_size(self) -> None:
        L, dealias = self.lmax, self.dealias
        need = footprint(L, dealias)
        if need <= MAX_BASIS_BYTES:
            return
        most = L
        while most > 1 and footprint(most, dealias) > MAX_BASIS_BYTES:
            most = int(most * 0.9)
        while footprint(most + 1, dealias) <= MAX_BASIS_BYTES:
            most += 1
        raise MemoryError(
            f"Sphere3Basis(lmax={L}, dealias={dealias:g}) needs ~{need / 2**30:.3g} GiB for "
            f"the basis alone (grid {grid_sizes(L, dealias)[0]} x {grid_sizes(L, dealias)[1]}"
            f"^2, several times that for a run), beyond meanfield.bases.sphere3."
            f"MAX_BASIS_BYTES = {MAX_BASIS_BYTES}: use lmax in [1, {most}] (the kernel needs "
            "model.required_degree(1e-12)), or a ZonalBasis(4, lmax) for zonal densities")

    def _build_grid(self) -> None:
        L = self.lmax
        self.n_u, self.n_xi = grid_sizes(L, self.dealias)
        x, w = roots_legendre(self.n_u)
        u = x[::-1].copy()  # eta ascending
        self.u = u
        self.eta = 0.5 * np.arccos(u)
        self.xi = 2 * np.pi * np.arange(self.n_xi) / self.n_xi
        et, x1, x2 = np.meshgrid(self.eta, self.xi, self.xi, indexing="ij")
        self.grid = (et, x1, x2)
        ce, se = np.cos(et), np.sin(et)
        c1, s1, c2, s2 = np.cos(x1), np.sin(x1), np.cos(x2), np.sin(x2)
        self.points = np.stack([ce * c1, ce * s1, se * c2, se * s2], axis=-1)
        self._w_u = w[::-1] / 2  # du/2 weights, sum 1
        self.weights = np.broadcast_to((self._w_u / self.n_xi**2)[:, None, None],
                                       self.shape).copy()
        self.reliable_nodes = np.ones(self.shape, dtype=bool)
        zero = np.zeros_like(et)
        self._frame = np.stack([  # (3, n_u, n_xi, n_xi, 4): e_eta, e_xi1, e_xi2
            np.stack([-se * c1, -se * s1, ce * c2, ce * s2], axis=-1),
            np.stack([-s1, c1, zero, zero], axis=-1),
            np.stack([zero, zero, -s2, c2], axis=-1)])
        self._inv_cos = (1.0 / np.cos(self.eta))[:, None, None]
        self._inv_sin = (1.0 / np.sin(self.eta))[:, None, None]
        R, dR = radial_functions(L, u, self.eta)  # (L+1, L+1, n_u, K)
        self._R, self._dR = R, dR
        self._Rw = R * self._w_u[:, None]  # analysis: weighted by du/2

    def _build_layout(self) -> None:
        L = self.lmax
        rows = []
        for l in range(L + 1):
            for a1 in range(-l, l + 1):
                for a2 in range(-(l - abs(a1)), l - abs(a1) + 1):
                    if (l - abs(a1) - abs(a2)) % 2 == 0:
                        rows.append((l, a1, a2, (l - abs(a1) - abs(a2)) // 2))
        t = np.array(rows, dtype=int)
        self.degrees, self.orders1, self.orders2, self.radial = t.T.copy()
        self.laplacian = -(self.degrees * (self.degrees + 2)).astype(float)
        self._i1 = _angular_index(self.orders1, L)
        self._i2 = _angular_index(self.orders2, L)
        a = np.arange(2 * L + 1)
        self._signed = np.where(a <= L, a, L - a)  # signed order at each angular position
        self._abs = np.abs(self._signed)

    # -- shapes -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of a grid function: (n_u, n_xi, n_xi).

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.SphereBasis(4, dim=4).shape
        (4, 15, 15)
        """
        return (self.n_u, self.n_xi, self.n_xi)

    @property
    def coeff_shape(self) -> tuple[int]:
        """Shape of a coefficient array: ((lmax + 1)(lmax + 2)(2 lmax + 3)/6,).

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.SphereBasis(4, dim=4).coeff_shape  # 1 + 4 + 9 + 16 + 25
        (55,)
        """
        return (self.degrees.size,)

    def __repr__(self) -> str:
        return (f"Sphere3Basis(lmax={self.lmax}, dealias={self.dealias}, "
                f"grid={self.n_u}x{self.n_xi}x{self.n_xi})")

    def index(self, a1: int, a2: int, k: int) -> int:
        """Position of the coefficient Z_{a1, a2, k} (degree |a1| + |a2| + 2k).

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> b.index(0, 0, 0), int(b.degrees[b.index(1, -2, 0)])
        (0, 3)
        """
        hit = np.nonzero((self.orders1 == a1) & (self.orders2 == a2) & (self.radial == k))[0]
        if hit.size == 0:
            raise ValueError(f"(a1, a2, k) = ({a1}, {a2}, {k}) is not in the basis "
                             f"(lmax={self.lmax})")
        return int(hit[0])

    # -- validation, padded layout, the transforms ----------------------------------------
    def _check_grid(self, f, name: str = "grid values") -> np.ndarray:
        f = np.asarray(f, dtype=float)
        if f.shape[-3:] != self.shape:
            raise ValueError(f"{name} must have trailing grid shape {self.shape} "
                             f"(n_u, n_xi, n_xi) = basis.shape, got shape {f.shape}")
        return f

    def _pad(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., n_coef) -> the padded (..., 2L+1, 2L+1, K) angular layout."""
        L = self.lmax
        out = np.zeros(c.shape[:-1] + (2 * L + 1, 2 * L + 1, L // 2 + 1))
        out[..., self._i1, self._i2, self.radial] = c
        return out

    def _unpad(self, C: np.ndarray) -> np.ndarray:
        return C[..., self._i1, self._i2, self.radial]

    def _quadrants(self):
        """(slice of i1, slice of i2, slice of p, slice of q) of the four sign quadrants."""
        L = self.lmax
        cos, sin = slice(0, L + 1), slice(L + 1, 2 * L + 1)
        full, tail = slice(0, L + 1), slice(1, L + 1)
        return [(cos, cos, full, full), (sin, cos, tail, full), (cos, sin, full, tail),
                (sin, sin, tail, tail)]

    def _radial_synth(self, C: np.ndarray, R: np.ndarray) -> np.ndarray:
        """sum_k R[p, q, j, k] C[..., i1, i2, k] -> (..., n_u, 2L+1, 2L+1)."""
        L = self.lmax
        batch = C.shape[:-3]
        out = np.empty(batch + (self.n_u, 2 * L + 1, 2 * L + 1))
        for s1, s2, p, q in self._quadrants():
            blk = np.moveaxis(C[..., s1, s2, :], (-3, -2), (0, 1))  # (P, Q, *batch, K)
            T = R[p, q]  # (P, Q, n_u, K)
            v = np.matmul(blk.reshape(blk.shape[:2] + (-1, blk.shape[-1])),
                          np.swapaxes(T, -1, -2))  # (P, Q, B, n_u)
            v = v.reshape(blk.shape[:2] + batch + (self.n_u,))
            out[..., s1, s2] = np.moveaxis(v, (0, 1), (-2, -1))
        return out

    def _radial_analysis(self, A: np.ndarray, R: np.ndarray) -> np.ndarray:
        """sum_j R[p, q, j, k] A[..., j, i1, i2] -> (..., 2L+1, 2L+1, K) (the transpose)."""
        L = self.lmax
        K = L // 2 + 1
        batch = A.shape[:-3]
        out = np.empty(batch + (2 * L + 1, 2 * L + 1, K))
        for s1, s2, p, q in self._quadrants():
            blk = np.moveaxis(A[..., s1, s2], (-2, -1), (0, 1))  # (P, Q, *batch, n_u)
            v = np.matmul(blk.reshape(blk.shape[:2] + (-1, self.n_u)), R[p, q])
            out[..., s1, s2, :] = np.moveaxis(v.reshape(blk.shape[:2] + batch + (K,)),
                                              (0, 1), (-3, -2))
        return out

    def _fft_analysis(self, f: np.ndarray) -> np.ndarray:
        """Grid values (..., n_u, n_xi, n_xi) -> means of f Theta_a1 Theta_a2 per ring,
        (..., n_u, 2L+1, 2L+1): real FFTs along xi2 (last axis), then xi1 (axis -2)."""
        F = sfft.rfft(f, axis=-1, norm="forward", workers=self._workers)
        g = self._real_modes(F, -1)  # (..., n_u, n_xi, 2L+1)
        return self._real_modes(sfft.rfft(g, axis=-2, norm="forward", workers=self._workers),
                                -2)

    def _real_modes(self, F: np.ndarray, axis: int) -> np.ndarray:
        """Complex half spectrum along ``axis`` -> real Theta coefficients (2L+1 there)."""
        L = self.lmax
        Fv = np.moveaxis(F, axis, -1)
        shape = list(F.shape)
        shape[axis] = 2 * L + 1
        out = np.empty(shape)
        ov = np.moveaxis(out, axis, -1)
        ov[..., 0] = Fv[..., 0].real
        np.multiply(Fv[..., 1:L + 1].real, math.sqrt(2), out=ov[..., 1:L + 1])
        np.multiply(Fv[..., 1:L + 1].imag, -math.sqrt(2), out=ov[..., L + 1:])
        return out

    def _complex_modes(self, A: np.ndarray, axis: int) -> np.ndarray:
        """Real Theta coefficients along ``axis`` -> the complex half spectrum there."""
        L = self.lmax
        shape = list(A.shape)
        shape[axis] = self.n_xi // 2 + 1
        out = np.zeros(shape, dtype=complex)
        Av, ov = np.moveaxis(A, axis, -1), np.moveaxis(out, axis, -1)
        ov[..., 0] = Av[..., 0]
        h = ov[..., 1:L + 1]
        h.real = Av[..., 1:L + 1] / math.sqrt(2)
        h.imag = Av[..., L + 1:] / -math.sqrt(2)
        return out

    def _fft_synthesis(self, A: np.ndarray) -> np.ndarray:
        """(..., n_u, 2L+1, 2L+1) angular coefficients per ring -> grid values."""
        n = self.n_xi
        g = sfft.irfft(self._complex_modes(A, -1), n=n, axis=-1, norm="forward",
                       workers=self._workers)  # (..., n_u, 2L+1, n_xi)
        return sfft.irfft(self._complex_modes(g, -2), n=n, axis=-2, norm="forward",
                          workers=self._workers)

    def _d_xi(self, C: np.ndarray, axis: int) -> np.ndarray:
        """d/d xi_(axis) on the padded layout: Theta_a -> -a Theta_-a, Theta_-a -> a Theta_a."""
        L = self.lmax
        C = np.moveaxis(C, axis, -1)
        out = np.zeros_like(C)
        a = np.arange(1, L + 1)
        out[..., 1:L + 1] = a * C[..., L + 1:]
        out[..., L + 1:] = -a * C[..., 1:L + 1]
        return np.moveaxis(out, -1, axis)

    def forward(self, f: np.ndarray) -> np.ndarray:
        """Grid values (..., n_u, n_xi, n_xi) -> coefficients int f Z_i d sigma (quadrature).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0])  # x_1 = cos eta cos xi1 = Z_{1,0,0} / 2
        >>> i = b.index(1, 0, 0)
        >>> round(float(c[i]), 12), round(float(np.abs(np.delete(c, i)).max()), 12)
        (0.5, 0.0)
        """
        f = self._check_grid(f)
        return self._unpad(self._radial_analysis(self._fft_analysis(f), self._Rw))

    def backward(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., n_coef) -> grid values (..., n_u, n_xi, n_xi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 3] ** 2)
        >>> bool(np.allclose(b.backward(c), b.points[..., 3] ** 2, rtol=0, atol=1e-14))
        True
        """
        C = self._pad(self._check_coeffs(c))
        return self._fft_synthesis(self._radial_synth(C, self._R))

    def from_function(self, f) -> np.ndarray:
        """Grid values of a function f(x) of points x (..., 4) on S^3.

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> f = b.from_function(lambda x: x[..., 2] ** 2)
        >>> f.shape, round(float(b.integrate(f)), 12)  # int x_3^2 d sigma = 1/4
        ((4, 15, 15), 0.25)
        """
        if not callable(f):
            raise TypeError("f must be a callable of points x with shape (..., 4)")
        vals = np.asarray(f(self.points.copy()), dtype=float)
        if vals.shape != self.shape:
            raise ValueError(f"f must return one value per point, shape {self.shape}, "
                             f"got {vals.shape}")
        return vals

    def evaluate(self, c: np.ndarray, points, chunk: int = 4096) -> np.ndarray:
        """The series c (..., n_coef) at arbitrary unit vectors ``points`` (..., 4).

        Direct summation (radial recurrence at each point), in chunks of at most ``chunk``
        points (fewer at large lmax, to bound the temporaries to ~32 MB).
        Returns shape (*c.shape[:-1], *points.shape[:-1]).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0] * b.points[..., 3])
        >>> x = np.array([[0.6, 0.0, 0.0, 0.8], [0.5, 0.5, 0.5, 0.5]])
        >>> np.round(b.evaluate(c, x), 12) + 0
        array([0.48, 0.25])
        """
        c = self._check_coeffs(c)
        p = np.asarray(points, dtype=float)
        if p.shape[-1:] != (4,):
            raise ValueError(f"points must have shape (..., 4), got {p.shape}")
        flat = p.reshape(-1, 4)
        flat = flat / np.linalg.norm(flat, axis=1, keepdims=True)
        C = self._pad(c)
        out = np.empty(c.shape[:-1] + (flat.shape[0],))
        L = self.lmax
        chunk = max(1, min(int(chunk), (1 << 22) // ((2 * L + 1) ** 2 * (L // 2 + 1))))
        for lo in range(0, flat.shape[0], chunk):
            out[..., lo:lo + chunk] = self._evaluate_chunk(C, flat[lo:lo + chunk])
        return out.reshape(c.shape[:-1] + p.shape[:-1])

    def _evaluate_chunk(self, C: np.ndarray, x: np.ndarray) -> np.ndarray:
        L = self.lmax
        r1, r2 = np.hypot(x[:, 0], x[:, 1]), np.hypot(x[:, 2], x[:, 3])
        u = np.clip(r1 * r1 - r2 * r2, -1.0, 1.0)
        xi1, xi2 = np.arctan2(x[:, 1], x[:, 0]), np.arctan2(x[:, 3], x[:, 2])
        R = radial_functions(L, u)[self._abs][:, self._abs]  # (2L+1, 2L+1, P, K)
        a = self._signed
        th1 = np.where(a[:, None] > 0, math.sqrt(2) * np.cos(a[:, None] * xi1),
                       np.where(a[:, None] < 0, math.sqrt(2) * np.sin(-a[:, None] * xi1), 1.0))
        th2 = np.where(a[:, None] > 0, math.sqrt(2) * np.cos(a[:, None] * xi2),
                       np.where(a[:, None] < 0, math.sqrt(2) * np.sin(-a[:, None] * xi2), 1.0))
        radial = np.einsum("...abk,abpk->...abp", C, R)
        return np.einsum("...abp,ap,bp->...p", radial, th1, th2)

    # -- calculus ---------------------------------------------------------------------
    def grad(self, c: np.ndarray) -> np.ndarray:
        """Tangent gradient (d_eta f, d_xi1 f / cos eta, d_xi2 f / sin eta) on the grid, in
        the frame (e_eta, e_xi1, e_xi2): layout (3, *batch, n_u, n_xi, n_xi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0])  # grad x_1 = e_1 - x_1 x
        >>> V = b.tangent_to_cartesian(b.grad(c))
        >>> bool(np.allclose(V, [1.0, 0, 0, 0] - b.points[..., :1] * b.points))
        True
        """
        C = self._pad(self._check_coeffs(c))
        out = np.empty((3,) + C.shape[:-3] + self.shape)
        out[0] = self._fft_synthesis(self._radial_synth(C, self._dR))
        np.multiply(self._fft_synthesis(self._radial_synth(self._d_xi(C, -3), self._R)),
                    self._inv_cos, out=out[1])
        np.multiply(self._fft_synthesis(self._radial_synth(self._d_xi(C, -2), self._R)),
                    self._inv_sin, out=out[2])
        return out

    def div(self, v: np.ndarray) -> np.ndarray:
        """Coefficients of div v for a field (3, *batch, n_u, n_xi, n_xi) in the frame
        (e_eta, e_xi1, e_xi2), taken weakly: (div v)_i = -int v . grad Z_i d sigma.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0] * b.points[..., 2] + b.points[..., 3] ** 3)
        >>> bool(np.allclose(b.div(b.grad(c)), b.laplacian * c))  # div grad = -l(l+2)
        True
        """
        v = np.asarray(v, dtype=float)
        if v.ndim < 4 or v.shape[0] != 3:
            raise ValueError("a tangent field on S^3 has the layout (3, *batch, n_u, n_xi, "
                             f"n_xi) (components along e_eta, e_xi1, e_xi2), got shape {v.shape}")
        self._check_grid(v, "vector field values")
        c_eta = self._radial_analysis(self._fft_analysis(v[0]), self._dR * self._w_u[:, None])
        c1 = self._radial_analysis(self._fft_analysis(v[1] * self._inv_cos), self._Rw)
        c_eta -= self._d_xi(c1, -3)
        c2 = self._radial_analysis(self._fft_analysis(v[2] * self._inv_sin), self._Rw)
        out = c_eta - self._d_xi(c2, -2)
        return -self._unpad(out)

    def vector_norm(self, v: np.ndarray) -> np.ndarray:
        """Pointwise length of a field (3, *batch, n_u, n_xi, n_xi) (orthonormal frame).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0])  # |grad x_1| = sqrt(1 - x_1^2)
        >>> bool(np.allclose(b.vector_norm(b.grad(c)), np.sqrt(1 - b.points[..., 0] ** 2)))
        True
        """
        v = np.asarray(v)
        return np.sqrt(np.sum(v * v, axis=0))

    def tangent_to_cartesian(self, v: np.ndarray) -> np.ndarray:
        """A field (3, *batch, n_u, n_xi, n_xi) as vectors in R^4: (*batch, *shape, 4).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> V = b.tangent_to_cartesian(b.grad(b.forward(b.points[..., 3])))
        >>> V.shape, bool(np.allclose(V, [0, 0, 0, 1.0] - b.points[..., 3:] * b.points))
        ((4, 15, 15, 4), True)
        """
        v = np.asarray(v, dtype=float)
        return np.einsum("c...,c...i->...i", v, self._frame)

    def tangent_from_cartesian(self, u: np.ndarray) -> np.ndarray:
        """Ambient vectors u (*batch, n_u, n_xi, n_xi, 4) -> the field (3, *batch, *shape).

        The tangent projection P_x u in the frame (e_eta, e_xi1, e_xi2).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> u = np.random.default_rng(0).normal(size=b.points.shape)
        >>> w = b.tangent_to_cartesian(b.tangent_from_cartesian(u))  # = P_x u
        >>> bool(np.allclose(w, u - np.sum(u * b.points, -1)[..., None] * b.points))
        True
        """
        u = np.asarray(u, dtype=float)
        if u.shape[-4:] != self.shape + (4,):
            raise ValueError(f"u must have shape (..., {self.n_u}, {self.n_xi}, {self.n_xi}, "
                             f"4), got {u.shape}")
        return np.einsum("...i,c...i->c...", u, self._frame)

    def integrate(self, f: np.ndarray) -> np.ndarray:
        """Integral against sigma over the three grid axes.

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> x4 = b.points[..., 3]
        >>> round(float(b.integrate(x4**2)), 12), round(float(b.integrate(x4**4)), 12)  # 1/4, 1/8
        (0.25, 0.125)
        """
        f = self._check_grid(f)
        return np.einsum("...ijk,ijk->...", f, self.weights)

    # -- order parameters -------------------------------------------------------------
    def _zonal_rows(self) -> np.ndarray:
        """Coefficients of P_k(x_1), k = 0..lmax (P_k = U_k / (k + 1)): (lmax + 1, n_coef)."""
        if not hasattr(self, "_zonal"):
            from .zonal import orthonormal_gegenbauer

            q = orthonormal_gegenbauer(self.lmax, 4, self.points[..., 0])  # (*shape, L+1)
            k = np.arange(self.lmax + 1)
            self._zonal = self.forward(np.moveaxis(q, -1, 0)) / (k + 1.0)[:, None]
        return self._zonal

    def amplitude(self, c: np.ndarray, k: int) -> np.ndarray:
        """Order parameter <P_k(x . e_1)> = int rho P_k(x_1) d sigma (signed), P_k(t) =
        U_k(t) / (k + 1) (P_k(1) = 1), about e_1 as on ZonalBasis(4, lmax).

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> rho = b.forward(1 + 0.6 * b.points[..., 0])
        >>> round(float(b.amplitude(rho, 1)), 12)  # <x_1> = 0.6 / 4
        0.15
        """
        k = int(k)
        if not 0 <= k <= self.lmax:
            raise ValueError(f"degree k must be in [0, {self.lmax}], got {k}")
        return np.asarray(c).real @ self._zonal_rows()[k]

    def degree_power(self, c: np.ndarray) -> np.ndarray:
        """sqrt(sum of c_i^2 over degree l) per l = 0..lmax (rotation invariant).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0] + b.points[..., 3])  # |x_1 + x_4|_L2 = sqrt(1/2)
        >>> np.round(b.degree_power(c), 12) + 0
        array([0.        , 0.70710678, 0.        , 0.        , 0.        ])
        """
        c = np.asarray(c).real
        sel = self.degrees[None, :] == np.arange(self.lmax + 1)[:, None]
        return np.sqrt((c**2) @ sel.T.astype(float))

    # -- symmetries -------------------------------------------------------------------
    def rotation_generators(self, c: np.ndarray) -> list[np.ndarray]:
        """The six infinitesimal rotations L_ij f = x_i d_j f - x_j d_i f (i < j) applied to
        c, computed on the grid from ``grad`` and ``points`` and transformed forward (exact:
        L_ij maps degree-l harmonics to degree-l harmonics).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0])  # f = x_1
        >>> L = b.rotation_generators(c)  # order (12, 13, 14, 23, 24, 34)
        >>> [round(float(np.linalg.norm(g)), 12) for g in L]  # |x_j| = 1/2 for L_1j, else 0
        [0.5, 0.5, 0.5, 0.0, 0.0, 0.0]
        >>> bool(np.allclose(L[0], -b.forward(b.points[..., 1])))  # L_12 x_1 = -x_2
        True
        """
        c = self._check_coeffs(c)
        g = self.tangent_to_cartesian(self.grad(c))
        x = self.points
        return [self.forward(x[..., i] * g[..., j] - x[..., j] * g[..., i])
                for i in range(4) for j in range(i + 1, 4)]

    # -- resolution changes -----------------------------------------------------------
    def with_max_degree(self, max_degree: int) -> Sphere3Basis:
        """A basis of the same kind (same dealias, threads) keeping degrees <= max_degree.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.SphereBasis(4, dim=4).with_max_degree(2)
        Sphere3Basis(lmax=2, dealias=1.5, grid=2x8x8)
        """
        return Sphere3Basis(int(max_degree), dealias=self.dealias, nthreads=self.nthreads)

    def convert(self, c: np.ndarray, other: Sphere3Basis) -> np.ndarray:
        """Coefficients c of this basis expressed in ``other`` (zero-padded or truncated).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> c = b.forward(b.points[..., 0] ** 2)
        >>> big = b.with_max_degree(6)
        >>> bool(np.allclose(big.backward(b.convert(c, big)), big.points[..., 0] ** 2))
        True
        """
        if not isinstance(other, Sphere3Basis):
            raise ValueError(f"can only convert to a Sphere3Basis, got {other!r}")
        c = np.asarray(c)
        out = np.zeros(c.shape[:-1] + other.coeff_shape)
        n = min(self.coeff_shape[0], other.coeff_shape[0])  # nested: degrees <= min(lmax)
        out[..., :n] = c[..., :n].real
        return out

    # -- real coordinates (Newton, continuation, stability) --------------------------------
    def _symmetric(self) -> np.ndarray:
        """Real coordinates with a2 = 0 and a1 >= 0: densities of (x_1, x_2) even in x_2."""
        return (self.orders2[1:] == 0) & (self.orders1[1:] >= 0)

    def subspace_mask(self, symmetric: bool = False, period: int = 1) -> np.ndarray:
        """Real coordinates spanning an invariant subspace.

        ``symmetric=True``: densities of (x_1, x_2) even in x_2 (a2 = 0, a1 >= 0:
        invariant under the rotations of the (x_3, x_4)-plane and x_2 -> -x_2), the smallest
        coordinate subspace holding the zonal densities about e_1; it removes every
        rotation that moves a zonal state about e_1. ``period`` p: invariance under the
        rotation by 2 pi / p of the (x_1, x_2)-plane (a1 in pZ); p = 1 is the full space.
        Both together: the intersection.

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> int(b.subspace_mask().sum()), int(b.subspace_mask(symmetric=True).sum())
        (54, 8)
        >>> b.real_degrees[b.subspace_mask(symmetric=True)].tolist()
        [1, 2, 2, 3, 3, 4, 4, 4]
        """
        if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
            raise ValueError(f"period must be an integer >= 1, got {period!r}")
        mask = self.orders1[1:] % period == 0
        if symmetric:
            mask &= self._symmetric()
        return mask

    def branch_mask(self, k: int) -> np.ndarray:
        """The coordinate subspace holding the zonal branch (about e_1) born at mode k.

        The densities of (x_1, x_2) even in x_2 (``subspace_mask(symmetric=True)``), and
        for even k also even in x_1 (a1 even). Hopf coordinates do not split off the zonal
        class itself: for k = 1 the critical space in this mask is x_1 alone (the branch
        is well posed), for k >= 2 it has floor(k/2) + 1 dimensions (the degree-k
        harmonics of (x_1, x_2)), so branch switching there is ill posed: continue zonal
        branches on ZonalBasis(4, lmax) and check them on this basis (convert by
        ``evaluate`` / ``forward``).

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> b.real_degrees[b.branch_mask(1)].tolist(), b.real_degrees[b.branch_mask(2)].tolist()
        ([1, 2, 2, 3, 3, 4, 4, 4], [2, 2, 4, 4, 4])
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"mode k must be >= 1, got {k}")
        mask = self._symmetric()
        if k % 2 == 0:
            mask &= self.orders1[1:] % 2 == 0
        return mask

    def invariant_blocks(self, c: np.ndarray, rtol: float = 1e-12) -> list[np.ndarray]:
        """Real coordinates split into subspaces the linearization at c leaves invariant.

        Uniform state: every coordinate alone. A state in ``subspace_mask(symmetric=True)``
        (invariant under the rotations of the (x_3, x_4)-plane and the reflections
        x_2 -> -x_2, x_4 -> -x_4): one block per signed a2 (cosine and sine parts of each
        |a2| apart) and sign class of a1 (a1 >= 0 / a1 < 0). Otherwise one block.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4, dim=4)
        >>> len(b.invariant_blocks(np.eye(55)[0]))  # uniform: every coordinate alone
        54
        >>> len(b.invariant_blocks(b.forward(1 + 0.5 * b.points[..., 0])))  # a2 = +-4: a1 = 0
        16
        >>> len(b.invariant_blocks(b.forward(1 + 0.5 * b.points[..., 2])))
        1
        """
        c = np.asarray(c).real
        mag = np.abs(c[1:])
        thr = rtol * max(abs(float(c[0])), float(mag.max()) if mag.size else 0.0)
        active = mag > thr
        if not np.any(active):
            return [np.array([i]) for i in range(self.n_real)]
        if np.all(self._symmetric()[active]):
            a1, a2 = self.orders1[1:], self.orders2[1:]
            blocks = [np.nonzero((a2 == m) & ((a1 >= 0) == pos))[0]
                      for m in range(-self.lmax, self.lmax + 1) for pos in (True, False)]
            return [blk for blk in blocks if blk.size]
        return [np.arange(self.n_real)]
