"""Observables of token configurations x (n, d) on S^{d-1}; all accept (..., n, d) stacks
where noted (e.g. ``ParticleSolution.x`` of shape (m, n, d))."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .interactions import attention_sums
from .spectral import circle_energy

__all__ = ["fourier_moments", "order_parameter", "mean_inner_product", "energy", "clusters",
           "Clusters", "angles", "histogram_circle", "kde_circle", "kde_sphere",
           "vmf_normalizer_sigma"]


def _tokens(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] < 2:
        raise ValueError(f"tokens must have shape (..., n, d) with d >= 2, got {x.shape}")
    return x


def angles(x) -> np.ndarray:
    """Angles theta in [0, 2 pi) of circle tokens (..., n, 2).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> theta = np.array([0.0, np.pi / 2, np.pi])
    >>> x = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # three tokens on the circle
    >>> bool(np.allclose(obs.angles(x), theta))
    True
    """
    x = _tokens(x)
    if x.shape[-1] != 2:
        raise ValueError("angles are defined on the circle (d = 2)")
    return np.mod(np.arctan2(x[..., 1], x[..., 0]), 2 * np.pi)


def fourier_moments(x, k) -> np.ndarray:
    """Empirical Fourier moments (1/n) sum_j e^{i k theta_j} on the circle.

    x: (..., n, 2); k: int or 1-d array of ints. Returns (..., len(k)) (or (...) for scalar k),
    complex. Note the sign: the PDE coefficient rho_k = int rho e^{-ik theta} dsigma
    corresponds to conj of this moment.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> theta = np.array([0.0, np.pi / 2, np.pi])
    >>> x = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # three tokens on the circle
    >>> np.round(obs.fourier_moments(x, [1, 2]), 12) + 0  # (1 + i - 1)/3, (1 - 1 + 1)/3
    array([0.        +0.33333333j, 0.33333333+0.j        ])
    """
    x = _tokens(x)
    if x.shape[-1] != 2:
        raise ValueError("Fourier moments are defined on the circle (d = 2)")
    z = x[..., 0] + 1j * x[..., 1]
    ks = np.atleast_1d(np.asarray(k))
    if ks.dtype.kind not in "iu":
        raise ValueError(f"k must be integer(s), got {k!r}")
    out = np.stack([np.mean(z ** int(kk), axis=-1) for kk in ks], axis=-1)
    return out[..., 0] if np.ndim(k) == 0 else out


def order_parameter(x) -> np.ndarray:
    """|m| = |(1/n) sum_j x_j| for (..., n, d) tokens; (...).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> theta = np.array([0.0, np.pi / 2, np.pi])
    >>> x = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # three tokens on the circle
    >>> round(float(obs.order_parameter(x)), 12)  # the mean token is (0, 1/3)
    0.333333333333
    """
    x = _tokens(x)
    return np.linalg.norm(x.mean(axis=-2), axis=-1)


def mean_inner_product(x) -> np.ndarray:
    """Mean pairwise inner product (1/(n(n-1))) sum_{i != j} <x_i, x_j>, O(n d).

    Uses sum_{i,j} <x_i, x_j> = n^2 |m|^2 and <x_i, x_i> = |x_i|^2.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> theta = np.array([0.0, np.pi / 2, np.pi])
    >>> x = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # three tokens on the circle
    >>> round(float(obs.mean_inner_product(x)), 12)  # (0 + (-1) + 0) * 2 / 6
    -0.333333333333
    """
    x = _tokens(x)
    n = x.shape[-2]
    if n < 2:
        raise ValueError("the mean pairwise inner product needs n >= 2 tokens")
    tot = n * n * np.sum(x.mean(axis=-2) ** 2, axis=-1)
    diag = np.sum(x * x, axis=(-2, -1))
    return (tot - diag) / (n * (n - 1))


def energy(x, beta: float, method: str = "auto") -> np.ndarray | float:
    """E_beta = (1/(2 beta n^2)) sum_{i,j} e^{beta <x_i, x_j>}; beta = 0: (1/(2 n^2)) sum <x_i, x_j>
    (= |m|^2 / 2, the beta -> 0 limit up to the constant 1/(2 beta)).

    GLPR: nondecreasing along the noiseless USA and SA flows. ``method``: "direct" (numba
    O(n^2)), "spectral" (circle, O(n K), accurate to ~1e-12 relative), "auto" (spectral on
    the circle for n > 2000). x: (n, d) or (m, n, d).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> theta = np.array([0.0, np.pi / 2, np.pi])
    >>> x = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # three tokens on the circle
    >>> G = x @ x.T
    >>> bool(np.isclose(obs.energy(x, 1.0), np.exp(G).sum() / (2 * 9)))
    True
    >>> round(obs.energy(x, 0.0), 12)  # beta = 0: |m|^2 / 2
    0.055555555556
    """
    x = _tokens(x)
    if x.ndim > 2:
        flat = x.reshape(-1, *x.shape[-2:])
        return np.array([energy(xi, beta, method) for xi in flat]).reshape(x.shape[:-2])
    beta = float(beta)
    n, d = x.shape
    if beta == 0:
        return 0.5 * float(np.sum(x.mean(axis=0) ** 2))
    if method not in ("auto", "direct", "spectral"):
        raise ValueError(f"method must be 'auto', 'direct' or 'spectral', got {method!r}")
    if method == "spectral" or (method == "auto" and d == 2 and n > 2000):
        if d != 2:
            raise ValueError("the spectral energy is for the circle (d = 2)")
        return circle_energy(x / np.linalg.norm(x, axis=1, keepdims=True), beta)
    _, logz = attention_sums(x, beta, softmax=True)
    top = logz.max()
    # (1/(2 beta n^2)) sum_i e^{logz_i}; overflow-safe while the result is representable
    return float(np.exp(top) * np.sum(np.exp(logz - top)) / (2.0 * beta * n * n))


@dataclass(frozen=True)
class Clusters:
    """Clusters of tokens: ``count``, ``sizes`` (descending), ``labels`` (n,) in 0..count-1
    (label 0 = largest cluster).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> t = np.array([0.0, 1e-3, 2.0, 2.001, 2.002])
    >>> c = obs.clusters(np.stack([np.cos(t), np.sin(t)], axis=-1))
    >>> c.count, c.sizes, c.labels  # the largest cluster gets label 0
    (2, array([3, 2]), array([1, 1, 0, 0, 0]))
    """

    count: int
    sizes: np.ndarray
    labels: np.ndarray


def _relabel(root: np.ndarray) -> Clusters:
    _, inv, counts = np.unique(root, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return Clusters(int(counts.size), counts[order], rank[inv])


def clusters(x, tol: float = 1e-2, max_gram: int = 20000) -> Clusters:
    """Clusters at angular tolerance ``tol`` (radians): single linkage, i.e. the connected
    components of the graph "angle(x_i, x_j) <= tol".

    Circle: sort the angles and cut at gaps > tol (with wrap-around), O(n log n).
    d >= 3: union-find over the Gram matrix, computed in row blocks (n <= ``max_gram``).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> t = np.array([0.0, 1e-3, 2.0, 2.001, 2.002])
    >>> x = np.stack([np.cos(t), np.sin(t)], axis=-1)
    >>> obs.clusters(x, tol=1e-2).count, obs.clusters(x, tol=1e-4).count
    (2, 5)
    """
    x = _tokens(x)
    if x.ndim != 2:
        raise ValueError(f"clusters takes one configuration (n, d), got shape {x.shape}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    n, d = x.shape
    if d == 2:
        th = angles(x)
        order = np.argsort(th)
        ts = th[order]
        gaps = np.diff(np.concatenate([ts, [ts[0] + 2 * np.pi]]))
        cut = gaps > tol  # cut after position i
        if not np.any(cut):
            return Clusters(1, np.array([n]), np.zeros(n, dtype=np.int64))
        first = int(np.argmax(cut)) + 1  # start after the first cut: no cluster wraps
        lab_sorted = np.empty(n, dtype=np.int64)
        rolled = np.roll(np.arange(n), -first)
        seg = np.concatenate([[0], np.cumsum(cut[rolled][:-1])])
        lab_sorted[rolled] = seg
        root = np.empty(n, dtype=np.int64)
        root[order] = lab_sorted
        return _relabel(root)
    if n > max_gram:
        raise ValueError(f"clusters on S^{d - 1} uses the Gram matrix; n={n} > max_gram="
                         f"{max_gram}")
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos_tol = np.cos(tol)
    parent = np.arange(n)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    block = max(1, 2**22 // max(n, 1))
    for i0 in range(0, n, block):
        g = xn[i0:i0 + block] @ xn.T
        ii, jj = np.nonzero(g >= cos_tol)
        for a, b in zip(ii + i0, jj, strict=True):
            if a < b:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    root = np.array([find(a) for a in range(n)])
    return _relabel(root)


# ---------------------------------------------------------------------------------------
# histograms and kernel density estimates (densities w.r.t. the normalized measure sigma)
# ---------------------------------------------------------------------------------------
def _angles_in(theta) -> np.ndarray:
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim < 1 or th.shape[-1] < 1:
        raise ValueError(f"theta must have shape (..., n) with n >= 1, got {th.shape}")
    if not np.all(np.isfinite(th)):
        raise ValueError("theta contains NaN or inf")
    return np.mod(th, 2 * np.pi)


def histogram_circle(theta, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of circle angles as a density w.r.t. sigma (d theta / 2 pi).

    theta: angles (..., n) (any real values, taken mod 2 pi); bins: number of equal bins on
    [0, 2 pi). Returns ``(density, edges)``: density (..., bins) with
    mean(density) = 1 (i.e. sum density * width / (2 pi) = 1; the uniform law gives 1),
    edges (bins + 1,) from 0 to 2 pi.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> density, edges = obs.histogram_circle(np.array([0.1, 0.2, 3.0, 4.0]), bins=4)
    >>> density, edges.size  # w.r.t. sigma: mean 1
    (array([2., 1., 1., 0.]), 5)
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    th = _angles_in(theta)
    bins = int(bins)
    edges = np.linspace(0.0, 2 * np.pi, bins + 1)
    idx = np.minimum((th * (bins / (2 * np.pi))).astype(np.int64), bins - 1)
    flat = idx.reshape(-1, th.shape[-1])
    counts = np.stack([np.bincount(r, minlength=bins) for r in flat]).reshape(
        *th.shape[:-1], bins)
    return counts * (bins / th.shape[-1]), edges


def _von_mises_sigma(cos_t: np.ndarray, kappa: float) -> np.ndarray:
    """Von Mises kernel density w.r.t. sigma on the circle: e^{kappa cos t} / I_0(kappa)
    (overflow-safe through the scaled Bessel function)."""
    from scipy.special import i0e

    return np.exp(kappa * (cos_t - 1.0)) / i0e(kappa)


def kde_circle(theta, kappa: float, at=None, n_grid: int = 256) -> np.ndarray:
    """Von Mises kernel density estimate on the circle, w.r.t. sigma (integrates to 1).

    f(t) = (1/n) sum_j e^{kappa cos(t - theta_j)} / I_0(kappa). theta: angles (n,);
    kappa > 0: kernel concentration (bandwidth ~ kappa^{-1/2}); at: evaluation angles
    (any shape; default the CircleBasis-style grid 2 pi j / n_grid, j < n_grid).
    Exact expectation for data from a density f: the convolution, whose Fourier
    coefficients are f_k I_k(kappa) / I_0(kappa). Cost O(n * len(at)), blocked.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> f = obs.kde_circle(np.array([0.0, 1.0]), kappa=10.0)  # on 256 equispaced angles
    >>> f.shape, round(float(f.mean()), 12)  # integrates to 1 against sigma
    ((256,), 1.0)
    """
    kappa = float(kappa)
    if not (np.isfinite(kappa) and kappa > 0):
        raise ValueError(f"kappa must be finite and > 0, got {kappa}")
    th = _angles_in(theta)
    if th.ndim != 1:
        raise ValueError(f"theta must be 1-d angles (n,), got shape {th.shape}")
    t = (2 * np.pi * np.arange(n_grid) / n_grid if at is None
         else np.asarray(at, dtype=np.float64))
    tf = t.ravel()
    out = np.empty(tf.size)
    block = max(1, 2**22 // max(th.size, 1))
    for i0 in range(0, tf.size, block):
        c = np.cos(tf[i0:i0 + block, None] - th[None, :])
        out[i0:i0 + block] = _von_mises_sigma(c, kappa).mean(axis=1)
    return out.reshape(t.shape)


def vmf_normalizer_sigma(kappa: float, dim: int) -> float:
    """int_{S^{dim-1}} e^{kappa (<x, mu> - 1)} d sigma(x) = e^{-kappa} Gamma(d/2) (2/kappa)^{d/2-1}
    I_{d/2-1}(kappa) (DESIGN.md §1, lambda_0), computed overflow-safely.

    Examples
    --------
    On S^2 it is ``e^{-kappa} sinh(kappa)/kappa``; on the circle ``e^{-kappa} I_0(kappa)``:

    >>> import numpy as np
    >>> from scipy.special import i0e
    >>> from meanfield.particles import observables as obs
    >>> bool(np.isclose(obs.vmf_normalizer_sigma(2.0, 3), np.exp(-2) * np.sinh(2.0) / 2.0))
    True
    >>> bool(np.isclose(obs.vmf_normalizer_sigma(2.0, 2), i0e(2.0)))
    True
    """
    from scipy.special import gammaln, ive

    nu = dim / 2.0 - 1.0
    return float(np.exp(gammaln(dim / 2.0) + nu * np.log(2.0 / kappa)) * ive(nu, kappa))


def kde_sphere(x, kappa: float, points) -> np.ndarray:
    """Von Mises–Fisher kernel density estimate on S^{d-1}, w.r.t. sigma (integrates to 1).

    f(y) = (1/n) sum_j e^{kappa <y, x_j>} / c_d(kappa), c_d(kappa) = int e^{kappa <y, mu>} d sigma
    (on S^2: sinh(kappa) / kappa). x: tokens (n, d); kappa > 0; points: evaluation points
    (..., d) (unit vectors), or a ``SphereBasis`` (evaluates on its grid, shape basis.shape,
    so ``basis.integrate(f)`` is 1 up to quadrature error). Cost O(n * #points * d), blocked.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.particles import observables as obs
    >>> from meanfield.particles.sampling import sample_uniform
    >>> basis = mf.SphereBasis(16)
    >>> x = sample_uniform(50, 3, np.random.default_rng(0))
    >>> f = obs.kde_sphere(x, 5.0, basis)
    >>> f.shape, round(float(basis.integrate(f)), 10)
    ((26, 49), 1.0)
    """
    kappa = float(kappa)
    if not (np.isfinite(kappa) and kappa > 0):
        raise ValueError(f"kappa must be finite and > 0, got {kappa}")
    x = _tokens(x)
    if x.ndim != 2:
        raise ValueError(f"x must be one configuration (n, d), got shape {x.shape}")
    n, d = x.shape
    pts = getattr(points, "points", points)
    pts = np.asarray(pts, dtype=np.float64)
    if pts.shape[-1] != d:
        raise ValueError(f"points must have last axis {d} (the tokens' dimension), got "
                         f"{pts.shape}")
    pf = pts.reshape(-1, d)
    out = np.empty(pf.shape[0])
    c = vmf_normalizer_sigma(kappa, d)
    block = max(1, 2**22 // max(n, 1))
    for i0 in range(0, pf.shape[0], block):
        g = pf[i0:i0 + block] @ x.T
        out[i0:i0 + block] = np.exp(kappa * (g - 1.0)).mean(axis=1) / c
    return out.reshape(pts.shape[:-1])


def equiangular_ode(beta: float, n: int, dynamics: str, t) -> np.ndarray:
    """Common inner product gamma(t) of n equiangular tokens, gamma(0) = 0 (GLPR Thm 6.8).

    SA:  dgamma/dt = 2 e^{beta gamma}(1-gamma)((n-1)gamma+1) / (e^beta + (n-1) e^{beta gamma})
    USA: dgamma/dt = (2/n) e^{beta gamma}(1-gamma)((n-1)gamma+1)
    (LITERATURE.md), returned at the times ``t`` (t[0] = 0): the Post-LN case of
    :func:`meanfield.particles.normalization.equiangular_system` (scipy DOP853, rtol 1e-12).

    Examples
    --------
    For beta = 0 and n = 2 (USA), ``dgamma/dt = 1 - gamma^2``, so ``gamma = tanh(t)``:

    >>> import numpy as np
    >>> from meanfield.particles import observables as obs
    >>> t = [0.0, 0.5, 1.0]
    >>> bool(np.allclose(obs.equiangular_ode(0.0, 2, "usa", t), np.tanh(t), rtol=1e-9))
    True
    """
    from .normalization import equiangular_system

    return equiangular_system(beta, n, dynamics, t, "post-ln")[0]
