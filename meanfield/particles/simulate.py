"""simulate_particles: n interacting tokens on S^{d-1} (DESIGN.md §1, LITERATURE.md "Models").

    dX_i = s_i^{-1} P_{X_i}(v_i) dt + sqrt(2/kappa) dB_i,     P_x y = y - <x, y> x,
    v_i = (1/n) sum_j e^{beta <Q X_i, K X_j>} V X_j                       (USA)
    v_i = sum_j e^{beta <Q X_i, K X_j>} V X_j / sum_j e^{beta <Q X_i, K X_j>}   (SA)

(j <= i only with ``causal=True``; the USA prefactor stays 1/n). Normalization schemes
(Karagodin, Ge, Polyanskiy, Rigollet, arXiv 2510.22026) divide the tangential velocity by a
speed factor s_i (meanfield.particles.normalization): "post-ln" s_i = 1 (the default);
"pre-ln": the residual stream y_i is not normalized, dy_i/dt = v_i(Y / |Y|), so the direction
x_i = y_i / |y_i| moves with s_i = |y_i|; "peri-ln": dy_i/dt = v_i/|v_i|, s_i = |y_i||v_i|;
"ngpt": on the sphere, s_i = |v_i|/alpha; "mix-ln": post-ln then pre-ln. Schemes whose
state leaves the sphere (pre-, peri-, mix-ln) are noiseless only.

Integrators (fixed step ``dt``; steps are shortened to land exactly on every ``t_eval``):
- noisy (kappa < inf): Euler–Maruyama in the ambient space followed by the retraction
  x <- (x + f(x) dt + sqrt(2 dt/kappa) xi) / |.|, xi ~ N(0, I_d). The radial part of the
  noise is removed by the retraction, leaving the Ito drift -(d-1)/kappa x of Brownian motion
  on the sphere to leading order (E<X_t, x_0> = e^{-(d-1)t/kappa}, tested).
- noiseless: classical RK4 on the ambient ODE y' = f(y), f(y) = P_{y/|y|} v(y/|y|) (which
  preserves every sphere |y| = r), followed by the retraction y/|y|; "euler" also available.
- adaptive (noiseless RK4 only, ``adaptive=True``): step doubling. Each step of size h is
  also taken as two steps of h/2; the two-half-step result is kept and its local error is
  estimated as max_i |y_half - y_full|_i / (15 max(1, |y_i|)) (RK4: the full step's error is
  16x the two half steps'). A step is accepted when that estimate is <= ``rtol`` (error per
  step, relative to the token norm, which is 1 except with pre-ln); the next step is
  h * clip(0.9 (rtol/err)^{1/5}, 0.2, 4), never above ``dt`` (the initial and largest step,
  which must satisfy the stability limit below). Steps are shortened to land on t_eval.

Stability limit (documented and enforced): with a = ||Q^T K||_2 and the speed bound
vmax = ||V||_2 e^{|beta| a} (USA) or ||V||_2 (SA), the field's Lipschitz constant is at most
L = coupling * vmax * (1 + |beta| a) (up to a factor 2 for SA); ``dt * L`` must not exceed
``STABILITY_LIMIT = 0.5``, and a noisy run needs ``dt (d-1)/kappa <= 0.5`` as well (the
retraction's drift is only right to leading order in that number). Larger steps raise
ValueError naming the largest admissible dt.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_real, real_grid_values
from . import observables as obs
from .ensemble import check_replicas, resolve_observables
from .interactions import (
    DIRECT_MAX_N,
    SERIAL_WORK,
    attention_euler_step,
    attention_sums_batched,
    attention_sums_numpy,
    batched_kernel,
    single_threaded,
)
from .normalization import _rowdot, normalization_scheme
from .sampling import (
    check_tokens,
    sample_circle_density,
    sample_equiangular,
    sample_uniform,
    sample_von_mises,
)
from .spectral import circle_coefficients, circle_velocity
from .spectral_s2 import sphere_coefficients, sphere_velocity
from .weighted import check_weights, weighted_sums, weights_scale

__all__ = ["simulate_particles", "ParticleSolution", "STABILITY_LIMIT", "AUTO_SPECTRAL_N",
           "AUTO_SPECTRAL_N_S2", "replica_seeds"]

STABILITY_LIMIT = 0.5
#: largest estimated memory (trajectories + working state) of one run; larger runs (and runs
#: beyond 80% of the available memory) are refused before anything is allocated
MAX_RUN_BYTES = 8 << 30
#: method="auto" uses the spectral circle summation from this many tokens on
AUTO_SPECTRAL_N = 1024
#: method="auto" uses the spectral S^2 summation (dim = 3) from this many tokens on
AUTO_SPECTRAL_N_S2 = 2048
METHODS = ("auto", "direct", "spectral", "numpy")
KEEPS = ("trajectories", "observables")
INITS = ("uniform", "vonmises", "equiangular", "density")


@dataclass
class ParticleSolution:
    """Result of :func:`simulate_particles`.

    Attributes
    ----------
    t : ndarray (m,)
        Save times.
    x : ndarray (m, n, dim), (m, replicas, n, dim) for ensembles, or None
        Token directions (unit vectors) at the save times (None with keep="observables").
    radius : ndarray (m, n) / (m, replicas, n), or None
        |y_i| of the residual stream (schemes off the sphere: pre-ln, peri-ln, mix-ln).
    observables : dict
        name -> values at the save times, (m,) or (m, replicas) (``observables=`` of
        :func:`simulate_particles`).
    params : dict
        The resolved parameters (beta, kappa, dynamics, dim, n, dt, method, ...).
    n_steps : int
        Number of time steps taken.
    wall_time : float
        Seconds spent in the time loop.

    Examples
    --------
    Usually returned by :func:`simulate_particles`; built by hand here: four equally
    spaced tokens on the circle at t = 0, three of them merged at t = 1.

    >>> import numpy as np
    >>> from meanfield.particles.simulate import ParticleSolution
    >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
    >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
    ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
    >>> ps.n, ps.dim, ps.x.shape, ps.radius is None
    (4, 2, (2, 4, 2), True)
    """

    t: np.ndarray
    x: np.ndarray | None
    params: dict
    n_steps: int = 0
    wall_time: float = 0.0
    radius: np.ndarray | None = field(default=None)
    observables: dict = field(default_factory=dict)

    @property
    def replicas(self) -> int | None:
        """Number of systems of an ensemble (None: one system, no replica axis).

        Examples
        --------
        >>> import meanfield as mf
        >>> ps = mf.simulate_particles(beta=1.0, n=4, replicas=3, t_final=0.1, dt=0.05)
        >>> ps.replicas, ps.x.shape
        (3, (2, 3, 4, 2))
        """
        return self.params.get("replicas")

    def _states(self) -> np.ndarray:
        if self.x is None:
            raise ValueError("this run kept only its observables (keep='observables'); "
                             f"stored: {sorted(self.observables)}")
        return self.x

    def ensemble(self, name: str, **kwargs):
        """Ensemble mean and standard error of an observable at each save time.

        Uses the values stored with ``observables=`` when the run kept them (the keywords
        must then match), else computes them from ``x``. Names and keywords: see
        :data:`meanfield.particles.ensemble.OBSERVABLES`.

        Returns
        -------
        EnsembleEstimate
            ``.mean``, ``.sem``, ``.std`` of shape (m,), ``.replicas``.

        Examples
        --------
        >>> import meanfield as mf
        >>> ps = mf.simulate_particles(beta=1.0, n=6, replicas=50, t_final=1.0, dt=0.05,
        ...                            seed=1)
        >>> est = ps.ensemble("order_parameter")
        >>> est.mean.shape, est.replicas, bool(est.mean[-1] > est.mean[0])
        ((2,), 50, True)
        """
        from .ensemble import ensemble_estimate

        if self.replicas is None:
            raise ValueError("ensemble() needs an ensemble: simulate with replicas=R")
        fn, kw = resolve_observables({name: kwargs})[name]
        if name in self.observables and (not kwargs or kwargs == self.params.get(
                "observables", {}).get(name)):
            return ensemble_estimate(self.observables[name], name)
        if self.x is None:
            stored = self.params.get("observables", {}).get(name)
            raise ValueError(f"observable {name!r} with {kwargs} was not kept by this run "
                             f"(kept: {self.params.get('observables')}, stored {stored})")
        return ensemble_estimate(fn(self.x, **kw), name)

    def replica(self, r: int) -> ParticleSolution:
        """Replica r of an ensemble as a one-system solution (same params, replicas=None).

        Examples
        --------
        >>> import meanfield as mf
        >>> ps = mf.simulate_particles(beta=1.0, n=4, replicas=3, t_final=0.1, dt=0.05)
        >>> ps.replica(2).x.shape, ps.replica(2).replicas
        ((2, 4, 2), None)
        """
        R = self.replicas
        if R is None:
            raise ValueError("replica() needs an ensemble: simulate with replicas=R")
        if isinstance(r, bool) or not isinstance(r, int | np.integer) or not -R <= r < R:
            raise ValueError(f"replica index must be an integer in [0, {R}), got {r!r}")
        params = dict(self.params, replicas=None, replica=int(r) % R)
        return ParticleSolution(
            t=self.t, x=None if self.x is None else self.x[:, r], params=params,
            n_steps=self.n_steps, wall_time=self.wall_time,
            radius=None if self.radius is None else self.radius[:, r],
            observables={k: v[:, r] for k, v in self.observables.items()})

    @property
    def n(self) -> int:
        """Number of tokens.

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> ps.n
        4
        """
        return self.params["n"] if self.x is None else self.x.shape[-2]

    @property
    def dim(self) -> int:
        """Ambient dimension d of the tokens (on S^{d-1}).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> ps.dim
        2
        """
        return self.params["dim"] if self.x is None else self.x.shape[-1]

    def order_parameter(self) -> np.ndarray:
        """|m(t)| = |(1/n) sum_j x_j(t)|, shape (m,).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> np.round(ps.order_parameter(), 12) + 0  # m = 0, then (3 - 1) / 4
        array([0. , 0.5])
        """
        return obs.order_parameter(self._states())

    def mean_inner_product(self) -> np.ndarray:
        """Mean pairwise inner product over i != j at each save time, shape (m,).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> np.round(ps.mean_inner_product(), 12) + 0  # (|sum_j x_j|^2 - n) / (n (n - 1))
        array([-0.33333333,  0.        ])
        """
        return obs.mean_inner_product(self._states())

    def moments(self, k) -> np.ndarray:
        """Circle Fourier moments (1/n) sum_j e^{ik theta_j}, shape (m,) or (m, len(k)).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> np.round(ps.moments([1, 2]).real, 12) + 0
        array([[0. , 0. ],
               [0.5, 1. ]])
        >>> ps.moments(1).shape
        (2,)
        """
        return obs.fourier_moments(self._states(), k)

    def angles(self) -> np.ndarray:
        """Angles (m, n) in [0, 2 pi) (circle).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> bool(np.allclose(ps.angles(), theta))
        True
        """
        return obs.angles(self._states())

    def energy(self, method: str = "auto") -> np.ndarray:
        """E_beta at each save time (identity Q, K only).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> E = ps.energy()  # (1 / (2 beta n^2)) sum_ij e^{beta <x_i, x_j>}, beta = 1
        >>> exact = np.array([4 * np.e + 8 + 4 / np.e, 10 * np.e + 6 / np.e]) / 32
        >>> bool(np.allclose(E, exact))
        True
        """
        if self.params.get("Q") is not None or self.params.get("K") is not None:
            raise ValueError("energy() is defined for identity Q and K")
        return obs.energy(self._states(), self.params["beta"], method)

    def clusters(self, index: int = -1, tol: float = 1e-2,
                 replica: int | None = None) -> obs.Clusters:
        """Clusters of the configuration at save index ``index`` (see observables.clusters);
        ensembles name the ``replica``.

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> c = ps.clusters()  # at the last save time
        >>> c.count, c.sizes.tolist(), c.labels.tolist()
        (2, [3, 1], [0, 0, 0, 1])
        >>> ps.clusters(0).count
        4
        """
        x = self._states()[index]
        if self.replicas is not None:
            if replica is None:
                raise ValueError("an ensemble's clusters need replica=r (or use "
                                 "ps.ensemble('cluster_count'))")
            x = x[replica]
        return obs.clusters(x, tol)

    def save(self, path) -> None:
        """Write t, x (and radius) to an .npz file atomically; params as a JSON string.

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.particles.simulate import ParticleSolution
        >>> theta = np.array([[0, 0.5, 1, 1.5], [0, 0, 0, 1]]) * np.pi  # 4 tokens, 2 times
        >>> ps = ParticleSolution(t=np.array([0.0, 1.0]), params={"beta": 1.0},
        ...                       x=np.stack([np.cos(theta), np.sin(theta)], axis=-1))
        >>> import json, os, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     ps.save(os.path.join(tmp, "run.npz"))
        ...     with np.load(os.path.join(tmp, "run.npz")) as data:
        ...         print(sorted(data.files), np.array_equal(data["x"], ps.x),
        ...               json.loads(str(data["params"])))
        ['params', 't', 'x'] True {'beta': 1.0}
        """
        import json

        from ..io import _jsonable, save_npz

        arrays = dict(t=self.t, params=np.array(json.dumps(_jsonable(self.params))))
        if self.x is not None:
            arrays["x"] = self.x
        arrays.update({f"observable_{k}": v for k, v in self.observables.items()})
        if self.radius is not None:
            arrays["radius"] = self.radius
        save_npz(path, **arrays)


# ---------------------------------------------------------------------------------------
# parameter resolution
# ---------------------------------------------------------------------------------------
def _from_model(model, beta, kappa, dynamics, dim):
    from ..kernels import AttentionKernel, KuramotoKernel
    from ..model import MeanFieldModel

    if model is None:
        if beta is None:
            raise ValueError("give a MeanFieldModel or the inverse temperature beta")
        return (check_real(beta, "beta"), np.inf if kappa is None else check_real(kappa, "kappa"),
                "usa" if dynamics is None else dynamics, dim)
    if not isinstance(model, MeanFieldModel):
        raise TypeError(f"model must be a MeanFieldModel, got {type(model).__name__}")
    if isinstance(model.kernel, AttentionKernel):
        mbeta = float(model.kernel.beta)
    elif isinstance(model.kernel, KuramotoKernel):
        mbeta = 0.0
    else:
        raise ValueError("particle simulations need the attention kernel e^{beta <x,y>} "
                         f"(AttentionKernel or KuramotoKernel), got {model.kernel!r}")
    given = dict(beta=(beta, mbeta), kappa=(kappa, model.kappa),
                 dynamics=(dynamics, model.dynamics), dim=(dim, model.dim))
    for name, (mine, theirs) in given.items():
        if mine is not None and mine != theirs:
            raise ValueError(f"{name}={mine!r} contradicts the model's {name}={theirs!r}; "
                             "give it once")
    return mbeta, model.kappa, model.dynamics, model.dim


def _layer_of(model):
    """The layer a model holds (None for kernel models and no model)."""
    from ..interactions.layers import Layer

    kernel = getattr(model, "kernel", None)
    return kernel if isinstance(kernel, Layer) else None


def _agree(mine, theirs, name: str):
    if mine is not None and mine != theirs:
        raise ValueError(f"{name}={mine!r} contradicts the model's {name}={theirs!r}; give it "
                         "once")
    return theirs


def _simulate_layer(model, n, *, keep, observables, method, integrator, Q, K, V, causal,
                    normalization, adaptive, **kwargs):
    """Layer models beyond one head: the numpy path of :mod:`meanfield.particles.layers`."""
    from .layers import simulate_layer

    extra = dict(keep=keep != "trajectories", observables=observables is not None,
                 method=method not in ("auto", "numpy"), integrator=integrator is not None,
                 Q=Q is not None, K=K is not None, V=V is not None, causal=bool(causal),
                 normalization=normalization is not None, adaptive=bool(adaptive))
    bad = [k for k, v in extra.items() if v]
    if bad:
        raise ValueError(f"a model with several heads or a perceptron / potential runs the "
                         f"numpy layer path (Euler–Maruyama, all tokens kept), which does not "
                         f"take {', '.join(bad)}")
    return simulate_layer(model, n, **kwargs)


def _matrix(M, name: str, shape0, dim: int, replicas: int | None = None) -> np.ndarray | None:
    """A checked weight matrix (k, dim), or (replicas, k, dim) with a leading replica axis."""
    if M is None:
        return None
    M = np.asarray(M, dtype=np.float64)
    want = f"({shape0 if shape0 is not None else 'k'}, {dim})"
    if M.ndim == 3:
        if replicas is None:
            raise ValueError(f"{name} has a leading replica axis (shape {M.shape}) but "
                             "replicas=None; pass replicas=R to simulate an ensemble")
        if M.shape[0] != replicas:
            raise ValueError(f"{name} has {M.shape[0]} matrices along its replica axis but "
                             f"replicas={replicas}")
        want = f"({replicas}, " + want[1:]
    if M.ndim not in (2, 3) or M.shape[-1] != dim or (shape0 is not None
                                                       and M.shape[-2] != shape0):
        raise ValueError(f"{name} must have shape {want} for tokens of dim={dim}, got {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{name} contains NaN or inf")
    return M


def _matrices(Q, K, V, dim: int, replicas: int | None = None):
    """Checked Q, K, V (None = identity); one of Q, K given makes the other the identity.

    Each may be (k, dim) (shared) or (replicas, k, dim) (one per replica)."""
    Qm = _matrix(Q, "Q", None, dim, replicas)
    Km = _matrix(K, "K", None if Qm is None else Qm.shape[-2], dim, replicas)
    if Qm is not None and Km is None:
        Km = _matrix(np.eye(dim), "K", Qm.shape[-2], dim)
    if Km is not None and Qm is None:
        Qm = _matrix(np.eye(dim), "Q", Km.shape[-2], dim)
    return Qm, Km, _matrix(V, "V", dim, dim, replicas)


def _max_norm(M) -> float:
    """Largest spectral norm over a matrix (k, d) or a stack (R, k, d)."""
    return float(np.max(np.linalg.norm(M, 2, axis=(-2, -1))))


def _initial(n, dim, rng, x0, init, normalize_x0, concentration, mean, gamma0, density):
    if x0 is not None:
        return check_tokens(x0, n, dim, normalize=normalize_x0)
    if n is None:
        raise ValueError("give the number of tokens n (or an initial array x0)")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS} (or pass x0), got {init!r}")
    if init == "uniform":
        return sample_uniform(n, dim, rng)
    if init == "vonmises":
        if concentration is None:
            raise ValueError("init='vonmises' needs concentration=...")
        return sample_von_mises(n, dim, concentration, rng, mean=mean)
    if init == "equiangular":
        return sample_equiangular(n, dim, 0.0 if gamma0 is None else gamma0, rng)
    if dim != 2:
        raise ValueError("init='density' samples a circle density (dim=2)")
    if density is None:
        raise ValueError("init='density' needs density=grid values on a CircleBasis grid")
    return sample_circle_density(density, n, rng)


def _check_times(t_final, dt, t_eval):
    t_final = check_real(t_final, "t_final")
    dt = check_real(dt, "dt")
    if not (np.isfinite(t_final) and t_final >= 0):
        raise ValueError(f"t_final must be finite and >= 0, got {t_final}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    if t_eval is None:
        t_eval = np.array([0.0, t_final]) if t_final > 0 else np.array([0.0])
    t_eval = np.atleast_1d(np.asarray(t_eval, dtype=np.float64))
    if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
        raise ValueError("t_eval must be a nonempty 1-d array of finite times")
    if np.any(np.diff(t_eval) < 0) or t_eval[0] < 0 or t_eval[-1] > t_final * (1 + 1e-12):
        raise ValueError(f"t_eval must be nondecreasing within [0, t_final={t_final}]")
    return t_final, dt, t_eval


def _unit_rows(y: np.ndarray) -> np.ndarray:
    """Rows (last axis) divided by their norms; any leading axes."""
    return y / np.sqrt(_rowdot(y, y))[..., None]


def replica_seeds(seed, replicas: int) -> list:
    """The random streams of an ensemble's replicas, one per replica.

    ``seed`` (an int, None or a ``numpy.random.SeedSequence``) gives
    ``SeedSequence(seed).spawn(replicas)``; a ``numpy.random.Generator`` gives
    ``seed.spawn(replicas)``; a list of ``replicas`` seeds is used as given (one stream per
    replica). Replica r of ``simulate_particles(..., seed=s, replicas=R)``
    is, bit for bit, the ensemble of one ``simulate_particles(..., replicas=1,
    seed=[replica_seeds(s, R)[r]])`` (tested; the plain single run too, except where the
    ensemble's lane kernel runs, see ``simulate_particles``). Spawning advances a
    SeedSequence or Generator that is passed in: pass an int for the same streams every
    time.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.particles.simulate import replica_seeds
    >>> s = replica_seeds(7, 3)
    >>> len(s), s[1].spawn_key
    (3, (1,))
    >>> a = np.random.default_rng(replica_seeds(7, 3)[1]).standard_normal()
    >>> bool(a == np.random.default_rng(s[1]).standard_normal())
    True
    """
    replicas = check_replicas(replicas)
    if isinstance(seed, list | tuple):
        if len(seed) != replicas:
            raise ValueError(f"seed holds {len(seed)} per-replica seeds but replicas={replicas}")
        return list(seed)
    if isinstance(seed, np.random.Generator):
        return seed.spawn(int(replicas))
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(int(replicas))


class _NoiseStream:
    """Standard normal increments (R, n, d) for successive steps, replica r drawn from its own
    generator. Draws come in blocks of steps (at most ~16 MB): numpy generators fill arrays
    in order, so a block consumes each stream exactly as step-by-step draws would."""

    def __init__(self, rngs, shape, dtype):
        self.rngs, self.shape, self.dtype = rngs, tuple(shape), np.dtype(dtype)
        per_step = len(rngs) * int(np.prod(shape)) * self.dtype.itemsize
        self.block = max(1, (1 << 24) // max(per_step, 1))
        self.buf = None
        self.pos = self.block

    def next(self) -> np.ndarray:
        if self.pos == self.block:
            self.buf = np.empty((len(self.rngs), self.block) + self.shape, dtype=self.dtype)
            for r, g in enumerate(self.rngs):
                g.standard_normal((self.block,) + self.shape, dtype=self.dtype, out=self.buf[r])
            self.pos = 0
        self.pos += 1
        return self.buf[:, self.pos - 1]


def _initial_batch(R, rngs, n, dim, x0, init, normalize_x0, concentration, mean, gamma0,
                   density) -> np.ndarray:
    """Initial tokens (R, n, dim): x0 shared (n, dim) or per replica (R, n, dim), else
    sampled per replica from its own stream."""
    if x0 is not None and np.ndim(x0) == 3:
        x0 = real_grid_values(x0, "x0", "token coordinates")
        if R is None or x0.shape[0] != R:
            raise ValueError(f"x0 of shape {x0.shape} has a replica axis of {x0.shape[0]}; "
                             f"it needs replicas={x0.shape[0]}")
        flat = check_tokens(x0.reshape(-1, x0.shape[-1]), None, dim, normalize=normalize_x0)
        x = flat.reshape(x0.shape)
        if n is not None and x.shape[1] != n:
            raise ValueError(f"x0 has {x.shape[1]} tokens per replica but n={n}")
        return x
    if x0 is not None:
        one = check_tokens(x0, n, dim, normalize=normalize_x0)
        return np.broadcast_to(one, (len(rngs),) + one.shape).copy()
    return np.stack([_initial(n, dim, g, None, init, normalize_x0, concentration, mean,
                              gamma0, density) for g in rngs])


def _check_memory(m, R, n, dim, dtype, keep):
    """Refuse, before allocating, a run whose stored trajectories or state cannot fit."""
    from .interactions import _available_memory

    item = np.dtype(dtype).itemsize
    traj = m * R * n * dim * item if keep == "trajectories" else 0
    state = 12 * R * n * dim * 8 + (1 << 24)  # RK4 stages, kernel outputs, a noise block
    avail = _available_memory()
    limit = MAX_RUN_BYTES if avail is None else min(MAX_RUN_BYTES, 0.8 * avail)
    if traj + state > limit:
        hint = ("keep='observables' stores only the observables at t_eval, "
                f"{m * R * 8 / 2**20:.3g} MiB per observable, or fewer save times"
                if keep == "trajectories" and traj > state else
                "fewer tokens (the mean-field PDE, meanfield.evolve, is the n -> inf limit), "
                "a smaller dim, or fewer replicas per call (e.g. a sweep over seeds)")
        where = ("meanfield.particles.simulate.MAX_RUN_BYTES" if limit == MAX_RUN_BYTES
                 else "80% of the available memory")
        raise MemoryError(
            f"this run needs ~{(traj + state) / 2**30:.3g} GiB ({traj / 2**30:.3g} GiB of "
            f"trajectories: {m} save times x {R} replicas x {n} tokens x {dim} coordinates; "
            f"{state / 2**30:.3g} GiB of working state), beyond the limit of "
            f"{limit / 2**30:.3g} GiB ({where}); {hint}")


def _stability(dt, beta, dynamics, coupling, Qm, Km, Vm, noisy, kappa, dim, check):
    """The documented step limits; refused (or, with check=False, warned about)."""
    import warnings

    a = 1.0 if Qm is None else _max_norm(np.swapaxes(Qm, -1, -2) @ Km)
    vn = 1.0 if Vm is None else _max_norm(Vm)
    vmax = vn * (np.exp(min(abs(beta) * a, 700.0)) if dynamics == "usa" else 1.0)
    lip = abs(coupling) * vmax * (1.0 + abs(beta) * a)
    problems = []
    if dt * lip > STABILITY_LIMIT:
        problems.append(
            f"dt={dt:g} is too large for stability: dt * L = {dt * lip:.3g} > {STABILITY_LIMIT} "
            f"with L = coupling * vmax * (1 + |beta| a) = {lip:.4g} (vmax = {vmax:.4g}, "
            f"a = ||Q^T K|| = {a:.4g}); use dt <= {STABILITY_LIMIT / lip:.3g}")
    if noisy and dt * (dim - 1) / kappa > STABILITY_LIMIT:
        problems.append(
            f"dt={dt:g} is too large for the noise: dt (d-1)/kappa = {dt * (dim - 1) / kappa:.3g}"
            f" > {STABILITY_LIMIT}; use dt <= {STABILITY_LIMIT * kappa / (dim - 1):.3g}")
    for msg in problems:
        if check:
            raise ValueError(msg + " (or check_stability=False to run a published coarse "
                             "step knowingly)")
        warnings.warn(msg + "; running anyway (check_stability=False)", RuntimeWarning,
                      stacklevel=3)
    return lip


def _nonfinite(x, t, n_steps, beta, dt, R):
    bad = ~np.all(np.isfinite(x), axis=(-2, -1))
    where = (f" in {int(bad.sum())} of {R} replicas (first: replica {int(np.argmax(bad))})"
             if R is not None else "")
    raise FloatingPointError(
        f"particle simulation blew up at t={t:.6g} (step {n_steps}): non-finite token "
        f"coordinates{where} (beta={beta}, dt={dt}); reduce dt")


# ---------------------------------------------------------------------------------------
# the simulator
# ---------------------------------------------------------------------------------------
def simulate_particles(model=None, n: int | None = None, *, x0=None, init: str = "uniform",
                       t_final: float, dt: float, t_eval=None, seed=None,
                       beta: float | None = None, kappa: float | None = None,
                       dynamics: str | None = None, dim: int | None = None,
                       method: str = "auto", accuracy: float = 1e-10,
                       integrator: str | None = None, Q=None, K=None, V=None,
                       causal: bool = False, normalization=None,
                       coupling: float = 1.0, concentration: float | None = None, mean=None,
                       gamma0: float | None = None, density=None, normalize_x0: bool = False,
                       dtype=np.float64, progress: bool = False, adaptive: bool = False,
                       rtol: float = 1e-6, replicas: int | None = None,
                       keep: str = "trajectories", observables=None,
                       check_stability: bool = True, weights=None) -> ParticleSolution:
    """Simulate n tokens of the (noisy) self-attention dynamics on S^{dim-1}.

    Parameters
    ----------
    model : MeanFieldModel, optional
        Supplies beta (AttentionKernel / KuramotoKernel: beta = 0), kappa, dynamics, dim.
        Without a model give ``beta`` (and optionally kappa = inf, dynamics = "usa",
        dim = 2 or x0's width).
    n : int
        Number of tokens (default: x0's rows). A run whose estimated memory (trajectories
        and working state) exceeds ``MAX_RUN_BYTES`` or 80% of the available memory raises
        MemoryError before allocating.
    x0 : array (n, dim) or (replicas, n, dim), optional
        Initial tokens (shared by all replicas, or one configuration per replica); rows must
        be unit vectors (``normalize_x0=True`` projects them).
    init : {"uniform", "vonmises", "equiangular", "density"}
        Initial law when x0 is None: uniform on the sphere; von Mises–Fisher of
        ``concentration`` around ``mean`` (unit vector or circle angle, default e_1);
        equiangular with pairwise inner product ``gamma0`` (default 0; needs dim >= n(+1));
        ``density``: grid values (w.r.t. sigma) on a CircleBasis grid, sampled by inverse CDF.
    t_final, dt : float
        Final time and the fixed step (see the stability limit in the module docstring).
    t_eval : array, optional
        Save times in [0, t_final] (default [0, t_final]); only these states are stored.
    seed : int, numpy SeedSequence or Generator, optional
        Seeds initial sampling and noise: runs are reproducible. With ``replicas`` each
        replica has its own stream, ``replica_seeds(seed, replicas)[r]``; a list of
        ``replicas`` seeds gives the streams directly.
    method : {"auto", "direct", "spectral", "numpy"}
        Interaction sums: fused numba O(n^2) kernel; spectral summation (circle or S^2,
        i.e. dim 2 or 3, identity Q, K, V, not causal, post-ln; error <= ``accuracy``
        relative, see meanfield.particles.spectral and .spectral_s2); plain numpy (forms
        the n x n matrix, a reference); "auto": spectral for n >= AUTO_SPECTRAL_N (circle)
        or n >= AUTO_SPECTRAL_N_S2 (S^2) when allowed, else direct.
    integrator : {"em", "rk4", "euler"}, optional
        Default "em" for kappa < inf, "rk4" for kappa = inf.
    Q, K, V : arrays, optional
        Query (k, dim), key (k, dim) and value (dim, dim) matrices (identity by default);
        with ``replicas`` each may carry a leading replica axis, (replicas, k, dim), one
        matrix per system (see :func:`meanfield.particles.random_attention_weights`).
    causal : bool
        Token i attends to j <= i only.
    normalization : {"post-ln", "pre-ln", "peri-ln", "ngpt", "mix-ln"} or NormalizationScheme
        Speed factors of Karagodin et al. (default post-ln, s_i = 1); parametrized schemes
        as instances, e.g. ``NGPT(alpha=0.5)``, ``MixLN(t_switch=2)`` (see
        :mod:`meanfield.particles.normalization`). Schemes off the sphere (pre-ln, peri-ln,
        mix-ln) need kappa = inf; spectral summation is post-ln only.
    coupling : float
        Multiplies the interaction velocity (0: free Brownian motion on the sphere).
    dtype : np.float64 or np.float32
        State precision (interaction sums accumulate in float64 either way).
    progress : bool
        Show a progress bar on stderr.
    adaptive : bool
        Noiseless RK4 only: adapt the step by step doubling (``dt`` is then the first and
        the largest step); see the module docstring. ``rtol``: the accepted local error per
        step (relative to |y_i|); the global error then scales like rtol^{4/5} (tested).
        ``params["n_rejected"]`` counts rejected trial steps. An ensemble shares one step
        size (the largest error over its replicas decides), so each replica is at least as
        accurate as alone, but equals its single run to the tolerance, not bit for bit.
    replicas : int, optional
        Number of independent systems simulated together (default None: one system).
        ``x`` then has shape (m, replicas, n, dim); replica r equals, bit for bit, the run
        with ``replicas=1, seed=[replica_seeds(seed, replicas)[r]]`` (and that replica's Q,
        K, V, x0), and the plain single run (``replicas=None``) with that seed bit for bit too,
        except where the ensemble runs the lane kernel (``params["kernel"] == "lanes"``:
        small systems, identity Q and K), which a single run does not use: there to rounding.
        Every option applies; the direct kernel runs all replicas in one parallel loop.
    keep : {"trajectories", "observables"}
        Store the tokens at ``t_eval`` (default), or only the ``observables`` there
        (``x`` is then None: 10^4 replicas of 32 tokens need a few MB per observable).
    observables : sequence of names or dict name -> keyword arguments, optional
        Observables computed at every save time, per replica, stored in
        ``ps.observables[name]`` (shape (m,) or (m, replicas)); names from
        :data:`meanfield.particles.ensemble.OBSERVABLES` ("order_parameter",
        "mean_inner_product", "pair_fraction", "cluster_count"), e.g.
        ``{"pair_fraction": {"threshold": 0.999}}``. ``ps.ensemble(name)`` gives the
        ensemble mean with its standard error.
    check_stability : bool
        Refuse steps beyond the stability limit (default). False runs them with a
        RuntimeWarning that names the bound (to reproduce a published coarse-step run).
    weights : array (n, n), optional
        Positional weights W >= 0 in place of USA's 1/n: v_i = sum_j W_ij e^{beta <Q x_i,
        K x_j>} V x_j (USA), and the same W inside the softmax (SA, log W as score biases;
        rows need a positive sum); lower-triangular W is causal, ``causal=True`` masks W to
        j <= i. Dense O(n^2) numba kernel (:mod:`meanfield.particles.weighted`, n up to
        ``WEIGHTED_MAX_N``); every integrator, noise, replicas and normalization apply; not
        with method="spectral" or multi-head layers. ALiBi: ``causal.alibi_weights``.

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(1.0), dim=3)
    >>> ps = mf.simulate_particles(model, n=100, t_final=1.0, dt=0.01, seed=0, t_eval=[0, 1])
    >>> ps.x.shape
    (2, 100, 3)

    An ensemble of 64 systems of 8 tokens, keeping only the fraction of clustered pairs:

    >>> ps = mf.simulate_particles(beta=1.0, n=8, dim=2, dynamics="sa", replicas=64,
    ...                            t_final=10.0, dt=0.05, integrator="euler", seed=0,
    ...                            t_eval=[0, 10], keep="observables",
    ...                            observables={"pair_fraction": {"threshold": 0.999}})
    >>> ps.x is None, ps.observables["pair_fraction"].shape
    (True, (2, 64))
    >>> est = ps.ensemble("pair_fraction", threshold=0.999)
    >>> est.mean.shape, bool(est.mean[0] < 0.05), bool(est.mean[1] > 0.5)
    ((2,), True, True)
    """
    t_wall0 = time.perf_counter()
    R = check_replicas(replicas, allow_none=True)
    nrep = 1 if R is None else R
    if keep not in KEEPS:
        raise ValueError(f"keep must be one of {KEEPS}, got {keep!r}")
    obs_spec = resolve_observables(observables)
    if keep == "observables" and not obs_spec:
        raise ValueError("keep='observables' stores only the observables: name some, e.g. "
                         "observables={'pair_fraction': {'threshold': 0.999}}")
    layer = _layer_of(model)
    if layer is not None:  # a model with weights: one head -> Q, K, V; else the layer path
        from ..interactions.layers import AttentionLayer

        if not isinstance(layer, AttentionLayer):
            if weights is not None:
                raise ValueError("weights= is for one attention head (kernel models and an "
                                 "AttentionLayer), not for several heads or a perceptron")
            return _simulate_layer(model, n, x0=x0, init=init, concentration=concentration,
                                   mean=mean, t_final=t_final, dt=dt, t_eval=t_eval,
                                   seed=seed, replicas=replicas, keep=keep,
                                   observables=observables, method=method,
                                   integrator=integrator, Q=Q, K=K, V=V, causal=causal,
                                   normalization=normalization, adaptive=adaptive)
        if any(M is not None for M in (Q, K, V)) or beta is not None:
            raise ValueError("the model's AttentionLayer sets beta, Q, K and V; do not pass "
                             "them again")
        beta, Q, K, V = layer.beta, layer.Q, layer.K, layer.V
        kappa, dynamics, dim = (_agree(mine, theirs, name) for mine, theirs, name in (
            (kappa, model.kappa, "kappa"), (dynamics, model.dynamics, "dynamics"),
            (dim, model.dim, "dim")))
        model = None
    beta, kappa, dynamics, dim = _from_model(model, beta, kappa, dynamics, dim)
    if not np.isfinite(beta):
        raise ValueError(f"beta must be finite, got {beta}")
    kappa = float(kappa)
    if np.isnan(kappa) or kappa <= 0:
        raise ValueError(f"kappa must be > 0 (inf = no noise), got {kappa}")
    if dynamics not in ("usa", "sa"):
        raise ValueError(f"dynamics must be 'usa' or 'sa', got {dynamics!r}")
    if dim is None:
        dim = np.shape(x0)[-1] if x0 is not None and np.ndim(x0) in (2, 3) else 2
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    dim = int(dim)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    scheme = normalization_scheme(normalization)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    coupling = check_real(coupling, "coupling")
    if not np.isfinite(coupling):
        raise ValueError(f"coupling must be finite, got {coupling}")
    Qm, Km, Vm = _matrices(Q, K, V, dim, R)
    noisy = np.isfinite(kappa)
    if integrator is None:
        integrator = "em" if noisy else "rk4"
    if integrator not in ("em", "rk4", "euler"):
        raise ValueError(f"integrator must be 'em', 'rk4' or 'euler', got {integrator!r}")
    if noisy and integrator != "em":
        raise ValueError(f"integrator={integrator!r} is for noiseless runs (kappa = inf); "
                         "noisy runs use 'em' (Euler–Maruyama with retraction)")
    adaptive = bool(adaptive)
    if adaptive:
        if noisy or integrator != "rk4":
            raise ValueError("adaptive=True is for noiseless runs (kappa = inf) with the RK4 "
                             f"integrator; got kappa={kappa}, integrator={integrator!r}")
        rtol = float(rtol)
        if not (np.isfinite(rtol) and rtol > 0):
            raise ValueError(f"rtol must be finite and > 0, got {rtol}")
        if rtol < 100 * np.finfo(np.dtype(dtype)).eps:
            raise ValueError(f"rtol={rtol:g} is below 100 x the {np.dtype(dtype).name} "
                             "machine epsilon; the step-doubling estimate cannot reach it")
    if noisy and not scheme.on_sphere:
        raise ValueError(f"normalization={scheme.name!r} moves the residual stream off the "
                         "sphere and is implemented for noiseless runs (kappa = inf) only; "
                         "noisy runs take 'post-ln' or 'ngpt'")
    t_final, dt, t_eval = _check_times(t_final, dt, t_eval)
    n_tok = np.shape(x0)[-2] if x0 is not None and np.ndim(x0) in (2, 3) else n
    W = None if weights is None else check_weights(weights, n_tok, softmax=dynamics == "sa",
                                                   causal=causal)
    wscale = 1.0 if W is None or dynamics == "sa" else weights_scale(W)  # USA speed ~ row sum
    lip = _stability(dt, beta, dynamics, coupling * wscale, Qm, Km, Vm, noisy, kappa, dim,
                     bool(check_stability))

    # interaction method
    identity = Qm is None and Vm is None
    spectral_ok = (dim in (2, 3) and identity and not causal and scheme.name == "post-ln"
                   and W is None)
    if method == "spectral" and not spectral_ok:
        raise ValueError("method='spectral' needs the circle or S^2 (dim=2 or 3), identity "
                         "Q, K, V, causal=False, no weights and post-ln normalization; use "
                         "method='direct'")
    if method == "auto":
        n_auto = AUTO_SPECTRAL_N if dim == 2 else AUTO_SPECTRAL_N_S2
        method = ("spectral" if spectral_ok and n_tok is not None and n_tok >= n_auto
                  else "direct")
    if method == "direct" and n_tok is not None and n_tok > DIRECT_MAX_N:
        raise ValueError(
            f"n = {n_tok} is too large for the direct O(n^2) kernel (limit {DIRECT_MAX_N}); "
            + ("use method='spectral'" if spectral_ok else
               "on the circle or S^2 with identity Q, K, V use method='spectral'; else fewer "
               "tokens"))
    if isinstance(n_tok, int | np.integer) and n_tok >= 1:
        _check_memory(t_eval.size, nrep, int(n_tok), dim, dtype, keep)

    rngs = ([seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)]
            if R is None else [np.random.default_rng(s) for s in replica_seeds(seed, R)])
    x = _initial_batch(R, rngs, n, dim, x0, init, normalize_x0, concentration, mean, gamma0,
                       density).astype(dtype)
    n = x.shape[1]
    # noiseless tokens with identity Q, K, V move in the span of the initial tokens: with
    # n < d, evolve their coordinates in an orthonormal basis of that span (exact, d/n x
    # less work per pair; see _span_basis)
    span = (_span_basis(x) if method == "direct" and identity and not noisy and 2 <= n < dim
            else None)
    if span is not None:
        x = np.matmul(x, span.astype(dtype))
    softmax = dynamics == "sa"
    # one decision, made once: which kernel evaluates the interaction (the lane kernel only
    # for ensembles: it is built for many systems)
    kernel = ("weighted" if W is not None else method if method != "direct" else
              batched_kernel(n, x.shape[2], beta, causal=causal, Q=Qm, K=Km, V=Vm,
                             lanes=R is not None))
    sums = _interaction_sums(method, beta, softmax, causal, Qm, Km, Vm, kernel == "lanes", W)
    if scheme.unit_output and coupling != 0.0:
        # these schemes move at speed ~ 1/|A_i|: the field's Lipschitz constant is that of
        # A divided by min |A_i| (checked at the initial state)
        a0 = sums(x.astype(np.float64))
        amin = float(np.min(np.linalg.norm(a0, axis=-1)))
        gain = scheme.rate * lip / abs(coupling) / max(amin, 1e-300)
        if dt * gain > STABILITY_LIMIT:
            raise ValueError(
                f"dt={dt:g} is too large for normalization={scheme.name!r}: its speed is "
                f"~ 1/|A_i| and min |A_i| = {amin:.3g} at t = 0, so dt * L / min|A| = "
                f"{dt * gain:.3g} > {STABILITY_LIMIT}; use dt <= {STABILITY_LIMIT / gain:.3g}")
    coeffs = None
    if method == "spectral":
        coeffs = (circle_coefficients(beta, accuracy) if dim == 2
                  else sphere_coefficients(beta, accuracy))

    def fieldfn(y: np.ndarray, t: float) -> np.ndarray:
        if coupling == 0.0:
            return np.zeros_like(y)
        if method == "spectral":  # normalizes the rows inside
            if dim == 2:
                v = [circle_velocity(yr, beta, softmax, accuracy, coeffs, scale=coupling)
                     for yr in y]
            else:
                v = [sphere_velocity(yr, beta, dynamics, accuracy, coeffs, scale=coupling)
                     for yr in y]
            return np.stack(v).astype(y.dtype, copy=False)
        xh = _unit_rows(y)
        v = scheme.velocity(y, xh, coupling * sums(xh).astype(np.float64, copy=False), t)
        return v.astype(y.dtype, copy=False)

    sig = np.sqrt(2.0 / kappa) if noisy else 0.0
    noise = _NoiseStream(rngs, (n, dim), dtype) if noisy else None
    fused = (kernel in ("lanes", "tiles") and integrator in ("em", "euler")
             and coupling != 0.0 and scheme.name == "post-ln")

    def step(y: np.ndarray, h: float, t: float) -> np.ndarray:
        # the scheme is frozen at the step's start (steps stop at its breakpoints)
        xi = None if noise is None else (np.sqrt(h) * sig) * noise.next()
        if fused:  # one kernel: sums, tangent projection, Euler(-Maruyama) step, retraction
            return attention_euler_step(y, beta, h * coupling, softmax=softmax, causal=causal,
                                        Q=Qm, K=Km, V=Vm, noise=xi,
                                        lanes=kernel == "lanes", unit=True)
        if integrator == "em":
            y = y + h * fieldfn(y, t) + xi
        elif integrator == "euler":
            y = y + h * fieldfn(y, t)
        else:
            k1 = fieldfn(y, t)
            k2 = fieldfn(y + (0.5 * h) * k1, t)
            k3 = fieldfn(y + (0.5 * h) * k2, t)
            k4 = fieldfn(y + h * k3, t)
            y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return _unit_rows(y) if scheme.on_sphere_at(t) else y

    m = t_eval.size
    xs = np.empty((m, nrep, n, dim), dtype=dtype) if keep == "trajectories" else None
    radii = None if scheme.on_sphere else np.empty((m, nrep, n), dtype=dtype)
    values = {name: np.empty((m, nrep)) for name in obs_spec}
    bar = None
    if progress:
        from ..progress import ProgressBar
        bar = ProgressBar(0.0, t_final)
    t = 0.0
    n_steps = 0
    n_rejected = 0
    eps = 1e-12 * max(1.0, t_final)
    h_cur = dt
    stops = sorted([(float(ts), i) for i, ts in enumerate(t_eval)]
                   + [(float(b), None) for b in scheme.breakpoints(t_final)],
                   key=lambda stop: stop[0])
    # small systems: the whole loop on one thread (kernels then skip their own switching)
    small = method in ("direct", "numpy") and nrep * n * n * (2 * x.shape[2] + 16) < SERIAL_WORK
    with single_threaded() if small else contextlib.nullcontext():
        for ts, idx in stops:
            while adaptive and ts - t > eps:
                h = min(h_cur, ts - t)
                truncated = h < h_cur
                if ts - (t + h) <= eps:
                    h = ts - t
                y_full = step(x, h, t)
                y_half = step(step(x, 0.5 * h, t), 0.5 * h, t)
                nrm = np.sqrt(np.sum(y_half * y_half, axis=-1))
                diff = y_half - y_full
                err = float(np.max(np.sqrt(np.sum(diff * diff, axis=-1))
                                   / np.maximum(nrm, 1.0))) / 15.0
                if not np.isfinite(err):
                    _nonfinite(y_half - y_full, t, n_steps, beta, dt, R)
                fac = 4.0 if err == 0 else min(4.0, max(0.2, 0.9 * (rtol / err) ** 0.2))
                if err <= rtol:
                    x = y_half
                    t = ts if h == ts - t else t + h
                    n_steps += 1
                    h_cur = min(dt, max(h * fac, h_cur) if truncated else h * fac)
                    if bar is not None:
                        bar(t)
                else:
                    n_rejected += 1
                    h_cur = h * fac
                    if h_cur < 1e-12 * max(1.0, t_final):
                        raise FloatingPointError(
                            f"adaptive step size underflow at t={t:.6g} (rtol={rtol:g})")
            while ts - t > eps:
                h = min(dt, ts - t)
                if ts - (t + h) <= eps:
                    h = ts - t
                x = step(x, h, t)
                t = ts if h == ts - t else t + h
                n_steps += 1
                if not np.all(np.isfinite(x)):
                    _nonfinite(x, t, n_steps, beta, dt, R)
                if bar is not None:
                    bar(t)
            if idx is None:
                continue
            nrm = np.sqrt(np.sum(x * x, axis=-1))
            unit = x / nrm[..., None]  # observables are invariant under the isometry of the span
            if xs is not None:
                xs[idx] = unit if span is None else np.matmul(unit, np.swapaxes(span, 1, 2))
            if radii is not None:
                radii[idx] = nrm
            for name, (fn, kw) in obs_spec.items():
                values[name][idx] = fn(unit, **kw)
    if bar is not None:
        bar.close()
    if R is None:  # one system: no replica axis
        xs = None if xs is None else xs[:, 0]
        radii = None if radii is None else radii[:, 0]
        values = {name: v[:, 0] for name, v in values.items()}

    def plain(M):
        return None if M is None else M.tolist()

    params = dict(beta=beta, kappa=kappa, dynamics=dynamics, dim=dim, n=n, dt=dt,
                  t_final=t_final, method=method, integrator=integrator, accuracy=accuracy,
                  causal=bool(causal), normalization=scheme.params(), coupling=coupling,
                  seed=seed if isinstance(seed, int | None) else None,
                  Q=plain(Qm), K=plain(Km), V=plain(Vm), dtype=dtype.name,
                  spectral_order=None if coeffs is None else coeffs[2],
                  adaptive=adaptive, rtol=rtol if adaptive else None,
                  n_rejected=n_rejected, replicas=R, keep=keep,
                  observables={name: kw for name, (_, kw) in obs_spec.items()},
                  check_stability=bool(check_stability),
                  reduced_dim=None if span is None else n,
                  kernel=kernel, weights=W is not None)
    return ParticleSolution(t=t_eval.copy(), x=xs, params=params, n_steps=n_steps,
                            wall_time=time.perf_counter() - t_wall0, radius=radii,
                            observables=values)


def _span_basis(x: np.ndarray) -> np.ndarray:
    """Orthonormal bases (R, d, n) of the spans of each replica's tokens x (R, n, d), n < d.

    With Q = K = V = I and no noise, every velocity (USA, SA, any normalization scheme) is a
    combination of the tokens, so the tokens stay in the span of the initial ones; in the
    coordinates c = x B (B from the QR factorization of x^T, orthonormal columns) the
    dynamics is the same system in dimension n (inner products, norms and tangent
    projections are preserved by the isometry B), and x = c B^T. Exact up to rounding;
    tested against the full-dimensional numpy reference.
    """
    return np.linalg.qr(np.swapaxes(x.astype(np.float64), 1, 2))[0]


def _interaction_sums(method, beta, softmax, causal, Qm, Km, Vm, lanes, W=None):
    """x (R, n, d) -> the attention sums (R, n, dv), float64 (direct, numpy or weighted)."""
    if W is not None:  # the causal mask is already in W
        return functools.partial(weighted_sums, W=W, beta=beta, softmax=softmax, Q=Qm, K=Km,
                                 V=Vm)
    if method == "numpy":
        def per(M, r):
            return None if M is None else (M[r] if M.ndim == 3 else M)

        def sums(x):
            return np.stack([attention_sums_numpy(xr, beta, softmax=softmax, causal=causal,
                                                  Q=per(Qm, r), K=per(Km, r),
                                                  V=per(Vm, r))[0] for r, xr in enumerate(x)])
        return sums

    def sums(x):
        # the simulator passes unit tokens (directions y/|y|)
        return attention_sums_batched(x, beta, softmax=softmax, causal=causal, Q=Qm, K=Km,
                                      V=Vm, lanes=lanes, unit=True)[0]
    return sums
