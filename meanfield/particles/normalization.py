"""Layer-normalization schemes as speed regulation of the token dynamics.

Karagodin, Ge, Polyanskiy, Rigollet ("Normalization in attention dynamics", arXiv 2510.22026)
model a deep Transformer with a normalization scheme as interacting particles whose
*directions* x_i = y_i / |y_i| move as

    dx_i/dt = s_i^{-1} P_{x_i} A_i(X),      P_x v = v - <x, v> x,

where A_i is the attention output of token i (SA: softmax average, USA: (1/n) sum of
e^{beta <x_i, x_j>} V x_j, computed on the directions) and the scheme only sets the speed
factor s_i. Every scheme here is written down from its *discrete* layer (one residual
block with step h, the depth t = layer * h); letting h -> 0 gives the speed factor. Norms
are unit-norm projections N(y) = y / |y| (LayerNorm / RMSNorm up to the constant sqrt(d),
which only rescales beta and time; we use the unit sphere as in DESIGN.md §1).

============  ==================================  ================================  =========
scheme        layer (y -> y')                      continuous depth                  s_i
============  ==================================  ================================  =========
Post-LN       N(y + h A(y))                       dx/dt = P_x A                     1
Pre-LN        y + h A(N(y))                       dy/dt = A(x), |y| = r grows       r_i
Peri-LN       y + h N(A(N(y)))                    dy/dt = A / |A|                   r_i |A_i|
nGPT          N(y + alpha h (N(A(y)) - y))        dx/dt = alpha P_x A / |A|         |A_i| / alpha
Mix-LN        Post-LN for t < t_switch, then      the two above, r = 1 at t_switch  1, then r_i
              Pre-LN
============  ==================================  ================================  =========

Sources of the layers: Post-LN and Pre-LN (Xiong et al. 2020); Peri-LN normalizes the
module's input and output, y + N(F(N(y))) (Kim et al., arXiv 2502.02732); nGPT keeps the
hidden state on the sphere and moves it towards the normalized block output with an "eigen
learning rate" alpha, y <- N(y + alpha (N(F(y)) - y)) (Loshchilov et al., arXiv 2410.01131;
its per-coordinate alpha is a scalar here, alpha h per layer); Mix-LN uses Post-LN in the
first layers and Pre-LN in the rest (Li et al., arXiv 2412.13795). The radial equations
(dr_i/dt = <x_i, A_i> for Pre-LN, <x_i, A_i>/|A_i| for Peri-LN) follow from the same layers.
The continuous models are checked against the literal layer maps (:func:`transformer_layers`,
error O(h), tested) and, for equiangular tokens, against the reduced ODEs of
:func:`equiangular_system` (tested to 1e-8).

Consequences (all measured in validation/v12): near the collapsed state |A_i| -> 1 and
<x_i, A_i> -> 1, so Post-LN and nGPT contract exponentially (1 - rho ~ e^{-2t}, e^{-2 alpha t})
while Pre-LN, Peri-LN and Mix-LN (after the switch), whose residual norm grows like t, only
contract like 1/t^2; in high dimension |A_i| ~ n^{-1/2} initially (nearly orthogonal tokens),
so Peri-LN and nGPT move their tokens much faster at first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NormalizationScheme", "PostLN", "PreLN", "PeriLN", "NGPT", "MixLN",
           "NORMALIZATIONS", "normalization_scheme", "equiangular_system",
           "transformer_layers"]

_TINY = 1e-300


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """<a_i, b_i> over the last axis, shape a.shape[:-1] (rows of any stack, row by row)."""
    d = a.shape[-1]
    return np.einsum("ij,ij->i", a.reshape(-1, d), b.reshape(-1, d)).reshape(a.shape[:-1])


def _rownorm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(_rowdot(v, v))[..., None]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / _rownorm(v)


def _tangent(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    return v - _rowdot(x, v)[..., None] * x


def _unit_output(a: np.ndarray) -> np.ndarray:
    na = _rownorm(a)
    if np.any(na < _TINY):
        raise FloatingPointError("the attention output A_i vanished for some token, so "
                                 "A_i/|A_i| (Peri-LN, nGPT) is undefined; the scheme needs "
                                 "A_i != 0 (e.g. V invertible)")
    return a / na


@dataclass(frozen=True)
class NormalizationScheme:
    """Base class: how a normalization scheme turns the attention output into motion.

    Subclasses set ``name``, ``on_sphere`` (the state is a unit vector, retracted after every
    step; otherwise the state is the residual stream y with direction y/|y|),
    ``unit_output`` (the scheme moves along A/|A|, so its speed is ~ ``rate``/|A|) and
    implement :meth:`velocity` (continuous depth), :meth:`layer` (one discrete residual
    block) and :meth:`reduced` (the equiangular reduction). A scheme that changes with depth
    (Mix-LN) returns the scheme in force from :meth:`at`.
    """

    name = "base"
    on_sphere = True
    unit_output = False
    rate = 1.0

    def velocity(self, y: np.ndarray, x: np.ndarray, a: np.ndarray, t: float) -> np.ndarray:
        """dy/dt at depth ``t`` for states ``y`` (n, d), directions ``x`` and outputs ``a``."""
        raise NotImplementedError

    def layer(self, y: np.ndarray, attention, h: float, t: float) -> np.ndarray:
        """One residual block of step ``h`` at depth ``t``; ``attention(x)`` returns A."""
        raise NotImplementedError

    def reduced(self, drift: float, radial: float, norm: float, r: float) -> list[float]:
        """(drho/dt, dr/dt) of equiangular tokens: ``drift`` is the Post-LN drho/dt,
        ``radial`` = <x_i, A_i>, ``norm`` = |A_i|, ``r`` the residual norm."""
        raise NotImplementedError(f"no equiangular reduction for scheme {self.name!r}")

    def at(self, t: float) -> NormalizationScheme:
        """The scheme in force at depth t (itself, except for schemes that switch)."""
        return self

    def on_sphere_at(self, t: float) -> bool:
        """Whether the state is kept on the unit sphere at depth t."""
        return self.at(t).on_sphere

    def breakpoints(self, t_final: float) -> tuple[float, ...]:
        """Depths in (0, t_final) where the scheme switches (integrators stop there)."""
        return ()

    def params(self) -> dict:
        """The scheme's name and parameters (JSON-able)."""
        return {"name": self.name}


