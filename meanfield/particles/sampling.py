"""Initial token configurations on S^{d-1}: uniform, von Mises–Fisher, equiangular, a circle
density (inverse CDF), and validation of user arrays. All take a numpy ``Generator``."""

from __future__ import annotations

import numpy as np

from .._validate import real_grid_values

__all__ = ["sample_uniform", "sample_von_mises", "sample_equiangular", "sample_circle_density",
           "check_tokens"]


def _mean_direction(mean, dim: int) -> np.ndarray:
    if mean is None:
        e = np.zeros(dim)
        e[0] = 1.0
        return e
    if np.ndim(mean) == 0 and dim == 2:  # an angle on the circle
        return np.array([np.cos(float(mean)), np.sin(float(mean))])
    mu = np.asarray(mean, dtype=float)
    if mu.shape != (dim,) or not np.all(np.isfinite(mu)) or np.linalg.norm(mu) == 0:
        raise ValueError(f"mean must be a nonzero finite vector of length {dim}"
                         f"{' (or an angle)' if dim == 2 else ''}, got {mean!r}")
    return mu / np.linalg.norm(mu)


def sample_uniform(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform on S^{dim-1} (normalized standard Gaussians).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import sampling
    >>> rng = np.random.default_rng(0)
    >>> x = sampling.sample_uniform(5, 3, rng)
    >>> x.shape, bool(np.allclose(np.linalg.norm(x, axis=1), 1.0))
    ((5, 3), True)
    """
    x = rng.standard_normal((n, dim))
    nrm = np.linalg.norm(x, axis=1, keepdims=True)
    while np.any(nrm == 0):  # probability zero; kept for rigor
        bad = nrm[:, 0] == 0
        x[bad] = rng.standard_normal((int(bad.sum()), dim))
        nrm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / nrm


def sample_von_mises(n: int, dim: int, concentration: float, rng: np.random.Generator,
                     mean=None) -> np.ndarray:
    """n points from the von Mises–Fisher law ∝ exp(k0 <x, mean>) on S^{dim-1}.

    Wood's (1994) rejection algorithm for w = <x, mean> (any dim >= 2; acceptance rate
    >= ~0.6 for all k0), then x = w mean + sqrt(1 - w^2) v with v uniform on the sphere
    orthogonal to ``mean``. ``mean``: unit vector (an angle on the circle), default e_1.

    Examples
    --------
    On S^2 the mean of ``<x, mean>`` is ``coth(k0) - 1/k0``:

    >>> import numpy as np
    >>> from meanfield.particles import sampling
    >>> rng = np.random.default_rng(0)
    >>> x = sampling.sample_von_mises(20000, 3, 5.0, rng)
    >>> bool(abs(x[:, 0].mean() - (1 / np.tanh(5.0) - 1 / 5.0)) < 0.01)
    True
    """
    k0 = float(concentration)
    if not np.isfinite(k0) or k0 < 0:
        raise ValueError(f"concentration must be finite and >= 0, got {concentration!r}")
    mu = _mean_direction(mean, dim)
    m1 = dim - 1.0
    b = m1 / (2.0 * k0 + np.sqrt(4.0 * k0 * k0 + m1 * m1))  # = (-2k + sqrt(4k^2+m1^2))/m1
    x0 = (1.0 - b) / (1.0 + b)
    c = k0 * x0 + m1 * np.log(1.0 - x0 * x0)
    w = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        z = rng.beta(m1 / 2.0, m1 / 2.0, size=m)
        u = rng.uniform(size=m)
        ww = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
        with np.errstate(divide="ignore"):
            ok = k0 * ww + m1 * np.log(1.0 - x0 * ww) - c >= np.log(u)
        w[todo[ok]] = ww[ok]
        todo = todo[~ok]
    w = np.clip(w, -1.0, 1.0)
    # v uniform on the unit sphere of mu's orthogonal complement
    v = rng.standard_normal((n, dim))
    v -= np.outer(v @ mu, mu)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    x = w[:, None] * mu + np.sqrt(1.0 - w * w)[:, None] * v
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sample_equiangular(n: int, dim: int, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors with all pairwise inner products equal to ``gamma``, randomly rotated.

    x_i = sqrt(gamma) e_0 + sqrt(1 - gamma) e_i in an orthonormal frame (needs dim >= n + 1
    for gamma > 0, dim >= n for gamma = 0; -1/(n-1) <= gamma < 1 otherwise needs a simplex
    frame, not offered).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import sampling
    >>> rng = np.random.default_rng(0)
    >>> x = sampling.sample_equiangular(4, 5, 0.3, rng)
    >>> G = x @ x.T
    >>> bool(np.allclose(G[~np.eye(4, dtype=bool)], 0.3) and np.allclose(np.diag(G), 1.0))
    True
    """
    gamma = float(gamma)
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"equiangular gamma must be in [0, 1), got {gamma}")
    need = n + 1 if gamma > 0 else n
    if dim < need:
        raise ValueError(f"an equiangular configuration of n={n} tokens with gamma={gamma} "
                         f"needs dim >= {need}, got dim={dim}")
    frame, _ = np.linalg.qr(rng.standard_normal((dim, need)))
    coef = np.zeros((n, need))
    coef[:, -n:] = np.sqrt(1.0 - gamma) * np.eye(n)
    if gamma > 0:
        coef[:, 0] = np.sqrt(gamma)
    return coef @ frame.T


