"""Argument checks shared by the public entry points: each raises at the boundary with a
message naming the argument and what it accepts.

Examples
--------
>>> from meanfield._validate import check_bounds, check_modes, check_positive
>>> check_bounds((0.2, 2.0)), check_modes((1, 3), 31), check_positive(1e-9, "tol")
((0.2, 2.0), [1, 3], 1e-09)
>>> check_modes((1, 1), 31)
Traceback (most recent call last):
...
ValueError: modes must not repeat a mode, got (1, 1) (mode 1 twice)
"""

from __future__ import annotations

import numbers

import numpy as np

BASIS_TYPES = "CircleBasis, SphereBasis, ZonalBasis"


def check_model(model, name: str = "model") -> None:
    """TypeError unless ``model`` is a :class:`meanfield.MeanFieldModel`."""
    from .model import MeanFieldModel

    if not isinstance(model, MeanFieldModel):
        raise TypeError(f"{name} must be a MeanFieldModel (e.g. MeanFieldModel(AttentionKernel("
                        f"3.0), kappa=1.0)), got {type(model).__name__}")


def check_basis(basis, name: str = "basis") -> None:
    """TypeError unless ``basis`` has the basis interface (docs/basis_interface.md)."""
    if not all(hasattr(basis, attr) for attr in ("dim", "forward", "backward", "grid")):
        raise TypeError(f"{name} must be a basis ({BASIS_TYPES}, or an object with the "
                        f"interface of docs/basis_interface.md), got {type(basis).__name__}")


def check_real(value, name: str) -> float:
    """A real number (numpy scalars included); TypeError for strings, complex, None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} "
                        f"({type(value).__name__})")
    return float(value)


def check_positive(value, name: str, allow_inf: bool = False, allow_zero: bool = False) -> float:
    """A number > 0 (>= 0 with ``allow_zero``; finite unless ``allow_inf``)."""
    x = check_real(value, name)
    if not ((x >= 0 if allow_zero else x > 0) and (allow_inf or np.isfinite(x))):
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number "
                         f"{'>=' if allow_zero else '>'} 0, got {value!r}")
    return x


def check_int(value, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bool and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_bounds(bounds, name: str = "bounds") -> tuple[float, float]:
    """A pair (lo, hi) of finite numbers with lo < hi."""
    try:
        items = tuple(bounds)
    except TypeError:
        items = None
    if items is None or len(items) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi) of finite numbers, lo < hi, "
                         f"got {bounds!r}")
    lo, hi = (check_real(b, name) for b in items)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with lo < hi, got {bounds!r}")
    return lo, hi


def check_modes(modes, max_degree: int, name: str = "modes") -> list[int]:
    """A non-empty sequence of distinct integers in [1, max_degree]."""
    if isinstance(modes, numbers.Number | str) or not hasattr(modes, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers, e.g. {name}=(1,) for one "
                        f"mode, got {modes!r}")
    items = list(modes)
    bad = [k for k in items if isinstance(k, bool) or not isinstance(k, numbers.Integral)]
    if bad:
        raise ValueError(f"{name} must hold integers in [1, {max_degree}], got {modes!r} "
                         f"({bad[0]!r} is not an integer)")
    out = [int(k) for k in items]
    if not out or min(out) < 1 or max(out) > max_degree:
        raise ValueError(f"{name} must be integers in [1, {max_degree}], got {modes!r}")
    twice = sorted({k for k in out if out.count(k) > 1})
    if twice:
        raise ValueError(f"{name} must not repeat a mode, got {modes!r} (mode "
                         + ", ".join(map(str, twice)) + " twice)")
    return out


def real_grid_values(values, name: str, what: str = "grid values of a density") -> np.ndarray:
    """float array of ``values``; ValueError (not numpy's ComplexWarning) for complex input
    with a nonzero imaginary part."""
    arr = np.asarray(values)
    if np.iscomplexobj(arr):
        imag = float(np.max(np.abs(arr.imag))) if arr.size else 0.0
        if imag > 0:
            raise ValueError(f"{name} must be real ({what}), got complex "
                             f"values with max |imag| = {imag:.3g}; pass {name}.real if the "
                             "imaginary part is round-off")
        arr = arr.real
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=float)