@dataclass(frozen=True)
class PostLN(NormalizationScheme):
    """Post-LN, y' = N(y + h A(y)): tokens stay on the sphere, s_i = 1 (GLPR's model).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> PostLN().velocity(x, x, np.array([[1.0, 1.0], [1.0, 1.0]]), 0.0)
    array([[0., 1.],
           [1., 0.]])
    """

    name = "post-ln"

    def velocity(self, y, x, a, t):
        return _tangent(x, a)

    def layer(self, y, attention, h, t):
        return _unit(y + h * attention(y))

    def reduced(self, drift, radial, norm, r):
        return [drift, 0.0]


@dataclass(frozen=True)
class PreLN(NormalizationScheme):
    """Pre-LN, y' = y + h A(N(y)): the residual stream grows, s_i = |y_i|.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[2.0, 0.0]])
    >>> PreLN().velocity(y, y / 2, np.array([[1.0, 1.0]]), 0.0)   # dy/dt = A
    array([[1., 1.]])
    """

    name = "pre-ln"
    on_sphere = False

    def velocity(self, y, x, a, t):
        return a

    def layer(self, y, attention, h, t):
        return y + h * attention(_unit(y))

    def reduced(self, drift, radial, norm, r):
        return [drift / r, radial]


@dataclass(frozen=True)
class PeriLN(NormalizationScheme):
    """Peri-LN, y' = y + h N(A(N(y))): unit-speed residual growth, s_i = |y_i| |A_i|.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[1.0, 0.0]])
    >>> PeriLN().velocity(y, y, np.array([[0.0, 0.5]]), 0.0)   # dy/dt = A/|A|
    array([[0., 1.]])
    """

    name = "peri-ln"
    on_sphere = False
    unit_output = True

    def velocity(self, y, x, a, t):
        return _unit_output(a)

    def layer(self, y, attention, h, t):
        return y + h * _unit_output(attention(_unit(y)))

    def reduced(self, drift, radial, norm, r):
        return [drift / (r * norm), radial / norm]


