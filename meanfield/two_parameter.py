"""Two-parameter continuation: the fold curve kappa_fold(beta) and the branch-point curve.

The fold of the mode-k branch at fixed beta is a regular zero of the extended system

    R(x, kappa) = 0,   J(x, kappa) phi = 0,   <l, phi> = 1

(unknowns x on the branch subspace, the null vector phi, kappa; R the scaled stationary
equation of :mod:`meanfield.stationary`, J = dR/dx, l the null vector at the start), which
is followed in beta by secant prediction and Newton correction. The derivatives of J phi
are taken by central differences of the exact Jacobian (second order, ~1e-10), so Newton
converges to the residual tolerance. The start is the fold that
:func:`meanfield.bifurcation_diagram` locates at the first beta.

The branch-point curve is kappa_k(beta), where mode k of rho = 1 changes stability, located
by Brent's method on the numerically linearized growth rate at each beta (the closed form
beta / lambda_k(beta) is a check, not an input).

Along the fold curve the branch's amplitude a at the fold goes to zero at the tricritical
point beta_* where the fold is born from the branch-point curve: a^2 is linear in
beta - beta_* to leading order, and :func:`tricritical_point` extrapolates it from the last
computed fold points: beta_* comes out of the computation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .continuation import BranchSystem, bifurcation_diagram, bifurcation_points_of_uniform, model_at


@dataclass
class Curve:
    """Points (beta, kappa) of a continued curve, with the order parameter along it."""

    kind: str
    beta: np.ndarray
    kappa: np.ndarray
    amplitude: np.ndarray
    solve: object = field(default=None, repr=False)  # beta, guess kappa -> exact kappa

    def at(self, beta: float) -> float:
        """kappa on the curve at ``beta``: the curve's own equation solved there (Newton from
        the cubic interpolant of the computed points), exact to the solver's tolerance."""
        from scipy.interpolate import CubicSpline

        b = np.asarray(self.beta)
        if not b.min() <= beta <= b.max():
            raise ValueError(f"beta={beta} is outside the curve's range [{b.min()}, {b.max()}]")
        order = np.argsort(b)
        guess = float(CubicSpline(b[order], np.asarray(self.kappa)[order])(beta)) if \
            b.size > 1 else float(self.kappa[0])
        return guess if self.solve is None else float(self.solve(float(beta), guess))


def _start_window(model, basis, betas, mode: int, kappa_bounds):
    """Checked betas and the kappa window of the start's diagram (0.5 .. 1.2 kappa_k)."""
    betas = np.asarray(betas, dtype=float)
    if betas.ndim != 1 or betas.size < 1 or not np.all(np.isfinite(betas)):
        raise ValueError("betas must be a non-empty 1-D array of finite values")
    if kappa_bounds is None:
        k1 = bifurcation_points_of_uniform(model_at(model, "beta", float(betas[0])), basis,
                                           "kappa", (1e-3, 1e3), mode, n_scan=200)
        if not k1:
            raise ValueError(f"no branch point of mode {mode} at beta={betas[0]}")
        kappa_bounds = (0.5 * k1[0], 1.2 * k1[0])
    return betas, kappa_bounds


def _fold_start(model, basis, beta: float, mode: int, bounds):
    m = model_at(model, "beta", beta)
    d = bifurcation_diagram(m, basis, "kappa", bounds, modes=(mode,))
    if not d.folds:
        raise ValueError(f"no fold of the mode-{mode} branch at beta={beta} in kappa in "
                         f"{bounds}: start the fold curve above the tricritical point")
    fold = d.folds[0]
    br = d.branches[0]
    i = int(np.argmin(np.abs(np.asarray(br.param) - fold.param)))
    bs = BranchSystem(m, basis, "kappa", mode=mode)
    x = bs.y_of(_on_basis(br.coeffs[i], bs.basis), fold.param)[:-1]
    J = bs.system(fold.param).jacobian(x)
    phi = np.linalg.svd(J)[2][-1]
    return bs, np.concatenate([x, phi, [fold.param]])


