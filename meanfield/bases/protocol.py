"""The basis contract, written down as a ``typing.Protocol`` (docs/basis_interface.md).

Every discretization of S^{d-1} in :mod:`meanfield.bases` provides these members, and the
solvers (``evolve``, ``stationary_state``, ``linear_stability``, ``bifurcation_diagram``,
the interactions' evaluators, ``free_energy``) use nothing else. A new geometry is a new
class with these members; tests/test_basis_contract.py checks the contract for every basis
in its list (round trips, the Laplacian against div grad, real coordinates, convert,
integrate = mass, the Funk–Hecke multiplier against quadrature of the kernel), so adding a
basis to that list tests it.

Conventions: densities are grid values w.r.t. the normalized measure sigma; coefficient 0
is the mass; all transforms accept leading batch axes. Members that only some bases have
(``tangent_from_cartesian`` / ``tangent_to_cartesian``: ambient vector fields, needed by the
weighted attention heads and the perceptron block) are listed in :data:`OPTIONAL`.

Settled members that were used but undocumented:

* ``is_zonal`` (bool): the basis holds only densities of <x, e> (the zonal basis).
* ``restriction`` (str): the class of densities the basis holds, and therefore the class of
  perturbations its stationary states' spectra (and the ``stable`` flags of its diagrams)
  cover: ``"all"`` (circle, S^2, S^3), ``"zonal"`` (functions of <x, e_1>), ``"planar"``
  (functions of (x_1, x_2)). Results carry it (``Stability.restricted_to``,
  ``BifurcationDiagram.restricted_to``).
* ``evaluate(c, where)``: the series at arbitrary locations in the basis's own coordinates
  (circle: angles; zonal: t = <x, e>; S^2: unit vectors (..., 3)).
* ``from_function(f)``: grid values of a function f(x) of ambient points x (..., d) (the zonal
  basis also checks that f is zonal).
* ``weights``: the quadrature weights of the grid for sigma (sum 1).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

OPTIONAL = ("tangent_from_cartesian", "tangent_to_cartesian")


@runtime_checkable
class Basis(Protocol):
    """What a basis provides (see the module docstring and docs/basis_interface.md).

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.bases.protocol import Basis
    >>> all(isinstance(b, Basis) for b in (mf.CircleBasis(8), mf.SphereBasis(4),
    ...                                    mf.ZonalBasis(5, 8)))
    True
    """

    dim: int
    coeff_dtype: type
    is_zonal: bool
    restriction: str
    grid: object
    points: np.ndarray
    weights: np.ndarray
    degrees: np.ndarray
    laplacian: np.ndarray
    reliable_nodes: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def coeff_shape(self) -> tuple[int, ...]: ...
    @property
    def max_degree(self) -> int: ...
    @property
    def n_real(self) -> int: ...
    @property
    def real_degrees(self) -> np.ndarray: ...

    def size_hint(self, max_degree: int) -> str: ...
    def forward(self, f: np.ndarray) -> np.ndarray: ...
    def backward(self, c: np.ndarray) -> np.ndarray: ...
    def evaluate(self, c: np.ndarray, where) -> np.ndarray: ...
    def from_function(self, f) -> np.ndarray: ...
    def multiplier(self, g: np.ndarray) -> np.ndarray: ...
    def grad(self, c: np.ndarray) -> np.ndarray: ...
    def div(self, v: np.ndarray) -> np.ndarray: ...
    def vector_norm(self, v: np.ndarray) -> np.ndarray: ...
    def integrate(self, f: np.ndarray) -> np.ndarray: ...
    def mass(self, c: np.ndarray) -> np.ndarray: ...
    def inner(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...
    def amplitude(self, c: np.ndarray, k: int) -> np.ndarray: ...
    def tail(self, c: np.ndarray) -> np.ndarray: ...
    def to_real(self, c: np.ndarray) -> np.ndarray: ...
    def from_real(self, x: np.ndarray, mass=1.0) -> np.ndarray: ...
    def subspace_mask(self, symmetric: bool = False, period: int = 1) -> np.ndarray: ...
    def branch_mask(self, k: int) -> np.ndarray: ...
    def invariant_blocks(self, c: np.ndarray) -> list[np.ndarray]: ...
    def rotation_generators(self, c: np.ndarray) -> list[np.ndarray]: ...
    def with_max_degree(self, max_degree: int) -> Basis: ...
    def convert(self, c: np.ndarray, other: Basis) -> np.ndarray: ...
