"""Stationary states of the noisy mean-field PDE (DESIGN.md §1).

A stationary density of the noisy flow (kappa < inf) is a fixed point of the Gibbs map

    USA:  T(rho) = exp(kappa G * rho) / Z,
    SA:   T(rho) = (K_beta * rho)^(kappa/beta) / Z,

with Z the normalization (mass 1 w.r.t. sigma). For SA at beta -> 0 the exponent
(kappa/beta) log(K_beta * rho) = (kappa/beta) log(m + beta G * rho) tends to kappa G*rho / m.
"""

from __future__ import annotations

import numpy as np


def gibbs_exponent(model, basis, rho) -> np.ndarray:
    """The exponent phi with T(rho) = e^phi / Z, on the grid (up to an additive constant)."""
    if np.isinf(model.kappa):
        raise ValueError("stationary states need noise: kappa must be finite (kappa=inf has "
                         "no Gibbs fixed point; the noiseless flow concentrates to Diracs)")
    rho = np.asarray(rho, dtype=float)
    c = basis.forward(rho)
    if model.dynamics == "usa":
        return model.kappa * basis.backward(model.potential_multiplier(basis) * c)
    beta = model.beta
    if abs(beta) <= 1.0:  # log1p form: accurate as beta -> 0
        mass = basis.mass(c)
        U = basis.backward(model.potential_multiplier(basis) * c)
        if beta == 0:
            return model.kappa * U / mass
        return (model.kappa / beta) * np.log1p(beta * U / mass)
    den = basis.multiplier(model.kernel.sa_coefficients(basis.max_degree, model.dim)[1])
    return (model.kappa / beta) * np.log(basis.backward(den * c))


def gibbs_map(model, basis, rho) -> np.ndarray:
    """T(rho) of the module docstring: grid values, mass 1 w.r.t. sigma."""
    phi = gibbs_exponent(model, basis, rho)
    w = np.exp(phi - phi.max())
    return w / basis.integrate(w)


def stationary_residual(model, basis, rho) -> float:
    """max |rho - T(rho)| over the grid: 0 exactly at a stationary state."""
    return float(np.max(np.abs(np.asarray(rho) - gibbs_map(model, basis, rho))))
