"""Spherical-harmonic basis on S^2 (d = 3), transforms through ducc0.

Convention (DESIGN.md §1): densities are taken with respect to the normalized uniform
measure sigma = dOmega / (4 pi) on S^2, so the uniform state is rho = 1.

Coefficients (real, ``coeff_dtype = float64``)
----------------------------------------------
A function is stored by its coefficients in the *real orthonormal* spherical harmonics
w.r.t. sigma,

    Z_{l,0}  = sqrt(4 pi) Y_l^0,
    Z_{l,m}  = sqrt(8 pi) Re Y_l^m,   Z_{l,-m} = sqrt(8 pi) Im Y_l^m   (1 <= m <= l),

with Y_l^m the complex harmonics orthonormal w.r.t. dOmega in the ducc0 / healpy
convention (Condon–Shortley phase included), so int Z_i Z_j d sigma = delta_ij and
Z_{0,0} = 1. The coefficient of (l, m) sits at index ``l*l + l + m`` (m = -l..l), an array
of length (lmax + 1)^2: degrees are nested, so the first (L + 1)^2 entries are the degrees
<= L (``convert`` pads / truncates), and index 0 is the mass. Parseval: int f g d sigma =
sum_i a_i b_i. The complex ducc0 coefficients are a_l^0 = sqrt(4 pi) c_{l,0},
a_l^m = sqrt(2 pi) (c_{l,m} - i c_{l,-m}) for m > 0.

Order parameter: ``amplitude(c, k)`` = <P_k(x . e_3)> = int rho P_k(cos theta) d sigma =
c_{k,0} / sqrt(2k + 1), taken about the z axis (e_3).

Grid
----
Gauss–Legendre in theta (ducc0 geometry "GL", ring 0 nearest the north pole) times an
equispaced phi_k = 2 pi k / nphi, k = 0..nphi-1. With the default ``dealias = 1.5``:
ntheta = ceil(1.5 (lmax + 1)) and nphi = the smallest FFT-friendly size >= 3 lmax + 1, so
the quadrature integrates products of three degree-lmax functions exactly (the USA flux
rho grad U tested against grad Z). Grid arrays have shape (ntheta, nphi); ``points``
(ntheta, nphi, 3) = (sin t cos p, sin t sin p, cos t); ``grid`` = (theta, phi) as two
(ntheta, nphi) arrays; ``weights`` (ntheta, nphi) sum to 1.

Calculus
--------
A tangent field v = v_theta e_theta + v_phi e_phi is stored as ONE complex grid array
w = v_theta + i v_phi, in the layout (1, *batch, ntheta, nphi) (complex128). One
"component" on the first axis, like the circle and zonal bases, so that products with scalar
grid arrays broadcast the same way: the model's linearization multiplies an unbatched field
grad U (1, ntheta, nphi) by batched densities (n, ntheta, nphi), which a real two-component
layout (2, *batch, ...) would not broadcast. Multiplying by real scalars acts on both
components; ``vector_norm`` is |w|. ``grad`` is ducc0's derivative synthesis
(= spin-1 synthesis of sqrt(l(l+1)) a_lm in the gradient/curl convention). ``div`` is taken
weakly, as the quadrature adjoint of ``grad``:

    (div v)_i = -int v . grad Z_i d sigma   (spin-1 adjoint synthesis of the weighted field),

so the mass coefficient of a divergence is exactly 0 and div(grad c) = -l(l+1) c to
round-off. ``forward`` is the quadrature projection int f Z_i d sigma (spin-0 adjoint
synthesis of the weighted grid values), exact for band-limited f up to degree
2 ntheta - 1 - lmax.

Symmetries: ``rotate`` rotates coefficient arrays (ducc0.sht.rotate_alm);
``rotation_generators`` gives the three infinitesimal rotations L_x, L_y, L_z applied to
a state (its SO(3)-orbit tangent), which ``linear_stability`` sets aside as zero modes.
"""

from __future__ import annotations

import math

import numpy as np

from ._real import RealOrthonormalSeries

try:  # pragma: no cover - import guard
    import ducc0
except ImportError as exc:  # pragma: no cover
    raise ImportError("SphereBasis needs ducc0 (pip install ducc0)") from exc

from scipy.special import roots_legendre

_SHT = ducc0.sht.experimental
_GEOM = "GL"
#: largest grid (ntheta * nphi points) a SphereBasis builds: 2**23 points, lmax <= ~1360 at
#: dealias 1.5 (about 1 GiB of basis arrays, seconds to build, a transform per ~0.1 s);
#: larger requests are refused up front
MAX_GRID_POINTS = 1 << 23
#: bytes per grid point of the arrays a SphereBasis holds (grid, points, weights, frames)
_BYTES_PER_POINT = 8 * 14 + 1


def _check_int(value, name: str, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int >= {minimum} ({what}), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} ({what}), got {value}")
    return int(value)


