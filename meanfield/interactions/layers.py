"""Attention layers with weights, several heads, the perceptron block, external potentials.

The same matrices mean the same layer as in :func:`meanfield.simulate_particles`: for a
density rho on S^{d-1} (w.r.t. the normalized measure sigma),

    one head, USA:  v(x) = P_x int e^{beta <Q x, K y>} V y rho(y) d sigma(y)
    one head, SA:   the same divided by int e^{beta <Q x, K y>} rho(y) d sigma(y)
    perceptron:     v(x) = P_x W2 s(W1 x + b)
    potential:      v(x) = -grad U(x)

with P_x y = y - <x, y> x. Q, K are (k, d) (rectangular allowed), V is (d, d); the
bilinear form is <Q x, K y> = x^T A y with A = Q^T K. Layers combine with ``+`` and scalar
``*`` (a transformer layer in the Lie–Trotter view: attention plus MLP), and
``MultiHead([h1, h2], weights)`` is the weighted sum of heads, each with its own beta, Q,
K, V and softmax normalization (SA).

A layer becomes an interaction (:mod:`meanfield.interactions.base`) when a model holds it:
``layer.interaction(dynamics, dim)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import erf

from ..kernels import AttentionKernel
from .base import Interaction, SumInteraction, new_token
from .isotropic import isotropic

METHODS = ("auto", "multiplier", "quadrature")
MAX_BETA_NORM = 700.0  # e^{beta x^T A y} overflows float64 beyond ~709


def _finite_matrix(M, name: str) -> np.ndarray | None:
    if M is None:
        return None
    try:
        M = np.asarray(M, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real matrix, got {type(M).__name__}") from None
    if M.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return M


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class Layer:
    """Base of the layers: combination by ``+`` and scalar ``*``.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> layer = mf.AttentionLayer(2.0) + 0.5 * mf.Perceptron(np.eye(2), np.zeros(2), np.eye(2))
    >>> type(layer).__name__, [w for w, _ in layer.terms]
    ('LayerSum', [1.0, 0.5])
    """

    def interaction(self, dynamics: str, dim: int) -> Interaction:  # pragma: no cover
        raise NotImplementedError

    @property
    def terms(self) -> list[tuple[float, Layer]]:
        return [(1.0, self)]

    def __add__(self, other: Layer) -> LayerSum:
        if not isinstance(other, Layer):
            return NotImplemented
        return LayerSum(self.terms + other.terms)

    def __mul__(self, w) -> LayerSum:
        w = _number(w, "a layer's weight")
        return LayerSum([(w * v, t) for v, t in self.terms])

    __rmul__ = __mul__

    def with_beta(self, beta: float) -> Layer:
        """The same layer with every attention head's beta set to ``beta``."""
        raise ValueError(f"{type(self).__name__} has no inverse temperature beta")