@dataclass(frozen=True)
class NGPT(NormalizationScheme):
    """nGPT, y' = N(y + alpha h (N(A(y)) - y)): on the sphere, s_i = |A_i| / alpha.

    Parameters
    ----------
    alpha : float
        The eigen learning rate per unit depth (> 0; default 1).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0]])
    >>> NGPT(alpha=2.0).velocity(x, x, np.array([[0.3, 0.4]]), 0.0)  # 2 P_x A/|A|
    array([[0. , 1.6]])
    """

    alpha: float = 1.0
    name = "ngpt"
    unit_output = True

    def __post_init__(self):
        if not (np.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"NGPT alpha must be finite and > 0, got {self.alpha}")

    def velocity(self, y, x, a, t):
        return self.alpha * _tangent(x, _unit_output(a))

    def layer(self, y, attention, h, t):
        return _unit(y + self.alpha * h * (_unit_output(attention(y)) - y))

    def reduced(self, drift, radial, norm, r):
        return [self.alpha * drift / norm, 0.0]

    @property
    def rate(self) -> float:
        return self.alpha

    def params(self):
        return {"name": self.name, "alpha": float(self.alpha)}


@dataclass(frozen=True)
class MixLN(NormalizationScheme):
    """Mix-LN: Post-LN up to depth ``t_switch``, Pre-LN after it (residual norm 1 there).

    Parameters
    ----------
    t_switch : float
        Depth of the switch (>= 0; default 1). Pre-LN restarts from the unit directions.

    Examples
    --------
    >>> MixLN(t_switch=2.0).on_sphere_at(1.0), MixLN(t_switch=2.0).on_sphere_at(3.0)
    (True, False)
    """

    t_switch: float = 1.0
    name = "mix-ln"
    on_sphere = False     # not at every depth: see on_sphere_at

    def __post_init__(self):
        if not (np.isfinite(self.t_switch) and self.t_switch >= 0):
            raise ValueError(f"MixLN t_switch must be finite and >= 0, got {self.t_switch}")

    def at(self, t):
        return PostLN() if t < self.t_switch else PreLN()

    def velocity(self, y, x, a, t):
        return self.at(t).velocity(y, x, a, t)

    def layer(self, y, attention, h, t):
        return self.at(t).layer(y, attention, h, t)

    def breakpoints(self, t_final):
        return (self.t_switch,) if 0 < self.t_switch < t_final else ()

    def params(self):
        return {"name": self.name, "t_switch": float(self.t_switch)}


#: registered schemes by name (the ``normalization=`` strings of simulate_particles)
NORMALIZATIONS = {cls.name: cls for cls in (PostLN, PreLN, PeriLN, NGPT, MixLN)}


def normalization_scheme(spec=None) -> NormalizationScheme:
    """Resolve a scheme from a name ("post-ln", "pre-ln", "peri-ln", "ngpt", "mix-ln"),
    an instance, or None (Post-LN).

    Examples
    --------
    >>> normalization_scheme("Peri-LN")
    PeriLN()
    >>> normalization_scheme(NGPT(alpha=0.5)).params()
    {'name': 'ngpt', 'alpha': 0.5}
    """
    if spec is None:
        return PostLN()
    if isinstance(spec, NormalizationScheme):
        return spec
    key = str(spec).lower().replace("_", "-")
    if key not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {tuple(NORMALIZATIONS)} or a "
                         f"NormalizationScheme instance, got {spec!r}")
    return NORMALIZATIONS[key]()


