"""The parameter grid of a sweep: named axes, their allowed values, and the task points.

A grid is a mapping axis name -> 1-D sequence of values; its points are the Cartesian
product of the axes, in the order the axes were given (the last axis varies fastest).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

NORMALIZATIONS = ("post-ln", "pre-ln", "peri-ln", "ngpt", "mix-ln")


def _real(name, v):
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"grid axis {name!r}: values must be finite reals, got {v!r}")
    return v


def _kappa(name, v):
    v = float(v)
    if not v > 0:  # also refuses nan
        raise ValueError(f"grid axis {name!r}: values must be > 0 (inf for no noise), got {v!r}")
    return v


def _int_at_least(low):
    def check(name, v):
        if isinstance(v, bool) or not float(v).is_integer() or int(v) < low:
            raise ValueError(f"grid axis {name!r}: values must be integers >= {low}, got {v!r}")
        return int(v)
    return check


def _choice(options):
    def check(name, v):
        if v not in options:
            raise ValueError(f"grid axis {name!r}: values must be one of {', '.join(options)}; "
                             f"got {v!r}")
        return str(v)
    return check


#: The axes a sweep may vary, with the check of one value (returns the value, normalized).
AXES = {
    "beta": _real,                      # inverse temperature of the attention kernel
    "kappa": _kappa,                    # inverse noise level, > 0, inf = no noise
    "dim": _int_at_least(2),            # ambient dimension: tokens on S^(dim-1)
    "n": _int_at_least(1),              # number of tokens
    "dynamics": _choice(("usa", "sa")),
    "normalization": _choice(NORMALIZATIONS),
    "seed": _int_at_least(0),
}


def check_value(name: str, value):
    """``value`` checked (and normalized: float, int or str) as a value of axis ``name``.

    Examples
    --------
    >>> check_value("dim", 3.0), check_value("kappa", "inf")
    (3, inf)
    >>> check_value("dynamics", "softmax")
    Traceback (most recent call last):
    ValueError: grid axis 'dynamics': values must be one of usa, sa; got 'softmax'
    """
    if name not in AXES:
        raise ValueError(f"unknown grid axis {name!r}; the axes are {', '.join(AXES)}")
    return AXES[name](name, value)


class Grid:
    """Named axes and the Cartesian product of their values.

    Parameters
    ----------
    axes : mapping of str to sequence
        Axis name (one of :data:`AXES`: beta, kappa, dim, n, dynamics, normalization, seed)
        to its values: non-empty, distinct. A scalar counts as one value.
    allowed : sequence of str, optional
        The axes a task accepts (default: all of :data:`AXES`).

    Examples
    --------
    >>> g = Grid({"beta": [1.0, 2.0], "dynamics": ["usa", "sa"]})
    >>> g.dims, g.shape, g.size
    (('beta', 'dynamics'), (2, 2), 4)
    >>> g.params((1, 0))
    {'beta': 2.0, 'dynamics': 'usa'}
    >>> Grid({"beta": []})
    Traceback (most recent call last):
    ValueError: grid axis 'beta' is empty: give at least one value
    """

    def __init__(self, axes: Mapping[str, Sequence], allowed: Sequence[str] | None = None):
        if not isinstance(axes, Mapping) or not axes:
            raise ValueError("grid must be a non-empty mapping axis name -> values, e.g. "
                             "{'beta': [1.0, 2.0]}")
        allowed = tuple(AXES) if allowed is None else tuple(allowed)
        self.axes: dict[str, np.ndarray] = {}
        for name, values in axes.items():
            if name not in AXES:
                raise ValueError(f"unknown grid axis {name!r}; the axes are {', '.join(AXES)}")
            if name not in allowed:
                raise ValueError(f"grid axis {name!r} is not an axis of this task; its axes "
                                 f"are {', '.join(allowed)}")
            self.axes[name] = self._values(name, values)

    @staticmethod
    def _values(name: str, values) -> np.ndarray:
        if isinstance(values, str | bytes) or np.ndim(values) == 0:
            values = [values]
        checked = [check_value(name, v) for v in values]
        if not checked:
            raise ValueError(f"grid axis {name!r} is empty: give at least one value")
        if len(set(checked)) != len(checked):
            raise ValueError(f"grid axis {name!r} has repeated values: {checked}")
        return np.array(checked, dtype=object if isinstance(checked[0], str) else None)

    @property
    def dims(self) -> tuple[str, ...]:
        """Axis names, in order (the dimensions of the stored variables)."""
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values per axis."""
        return tuple(v.size for v in self.axes.values())

    @property
    def size(self) -> int:
        """Number of grid points (tasks)."""
        return math.prod(self.shape)

    def indices(self) -> Iterator[tuple[int, ...]]:
        """All index tuples, last axis fastest."""
        return itertools.product(*(range(s) for s in self.shape))

    def params(self, index: tuple[int, ...]) -> dict:
        """The parameters of grid point ``index``: axis name -> Python value."""
        return {name: values[i].item() if hasattr(values[i], "item") else values[i]
                for (name, values), i in zip(self.axes.items(), index, strict=True)}

    def to_dict(self) -> dict:
        """Axis name -> list of values (JSON-ready)."""
        return {name: [v.item() if hasattr(v, "item") else v for v in values]
                for name, values in self.axes.items()}


def parse_axis(text: str, name: str) -> list:
    """Values of axis ``name`` from command-line text: ``lo:hi:step``, ``a,b,c`` or ``a``.

    A range starts at lo and steps by step up to hi, hi included where it lands on the grid
    (to 1e-9 of a step); values are rounded to 12 decimals. Negative values parse.

    Examples
    --------
    >>> parse_axis("0.5:2:0.5", "beta")
    [0.5, 1.0, 1.5, 2.0]
    >>> parse_axis("-1:1:0.75", "beta")
    [-1.0, -0.25, 0.5]
    >>> parse_axis("2,3", "dim"), parse_axis("sa,usa", "dynamics"), parse_axis("inf", "kappa")
    ([2, 3], ['sa', 'usa'], [inf])
    """
    text = text.strip()
    if ":" in text:
        try:
            lo, hi, step = (float(p) for p in text.split(":"))
        except ValueError:
            raise ValueError(f"--{name}: expected lo:hi:step, a,b,c or a single value; "
                             f"got {text!r}") from None
        if not (step > 0 and lo <= hi):
            raise ValueError(f"--{name}: a range lo:hi:step needs lo <= hi and step > 0; "
                             f"got {text!r}")
        count = int(math.floor((hi - lo) / step + 1e-9)) + 1
        values = list(np.round(lo + step * np.arange(count), 12))
    else:
        values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ValueError(f"grid axis {name!r} is empty: give at least one value")
    kind = AXES.get(name)
    if kind is None:
        raise ValueError(f"unknown grid axis {name!r}; the axes are {', '.join(AXES)}")
    out = []
    for v in values:
        if name not in ("dynamics", "normalization"):
            try:
                v = float(v)
            except ValueError:
                raise ValueError(f"--{name}: {v!r} is not a number") from None
        out.append(check_value(name, v))
    return out
