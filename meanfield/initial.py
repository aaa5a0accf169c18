"""Initial densities on a basis's grid, w.r.t. the normalized measure sigma (mass 1)."""

from __future__ import annotations

import numpy as np


def _unit(v, dim: int) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.shape != (dim,) or not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
        raise ValueError(f"mean direction must be a nonzero finite vector of length {dim}, got {v}")
    return v / np.linalg.norm(v)


def _direction(basis, mean) -> np.ndarray:
    if mean is None:
        e = np.zeros(basis.dim)
        e[0] = 1.0
        return e
    if np.ndim(mean) == 0 and basis.dim == 2:  # an angle on the circle
        return np.array([np.cos(mean), np.sin(mean)])
    return _unit(mean, basis.dim)


def von_mises(basis, concentration: float, mean=None) -> np.ndarray:
    """Von Mises–Fisher density exp(k0 <x, mu>) / lambda_0(k0, d) on the grid.

    ``mean`` is a unit vector (an angle is accepted on the circle); default e_1.
    The normalization is the Funk–Hecke coefficient lambda_0(k0, d) = int e^{k0 <x,mu>} d sigma.

    Examples
    --------
    On the circle the density is e^{k0 cos(theta - mean)} / I_0(k0), of mass 1:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from scipy.special import i0
    >>> basis = mf.CircleBasis(32)
    >>> rho = mf.initial.von_mises(basis, 2.0, mean=np.pi / 2)
    >>> bool(np.allclose(rho, np.exp(2.0 * np.cos(basis.grid - np.pi / 2)) / i0(2.0)))
    True
    >>> round(float(basis.integrate(rho)), 12)
    1.0
    """
    from .kernels import AttentionKernel

    k0 = float(concentration)
    if not np.isfinite(k0) or k0 < 0:
        raise ValueError(f"concentration must be finite and >= 0, got {concentration}")
    mu = _direction(basis, mean)
    if getattr(basis, "is_zonal", False) and not np.allclose(mu, np.eye(basis.dim)[0]):
        raise ValueError("a zonal basis holds densities of t = <x, e_1> only: the von Mises "
                         "mean direction must be e_1")
    t = basis.points @ mu
    scaled = AttentionKernel(k0).funk_hecke_scaled(0, basis.dim)  # lambda_0 e^{-k0}
    return np.exp(k0 * (t - 1.0)) / scaled


def wrapped_cauchy(basis, r: float, mean: float = 0.0) -> np.ndarray:
    """Wrapped Cauchy density (1 - r^2) / (1 - 2 r cos(theta - mean) + r^2) on the circle.

    Its Fourier coefficients are rho_k = r^|k| e^{-ik mean}; 0 <= r < 1.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> basis = mf.CircleBasis(32)
    >>> rho = mf.initial.wrapped_cauchy(basis, 0.5)
    >>> c = basis.forward(rho)
    >>> bool(np.allclose(c[:4], [1.0, 0.5, 0.25, 0.125]))  # rho_k = r^k
    True
    """
    from .bases import CircleBasis

    if not isinstance(basis, CircleBasis):
        raise ValueError("wrapped_cauchy is a density on the circle: it needs a CircleBasis")
    if not 0 <= r < 1:
        raise ValueError(f"r must be in [0, 1), got {r}")
    return (1 - r * r) / (1 - 2 * r * np.cos(basis.grid - mean) + r * r)


def perturbed_uniform(basis, amplitude: float = 0.1, max_degree: int = 4,
                      seed: int | None = 0) -> np.ndarray:
    """1 + amplitude * (a random smooth function of degrees 1..max_degree, sup-norm 1).

    The random coefficients decay like 1/l^2. Requires 0 <= amplitude < 1 so the density
    stays positive; the mass is exactly 1.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> basis = mf.CircleBasis(32)
    >>> rho = mf.initial.perturbed_uniform(basis, amplitude=0.1, seed=0)
    >>> round(float(basis.integrate(rho)), 12), round(float(np.max(np.abs(rho - 1))), 12)
    (1.0, 0.1)
    >>> bool(np.all(rho > 0))
    True
    """
    if not 0 <= amplitude < 1:
        raise ValueError(
            f"amplitude must be in [0, 1) to keep the density positive, got {amplitude}")
    if max_degree < 1 or max_degree > basis.max_degree:
        raise ValueError(f"max_degree must be in [1, {basis.max_degree}], got {max_degree}")
    rng = np.random.default_rng(seed)
    deg = np.asarray(basis.degrees)
    c = np.zeros(basis.coeff_shape, dtype=basis.coeff_dtype)
    mask = (deg >= 1) & (deg <= max_degree)
    vals = rng.standard_normal(int(mask.sum()))
    if np.iscomplexobj(c):
        vals = vals + 1j * rng.standard_normal(int(mask.sum()))
    c[mask] = vals / deg[mask] ** 2
    pert = basis.backward(c)
    return 1.0 + amplitude * pert / np.max(np.abs(pert))
