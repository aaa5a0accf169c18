"""meanfield: mean-field PDE solvers for self-attention dynamics on the sphere.

Tokens are particles on S^{d-1}, depth is time, and the infinite-token limit is the
continuity / McKean–Vlasov equation with the attention kernel exp(beta <x, y>).
Convention (DESIGN.md §1): densities are w.r.t. the normalized uniform measure sigma
(the uniform state is rho = 1), the potential is G_beta(t) = (e^{beta t} - 1)/beta and the
noise is (1/kappa) Lap.
"""

from . import initial
from .bases import CircleBasis, PlanarBasis, SphereBasis, ZonalBasis
from .continuation import bifurcation_diagram, phase_diagram
from .diagram import BifurcationDiagram
from .evolution import Solution, evolve
from .free_energy import entropy, free_energy, interaction_energy
from .interactions import AttentionLayer, ExternalPotential, MultiHead, Perceptron, RigidRotation
from .kernels import AttentionKernel, Kernel, KuramotoKernel, ZonalKernel
from .model import MeanFieldModel
from .particles import ParticleSolution, simulate_particles
from .stationary import ConvergenceError, linear_stability, stationary_state
from .sweep import sweep

__version__ = "0.1.0"

__all__ = [
    "AttentionKernel", "AttentionLayer", "BifurcationDiagram", "ExternalPotential",
    "MultiHead", "Perceptron", "RigidRotation", "CircleBasis", "ConvergenceError", "Kernel",
    "KuramotoKernel", "MeanFieldModel", "Solution", "ZonalKernel", "bifurcation_diagram",
    "entropy", "evolve", "free_energy", "initial", "interaction_energy", "linear_stability",
    "phase_diagram", "stationary_state", "PlanarBasis", "SphereBasis", "ZonalBasis",
    "ParticleSolution", "simulate_particles", "sweep",
]