def _extended(bs: BranchSystem, z: np.ndarray, ell: np.ndarray, h: float = 1e-5):
    n = bs.n
    x, phi, k = z[:n], z[n:2 * n], float(z[-1])
    sys_ = bs.system(k)
    R = sys_.residual(x)
    J = sys_.jacobian(x)
    F = np.concatenate([R, J @ phi, [ell @ phi - 1.0]])
    jk = (bs.system(k * (1 + h)).residual(x) - bs.system(k * (1 - h)).residual(x)) / (2 * k * h)
    # d(J phi)/dx v = d(J v)/dx phi: central differences of J along phi
    s = h * max(1.0, float(np.linalg.norm(x))) / max(float(np.linalg.norm(phi)), 1e-300)
    dJphi = (sys_.jacobian(x + s * phi) - sys_.jacobian(x - s * phi)) / (2 * s)
    dJk = (bs.system(k * (1 + h)).jacobian(x) - bs.system(k * (1 - h)).jacobian(x)) @ phi / (
        2 * k * h)
    DF = np.zeros((2 * n + 1, 2 * n + 1))
    DF[:n, :n] = J
    DF[:n, -1] = jk
    DF[n:2 * n, :n] = dJphi
    DF[n:2 * n, n:2 * n] = J
    DF[n:2 * n, -1] = dJk
    DF[-1, n:2 * n] = ell
    return F, DF


def _correct_fold(bs, z, ell, tol, max_iter=30):
    for _ in range(max_iter):
        F, DF = _extended(bs, z, ell)
        if np.max(np.abs(F)) <= tol:
            return z, True
        z = z - np.linalg.solve(DF, F)
    return z, bool(np.max(np.abs(_extended(bs, z, ell)[0])) <= tol)


def fold_curve(model, basis, betas, *, mode: int = 1, kappa_bounds=None,
               tol: float = 1e-11) -> Curve:
    """The fold of the mode-``mode`` branch continued over ``betas`` (module docstring).

    Parameters
    ----------
    model : MeanFieldModel
        An attention model (its beta and kappa are replaced along the curve).
    basis : a basis resolving the kernel at the largest beta.
    betas : array_like
        Increasing or decreasing values of beta on the subcritical side of beta_*; the
        start is located by :func:`meanfield.bifurcation_diagram` at ``betas[0]``.
    kappa_bounds : (lo, hi), optional
        Window for the start's diagram (default: 0.5 .. 1.2 times kappa_k at betas[0]).

    Returns
    -------
    Curve
        ``kind`` "fold"; kappa and the amplitude of the branch at the fold, per beta.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.two_parameter import fold_curve
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> fc = fold_curve(model, mf.CircleBasis(32), [3.0, 3.2])
    >>> round(float(fc.kappa[0]), 10)  # the fold of the beta = 3 diagram
    0.7502601061
    """
    betas, kappa_bounds = _start_window(model, basis, betas, mode, kappa_bounds)
    bs, z = _fold_start(model, basis, betas[0], mode, kappa_bounds)
    ell = z[bs.n:2 * bs.n].copy()
    zs, amps = [], []
    amp_prev = None
    for i, beta in enumerate(betas):
        bs = BranchSystem(model_at(model, "beta", float(beta)), basis, "kappa", mode=mode)
        guess = z if len(zs) < 2 else zs[-1] + (zs[-1] - zs[-2]) * (
            (beta - betas[i - 1]) / (betas[i - 1] - betas[i - 2]))
        z, ok = _correct_fold(bs, guess, ell, tol)
        amp = float(basis.amplitude(bs.coeffs(np.append(z[:bs.n], z[-1])), mode)) if ok else 0.0
        if not ok or (amp_prev is not None and amp < 0.05 * amp_prev):
            # the extended system also vanishes at the branch point of rho = 1: past beta_*
            # (or too close to it) Newton lands there; the curve ends at the last fold
            warnings.warn(f"the fold curve ends before beta={beta:g}: the fold has met the "
                          "branch-point curve (beta_* is near)", stacklevel=2)
            break
        zs.append(z)
        amps.append(amp)
        amp_prev = amp
    n = len(zs)
    points = list(zip(betas[:n], zs, strict=True))

    def solve(beta: float, guess: float) -> float:
        near = min(points, key=lambda bz: abs(bz[0] - beta))[1].copy()
        near[-1] = guess
        bsb = BranchSystem(model_at(model, "beta", beta), basis, "kappa", mode=mode)
        zb, ok = _correct_fold(bsb, near, ell, tol)
        if not ok:
            raise RuntimeError(f"the fold equation did not converge at beta={beta:g}")
        return float(zb[-1])
    return Curve("fold", betas[:n].copy(), np.array([zz[-1] for zz in zs]), np.array(amps),
                 solve)


