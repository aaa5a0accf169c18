"""Particle simulations of self-attention dynamics: n tokens on S^{d-1}.

``simulate_particles`` integrates the finite-n system whose mean-field limit is the PDE of
DESIGN.md §1 (USA and SA, any beta, noise, general Q/K/V, causal mask, the normalization
schemes of ``normalization``: Post-, Pre-, Peri-, Mix-LN, nGPT), one system or, with
``replicas=R``, R independent systems at once, with a fused numba O(n^2) interaction kernel
(``interactions``) or, on the circle, spectral summation in O(n K) (``spectral``).
``observables`` holds moments, order parameters, the energy E_beta, pairwise inner products,
cluster detection, histograms and kernel density estimates; ``ensemble`` the observables of
ensembles, their means with standard errors and random attention weights per replica;
``compare`` checks particles against the PDE (ensembles with error bars, convergence in n,
stationary states).
"""

from . import ensemble, observables
from .compare import (
    Comparison,
    ConvergenceStudy,
    StationaryComparison,
    StructureFactorStudy,
    compare,
    convergence_study,
    stationary_comparison,
    structure_factor_study,
)
from .ensemble import (
    EnsembleEstimate,
    cluster_count,
    ensemble_estimate,
    pair_fraction,
    random_attention_weights,
)
from .interactions import (
    attention_euler_step,
    attention_sums,
    attention_sums_batched,
    attention_sums_numpy,
)
from .normalization import (
    NGPT,
    MixLN,
    NormalizationScheme,
    PeriLN,
    PostLN,
    PreLN,
    equiangular_system,
    normalization_scheme,
    transformer_layers,
)
from .observables import (
    Clusters,
    clusters,
    energy,
    fourier_moments,
    histogram_circle,
    kde_circle,
    kde_sphere,
    mean_inner_product,
    order_parameter,
)
from .sampling import sample_circle_density, sample_equiangular, sample_uniform, sample_von_mises
from .simulate import (
    AUTO_SPECTRAL_N,
    STABILITY_LIMIT,
    ParticleSolution,
    replica_seeds,
    simulate_particles,
)
from .spectral import circle_coefficients, circle_energy, circle_moments, circle_velocity

__all__ = [
    "AUTO_SPECTRAL_N", "Clusters", "Comparison", "ConvergenceStudy", "StationaryComparison",
    "StructureFactorStudy", "compare", "convergence_study", "stationary_comparison",
    "structure_factor_study", "ParticleSolution",
    "STABILITY_LIMIT", "attention_sums",
    "attention_sums_numpy", "circle_coefficients", "circle_energy", "circle_moments",
    "circle_velocity", "clusters", "energy", "fourier_moments", "histogram_circle",
    "kde_circle", "kde_sphere", "mean_inner_product",
    "observables", "order_parameter", "sample_circle_density", "sample_equiangular",
    "sample_uniform", "sample_von_mises", "simulate_particles",
    "NormalizationScheme", "PostLN", "PreLN", "PeriLN", "NGPT", "MixLN", "normalization_scheme",
    "equiangular_system", "transformer_layers",
    "ensemble", "EnsembleEstimate", "cluster_count", "ensemble_estimate", "pair_fraction",
    "random_attention_weights", "attention_euler_step", "attention_sums_batched",
    "replica_seeds",
]
