"""Shared members of the bases whose coefficients are real and orthonormal w.r.t. sigma
(ZonalBasis, SphereBasis): coefficient 0 is the mass, Parseval is a plain dot product, and
the real coordinates of Newton / continuation are the coefficients without the mass."""

from __future__ import annotations

import numpy as np


class RealOrthonormalSeries:
    """Mixin; the class provides ``lmax``, ``degrees`` and ``coeff_shape``."""

    coeff_dtype = np.float64

    @property
    def max_degree(self) -> int:
        """Highest degree kept."""
        return self.lmax

    def size_hint(self, max_degree: int) -> str:
        """How to ask for a basis whose highest degree is ``max_degree``."""
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
        """Per-degree values g_l (a 1-D array of length > lmax) as a per-coefficient array."""
        g = np.asarray(g)
        if g.ndim != 1 or g.shape[0] <= self.lmax:
            raise ValueError(f"multiplier needs {self.lmax + 1} degrees (a 1-D array), "
                             f"got shape {g.shape}")
        return np.asarray(g[self.degrees], dtype=float)

    def mass(self, c: np.ndarray) -> np.ndarray:
        """int rho d sigma of the series c: its coefficient 0."""
        return np.asarray(c)[..., 0].real

    def inner(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """int f g d sigma of two series (Parseval in the orthonormal basis)."""
        return np.sum(np.real(np.asarray(a) * np.asarray(b)), axis=-1)

    def tail(self, c: np.ndarray) -> np.ndarray:
        """Resolution indicator: max |c| over the top eighth of the degrees, over |c_0|."""
        c = np.asarray(c)
        m = max(1, (self.lmax + 1) // 8)
        top = self.degrees > self.lmax - m
        return np.max(np.abs(c[..., top]), axis=-1) / np.maximum(np.abs(c[..., 0]), 1e-300)

    @property
    def n_real(self) -> int:
        """Number of real coordinates: every coefficient but the mass."""
        return self.coeff_shape[0] - 1

    @property
    def real_degrees(self) -> np.ndarray:
        """Degree of each real coordinate."""
        return self.degrees[1:]

    def to_real(self, c: np.ndarray) -> np.ndarray:
        """Coefficients (..., n) -> real coordinates (..., n - 1): the mass dropped."""
        return np.array(np.asarray(c)[..., 1:].real, dtype=float)

    def from_real(self, x: np.ndarray, mass=1.0) -> np.ndarray:
        """Real coordinates -> coefficients with coefficient 0 = mass."""
        x = np.asarray(x, dtype=float)
        if x.shape[-1:] != (self.n_real,):
            raise ValueError(f"real coordinates must have {self.n_real} entries on the last "
                             f"axis, got shape {x.shape}")
        c = np.empty(x.shape[:-1] + self.coeff_shape)
        c[..., 0] = mass
        c[..., 1:] = x
        return c
