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

:func:`fold_path` follows the same extended system by pseudo-arclength in
(x, phi, beta, kappa) instead of in beta, so it passes turning points in beta: the
tricritical point itself is one (beta - beta_* ~ a^2; the path goes on along the mirror
image of the branch), and so is a cusp, where two folds merge. Codimension-two points are
located along it: the tricritical point where the critical coordinate a changes sign, cusps
where the fold's quadratic coefficient <w, D^2R(v, v)> does (w the left null vector).
:func:`tricritical_curve` uses it on zonal or planar densities.
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


def _threshold(model, basis, mode: int, beta: float) -> float:
    roots = bifurcation_points_of_uniform(model_at(model, "beta", float(beta)), basis, "kappa",
                                          (1e-3, 1e3), mode, n_scan=200)
    return roots[0] if roots else float("nan")


def _predict_kappa(model, basis, mode: int, done, ys, beta: float) -> float:
    """kappa at ``beta`` from the points ``ys`` at the betas ``done``: a secant in log kappa
    (kappa ~ e^(-beta) at large beta); from one point, scaled as the branch point kappa_k."""
    if len(ys) >= 2:
        lk1, lk0 = np.log(ys[-1][-1]), np.log(ys[-2][-1])
        return float(np.exp(lk1 + (lk1 - lk0) * (beta - done[-1]) / (done[-1] - done[-2])))
    ratio = _threshold(model, basis, mode, beta) / _threshold(model, basis, mode, done[-1])
    return float(ys[-1][-1] * ratio) if np.isfinite(ratio) else float(ys[-1][-1])


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
        guess = y.copy()  # the last point (extrapolating the profile can leave the
        if ys:  # positive densities), kappa predicted
            guess[-1] = _predict_kappa(model, basis, mode, betas[:j], ys, beta)
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
    """A codimension-two point of the phase diagram (``kind``: "tricritical" or "cusp")."""

    beta: float
    kappa: float
    kind: str


