"""Velocity fields that do not depend on rho: the perceptron block and external potentials.

Perceptron: v(x) = P_x W2 s(W1 x + b), sampled on the grid and mapped to the basis's
vector layout by ``basis.tangent_from_cartesian`` (circle, S^2, S^3; not the zonal or planar
bases, whose nodes stand for orbits).
Potential:  v(x) = -grad U(x), with U expanded on the basis (``basis.from_function`` where
the basis has it, which on the zonal basis also checks that U is zonal); its free energy
is F = (1/kappa) int rho log rho + int U rho (energy = -int U rho).
"""

from __future__ import annotations

import numpy as np

from .base import FieldEvaluator, Interaction, cached, lift, register


class FixedField(FieldEvaluator):
    """v independent of rho: transport is linear, the derivative of v is zero."""

    def __init__(self, basis, v: np.ndarray) -> None:
        super().__init__(basis)
        self.v = v

    def velocity(self, c: np.ndarray) -> np.ndarray:
        return lift(self.v, np.ndim(c) - self._ncoef)

    def velocity_derivative(self, c: np.ndarray):
        return None


class PerceptronField(Interaction):
    """The perceptron block as an interaction (no symmetry, rho = 1 not stationary)."""

    def __init__(self, layer, dim: int) -> None:
        super().__init__(dim)
        self.layer = layer

    def __repr__(self) -> str:
        return f"PerceptronField({self.layer!r}, dim={self.dim})"


class PotentialField(Interaction):
    """An external potential as an interaction (a gradient flow, rho = 1 not stationary)."""

    has_free_energy = True

    def __init__(self, layer, dim: int) -> None:
        super().__init__(dim)
        self.layer = layer

    def __repr__(self) -> str:
        return f"PotentialField({self.layer!r}, dim={self.dim})"

    def coefficients(self, basis) -> np.ndarray:
        """U expanded on the basis."""
        def build():
            if hasattr(basis, "from_function"):  # grid values (the zonal basis checks U)
                return basis.forward(basis.from_function(self.layer.U))
            vals = np.asarray(self.layer.U(basis.points.copy()), dtype=float)
            if vals.shape != basis.shape:
                raise ValueError(f"U must return one value per point, shape {basis.shape}, "
                                 f"got {vals.shape}")
            return basis.forward(vals)
        return cached(basis, ("potential", self.layer.token), build)

    def energy(self, basis, c: np.ndarray) -> np.ndarray:
        return -basis.inner(c, self.coefficients(basis))


@register(PerceptronField)
def _perceptron(inter, basis):
    if getattr(basis, "is_planar", False):
        raise ValueError("the perceptron block is not implemented on the planar basis (its "
                         "field need not be O(d-2)-invariant); use CircleBasis or SphereBasis")
    if not hasattr(basis, "tangent_from_cartesian"):
        raise ValueError(f"{type(basis).__name__} cannot hold the perceptron block (its field "
                         "is not zonal in general); use CircleBasis or SphereBasis")

    def build():
        u = inter.layer.ambient_field(basis.points)
        if not np.all(np.isfinite(u)):
            raise ValueError("the perceptron's field W2 s(W1 x + b) is not finite on the grid")
        return FixedField(basis, basis.tangent_from_cartesian(u))
    return cached(basis, ("perceptron", inter.layer.token), build)


@register(PotentialField)
def _potential(inter, basis):
    return FixedField(basis, -basis.grad(inter.coefficients(basis)))
