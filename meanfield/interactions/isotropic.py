"""The isotropic attention interactions of DESIGN.md §1, evaluated by diagonal multipliers.

USA: v[rho] = grad(G * rho), the Wasserstein gradient flow of the free energy.
SA:  v[rho] = X[rho] = (1/beta) grad log(K_beta * rho), evaluated as
     X = grad(A * rho) / (B * rho) with A_l = lambda_l e^{-|beta|}/beta and
     B_l = lambda_l e^{-|beta|} (the common factor e^{-|beta|} cancels), which has a finite
     limit at beta = 0 and never overflows for large |beta|.

Both commute with O(d) (symmetry "O(d)"), keep rho = 1 stationary and are evaluated on any
basis through ``basis.multiplier`` (registered for every basis class).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..kernels import AttentionKernel, Kernel
from .base import FieldEvaluator, Interaction, lift, register

SA_FLOOR = 1e-14


def floored(basis, d: np.ndarray) -> np.ndarray:
    """K*rho on the grid, floored at SA_FLOOR of its maximum over the (reliable) grid nodes.

    Where the exact K*rho is below round-off of its maximum (far from a tight cluster), its
    spectral reconstruction is noise and may even be negative; there rho is negligible too.
    """
    top = np.max(d[..., basis.reliable_nodes], axis=-1)
    return np.maximum(d, SA_FLOOR * top.reshape(top.shape + (1,) * len(basis.shape)))


def sa_field(basis, num: np.ndarray, den: np.ndarray, c: np.ndarray) -> np.ndarray:
    """X[rho] = grad(A*rho) / (B*rho), floored and capped at |X| <= 1.

    The exact field is a weighted average of tangent projections P_x y of unit vectors,
    so |X| <= 1; the cap only acts where round-off dominates (see ``floored``).
    """
    v = basis.grad(num * c) / floored(basis, basis.backward(den * c))
    return v / np.maximum(basis.vector_norm(v), 1.0)


class IsotropicUSA(Interaction):
    """Unnormalized attention with a zonal kernel: v = grad(G * rho).

    Parameters
    ----------
    kernel : Kernel
        The potential G (``AttentionKernel(beta)``: G_beta(t) = (e^{beta t} - 1)/beta).
    dim : int
        Ambient dimension d.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.interactions import IsotropicUSA
    >>> inter = IsotropicUSA(mf.AttentionKernel(3.0), dim=2)
    >>> inter.symmetry, inter.uniform_stationary, inter.has_free_energy
    ('O(d)', True, True)
    """

    symmetry = "O(d)"
    uniform_stationary = True
    has_free_energy = True
    dynamics = "usa"

    def __init__(self, kernel: Kernel, dim: int) -> None:
        super().__init__(dim)
        self.kernel = kernel

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kernel!r}, dim={self.dim})"

    def potential_multiplier(self, basis) -> np.ndarray:
        """Per-coefficient multiplier of G * (Funk–Hecke coefficients g_l)."""
        return basis.multiplier(self.kernel.coefficients(basis.max_degree, self.dim))

    def energy(self, basis, c: np.ndarray) -> np.ndarray:
        """(1/2) int int G(<x,y>) rho(x) rho(y) for coefficients c."""
        return 0.5 * basis.inner(c, self.potential_multiplier(basis) * c)

    def gain(self, lmax: int) -> np.ndarray:
        """g_l, l = 0..lmax: mode l of rho = 1 grows iff kappa g_l > 1."""
        return np.asarray(self.kernel.coefficients(lmax, self.dim), dtype=float)

    def growth_rates(self, lmax: int, noise: float) -> np.ndarray:
        l = np.arange(lmax + 1)
        return l * (l + self.dim - 2) * (self.gain(lmax) - noise)

    def resolution_coefficients(self, lmax: int) -> np.ndarray:
        return np.asarray(self.kernel.coefficients(lmax, self.dim), dtype=float)


class IsotropicSA(IsotropicUSA):
    """Softmax attention with the kernel e^{beta <x, y>}: v = (1/beta) grad log(K_beta * rho).

    ``energy`` is the USA interaction energy of the same kernel (SA is not its gradient
    flow: ``has_free_energy`` is False; the functional is reported for comparison).

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.interactions import IsotropicSA
    >>> IsotropicSA(mf.AttentionKernel(3.0), dim=2).has_free_energy
    False
    """

    has_free_energy = False
    reports_energy = True
    dynamics = "sa"

    def __init__(self, kernel: Kernel, dim: int) -> None:
        if not isinstance(kernel, AttentionKernel):
            raise ValueError("dynamics='sa' (softmax) is defined for AttentionKernel only, "
                             f"got {type(kernel).__name__}")
        super().__init__(kernel, dim)

    def sa_multipliers(self, basis) -> tuple[np.ndarray, np.ndarray]:
        """The per-coefficient multipliers (A, B) of the module docstring."""
        return tuple(basis.multiplier(m) for m in
                     self.kernel.sa_coefficients(basis.max_degree, self.dim))

    def gain(self, lmax: int) -> np.ndarray:
        num, den = self.kernel.sa_coefficients(lmax, self.dim)
        return np.asarray(num, dtype=float) / float(den[0])

    def resolution_coefficients(self, lmax: int) -> np.ndarray:
        return np.asarray(self.kernel.sa_coefficients(lmax, self.dim)[1], dtype=float)


class MultiplierUSA(FieldEvaluator):
    """v = grad(g c): one multiplication and one gradient synthesis per field."""

    def __init__(self, interaction: IsotropicUSA, basis) -> None:
        super().__init__(basis)
        self.g = interaction.potential_multiplier(basis)

    def velocity(self, c: np.ndarray) -> np.ndarray:
        return self.basis.grad(self.g * c)

    def velocity_derivative(self, c: np.ndarray) -> Callable:
        return lambda dc: self.basis.grad(self.g * dc)

    def linearization(self, c: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        b, g = self.basis, self.g
        rho = b.backward(c)
        grad_u = b.grad(g * c)

        def derivative(dc: np.ndarray) -> np.ndarray:
            gu = lift(grad_u, dc.ndim - self._ncoef)
            return -b.div(b.backward(dc) * gu + rho * b.grad(g * dc))
        return derivative


class MultiplierSA(FieldEvaluator):
    """X = grad(A c) / (B c), floored and capped (see :func:`sa_field`)."""

    def __init__(self, interaction: IsotropicSA, basis) -> None:
        super().__init__(basis)
        self.num, self.den = interaction.sa_multipliers(basis)

    def velocity(self, c: np.ndarray) -> np.ndarray:
        return sa_field(self.basis, self.num, self.den, c)

    def linearization(self, c: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        b, num, den = self.basis, self.num, self.den
        rho = b.backward(c)
        a = b.grad(num * c)
        d = floored(b, b.backward(den * c))

        def derivative(dc: np.ndarray) -> np.ndarray:
            dd = b.backward(den * dc)
            aa = lift(a, dc.ndim - self._ncoef)
            flux = (b.backward(dc) * aa + rho * b.grad(num * dc)) / d - rho * aa * dd / d**2
            return -b.div(flux)
        return derivative


register(IsotropicUSA)(MultiplierUSA)
register(IsotropicSA)(MultiplierSA)


def isotropic(kernel: Kernel, dynamics: str, dim: int) -> IsotropicUSA:
    """The isotropic interaction of ``kernel`` under ``dynamics`` ("usa" | "sa")."""
    return (IsotropicSA if dynamics == "sa" else IsotropicUSA)(kernel, dim)
