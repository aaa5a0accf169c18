"""Shared members of the bases whose coefficients are real and orthonormal w.r.t. sigma
(ZonalBasis, SphereBasis): coefficient 0 is the mass, Parseval is a plain dot product, and
the real coordinates of Newton / continuation are the coefficients without the mass."""

from __future__ import annotations

import numpy as np


class RealOrthonormalSeries:
    """Mixin; the class provides ``lmax``, ``degrees`` and ``coeff_shape``.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.bases._real import RealOrthonormalSeries
    >>> isinstance(mf.ZonalBasis(3, 4), RealOrthonormalSeries)
    True
    >>> isinstance(mf.SphereBasis(2), RealOrthonormalSeries)
    True
    """

    coeff_dtype = np.float64

    @property
    def max_degree(self) -> int:
        """Highest degree kept.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.ZonalBasis(3, 4).max_degree, mf.SphereBasis(2).max_degree
        (4, 2)
        """
        return self.lmax

    def size_hint(self, max_degree: int) -> str:
        """How to ask for a basis whose highest degree is ``max_degree``.

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)
        >>> b.size_hint(10), b.size_hint(0)  # lmax >= 1 always
        ('lmax >= 10', 'lmax >= 1')
        """
        return f"lmax >= {max(int(max_degree), 1)}"

    def _check_coeffs(self, c) -> np.ndarray:
        c = np.asarray(c)
        if np.iscomplexobj(c):
            if np.any(c.imag != 0):
                raise ValueError(f"{type(self).__name__} coefficients are real; got complex "
                                 "values")
            c = c.real
        c = np.asarray(c, dtype=float)
        if c.shape[-1:] != self.coeff_shape:
            raise ValueError(f"coefficients must have {self.coeff_shape[0]} entries on the last "
                             f"axis (degrees 0..{self.lmax}), got shape {c.shape}")
        return c

    def multiplier(self, g: np.ndarray) -> np.ndarray:
        """Per-degree values g_l (a 1-D array of length > lmax) as a per-coefficient array.

        Examples
        --------
        The Laplace-Beltrami eigenvalues -l(l+1) on S^2, one per coefficient:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.SphereBasis(2)
        >>> m = b.multiplier(np.array([0.0, -2.0, -6.0]))
        >>> m.tolist()
        [0.0, -2.0, -2.0, -2.0, -6.0, -6.0, -6.0, -6.0, -6.0]
        >>> bool(np.array_equal(m, b.laplacian))
        True
        """
        g = np.asarray(g)
        if g.ndim != 1 or g.shape[0] <= self.lmax:
            raise ValueError(f"multiplier needs {self.lmax + 1} degrees (a 1-D array), "
                             f"got shape {g.shape}")
        return np.asarray(g[self.degrees], dtype=float)

    def mass(self, c: np.ndarray) -> np.ndarray:
        """int rho d sigma of the series c: its coefficient 0.

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)
        >>> round(float(b.mass(b.forward(1 + 0.5 * b.grid))), 12)  # int (1 + t/2) d sigma
        1.0
        """
        return np.asarray(c)[..., 0].real

    def inner(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """int f g d sigma of two series (Parseval in the orthonormal basis).

        Examples
        --------
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)
        >>> c = b.forward(b.grid)  # f(x) = t on S^2
        >>> round(float(b.inner(c, c)), 12)  # int t^2 d sigma = 1/3
        0.333333333333
        """
        return np.sum(np.real(np.asarray(a) * np.asarray(b)), axis=-1)

    def tail(self, c: np.ndarray) -> np.ndarray:
        """Resolution indicator: max |c| over the top eighth of the degrees, over |c_0|.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 8)  # the top eighth: degree 8 only
        >>> c = np.zeros(9)
        >>> c[0], c[8] = 2.0, 0.1
        >>> float(b.tail(c))  # 0.1 / 2
        0.05
        >>> bool(b.tail(b.forward(1 + 0.5 * b.grid)) < 1e-14)  # a resolved degree-1 density
        True
        """
        c = np.asarray(c)
        m = max(1, (self.lmax + 1) // 8)
        top = self.degrees > self.lmax - m
        return np.max(np.abs(c[..., top]), axis=-1) / np.maximum(np.abs(c[..., 0]), 1e-300)

    @property
    def n_real(self) -> int:
        """Number of real coordinates: every coefficient but the mass.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.ZonalBasis(3, 4).n_real, mf.SphereBasis(2).n_real  # (lmax + 1) - 1, (lmax + 1)^2 - 1
        (4, 8)
        """
        return self.coeff_shape[0] - 1

    @property
    def real_degrees(self) -> np.ndarray:
        """Degree of each real coordinate.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.SphereBasis(2).real_degrees.tolist()
        [1, 1, 1, 2, 2, 2, 2, 2]
        """
        return self.degrees[1:]

    def to_real(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., n) -> real coordinates (..., n - 1): the mass dropped.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)
        >>> b.to_real(np.array([1.0, 0.1, 0.2, 0.3, 0.4])).tolist()
        [0.1, 0.2, 0.3, 0.4]
        """
        return np.array(np.asarray(c)[..., 1:].real, dtype=float)

    def from_real(self, x: np.ndarray, mass=1.0) -> np.ndarray:
        """Real coordinates -> coefficients with coefficient 0 = mass.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> b = mf.ZonalBasis(3, 4)
        >>> b.from_real(np.array([0.1, 0.2, 0.3, 0.4]), mass=2.0).tolist()
        [2.0, 0.1, 0.2, 0.3, 0.4]
        """
        x = np.asarray(x, dtype=float)
        if x.shape[-1:] != (self.n_real,):
            raise ValueError(f"real coordinates must have {self.n_real} entries on the last "
                             f"axis, got shape {x.shape}")
        c = np.empty(x.shape[:-1] + self.coeff_shape)
        c[..., 0] = mass
        c[..., 1:] = x
        return c
