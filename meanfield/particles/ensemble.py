"""Ensembles of particle systems: observables per replica, ensemble means with standard
errors, and random attention weights per replica.

An ensemble is R independent systems of n tokens, ``x`` of shape (..., R, n, d) (e.g.
``ParticleSolution.x`` of ``simulate_particles(..., replicas=R)``, shape (m, R, n, d)).
Every observable here maps a stack of configurations (..., n, d) to one number per
configuration, (...); :func:`ensemble_estimate` reduces the replica axis to the mean and its
standard error std / sqrt(R) (ddof = 1), the Monte Carlo error of the ensemble mean.

Random weights (:func:`random_attention_weights`) follow the experiments of GLPR's
phase-diagram script (borjanG/2023-transformers-rotf, ``randomKQ`` / ``randomV``) and of
Karagodin et al.: the bilinear form A = Q^T K of the score <Q x, K y> = x^T A y is

- ``"gaussian"``: A = G1 G2 / sqrt(d), G1, G2 with iid N(0, 1) entries (a product of two
  Gaussian matrices; entries of unit variance);
- ``"goe"``: A = (G + G^T) / sqrt(2) (the Gaussian orthogonal ensemble: off-diagonal
  entries of variance 1, diagonal entries of variance 2);

and the value matrix is the identity (``value=None``), ``"wishart"``: V = G G^T / sqrt(d),
or ``"gradient"``: V = A^T / c with c = sqrt(d) (gaussian) or sqrt(d + 1) (goe). That script
multiplies row vectors (x^T A y, v^T V); in this suite's column convention (v_i = sum_j a_ij
V x_j) its value matrix is our V^T, which is why ``"gradient"`` is A^T / c here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from . import observables as obs

__all__ = ["OBSERVABLES", "EnsembleEstimate", "check_replicas", "ensemble_estimate",
           "pair_fraction",
           "cluster_count", "random_attention_weights", "resolve_observables"]


def check_replicas(replicas, allow_none: bool = False) -> int | None:
    """``replicas`` as an int >= 1 (or None where ``allow_none``), else a ValueError naming it.

    Examples
    --------
    >>> from meanfield.particles.ensemble import check_replicas
    >>> check_replicas(3), check_replicas(None, allow_none=True)
    (3, None)
    """
    if replicas is None and allow_none:
        return None
    if isinstance(replicas, bool) or not isinstance(replicas, int | np.integer) or replicas < 1:
        raise ValueError(f"replicas must be a positive integer"
                         f"{' (or None for one system)' if allow_none else ''}, got {replicas!r}")
    return int(replicas)


def pair_fraction(x, threshold: float = 0.999) -> np.ndarray:
    """Fraction of token pairs i != j with <x_i, x_j> > ``threshold``, per configuration.

    GLPR's statistic of clustering (threshold 0.999). x: (..., n, d), n >= 2; returns (...).
    Computed from the Gram matrix of each configuration in chunks of ~2^22 entries.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.ensemble import pair_fraction
    >>> t = np.array([0.0, 1e-3, 2.0, 3.0])  # one clustered pair out of six
    >>> x = np.stack([np.cos(t), np.sin(t)], axis=-1)
    >>> float(pair_fraction(x))
    0.16666666666666666
    >>> pair_fraction(np.stack([x, x[::-1] * 0 + [1.0, 0.0]])).tolist()  # a batch of two
    [0.16666666666666666, 1.0]
    """
    x = obs._tokens(x)
    n = x.shape[-2]
    if n < 2:
        raise ValueError("pair_fraction needs n >= 2 tokens per configuration")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    lead = x.shape[:-2]
    flat = x.reshape(-1, n, x.shape[-1])
    out = np.empty(flat.shape[0])
    chunk = max(1, (1 << 22) // (n * n))
    for c0 in range(0, flat.shape[0], chunk):
        xc = flat[c0:c0 + chunk]
        g = np.matmul(xc, np.swapaxes(xc, -1, -2))
        above = np.count_nonzero(g > threshold, axis=(-2, -1))
        diag = np.count_nonzero(np.einsum("rii->ri", g) > threshold, axis=-1)
        out[c0:c0 + chunk] = (above - diag) / (n * (n - 1))
    return out.reshape(lead)


@njit(parallel=True, cache=True)
def _components(x, cos_tol, out):  # pragma: no cover - numba
    """Connected components of the graphs <x_i, x_j> >= cos_tol, one per configuration."""
    B, n, d = x.shape
    for b in prange(B):
        parent = np.arange(n)
        count = n
        for i in range(n):
            for j in range(i + 1, n):
                g = 0.0
                for c in range(d):
                    g += x[b, i, c] * x[b, j, c]
                if g >= cos_tol:
                    ri = i
                    while parent[ri] != ri:
                        ri = parent[ri]
                    rj = j
                    while parent[rj] != rj:
                        rj = parent[rj]
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
                        count -= 1
        out[b] = count


def cluster_count(x, tol: float = 1e-2) -> np.ndarray:
    """Number of clusters per configuration at angular tolerance ``tol`` (radians).

    The same clusters as :func:`meanfield.particles.observables.clusters` (single linkage:
    components of the graph "angle(x_i, x_j) <= tol"), for stacks (..., n, d); compiled,
    parallel over configurations, O(n^2 d) each.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.ensemble import cluster_count
    >>> t = np.array([0.0, 1e-3, 2.0, 2.001, 2.002])
    >>> x = np.stack([np.cos(t), np.sin(t)], axis=-1)
    >>> int(cluster_count(x)), cluster_count(np.stack([x, x]), tol=1e-4).tolist()
    (2, [5, 5])
    """
    x = obs._tokens(x)
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    lead = x.shape[:-2]
    flat = np.ascontiguousarray(x.reshape(-1, *x.shape[-2:]))
    flat = flat / np.linalg.norm(flat, axis=-1, keepdims=True)
    out = np.empty(flat.shape[0], dtype=np.int64)
    _components(flat, float(np.cos(tol)), out)
    return out.reshape(lead)


#: observables by name: functions of configurations (..., n, d) -> (...), with their keywords
OBSERVABLES = {
    "order_parameter": obs.order_parameter,
    "mean_inner_product": obs.mean_inner_product,
    "pair_fraction": pair_fraction,
    "cluster_count": cluster_count,
}


def resolve_observables(spec) -> dict:
    """``observables=`` of simulate_particles -> {name: (function, keywords)}.

    Examples
    --------
    >>> from meanfield.particles.ensemble import resolve_observables
    >>> sorted(resolve_observables(["order_parameter", "pair_fraction"]))
    ['order_parameter', 'pair_fraction']
    >>> resolve_observables({"pair_fraction": {"threshold": 0.99}})["pair_fraction"][1]
    {'threshold': 0.99}
    """
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    items = spec.items() if isinstance(spec, dict) else ((name, {}) for name in spec)
    out = {}
    for name, kw in items:
        if name not in OBSERVABLES:
            raise ValueError(f"unknown observable {name!r}; choose from {sorted(OBSERVABLES)}")
        if not isinstance(kw, dict):
            raise ValueError(f"observables[{name!r}] must be a dict of keyword arguments, got "
                             f"{kw!r}")
        out[name] = (OBSERVABLES[name], dict(kw))
    return out


@dataclass(frozen=True)
class EnsembleEstimate:
    """Ensemble mean of an observable with its Monte Carlo error.

    Attributes
    ----------
    name : str
        The observable.
    mean, sem, std : ndarray
        Mean over the replicas, its standard error std / sqrt(R), and the standard
        deviation (ddof = 1) over the replicas, at each save time.
    replicas : int
        R.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.ensemble import ensemble_estimate
    >>> est = ensemble_estimate(np.array([[1.0, 2.0, 3.0, 4.0]]), "demo")
    >>> est.mean.tolist(), est.replicas, bool(np.isclose(est.sem[0], np.std([1, 2, 3, 4],
    ...                                                                     ddof=1) / 2))
    ([2.5], 4, True)
    """

    name: str
    mean: np.ndarray
    sem: np.ndarray
    std: np.ndarray
    replicas: int

    def interval(self, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
        """(mean - z sem, mean + z sem): the normal-approximation confidence interval.

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.ensemble import ensemble_estimate
        >>> lo, hi = ensemble_estimate(np.array([[1.0, 3.0]]), "demo").interval(1.0)
        >>> lo.tolist(), hi.tolist()
        ([1.0], [3.0])
        """
        return self.mean - z * self.sem, self.mean + z * self.sem


def ensemble_estimate(values, name: str = "observable", axis: int = -1) -> EnsembleEstimate:
    """Mean and standard error over the replica axis (default: the last) of ``values``."""
    v = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    R = v.shape[-1]
    std = v.std(axis=-1, ddof=1) if R > 1 else np.full(v.shape[:-1], np.nan)
    return EnsembleEstimate(name, v.mean(axis=-1), std / np.sqrt(R), std, R)


KINDS = ("gaussian", "goe")
VALUES = (None, "wishart", "gradient")


def random_attention_weights(replicas: int, dim: int, *, kind: str = "gaussian",
                             value: str | None = None, seed=None) -> dict:
    """Random key–query (and value) matrices, one per replica (see the module docstring).

    Parameters
    ----------
    replicas : int
        Number of systems R.
    dim : int
        Token dimension d.
    kind : {"gaussian", "goe"}
        Law of the bilinear form A = Q^T K.
    value : {None, "wishart", "gradient"}
        Value matrices: identity, G G^T / sqrt(d), or A^T / c.
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    dict
        ``{"Q": (R, d, d), "K": None, "V": (R, d, d) or None}``, to pass as
        ``simulate_particles(..., replicas=R, **weights)``: Q = A^T and K = identity, so
        that <Q x, K y> = x^T A y.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.ensemble import random_attention_weights
    >>> w = random_attention_weights(1000, 4, kind="goe", seed=0)
    >>> A = np.swapaxes(w["Q"], 1, 2)
    >>> w["Q"].shape, w["K"], w["V"], bool(np.allclose(A, np.swapaxes(A, 1, 2)))
    ((1000, 4, 4), None, None, True)
    >>> off, diag = A[:, 0, 1], A[:, 2, 2]  # variances 1 and 2
    >>> bool(abs(off.var() - 1) < 0.15), bool(abs(diag.var() - 2) < 0.3)
    (True, True)
    """
    replicas = check_replicas(replicas)
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    need = (2 + (value is not None)) * replicas * dim * dim * 8
    if need > 8 * 2**30:
        raise MemoryError(f"{replicas} replicas of {dim} x {dim} matrices need "
                          f"{need / 2**30:.3g} GiB; use fewer replicas per call")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    shape = (replicas, dim, dim)
    if kind == "gaussian":
        A = np.matmul(rng.standard_normal(shape), rng.standard_normal(shape)) / np.sqrt(dim)
        c = np.sqrt(dim)
    else:
        G = rng.standard_normal(shape)
        A = (G + np.swapaxes(G, 1, 2)) / np.sqrt(2.0)
        c = np.sqrt(dim + 1.0)
    V = None
    if value == "wishart":
        G = rng.standard_normal(shape)
        V = np.matmul(G, np.swapaxes(G, 1, 2)) / np.sqrt(dim)
    elif value == "gradient":
        V = np.swapaxes(A, 1, 2) / c
    return {"Q": np.ascontiguousarray(np.swapaxes(A, 1, 2)), "K": None, "V": V}