def sample_circle_density(rho, n: int, rng: np.random.Generator, refine: int = 16) -> np.ndarray:
    """n points on the circle sampled from grid values ``rho`` by the inverse CDF.

    ``rho`` holds density values w.r.t. sigma = dtheta / (2 pi) at the equispaced angles
    theta_j = 2 pi j / M (a CircleBasis grid). It is read as its trigonometric interpolant,
    whose CDF is integrated exactly at ``refine * M`` points and inverted by linear
    interpolation (a piecewise-constant density on the fine grid: error O((refine M)^-2)).

    Examples
    --------
    Samples of a von Mises density have ``E cos(theta) = I_1(k0)/I_0(k0)``:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from scipy.special import i0, i1
    >>> from meanfield.particles import sampling
    >>> basis = mf.CircleBasis(32)
    >>> rho = mf.initial.von_mises(basis, 2.0)
    >>> x = sampling.sample_circle_density(rho, 20000, np.random.default_rng(0))
    >>> x.shape, bool(abs(x[:, 0].mean() - i1(2.0) / i0(2.0)) < 0.01)
    ((20000, 2), True)
    """
    rho = real_grid_values(rho, "density")
    if rho.ndim != 1 or rho.size < 2 or not np.all(np.isfinite(rho)):
        raise ValueError("density must be a finite 1-d array of grid values")
    if np.any(rho < 0):
        raise ValueError(f"density must be nonnegative, min = {rho.min():.3e}")
    M = rho.size
    c = np.fft.rfft(rho) / M  # rho(theta) = sum_k c_k e^{ik theta} (k >= 0 doubled below)
    if M % 2 == 0:
        c[-1] *= 0.5  # Nyquist mode split between +-M/2
    if c[0].real <= 0:
        raise ValueError("density has zero mass")
    F = refine * M
    th = 2 * np.pi * np.arange(F + 1) / F
    k = np.arange(1, c.size)
    # (1/2pi) int_0^theta rho = c_0 theta/2pi + sum_k 2 Re(c_k (e^{ik theta} - 1)/(ik)) / 2pi
    cdf = c[0].real * th
    for kk, ck in zip(k, c[1:], strict=True):
        cdf += 2.0 * np.real(ck * (np.exp(1j * kk * th) - 1.0) / (1j * kk))
    cdf = np.maximum.accumulate(cdf)  # interpolant may dip below zero between nodes
    cdf /= cdf[-1]
    u = rng.uniform(size=n)
    theta = np.interp(u, cdf, th)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def check_tokens(x0, n: int | None, dim: int | None, normalize: bool = False,
                 tol: float = 1e-6) -> np.ndarray:
    """Validate a user token array: shape (n, dim), finite, rows on the unit sphere.

    Rows with | |x_i| - 1 | > tol raise ValueError unless ``normalize=True`` (then every row
    is divided by its norm; zero rows still raise).

    Examples
    --------
    >>> from meanfield.particles.sampling import check_tokens
    >>> check_tokens([[2.0, 0.0]], n=1, dim=2, normalize=True)
    array([[1., 0.]])
    >>> check_tokens([[2.0, 0.0]], n=1, dim=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: x0 rows are not on the unit sphere: ...
    """
    x = np.array(real_grid_values(x0, "x0", "token coordinates"), dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x0 must have shape (n, dim), got shape {x.shape}")
    if n is not None and x.shape[0] != n:
        raise ValueError(f"x0 has {x.shape[0]} rows but n={n}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"x0 has {x.shape[1]} columns but dim={dim}")
    if x.shape[1] < 2 or x.shape[0] < 1:
        raise ValueError(f"x0 must hold n >= 1 tokens of dim >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 contains NaN or inf")
    nrm = np.linalg.norm(x, axis=1)
    if np.any(nrm == 0):
        raise ValueError(f"x0 has zero rows (e.g. row {int(np.argmin(nrm))}); tokens must be "
                         "unit vectors")
    off = np.abs(nrm - 1.0)
    if np.any(off > tol):
        if not normalize:
            i = int(np.argmax(off))
            raise ValueError(
                f"x0 rows are not on the unit sphere: |x0[{i}]| = {nrm[i]:.6g} "
                f"({int(np.sum(off > tol))} of {x.shape[0]} rows off by more than {tol:g}); "
                "pass normalize_x0=True to project them onto the sphere")
    return x / nrm[:, None]
