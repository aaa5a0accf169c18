"""Fourier basis on the circle S^1 (d = 2).

Convention (DESIGN.md §1): densities are taken with respect to the normalized measure
sigma = d(theta) / (2 pi), so the uniform state is rho = 1. A grid function f is stored by
its complex Fourier coefficients

    f_k = int f(theta) e^{-i k theta} d sigma,   k = 0, 1, ..., n_modes - 1,

and f(theta) = sum_{|k| < n_modes} f_k e^{i k theta} with f_{-k} = conj(f_k). The grid has
``grid_size`` equispaced angles theta_j = 2 pi j / grid_size; with ``dealias=1.5`` it holds
3 n_modes points, enough to evaluate the quadratic USA product without aliasing.
"""

from __future__ import annotations

import math

import numpy as np

from ._fft import get_fft

#: largest grid a CircleBasis builds (2**24 points: n_modes <= 5592405 at dealias 1.5, about
#: 1 GiB of basis arrays and seconds to build); larger requests are refused up front
MAX_GRID_SIZE = 1 << 24
#: bytes per grid point of the arrays a CircleBasis holds (grid, points, weights, frame)
_BYTES_PER_POINT = 8 * 6 + 1


class CircleBasis:
    """Pseudo-spectral Fourier basis on the circle.

    Parameters
    ----------
    n_modes : int
        Number of nonnegative wavenumbers kept: k = 0, ..., n_modes - 1 (>= 2). A grid
        beyond ``MAX_GRID_SIZE`` points raises MemoryError up front.
    dealias : float
        Grid size factor: the grid has the smallest even number of points
        >= 2 * dealias * n_modes (1.5, the default, removes aliasing from quadratic
        products; 1.0 gives the 2 n_modes grid).
    fft : {"auto", "pyfftw", "numpy"}
        FFT backend (see :mod:`meanfield.bases._fft`).

    Attributes
    ----------
    grid : ndarray, shape (grid_size,)
        Angles theta_j in [0, 2 pi).
    points : ndarray, shape (grid_size, 2)
        The grid as unit vectors (cos theta, sin theta).
    degrees : ndarray, shape (n_modes,)
        Wavenumber k of each coefficient.
    laplacian : ndarray, shape (n_modes,)
        Eigenvalues -k^2 of d^2/dtheta^2 on each coefficient.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> b = mf.CircleBasis(8)
    >>> float(b.forward(1 + np.cos(2 * b.grid))[2].real)  # rho_2 of 1 + cos(2 theta)
    0.5
    """

    dim = 2
    coeff_dtype = np.complex128
    is_zonal = False
    #: the class of densities held (and of perturbations its spectra cover)
    restriction = "all"

    def __init__(self, n_modes: int, dealias: float = 1.5, fft: str = "auto") -> None:
        if isinstance(n_modes, bool) or not isinstance(n_modes, int | np.integer):
            raise TypeError(f"n_modes must be an int, got {type(n_modes).__name__}")
        if n_modes < 2:
            raise ValueError(f"n_modes must be >= 2, got {n_modes}")
        if not (np.isfinite(dealias) and dealias >= 1.0):
            raise ValueError(f"dealias must be a finite number >= 1, got {dealias}")
        self.n_modes = int(n_modes)
        self.dealias = float(dealias)
        n = math.ceil(2 * self.dealias * self.n_modes - 1e-9)
        self.grid_size = n + (n % 2)
        if self.grid_size > MAX_GRID_SIZE:
            most = int((MAX_GRID_SIZE + 1e-9) / (2 * self.dealias))
            raise MemoryError(
                f"CircleBasis(n_modes={n_modes}, dealias={self.dealias:g}) needs a grid of "
                f"{self.grid_size} points (~{self.grid_size * _BYTES_PER_POINT / 2**30:.3g} GiB "
                "for the basis alone, several times that for a run), beyond "
                f"meanfield.bases.circle.MAX_GRID_SIZE = {MAX_GRID_SIZE}: use n_modes <= "
                f"{most} (the kernel needs model.required_degree(1e-12) + 1 modes), or "
                "simulate_particles with method='spectral' for very concentrated states")
        self.fft = get_fft(fft)
        self.grid = 2 * np.pi * np.arange(self.grid_size) / self.grid_size
        self.points = np.stack([np.cos(self.grid), np.sin(self.grid)], axis=-1)
        self.weights = np.full(self.grid_size, 1.0 / self.grid_size)  # quadrature for sigma
        self._e_theta = np.stack([-np.sin(self.grid), np.cos(self.grid)], axis=-1)
        self.reliable_nodes = np.ones(self.grid_size, dtype=bool)  # see basis_interface.md
        self.degrees = np.arange(self.n_modes)
        self.laplacian = -(self.degrees.astype(float) ** 2)
        self._ik = 1j * self.degrees

    # -- shapes -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int]:
        """Shape of a grid function.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.shape, b.grid_size  # 2 * dealias * n_modes grid points
        ((24,), 24)
        """
        return (self.grid_size,)

    @property
    def coeff_shape(self) -> tuple[int]:
        """Shape of a coefficient array.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.coeff_shape  # wavenumbers 0..7 (c_{-k} = conj(c_k))
        (8,)
        """
        return (self.n_modes,)

    @property
    def max_degree(self) -> int:
        """Highest wavenumber kept.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.max_degree
        7
        """
        return self.n_modes - 1

    def size_hint(self, max_degree: int) -> str:
        """How to ask for a basis whose highest degree is ``max_degree``.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.size_hint(20)
        'n_modes >= 21'
        """
        return f"n_modes >= {max_degree + 1}"

    def __repr__(self) -> str:
        return (f"CircleBasis(n_modes={self.n_modes}, dealias={self.dealias}, "
                f"grid_size={self.grid_size}, fft={self.fft.name!r})")

    # -- transforms -------------------------------------------------------------------
    def forward(self, f: np.ndarray) -> np.ndarray:
        """Grid values (..., grid_size) -> coefficients (..., n_modes) w.r.t. sigma.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> c = b.forward(1 + np.cos(b.grid) + np.sin(2 * b.grid))
        >>> np.round(c[:3], 12) + 0  # 1 + (e^{i t} + e^{-i t})/2 + (e^{2it} - e^{-2it})/(2i)
        array([1. +0.j , 0.5+0.j , 0. -0.5j])
        """
        f = np.asarray(f, dtype=float)
        if f.shape[-1:] != self.shape:
            raise ValueError(f"grid values must have {self.grid_size} points on the last axis "
                             f"(basis.grid), got shape {f.shape}")
        out = self.fft.rfft(f, self.n_modes)
        out *= 1.0 / self.grid_size
        return out

    def backward(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., n_modes) -> real grid values (..., grid_size).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> f = np.exp(np.cos(b.grid))
        >>> bool(np.allclose(b.backward(b.forward(f)), f))  # the grid round trip is exact
        True
        """
        c = np.asarray(c)
        if c.shape[-1] != self.n_modes:
            raise ValueError(f"coefficients must have {self.n_modes} entries on the last axis, "
                             f"got shape {c.shape}")
        out = self.fft.irfft(c, self.grid_size)
        out *= self.grid_size
        return out

    def from_function(self, f) -> np.ndarray:
        """Grid values of a function f(x) of points x (..., 2) on the circle.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> bool(np.allclose(b.from_function(lambda x: x[..., 0]), np.cos(b.grid)))
        True
        """
        if not callable(f):
            raise TypeError("f must be a callable of points x with shape (..., 2)")
        vals = np.asarray(f(self.points.copy()), dtype=float)
        if vals.shape != self.shape:
            raise ValueError(f"f must return one value per point, shape {self.shape}, got "
                             f"{vals.shape}")
        return vals

    def evaluate(self, c: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Evaluate the series with coefficients c (n_modes,) at arbitrary angles.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> c = b.forward(1 + np.cos(3 * b.grid))
        >>> np.round(b.evaluate(c, [0.0, np.pi / 3]), 12)
        array([2., 0.])
        """
        theta = np.asarray(theta, dtype=float)
        e = np.exp(1j * np.multiply.outer(theta, self.degrees[1:]))
        return np.real(c[0]) + 2.0 * np.real(e @ c[1:])

    # -- calculus ---------------------------------------------------------------------
    def multiplier(self, g: np.ndarray) -> np.ndarray:
        """Per-degree multiplier g_l (length > max_degree) as a per-coefficient array.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.multiplier(np.arange(10.0))  # g_l for l = 0..7
        array([0., 1., 2., 3., 4., 5., 6., 7.])
        """
        g = np.asarray(g)
        if g.shape[0] <= self.max_degree:
            raise ValueError(f"multiplier needs {self.max_degree + 1} degrees, got {g.shape[0]}")
        return g[self.degrees]

    def derivative(self, c: np.ndarray) -> np.ndarray:
        """Coefficients of d/dtheta.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> c = b.derivative(b.forward(np.sin(b.grid)))
        >>> bool(np.allclose(b.backward(c), np.cos(b.grid)))
        True
        """
        return self._ik * c

    def grad(self, c: np.ndarray) -> np.ndarray:
        """Tangent gradient of the series c on the grid, shape (1, grid_size).

        A vector field on the circle is stored by its single component along
        d/dtheta; ``div`` takes fields in the same layout.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> v = b.grad(b.forward(np.cos(2 * b.grid)))
        >>> v.shape, bool(np.allclose(v[0], -2 * np.sin(2 * b.grid)))
        ((1, 24), True)
        """
        return self.backward(self._ik * c)[np.newaxis]

    def tangent_from_cartesian(self, u: np.ndarray) -> np.ndarray:
        """Ambient vectors u (*batch, grid_size, 2) -> the tangent field (1, *batch, grid_size).

        The component along d/dtheta, <u, (-sin theta, cos theta)>: the projection P_x u in
        this basis's vector layout.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> v = b.tangent_from_cartesian(np.broadcast_to([1.0, 0.0], b.points.shape))
        >>> bool(np.allclose(v[0], -np.sin(b.grid)))  # P_x e_1 = -sin(theta) d/dtheta
        True
        """
        u = np.asarray(u, dtype=float)
        if u.shape[-2:] != (self.grid_size, 2):
            raise ValueError(f"u must have shape (..., {self.grid_size}, 2), got {u.shape}")
        return np.einsum("...i,...i->...", u, self._e_theta)[None]

    def tangent_to_cartesian(self, v: np.ndarray) -> np.ndarray:
        """A field (1, *batch, grid_size) as vectors in R^2: (*batch, grid_size, 2).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> u = np.random.default_rng(0).normal(size=b.points.shape)
        >>> w = b.tangent_to_cartesian(b.tangent_from_cartesian(u))  # = P_x u
        >>> bool(np.allclose(w, u - np.sum(u * b.points, -1)[:, None] * b.points))
        True
        """
        return np.asarray(v)[0][..., None] * self._e_theta

    def div(self, v: np.ndarray) -> np.ndarray:
        """Coefficients of the divergence of a grid vector field v of shape (1, grid_size).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> c = b.div(np.sin(b.grid)[np.newaxis])  # d/dtheta sin = cos
        >>> bool(np.allclose(b.backward(c), np.cos(b.grid)))
        True
        """
        return self._ik * self.forward(v[0])

    def integrate(self, f: np.ndarray) -> np.ndarray:
        """Integral of grid values against sigma over the last axis (spectrally accurate).

        Examples
        --------
        ``∫ e^{beta cos theta} d sigma = I_0(beta)``:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> from scipy.special import i0
        >>> bool(abs(b.integrate(np.exp(np.cos(b.grid))) - i0(1.0)) < 1e-15)
        True
        """
        return np.mean(f, axis=-1)

    def mass(self, c: np.ndarray) -> np.ndarray:
        """Integral against sigma of the series c (its k = 0 coefficient).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> float(b.mass(b.forward(2 + np.cos(b.grid))))
        2.0
        """
        return np.real(np.asarray(c)[..., 0])

    def inner(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """int f g d sigma for real series a, b (Parseval).

        Examples
        --------
        ``∫ cos^2 d sigma = 1/2``:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> c = b.forward(np.cos(b.grid))
        >>> float(b.inner(c, c))
        0.5
        """
        prod = np.real(a * np.conj(b))
        return prod[..., 0] + 2.0 * np.sum(prod[..., 1:], axis=-1)

    def amplitude(self, c: np.ndarray, k: int) -> np.ndarray:
        """Order parameter |rho_k| = |int rho e^{-ik theta} d sigma| of mode k.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> rho = 1 + 0.4 * np.cos(b.grid) + 0.2 * np.sin(2 * b.grid)
        >>> [round(float(b.amplitude(b.forward(rho), k)), 12) for k in (1, 2)]
        [0.2, 0.1]
        """
        return np.abs(np.asarray(c)[..., k])

    def tail(self, c: np.ndarray) -> np.ndarray:
        """Resolution indicator: max |c_k| over the top eighth of the modes, over |c_0|.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> bool(b.tail(b.forward(1 + np.cos(b.grid))) < 1e-15)  # nothing in the top modes
        True
        >>> round(float(b.tail(b.forward(1 + np.cos(7 * b.grid)))), 12)  # |c_7| / |c_0|
        0.5
        """
        c = np.asarray(c)
        m = max(1, self.n_modes // 8)
        return np.max(np.abs(c[..., -m:]), axis=-1) / np.maximum(np.abs(c[..., 0]), 1e-300)

    # -- resolution changes -----------------------------------------------------------
    def with_max_degree(self, max_degree: int) -> CircleBasis:
        """A basis of the same kind keeping wavenumbers up to ``max_degree``.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.with_max_degree(15).n_modes
        16
        """
        return CircleBasis(int(max_degree) + 1, dealias=self.dealias, fft=self.fft.name)

    def convert(self, c: np.ndarray, other: CircleBasis) -> np.ndarray:
        """Coefficients c of this basis expressed in ``other`` (zero-padded or truncated).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> c = b.forward(1 + np.cos(b.grid))
        >>> big = mf.CircleBasis(16)
        >>> c2 = b.convert(c, big)
        >>> c2.shape, bool(np.allclose(big.backward(c2), 1 + np.cos(big.grid)))
        ((16,), True)
        """
        c = np.asarray(c)
        out = np.zeros(c.shape[:-1] + other.coeff_shape, dtype=complex)
        m = min(self.n_modes, other.n_modes)
        out[..., :m] = c[..., :m]
        return out

    # -- real coordinates (for Newton, continuation and stability) -------------------------
    @property
    def n_real(self) -> int:
        """Number of real coordinates of a coefficient array without its degree-0 entry.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.n_real  # Re and Im of c_1..c_7
        14
        """
        return 2 * (self.n_modes - 1)

    @property
    def real_degrees(self) -> np.ndarray:
        """Degree of each real coordinate: (Re c_1..c_K-1, Im c_1..c_K-1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.real_degrees
        array([1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7])
        """
        return np.concatenate([self.degrees[1:], self.degrees[1:]])

    def to_real(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., n_modes) -> real coordinates (..., n_real), degree 0 dropped.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> x = b.to_real(b.forward(1 + np.cos(b.grid) - np.sin(2 * b.grid)))
        >>> np.round(x[[0, 1, 7, 8]], 12) + 0.0  # Re c_1, Re c_2, Im c_1, Im c_2
        array([0.5, 0. , 0. , 0.5])
        """
        c = np.asarray(c)
        return np.concatenate([c[..., 1:].real, c[..., 1:].imag], axis=-1)

    def from_real(self, x: np.ndarray, mass=1.0) -> np.ndarray:
        """Real coordinates (..., n_real) -> coefficients, with c_0 = mass.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> c = b.forward(1 + np.cos(b.grid))
        >>> bool(np.allclose(b.from_real(b.to_real(c)), c))  # c_0 = mass = 1
        True
        """
        x = np.asarray(x, dtype=float)
        k = self.n_modes - 1
        c = np.empty(x.shape[:-1] + (self.n_modes,), dtype=complex)
        c[..., 0] = mass
        c[..., 1:] = x[..., :k] + 1j * x[..., k:]
        return c

    def subspace_mask(self, symmetric: bool = False, period: int = 1) -> np.ndarray:
        """Real coordinates spanning a subspace of densities.

        ``symmetric``: even in theta (cosine series: removes the rotation);
        ``period``: 2 pi/period-periodic (only wavenumbers in period * Z).

        Examples
        --------
        Even, pi-periodic densities use the cosines of even wavenumbers only:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> m = b.subspace_mask(symmetric=True, period=2)
        >>> b.real_degrees[m]
        array([2, 4, 6])
        """
        if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
            raise ValueError(f"period must be an integer >= 1, got {period!r}")
        on = self.degrees[1:] % period == 0
        return np.concatenate([on, on & (not symmetric)])

    def branch_mask(self, k: int) -> np.ndarray:
        """Real coordinates of the invariant subspace holding the branch born at mode k:
        even, 2 pi/k-periodic densities (k-cluster states).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> b.real_degrees[b.branch_mask(3)]  # the 3-cluster branch: cos(3 t), cos(6 t)
        array([3, 6])
        """
        return self.subspace_mask(symmetric=True, period=k)

    def vector_norm(self, v: np.ndarray) -> np.ndarray:
        """Pointwise length of a grid vector field in this basis's layout (1, ..., grid).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> v = b.grad(b.forward(np.cos(b.grid)))  # -sin
        >>> bool(np.allclose(b.vector_norm(v), np.abs(np.sin(b.grid))))
        True
        """
        return np.abs(v[0])

    def invariant_blocks(self, c: np.ndarray, rtol: float = 1e-12) -> list[np.ndarray]:
        """Real coordinates split into subspaces that the linearization at c leaves invariant.

        An even state (Im c = 0) decouples cosine (Re) and sine (Im) coordinates; a state
        with period 2 pi/k (c_j = 0 unless k | j) couples only wavenumbers j with
        j = +-r (mod k). At the uniform state every wavenumber is its own block.

        Examples
        --------
        At an even, pi-periodic state the cosines and sines of the even and of the odd
        wavenumbers form four blocks:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> blocks = b.invariant_blocks(b.forward(1 + 0.3 * np.cos(2 * b.grid)))
        >>> [b.real_degrees[blk].tolist() for blk in blocks]
        [[2, 4, 6], [2, 4, 6], [1, 3, 5, 7], [1, 3, 5, 7]]
        """
        c = np.asarray(c)
        k_all = self.degrees[1:]
        mag = np.abs(c[1:])
        thr = rtol * max(abs(c[0]), float(mag.max()) if mag.size else 0.0)
        active = k_all[mag > thr]
        period = int(np.gcd.reduce(active)) if active.size else 2 * self.n_modes
        even = bool(np.all(np.abs(c[1:].imag) <= thr))
        m = self.n_modes - 1
        blocks = []
        for r in range(period // 2 + 1):
            members = np.nonzero(np.isin(k_all % period, (r, (period - r) % period)))[0]
            if members.size == 0:
                continue
            if even:
                blocks += [members, members + m]
            else:
                blocks.append(np.concatenate([members, members + m]))
        return blocks

    def rotation_generators(self, c: np.ndarray) -> list[np.ndarray]:
        """Tangent vectors of the rotation orbit of c (d/dtheta of the density).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.CircleBasis(8)
        >>> (t,) = b.rotation_generators(b.forward(np.cos(b.grid)))
        >>> bool(np.allclose(b.backward(t), -np.sin(b.grid)))
        True
        """
        return [self._ik * np.asarray(c)]

    # -- conversions ------------------------------------------------------------------
    @staticmethod
    def to_dtheta(rho: np.ndarray) -> np.ndarray:
        """Density w.r.t. sigma -> density w.r.t. d(theta) on [0, 2 pi) (divide by 2 pi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> bool(np.isclose(mf.CircleBasis.to_dtheta(1.0), 1 / (2 * np.pi)))  # uniform
        True
        """
        return np.asarray(rho) / (2 * np.pi)

    @staticmethod
    def from_dtheta(p: np.ndarray) -> np.ndarray:
        """Density w.r.t. d(theta) on [0, 2 pi) -> density w.r.t. sigma (times 2 pi).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> float(mf.CircleBasis.from_dtheta(1 / (2 * np.pi)))  # uniform on [0, 2 pi)
        1.0
        """
        return np.asarray(p) * (2 * np.pi)

    @staticmethod
    def from_unit_interval(p: np.ndarray) -> np.ndarray:
        """Density of theta / (2 pi) on [0, 1) -> density w.r.t. sigma (the same numbers).

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.CircleBasis.from_unit_interval([1.0, 1.0])  # uniform on [0, 1): rho = 1
        array([1., 1.])
        """
        return np.asarray(p, dtype=float).copy()
