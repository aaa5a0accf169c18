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
    sys_ = _Bordered(model, basis, c_ref)
    if np.linalg.norm(sys_.g_ref) < 1e-10:
        raise ValueError("the guess is uniform: a rotating state needs a non-uniform guess")
    n = basis.n_real
    y = np.append(sys_.x_ref, 0.0)
    if speed is None:  # least squares for c at the guess
        r0, gvec = sys_.F(y)[:n], sys_.speed_column(c_ref)
        speed = -float(r0 @ gvec / (gvec @ gvec))
    y[n] = float(speed)
    y, res, it = _newton(sys_.F, sys_.jac, y, tol, max_iter)
    return RotatingState(model=model, basis=basis, coeffs=basis.from_real(y[:n], mass=1.0),
                         speed=float(y[n]), converged=res <= tol, residual=res,
                         iterations=it)


class _Bordered:
    """The rotating-state equation of ``model`` with the phase condition about ``c_ref``.

    Unknowns y = (x, c): x the real coordinates of the profile (mass 1), c the speed.
    ``F`` has n + 1 components (the scaled equation, then the phase condition).
    """

    def __init__(self, model, basis, c_ref: np.ndarray) -> None:
        self.model, self.basis = model, basis
        self.scale = _scaled_rhs_divisor(basis)
        self.L = model.linear_operator(basis)
        self.N = model.nonlinear_term(basis)
        self.ik = 1j * basis.degrees
        self.x_ref = basis.to_real(c_ref)
        self.g_ref = basis.to_real(self.ik * c_ref)
        self.n = basis.n_real

    def speed_column(self, c: np.ndarray) -> np.ndarray:
        return self.basis.to_real(self.ik * c) / self.scale

    def equation(self, y: np.ndarray) -> np.ndarray:
        c = self.basis.from_real(y[:self.n], mass=1.0)
        return self.basis.to_real(self.L * c + self.N(c) + y[self.n] * self.ik * c) / self.scale

    def F(self, y: np.ndarray) -> np.ndarray:
        return np.append(self.equation(y), self.g_ref @ (y[:self.n] - self.x_ref))

    def jac(self, y: np.ndarray) -> np.ndarray:
        b, n = self.basis, self.n
        c = b.from_real(y[:n], mass=1.0)
        lin = self.model.linearization(b, c)
        dirs = b.from_real(np.eye(n), mass=0.0)
        J = np.zeros((n + 1, n + 1))
        J[:n, :n] = (b.to_real(lin(dirs) + y[n] * self.ik * dirs) / self.scale).T
        J[:n, n] = self.speed_column(c)
        J[n, :n] = self.g_ref
        return J


def _newton(F, jac, y: np.ndarray, tol: float, max_iter: int):
    """Damped Newton (Armijo backtracking on the max-norm); returns (y, residual, iterations)."""
    res = float(np.max(np.abs(F(y))))
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        if res <= tol:
            it -= 1
            break
        try:
            dy = np.linalg.solve(jac(y), -F(y))
        except np.linalg.LinAlgError:
            break
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
    return y, res, it


@dataclass
class RotatingBranch:
    """A branch of rotating states continued in ``param_name`` (:func:`rotating_branch`).

    ``params``, ``speeds`` (angular velocity, radians per unit time), ``amplitudes``
    (|rho_mode| of each profile), ``stable`` (the leading eigenvalue of the co-moving
    linearization, the rotation's zero mode set aside, has negative real part) and
    ``coeffs`` (one profile per point, mass 1) along the branch, in the order computed.
    ``hopf``: the Hopf point of the uniform state the branch was started from (None when
    started from a given state).
    """

    model: object
    basis: object
    param_name: str
    mode: int
    params: np.ndarray
    speeds: np.ndarray
    amplitudes: np.ndarray
    stable: np.ndarray
    coeffs: np.ndarray
    hopf: object = None

    def plot(self, path=None):
        """Amplitude and speed against the parameter (solid: stable, dashed: unstable)."""
        import matplotlib.pyplot as plt

        from .plotting import parameters_label

        fig, (ax_a, ax_c) = plt.subplots(2, 1, sharex=True, figsize=(6, 5),
                                         constrained_layout=True)
        for ax, y in ((ax_a, self.amplitudes), (ax_c, self.speeds)):
            for flag, ls in ((True, "-"), (False, "--")):
                yy = np.where(self.stable == flag, y, np.nan)
                ax.plot(self.params, yy, ls, color="C0")
            ax.grid(alpha=0.3)
        if self.hopf is not None:
            ax_a.plot([self.hopf.param], [0.0], "s", mfc="white", mec="C3", ms=7,
                      label=f"Hopf point (frequency {self.hopf.frequency:.4g})")
            ax_a.legend(fontsize="small")
        ax_a.set_ylabel(rf"$|\rho_{self.mode}|$ of the profile")
        ax_c.set_ylabel("rotation speed c")
        ax_c.set_xlabel(self.param_name)
        ax_a.set_title(f"rotating states: {parameters_label(self.model, (self.param_name,))}",
                       fontsize=10)
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig


