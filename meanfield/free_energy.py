"""Free energy and interaction energy of a density (DESIGN.md §1).

    F(rho) = (1/kappa) int rho log rho d sigma - (1/2) int int G(<x,y>) rho(x) rho(y)
    energy(rho) = (1/2) int int G(<x,y>) rho(x) rho(y)

For the attention kernel, ``energy`` differs from GLPR's E_beta = (1/(2 beta)) int int
e^{beta <x,y>} rho rho by the constant m^2/(2 beta) (m the mass), so both are monotone
together; ``energy`` has a finite limit at beta = 0. With kappa = inf, F = -energy.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_basis, check_model, real_grid_values


def _as_grid(basis, rho) -> np.ndarray:
    check_basis(basis)
    rho = real_grid_values(rho, "rho")
    if rho.shape[-len(basis.shape):] != basis.shape:
        raise ValueError(f"rho must have grid shape {basis.shape} (trailing), got {rho.shape}")
    if not np.all(np.isfinite(rho)):
        raise ValueError("rho contains NaN/inf values")
    return rho


def interaction_energy(model, basis, rho) -> np.ndarray:
    """(1/2) int int G(<x,y>) rho(x) rho(y) d sigma d sigma for grid values rho (..., *grid).

    Examples
    --------
    For the uniform state rho = 1, G * 1 = g_0 (the degree-0 kernel coefficient), so the
    interaction energy is g_0 / 2:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> g0 = model.kernel.coefficients(0)[0]
    >>> e = mf.interaction_energy(model, basis, np.ones(basis.shape))
    >>> bool(np.isclose(e, g0 / 2))
    True
    """
    check_model(model)
    rho = _as_grid(basis, rho)
    model._check_basis(basis)
    if not model.interaction.reports_energy:
        raise ValueError(f"{model.kernel!r} under {model.dynamics!r} is not a gradient flow: "
                         "it has no interaction energy or free energy")
    return model.interaction.energy(basis, basis.forward(rho))


def entropy(basis, rho, tol: float = 1e-10) -> np.ndarray:
    """int rho log rho d sigma (0 log 0 = 0); rho below -tol * max(rho) is an error.

    Examples
    --------
    The uniform state has zero entropy; a von Mises density e^{k0 cos theta} / I_0(k0)
    has entropy k0 I_1(k0) / I_0(k0) - log I_0(k0):

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from scipy.special import i0, i1
    >>> basis = mf.CircleBasis(32)
    >>> float(mf.entropy(basis, np.ones(basis.shape)))
    0.0
    >>> k0 = 2.0
    >>> s = mf.entropy(basis, mf.initial.von_mises(basis, k0))
    >>> bool(abs(s - (k0 * i1(k0) / i0(k0) - np.log(i0(k0)))) < 1e-12)
    True
    """
    rho = _as_grid(basis, rho)
    good = basis.reliable_nodes  # pointwise values elsewhere are round-off (negligible weight)
    vals = rho[..., good]
    if np.any(vals < -tol * np.max(np.abs(vals), axis=-1, keepdims=True)):
        raise ValueError(f"rho must be nonnegative for the entropy; min = {vals.min():.3e}")
    pos = np.where(good, np.clip(rho, 0.0, None), 0.0)
    safe = np.where(pos > 0, pos, 1.0)
    f = pos * np.log(safe)
    return basis.integrate(f)


def free_energy(model, basis, rho) -> np.ndarray:
    """Free energy F(rho) of DESIGN.md §1 for grid values rho (..., *grid) w.r.t. sigma.

    rho must be a probability density w.r.t. sigma (mass 1 to 1e-8; F is not invariant
    under rescaling, so an unnormalized rho is an error rather than a silent number).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> g0 = model.kernel.coefficients(0)[0]  # F(1) = -g_0/2: no entropy, G*1 = g_0
    >>> bool(np.isclose(mf.free_energy(model, basis, np.ones(basis.shape)), -g0 / 2))
    True
    """
    check_model(model)
    rho = _as_grid(basis, rho)
    mass = basis.integrate(rho)
    if np.any(np.abs(mass - 1.0) > 1e-8):
        raise ValueError(f"rho must have mass 1 w.r.t. sigma, got {np.ravel(mass)[:3]} "
                         "(normalize it, or convert with CircleBasis.from_dtheta)")
    e = interaction_energy(model, basis, rho)
    if np.isinf(model.kappa):
        return -e
    return entropy(basis, rho) / model.kappa - e