# ---------------------------------------------------------------------------------------
# references: the equiangular reduction and the literal layer maps
# ---------------------------------------------------------------------------------------
def _equiangular_terms(rho, beta, n, dynamics):
    """Self and cross weights, <x_i, A_i>, |A_i| and the Post-LN drho/dt of n equiangular
    unit tokens with common inner product rho (identity Q, K, V)."""
    if dynamics == "sa":
        z = np.exp(beta * (1.0 - rho)) + (n - 1)      # normalizer divided by e^{beta rho}
        w_s, w_o = np.exp(beta * (1.0 - rho)) / z, 1.0 / z
    else:
        w_s, w_o = np.exp(beta) / n, np.exp(beta * rho) / n
    radial = w_s + (n - 1) * w_o * rho
    norm2 = w_s**2 + 2 * (n - 1) * w_s * w_o * rho + (n - 1) * w_o**2 * (1 + (n - 2) * rho)
    drift = 2 * w_o * (1 - rho) * (1 + (n - 1) * rho)
    return radial, np.sqrt(norm2), drift


def equiangular_system(beta: float, n: int, dynamics: str, t, normalization=None,
                       rho0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Equiangular reduction of the normalized dynamics: rho(t) and the residual norm r(t).

    For n tokens with common pairwise inner product rho (identity Q, K, V; the symmetry is
    preserved by every scheme) the direction dynamics reduce to
    drho/dt = f(rho) / s with f(rho) = 2 w_o (1 - rho)(1 + (n-1) rho) (w_o the weight of
    another token: SA e^{beta rho}/Z, Z = e^beta + (n-1) e^{beta rho}; USA e^{beta rho}/n;
    Post-LN recovers GLPR Thm 6.8) and the scheme's speed factor s:
    Post-LN 1; Pre-LN r with dr/dt = <x, A> = w_s + (n-1) w_o rho; Peri-LN r |A| with
    dr/dt = <x, A>/|A|; nGPT |A|/alpha; Mix-LN 1 then Pre-LN (r = 1 at t_switch). Here
    |A|^2 = w_s^2 + 2(n-1) w_s w_o rho + (n-1) w_o^2 (1 + (n-2) rho), w_s the self-weight.

    Parameters
    ----------
    beta : float
    n : int
        Number of tokens (>= 2).
    dynamics : {"sa", "usa"}
    t : array
        Increasing output times, t[0] = 0.
    normalization : str or NormalizationScheme, optional
        Default Post-LN.
    rho0 : float
        Initial inner product, in (-1/(n-1), 1).

    Returns
    -------
    rho, r : ndarray
        The inner product and the residual norm (1 for the schemes on the sphere) at ``t``;
        solved by scipy (DOP853) at rtol 1e-12.

    Examples
    --------
    >>> import numpy as np
    >>> rho, r = equiangular_system(1.0, 8, "sa", [0.0, 4.0], "pre-ln")
    >>> bool(rho[1] > 0.85 and r[1] > 3.0)  # Pre-LN: rho -> 1 while the residual grows
    True
    """
    from scipy.integrate import solve_ivp

    scheme = normalization_scheme(normalization)
    if dynamics not in ("sa", "usa"):
        raise ValueError(f"dynamics must be 'sa' or 'usa', got {dynamics!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not (-1.0 / (n - 1) < rho0 < 1.0):
        raise ValueError(f"rho0 must lie in (-1/(n-1), 1) = ({-1.0 / (n - 1):.4g}, 1), "
                         f"got {rho0}")
    ts = np.asarray(t, dtype=float)
    if ts.ndim != 1 or ts.size == 0 or ts[0] != 0 or np.any(np.diff(ts) < 0):
        raise ValueError("t must be a nondecreasing 1-d array starting at 0")

    def rhs(tt, u):
        rho, r = u
        radial, norm, drift = _equiangular_terms(rho, beta, n, dynamics)
        return scheme.at(tt).reduced(drift, radial, norm, r)

    cuts = [0.0, *scheme.breakpoints(float(ts[-1])), float(ts[-1])]
    rho, r = np.empty_like(ts), np.ones_like(ts)
    u = np.array([float(rho0), 1.0])
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        last = k == len(cuts) - 2
        sel = (ts >= a) & ((ts <= b) if last else (ts < b))
        if b > a:
            t_out = ts[sel]
            extra = t_out.size == 0 or t_out[-1] < b
            sol = solve_ivp(rhs, (a, b), u, method="DOP853",
                            t_eval=np.append(t_out, b) if extra else t_out, rtol=1e-12,
                            atol=1e-14)
            if sol.status != 0:
                raise RuntimeError(f"equiangular ODE failed: {sol.message}")
            rho[sel], r[sel] = sol.y[:, :t_out.size]
            u = sol.y[:, -1].copy()
        else:
            rho[sel], r[sel] = u
    return rho, r
    return rho, r


def transformer_layers(x0, n_layers: int, h: float, *, beta: float, dynamics: str = "sa",
                       normalization=None, Q=None, K=None, V=None,
                       causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Push tokens through ``n_layers`` literal residual attention blocks of step ``h``.

    The discrete model the continuous-depth schemes approximate: layer l maps the states by
    the scheme's :meth:`NormalizationScheme.layer` (see the module table), at depth
    t = l h. As h -> 0 with n_layers h fixed the result converges to
    ``simulate_particles(..., normalization=...)`` at rate O(h) (tested).

    Parameters
    ----------
    x0 : array (n, d)
        Initial tokens (unit rows).
    n_layers : int
    h : float
        Residual step per layer (> 0).
    beta, dynamics, Q, K, V, causal
        As in :func:`~meanfield.particles.simulate_particles`.
    normalization : str or NormalizationScheme, optional

    Returns
    -------
    x, r : ndarray (n_layers + 1, n, d) and (n_layers + 1, n)
        Directions and residual norms after each layer (layer 0 = input).

    Examples
    --------
    >>> import numpy as np
    >>> x0 = np.eye(4)
    >>> x, r = transformer_layers(x0, 100, 0.02, beta=1.0, normalization="peri-ln")
    >>> float(r[-1, 0]) <= 1 + 100 * 0.02  # Peri-LN: each layer adds h times a unit vector
    True
    >>> round(float(r[-1, 0]), 3)
    2.724
    """
    from .interactions import attention_sums
    from .simulate import _matrices

    scheme = normalization_scheme(normalization)
    y = np.array(x0, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"x0 must have shape (n, d), got {y.shape}")
    if not np.allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-10):
        raise ValueError("x0 rows must be unit vectors")
    if isinstance(n_layers, bool) or not isinstance(n_layers, int | np.integer) or n_layers < 0:
        raise ValueError(f"n_layers must be an integer >= 0, got {n_layers!r}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be finite and > 0, got {h}")
    if dynamics not in ("sa", "usa"):
        raise ValueError(f"dynamics must be 'sa' or 'usa', got {dynamics!r}")
    d = y.shape[1]
    Qm, Km, Vm = _matrices(Q, K, V, d)

    def attention(z):
        a, _ = attention_sums(np.ascontiguousarray(_unit(z)), beta, softmax=dynamics == "sa",
                              causal=causal, Q=Qm, K=Km, V=Vm)
        return a

    xs = np.empty((n_layers + 1, *y.shape))
    rs = np.empty((n_layers + 1, y.shape[0]))
    xs[0], rs[0] = _unit(y), _rownorm(y)[:, 0]
    for layer in range(n_layers):
        y = scheme.layer(y, attention, h, layer * h)
        xs[layer + 1], rs[layer + 1] = _unit(y), _rownorm(y)[:, 0]
    return xs, rs