def _comoving_stable(sys_: _Bordered, y: np.ndarray) -> bool:
    """Stability in the co-moving frame, the rotation's zero eigenvalue set aside."""
    ev = np.linalg.eigvals(sys_.jac(y)[:sys_.n, :sys_.n] * sys_.scale[:, None])
    ev = np.delete(ev, int(np.argmin(np.abs(ev))))
    return bool(np.max(ev.real) < 0)


def rotating_branch(model, basis, param: str = "kappa", bounds=(0.2, 2.0), *, mode: int = 1,
                    start: RotatingState | None = None, ds: float = 0.02,
                    ds_max: float = 0.1, max_points: int = 400,
                    tol: float = 1e-11) -> RotatingBranch:
    """Continue rotating states in ``param`` by pseudo-arclength (circle).

    Unknowns (profile x, speed c, parameter p); equations: the rotating-state equation, the
    phase condition about the previous point (as AUTO and BifurcationKit do for relative
    equilibria) and the arclength condition. Without ``start`` the branch is started at the
    Hopf point of the uniform state for Fourier mode ``mode`` (the parameter where that
    mode's complex pair of eigenvalues crosses the imaginary axis, found from the assembled
    Jacobian), in the direction of the critical mode.

    Parameters
    ----------
    model : MeanFieldModel
        Finite kappa; an interaction commuting with the rotations ("O(d)" or "SO(d)").
    basis : CircleBasis
    param : {"kappa", "noise", "beta"}
    bounds : (lo, hi)
        The window of ``param``; the branch stops where it leaves it (or after
        ``max_points`` points, or when it returns to the uniform state).
    mode : int
        Fourier mode of the Hopf point (without ``start``).
    start : RotatingState, optional
        A converged rotating state to continue from (its model's ``param`` is the start).
    ds, ds_max : float
        Initial and largest arclength step (in the real coordinates and the parameter).
    max_points : int
    tol : float
        Newton tolerance of each point (max-norm of the scaled equations).

    Returns
    -------
    RotatingBranch

    Examples
    --------
    Attention plus a rigid rotation at speed 0.7: the branch born at the Hopf point
    kappa_1 = beta / I_1(beta) rotates at exactly 0.7 everywhere (the rotation commutes with
    the attention: each profile is the stationary cluster of the attention alone):

    >>> import meanfield as mf
    >>> from meanfield.rotating import rotating_branch
    >>> model = mf.MeanFieldModel(mf.AttentionLayer(3.0) + mf.RigidRotation(0.7), kappa=1.0)
    >>> br = rotating_branch(model, mf.CircleBasis(32), "kappa", (0.7, 1.0), max_points=40)
    >>> round(br.hopf.param, 10), round(br.hopf.frequency, 10)
    (0.7588462084, 0.7)
    >>> bool(abs(br.speeds - 0.7).max() < 1e-10), bool(br.amplitudes.max() > 0.3)
    (True, True)
    """
    from .continuation import bifurcation_points_of_uniform, model_at, param_of
    from .diagram import HopfPoint

    if basis.dim != 2:
        raise ValueError("rotating_branch is implemented on the circle (CircleBasis)")
    lo, hi = _check_window(bounds, param)
    ds, ds_max = _check_step(ds, "ds"), _check_step(ds_max, "ds_max")
    n = basis.n_real
    hopf = None
    if start is None:
        roots = bifurcation_points_of_uniform(model, basis, param, (lo, hi), mode)
        if not roots:
            raise ValueError(f"no Hopf point of the uniform state for mode {mode} with "
                             f"{param} in [{lo:g}, {hi:g}]")
        p0 = roots[0]
        m0 = model_at(model, param, p0)
        c_dir = basis.forward(1.0 + np.cos(mode * basis.grid)) - basis.forward(
            np.ones(basis.shape))
        x0 = basis.to_real(basis.forward(np.ones(basis.shape)))
        t_x = basis.to_real(c_dir)
        omega = _hopf_frequency(m0, basis, mode)
        hopf = HopfPoint(param=float(p0), mode=int(mode), amplitude=0.0,
                         frequency=float(mode * abs(omega)))
        y = np.concatenate([x0, [omega, p0]])
        tangent = np.concatenate([t_x / np.linalg.norm(t_x), [0.0, 0.0]])
        c_ref = basis.from_real(x0 + 1e-3 * t_x, mass=1.0)
        points = []
    else:
        if not start.converged:
            raise ValueError("start must be a converged RotatingState")
        p0 = float(param_of(start.model, param))
        y = np.concatenate([basis.to_real(start.coeffs), [start.speed, p0]])
        c_ref = start.coeffs
        tangent = None
        points = [y.copy()]
    ref = _Bordered(model_at(model, param, p0), basis, c_ref)
    if tangent is None:
        tangent = _null_tangent(model, basis, param, ref, y)
    h = ds
    for _ in range(max_points):
        y_pred = y + h * tangent

        def G(z, t=tangent, yp=y_pred, r=ref):
            sys_ = _Bordered(model_at(model, param, z[-1]), basis,
                             basis.from_real(r.x_ref, mass=1.0))
            return np.append(sys_.F(z[:-1]), t @ (z - yp))

        def JG(z, t=tangent, r=ref):
            return _extended_jacobian(model, basis, param, r, z, t)

        try:
            z, res, it = _newton(G, JG, y_pred, tol, 12)
        except (ValueError, FloatingPointError):
            res, it = np.inf, 0
        if not res <= tol:
            h /= 2
            if h < 1e-6:
                break
            continue
        new_tangent = z - y
        tangent = new_tangent / np.linalg.norm(new_tangent)
        y = z
        points.append(y.copy())
        ref = _Bordered(model_at(model, param, y[-1]), basis,
                        basis.from_real(y[:n], mass=1.0))
        if not lo <= y[-1] <= hi:
            break
        c = basis.from_real(y[:n], mass=1.0)
        if float(basis.amplitude(c, mode)) < 1e-6 and len(points) > 3:
            break  # back at the uniform state
        if it <= 3:
            h = min(1.3 * h, ds_max)
    if not points:
        raise ValueError("the continuation did not converge from its start: try a smaller ds")
    ys = np.array(points)
    coeffs = basis.from_real(ys[:, :n], mass=1.0)
    stable = np.array([_comoving_stable(_Bordered(model_at(model, param, yy[-1]), basis,
                                                  basis.from_real(yy[:n], mass=1.0)), yy[:-1])
                       for yy in ys])
    return RotatingBranch(model=model, basis=basis, param_name=param, mode=int(mode),
                          params=ys[:, -1], speeds=ys[:, n],
                          amplitudes=np.array([float(basis.amplitude(c, mode)) for c in coeffs]),
                          stable=stable, coeffs=coeffs, hopf=hopf)