class AttentionLayer(Layer):
    """One attention head with weights: e^{beta <Q x, K y>} V y (module docstring).

    Parameters
    ----------
    beta : float
        Inverse temperature (any real).
    Q, K : array (k, d), optional
        Query and key matrices (the identity when omitted); the kernel is
        e^{beta x^T A y}, A = Q^T K.
    V : array (d, d), optional
        Value matrix (the identity when omitted).
    method : {"auto", "multiplier", "quadrature"}
        How the PDE side evaluates the head. "multiplier": diagonal Funk–Hecke
        multipliers, possible when A = a I and V = v I (then the head is the isotropic
        kernel with beta a, scaled by v); "quadrature": the dense operator of the kernel
        in coefficient space (any weights; circle, S^2, S^3); "auto": multipliers when
        possible.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> J = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> layer = mf.AttentionLayer(2.0, V=np.eye(2) + 0.5 * J)   # a value with a rotation
    >>> inter = layer.interaction("usa", 2)
    >>> inter.symmetry, inter.uniform_stationary, inter.has_free_energy
    ('SO(d)', True, False)
    """

    def __init__(self, beta: float, Q=None, K=None, V=None, method: str = "auto") -> None:
        self.beta = _number(beta, "beta")
        self.Q = _finite_matrix(Q, "Q")
        self.K = _finite_matrix(K, "K")
        self.V = _finite_matrix(V, "V")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method
        if self.Q is not None and self.K is not None and self.Q.shape != self.K.shape:
            raise ValueError(f"Q and K must have the same shape (k, d), got {self.Q.shape} "
                             f"and {self.K.shape}")
        if self.V is not None and self.V.shape[0] != self.V.shape[1]:
            raise ValueError(f"V must be square (d, d), got shape {self.V.shape}")
        self.token = new_token()

    def __repr__(self) -> str:
        given = [n for n in "QKV" if getattr(self, n) is not None]
        extra = "".join(f", {n}=..." for n in given)
        meth = "" if self.method == "auto" else f", method={self.method!r}"
        return f"AttentionLayer(beta={self.beta}{extra}{meth})"

    def with_beta(self, beta: float) -> AttentionLayer:
        return AttentionLayer(beta, self.Q, self.K, self.V, self.method)

    def matrices(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(A, V) = (Q^T K, V) as (dim, dim) arrays, the shapes checked against dim."""
        for name in "QK":
            M = getattr(self, name)
            if M is not None and M.shape[1] != dim:
                raise ValueError(f"{name} must have shape (k, {dim}) for dim={dim}, got "
                                 f"{M.shape}")
        if self.V is not None and self.V.shape != (dim, dim):
            raise ValueError(f"V must have shape ({dim}, {dim}) for dim={dim}, got "
                             f"{self.V.shape}")
        Q = np.eye(dim) if self.Q is None else self.Q
        K = np.eye(dim) if self.K is None else self.K
        if Q.shape[0] != K.shape[0]:
            raise ValueError(f"Q and K must have the same number of rows, got {Q.shape} "
                             f"and {K.shape}")
        return Q.T @ K, (np.eye(dim) if self.V is None else self.V)

    def interaction(self, dynamics: str, dim: int) -> Interaction:
        A, V = self.matrices(dim)
        if abs(self.beta) * np.linalg.norm(A, 2) > MAX_BETA_NORM:
            raise ValueError(f"beta ||Q^T K||_2 = {abs(self.beta) * np.linalg.norm(A, 2):.4g} "
                             f"exceeds {MAX_BETA_NORM:g}: e^(beta <Qx, Ky>) overflows float64")
        scal_a, scal_v = _scalar(A), _scalar(V)
        iso = scal_a is not None and scal_v is not None
        if self.method == "multiplier" and not iso:
            raise ValueError("method='multiplier' needs Q^T K and V multiples of the identity "
                             "(a zonal kernel); use method='quadrature' for other weights")
        if iso and self.method != "quadrature":
            return SumInteraction([(scal_v, isotropic(AttentionKernel(self.beta * scal_a),
                                                      dynamics, dim))])
        from .quadrature import AttentionHead  # the dense-operator evaluation

        return AttentionHead(self.beta, A, V, dynamics, dim, self.token)


def _scalar(M: np.ndarray, rtol: float = 1e-14) -> float | None:
    """a if M = a I (to rtol of its norm), else None."""
    a = float(np.trace(M)) / M.shape[0]
    scale = max(np.abs(M).max(), 1e-300)
    return a if np.abs(M - a * np.eye(M.shape[0])).max() <= rtol * scale else None


class LayerSum(Layer):
    """sum_i w_i layer_i (``layer + layer``, ``w * layer``).

    Examples
    --------
    >>> import meanfield as mf
    >>> s = 2.0 * mf.AttentionLayer(1.0) + mf.AttentionLayer(3.0)
    >>> [(w, t.beta) for w, t in s.terms]
    [(2.0, 1.0), (1.0, 3.0)]
    """

    def __init__(self, terms: list[tuple[float, Layer]]) -> None:
        flat = []
        for w, t in terms:
            if not isinstance(t, Layer):
                raise TypeError(f"a layer sum holds layers, got {type(t).__name__}")
            flat.extend((float(w) * v, s) for v, s in t.terms)
        if not flat:
            raise ValueError("a layer sum needs at least one layer")
        self._terms = flat

    @property
    def terms(self) -> list[tuple[float, Layer]]:
        return list(self._terms)

    def __repr__(self) -> str:
        return " + ".join(f"{w:g} * {t!r}" if w != 1 else repr(t) for w, t in self._terms)

    def with_beta(self, beta: float) -> LayerSum:
        heads = [t for _, t in self._terms if isinstance(t, AttentionLayer)]
        if not heads:
            raise ValueError("this layer has no attention head: no beta to set")
        return LayerSum([(w, t.with_beta(beta) if isinstance(t, AttentionLayer) else t)
                         for w, t in self._terms])

    @property
    def beta(self) -> float:
        """The heads' common beta (nan when they differ or there is no head)."""
        betas = {t.beta for _, t in self._terms if isinstance(t, AttentionLayer)}
        return betas.pop() if len(betas) == 1 else float("nan")

    def interaction(self, dynamics: str, dim: int) -> Interaction:
        return SumInteraction([(w, t.interaction(dynamics, dim)) for w, t in self._terms])


class MultiHead(LayerSum):
    """Several attention heads: v = sum_h w_h v_h, each head with its own beta, Q, K, V.

    Under SA each head is normalized by its own softmax denominator, as in a transformer.

    Parameters
    ----------
    heads : list of AttentionLayer
    weights : list of float, optional
        w_h (default 1 each: the plain sum of the heads' outputs).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> mh = mf.MultiHead([mf.AttentionLayer(1.0), mf.AttentionLayer(4.0, V=-np.eye(2))],
    ...                   weights=[1.0, 0.25])
    >>> [(w, h.beta) for w, h in mh.terms]
    [(1.0, 1.0), (0.25, 4.0)]
    """

    def __init__(self, heads: list[AttentionLayer], weights=None) -> None:
        heads = list(heads)
        if not heads or not all(isinstance(h, AttentionLayer) for h in heads):
            raise TypeError("MultiHead takes a non-empty list of AttentionLayer heads")
        if weights is None:
            weights = [1.0] * len(heads)
        weights = [_number(w, "weights[i]") for w in weights]
        if len(weights) != len(heads):
            raise ValueError(f"weights has {len(weights)} entries for {len(heads)} heads")
        super().__init__(list(zip(weights, heads, strict=True)))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "gelu": lambda z: 0.5 * z * (1.0 + erf(z / np.sqrt(2.0))),
    "tanh": np.tanh,
    "identity": lambda z: z,
}


