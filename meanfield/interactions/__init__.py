"""Interactions: what gives the velocity field v[rho] of the mean-field PDE.

See :mod:`meanfield.interactions.base` for the contract and the registry of evaluations per
(interaction, basis) kind, :mod:`.isotropic` for today's USA / SA kernels (diagonal
multipliers), :mod:`.layers` for the weighted layers users build, :mod:`.quadrature` for
the dense-operator evaluation of a weighted head, :mod:`.fields` for rho-independent fields,
:mod:`.rotation` for the rigid rotation layer.
"""

from . import fields, quadrature  # noqa: F401  (their evaluators register on import)
from .base import Interaction, SumInteraction, evaluator_for, register
from .isotropic import IsotropicSA, IsotropicUSA, isotropic
from .layers import AttentionLayer, ExternalPotential, Layer, LayerSum, MultiHead, Perceptron
from .quadrature import AttentionHead
from .rotation import RigidRotation, RotationField


def as_interaction(source, dynamics: str, dim: int) -> Interaction:
    """The interaction a model holds for a kernel or a layer under ``dynamics``.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.interactions import as_interaction
    >>> as_interaction(mf.AttentionKernel(2.0), "sa", 3)
    IsotropicSA(AttentionKernel(beta=2.0), dim=3)
    """
    from ..kernels import Kernel

    if isinstance(source, Kernel):
        return isotropic(source, dynamics, dim)
    if isinstance(source, Layer):
        return source.interaction(dynamics, dim)
    raise TypeError("the model's interaction must be a meanfield Kernel or a layer "
                    f"(AttentionLayer, MultiHead, Perceptron, ...), got {type(source).__name__}")


__all__ = ["AttentionHead", "AttentionLayer", "ExternalPotential", "Interaction",
           "IsotropicSA", "IsotropicUSA", "Layer", "LayerSum", "MultiHead", "Perceptron",
           "RigidRotation", "RotationField", "SumInteraction", "as_interaction", "evaluator_for",
           "isotropic", "register"]