def _extended_jacobian(model, basis, param, ref: _Bordered, z: np.ndarray,
                       tangent: np.ndarray) -> np.ndarray:
    """d/dz of (equation, phase condition, arclength) with z = (x, c, p); the p column by
    central differences."""
    from .continuation import model_at

    n = basis.n_real
    p = float(z[-1])
    c_ref = basis.from_real(ref.x_ref, mass=1.0)
    here = _Bordered(model_at(model, param, p), basis, c_ref)
    J = np.zeros((n + 2, n + 2))
    J[:n + 1, :n + 1] = here.jac(z[:-1])
    dp = 1e-6 * max(1.0, abs(p))
    plus = _Bordered(model_at(model, param, p + dp), basis, c_ref).equation(z[:-1])
    minus = _Bordered(model_at(model, param, p - dp), basis, c_ref).equation(z[:-1])
    J[:n, -1] = (plus - minus) / (2 * dp)
    J[-1] = tangent
    return J


def _null_tangent(model, basis, param, ref: _Bordered, y: np.ndarray) -> np.ndarray:
    """Unit tangent of the branch at y: the null vector of the (n + 1) x (n + 2) Jacobian,
    oriented to increase the parameter."""
    J = _extended_jacobian(model, basis, param, ref, y, np.zeros(y.size))[:-1]
    t = np.linalg.svd(J)[2][-1]
    return t if t[-1] >= 0 else -t


def _hopf_frequency(model, basis, mode: int) -> float:
    """Speed -Im(lambda)/k of the critical complex pair of the uniform state (mode k)."""
    c = basis.forward(np.ones(basis.shape))
    cos = basis.forward(np.cos(mode * basis.grid))
    sin = basis.forward(np.sin(mode * basis.grid))
    lin = model.linearization(basis, c)
    # the 2 x 2 block of the linearization on span(cos, sin): [[a, -b], [b, a]]
    m = np.array([[basis.inner(lin(u), v).real / basis.inner(v, v).real for u in (cos, sin)]
                  for v in (cos, sin)])
    # theta' = c rotates cos k(theta - c t) = cos k theta cos kct + sin k theta sin kct
    return float(m[1, 0] / mode)


def _check_window(bounds, param: str) -> tuple[float, float]:
    from .continuation import check_bounds

    return check_bounds(bounds)


def _check_step(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)