def _maxwell_system(bs: BranchSystem, y: np.ndarray, h: float = 1e-7):
    """[R(x, kappa); F(x, kappa) - F_uniform(kappa)] and its Jacobian (F row by differences)."""
    from .free_energy import free_energy

    n = bs.n
    x, k = y[:n], float(y[-1])
    basis = bs.basis
    uniform = np.ones(basis.shape)

    def dF(xx, kk):
        m = model_at(bs.model, "kappa", kk)
        rho = basis.backward(bs.coeffs(np.append(xx, kk)))
        return float(free_energy(m, basis, rho) - free_energy(m, basis, uniform))
    G = np.append(bs.residual(y), dF(x, k))
    DG = np.zeros((n + 1, n + 1))
    DG[:n] = bs.jacobian(y)
    eye = np.eye(n)
    DG[n, :n] = [(dF(x + h * e, k) - dF(x - h * e, k)) / (2 * h) for e in eye]
    DG[n, n] = (dF(x, k * (1 + h)) - dF(x, k * (1 - h))) / (2 * k * h)
    # rho = 1 solves both equations at every kappa: deflate it (m = 1/|x|^2 + 1)
    r2 = max(float(x @ x), 1e-300)
    m = 1.0 / r2 + 1.0
    grad_m = np.append(-2.0 * x / r2**2, 0.0)
    return m * G, m * DG + np.outer(G, grad_m)


def _on_basis(c, basis) -> np.ndarray:
    """Coefficients of a diagram point (possibly on a refined basis) on ``basis``."""
    c = np.asarray(c)
    if c.shape[-1:] == basis.coeff_shape:
        return c
    n = c.shape[-1]
    for deg in {n - 1, int(round(np.sqrt(n))) - 1}:  # circle / zonal, S^2
        if deg >= 1:
            other = basis.with_max_degree(deg)
            if other.coeff_shape == c.shape[-1:]:
                return other.convert(c, basis)
    raise ValueError(f"coefficients of shape {c.shape} do not belong to a {basis!r} family")


def maxwell_curve(model, basis, betas, *, mode: int = 1, kappa_bounds=None,
                  tol: float = 1e-11) -> Curve:
    """kappa_c(beta): the branch's free energy equals the uniform state's (first-order line).

    The start is the first-order transition that :func:`meanfield.bifurcation_diagram`
    locates at ``betas[0]``; then Newton on [R = 0, F - F_uniform = 0] in (x, kappa), with
    secant prediction in beta.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.two_parameter import maxwell_curve
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> mc = maxwell_curve(model, mf.CircleBasis(32), [3.0, 3.2])
    >>> round(float(mc.kappa[0]), 9)  # kappa_c of the beta = 3 diagram
    0.752187766
    """
    betas, kappa_bounds = _start_window(model, basis, betas, mode, kappa_bounds)
    m0 = model_at(model, "beta", float(betas[0]))
    d = bifurcation_diagram(m0, basis, "kappa", kappa_bounds, modes=(mode,))
    if not d.first_order_transitions:
        raise ValueError(f"no first-order transition at beta={betas[0]}: start the Maxwell "
                         "curve above the tricritical point")
    tr = d.first_order_transitions[0]
    br = d.branches[0]
    i = int(np.argmin(np.abs(np.asarray(br.param) - tr.param)
                      + np.abs(np.asarray(br.amplitude) - tr.amplitude)))
    y = BranchSystem(m0, basis, "kappa", mode=mode).y_of(_on_basis(br.coeffs[i], basis),
                                                         tr.param)
    ys, amps = [], []

    def correct(bs, y):
        G, DG = _maxwell_system(bs, y)
        for _ in range(40):
            norm = float(np.max(np.abs(G)))
            if norm <= tol:
                return y, True
            step, alpha = np.linalg.solve(DG, G), 1.0
            while alpha >= 1.0 / 256:  # backtracking: densities must stay positive
                try:
                    G_try, DG_try = _maxwell_system(bs, y - alpha * step)
                    new = float(np.max(np.abs(G_try)))
                    # Newton may rise once before converging: accept a bounded rise
                    if np.isfinite(new) and new < 10.0 * norm:
                        break
                except ValueError:
                    pass
                alpha /= 2
            else:
                return y, False
            y, G, DG = y - alpha * step, G_try, DG_try
        return y, bool(np.max(np.abs(G)) <= tol)

    for j, beta in enumerate(betas):
        bs = BranchSystem(model_at(model, "beta", float(beta)), basis, "kappa", mode=mode)
        guess = y.copy()  # the last point, kappa by the secant (extrapolating the profile
        if len(ys) >= 2:  # can leave the positive densities)
            guess[-1] = ys[-1][-1] + (ys[-1][-1] - ys[-2][-1]) * (
                (beta - betas[j - 1]) / (betas[j - 1] - betas[j - 2]))
        y, ok = correct(bs, guess)
        amp = float(basis.amplitude(bs.coeffs(y), mode)) if ok else 0.0
        if not ok or (amps and amp < 0.05 * amps[-1]):
            warnings.warn(f"the Maxwell curve ends before beta={beta:g}: it has met the "
                          "branch-point curve (beta_* is near)", stacklevel=2)
            break
        ys.append(y)
        amps.append(amp)

    def solve(beta: float, guess: float) -> float:
        near = min(zip(betas, ys, strict=False), key=lambda by: abs(by[0] - beta))[1].copy()
        near[-1] = guess
        bsb = BranchSystem(model_at(model, "beta", beta), basis, "kappa", mode=mode)
        yb, ok = correct(bsb, near)
        if not ok:
            raise RuntimeError(f"the Maxwell equation did not converge at beta={beta:g}")
        return float(yb[-1])
    n = len(ys)
    return Curve("maxwell", betas[:n].copy(), np.array([yy[-1] for yy in ys]),
                 np.array(amps), solve)