def _rotation_angles(rotation) -> tuple[float, float, float]:
    """(psi, theta, phi) of ducc0.sht.rotate_alm (active R = Rz(phi) Ry(theta) Rz(psi))."""
    r = np.asarray(rotation, dtype=float)
    if r.shape == (3,):
        return float(r[0]), float(r[1]), float(r[2])
    if r.shape != (3, 3):
        raise ValueError("rotation must be a 3x3 rotation matrix or Euler angles "
                         f"(psi, theta, phi), got shape {r.shape}")
    if not (np.allclose(r @ r.T, np.eye(3), atol=1e-10) and np.linalg.det(r) > 0):
        raise ValueError("rotation matrix must be orthogonal with determinant +1")
    from scipy.spatial.transform import Rotation

    a, b, c = Rotation.from_matrix(r).as_euler("zyz")  # extrinsic: R = Rz(c) Ry(b) Rz(a)
    return float(a), float(b), float(c)


def euler_matrix(psi: float, theta: float, phi: float) -> np.ndarray:
    """The rotation matrix Rz(phi) Ry(theta) Rz(psi) of the Euler angles ``rotate`` takes.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.bases.sphere import euler_matrix
    >>> R = euler_matrix(0.0, np.pi / 2, 0.0)  # a quarter turn about e_2
    >>> (np.round(R @ [0.0, 0.0, 1.0], 12) + 0).tolist()
    [1.0, 0.0, 0.0]
    >>> bool(np.allclose(R @ R.T, np.eye(3))), round(float(np.linalg.det(R)), 12)
    (True, 1.0)
    """
    def rz(a):
        return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                         [0.0, 0.0, 1.0]])

    def ry(a):
        return np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0],
                         [-math.sin(a), 0.0, math.cos(a)]])
    return rz(phi) @ ry(theta) @ rz(psi)


