"""Causal attention as a kinetic equation: densities indexed by the token position s.

Tokens carry a position s in (0, 1] (token i of n at s = i/n) and a point x on S^{d-1}; the
mean-field state is a family rho(t, s, .) of densities (w.r.t. the normalized measure
sigma), each of mass 1, and the token at s attends to the positions sigma <= s with a
positional weight w(s, sigma):

    d_t rho(s) = (1/kappa) Lap rho(s) - div( rho(s) v[rho~(s)] ),
    rho~(s) = int_0^1 w(s, sigma) rho(sigma) d sigma,

with v[.] the model's velocity field (USA: grad(G * rho~); SA: the softmax field of rho~,
which does not depend on the normalization of w; a weighted layer: its field). The
weights (``weight=``):

* ``"causal"``: w = 1 on sigma <= s, the limit of ``simulate_particles(causal=True)``
  (v_i = (1/n) sum_{j <= i} ..., the USA prefactor 1/n kept);
* ``"alibi"``: the paper's row-normalized ALiBi weight w_lambda(s, sigma)
  (:func:`meanfield.causal.alibi_kernel`; ``lam`` its slope, ``lam = 0`` the plain causal
  average 1/s);
* ``"full"``: w = 1 on [0, 1], every token attends to all: the ordinary mean-field PDE;
* a callable ``w(s, sigma)`` (broadcasting arrays, 0 where the token does not attend).

Discretization: s on ``n_positions`` Gauss–Legendre nodes of (0, 1); the integral in sigma
by W_ij = int_0^{s_i} w(s_i, sigma) l_j(sigma) d sigma with l_j the Lagrange polynomials of
the nodes (spectrally accurate for smooth s-dependence; the causal cut at sigma = s_i is
integrated exactly by a Gauss rule on [0, s_i]); x by any basis of the suite, all positions
at once as a batch axis; time by the suite's steppers (ETDRK4 by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import roots_legendre

from .timestepping import StepController, get_stepper, integrate

WEIGHTS = ("causal", "alibi", "full")


def lagrange_matrix(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """l_j(x_k) for the Lagrange polynomials of ``nodes``: shape (len(x), len(nodes)).

    Barycentric form (stable for Gauss–Legendre nodes).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.kinetic import lagrange_matrix
    >>> nodes = np.array([0.1, 0.5, 0.9])
    >>> lagrange_matrix(nodes, np.array([0.5, 0.3])) @ nodes**2  # exact for degree 2
    array([0.25, 0.09])
    """
    nodes = np.asarray(nodes, dtype=float)
    x = np.asarray(x, dtype=float)
    diff = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    bw = 1.0 / np.prod(diff, axis=1)
    d = x[:, None] - nodes[None, :]
    exact = d == 0
    d[exact] = 1.0
    terms = bw / d
    out = terms / terms.sum(axis=1, keepdims=True)
    rows = np.any(exact, axis=1)
    out[rows] = exact[rows].astype(float)
    return out


def _weight_function(weight, lam: float):
    if callable(weight):
        return weight
    if weight == "causal":
        return lambda s, sig: np.where(sig <= s, 1.0, 0.0)
    if weight == "full":
        return lambda s, sig: np.ones(np.broadcast(s, sig).shape)
    if weight == "alibi":
        from .causal import alibi_kernel

        return lambda s, sig: alibi_kernel(s, np.minimum(sig, s), lam) * (sig <= s)
    raise ValueError(f"weight must be one of {WEIGHTS} or a callable w(s, sigma), got "
                     f"{weight!r}")


def position_weights(n_positions: int, weight="causal", lam: float = 0.0,
                     n_quad: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The nodes s_i and the matrix W_ij of the module docstring.

    Examples
    --------
    With the row-normalized ALiBi weight every row sums to 1 (each w(s, .) is a
    probability density), and W applied to a smooth f is the weighted average:

    >>> import numpy as np
    >>> from meanfield.kinetic import position_weights
    >>> s, W = position_weights(16, "alibi", lam=1.0)
    >>> bool(np.allclose(W.sum(axis=1), 1.0))
    True
    >>> s, W = position_weights(16, "causal")
    >>> bool(np.allclose(W @ np.cos(s), np.sin(s)))  # int_0^s cos = sin s
    True
    """
    if isinstance(n_positions, bool) or not isinstance(n_positions, int | np.integer) or \
            not 2 <= n_positions <= 1024:
        raise ValueError(f"n_positions must be an integer in [2, 1024], got {n_positions!r}")
    lam = float(lam)
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam (the ALiBi slope) must be finite and >= 0, got {lam}")
    w = _weight_function(weight, lam)
    x, gw = roots_legendre(int(n_positions))
    s = 0.5 * (x + 1.0)
    xq, wq = roots_legendre(int(n_quad))
    full = weight == "full"
    W = np.empty((s.size, s.size))
    for i, si in enumerate(s):
        top = 1.0 if full else si  # integrate over [0, s_i]: the causal cut exactly
        sig = 0.5 * top * (xq + 1.0)
        vals = np.asarray(w(si, sig), dtype=float) * (0.5 * top * wq)
        W[i] = vals @ lagrange_matrix(s, sig)
    return s, W


