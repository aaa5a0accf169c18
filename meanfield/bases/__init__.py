"""Discretizations of the sphere: each basis knows its grid, transforms and calculus."""

from .circle import CircleBasis
from .sphere import SphereBasis
from .zonal import ZonalBasis

__all__ = ["CircleBasis", "SphereBasis", "ZonalBasis"]