class SphereBasis(RealOrthonormalSeries):
    """Pseudo-spectral spherical-harmonic basis on S^2 (real orthonormal harmonics).

    Parameters
    ----------
    lmax : int
        Highest degree kept (>= 1); (lmax + 1)^2 real coefficients. A grid beyond
        ``MAX_GRID_POINTS`` points raises MemoryError up front.
    dealias : float
        Grid factor (>= 1): ntheta = ceil(dealias (lmax + 1)), nphi >= 2 dealias lmax + 1
        (FFT-friendly). 1.5 (default) integrates the quadratic USA flux exactly.
    nthreads : int
        Threads ducc0 uses per transform (0: all hardware threads).
    dim : int
        3 (default): this basis on S^2; 4: ``SphereBasis(lmax, dim=4)`` returns a
        :class:`~meanfield.bases.sphere3.Sphere3Basis` (the full 3-sphere) instead.

    Attributes
    ----------
    theta, phi : ndarray (ntheta,), (nphi,)
        Colatitudes (Gauss–Legendre, ascending) and longitudes of the grid.
    grid : tuple of two ndarrays (ntheta, nphi)
        (theta, phi) at every node.
    points : ndarray (ntheta, nphi, 3)
        The grid as unit vectors.
    weights : ndarray (ntheta, nphi)
        Quadrature weights of sigma (sum 1).
    degrees, orders : ndarray ((lmax + 1)^2,)
        Degree l and signed order m of each coefficient (m < 0: the sine part).
    laplacian : ndarray ((lmax + 1)^2,)
        Laplace–Beltrami eigenvalue -l(l+1) of each coefficient.
    reliable_nodes : ndarray of bool (ntheta, nphi)
        All True (Gauss–Legendre weights on S^2 are never negligible).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> b = mf.SphereBasis(8)
    >>> round(float(b.integrate(np.ones(b.shape))), 14)
    1.0
    """

    dim = 3
    coeff_dtype = np.float64
    is_zonal = False
    #: the class of densities held (and of perturbations its spectra cover)
    restriction = "all"

    def __new__(cls, *args, dim: int = 3, **kwargs):
        """``dim=4`` returns a :class:`~meanfield.bases.sphere3.Sphere3Basis` (the full S^3);
        ``dim=3`` (default) this S^2 basis; other dims are refused.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.SphereBasis(4, dim=4)
        Sphere3Basis(lmax=4, dealias=1.5, grid=4x15x15)
        >>> mf.SphereBasis(4, dim=5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: dim must be 3 (S^2) or 4 (S^3), got 5; zonal densities on S^(d-1) ...
        """
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise TypeError(f"dim must be the int 3 (S^2) or 4 (S^3), got {dim!r}")
        if dim == 4:
            from .sphere3 import Sphere3Basis

            return Sphere3Basis(*args, **kwargs)
        if dim != 3:
            raise ValueError(f"dim must be 3 (S^2) or 4 (S^3), got {dim}; zonal densities on "
                             "S^(d-1) for any d: ZonalBasis(d, lmax)")
        return super().__new__(cls)

    def __init__(self, lmax: int, dealias: float = 1.5, nthreads: int = 1, *,
                 dim: int = 3) -> None:
        self.lmax = _check_int(lmax, "lmax", 1, "the highest spherical-harmonic degree")
        try:
            dealias = float(dealias)
        except (TypeError, ValueError):
            raise TypeError(f"dealias must be a number >= 1, got {dealias!r}") from None
        if not (np.isfinite(dealias) and dealias >= 1.0):
            raise ValueError(f"dealias must be a finite number >= 1, got {dealias}")
        self.dealias = dealias
        self.nthreads = _check_int(nthreads, "nthreads", 0, "0 = all hardware threads")
        L = self.lmax
        self.ntheta = max(L + 1, math.ceil(dealias * (L + 1) - 1e-9))
        n_points = self.ntheta * max(2 * L + 1, math.ceil(2 * dealias * L - 1e-9) + 1)
        if n_points > MAX_GRID_POINTS:  # before good_size / roots_legendre (minutes for 10^5)
            most = int(math.sqrt(MAX_GRID_POINTS / (2 * dealias * dealias)))
            while most > 1 and (max(most + 1, math.ceil(dealias * (most + 1) - 1e-9))
                                * (math.ceil(2 * dealias * most - 1e-9) + 1) > MAX_GRID_POINTS):
                most -= 1
            raise MemoryError(
                f"SphereBasis(lmax={L}, dealias={dealias:g}) needs a grid of at least "
                f"{self.ntheta} x {n_points // self.ntheta} = {n_points} points "
                f"(~{n_points * _BYTES_PER_POINT / 2**30:.3g} GiB for the basis alone, several "
                "times that for a run), beyond meanfield.bases.sphere.MAX_GRID_POINTS = "
                f"{MAX_GRID_POINTS}: use lmax <= {most} (the kernel needs "
                "model.required_degree(1e-12)), a ZonalBasis(3, lmax) for zonal densities, or "
                "simulate_particles(dim=3, method='spectral')")
        self.nphi = int(ducc0.fft.good_size(max(2 * L + 1, math.ceil(2 * dealias * L - 1e-9) + 1)))
        x, _ = roots_legendre(self.ntheta)
        self.theta = np.arccos(x[::-1])  # ring 0 nearest the north pole (ducc0 order)
        self.phi = 2 * np.pi * np.arange(self.nphi) / self.nphi
        th, ph = np.meshgrid(self.theta, self.phi, indexing="ij")
        self.grid = (th, ph)
        st, ct, sp, cp = np.sin(th), np.cos(th), np.sin(ph), np.cos(ph)
        self.points = np.stack([st * cp, st * sp, ct], axis=-1)
        w_ring = _SHT.get_gridweights(_GEOM, self.ntheta) / (4 * np.pi * self.nphi)
        self.weights = np.broadcast_to(w_ring[:, None], self.shape).copy()
        self._w_pix = (w_ring * 4 * np.pi)[:, None]  # dOmega weights per pixel (ring, 1)
        self.reliable_nodes = np.ones(self.shape, dtype=bool)
        # tangent frame: e_theta, e_phi (ntheta, nphi, 3)
        self._e_theta = np.stack([ct * cp, ct * sp, -st], axis=-1)
        self._e_phi = np.stack([-sp, cp, np.zeros_like(ph)], axis=-1)

        # real layout: index l*l + l + m
        l_of = np.concatenate([np.full(2 * l + 1, l) for l in range(L + 1)])
        m_of = np.concatenate([np.arange(-l, l + 1) for l in range(L + 1)])
        self.degrees = l_of
        self.orders = m_of
        self.laplacian = -(l_of * (l_of + 1)).astype(float)
        # healpy alm layout: index m (2 L + 1 - m) / 2 + l
        am = np.concatenate([np.full(L + 1 - m, m) for m in range(L + 1)])
        al = np.concatenate([np.arange(m, L + 1) for m in range(L + 1)])
        self.n_alm = am.size
        self._alm_l, self._alm_m = al, am
        self._rc = al * al + al + am  # real index of the cosine (or m = 0) part
        pos = am > 0
        self._pos = pos
        self._rs = (al * al + al - am)[pos]  # real index of the sine part
        self._to_alm_c = np.where(pos, math.sqrt(2 * np.pi), math.sqrt(4 * np.pi))
        self._from_alm_c = 1.0 / self._to_alm_c
        self._sqrt_ll = np.sqrt(al * (al + 1.0))

    # -- shapes -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """Shape of a grid function: (ntheta, nphi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> b.shape, b.ntheta, b.nphi  # ceil(1.5 (lmax + 1)) rings, FFT-friendly nphi
        ((8, 14), 8, 14)
        """
        return (self.ntheta, self.nphi)

    @property
    def coeff_shape(self) -> tuple[int]:
        """Shape of a coefficient array: ((lmax + 1)^2,).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> b.coeff_shape
        (25,)
        """
        return ((self.lmax + 1) ** 2,)

    def __repr__(self) -> str:
        return (f"SphereBasis(lmax={self.lmax}, dealias={self.dealias}, "
                f"grid={self.ntheta}x{self.nphi})")

    def index(self, l: int, m: int) -> int:
        """Position of the real coefficient (l, m) (m < 0: sine part) in a coefficient array.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> b.index(0, 0), b.index(1, 0), b.index(2, -2), b.index(4, 4)
        (0, 2, 4, 24)
        >>> bool(b.degrees[b.index(3, -1)] == 3 and b.orders[b.index(3, -1)] == -1)
        True
        """
        if not (0 <= l <= self.lmax and -l <= m <= l):
            raise ValueError(f"(l, m) = ({l}, {m}) is not in the basis (lmax={self.lmax})")
        return l * l + l + m

    # -- validation and layout conversions ----------------------------------------------
    def _check_grid(self, f, name: str = "grid values") -> np.ndarray:
        f = np.asarray(f, dtype=float)
        if f.shape[-2:] != self.shape:
            raise ValueError(f"{name} must have trailing grid shape {self.shape} "
                             f"(ntheta, nphi) = basis.shape, got shape {f.shape}")
        return f

    def to_alm(self, c: np.ndarray) -> np.ndarray:
        """Real coefficients (..., (lmax+1)^2) -> complex ducc0 a_lm (..., n_alm) (dOmega).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> c = np.zeros(b.coeff_shape)
        >>> c[0] = 1.0  # f = 1: a_00 = sqrt(4 pi) for Y_00 = 1 / sqrt(4 pi)
        >>> a = b.to_alm(c)
        >>> a.shape, bool(np.isclose(a[0], np.sqrt(4 * np.pi)))
        ((15,), True)
        """
        c = self._check_coeffs(c)
        a = (c[..., self._rc] * self._to_alm_c).astype(complex)
        a[..., self._pos] -= 1j * math.sqrt(2 * np.pi) * c[..., self._rs]
        return a

    def from_alm(self, a: np.ndarray) -> np.ndarray:
        """Complex ducc0 a_lm (..., n_alm) of a real function -> real coefficients.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> c = np.random.default_rng(0).standard_normal(b.coeff_shape)
        >>> bool(np.allclose(b.from_alm(b.to_alm(c)), c, atol=1e-15))
        True
        """
        a = np.asarray(a)
        out = np.empty(a.shape[:-1] + self.coeff_shape)
        out[..., self._rc] = a.real * self._from_alm_c
        out[..., self._rs] = -a[..., self._pos].imag / math.sqrt(2 * np.pi)
        return out

    def _synth(self, a: np.ndarray) -> np.ndarray:
        out = np.empty(a.shape[:-1] + self.shape)
        a2 = a.reshape(-1, 1, self.n_alm)
        o2 = out.reshape(-1, 1, *self.shape)
        for i in range(a2.shape[0]):
            _SHT.synthesis_2d(alm=a2[i], spin=0, lmax=self.lmax, geometry=_GEOM,
                              nthreads=self.nthreads, map=o2[i])
        return out

    def _adjoint(self, f: np.ndarray) -> np.ndarray:
        """sum over the grid of f conj(Y_lm) times dOmega weights (quadrature), (..., n_alm)."""
        g = np.ascontiguousarray(f * self._w_pix)
        out = np.empty(f.shape[:-2] + (self.n_alm,), dtype=complex)
        g2 = g.reshape(-1, 1, *self.shape)
        o2 = out.reshape(-1, 1, self.n_alm)
        for i in range(g2.shape[0]):
            _SHT.adjoint_synthesis_2d(map=g2[i], spin=0, lmax=self.lmax, geometry=_GEOM,
                                      nthreads=self.nthreads, alm=o2[i])
        return out

    # -- transforms -------------------------------------------------------------------
    def forward(self, f: np.ndarray) -> np.ndarray:
        """Grid values (..., ntheta, nphi) -> coefficients int f Z_i d sigma (quadrature).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> np.round(cz[:4], 12) + 0
        array([0.        , 0.        , 0.57735027, 0.        ])
        """
        return self.from_alm(self._adjoint(self._check_grid(f)))

    def backward(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., (lmax+1)^2) -> grid values (..., ntheta, nphi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> bool(np.allclose(b.backward(cz), b.points[..., 2], atol=1e-14))
        True
        """
        return self._synth(self.to_alm(c))

    def from_function(self, f) -> np.ndarray:
        """Grid values of a function f(x) of points x (..., 3) on S^2.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> f = b.from_function(lambda x: x[..., 2] ** 2)
        >>> f.shape, round(float(b.integrate(f)), 12)  # int z^2 d sigma = 1/3
        ((8, 14), 0.333333333333)
        """
        if not callable(f):
            raise TypeError("f must be a callable of points x with shape (..., 3)")
        vals = np.asarray(f(self.points.copy()), dtype=float)
        if vals.shape != self.shape:
            raise ValueError(f"f must return one value per point, shape {self.shape}, "
                             f"got {vals.shape}")
        return vals

    def evaluate(self, c: np.ndarray, points, epsilon: float = 1e-13) -> np.ndarray:
        """The series c (..., (lmax+1)^2) at arbitrary unit vectors ``points`` (..., 3).

        Uses ducc0's non-uniform synthesis (relative accuracy about ``epsilon``).
        Returns shape (*c.shape[:-1], *points.shape[:-1]).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> np.round(b.evaluate(cz, [[0.0, 0.0, 1.0], [0.6, 0.0, 0.8], [1.0, 0.0, 0.0]]), 12) + 0
        array([1. , 0.8, 0. ])
        """
        a = self.to_alm(c)
        p = np.asarray(points, dtype=float)
        if p.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {p.shape}")
        flat = p.reshape(-1, 3)
        r = np.linalg.norm(flat, axis=1)
        th = np.arccos(np.clip(flat[:, 2] / np.where(r > 0, r, 1.0), -1.0, 1.0))
        ph = np.mod(np.arctan2(flat[:, 1], flat[:, 0]), 2 * np.pi)
        loc = np.ascontiguousarray(np.stack([th, ph], axis=-1))
        a2 = a.reshape(-1, self.n_alm)
        out = np.empty((a2.shape[0], loc.shape[0]))
        for i in range(a2.shape[0]):
            out[i] = _SHT.synthesis_general(alm=a2[i:i + 1], spin=0, lmax=self.lmax,
                                            loc=loc, epsilon=epsilon,
                                            nthreads=self.nthreads)[0]
        return out.reshape(a.shape[:-1] + p.shape[:-1])

    # -- calculus ---------------------------------------------------------------------
    def grad(self, c: np.ndarray) -> np.ndarray:
        """Tangent gradient on the grid as w = d_theta f + i d_phi f / sin(theta), complex,
        layout (1, *batch, ntheta, nphi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> w = b.grad(cz)  # grad z = -sin(theta) e_theta
        >>> w.shape
        (1, 8, 14)
        >>> theta = b.grid[0]
        >>> bool(np.allclose(w[0].real, -np.sin(theta))), bool(np.allclose(w[0].imag, 0))
        (True, True)
        """
        a = self.to_alm(c)
        out = np.empty((1,) + a.shape[:-1] + self.shape, dtype=complex)
        a2 = a.reshape(-1, 1, self.n_alm)
        o2 = out.reshape(-1, *self.shape)
        for i in range(a2.shape[0]):  # ducc0 writes (d_theta, d_phi/sin) into (re, im) views
            _SHT.synthesis_2d_deriv1(alm=a2[i], lmax=self.lmax, geometry=_GEOM,
                                     nthreads=self.nthreads, map=self._pair_view(o2[i]))
        return out

    def _pair_view(self, w: np.ndarray) -> np.ndarray:
        """(2, ntheta, nphi) float view (real, imag) of a contiguous complex grid array."""
        return np.moveaxis(w.view(float).reshape(*self.shape, 2), -1, 0)

    def div(self, v: np.ndarray) -> np.ndarray:
        """Coefficients of div v for a field w = v_theta + i v_phi in the layout
        (1, *batch, ntheta, nphi), taken weakly: (div v)_i = -int v . grad Z_i d sigma
        (the quadrature adjoint of ``grad``).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> c = b.forward(b.from_function(lambda x: x[..., 0] * x[..., 2] + x[..., 1]))
        >>> bool(np.allclose(b.div(b.grad(c)), b.laplacian * c))  # div grad = -l(l+1)
        True
        """
        v = np.asarray(v)
        if v.ndim < 3 or v.shape[0] != 1:
            raise ValueError("a tangent field on S^2 has the layout (1, *batch, ntheta, nphi) "
                             "(complex: v_theta + i v_phi), got shape "
                             f"{v.shape}")
        if v.shape[-2:] != self.shape:
            raise ValueError(f"vector field values must have trailing grid shape {self.shape}"
                             f" (ntheta, nphi) = basis.shape, got shape {v.shape}")
        w = np.ascontiguousarray(v[0] * self._w_pix, dtype=complex)
        batch = w.shape[:-2]
        w2 = w.reshape(-1, *self.shape)
        out = np.empty(batch + (self.n_alm,), dtype=complex)
        o2 = out.reshape(-1, self.n_alm)
        tmp = np.empty((2, self.n_alm), dtype=complex)
        for i in range(w2.shape[0]):
            _SHT.adjoint_synthesis_2d(map=self._pair_view(w2[i]), spin=1, lmax=self.lmax,
                                      geometry=_GEOM, nthreads=self.nthreads, alm=tmp)
            o2[i] = tmp[0]
        out *= -self._sqrt_ll
        return self.from_alm(out)

    def vector_norm(self, v: np.ndarray) -> np.ndarray:
        """Pointwise length |v_theta + i v_phi| of a field (1, *batch, ntheta, nphi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> bool(np.allclose(b.vector_norm(b.grad(cz)), np.sin(b.grid[0])))  # |grad z|
        True
        """
        return np.abs(np.asarray(v)[0])

    def tangent_components(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(v_theta, v_phi), each (*batch, ntheta, nphi), of a field in this layout.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> v_theta, v_phi = b.tangent_components(b.grad(cz))
        >>> v_theta.shape, bool(np.allclose(v_theta, -np.sin(b.grid[0])))
        ((8, 14), True)
        >>> bool(np.allclose(v_phi, 0))
        True
        """
        v = np.asarray(v)[0]
        return v.real, v.imag

    def tangent_to_cartesian(self, v: np.ndarray) -> np.ndarray:
        """A field (1, *batch, ntheta, nphi) as vectors in R^3: (*batch, ntheta, nphi, 3).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> V = b.tangent_to_cartesian(b.grad(cz))  # grad z = e_3 - z x
        >>> z = b.points[..., 2:]
        >>> V.shape, bool(np.allclose(V, [0.0, 0.0, 1.0] - z * b.points))
        ((8, 14, 3), True)
        """
        vt, vp = self.tangent_components(v)
        return vt[..., None] * self._e_theta + vp[..., None] * self._e_phi

    def tangent_from_cartesian(self, u: np.ndarray) -> np.ndarray:
        """Ambient vectors u (*batch, ntheta, nphi, 3) -> the field (1, *batch, ntheta, nphi).

        The tangent projection P_x u in this basis's layout v_theta + i v_phi.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> u = np.random.default_rng(0).normal(size=b.points.shape)
        >>> w = b.tangent_to_cartesian(b.tangent_from_cartesian(u))  # = P_x u
        >>> bool(np.allclose(w, u - np.sum(u * b.points, -1)[..., None] * b.points))
        True
        """
        u = np.asarray(u, dtype=float)
        if u.shape[-3:] != self.shape + (3,):
            raise ValueError(f"u must have shape (..., {self.ntheta}, {self.nphi}, 3), got "
                             f"{u.shape}")
        vt = np.einsum("...i,...i->...", u, self._e_theta)
        vp = np.einsum("...i,...i->...", u, self._e_phi)
        return (vt + 1j * vp)[None]

    def integrate(self, f: np.ndarray) -> np.ndarray:
        """Integral against sigma over the two grid axes (Gauss–Legendre x trapezoid).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> z = b.points[..., 2]
        >>> round(float(b.integrate(z**2)), 12), round(float(b.integrate(z**4)), 12)  # 1/3, 1/5
        (0.333333333333, 0.2)
        """
        f = self._check_grid(f)
        return np.einsum("...ij,ij->...", f, self.weights)

    def amplitude(self, c: np.ndarray, k: int) -> np.ndarray:
        """Order parameter <P_k(x . e_3)> = c_{k,0} / sqrt(2k + 1), about the z axis (signed).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> rho = b.forward(1 + 0.6 * b.points[..., 2])
        >>> round(float(b.amplitude(rho, 1)), 12)  # <z> = 0.6 / 3
        0.2
        """
        k = int(k)
        if not 0 <= k <= self.lmax:
            raise ValueError(f"degree k must be in [0, {self.lmax}], got {k}")
        return np.asarray(c)[..., k * k + k].real / math.sqrt(2 * k + 1)

    def degree_power(self, c: np.ndarray) -> np.ndarray:
        """sqrt(sum_m c_{l,m}^2) per degree l = 0..lmax (rotation invariant): (..., lmax+1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> c = b.forward(b.points[..., 0] + b.points[..., 1])  # degree 1 only
        >>> np.round(b.degree_power(c), 12) + 0  # |x + y|_{L2} = sqrt(2/3)
        array([0.        , 0.81649658, 0.        , 0.        , 0.        ])
        """
        c = np.asarray(c).real
        sel = self.degrees[None, :] == np.arange(self.lmax + 1)[:, None]
        out = (c**2) @ sel.T.astype(float)
        return np.sqrt(out)

    # -- symmetries -------------------------------------------------------------------
    def rotate(self, c: np.ndarray, rotation) -> np.ndarray:
        """Coefficients of f o R^{-1} (f rotated actively by R) for coefficients c of f.

        ``rotation`` is a 3x3 rotation matrix R, or Euler angles (psi, theta, phi) meaning
        R = Rz(phi) Ry(theta) Rz(psi) (see :func:`euler_matrix`).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> r = b.rotate(cz, (0.0, np.pi / 2, 0.0))  # e_3 -> e_1: z becomes x
        >>> bool(np.allclose(r, b.forward(b.points[..., 0])))
        True
        >>> from meanfield.bases.sphere import euler_matrix
        >>> bool(np.allclose(b.rotate(cz, euler_matrix(0.0, np.pi / 2, 0.0)), r))
        True
        """
        psi, theta, phi = _rotation_angles(rotation)
        a = self.to_alm(c)
        a2 = a.reshape(-1, self.n_alm)
        out = np.empty_like(a2)
        for i in range(a2.shape[0]):
            out[i] = ducc0.sht.rotate_alm(np.ascontiguousarray(a2[i]), self.lmax, psi, theta,
                                          phi, nthreads=self.nthreads)
        return self.from_alm(out.reshape(a.shape))

    def rotation_generators(self, c: np.ndarray) -> list[np.ndarray]:
        """The infinitesimal rotations about e_x, e_y, e_z applied to c: coefficients of
        d/dt f(exp(-t [e_i]x) x) = -(e_i x x) . grad f (exact: the quadrature integrates
        these degree-l harmonics exactly). For c axisymmetric about e_3, L_z c = 0.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> Lx, Ly, Lz = b.rotation_generators(cz)
        >>> bool(np.allclose(Lz, 0))  # z is axisymmetric about e_3
        True
        >>> bool(np.allclose(Ly, b.forward(b.points[..., 0])))  # -(e_y x p) . grad z = x
        True
        """
        c = self._check_coeffs(c)
        g = self.grad(c)
        out = []
        for i in range(3):
            e = np.zeros(3)
            e[i] = 1.0
            w = np.cross(e, self.points)  # (ntheta, nphi, 3)
            wt = np.sum(w * self._e_theta, axis=-1)
            wp = np.sum(w * self._e_phi, axis=-1)
            out.append(self.forward(-(wt * g[0].real + wp * g[0].imag)))
        return out

    # -- resolution changes -----------------------------------------------------------
    def with_max_degree(self, max_degree: int) -> SphereBasis:
        """A basis of the same kind (same dealias, threads) keeping degrees <= max_degree.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> b.with_max_degree(2)
        SphereBasis(lmax=2, dealias=1.5, grid=5x7)
        """
        return SphereBasis(int(max_degree), dealias=self.dealias, nthreads=self.nthreads)

    def convert(self, c: np.ndarray, other: SphereBasis) -> np.ndarray:
        """Coefficients c of this basis expressed in ``other`` (zero-padded or truncated).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> cz = b.forward(b.points[..., 2])  # f(x) = z = sqrt(1/3) Z_{1,0}
        >>> small, big = b.with_max_degree(1), b.with_max_degree(6)
        >>> b.convert(cz, small).shape, b.convert(cz, big).shape
        ((4,), (49,))
        >>> bool(np.allclose(b.convert(b.convert(cz, big), b), cz))
        True
        """
        if not isinstance(other, SphereBasis):
            raise ValueError(f"can only convert to a SphereBasis, got {other!r}")
        c = np.asarray(c)
        out = np.zeros(c.shape[:-1] + other.coeff_shape)
        n = (min(self.lmax, other.lmax) + 1) ** 2
        out[..., :n] = c[..., :n].real
        return out

    # -- real coordinates (Newton, continuation, stability) --------------------------------
    @property
    def real_orders(self) -> np.ndarray:
        """Signed order m of each real coordinate.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> mf.SphereBasis(2).real_orders.tolist()
        [-1, 0, 1, -2, -1, 0, 1, 2]
        """
        return self.orders[1:]

    def subspace_mask(self, symmetric: bool = False, period: int = 1) -> np.ndarray:
        """Real coordinates spanning an invariant subspace.

        ``symmetric=True``: axisymmetric densities about e_3 (m = 0 only), which removes the
        rotations (the m = 0 class keeps only a discrete symmetry). Otherwise ``period`` p:
        densities invariant under the rotation by 2 pi / p about e_3 (m in pZ); p = 1 is the
        full space.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> int(b.subspace_mask().sum()), int(b.subspace_mask(symmetric=True).sum())
        (24, 4)
        >>> int(b.subspace_mask(period=2).sum())  # m in {0, +-2, +-4}
        12
        """
        if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
            raise ValueError(f"period must be an integer >= 1, got {period!r}")
        m = self.real_orders
        if symmetric:
            return m == 0
        return m % period == 0

    def branch_mask(self, k: int) -> np.ndarray:
        """The branch born at mode k lives among axisymmetric densities (m = 0), even in z
        (even degrees) for even k, as in ZonalBasis(3, lmax).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> b.real_degrees[b.branch_mask(2)].tolist(), b.real_degrees[b.branch_mask(1)].tolist()
        ([2, 4], [1, 2, 3, 4])
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"mode k must be >= 1, got {k}")
        mask = self.real_orders == 0
        if k % 2 == 0:
            mask &= self.real_degrees % 2 == 0
        return mask

    def branch_types(self, k: int) -> list:
        """The isotropy types of the mode-k branches from rho = 1 this basis traces.

        Axial subgroups of O(3) = SO(3) x Z_2^c on the degree-k harmonics V_k (Ihrig &
        Golubitsky 1984; Golubitsky, Stewart & Schaeffer 1988, vol. II, ch. XIII), each
        traced in the fixed-point subspace of a subgroup that acts diagonally on the real
        harmonics Z_{l,m} (cos m phi for m > 0, sin |m| phi for m < 0, P_l^|m|(-z) =
        (-1)^(l+|m|) P_l^|m|(z)):

        * every k: ``O(2) x Z_2^c`` (even k) or ``O(2)^-`` (odd k), axisymmetric about e_3
          (m = 0; even degrees for even k), as ``branch_mask(k)``;
        * k = 3: ``D_6^d`` (= D_3h), a triangle of clusters on the equator,
          Re (x_1 + i x_2)^3: fixed space of the rotation by 2 pi/3 about e_3, x_2 -> -x_2
          and x_3 -> -x_3 (m in 3Z, cosine part, l + m even); and ``O^-`` (= T_d), xyz: four
          clusters at alternate vertices of a cube, traced in the fixed space of its
          subgroup D_2d (rotation by pi about e_3, x_1 <-> x_2 and (x, y, z) -> (y, -x, -z):
          m even, l + |m|/2 even, |m|/2 even for cosines and odd for sines), which meets
          V_3 in xyz alone;
        * k = 4: ``O x Z_2^c``, the octahedral pattern x^4 + y^4 + z^4 - 3/5 (six clusters
          on the coordinate axes, or eight at a cube's vertices), traced in the fixed space
          of D_4h (m in 4Z, cosine part, l + m even), which meets V_4 in the plane of
          (4, 0) and (4, 4): its direction is the root of the quadratic bifurcation
          equation off the axisymmetric axis.

        For k = 2 the axisymmetric type is the only axial one.

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(8)
        >>> [t.name for t in b.branch_types(3)]
        ['O(2)^-', 'D_6^d', 'O^-']
        >>> t = b.branch_types(3)[2]
        >>> [(int(l), int(m)) for l, m in zip(b.real_degrees[t.mask(b)],
        ...                                   b.real_orders[t.mask(b)]) if l == 3]
        [(3, -2)]
        """
        from ..isotropy import BranchType, degree_norm

        k = int(k)
        if k < 1:
            raise ValueError(f"mode k must be >= 1, got {k}")
        axis = BranchType("O(2) x Z_2^c" if k % 2 == 0 else "O(2)^-",
                          "axisymmetric about e_3", mask=lambda b: b.branch_mask(k))
        if k == 3:
            return [axis,
                    BranchType("D_6^d", "a triangle of clusters on the equator "
                               "(Re (x_1 + i x_2)^3)", mask=_d3h_mask, amplitude=degree_norm),
                    BranchType("O^-", "four clusters at alternate vertices of a cube (xyz)",
                               mask=_d2d_mask, amplitude=degree_norm)]
        if k == 4:
            return [axis, BranchType("O x Z_2^c", "octahedral: six clusters on the axes, or "
                                     "eight at the vertices of a cube", mask=_d4h_mask,
                                     amplitude=degree_norm, exclude=((4, 0),))]
        return [axis]

    def invariant_blocks(self, c: np.ndarray, rtol: float = 1e-12) -> list[np.ndarray]:
        """Real coordinates split into subspaces the linearization at c leaves invariant.

        Uniform state: every coordinate is its own block. State axisymmetric about e_3
        (all m != 0 coefficients below rtol of the largest): one block per order class,
        m = 0, and for each |m| >= 1 the cosine (m > 0) and sine (m < 0) parts separately
        (rotations about e_3 and the reflection phi -> -phi commute with the linearization).
        Otherwise a single block.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(4)
        >>> uniform = np.eye(25)[0]
        >>> len(b.invariant_blocks(uniform))  # every coordinate alone
        24
        >>> axisym = b.forward(1 + 0.5 * b.points[..., 2])
        >>> len(b.invariant_blocks(axisym))  # m = 0, then cosine and sine parts for |m| = 1..4
        9
        >>> len(b.invariant_blocks(b.forward(1 + 0.5 * b.points[..., 0])))
        1
        """
        c = np.asarray(c).real
        mag = np.abs(c[1:])
        thr = rtol * max(abs(float(c[0])), float(mag.max()) if mag.size else 0.0)
        active = mag > thr
        if not np.any(active):
            return [np.array([i]) for i in range(self.n_real)]
        m = self.real_orders
        if np.all(m[active] == 0):
            blocks = [np.nonzero(m == 0)[0]]
            for mm in range(1, self.lmax + 1):
                blocks.append(np.nonzero(m == mm)[0])
                blocks.append(np.nonzero(m == -mm)[0])
            return blocks
        return [np.arange(self.n_real)]


# fixed-point subspaces of subgroups acting diagonally on the real harmonics (branch_types)
def _d3h_mask(b) -> np.ndarray:
    l, m = b.real_degrees, b.real_orders
    return (m >= 0) & (m % 3 == 0) & ((l + m) % 2 == 0)


def _d2d_mask(b) -> np.ndarray:
    l, m = b.real_degrees, b.real_orders
    h = np.abs(m) // 2
    parity = np.where(m >= 0, h % 2 == 0, h % 2 == 1)
    return (m % 2 == 0) & ((l + h) % 2 == 0) & parity


def _d4h_mask(b) -> np.ndarray:
    l, m = b.real_degrees, b.real_orders
    return (m >= 0) & (m % 4 == 0) & ((l + m) % 2 == 0)
