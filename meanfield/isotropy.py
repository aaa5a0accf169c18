"""Branches from the uniform state by isotropy type, at degenerate bifurcation points.

On S^{d-1} the mode-k eigenspace of the linearization at rho = 1 is degenerate (all
degree-k harmonics share one eigenvalue), and several branches bifurcate there, one per
isotropy type (Golubitsky, Stewart & Schaeffer 1988, vol. II, ch. XIII: the equivariant
branching lemma gives one branch for every isotropy subgroup H whose fixed-point subspace
meets the eigenspace in one dimension). A branch of type H lives in Fix(H), an invariant
subspace of the stationary equation, so it is traced there: a smaller system, and no
symmetry zero modes.

A basis lists the types it can trace for mode k as :class:`BranchType` objects (its
``branch_types(k)`` method; a basis without it has the single type of its
``branch_mask(k)``). The subspace is either a set of real coordinates (``mask``: the
group acts diagonally on the basis functions) or a smaller basis with an embedding
(``subbasis``, ``embed``: e.g. zonal densities inside planar ones).

When Fix(H) meets the eigenspace in two dimensions (the type is not axial there, or the
mask holds two types), the branch's direction is a root of the algebraic bifurcation
equation (ABE) on that plane: with R(x, p) the scaled stationary equation and v a unit
vector of the kernel, the branch is tangent to v when the kernel part of the quadratic
term Q(v) = d^2/ds^2 R(s v, p_k) is parallel to v (Q(v) x v = 0); the parameter moves as
p - p_k = -s lambda / (2 R_p), Q(v) = lambda v, R_p the derivative of the linear
coefficient in p. :func:`quadratic_directions` finds those roots.

References
----------
.. [1] M. Golubitsky, I. Stewart and D. G. Schaeffer, "Singularities and Groups in
   Bifurcation Theory", vol. II, Springer (1988): ch. XIII, the equivariant branching
   lemma and the axial subgroups of O(3) on the spherical harmonics V_l.
.. [2] E. Ihrig and M. Golubitsky, "Pattern selection with O(3) symmetry", Physica D 13
   (1984) 1-33.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

__all__ = ["BranchType", "branch_types", "degree_norm", "quadratic_directions"]


@dataclass(frozen=True)
class BranchType:
    """One isotropy type of branch from rho = 1 at mode k.

    Attributes
    ----------
    name : str
        The isotropy subgroup, e.g. ``"D_3 x O(d-2)"`` ("" for a basis's single type).
    description : str
        What the states look like, e.g. ``"3 clusters at the vertices of a triangle"``.
    mask : callable or None
        ``mask(basis) -> ndarray of bool``: the real coordinates of the fixed-point
        subspace (called again on refined bases); ``None`` with a ``subbasis``.
    subbasis : callable or None
        ``subbasis(basis)``: a basis of the fixed-point subspace when it is not a set of
        coordinates (the branch is traced there, with that basis's ``branch_mask(k)``).
    embed : callable or None
        ``embed(c, subbasis, basis)``: coefficients in ``subbasis`` as coefficients of
        ``basis`` (exact); called with refined bases too.
    amplitude : callable or None
        ``amplitude(c, basis, k)``: the branch's order parameter from its coefficients in
        ``basis`` (default: the traced basis's own ``amplitude``).
    exclude : tuple of (degree, order)
        Kernel coordinates whose axes belong to other types: when the kernel in the
        subspace is two-dimensional, the branch is the ABE root off these axes.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.isotropy import branch_types
    >>> [t.description for t in branch_types(mf.CircleBasis(16), 3)]
    ['the mode-3 branch']
    """

    name: str
    description: str
    mask: Callable | None = field(default=None, repr=False)
    subbasis: Callable | None = field(default=None, repr=False)
    embed: Callable | None = field(default=None, repr=False)
    amplitude: Callable | None = field(default=None, repr=False)
    exclude: tuple = ()


def branch_types(basis, k: int) -> list[BranchType]:
    """The isotropy types of the mode-k branches ``basis`` can trace.

    The basis's own ``branch_types(k)`` when it has one, else the single type of
    ``branch_mask(k)``.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.isotropy import branch_types
    >>> [t.name for t in branch_types(mf.PlanarBasis(16, 8), 4)]
    ['O(2) x O(d-2)', 'O(d-1)', 'D_4 x O(d-2)']
    """
    own = getattr(basis, "branch_types", None)
    if own is not None:
        return list(own(k))
    return [BranchType("", f"the mode-{k} branch", mask=lambda b: b.branch_mask(k))]


def degree_norm(c: np.ndarray, basis, k: int) -> float:
    """L2(sigma) norm of the degree-k part of the density with coefficients c.

    The order parameter of types whose states have no single preferred harmonic
    (rotation invariant, so the same for every member of a group orbit).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.isotropy import degree_norm
    >>> b = mf.SphereBasis(4)
    >>> x = b.points
    >>> round(degree_norm(b.forward(1 + x[..., 0] * x[..., 1] * x[..., 2]), b, 3), 12)
    0.097590007295
    """
    x = basis.to_real(np.asarray(c))
    return float(np.linalg.norm(x[basis.real_degrees == k]))


def quadratic_directions(Q: Callable[[np.ndarray], np.ndarray], exclude=(),
                         n_scan: int = 720) -> list[tuple[np.ndarray, float]]:
    """Lines v (unit vectors of a 2-D kernel) with Q(v) parallel to v, off ``exclude``.

    Parameters
    ----------
    Q : callable
        The quadratic form, 2-vector -> 2-vector.
    exclude : iterable of int
        Axes (0 or 1) whose lines are not wanted.
    n_scan : int
        Sample points of the angle in [0, pi) before refinement by Brent's method.

    Returns
    -------
    list of (v, lam)
        One unit vector per line (with v[1] >= 0 and the angle in [0, pi/2] when its
        mirror (v[0], -v[1]) is also a root: lines conjugate under v[1] -> -v[1] are
        reported once), and lam with Q(v) = lam v.

    Examples
    --------
    Q(v) = (v0^2 - v1^2, -2 v0 v1) has Q(v) || v on the lines at angles 0, pi/3, 2pi/3:

    >>> import numpy as np
    >>> from meanfield.isotropy import quadratic_directions
    >>> Q = lambda v: np.array([v[0]**2 - v[1]**2, -2 * v[0] * v[1]])
    >>> [round(float(np.degrees(np.arctan2(v[1], v[0])))) for v, _ in quadratic_directions(Q)]
    [0, 60]
    """
    def v_of(t: float) -> np.ndarray:
        return np.array([np.cos(t), np.sin(t)])

    def g(t: float) -> float:
        q = Q(v_of(t))
        return float(q[1] * np.cos(t) - q[0] * np.sin(t))

    grid = np.linspace(0.0, np.pi, n_scan + 1)
    vals = np.array([g(t) for t in grid])
    scale = np.max(np.abs(vals))
    if not scale > 0:
        raise ValueError("the quadratic term vanishes on the kernel: the directions are "
                         "fixed by the cubic terms, which this function does not compute")
    roots = [float(t) for t, v in zip(grid[:-1], vals[:-1], strict=True) if v == 0.0]
    for i in np.nonzero(vals[:-1] * vals[1:] < 0)[0]:
        roots.append(brentq(g, grid[i], grid[i + 1], xtol=1e-15))
    out = []
    for t in sorted(roots):
        v = v_of(t)
        if any(abs(v[1 - a]) < 1e-9 for a in exclude):  # along an excluded axis
            continue
        mirror = np.pi - t
        if t > np.pi / 2 + 1e-9 and any(abs(mirror - s) < 1e-7 for s in roots):
            continue  # conjugate of a root already kept
        out.append((v, float(Q(v) @ v)))
    return out
