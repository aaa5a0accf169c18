"""Discretizations of the sphere: each basis knows its grid, transforms and calculus."""

from .circle import CircleBasis
from .planar import PlanarBasis
from .sphere import SphereBasis
from .sphere3 import Sphere3Basis
from .zonal import ZonalBasis

__all__ = ["CircleBasis", "PlanarBasis", "SphereBasis", "Sphere3Basis", "ZonalBasis"]