def branch_point_curve(model, basis, betas, *, mode: int = 1) -> Curve:
    """kappa_k(beta), where mode k of rho = 1 changes stability (Brent on the growth rate).

    Examples
    --------
    >>> import meanfield as mf
    >>> from scipy.special import iv
    >>> from meanfield.two_parameter import branch_point_curve
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> bp = branch_point_curve(model, mf.CircleBasis(32), [2.0, 3.0])
    >>> bool(abs(bp.kappa[1] - 3.0 / iv(1, 3.0)) < 1e-12)
    True
    """
    out = []
    for beta in np.asarray(betas, dtype=float):
        roots = bifurcation_points_of_uniform(model_at(model, "beta", float(beta)), basis,
                                              "kappa", (1e-3, 1e3), mode, n_scan=200)
        out.append(roots[0] if roots else np.nan)
    betas = np.asarray(betas, dtype=float)
    def solve(beta: float, guess: float) -> float:
        roots = bifurcation_points_of_uniform(model_at(model, "beta", beta), basis, "kappa",
                                              (0.5 * guess, 2.0 * guess), mode)
        return roots[0] if roots else float("nan")
    return Curve("branch point", betas.copy(), np.array(out), np.zeros(betas.size), solve)


def tricritical_point(fold: Curve, n_fit: int = 3) -> float:
    """beta_* where the fold curve is born from the branch-point curve (amplitude -> 0).

    Fits a^2 = p(beta) (a polynomial of degree n_fit - 1 through the n_fit points of the
    fold curve nearest to its small-amplitude end) and returns its root.
    """
    b = np.asarray(fold.beta)
    a2 = np.asarray(fold.amplitude) ** 2
    idx = np.argsort(a2)[:n_fit]
    coef = np.polyfit(b[idx], a2[idx], n_fit - 1)
    roots = np.roots(coef)
    roots = roots[np.isreal(roots)].real
    near = roots[np.argmin(np.abs(roots - b[idx][0]))]
    return float(near)


@dataclass
class Codim2Point:
    """A codimension-two point of the phase diagram (``kind``: "tricritical")."""

    beta: float
    kappa: float
    kind: str