class Perceptron(Layer):
    """The perceptron block as a velocity field v(x) = P_x W2 s(W1 x + b).

    Parameters
    ----------
    W1 : array (h, d)
    b : array (h,)
    W2 : array (d, h)
    activation : {"relu", "gelu", "tanh", "identity"} or callable
        s, applied entrywise ("gelu" is the exact x Phi(x)).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> mlp = mf.Perceptron(np.eye(2), np.zeros(2), np.eye(2), activation="tanh")
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> mlp.ambient_field(x).round(6).tolist()  # W2 tanh(W1 x + b), before P_x
    [[0.761594, 0.0], [0.0, 0.761594]]
    """

    def __init__(self, W1, b, W2, activation="relu") -> None:
        self.W1 = _finite_matrix(W1, "W1")
        self.W2 = _finite_matrix(W2, "W2")
        b = np.asarray(b, dtype=float)
        if b.ndim != 1 or not np.all(np.isfinite(b)):
            raise ValueError(f"b must be a finite 1-D vector, got shape {b.shape}")
        self.b = b
        h = self.W1.shape[0]
        if b.shape != (h,) or self.W2.shape[1] != h:
            raise ValueError(f"shapes do not chain: W1 {self.W1.shape}, b {b.shape}, W2 "
                             f"{self.W2.shape} (want (h, d), (h,), (d, h))")
        if self.W2.shape[0] != self.W1.shape[1]:
            raise ValueError(f"W2 must map back to R^d: W1 is {self.W1.shape}, W2 is "
                             f"{self.W2.shape}")
        if callable(activation):
            self.activation = activation
        elif activation in ACTIVATIONS:
            self.activation = ACTIVATIONS[activation]
        else:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)} or a callable, "
                             f"got {activation!r}")
        self.activation_name = activation if isinstance(activation, str) else "callable"
        self.token = new_token()

    def __repr__(self) -> str:
        return f"Perceptron(hidden={self.W1.shape[0]}, activation={self.activation_name!r})"

    def ambient_field(self, x: np.ndarray) -> np.ndarray:
        """W2 s(W1 x + b) at points x (..., d) (before the tangent projection)."""
        out = np.asarray(self.activation(np.asarray(x) @ self.W1.T + self.b), dtype=float)
        return out @ self.W2.T

    def interaction(self, dynamics: str, dim: int) -> Interaction:
        if self.W1.shape[1] != dim:
            raise ValueError(f"W1 must have shape (h, {dim}) for dim={dim}, got "
                             f"{self.W1.shape}")
        from .fields import PerceptronField

        return PerceptronField(self, dim)


class ExternalPotential(Layer):
    """An external potential U: v(x) = -grad U(x), free energy + int U rho.

    Parameters
    ----------
    U : callable
        U(x) for points x of shape (..., d) on the sphere, returning shape (...).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> pot = mf.ExternalPotential(lambda x: -x[..., 0])  # pulls mass towards e_1
    >>> pot.interaction("usa", 2).has_free_energy
    True
    """

    def __init__(self, U: Callable[[np.ndarray], np.ndarray]) -> None:
        if not callable(U):
            raise TypeError(f"U must be a callable of points x (..., d), got {type(U).__name__}")
        self.U = U
        self.token = new_token()

    def __repr__(self) -> str:
        return f"ExternalPotential({getattr(self.U, '__name__', 'U')})"

    def interaction(self, dynamics: str, dim: int) -> Interaction:
        from .fields import PotentialField

        return PotentialField(self, dim)