def phase_curves(pd, n_points: int = 60, cusps: bool = False) -> dict:
    """The continued fold curve, the branch-point curve and beta_* of a phase diagram.

    The fold curve starts at the largest sampled beta with a first-order transition and is
    continued down towards the tricritical point (``n_points`` values of beta, spaced
    geometrically closer near beta_*); beta_* is then extrapolated from it
    (:func:`tricritical_point`), independently of the curvature-based ``pd.beta_star``.
    ``cusps``: also follow the fold by pseudo-arclength from there (:func:`fold_path`, which
    passes turning points in beta) and add its cusps to ``codim2_points``; the path is
    returned as ``"fold_path"``.
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
    if cusps:
        out["fold_path"] = fp = fold_path(model, basis, top, mirror=False)
        out["codim2_points"] += [c for c in fp.codim2_points if c.kind == "cusp"]
    return out


@dataclass
class TricriticalCurve:
    """beta_*^{(d)} (and kappa_* = kappa_1(beta_*)) over dimensions d (:func:`tricritical_curve`).

    Each point is located by two-parameter continuation: the fold curve of the 1-cluster
    branch followed by pseudo-arclength (:func:`fold_path`) down to where it meets the
    branch-point curve, beta_* where its amplitude goes through zero. ``basis``: the family
    of densities it was computed on ("zonal" or "planar"; the circle for d = 2).
    """

    dim: np.ndarray
    beta: np.ndarray
    kappa: np.ndarray
    basis: str = "zonal"

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


BASIS_FAMILIES = ("zonal", "planar")


def _family_basis(family: str, model, lmax: int | None):
    """The basis of ``family`` for ``model`` (circle for dim 2); default lmax as
    :func:`meanfield.continuation.phase_diagram` (twice the kernel's degree at 1e-12)."""
    from .bases import CircleBasis, PlanarBasis, ZonalBasis

    if lmax is None:
        need = model.required_degree(1e-12)
        lmax = max(31, 2 * ((need or 15) + 1) - 1)
    if model.dim == 2:
        return CircleBasis(int(lmax) + 1)
    return (ZonalBasis if family == "zonal" else PlanarBasis)(model.dim, int(lmax))


def tricritical_curve(dims, *, dynamics: str = "usa", bracket=(0.5, 4.0), basis: str = "zonal",
                      lmax: int | None = None) -> TricriticalCurve:
    """The tricritical point beta_*^{(d)} as a function of the dimension d.

    For each d the first transition must be continuous at ``bracket[0]`` and first order at
    ``bracket[1]`` (the curvature of :func:`meanfield.continuation.first_bifurcation`);
    the fold of the 1-cluster branch at ``bracket[1]`` is then followed by pseudo-arclength
    (:func:`fold_path`) to the tricritical point, where it meets the branch-point curve.

    Parameters
    ----------
    dims : int or sequence of int
        Dimensions d >= 2 (sphere S^{d-1}).
    basis : {"zonal", "planar"}
        The family of densities: ``ZonalBasis(d, lmax)`` or ``PlanarBasis(d, lmax)`` (d >= 3;
        the 1-cluster branch is zonal about an in-plane axis, so both give the same beta_*);
        the circle for d = 2.
    lmax : int, optional
        Maximal degree (default: twice the kernel's degree at ``bracket[1]``, at least 31;
        the planar basis holds (lmax + 1)(lmax + 2)/2 coefficients against lmax + 1, so a
        smaller lmax with a narrower bracket is much faster there).

    Examples
    --------
    >>> from meanfield.two_parameter import tricritical_curve
    >>> tc = tricritical_curve([3])
    >>> round(float(tc.beta[0]), 8)  # the closed form of the normal form: 1.8161545254...
    1.81615453
    """
    from .continuation import first_bifurcation
    from .kernels import AttentionKernel
    from .model import MeanFieldModel

    dims = [int(d) for d in np.atleast_1d(dims)]
    if any(d < 2 for d in dims):
        raise ValueError(f"dims must be integers >= 2, got {dims}")
    if basis not in BASIS_FAMILIES:
        raise ValueError(f"basis must be one of {BASIS_FAMILIES}, got {basis!r}")
    if basis == "planar" and 2 in dims:
        raise ValueError("basis='planar' needs dims >= 3 (use 'zonal': the circle for d = 2)")
    lo, hi = (float(b) for b in bracket)
    betas, kappas = [], []
    for d in dims:
        model = MeanFieldModel(AttentionKernel(hi), kappa=1.0, dynamics=dynamics, dim=d)
        bas = _family_basis(basis, model, lmax)
        kinds = [first_bifurcation(model_at(model, "beta", b), bas).kind for b in (lo, hi)]
        if kinds != ["supercritical", "subcritical"]:
            raise ValueError(f"d={d}: the transition is {kinds} at beta = {bracket}: the "
                             "bracket does not contain beta_*; widen it")
        fp = fold_path(model, bas, hi, start="scan", beta_bounds=(lo, hi), mirror=False)
        cps = [c for c in fp.codim2_points if c.kind == "tricritical"]
        if not cps:
            raise RuntimeError(f"d={d}: the fold path from beta={hi} did not reach the "
                               f"branch-point curve above beta={lo}")
        betas.append(cps[0].beta)
        kappas.append(cps[0].kappa)
    return TricriticalCurve(np.array(dims), np.array(betas), np.array(kappas), basis)


# ---------------------------------------------------------------------------------------
# the fold curve by pseudo-arclength in (x, phi, beta, kappa): turning points and cusps
# ---------------------------------------------------------------------------------------


def _fold_start_scan(model, basis, beta: float, mode: int, kappa_guess: float,
                     step: float = 0.05, max_steps: int = 200, tol: float = 1e-11):
    """A fold at ``beta`` without spectra: the branch solved at fixed critical coordinate
    a = step, 2 step, ... (branch switching's equation) until kappa(a) turns, then Newton on
    the fold's extended system from the smallest kappa. Returns (BranchSystem, z, ell)."""
    from .continuation import _solve_at_amplitude

    bs = BranchSystem(model_at(model, "beta", float(beta)), basis, "kappa", mode=mode)
    ys = [_solve_at_amplitude(bs, mode, step, kappa_guess, tol=tol)]
    for j in range(2, max_steps):
        ys.append(_solve_at_amplitude(bs, mode, j * step, ys[-1][-1], ys[-1], tol=tol))
        if ys[-1][-1] > ys[-2][-1]:
            break
    else:
        raise ValueError(f"no fold of the mode-{mode} branch at beta={beta} for critical "
                         f"coordinates up to {max_steps * step:g}")
    if len(ys) < 3:
        raise ValueError(f"no fold of the mode-{mode} branch at beta={beta}: kappa increases "
                         "along the branch from the start (supercritical)")
    y = ys[-2]
    phi = np.linalg.svd(bs.system(y[-1]).jacobian(y[:-1]))[2][-1]
    z, ok = _correct_fold(bs, np.concatenate([y[:-1], phi, [y[-1]]]), phi, tol)
    if not ok:
        raise RuntimeError(f"the fold equation did not converge at beta={beta:g}")
    return bs, z, phi


class _FoldFamily:
    """F(z) = [R(x; beta, kappa); J phi; <l, phi> - 1], z = (x, phi, beta, kappa), with DF
    (2n + 1, 2n + 2): second derivatives by central differences of the exact Jacobian."""

    def __init__(self, model, basis, mode: int, ell: np.ndarray) -> None:
        self.model, self.basis, self.mode, self.ell = model, basis, mode, ell
        self.mask = basis.branch_mask(mode)
        self.n = int(self.mask.sum())
        self.i_mode = int(np.nonzero(basis.real_degrees[self.mask] == mode)[0][0])
        self._cache: dict = {}

    def system(self, beta: float, kappa: float):
        from .stationary import _System

        key = (float(beta), float(kappa))
        if key not in self._cache:
            if len(self._cache) > 16:
                self._cache.clear()
            m = model_at(model_at(self.model, "beta", key[0]), "kappa", key[1])
            self._cache[key] = _System(m, self.basis, self.mask)
        return self._cache[key]

    def split(self, z: np.ndarray):
        n = self.n
        return z[:n], z[n:2 * n], float(z[-2]), float(z[-1])

    def evaluate(self, z: np.ndarray, h: float = 1e-5):
        """(F, DF, D^2R(phi, .) as a matrix, J)."""
        n = self.n
        x, phi, b, k = self.split(z)
        s = self.system(b, k)
        J = s.jacobian(x)
        F = np.concatenate([s.residual(x), J @ phi, [self.ell @ phi - 1.0]])
        eps = h * max(1.0, float(np.linalg.norm(x))) / max(float(np.linalg.norm(phi)), 1e-300)
        d2 = (s.jacobian(x + eps * phi) - s.jacobian(x - eps * phi)) / (2 * eps)
        DF = np.zeros((2 * n + 1, 2 * n + 2))
        DF[:n, :n], DF[n:2 * n, :n], DF[n:2 * n, n:2 * n] = J, d2, J
        DF[-1, n:2 * n] = self.ell
        for col, (lo, hi) in ((-2, ((b - h * max(1.0, abs(b)), k), (b + h * max(1.0, abs(b)), k))),
                              (-1, ((b, k * (1 - h)), (b, k * (1 + h))))):
            s_lo, s_hi = self.system(*lo), self.system(*hi)
            width = (hi[0] - lo[0]) + (hi[1] - lo[1])
            DF[:n, col] = (s_hi.residual(x) - s_lo.residual(x)) / width
            DF[n:2 * n, col] = (_jvp(s_hi, x, phi) - _jvp(s_lo, x, phi)) / width
        return F, DF, d2, J


def _jvp(s, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """J(x) u for a :class:`meanfield.stationary._System`: one column of its jacobian."""
    full = np.zeros(s.basis.n_real)
    full[s.mask] = u
    du = s.basis.from_real(full, mass=0.0)
    return s.x_of(s.model.linearization(s.basis, s.coeffs(x))(du)) / s.scale


def _path_tangent(DF: np.ndarray, t_prev: np.ndarray) -> np.ndarray:
    rhs = np.zeros(DF.shape[1])
    rhs[-1] = 1.0
    t = np.linalg.solve(np.vstack([DF, t_prev]), rhs)
    return t / np.linalg.norm(t)


def _path_correct(fam: _FoldFamily, z0, t0, ds: float, tol: float, max_iter: int = 10):
    """Newton on [F(z); t0 . (z - z0) - ds] from the predictor z0 + ds t0."""
    z = z0 + ds * t0
    for it in range(max_iter):
        try:
            F, DF, d2, J = fam.evaluate(z)
        except ValueError:  # Newton left the domain (kappa <= 0, a negative density)
            return z, None, it, False
        if not np.all(np.isfinite(F)):
            return z, None, it, False
        if np.max(np.abs(F)) <= tol:
            return z, (F, DF, d2, J), it, True
        G = np.append(F, t0 @ (z - z0) - ds)
        z = z - np.linalg.solve(np.vstack([DF, t0]), G)
    return z, None, max_iter, False


def _quadratic(d2: np.ndarray, J: np.ndarray, phi: np.ndarray, w_prev):
    """<w, D^2R(phi, phi)> with w the left null vector of J (|w| = 1, sign by continuity)."""
    w = np.linalg.svd(J)[0][:, -1]
    if w_prev is not None and w @ w_prev < 0:
        w = -w
    return float(w @ (d2 @ phi)), w


@dataclass
class FoldPath:
    """The fold curve followed by pseudo-arclength in (x, phi, beta, kappa).

    ``amplitude`` is the signed critical coordinate x_k of the branch at the fold (it goes
    through 0 where the fold curve meets the branch-point curve, the tricritical point, a
    turning point in beta); ``quadratic`` the fold's quadratic coefficient <w, D^2R(v, v)>
    (w the unit left null vector, v = phi with <l, v> = 1), which vanishes at cusps (and, by
    the reflection symmetry, at the tricritical point). ``codim2_points``: the
    :class:`Codim2Point` found along the path, ``kind`` "tricritical" or "cusp".
    """

    beta: np.ndarray
    kappa: np.ndarray
    amplitude: np.ndarray
    quadratic: np.ndarray
    codim2_points: list
    states: np.ndarray = field(default=None, repr=False)  # z = (x, phi, beta, kappa) per point


def _path_start(model, basis, beta0: float, mode: int, start: str, kappa_bounds):
    """(z = (x, phi, beta, kappa), ell) at the fold of the beta0 diagram."""
    if start == "diagram":
        _, kb = _start_window(model, basis, [beta0], mode, kappa_bounds)
        bs, z = _fold_start(model, basis, beta0, mode, kb)
        ell = z[bs.n:2 * bs.n].copy()
        z, ok = _correct_fold(bs, z, ell, 1e-11)  # the diagram's point nearest the fold
        if not ok:
            raise RuntimeError(f"the fold equation did not converge at beta={beta0:g}")
    elif start == "scan":
        k_guess = _threshold(model, basis, mode, beta0)
        if not np.isfinite(k_guess):
            raise ValueError(f"no branch point of mode {mode} at beta={beta0}")
        bs, z, ell = _fold_start_scan(model, basis, beta0, mode, k_guess)
    else:
        raise ValueError(f"start must be 'diagram' or 'scan', got {start!r}")
    return np.concatenate([z[:-1], [beta0], z[-1:]]), ell


def _trace_path(fam: _FoldFamily, z, t, bounds, ds, ds_max, max_steps, tol, stop_sign=None):
    """Points, tangents, quadratic coefficients and left null vectors along the path (until
    beta leaves ``bounds``, or coordinate ``stop_sign`` of z changes sign)."""
    n = fam.n
    F, DF, d2, J = fam.evaluate(z)
    q, w = _quadratic(d2, J, z[n:2 * n], None)
    if w @ DF[:n, -1] < 0:  # orient w by dR/dkappa at the start (nonzero at a regular fold)
        q, w = -q, -w
    out = {"z": [z], "t": [t], "q": [q], "w": [w]}
    ds_min = 1e-6 * ds
    while len(out["z"]) < max_steps:
        z1, ev, it, ok = _path_correct(fam, z, t, ds, tol)
        if not ok or not z1[-1] > 0:
            ds /= 2
            if ds < ds_min:
                warnings.warn(f"the fold path stops at beta={z[-2]:.6g}, kappa={z[-1]:.6g}: "
                              "the corrector fails at every step length", stacklevel=3)
                break
            continue
        F, DF, d2, J = ev
        t1 = _path_tangent(DF, t)
        t1 = t1 if t1 @ t > 0 else -t1
        q, w = _quadratic(d2, J, z1[n:2 * n], w)
        z, t = z1, t1
        for key, val in zip(("z", "t", "q", "w"), (z, t, q, w), strict=True):
            out[key].append(val)
        ds = min(1.3 * ds, ds_max) if it <= 3 else ds
        if not bounds[0] <= z[-2] <= bounds[1]:
            break
        if stop_sign is not None and z[stop_sign] * out["z"][0][stop_sign] < 0:
            break
    return {k: np.array(v) for k, v in out.items()}


def _at_amplitude(fam: _FoldFamily, z_ref, t_ref, a: float, tol: float, max_iter: int = 12):
    """The path's point with critical coordinate a (Newton on [F; x_k - a] from the
    tangent predictor at z_ref): regular for a != 0 near the tricritical point, where the
    trivial family x = 0 (branch points of rho = 1), which has x_k = 0, crosses the path."""
    i = fam.i_mode
    z = z_ref + (a - z_ref[i]) / t_ref[i] * t_ref
    e = np.zeros(z.size)
    e[i] = 1.0
    best = np.inf
    for _ in range(max_iter):
        F, DF = fam.evaluate(z)[:2]
        res = float(np.max(np.abs(F)))
        # near the crossing beta is known only to ~ residual / |a|: polish below tol, until
        # round-off stops the decrease
        if res <= 1e-3 * tol or (res <= tol and res > 0.5 * best):
            return z, _path_tangent(DF, t_ref)
        best = min(best, res)
        z = z - np.linalg.solve(np.vstack([DF, e]), np.append(F, z[i] - a))
    if best <= tol:
        return z, _path_tangent(fam.evaluate(z)[1], t_ref)
    raise RuntimeError(f"the fold path corrector failed at critical coordinate {a:g} near "
                       f"the tricritical point (beta ~ {z_ref[-2]:.6g})")


def _tricritical_on_path(fam: _FoldFamily, path: dict, i: int, tol: float,
                         a_step: float = 0.008) -> Codim2Point:
    """beta and kappa at a = 0 between points i and i + 1 of the path: the points at
    a = +-0.5, 1.5, 2.5 a_step (marching in a from each side), and fits of beta(a) and
    kappa(a) by polynomials of degree 4 (both are even in a by the reflection symmetry).
    The fit's error is O(a_step^6); the points' beta carries round-off / |a| (the system
    is singular at a = 0): a_step = 0.008 balances them at ~1e-10."""
    zs = []
    for j in (i, i + 1):
        z, t = path["z"][j], path["t"][j]
        sign = float(np.sign(z[fam.i_mode]))
        for m in (2.5, 1.5, 0.5):
            z, t = _at_amplitude(fam, z, t, sign * m * a_step, tol)
            zs.append(z)
    zs = np.array(zs)
    a = zs[:, fam.i_mode]
    b = np.polyval(np.polyfit(a, zs[:, -2], 4), 0.0)
    k = np.polyval(np.polyfit(a, zs[:, -1], 4), 0.0)
    return Codim2Point(beta=float(b), kappa=float(k), kind="tricritical")


def _cusp_on_path(fam: _FoldFamily, path: dict, i: int, tol: float) -> Codim2Point:
    """The zero of the quadratic coefficient between points i and i + 1 (Brent on the
    arclength, each trial point corrected onto the path)."""
    from scipy.optimize import brentq

    z0, t0, w0 = path["z"][i], path["t"][i], path["w"][i]
    ds = float(t0 @ (path["z"][i + 1] - z0))

    def g(s: float) -> float:
        z, ev, _, ok = _path_correct(fam, z0, t0, s, tol)
        if not ok:
            raise RuntimeError(f"the fold path corrector failed at s={s:g} while locating a cusp")
        return _quadratic(ev[2], ev[3], z[fam.n:2 * fam.n], w0)[0]
    s = brentq(g, 0.0, ds, xtol=1e-13 * max(1.0, abs(ds)), rtol=1e-14)
    z = _path_correct(fam, z0, t0, s, tol)[0]
    return Codim2Point(beta=float(z[-2]), kappa=float(z[-1]), kind="cusp")


def fold_path(model, basis, beta0: float, *, mode: int = 1, direction: int = -1,
              beta_bounds=None, ds: float = 0.05, ds_max: float = 0.2, max_steps: int = 400,
              tol: float = 1e-11, start: str = "diagram", kappa_bounds=None,
              mirror: bool = True) -> FoldPath:
    """The fold curve by pseudo-arclength continuation of its extended system.

    Unknowns z = (x, phi, beta, kappa): the state on the branch subspace, the null vector,
    both parameters; equations R(x; beta, kappa) = 0, J phi = 0, <l, phi> = 1 (l = phi at
    the start), bordered by the arclength condition. Unlike :func:`fold_curve` (which is
    parametrized by beta) it passes turning points in beta: at the tricritical point the
    fold meets the branch-point curve, its amplitude goes through zero and beta turns
    (beta - beta_* ~ a^2), and the path continues on the mirror image (a < 0) of the branch.

    Codimension-two points along the path (``FoldPath.codim2_points``):

    * "tricritical": where the signed critical coordinate a changes sign (beta and kappa at
      a = 0 from even polynomial fits through the neighbouring points);
    * "cusp": where the quadratic coefficient <w, D^2R(v, v)> changes sign away from a = 0
      (located by Brent's method on the arclength).

    Parameters
    ----------
    model : MeanFieldModel
        An attention model (beta and kappa replaced along the path).
    basis : a basis resolving the kernel over the path.
    beta0 : float
        Start: the fold of the one-parameter diagram in kappa at beta0.
    direction : {-1, 1}
        The sign of dbeta at the start.
    beta_bounds : (lo, hi), optional
        The path stops when beta leaves it (default: (0, beta0) for direction -1, else
        (beta0, 2 beta0)).
    ds, ds_max : float
        First and largest arclength step (in the Euclidean norm of z).
    start : {"diagram", "scan"}
        The start fold from :func:`meanfield.bifurcation_diagram` (Brent on dkappa/ds), or
        from a scan of the branch at fixed critical coordinate (no spectra: cheaper on large
        bases).
    mirror : bool
        Continue past the tricritical point on the mirror image of the branch (else stop
        at the first point past it).

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.two_parameter import fold_path
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> fp = fold_path(model, mf.CircleBasis(32), 3.0)
    >>> (cp,) = fp.codim2_points  # through the turning point in beta, and back to beta = 3
    >>> cp.kind, round(cp.beta, 8), bool(fp.amplitude[-1] < 0 < fp.amplitude[0])
    ('tricritical', 2.44691831, True)
    """
    beta0 = float(beta0)
    if direction not in (-1, 1):
        raise ValueError(f"direction must be -1 or 1, got {direction!r}")
    if beta_bounds is None:
        beta_bounds = (0.0, beta0) if direction < 0 else (beta0, 2.0 * beta0)
    lo, hi = (float(v) for v in beta_bounds)
    if not lo <= beta0 <= hi:
        raise ValueError(f"beta0={beta0} must lie in beta_bounds=({lo}, {hi})")
    z, ell = _path_start(model, basis, beta0, mode, start, kappa_bounds)
    fam = _FoldFamily(model, basis, mode, ell)
    e_beta = np.zeros(z.size)
    e_beta[-2] = direction
    t = _path_tangent(fam.evaluate(z)[1], e_beta)
    t = t if t[-2] * direction > 0 else -t
    # a margin so that a path that returns to beta0 is not stopped at its start
    path = _trace_path(fam, z, t, (lo - 1e-12, hi + 1e-12), ds, ds_max, max_steps, tol,
                       None if mirror else fam.i_mode)
    a, q = path["z"][:, fam.i_mode], path["q"]
    beta, kappa = path["z"][:, -2], path["z"][:, -1]
    points = []
    crossings = set(np.nonzero(a[:-1] * a[1:] < 0)[0].tolist())
    for i in sorted(crossings):
        points.append(_tricritical_on_path(fam, path, i, tol))
    for i in np.nonzero(q[:-1] * q[1:] < 0)[0]:
        if not crossings & {i - 1, i, i + 1}:  # q also vanishes at a = 0, by symmetry
            points.append(_cusp_on_path(fam, path, int(i), tol))
    return FoldPath(beta, kappa, a, q, points, path["z"])