@dataclass
class KineticSolution:
    """The causal kinetic state rho(t, s, x) at the save times.

    Attributes
    ----------
    t : ndarray (m,)
    s : ndarray (n_positions,)
        The position nodes (Gauss–Legendre on (0, 1)).
    coeffs : ndarray (m, n_positions, *coeff_shape)
    W : ndarray (n_positions, n_positions)
        The positional weight matrix.
    status, message : str
    """

    model: object
    basis: object
    t: np.ndarray
    s: np.ndarray
    coeffs: np.ndarray
    W: np.ndarray
    status: str = "success"
    message: str = ""
    _rho: np.ndarray | None = field(default=None, repr=False)

    @property
    def rho(self) -> np.ndarray:
        """Grid values (m, n_positions, *grid) w.r.t. sigma."""
        if self._rho is None:
            self._rho = self.basis.backward(self.coeffs)
        return self._rho

    def amplitude(self, k: int) -> np.ndarray:
        """Order parameter of degree k per time and position, (m, n_positions)."""
        return self.basis.amplitude(self.coeffs, k)

    def at_positions(self, values: np.ndarray, s) -> np.ndarray:
        """Interpolate per-node values (..., n_positions) to positions s (spectral)."""
        L = lagrange_matrix(self.s, np.atleast_1d(np.asarray(s, dtype=float)))
        return np.asarray(values) @ L.T

    def plot(self, k: int = 1, ax=None):
        """The order parameter of degree k over (s, t) as an image; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
        amp = np.abs(self.amplitude(k))
        mesh = ax.pcolormesh(self.s, self.t, amp, shading="nearest")
        ax.figure.colorbar(mesh, ax=ax, label=f"order parameter of degree {k}")
        ax.set_xlabel("token position s")
        ax.set_ylabel("t (depth)")
        ax.set_title(f"causal kinetic equation: {self.model!r}", fontsize=8)
        return ax


def evolve_kinetic(model, basis, rho0, t_final: float, t_eval=None, *, weight="causal",
                   lam: float = 0.0, n_positions: int = 32, method: str = "etdrk4",
                   dt: float | None = None, rtol: float = 1e-8,
                   atol: float = 1e-12) -> KineticSolution:
    """Evolve the causal kinetic equation of the module docstring.

    Parameters
    ----------
    model : MeanFieldModel
        The attention (kernel or layer), its dynamics and noise.
    basis : a basis of the suite for the x variable.
    rho0 : ndarray
        Initial densities: grid values of shape ``basis.shape`` (the same at every position)
        or (n_positions, *basis.shape), each of mass 1 w.r.t. sigma.
    t_final : float
    t_eval : array_like, optional
        Save times (default: 21 equispaced in [0, t_final]).
    weight, lam : the positional weight (module docstring) and the ALiBi slope.
    n_positions : int
        Number of Gauss–Legendre position nodes.
    method, dt, rtol, atol : as in :func:`meanfield.evolve` (adaptive unless dt is given).

    Returns
    -------
    KineticSolution

    Examples
    --------
    Every token attending to all (``weight="full"``) is the ordinary mean-field PDE:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.kinetic import evolve_kinetic
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=2.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.von_mises(basis, 1.0)
    >>> ks = evolve_kinetic(model, basis, rho0, 2.0, [0, 2], weight="full", n_positions=4)
    >>> sol = mf.evolve(model, basis, rho0, 2.0, [0, 2])
    >>> bool(np.allclose(ks.amplitude(1)[-1], sol.amplitude(1)[-1], atol=1e-7))
    True
    """
    model._check_basis(basis)
    s, W = position_weights(n_positions, weight, lam)
    rho0 = np.asarray(rho0, dtype=float)
    if rho0.shape == basis.shape:
        rho0 = np.broadcast_to(rho0, (s.size,) + basis.shape)
    if rho0.shape != (s.size,) + basis.shape:
        raise ValueError(f"rho0 must have shape {basis.shape} or {(s.size,) + basis.shape}, "
                         f"got {rho0.shape}")
    if not np.all(np.isfinite(rho0)) or rho0.min() < 0:
        raise ValueError("rho0 must be finite and nonnegative")
    mass = basis.integrate(rho0)
    if np.any(np.abs(mass - 1.0) > 1e-8):
        raise ValueError(f"each rho0 must have mass 1 w.r.t. sigma, got {mass[:3]}")
    t_final = float(t_final)
    if not (np.isfinite(t_final) and t_final > 0):
        raise ValueError(f"t_final must be finite and > 0, got {t_final}")
    times = np.linspace(0.0, t_final, 21) if t_eval is None else np.asarray(t_eval, float)
    ev = model.evaluator(basis)
    L = model.linear_operator(basis)

    def transport(c: np.ndarray) -> np.ndarray:
        mixed = np.tensordot(W, c, axes=(1, 0))
        return -basis.div(basis.backward(c) * ev.velocity(mixed))

    stepper = get_stepper(method)(L, transport)
    c0 = basis.forward(rho0).astype(basis.coeff_dtype)
    controller = None if dt is not None else StepController(rtol=rtol, atol=atol)

    def check(t: float, c: np.ndarray) -> str | None:
        rho = basis.backward(c)[..., basis.reliable_nodes]
        lo, hi = float(rho.min()), float(rho.max())
        if lo < -1e-8 * hi:
            i = int(np.argmin(rho.reshape(rho.shape[0], -1).min(axis=1)))
            return (f"the density at position s={s[i]:.4g} lost positivity at t={t:.6g} (min "
                    f"{lo:.3e}): under-resolved concentration, increase the number of modes")
        return None

    res = integrate(stepper, c0, times, dt=dt, controller=controller, check=check)
    return KineticSolution(model=model, basis=basis, t=np.asarray(res.t), s=s,
                           coeffs=np.asarray(res.u), W=W, status=res.status,
                           message=res.message)
