"""Zonal Gegenbauer basis on S^{d-1}, any d >= 2.

Convention (DESIGN.md §1): densities are taken with respect to the normalized uniform
measure sigma on S^{d-1}. A *zonal* density depends only on t = <x, e> (e = e_1); sigma
pushes forward to

    d mu(t) = c_d (1 - t^2)^{(d-3)/2} dt,   c_d = Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2)),

a probability measure on [-1, 1]. A zonal function is stored by its coefficients in the
*orthonormal* Gegenbauer basis

    b_l = int f Q_l d sigma,   Q_l = sqrt(N(d, l)) P_l,   l = 0, ..., lmax,

with P_l the Gegenbauer polynomial normalized by P_l(1) = 1 (d = 2: Chebyshev T_l; d = 3:
Legendre) and N(d, l) the dimension of the degree-l spherical harmonics, so that
int Q_l Q_m d sigma = delta_lm, b_0 is the mass and Parseval reads int f g = sum a_l b_l.
The Q_l are computed by their normalized three-term recurrence

    t Q_l = a_{l+1} Q_{l+1} + a_l Q_{l-1},   a_1^2 = 1/d,
    a_l^2 = l (l + d - 3) / ((2l + d - 2)(2l + d - 4))   (l >= 2),

never through N(d, l) or P_l separately, so nothing overflows at d = 1024.

Grid: the n-point Gauss–Jacobi rule of mu (alpha = beta = (d-3)/2), n = ceil(dealias *
(lmax + 1)); the default dealias = 1.5 integrates products of three degree-lmax
polynomials (the USA flux rho grad U against grad Q_l) exactly. Nodes come from the
eigenvalues of the Jacobi matrix (Golub–Welsch, scipy.linalg.eigh_tridiagonal), refined by
Newton's method; weights from the Christoffel function w_j = 1 / sum_{l<n} Q_l(t_j)^2,
evaluated with a running rescaling, so that every weight has full *relative* accuracy even
where it is 1e-300 (large d). Weights sum to 1: ``integrate(f) = weights @ f``. The rule
is exactly symmetric (t_{n-1-j} = -t_j), and the transforms fold even and odd parts, so a
density even in t has odd coefficients exactly zero.

Vector fields: a zonal tangent field is v = w(t) (e - t x) (the gradient of a zonal u is
u'(t) (e - t x)); it is stored by w on the grid in the layout (1, *batch, n_nodes). Its
length is sqrt(1 - t^2) |w|. The divergence is taken weakly, by parts on the sphere:

    (div v)_l = -int v . grad Q_l d sigma = -int w(t) (1 - t^2) Q_l'(t) d mu(t),

so that the mass coefficient of a divergence is exactly 0 and div(grad b) = -l(l+d-2) b.

Scope: this basis holds zonal densities only. Stability computed in it (``linear_stability``
, the ``stable`` flags of bifurcation diagrams) is stability against *zonal* perturbations;
the zonal class has no continuous symmetry left (``rotation_generators`` is empty).

High dimension: the Gauss nodes near t = +-1 carry weights as small as 1e-100 (d = 128,
lmax = 256) where degree-lmax polynomials are huge, so *pointwise* grid values there carry
round-off of order eps / sqrt(w_j) times the coefficients' size, while every integral (the
transforms, the dynamics) stays accurate to round-off. Pointwise checks on the grid
(positivity, maxima) are meaningful only where the weights are not negligible.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.special import gammaln

from ._real import RealOrthonormalSeries

_EVEN = slice(0, None, 2)
_ODD = slice(1, None, 2)
#: largest dense operator (n_nodes x (lmax + 1) entries) a ZonalBasis builds: 2**24 entries,
#: lmax <= 3343 at dealias 1.5 (about 1.5 GiB for its ~10 operators, seconds to build);
#: larger requests are refused up front
MAX_OPERATOR_ENTRIES = 1 << 24
_OPERATORS = 11  # dense n_nodes x (lmax + 1) float64 arrays alive while building


def _check_int(value, name: str, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int >= {minimum} ({what}), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} ({what}), got {value}")
    return int(value)


def recurrence_coefficients(n: int, dim: int) -> np.ndarray:
    """Off-diagonal a_1..a_n of the Jacobi matrix of the normalized Gegenbauer weight.

    Returns an array of length n + 1 with a[0] = 0 and t Q_l = a_{l+1} Q_{l+1} + a_l Q_{l-1}.

    Examples
    --------
    On S^2 (Legendre): a_1^2 = 1/3, a_2^2 = 4/15:

    >>> import numpy as np
    >>> from meanfield.bases.zonal import recurrence_coefficients
    >>> a = recurrence_coefficients(3, 3)
    >>> bool(np.allclose(a**2, [0.0, 1 / 3, 4 / 15, 9 / 35]))
    True
    """
    a2 = np.zeros(n + 1)
    if n >= 1:
        a2[1] = 1.0 / dim
    l = np.arange(2, n + 1, dtype=float)
    a2[2:] = l * (l + dim - 3) / ((2 * l + dim - 2) * (2 * l + dim - 4))
    return np.sqrt(a2)


def orthonormal_gegenbauer(lmax: int, dim: int, t, scale=None, derivative: bool = False):
    """Q_l(t) (and Q_l'(t)) for l = 0..lmax, shape (*t.shape, lmax + 1).

    ``scale`` (broadcastable to t) multiplies every value (the recurrence is linear), e.g.
    sqrt(w_j) to form sqrt(w) Q without overflow.

    Examples
    --------
    On S^2, Q_l = sqrt(2l + 1) P_l (Legendre); on the circle, Q_l = sqrt(2) T_l (Chebyshev):

    >>> import numpy as np
    >>> from meanfield.bases.zonal import orthonormal_gegenbauer
    >>> q = orthonormal_gegenbauer(2, 3, 0.5)
    >>> bool(np.allclose(q, [1.0, np.sqrt(3) * 0.5, np.sqrt(5) * (3 * 0.25 - 1) / 2]))
    True
    >>> t = np.cos(0.3)
    >>> bool(np.allclose(orthonormal_gegenbauer(3, 2, t)[1:], np.sqrt(2) * np.cos([0.3, 0.6, 0.9])))
    True
    >>> q, dq = orthonormal_gegenbauer(2, 3, np.array([1.0]), derivative=True)
    >>> q.shape, bool(np.allclose(dq, [[0.0, np.sqrt(3), 3 * np.sqrt(5)]]))  # P_l'(1) = l(l+1)/2
    ((1, 3), True)
    """
    t = np.asarray(t, dtype=float)
    a = recurrence_coefficients(lmax, dim)
    s = np.ones_like(t) if scale is None else np.broadcast_to(scale, t.shape).astype(float)
    q = np.empty(t.shape + (lmax + 1,))
    dq = np.empty_like(q) if derivative else None
    q[..., 0] = s
    if derivative:
        dq[..., 0] = 0.0
    if lmax >= 1:
        q[..., 1] = t * s / a[1]
        if derivative:
            dq[..., 1] = s / a[1]
    for l in range(1, lmax):
        q[..., l + 1] = (t * q[..., l] - a[l] * q[..., l - 1]) / a[l + 1]
        if derivative:
            dq[..., l + 1] = (q[..., l] + t * dq[..., l] - a[l] * dq[..., l - 1]) / a[l + 1]
    return (q, dq) if derivative else q


def _christoffel(t: np.ndarray, n: int, a: np.ndarray):
    """For each t: log of 1/sum_{l<n} Q_l(t)^2 and the Newton step Q_n(t)/Q_n'(t).

    The recurrence runs with a per-point scale that is reset whenever the running sum of
    squares grows past 1e200, so nothing overflows for any d and n.
    """
    q_prev = np.zeros_like(t)
    q = np.ones_like(t)
    dq_prev = np.zeros_like(t)
    dq = np.zeros_like(t)
    ssum = np.ones_like(t)
    log_scale = np.zeros_like(t)  # scaled value = true value * exp(log_scale)
    for l in range(n):
        q_next = (t * q - a[l] * q_prev) / a[l + 1]
        dq_next = (q + t * dq - a[l] * dq_prev) / a[l + 1]
        q_prev, q, dq_prev, dq = q, q_next, dq, dq_next
        if l + 1 < n:
            ssum = ssum + q * q
        big = ssum > 1e200
        if np.any(big):
            f = 1.0 / np.sqrt(ssum[big])
            for arr in (q_prev, q, dq_prev, dq):
                arr[big] *= f
            ssum[big] *= f * f
            log_scale[big] += np.log(f)
    log_w = 2.0 * log_scale - np.log(ssum)
    return log_w, q / dq


def gauss_gegenbauer(n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss rule for c_d (1 - t^2)^{(d-3)/2} dt: nodes (ascending) and log-weights.

    The weights sum to 1 (the measure is sigma pushed forward to t). Exact for polynomials
    of degree <= 2n - 1. Nodes are exactly antisymmetric, weights symmetric.

    Examples
    --------
    d = 3 is the Gauss-Legendre rule (nodes +-sqrt(3/5), 0; weights 5/18, 4/9, 5/18):

    >>> import numpy as np
    >>> from meanfield.bases.zonal import gauss_gegenbauer
    >>> t, log_w = gauss_gegenbauer(3, 3)
    >>> bool(np.allclose(t, [-np.sqrt(0.6), 0.0, np.sqrt(0.6)]))
    True
    >>> bool(np.allclose(np.exp(log_w), [5 / 18, 4 / 9, 5 / 18]))
    True
    >>> round(float(np.exp(log_w) @ t**4), 12)  # exact up to degree 5: int t^4 d sigma = 1/5
    0.2
    """
    a = recurrence_coefficients(n, dim)
    if n == 1:
        return np.zeros(1), np.zeros(1)
    t = eigh_tridiagonal(np.zeros(n), a[1:n], eigvals_only=True)
    t = np.sort(0.5 * (t - t[::-1]))
    h = n // 2
    pos = t[n - h:]  # positive nodes, ascending
    for _ in range(2):  # Newton on Q_n (the eigenvalues are already accurate to ~eps)
        _, step = _christoffel(pos, n, a)
        pos = pos - step
    log_w_pos, _ = _christoffel(pos, n, a)
    nodes = np.zeros(n)
    log_w = np.zeros(n)
    nodes[n - h:] = pos
    nodes[:h] = -pos[::-1]
    log_w[n - h:] = log_w_pos
    log_w[:h] = log_w_pos[::-1]
    if n % 2:
        log_w[h] = _christoffel(np.zeros(1), n, a)[0][0]
    return nodes, log_w


def log_harmonic_dimension(l, dim: int) -> np.ndarray:
    """log N(d, l), N = dimension of the degree-l spherical harmonics on S^{d-1}.

    Examples
    --------
    N(3, l) = 2l + 1; on the circle N(2, l) = 2 for l >= 1:

    >>> import numpy as np
    >>> from meanfield.bases.zonal import log_harmonic_dimension
    >>> np.round(np.exp(log_harmonic_dimension([0, 1, 2, 3], 3)), 12).tolist()
    [1.0, 3.0, 5.0, 7.0]
    >>> np.round(np.exp(log_harmonic_dimension([0, 1, 2], 2)), 12).tolist()
    [1.0, 2.0, 2.0]
    """
    l = np.asarray(l, dtype=float)
    out = np.zeros_like(l)
    pos = l >= 1
    lp = l[pos]
    if dim == 2:
        out[pos] = math.log(2.0)
    else:
        out[pos] = (np.log(2 * lp + dim - 2) - np.log(lp + dim - 2) + gammaln(lp + dim - 1)
                    - gammaln(lp + 1) - gammaln(dim - 1))
    return out


class ZonalBasis(RealOrthonormalSeries):
    """Gegenbauer (zonal) spectral basis on S^{dim-1}: densities depending on t = <x, e_1>.

    Parameters
    ----------
    dim : int
        Ambient dimension d >= 2 (d = 2: even densities on the circle; d = 3: axisymmetric
        densities on S^2).
    lmax : int
        Highest degree kept (>= 1); coefficients b_0..b_lmax. Operators beyond
        ``MAX_OPERATOR_ENTRIES`` entries raise MemoryError up front.
    dealias : float
        Number of Gauss nodes = ceil(dealias * (lmax + 1)) (>= 1; the default 1.5
        integrates the quadratic USA flux exactly).

    Attributes
    ----------
    grid : ndarray (n_nodes,)
        Gauss nodes t_j = <x_j, e_1>, ascending.
    weights : ndarray (n_nodes,)
        Quadrature weights (sum 1) of sigma pushed forward to t (may underflow to 0 at the
        outermost nodes for very large d; the transforms use sqrt(weights) internally).
    points : ndarray (n_nodes, dim)
        The grid as unit vectors t e_1 + sqrt(1 - t^2) e_2.
    degrees, laplacian : ndarray (lmax + 1,)
        Degree l and Laplace–Beltrami eigenvalue -l(l+d-2) of each coefficient.
    pointwise_error : ndarray (n_nodes,)
        Round-off of a grid value from ``backward`` per unit L2(sigma) norm of the series,
        eps * sqrt(sum_l Q_l(t_j)^2). Tiny for moderate d; huge at the outer nodes for large
        d (1e5 at d = 128, lmax = 64), where the weights are negligible (see module notes).
    reliable_nodes : ndarray of bool (n_nodes,)
        Nodes whose grid values are meaningful to 1e-10 (pointwise_error <= 1e-10): pointwise
        checks (positivity, maxima) should look only there. All True for small d.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> b = mf.ZonalBasis(8, 16)  # zonal densities on S^7
    >>> round(float(b.integrate(np.ones(b.shape))), 14)
    1.0
    """

    coeff_dtype = np.float64
    is_zonal = True
    #: the class of densities held (and of perturbations its spectra cover)
    restriction = "zonal"

    def __init__(self, dim: int, lmax: int, dealias: float = 1.5) -> None:
        self.dim = _check_int(dim, "dim", 2, "the sphere S^(dim-1)")
        self.lmax = _check_int(lmax, "lmax", 1, "the highest Gegenbauer degree")
        try:
            dealias = float(dealias)
        except (TypeError, ValueError):
            raise TypeError(f"dealias must be a number >= 1, got {dealias!r}") from None
        if not (np.isfinite(dealias) and dealias >= 1.0):
            raise ValueError(f"dealias must be a finite number >= 1, got {dealias}")
        self.dealias = dealias
        n = max(self.lmax + 1, math.ceil(dealias * (self.lmax + 1) - 1e-9))
        if n * (self.lmax + 1) > MAX_OPERATOR_ENTRIES:
            most = int(math.sqrt(MAX_OPERATOR_ENTRIES / dealias)) - 1
            while most > 1 and math.ceil(dealias * (most + 1) - 1e-9) * (most + 1) \
                    > MAX_OPERATOR_ENTRIES:
                most -= 1
            raise MemoryError(
                f"ZonalBasis(dim={self.dim}, lmax={self.lmax}, dealias={dealias:g}) needs dense "
                f"{n} x {self.lmax + 1} operators (~"
                f"{_OPERATORS * 8 * n * (self.lmax + 1) / 2**30:.3g} GiB), beyond "
                "meanfield.bases.zonal.MAX_OPERATOR_ENTRIES = "
                f"{MAX_OPERATOR_ENTRIES} entries: use lmax <= {most} (the kernel needs "
                "model.required_degree(1e-12)), or simulate_particles for very concentrated "
                "states")
        self.n_nodes = n
        t, log_w = gauss_gegenbauer(n, self.dim)
        self.grid = t
        self._log_w = log_w
        self._sw = np.exp(0.5 * log_w)
        self.weights = np.exp(log_w)
        self.points = np.zeros((n, self.dim))
        self.points[:, 0] = t
        self.points[:, 1] = np.sqrt(np.maximum(1.0 - t * t, 0.0))
        self.degrees = np.arange(self.lmax + 1)
        self.laplacian = -(self.degrees * (self.degrees + self.dim - 2)).astype(float)
        self._log_sqrt_n = 0.5 * log_harmonic_dimension(self.degrees, self.dim)

        # sqrt(w) Q and sqrt(w) Q' (bounded), then Q and Q' themselves
        S, dS = orthonormal_gegenbauer(self.lmax, self.dim, t, scale=self._sw, derivative=True)
        with np.errstate(over="ignore", invalid="ignore"):
            Q = S / self._sw[:, None]
            dQ = dS / self._sw[:, None]
        if not (np.all(np.isfinite(Q)) and np.all(np.isfinite(dQ))):
            raise ValueError(f"lmax={self.lmax} is too large for dim={self.dim}: the "
                             "orthonormal polynomials overflow float64 at the outer nodes")
        E = (1.0 - t * t)[:, None] * dS  # sqrt(w) (1 - t^2) Q'
        # round-off of a grid value per unit L2 norm of the series: eps sqrt(sum_l Q_l(t_j)^2)
        self.pointwise_error = np.finfo(float).eps * np.exp(
            np.log(np.linalg.norm(S, axis=1)) - 0.5 * log_w)
        self.reliable_nodes = self.pointwise_error <= 1e-10
        h = n // 2
        self._pos = np.arange(n - h, n)  # t > 0
        self._neg = n - 1 - self._pos  # mirror of each positive node
        self._mid = h if n % 2 else None
        # analysis operators: (even-function columns, odd-function columns)
        self._fwd = self._fold_ops(S, even_cols=_EVEN, odd_cols=_ODD)
        self._div = self._fold_ops(E, even_cols=_ODD, odd_cols=_EVEN)
        # synthesis operators
        self._bwd = self._synth_ops(Q, even_cols=_EVEN, odd_cols=_ODD)
        self._grd = self._synth_ops(dQ, even_cols=_ODD, odd_cols=_EVEN)

    def _fold_ops(self, M: np.ndarray, even_cols: slice, odd_cols: slice):
        p = self._pos
        mid = None if self._mid is None else M[self._mid, even_cols].copy()
        return (even_cols, np.ascontiguousarray(M[p][:, even_cols]), mid,
                odd_cols, np.ascontiguousarray(M[p][:, odd_cols]))

    def _synth_ops(self, M: np.ndarray, even_cols: slice, odd_cols: slice):
        p = self._pos
        mid = None if self._mid is None else M[self._mid, even_cols].copy()
        return (np.ascontiguousarray(M[p][:, even_cols].T),
                np.ascontiguousarray(M[p][:, odd_cols].T), mid)

    def _analyze(self, g: np.ndarray, ops) -> np.ndarray:
        """sum_j g_j M_jl for a matrix M whose columns are even / odd functions of t."""
        even_cols, Me, mid, odd_cols, Mo = ops
        gp, gm = g[..., self._pos], g[..., self._neg]
        out = np.empty(g.shape[:-1] + (self.lmax + 1,))
        ev = (gp + gm) @ Me
        if mid is not None:
            ev += g[..., self._mid, None] * mid
        out[..., even_cols] = ev
        out[..., odd_cols] = (gp - gm) @ Mo
        return out

    def _synthesize(self, c: np.ndarray, ops, even_cols: slice, odd_cols: slice) -> np.ndarray:
        """sum_l c_l M_l(t_j) on the grid for functions M_l even (even_cols) / odd in t."""
        MeT, MoT, mid = ops
        fe = c[..., even_cols] @ MeT
        fo = c[..., odd_cols] @ MoT
        out = np.empty(c.shape[:-1] + (self.n_nodes,))
        out[..., self._pos] = fe + fo
        out[..., self._neg] = fe - fo
        if mid is not None:
            out[..., self._mid] = c[..., even_cols] @ mid
        return out

    # -- shapes -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int]:
        """Shape of a grid function.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> b.shape, b.n_nodes  # ceil(1.5 (lmax + 1)) Gauss nodes
        ((8,), 8)
        """
        return (self.n_nodes,)

    @property
    def coeff_shape(self) -> tuple[int]:
        """Shape of a coefficient array.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> b.coeff_shape
        (5,)
        """
        return (self.lmax + 1,)

    def __repr__(self) -> str:
        return (f"ZonalBasis(dim={self.dim}, lmax={self.lmax}, dealias={self.dealias}, "
                f"n_nodes={self.n_nodes})")

    # -- transforms -------------------------------------------------------------------
    def _check_grid(self, f, name: str = "grid values") -> np.ndarray:
        f = np.asarray(f, dtype=float)
        if f.shape[-1:] != self.shape:
            raise ValueError(f"{name} must have {self.n_nodes} entries on the last axis "
                             f"(basis.grid, the Gauss nodes in t), got shape {f.shape}")
        return f

    def forward(self, f: np.ndarray) -> np.ndarray:
        """Grid values (..., n_nodes) -> coefficients b_l = int f Q_l d sigma (..., lmax+1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> t = b.grid
        >>> ct = b.forward(t)  # f = t = Q_1 / sqrt(3)
        >>> np.round(ct, 12) + 0
        array([0.        , 0.57735027, 0.        , 0.        , 0.        ])
        """
        f = self._check_grid(f)
        return self._analyze(f * self._sw, self._fwd)

    def backward(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., lmax+1) -> grid values sum_l b_l Q_l(t_j) (..., n_nodes).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> t = b.grid
        >>> ct = b.forward(t)  # f = t = Q_1 / sqrt(3)
        >>> bool(np.allclose(b.backward(ct), t))
        True
        """
        return self._synthesize(self._check_coeffs(c), self._bwd, _EVEN, _ODD)

    def polynomials(self, t, derivative: bool = False):
        """Orthonormal Q_l(t) (and Q_l'(t)) at arbitrary t in [-1, 1]: (*t.shape, lmax+1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> q = b.polynomials(0.5)  # sqrt(2l + 1) P_l(0.5) on S^2
        >>> bool(np.allclose(q[:3], [1.0, np.sqrt(3) / 2, -np.sqrt(5) / 8]))
        True
        >>> q, dq = b.polynomials(np.array([0.0, 1.0]), derivative=True)
        >>> q.shape, dq.shape
        ((2, 5), (2, 5))
        """
        return orthonormal_gegenbauer(self.lmax, self.dim, t, derivative=derivative)

    def evaluate(self, c: np.ndarray, t) -> np.ndarray:
        """Evaluate the series with coefficients c (..., lmax+1) at arbitrary t.

        Returns shape (..., *t.shape).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> t = b.grid
        >>> ct = b.forward(t)  # f = t = Q_1 / sqrt(3)
        >>> np.round(b.evaluate(ct, [1.0, -0.5, 0.25]), 12) + 0
        array([ 1.  , -0.5 ,  0.25])
        """
        c = self._check_coeffs(c)
        t = np.asarray(t, dtype=float)
        if np.any(np.abs(t) > 1 + 1e-14):
            raise ValueError("t = <x, e> must lie in [-1, 1]")
        Q = self.polynomials(t)
        return np.tensordot(c, Q, axes=([-1], [-1]))

    def from_function(self, f, *, check: bool = True, n_rotations: int = 3,
                      tol: float = 1e-10, seed: int = 0) -> np.ndarray:
        """Grid values of a function f(x) of points x (..., dim) on S^{dim-1}.

        With ``check`` (default), f is also evaluated at the grid points rotated about
        e_1 (``n_rotations`` random rotations, and the reflection x_2 -> -x_2); a ValueError
        is raised if f is not zonal, i.e. varies at fixed t = <x, e_1> by more than ``tol``
        relative to max(1, max |f|).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> f = b.from_function(lambda x: x[..., 0] ** 2)  # t^2: zonal
        >>> f.shape, round(float(b.integrate(f)), 12)
        ((8,), 0.333333333333)
        >>> b.from_function(lambda x: x[..., 1])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the function is not zonal ...
        """
        if not callable(f):
            raise TypeError("f must be a callable of points x with shape (..., dim)")
        vals = np.asarray(f(self.points.copy()), dtype=float)
        if vals.shape != self.shape:
            raise ValueError(f"f must return one value per point, shape {self.shape}, "
                             f"got {vals.shape}")
        if check:
            rng = np.random.default_rng(seed)
            t = self.grid
            s = np.sqrt(np.maximum(1.0 - t * t, 0.0))
            dirs = [-np.eye(self.dim)[1]]
            if self.dim >= 3:
                for _ in range(n_rotations):
                    u = rng.standard_normal(self.dim)
                    u[0] = 0.0
                    dirs.append(u / np.linalg.norm(u))
            scale = max(1.0, float(np.max(np.abs(vals))))
            for u in dirs:
                x = np.outer(t, np.eye(self.dim)[0]) + np.outer(s, u)
                other = np.asarray(f(x), dtype=float)
                dev = float(np.max(np.abs(other - vals)))
                if not dev <= tol * scale:
                    j = int(np.argmax(np.abs(other - vals)))
                    raise ValueError(
                        "the function is not zonal (it is not a function of t = <x, e_1> "
                        f"alone): at t = {t[j]:.6g} it varies by {dev:.3e} between points of "
                        "the same t; ZonalBasis holds zonal densities only (align the "
                        "symmetry axis with e_1, or use a full-sphere basis)")
        return vals

    # -- calculus ---------------------------------------------------------------------
    def grad(self, c: np.ndarray) -> np.ndarray:
        """Tangent gradient of the series c: w = sum_l b_l Q_l'(t) on the grid, (1, ..., n).

        The field is w(t) (e - t x); ``div`` and ``vector_norm`` take this layout.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> t = b.grid
        >>> ct = b.forward(t)  # f = t = Q_1 / sqrt(3)
        >>> w = b.grad(ct)  # grad t = 1 * (e - t x)
        >>> w.shape, bool(np.allclose(w, 1.0))
        ((1, 8), True)
        """
        return self._synthesize(self._check_coeffs(c), self._grd, _ODD, _EVEN)[np.newaxis]

    def div(self, v: np.ndarray) -> np.ndarray:
        """Coefficients of the divergence of a zonal field v = w (e - t x), given as w with
        shape (1, ..., n_nodes): (div v)_l = -int w (1 - t^2) Q_l' d sigma (by parts).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> c = b.forward(b.grid**3 + b.grid)
        >>> bool(np.allclose(b.div(b.grad(c)), b.laplacian * c))  # div grad = -l(l+1)
        True
        >>> bool(b.div(b.grad(c))[0] == 0)  # a divergence has no mass, exactly
        True
        """
        v = np.asarray(v, dtype=float)
        if v.ndim < 2 or v.shape[0] != 1:
            raise ValueError("a zonal vector field has the layout (1, *batch, n_nodes), got "
                             f"shape {v.shape}")
        w = self._check_grid(v[0], "vector field values")
        return -self._analyze(w * self._sw, self._div)

    def vector_norm(self, v: np.ndarray) -> np.ndarray:
        """Pointwise length sqrt(1 - t^2) |w| of a field in the layout (1, ..., n_nodes).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> t = b.grid
        >>> ct = b.forward(t)  # f = t = Q_1 / sqrt(3)
        >>> bool(np.allclose(b.vector_norm(b.grad(ct)), np.sqrt(1 - t**2)))  # |e - t x|
        True
        """
        return np.sqrt(np.maximum(1.0 - self.grid ** 2, 0.0)) * np.abs(np.asarray(v)[0])

    def integrate(self, f: np.ndarray) -> np.ndarray:
        """Integral against sigma of grid values over the last axis (Gauss, weights sum 1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> t = b.grid
        >>> round(float(b.integrate(t**2)), 12), float(b.integrate(t**3))  # odd parts: exactly 0
        (0.333333333333, 0.0)
        """
        g = self._check_grid(f) * self._sw  # folded: an odd function integrates to 0 exactly
        out = (g[..., self._pos] + g[..., self._neg]) @ self._sw[self._pos]
        if self._mid is not None:
            out = out + g[..., self._mid] * self._sw[self._mid]
        return out

    def amplitude(self, c: np.ndarray, k: int) -> np.ndarray:
        """Order parameter <P_k(x.e)> = int rho P_k d sigma = b_k / sqrt(N(d, k)) (signed).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> rho = b.forward(1 + 0.6 * b.grid)
        >>> round(float(b.amplitude(rho, 1)), 12)  # <t> = 0.6 / 3
        0.2
        """
        k = int(k)
        if not 0 <= k <= self.lmax:
            raise ValueError(f"degree k must be in [0, {self.lmax}], got {k}")
        return np.asarray(c)[..., k].real * math.exp(-self._log_sqrt_n[k])

    # -- resolution changes -----------------------------------------------------------
    def with_max_degree(self, max_degree: int) -> ZonalBasis:
        """A basis of the same kind (same dim and dealias) keeping degrees up to max_degree.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> b.with_max_degree(8)
        ZonalBasis(dim=3, lmax=8, dealias=1.5, n_nodes=14)
        """
        return ZonalBasis(self.dim, int(max_degree), dealias=self.dealias)

    def convert(self, c: np.ndarray, other: ZonalBasis) -> np.ndarray:
        """Coefficients c of this basis expressed in ``other`` (zero-padded or truncated).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> t = b.grid
        >>> ct = b.forward(t)  # f = t = Q_1 / sqrt(3)
        >>> big = b.with_max_degree(8)
        >>> c = b.convert(ct, big)
        >>> c.shape, bool(np.allclose(big.backward(c), big.grid))
        ((9,), True)
        """
        if not isinstance(other, ZonalBasis) or other.dim != self.dim:
            raise ValueError(f"can only convert to a ZonalBasis with dim={self.dim}, "
                             f"got {other!r}")
        c = np.asarray(c)
        out = np.zeros(c.shape[:-1] + other.coeff_shape)
        m = min(self.lmax, other.lmax) + 1
        out[..., :m] = c[..., :m].real
        return out

    # -- real coordinates (for Newton, continuation and stability) -------------------------
    def subspace_mask(self, symmetric: bool = True, period: int = 1) -> np.ndarray:
        """Real coordinates spanning an invariant subspace of zonal densities.

        ``period`` 1: all degrees; 2: even degrees (densities even in t, invariant under
        the reflection t -> -t). On S^{d-1} with d >= 3 no other period gives an invariant
        subspace (products of degree-3 polynomials have degree-2 parts), so other periods
        raise ValueError; for d = 2 (even circle densities, Chebyshev = cosine series) every
        period p is allowed: 2 pi/p-periodic densities, degrees in pZ. ``symmetric`` is
        accepted for interface compatibility: zonal densities have no rotation left to
        remove, so it changes nothing.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> b.real_degrees[b.subspace_mask(period=2)].tolist()  # even in t
        [2, 4]
        >>> int(b.subspace_mask().sum())
        4
        >>> c = mf.ZonalBasis(2, 6)  # the circle: any period
        >>> c.real_degrees[c.subspace_mask(period=3)].tolist()
        [3, 6]
        """
        if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
            raise ValueError(f"period must be an integer >= 1, got {period!r}")
        if self.dim > 2 and period > 2:
            raise ValueError(
                f"period={period} does not give an invariant subspace of zonal densities on "
                f"S^{self.dim - 1}: only period 1 (all degrees) or 2 (even in t) do")
        return self.real_degrees % period == 0

    def branch_mask(self, k: int) -> np.ndarray:
        """Real coordinates of the invariant subspace holding the branch born at mode k:
        even degrees for even k (densities even in t), all degrees for odd k (d = 2:
        degrees in kZ, the circle's 2 pi/k-periodic even densities).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> b.real_degrees[b.branch_mask(2)].tolist(), b.real_degrees[b.branch_mask(3)].tolist()
        ([2, 4], [1, 2, 3, 4])
        >>> c = mf.ZonalBasis(2, 6)
        >>> c.real_degrees[c.branch_mask(3)].tolist()
        [3, 6]
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"mode k must be >= 1, got {k}")
        if self.dim == 2:
            return self.subspace_mask(period=k)
        return self.subspace_mask(period=2 if k % 2 == 0 else 1)

    def invariant_blocks(self, c: np.ndarray, rtol: float = 1e-12) -> list[np.ndarray]:
        """Real coordinates split into subspaces that the linearization at c leaves invariant.

        At the uniform state every degree is its own block. A state even in t (odd
        coefficients below rtol of the largest) decouples even and odd degrees; otherwise
        one block. For d = 2, a state with period 2 pi/p couples only degrees j = +-r mod p,
        as on the circle.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> [blk.tolist() for blk in b.invariant_blocks(np.eye(5)[0])]  # uniform
        [[0], [1], [2], [3]]
        >>> [blk.tolist() for blk in b.invariant_blocks(b.forward(1 + b.grid**2))]  # even in t
        [[1, 3], [0, 2]]
        >>> len(b.invariant_blocks(b.forward(1 + b.grid)))
        1
        """
        c = np.asarray(c).real
        deg = self.real_degrees
        mag = np.abs(c[1:])
        thr = rtol * max(abs(float(c[0])), float(mag.max()) if mag.size else 0.0)
        active = deg[mag > thr]
        if active.size == 0:
            return [np.array([i]) for i in range(self.n_real)]
        if self.dim == 2:
            period = int(np.gcd.reduce(active))
            blocks = []
            for r in range(period // 2 + 1):
                members = np.nonzero(np.isin(deg % period, (r, (period - r) % period)))[0]
                if members.size:
                    blocks.append(members)
            return blocks
        if np.all(active % 2 == 0):
            return [np.nonzero(deg % 2 == 0)[0], np.nonzero(deg % 2 == 1)[0]]
        return [np.arange(self.n_real)]

    def rotation_generators(self, c: np.ndarray) -> list[np.ndarray]:
        """None: the zonal class keeps no continuous symmetry (stability computed in this
        basis is stability against zonal perturbations only).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)  # axisymmetric functions on S^2
        >>> b.rotation_generators(b.forward(1 + b.grid))
        []
        """
        return []
