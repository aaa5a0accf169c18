"""A rigid rotation of the sphere as a layer: v(x) = Omega x, Omega antisymmetric (d x d).

The field is tangent (<Omega x, x> = 0) and divergence-free, independent of rho: every
density is carried rigidly, rho(t, x) = rho(0, e^{-t Omega} x). In the circle's angle it is
theta' = omega for Omega = omega J (J the rotation by pi/2), so in Fourier coefficients
c_k' = -i k omega c_k. Added to an interaction that commutes with the rotations generated
by Omega, it turns every stationary state rho_* of that interaction into a rotating state
rho_*(e^{-t Omega} x) of the sum with the speed omega exactly, and shifts the spectrum of
the uniform state by -i k omega per Fourier mode k (each pair of real modes becomes a
complex pair: the uniform state's bifurcations become Hopf points of frequency k omega) —
closed forms the rotating-state and Hopf solvers are checked against.

Symmetry: on the circle the field commutes with all rotations (``"SO(d)"``, not O(d): a
reflection reverses it); for d >= 3 only with the rotations that commute with Omega
(declared ``None``). rho = 1 is stationary; there is no free energy.
"""

from __future__ import annotations

import numpy as np

from .base import Interaction, cached, new_token, register
from .fields import FixedField
from .layers import Layer, _finite_matrix


class RigidRotation(Layer):
    """The layer v(x) = Omega x (module docstring).

    Parameters
    ----------
    Omega : array (d, d) or float
        An antisymmetric matrix (|Omega + Omega^T| <= 1e-12 |Omega|), or on the circle the
        angular speed omega (Omega = omega J, positive = increasing theta), in radians per
        unit time.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> rot = mf.RigidRotation(0.5)
    >>> rot.Omega.tolist()
    [[0.0, -0.5], [0.5, 0.0]]
    >>> rot.ambient_field(np.array([1.0, 0.0])).tolist()  # at e_1 it points along e_2
    [0.0, 0.5]
    >>> inter = rot.interaction("usa", 2)
    >>> inter.symmetry, inter.uniform_stationary, inter.has_free_energy
    ('SO(d)', True, False)
    """

    def __init__(self, Omega) -> None:
        if np.ndim(Omega) == 0:
            if isinstance(Omega, bool) or not np.isfinite(float(Omega)):
                raise ValueError(f"Omega must be a finite angular speed or a matrix, got "
                                 f"{Omega!r}")
            w = float(Omega)
            Omega = np.array([[0.0, -w], [w, 0.0]])
        M = _finite_matrix(Omega, "Omega")
        if M.shape[0] != M.shape[1]:
            raise ValueError(f"Omega must be square (d, d), got shape {M.shape}")
        if np.max(np.abs(M + M.T), initial=0.0) > 1e-12 * max(np.max(np.abs(M)), 1e-300):
            raise ValueError("Omega must be antisymmetric (Omega^T = -Omega): only then is "
                             "Omega x tangent to the sphere")
        self.Omega = M
        self.token = new_token()

    def __repr__(self) -> str:
        if self.Omega.shape == (2, 2):
            return f"RigidRotation({self.Omega[1, 0]:g})"
        return f"RigidRotation(Omega of shape {self.Omega.shape})"

    def ambient_field(self, x: np.ndarray) -> np.ndarray:
        """Omega x at points x (..., d) (already tangent)."""
        return np.asarray(x) @ self.Omega.T

    def interaction(self, dynamics: str, dim: int) -> Interaction:
        if self.Omega.shape != (dim, dim):
            raise ValueError(f"Omega must have shape ({dim}, {dim}) for dim={dim}, got "
                             f"{self.Omega.shape}")
        return RotationField(self, dim)


class RotationField(Interaction):
    """The rigid rotation as an interaction (module docstring)."""

    uniform_stationary = True
    reports_energy = False

    def __init__(self, layer: RigidRotation, dim: int) -> None:
        super().__init__(dim)
        self.layer = layer
        self.symmetry = "SO(d)" if dim == 2 else None

    def __repr__(self) -> str:
        return f"RotationField({self.layer!r})"

    def growth_rates(self, lmax: int, noise: float) -> np.ndarray:
        """Real parts of the uniform state's rates: the rotation adds only -i k omega."""
        l = np.arange(lmax + 1)
        return -l * (l + self.dim - 2) * noise

    def resolution_coefficients(self, lmax: int) -> np.ndarray:
        return np.zeros(lmax + 1)


@register(RotationField)
def _rotation(inter, basis):
    Omega = inter.layer.Omega
    if getattr(basis, "is_zonal", False):
        e = np.eye(basis.dim)[0]
        if np.max(np.abs(Omega @ e)) > 0:
            raise ValueError("a rigid rotation that moves e = e_1 does not keep zonal densities "
                             "zonal; use CircleBasis or SphereBasis")
        return cached(basis, ("rotation", inter.layer.token),
                      lambda: FixedField(basis, np.zeros((1,) + basis.shape)))
    if getattr(basis, "is_planar", False) and (
            np.max(np.abs(Omega[2:]), initial=0.0) > 0 or np.max(np.abs(Omega[:, 2:]),
                                                                 initial=0.0) > 0):
        raise ValueError("on the planar basis a rigid rotation must act in the (x_1, x_2) "
                         "plane only (Omega zero outside its first 2 x 2 block)")
    if not hasattr(basis, "tangent_from_cartesian"):
        raise ValueError(f"{type(basis).__name__} cannot hold a rigid rotation field")

    def build():
        return FixedField(basis, basis.tangent_from_cartesian(
            inter.layer.ambient_field(basis.points)))
    return cached(basis, ("rotation", inter.layer.token), build)
