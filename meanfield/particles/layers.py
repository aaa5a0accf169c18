"""Particles driven by a layer with weights: several heads, the perceptron block, potentials.

The finite-n system whose mean-field limit is the PDE of a
``MeanFieldModel(layer, kappa, dynamics, dim)`` (:mod:`meanfield.interactions.layers`):

    dX_i = P_{X_i} u_i dt + sqrt(2/kappa) dB_i   on S^{d-1},
    u_i = sum_terms w * (term's ambient field at X_i),

with, per attention head (beta, Q, K, V; A = Q^T K),
    USA: (1/n) sum_j e^{beta X_i^T A X_j} V X_j,   SA: the softmax average over j,
per perceptron W2 s(W1 X_i + b), per potential -grad U(X_i) (central differences in R^d,
step 1e-6, then the tangent projection). Integrated by Euler–Maruyama with the retraction
of :mod:`meanfield.particles.simulate`, x <- (x + dt P_x u + sqrt(2 dt/kappa) xi)/|.|, in
plain numpy batched over replicas. :func:`meanfield.simulate_particles` sends models whose
layer is anything but one attention head here (one head runs the compiled kernels).
"""

from __future__ import annotations

import time

import numpy as np

from ..interactions.layers import AttentionLayer, ExternalPotential, Perceptron
from .sampling import sample_uniform, sample_von_mises

MAX_BYTES = 4 << 30


def _head_field(layer: AttentionLayer, x: np.ndarray, dynamics: str) -> np.ndarray:
    A, V = layer.matrices(x.shape[-1])
    s = layer.beta * ((x @ A) @ np.swapaxes(x, -1, -2))  # beta x_i^T A x_j
    if dynamics == "sa":
        s -= s.max(axis=-1, keepdims=True)
        w = np.exp(s)
        w /= w.sum(axis=-1, keepdims=True)
    else:
        w = np.exp(s, out=s)
        w /= x.shape[-2]
    return w @ (x @ V.T)


