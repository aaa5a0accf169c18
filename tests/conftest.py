"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest

import meanfield as mf


@pytest.fixture(scope="session")
def issue_case():
    """The time-stepping benchmark case (benchmarks/bench_evolve.py): beta = 3, kappa = 1,
    smooth data, 32 circle modes, and its reference state at t = 10 (fixed-step ETDRK4,
    dt = 1e-3). Returns (basis, rho0, rho_ref)."""
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.perturbed_uniform(basis, amplitude=0.3, max_degree=4, seed=0)
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    with pytest.warns(UserWarning, match="under-resolved"):  # top modes reach 1.6e-8
        ref = mf.evolve(model, basis, rho0, 10.0, [0, 10.0], dt=1e-3).rho[-1]
    return basis, rho0, ref
