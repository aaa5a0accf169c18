"""Rotating states (relative equilibria) on the circle: stationary in a rotating frame.

Flows of weighted layers need not be gradient flows: a value matrix with a rotational part
(V = v I + w J commutes with the rotations of the circle) makes clusters travel. A rotating
state is rho(t, theta) = rho_*(theta - c t): in coefficients c_k(t) = e^{-i k c t} c_k*, so

    L c* + N(c*) + c (i k c*) = 0,

an equation for the profile c* and the unknown speed c. The rotation makes every such
state part of a circle of states; the phase condition <x - x_ref, g_ref> = 0 (g_ref =
d/dtheta of the reference profile, in real coordinates) picks one, as in AUTO's and
BifurcationKit's treatment of relative equilibria. Solved by Newton's method on the
bordered system (unknowns: the real coordinates of c* with the mass fixed, and c), the
equation scaled by the Laplacian's eigenvalue as in :mod:`meanfield.stationary`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stationary import _scaled_rhs_divisor


@dataclass
class RotatingState:
    """A relative equilibrium: ``coeffs`` (the profile, mass 1) moving at ``speed``.

    ``speed`` is the angular velocity c (radians per unit time, positive = increasing
    theta); ``residual`` the max-norm of the scaled equation.
    """

    model: object
    basis: object
    coeffs: np.ndarray
    speed: float
    converged: bool
    residual: float
    iterations: int

    @property
    def rho(self) -> np.ndarray:
        """The profile on ``basis.grid`` (w.r.t. sigma)."""
        return self.basis.backward(self.coeffs)

    def amplitude(self, k: int) -> float:
        """|rho_k| of the profile."""
        return float(self.basis.amplitude(self.coeffs, k))


def rotating_state(model, basis, guess, *, speed: float | None = None, tol: float = 1e-12,
                   max_iter: int = 50) -> RotatingState:
    """Newton's method for a rotating state (module docstring) on the circle.

    Parameters
    ----------
    model : MeanFieldModel
        Its interaction must commute with the rotations (``symmetry`` "O(d)" or "SO(d)").
    basis : CircleBasis
    guess : ndarray
        A density on ``basis.grid`` near the profile.
    speed : float, optional
        Initial guess of c (default: the least-squares speed of the guess).

    Returns
    -------
    RotatingState

    Examples
    --------
    A head whose value matrix has a rotational part drives a travelling cluster:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.rotating import rotating_state
    >>> J = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> model = mf.MeanFieldModel(mf.AttentionLayer(3.0, V=np.eye(2) + 0.5 * J), kappa=1.0)
    >>> basis = mf.CircleBasis(48)
    >>> rs = rotating_state(model, basis, mf.initial.von_mises(basis, 4.0))
    >>> rs.converged, round(rs.speed, 6), round(rs.amplitude(1), 6)
    (True, 5.499989, 0.560621)
    """
    if basis.dim != 2:
        raise ValueError("rotating_state is implemented on the circle (CircleBasis)")
    if model.interaction.symmetry not in ("O(d)", "SO(d)"):
        raise ValueError(f"{model.kernel!r} does not commute with rotations: it has no "
                         "rotating states")
    if np.isinf(model.kappa):
        raise ValueError("rotating states need noise: kappa must be finite")
    rho0 = np.asarray(guess, dtype=float)
    if rho0.shape != basis.shape or not np.all(np.isfinite(rho0)) or rho0.min() < 0:
        raise ValueError(f"guess must be a nonnegative density of shape {basis.shape}")
    c_ref = basis.forward(rho0 / basis.integrate(rho0))
    scale = _scaled_rhs_divisor(basis)
    L = model.linear_operator(basis)
    N = model.nonlinear_term(basis)
    ik = 1j * basis.degrees
    g_ref = basis.to_real(ik * c_ref)
    if np.linalg.norm(g_ref) < 1e-10:
        raise ValueError("the guess is uniform: a rotating state needs a non-uniform guess")
    x_ref = basis.to_real(c_ref)
    n = basis.n_real

    def F(y: np.ndarray) -> np.ndarray:
        c = basis.from_real(y[:n], mass=1.0)
        eq = basis.to_real(L * c + N(c) + y[n] * ik * c) / scale
        return np.append(eq, g_ref @ (y[:n] - x_ref))

    def jac(y: np.ndarray) -> np.ndarray:
        c = basis.from_real(y[:n], mass=1.0)
        lin = model.linearization(basis, c)
        dirs = basis.from_real(np.eye(n), mass=0.0)
        cols = basis.to_real(lin(dirs) + y[n] * ik * dirs) / scale
        J = np.zeros((n + 1, n + 1))
        J[:n, :n] = cols.T
        J[:n, n] = basis.to_real(ik * c) / scale
        J[n, :n] = g_ref
        return J

    y = np.append(x_ref, 0.0)
    if speed is None:  # least squares for c at the guess
        r0, gvec = F(y)[:n], basis.to_real(ik * c_ref) / scale
        speed = -float(r0 @ gvec / (gvec @ gvec))
    y[n] = float(speed)
    res = float(np.max(np.abs(F(y))))
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        if res <= tol:
            it -= 1
            break
        dy = np.linalg.solve(jac(y), -F(y))
        alpha = 1.0
        while alpha >= 1.0 / 1024:
            y_try = y + alpha * dy
            r_try = float(np.max(np.abs(F(y_try))))
            if np.isfinite(r_try) and r_try < (1 - 1e-4 * alpha) * res:
                break
            alpha /= 2
        else:
            break
        y, res = y_try, r_try
    return RotatingState(model=model, basis=basis, coeffs=basis.from_real(y[:n], mass=1.0),
                         speed=float(y[n]), converged=res <= tol, residual=res,
                         iterations=it)