def _potential_field(layer: ExternalPotential, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.empty_like(x)
    for k in range(x.shape[-1]):
        e = np.zeros(x.shape[-1])
        e[k] = h
        grad[..., k] = (np.asarray(layer.U(x + e)) - np.asarray(layer.U(x - e))) / (2 * h)
    return -grad


def ambient_field(model, x: np.ndarray) -> np.ndarray:
    """The layer's ambient field u at tokens x (..., n, d) (before the tangent projection).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.particles.layers import ambient_field
    >>> model = mf.MeanFieldModel(mf.AttentionLayer(0.0) + mf.AttentionLayer(0.0), dim=2)
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> ambient_field(model, x).tolist()  # beta = 0: twice the mean of the tokens
    [[1.0, 1.0], [1.0, 1.0]]
    """
    u = np.zeros_like(x)
    for w, term in model.kernel.terms:
        if isinstance(term, AttentionLayer):
            u += w * _head_field(term, x, model.dynamics)
        elif isinstance(term, Perceptron):
            u += w * term.ambient_field(x)
        elif isinstance(term, ExternalPotential):
            u += w * _potential_field(term, x)
        else:  # pragma: no cover - every layer kind is listed above
            raise TypeError(f"no particle field for {type(term).__name__}")
    return u


def _initial(model, n, x0, init, concentration, mean, rngs, replicas):
    d = model.dim
    if x0 is not None:
        x = np.asarray(x0, dtype=float)
        if x.shape[-1] != d or x.ndim not in (2, 3):
            raise ValueError(f"x0 must have shape (n, {d}) or (replicas, n, {d}), got {x.shape}")
        if not np.allclose(np.linalg.norm(x, axis=-1), 1.0, atol=1e-10):
            raise ValueError("x0 rows must be unit vectors")
        x = np.broadcast_to(x, (replicas,) + x.shape[-2:]).copy()
        return x
    if n is None or isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer (number of tokens), got {n!r}")
    if init == "uniform":
        return np.stack([sample_uniform(int(n), d, g) for g in rngs])
    if init == "vonmises":
        if concentration is None:
            raise ValueError("init='vonmises' needs concentration")
        return np.stack([sample_von_mises(int(n), d, concentration, g, mean) for g in rngs])
    raise ValueError(f"init must be 'uniform' or 'vonmises' for layer models, got {init!r}")


def simulate_layer(model, n=None, *, x0=None, init="uniform", concentration=None, mean=None,
                   t_final: float, dt: float, t_eval=None, seed=None, replicas=None):
    """Euler–Maruyama particles of a layer model (module docstring); see simulate_particles.

    Returns a :class:`~meanfield.particles.ParticleSolution` with x of shape (m, n, d), or
    (m, replicas, n, d) with ``replicas``; params["kernel"] is "numpy-layer".

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> mlp = mf.Perceptron(np.eye(2), np.zeros(2), np.eye(2), activation="tanh")
    >>> model = mf.MeanFieldModel(mf.AttentionLayer(1.0) + mlp, kappa=4.0, dim=2)
    >>> ps = mf.simulate_particles(model, n=16, t_final=0.2, dt=0.05, seed=0, replicas=3)
    >>> ps.x.shape, ps.params["kernel"]
    ((2, 3, 16, 2), 'numpy-layer')
    """
    from .simulate import ParticleSolution, replica_seeds

    if not (np.isfinite(t_final) and t_final > 0):
        raise ValueError(f"t_final must be finite and > 0, got {t_final}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    noise = 1.0 / model.kappa
    if dt * (model.dim - 1) * noise > 0.5:
        raise ValueError(f"dt (d-1)/kappa = {dt * (model.dim - 1) * noise:.3g} > 0.5: the "
                         f"retraction's drift is wrong at this step; use dt <= "
                         f"{0.5 / ((model.dim - 1) * noise):.3g}")
    R = 1 if replicas is None else int(replicas)
    if R < 1:
        raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
    seeds = replica_seeds(seed, R)
    rngs = [np.random.default_rng(s) for s in seeds]
    x = _initial(model, n, x0, init, concentration, mean, rngs, R)
    n_tok = x.shape[1]
    if 8 * R * n_tok * n_tok * 3 > MAX_BYTES:
        raise MemoryError(f"{R} replicas of {n_tok} tokens need {24 * R * n_tok**2 / 2**30:.1f} "
                          f"GiB of pair weights (limit {MAX_BYTES / 2**30:.0f} GiB): fewer "
                          "replicas or tokens")
    times = np.array([0.0, t_final] if t_eval is None else t_eval, dtype=float)
    if times.ndim != 1 or times[0] < 0 or times[-1] > t_final + 1e-12 or np.any(
            np.diff(times) <= 0):
        raise ValueError(f"t_eval must increase within [0, t_final={t_final}]")
    out, t, steps = [], 0.0, 0
    start = time.perf_counter()
    amp = np.sqrt(2 * noise)
    for target in times:
        while t < target - 1e-12:
            h = min(dt, target - t)
            u = ambient_field(model, x)
            f = u - np.sum(u * x, axis=-1, keepdims=True) * x
            x = x + h * f
            if noise > 0:
                x += amp * np.sqrt(h) * np.stack([g.standard_normal(x.shape[1:]) for g in rngs])
            x /= np.linalg.norm(x, axis=-1, keepdims=True)
            if not np.all(np.isfinite(x)):
                raise FloatingPointError(f"the particles blew up at t = {t + h:.6g} (non-finite "
                                         "positions): reduce dt")
            t += h
            steps += 1
        out.append(x.copy())
    X = np.array(out)
    if replicas is None:
        X = X[:, 0]
    params = dict(n=n_tok, dim=model.dim, beta=float(model.beta), kappa=model.kappa,
                  dynamics=model.dynamics, dt=dt, t_final=t_final, method="numpy",
                  kernel="numpy-layer", integrator="em" if noise > 0 else "euler",
                  replicas=replicas, layer=repr(model.kernel))
    return ParticleSolution(t=times, x=X, params=params, n_steps=steps,
                            wall_time=time.perf_counter() - start)
