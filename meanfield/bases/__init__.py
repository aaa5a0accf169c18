"""Discretizations of the sphere: each basis knows its grid, transforms and calculus."""

from .circle import CircleBasis

__all__ = ["CircleBasis"]