def phase_curves(pd, n_points: int = 60) -> dict:
    """The continued fold curve, the branch-point curve and beta_* of a phase diagram.

    The fold curve starts at the largest sampled beta with a first-order transition and is
    continued down towards the tricritical point (``n_points`` values of beta, spaced
    geometrically closer near beta_*); beta_* is then extrapolated from it
    (:func:`tricritical_point`), independently of the curvature-based ``pd.beta_star``.
    """
    from .continuation import _default_basis_for
    from .kernels import AttentionKernel
    from .model import MeanFieldModel

    sub = np.asarray(pd.beta)[[k == "subcritical" for k in pd.kind]]
    model = MeanFieldModel(AttentionKernel(float(np.max(pd.beta))), kappa=1.0,
                           dynamics=pd.dynamics, dim=pd.dim)
    factory = getattr(pd, "_basis_factory", None)
    basis = factory(float(np.max(pd.beta))) if factory is not None else _default_basis_for(model)
    out = {"branch_point_curve": branch_point_curve(model, basis, np.asarray(pd.beta)),
           "fold_curve": None, "maxwell_curve": None, "codim2_points": []}
    if sub.size == 0 or not np.isfinite(pd.beta_star):
        return out
    top, star = float(sub.max()), float(pd.beta_star)
    gap = (top - star) * np.geomspace(1.0, 1e-3, n_points)
    fc = fold_curve(model, basis, star + gap)
    out["fold_curve"] = fc
    try:  # the Maxwell curve is not needed for the codimension-two point: never fatal
        out["maxwell_curve"] = maxwell_curve(model, basis, star + gap[: max(2, n_points // 2)])
    except ValueError as err:
        import warnings

        warnings.warn(f"the Maxwell curve could not be continued ({err}); maxwell_curve is None",
                      stacklevel=2)
    if fc.beta.size >= 4:
        b_star = tricritical_point(fc, 4)
        k_star = branch_point_curve(model, basis, [b_star]).kappa[0]
        out["codim2_points"] = [Codim2Point(beta=b_star, kappa=float(k_star),
                                            kind="tricritical")]
    return out


@dataclass
class TricriticalCurve:
    """beta_*^{(d)} (and kappa_* = kappa_1(beta_*)) over dimensions d (:func:`tricritical_curve`).

    Each point is located by two-parameter continuation: the fold curve of the 1-cluster
    branch continued in (beta, kappa) towards the branch-point curve, beta_* where its
    amplitude vanishes (:func:`tricritical_point`).
    """

    dim: np.ndarray
    beta: np.ndarray
    kappa: np.ndarray

    def plot(self, ax=None):
        """beta_*^{(d)} against d (log scale in d)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
        ax.semilogx(self.dim, self.beta, "o-")
        ax.set_xlabel("dimension d (sphere S^{d-1})")
        ax.set_ylabel(r"tricritical $\beta_*^{(d)}$")
        ax.set_title("first transition: continuous below, first order above", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        return ax


def tricritical_curve(dims, *, dynamics: str = "usa", bracket=(0.5, 4.0)) -> TricriticalCurve:
    """The tricritical point beta_*^{(d)} as a function of the dimension d.

    For each d, ``phase_diagram(bracket, dim=d)`` (circle for d = 2, zonal densities
    otherwise) must find a continuous transition at ``bracket[0]`` and a first-order one at
    ``bracket[1]``; its ``codim2_points`` (from the continued fold curve) give beta_*.

    Examples
    --------
    >>> from meanfield.two_parameter import tricritical_curve
    >>> tc = tricritical_curve([3])
    >>> round(float(tc.beta[0]), 8)  # the closed form of the normal form: 1.8161545254...
    1.81615453
    """
    from .continuation import phase_diagram

    dims = [int(d) for d in np.atleast_1d(dims)]
    if any(d < 2 for d in dims):
        raise ValueError(f"dims must be integers >= 2, got {dims}")
    betas, kappas = [], []
    for d in dims:
        pd = phase_diagram(list(bracket), dim=d, dynamics=dynamics)
        if pd.kind != ["supercritical", "subcritical"]:
            raise ValueError(f"d={d}: the transition is {pd.kind} at beta = {bracket}: the "
                             "bracket does not contain beta_*; widen it")
        (cp,) = pd.codim2_points
        betas.append(cp.beta)
        kappas.append(cp.kappa)
    return TricriticalCurve(np.array(dims), np.array(betas), np.array(kappas))
