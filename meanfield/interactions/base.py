"""The interaction contract and its registry of evaluations per (interaction, basis) kind.

An *interaction* is the part of the mean-field PDE

    d_t rho = (1/kappa) Lap rho - div(rho v[rho])

that gives the velocity field v[rho]: the isotropic attention kernels of DESIGN.md §1
(USA, SA), the weighted attention layers, the perceptron block, an external potential, and
sums of these. :class:`meanfield.MeanFieldModel` holds one and never asks which.

How an interaction is evaluated on a basis is chosen by the pair (interaction class, basis
class), as Dedalus registers operators per basis: :func:`register` files a factory for a
pair, :func:`evaluator_for` finds the most specific one along both classes' MROs (``object``
as the basis class means "any basis"). A new interaction is one new module that defines its
class and registers its evaluators; the model, ``evolve``, ``stationary_state``,
``linear_stability`` and ``bifurcation_diagram`` are not edited.

The contract
------------
An :class:`Interaction` declares

* ``dim``, ``dynamics`` ("usa" | "sa" | "field": a field that does not depend on the
  dynamics), ``symmetry``: the group its field commutes with, one of ``"O(d)"`` (rotations
  and reflections: the isotropic kernels), ``"SO(d)"`` (rotations only) or ``None``;
* ``uniform_stationary``: whether rho = 1 is a stationary state for every kappa;
* ``has_free_energy``: whether the flow is the Wasserstein gradient flow of
  F = (1/kappa) int rho log rho - energy(rho), with ``energy(basis, c)`` then defined;
* ``resolution_coefficients(lmax)``: per-degree magnitudes that decay as fast as the
  field's spectrum (used to check that a basis resolves the interaction), and, where a
  closed form exists, ``growth_rates(lmax, noise)`` of rho = 1.

An *evaluator* (what :func:`evaluator_for` returns) is bound to one basis and gives, for
coefficient arrays c (leading batch axes allowed),

* ``velocity(c)``: v[rho] on the grid, in the basis's vector layout;
* ``transport(c)``: the coefficients of -div(rho v[rho]);
* ``linearization(c)``: the exact derivative dc -> d transport (leading batch axes on dc).

:class:`FieldEvaluator` derives ``transport`` and ``linearization`` from ``velocity`` and
``velocity_derivative``; evaluators override them only for speed.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable

import numpy as np

SYMMETRIES = ("O(d)", "SO(d)", None)

_REGISTRY: dict[tuple[type, type], Callable] = {}
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TOKENS = itertools.count()


def register(interaction_cls: type, basis_cls: type = object) -> Callable:
    """Decorator: file ``factory(interaction, basis) -> evaluator`` for the pair of classes.

    Examples
    --------
    >>> from meanfield.interactions import base
    >>> class Nothing(base.Interaction):
    ...     symmetry, uniform_stationary = "O(d)", True
    >>> @base.register(Nothing)
    ... def _nothing(interaction, basis):
    ...     return "an evaluator"
    >>> import meanfield as mf
    >>> base.evaluator_for(Nothing(dim=2), mf.CircleBasis(8))
    'an evaluator'
    """
    def deco(factory: Callable) -> Callable:
        _REGISTRY[(interaction_cls, basis_cls)] = factory
        return factory
    return deco


def evaluator_for(interaction, basis):
    """The evaluator of ``interaction`` on ``basis`` (most specific registered pair).

    Interactions are searched along their MRO first, bases second, so a factory filed for
    (AttentionHead, ZonalBasis) wins over (AttentionHead, object) on a zonal basis.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.interactions import evaluator_for
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> type(evaluator_for(model.interaction, mf.CircleBasis(16))).__name__
    'MultiplierUSA'
    """
    for icls in type(interaction).__mro__:
        for bcls in type(basis).__mro__:
            factory = _REGISTRY.get((icls, bcls))
            if factory is not None:
                return factory(interaction, basis)
    raise TypeError(f"no evaluation of {type(interaction).__name__} is registered for "
                    f"{type(basis).__name__}")


def cached(basis, key, build: Callable):
    """``build()`` once per (basis object, key): expensive evaluators (dense operators)."""
    try:
        per_basis = _CACHE.setdefault(basis, {})
    except TypeError:  # a basis that cannot be weakly referenced: no caching
        return build()
    if key not in per_basis:
        per_basis[key] = build()
    return per_basis[key]


def new_token() -> int:
    """A process-unique integer naming an immutable layer in cache keys."""
    return next(_TOKENS)


class Interaction:
    """Base class of interactions: the declarations of the module docstring.

    Subclasses set ``symmetry`` and ``uniform_stationary`` and register evaluators.
    """

    symmetry: str | None = None
    uniform_stationary: bool = False
    has_free_energy: bool = False
    dynamics: str = "field"

    @property
    def reports_energy(self) -> bool:
        """Whether ``energy`` is defined (the gradient flows, and isotropic SA for comparison)."""
        return self.has_free_energy

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)

    def energy(self, basis, c: np.ndarray) -> np.ndarray:
        """Interaction energy with F = (1/kappa) int rho log rho - energy (gradient flows)."""
        raise ValueError(f"{self!r} is not a gradient flow: it has no free energy "
                         "(has_free_energy is False)")

    def growth_rates(self, lmax: int, noise: float) -> np.ndarray:
        """Growth rates of degree l = 0..lmax perturbations of rho = 1 (closed form)."""
        raise ValueError(f"{self!r} has no closed-form growth rates of rho = 1; use "
                         "meanfield.linear_stability on the uniform state (when it is "
                         "stationary)")

    def resolution_coefficients(self, lmax: int) -> np.ndarray:
        """Per-degree magnitudes l = 0..lmax whose tail measures what a basis truncates."""
        return np.zeros(lmax + 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


def lift(v: np.ndarray, n_batch: int) -> np.ndarray:
    """A vector field (n_components, *grid) made to broadcast against (*batch, *grid):
    (n_components, 1, ..., 1, *grid), so multi-component layouts work with batches."""
    return v.reshape(v.shape[:1] + (1,) * n_batch + v.shape[1:]) if n_batch > 0 else v


class FieldEvaluator:
    """Transport and its derivative from a velocity field and the field's derivative.

    Subclasses give ``velocity(c)`` and ``velocity_derivative(c)`` (a map dc -> dv, linear,
    leading batch axes on dc); then

        transport(c)          = -div(rho v[rho])
        linearization(c)(dc)  = -div(drho v[rho] + rho dv[rho; dc]).
    """

    def __init__(self, basis) -> None:
        self.basis = basis
        self._ncoef = len(basis.coeff_shape)

    def velocity(self, c: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def velocity_derivative(self, c: np.ndarray) -> Callable | None:
        """dc -> dv at c; None when the field does not depend on rho."""
        raise NotImplementedError  # pragma: no cover - abstract

    def linearization_field(self, c: np.ndarray) -> np.ndarray:
        """The field multiplying drho in the linearization (the velocity, uncapped)."""
        return self.velocity(c)

    def transport(self, c: np.ndarray) -> np.ndarray:
        b = self.basis
        return -b.div(b.backward(c) * self.velocity(c))

    def linearization(self, c: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        b = self.basis
        rho = b.backward(c)
        v = self.linearization_field(c)
        dv = self.velocity_derivative(c)

        def derivative(dc: np.ndarray) -> np.ndarray:
            flux = b.backward(dc) * lift(v, dc.ndim - self._ncoef)
            if dv is not None:
                flux = flux + rho * dv(dc)
            return -b.div(flux)
        return derivative


class SumEvaluator:
    """The evaluator of a weighted sum of interactions: fields, transports and derivatives add."""

    def __init__(self, basis, parts: list[tuple[float, object]]) -> None:
        self.basis, self.parts = basis, parts

    def velocity(self, c: np.ndarray) -> np.ndarray:
        return sum(w * e.velocity(c) for w, e in self.parts)

    def transport(self, c: np.ndarray) -> np.ndarray:
        return sum(w * e.transport(c) for w, e in self.parts)

    def linearization(self, c: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        lins = [(w, e.linearization(c)) for w, e in self.parts]
        return lambda dc: sum(w * f(dc) for w, f in lins)


def _meet(symmetries) -> str | None:
    order = {"O(d)": 2, "SO(d)": 1, None: 0}
    low = min(order[s] for s in symmetries)
    return {v: k for k, v in order.items()}[low]


class SumInteraction(Interaction):
    """sum_i w_i (interaction_i): the layer sum (heads, perceptron, potential) of a model."""

    def __init__(self, parts: list[tuple[float, Interaction]]) -> None:
        if not parts:
            raise ValueError("a sum of interactions needs at least one term")
        dims = {p.dim for _, p in parts}
        if len(dims) != 1:
            raise ValueError(f"the terms of a sum act on different dimensions {sorted(dims)}")
        super().__init__(dims.pop())
        self.parts = parts
        self.symmetry = _meet(p.symmetry for _, p in parts)
        self.uniform_stationary = all(p.uniform_stationary for _, p in parts)
        self.has_free_energy = all(p.has_free_energy for _, p in parts)
        dyn = {p.dynamics for _, p in parts} - {"field"}
        self.dynamics = dyn.pop() if len(dyn) == 1 else "field"

    @property
    def reports_energy(self) -> bool:
        return all(p.reports_energy for _, p in self.parts)

    def energy(self, basis, c):
        if not self.reports_energy:
            return super().energy(basis, c)
        return sum(w * p.energy(basis, c) for w, p in self.parts)

    def growth_rates(self, lmax, noise):
        rates = [w * (p.growth_rates(lmax, 0.0)) for w, p in self.parts]
        l = np.arange(lmax + 1)
        return sum(rates) - l * (l + self.dim - 2) * noise

    def resolution_coefficients(self, lmax):
        return np.max([np.abs(w) * np.abs(p.resolution_coefficients(lmax))
                       for w, p in self.parts], axis=0)

    def __repr__(self) -> str:
        return " + ".join(f"{w:g} * {p!r}" if w != 1 else repr(p) for w, p in self.parts)


@register(SumInteraction)
def _sum_evaluator(interaction, basis):
    return SumEvaluator(basis, [(w, evaluator_for(p, basis)) for w, p in interaction.parts])
