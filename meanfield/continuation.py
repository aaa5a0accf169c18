"""Pseudo-arclength continuation of stationary states and bifurcation diagrams.

The stationary equation R(x, p) = 0 (see :mod:`meanfield.stationary`: the right-hand side
divided by the Laplacian's eigenvalue, in real coordinates x of a subspace, mass fixed)
is followed in a named parameter p ("kappa", "noise" = 1/kappa, or "beta"):

* predictor along the tangent of the solution curve, Newton corrector on the system
  bordered by the arclength condition, adaptive step length;
* bifurcation points from the uniform state located as zeros of the numerically
  linearized growth rate of each mode (Brent's method to round-off);
* branch switching by solving at small fixed amplitude a of the critical mode (which
  also gives the branch's curvature p(a) = p_k (1 + c a^2 + ...) by Richardson
  extrapolation, hence supercritical / subcritical);
* folds located where dp/ds changes sign (Brent's method on the arclength), first-order
  transitions where a branch's free energy crosses the uniform state's;
* automatic refinement of the number of modes when a branch concentrates.

Everything is written against the basis interface (real coordinates, subspace masks,
``with_max_degree`` / ``convert``), so sphere bases reuse it unchanged.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ._validate import (
    check_basis,
    check_bounds,
    check_int,
    check_model,
    check_modes,
    check_positive,
    check_real,
)
from .diagram import BifurcationDiagram, BifurcationPoint, Branch, Fold, HopfPoint, Transition
from .free_energy import free_energy
from .interactions.layers import Layer
from .isotropy import branch_types, quadratic_directions
from .kernels import AttentionKernel
from .progress import ProgressBar
from .stationary import _System, linear_stability

PARAMS = ("kappa", "noise", "beta")


# ---------------------------------------------------------------------------------------
# the parameter
# ---------------------------------------------------------------------------------------


def model_at(model, param: str, value: float):
    """``model`` with the continuation parameter set to ``value``.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> continuation.model_at(model, "noise", 0.5)  # noise = 1/kappa
    MeanFieldModel(AttentionKernel(beta=3.0), kappa=2.0, dynamics='usa', dim=2)
    """
    if param == "kappa":
        return model.replace(kappa=value)
    if param == "noise":
        if not value > 0:
            raise ValueError(f"noise = 1/kappa must be > 0, got {value}")
        return model.replace(kappa=1.0 / value)
    if param == "beta":
        if isinstance(model.kernel, Layer):  # every attention head's beta
            return model.replace(kernel=model.kernel.with_beta(value))
        if not isinstance(model.kernel, AttentionKernel):
            raise ValueError("param='beta' needs an AttentionKernel model or a layer with "
                             "attention heads")
        return model.replace(kernel=AttentionKernel(value))
    raise ValueError(f"param must be one of {PARAMS}, got {param!r}")


def param_of(model, param: str) -> float:
    """Current value of the continuation parameter in ``model``.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> continuation.param_of(model, "beta"), continuation.param_of(model, "noise")
    (3.0, 1.0)
    """
    if param == "kappa":
        return model.kappa
    if param == "noise":
        return 1.0 / model.kappa
    if param == "beta":
        return model.beta
    raise ValueError(f"param must be one of {PARAMS}, got {param!r}")


class BranchSystem:
    """R(x, p) = 0 on a subspace of a basis, with its derivatives.

    Examples
    --------
    The 1-cluster branch lives on the even cosine coordinates (31 of them with 32 modes);
    a stationary state is a zero of the residual:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
    >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
    >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
    >>> bs.n, y.shape, bool(np.max(np.abs(bs.residual(y))) < 1e-12)
    (31, (32,), True)
    """

    def __init__(self, model, basis, param: str, mode: int = 1, full: bool = False,
                 subspace: Callable | None = None, parent=None, embed: Callable | None = None,
                 amplitude: Callable | None = None):
        if param not in PARAMS:
            raise ValueError(f"param must be one of {PARAMS}, got {param!r}")
        self.model, self.basis, self.param, self.mode = model, basis, param, mode
        self.full = full
        # the invariant subspace holding the mode-k branch (circle: even, 2 pi/k-periodic);
        # full: every coordinate (interactions without symmetry, branches from a state);
        # subspace(basis): the real coordinates of an isotropy type's fixed-point subspace
        self.subspace = subspace
        if subspace is not None:
            self.mask = np.asarray(subspace(basis), dtype=bool)
        else:
            self.mask = basis.subspace_mask(False, 1) if full else basis.branch_mask(mode)
        # parent, embed: the basis the results are reported in, when the branch is traced
        # in a basis of a fixed-point subspace (embed(c, basis, parent) -> parent coeffs)
        self.parent, self.embed = parent, embed
        self.amplitude = amplitude  # amplitude(c, report_basis, k): the order parameter
        self.n = int(self.mask.sum())
        self._cache: dict[float, _System] = {}

    @property
    def report_basis(self):
        """The basis of the reported coefficients (``parent``, else ``basis``)."""
        return self.basis if self.parent is None else self.parent

    def report_coeffs(self, y: np.ndarray) -> np.ndarray:
        """Coefficients of the point y in :attr:`report_basis`."""
        c = self.coeffs(y)
        return c if self.parent is None else self.embed(c, self.basis, self.parent)

    def amplitude_of(self, y: np.ndarray, k: int) -> float:
        """The branch's order parameter at y (default: the basis's ``amplitude(c, k)``)."""
        if self.amplitude is None:
            return float(self.basis.amplitude(self.coeffs(y), k))
        return float(self.amplitude(self.report_coeffs(y), self.report_basis, k))

    def system(self, p: float) -> _System:
        """The Newton system (stationary equation on the branch subspace) at parameter p.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from meanfield import continuation
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
        >>> bool(np.max(np.abs(bs.system(1.0).residual(y[:-1]))) < 1e-12)
        True
        """
        p = float(p)
        sys_ = self._cache.get(p)
        if sys_ is None:
            if len(self._cache) > 8:
                self._cache.clear()
            sys_ = self._cache[p] = _System(model_at(self.model, self.param, p),
                                            self.basis, self.mask)
        return sys_

    def residual(self, y: np.ndarray) -> np.ndarray:
        """Residual R(x, p) of the scaled stationary equation at ``y = (x, p)``.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from meanfield import continuation
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
        >>> bool(np.max(np.abs(bs.residual(y))) < 1e-12)
        True
        """
        return self.system(y[-1]).residual(y[:-1])

    def jacobian(self, y: np.ndarray) -> np.ndarray:
        """[dR/dx | dR/dp], shape (n, n + 1); dR/dp by central differences (error ~1e-12).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from meanfield import continuation
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
        >>> bs.jacobian(y).shape
        (31, 32)
        """
        x, p = y[:-1], float(y[-1])
        jx = self.system(p).jacobian(x)
        # relative steps for the positive parameters (kappa_1 is tiny at large beta: the
        # difference must stay inside the domain), absolute near beta = 0
        h = 1e-6 * (abs(p) if self.param in ("kappa", "noise") else max(1.0, abs(p)))
        jp = (self.system(p + h).residual(x) - self.system(p - h).residual(x)) / (2 * h)
        return np.column_stack([jx, jp])

    def coeffs(self, y: np.ndarray) -> np.ndarray:
        """Full coefficient array of the point ``y = (x, p)`` (mass 1).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from meanfield import continuation
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
        >>> bool(np.allclose(bs.coeffs(y), st.coeffs))
        True
        """
        return self.system(y[-1]).coeffs(y[:-1])

    def y_of(self, c: np.ndarray, p: float) -> np.ndarray:
        """The point ``(x, p)`` of coefficients c at parameter p (inverse of :meth:`coeffs`).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from meanfield import continuation
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
        >>> round(float(y[-1]), 12), round(float(y[0]), 6)  # kappa, rho_1
        (1.0, 0.911615)
        """
        return np.append(self.basis.to_real(c)[self.mask], p)

    def refined(self, factor: int = 2) -> BranchSystem:
        """The same system on a basis with ``factor`` times as many modes.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from meanfield import continuation
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
        >>> bs.refined().basis.n_modes
        64
        """
        degree = factor * (self.basis.max_degree + 1) - 1
        parent = None if self.parent is None else self.parent.with_max_degree(degree)
        return BranchSystem(self.model, self.basis.with_max_degree(degree), self.param,
                            self.mode, self.full, self.subspace, parent, self.embed,
                            self.amplitude)

    def transfer(self, y: np.ndarray, other: BranchSystem, tangent: bool = False) -> np.ndarray:
        """A point (or tangent, mass 0) of this system expressed in ``other``.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from meanfield import continuation
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> bs = continuation.BranchSystem(model, basis, "kappa", mode=1)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> y = bs.y_of(st.coeffs, 1.0)  # (cosine coordinates of the state, kappa)
        >>> fine = bs.refined()
        >>> y2 = bs.transfer(y, fine)
        >>> y2.shape, bool(np.allclose(fine.coeffs(y2)[:32], st.coeffs))  # zero-padded
        ((64,), True)
        """
        full = np.zeros(self.basis.n_real)
        full[self.mask] = y[:-1]
        c = self.basis.from_real(full, mass=0.0 if tangent else 1.0)
        c2 = self.basis.convert(c, other.basis)
        return np.append(other.basis.to_real(c2)[other.mask], y[-1])


# ---------------------------------------------------------------------------------------
# predictor-corrector
# ---------------------------------------------------------------------------------------


def _tangent(bs: BranchSystem, y: np.ndarray, t_prev: np.ndarray) -> np.ndarray:
    J = bs.jacobian(y)
    A = np.vstack([J, t_prev])
    rhs = np.zeros(len(y))
    rhs[-1] = 1.0
    t = np.linalg.solve(A, rhs)
    return t / np.linalg.norm(t)


def _correct(bs: BranchSystem, y_pred: np.ndarray, t: np.ndarray, tol: float,
             max_iter: int = 12) -> tuple[np.ndarray, int, bool]:
    """Newton on [R(y); t.(y - y_pred)] = 0."""
    y = y_pred.copy()
    for it in range(max_iter + 1):
        r = bs.residual(y)
        g = np.append(r, t @ (y - y_pred))
        err = float(np.max(np.abs(g)))
        if not np.isfinite(err):
            return y, it, False
        if err <= tol:
            return y, it, True
        if it == max_iter:
            break
        A = np.vstack([bs.jacobian(y), t])
        try:
            y = y - np.linalg.solve(A, g)
        except np.linalg.LinAlgError:
            return y, it, False
    return y, max_iter, False


def _positive(bs: BranchSystem, y: np.ndarray) -> bool:
    rho = bs.basis.backward(bs.coeffs(y))[..., bs.basis.reliable_nodes]
    return bool(rho.min() >= -1e-8 * rho.max())


@dataclass
class _Point:
    y: np.ndarray
    t: np.ndarray
    bs: BranchSystem


def _locate(bs: BranchSystem, base: _Point, ds: float, f: Callable[[np.ndarray, np.ndarray], float],
            tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero of f(y(s), t(s)) for s in (0, ds) along the branch from ``base`` (Brent)."""
    memo: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def point(s: float):
        if s not in memo:
            if s == 0:
                memo[s] = (base.y, base.t)
            else:
                y, _, ok = _correct(bs, base.y + s * base.t, base.t, tol)
                if not ok:
                    raise RuntimeError("corrector failed while locating a special point")
                memo[s] = (y, _tangent(bs, y, base.t))
        return memo[s]

    def g(s: float) -> float:
        return f(*point(s))

    s_star = brentq(g, 0.0, ds, xtol=1e-13 * max(1.0, abs(ds)), rtol=1e-14, maxiter=100)
    return point(s_star)


def _free_energy_diff(bs: BranchSystem, y: np.ndarray) -> float:
    model = model_at(bs.model, bs.param, float(y[-1]))
    if not (model.interaction.reports_energy and model.interaction.uniform_stationary):
        return 0.0  # no free energy, or no uniform state to compare with: no crossings
    rho = bs.basis.backward(bs.coeffs(y))
    return float(free_energy(model, bs.basis, rho) - free_energy(model, bs.basis,
                                                                  np.ones(bs.basis.shape)))


def _free_energy_or_nan(model, basis, rho) -> float:
    """F(rho), or nan for an interaction without a free energy (a non-gradient layer)."""
    if not model.interaction.reports_energy:
        return float("nan")
    return float(free_energy(model, basis, rho))


# ---------------------------------------------------------------------------------------
# the uniform state: bifurcation points and the start of each branch
# ---------------------------------------------------------------------------------------


def _mode_coordinate(bs: BranchSystem, k: int) -> int:
    """Index (in the subspace coordinates) of Re c_k, the critical direction of mode k."""
    deg = bs.basis.real_degrees[bs.mask]
    idx = np.nonzero(deg == k)[0]
    if idx.size == 0:
        raise ValueError(f"mode {k} is not in the basis (max degree {bs.basis.max_degree})")
    return int(idx[0])


def uniform_growth_rate(model, basis, param: str, k: int, p: float) -> float:
    """Eigenvalue of mode k of the linearized PDE at rho = 1, at parameter p.

    Taken from the numerically assembled Jacobian (not from the closed form), so that the
    bifurcation points are located independently of DESIGN.md's formula.

    Examples
    --------
    It agrees with the closed form ``sigma_1 = I_1(beta)/beta - 1/kappa``:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rate = continuation.uniform_growth_rate(model, basis, "kappa", 1, 1.0)
    >>> bool(abs(rate - model.growth_rates(1)[1]) < 1e-12)
    True
    """
    bs = BranchSystem(model, basis, param, mode=k)
    i = _mode_coordinate(bs, k)
    system = bs.system(p)
    # one column of the Jacobian, J e_i (one linearization), not all n of them
    eye = np.zeros(basis.n_real)
    eye[np.nonzero(system.mask)[0][i]] = 1.0
    c = system.coeffs(np.zeros(bs.n))
    col = system.x_of(model_at(model, param, p).linearization(basis, c)(
        basis.from_real(eye, mass=0.0)))
    return float(col[i])


def bifurcation_points_of_uniform(model, basis, param: str, bounds, k: int,
                                  n_scan: int = 64) -> list[float]:
    """Parameter values in ``bounds`` where mode k of rho = 1 changes stability.

    Examples
    --------
    Mode 1 destabilizes at ``kappa_1 = beta / I_1(beta)``:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> from scipy.special import iv
    >>> (k1,) = continuation.bifurcation_points_of_uniform(model, basis, "kappa", (0.2, 2.0), 1)
    >>> bool(abs(k1 - 3.0 / iv(1, 3.0)) < 1e-12)
    True
    """
    lo, hi = check_bounds(bounds)
    grid = np.linspace(lo, hi, check_int(n_scan, "n_scan", 2))
    vals = np.array([uniform_growth_rate(model, basis, param, k, p) for p in grid])
    roots = [float(p) for p, v in zip(grid, vals, strict=True) if v == 0.0]
    for i in np.nonzero(vals[:-1] * vals[1:] < 0)[0]:
        roots.append(brentq(lambda p: uniform_growth_rate(model, basis, param, k, p),
                            grid[i], grid[i + 1], xtol=1e-15, rtol=8.9e-16, maxiter=200))
    return sorted(roots)


def _solve_at_amplitude(bs: BranchSystem, k: int, a: float, p_guess: float, x_guess=None,
                        tol: float = 1e-13, max_iter: int = 30, coord: int | None = None
                        ) -> np.ndarray:
    """Solve R(x, p) = 0 with the critical coordinate x_k = a fixed; returns y = (x, p).

    ``coord``: the subspace coordinate held fixed (default: the first of degree k)."""
    i = _mode_coordinate(bs, k) if coord is None else int(coord)
    y = np.zeros(bs.n + 1) if x_guess is None else np.array(x_guess, dtype=float)
    y[i], y[-1] = a, p_guess
    free = np.ones(bs.n + 1, bool)
    free[i] = False
    for _ in range(max_iter):
        r = bs.residual(y)
        # the Jacobian is ~ (1/kappa) I: a residual tol (1/kappa) is an error tol in x (at
        # large beta kappa_1 is tiny and an absolute 1e-13 is below round-off)
        noise = model_at(bs.model, bs.param, float(y[-1])).noise
        if np.max(np.abs(r)) <= tol * max(1.0, noise):
            return y
        J = bs.jacobian(y)[:, free]
        step = np.linalg.solve(J, r)
        p_step = step[-1]
        if bs.param in ("kappa", "noise") and y[-1] - p_step <= 0:  # stay in the domain
            step *= 0.5 * y[-1] / p_step
        y[free] -= step
    raise RuntimeError(f"branch switching onto mode {k} failed at amplitude {a:g}: residual "
                       f"{np.max(np.abs(bs.residual(y))):.2e}")


def _classify(p_k: float, dsigma: float, p_plus: float, p_minus: float, p_2: float,
              a: float) -> tuple[str, float]:
    """Kind of bifurcation and curvature c in p = p_k (1 + c a^2) from three small solves."""
    c1 = (p_plus - p_minus) / (2 * a)
    d1 = 0.5 * (p_plus + p_minus) - p_k
    d2 = p_2 - p_k
    c2 = (16 * d1 - d2) / (12 * a * a)  # Richardson: p = p_k + c2 a^2 + c4 a^4
    scale = max(1.0, abs(p_k))
    if abs(c1) > 1e-6 * scale:
        return "transcritical", c2 / p_k
    if abs(c2) < 1e-7 * scale:
        return "degenerate", c2 / p_k
    # supercritical: the branch lies where the uniform state is unstable (sigma_k > 0)
    kind = "supercritical" if np.sign(c2) == np.sign(dsigma) else "subcritical"
    return kind, c2 / p_k


# ---------------------------------------------------------------------------------------
# tracing a branch
# ---------------------------------------------------------------------------------------


def _record(branch: dict, bs: BranchSystem, y: np.ndarray, k: int) -> None:
    p = float(y[-1])
    model = model_at(bs.model, bs.param, p)
    rho = bs.basis.backward(bs.coeffs(y))
    c = bs.report_coeffs(y)  # stability against every perturbation of the reported basis
    hint = branch["morse_index"][-1] if branch["morse_index"] else 0
    stab = _stability(model, bs.report_basis, c, hint)
    branch["param"].append(p)
    branch["amplitude"].append(bs.amplitude_of(y, k))
    branch["free_energy"].append(_free_energy_or_nan(model, bs.basis, rho))
    branch["stable"].append(stab.stable)
    branch["morse_index"].append(stab.morse_index)
    branch["n_modes"].append(int(bs.report_basis.max_degree + 1))
    branch["coeffs"].append(c)
    if "leading" in branch:
        branch["leading"].append(stab.eigenvalues[0] if stab.eigenvalues.size else np.nan)


#: above this many real coordinates the points of a branch get their stability from the k
#: rightmost eigenvalues by Arnoldi instead of the dense spectrum (planar d = 16, lmax 48,
#: 1224 coordinates: 0.30 s against 1.47 s per point, same Morse index and leading values)
ARNOLDI_ABOVE = 400


def _stability(model, basis, c, morse_hint: int = 0):
    """linear_stability at a branch point: dense for small bases (n JVPs, however the
    state's symmetry splits them into blocks), Arnoldi above ``ARNOLDI_ABOVE`` with k from
    ``morse_hint`` (the previous point's Morse index) + 6, at least 12, doubled until the
    Morse index is below k (so it stays exact)."""
    n = basis.n_real
    if n <= ARNOLDI_ABOVE:
        return linear_stability(model, basis, c)
    k = max(12, int(morse_hint) + 6)
    while 2 * k < n:
        stab = linear_stability(model, basis, c, k=k)
        if stab.morse_index < k:
            return stab
        k *= 2
    return linear_stability(model, basis, c)


def _leading(bs: BranchSystem, y: np.ndarray) -> complex:
    """The eigenvalue of largest real part at the point y (symmetry zero modes set aside)."""
    model = model_at(bs.model, bs.param, float(y[-1]))
    vals = _stability(model, bs.report_basis, bs.report_coeffs(y)).eigenvalues
    return complex(vals[0]) if vals.size else complex(np.nan)


def _hopf_between(a, b) -> bool:
    """Whether the leading eigenvalue goes from a to b across Re = 0 as a complex pair."""
    a, b = complex(a), complex(b)
    if not (np.isfinite(a) and np.isfinite(b)) or a.real * b.real >= 0:
        return False
    scale = max(1.0, abs(a), abs(b))
    return min(abs(a.imag), abs(b.imag)) > 1e-6 * scale


def _check_steps(ds, ds_max, max_points, ds_min=None):
    """ds: finite and nonzero (its sign picks the direction); ds_max, ds_min: > 0 or None;
    max_points: an integer >= 2."""
    ds = check_real(ds, "ds")
    if not (np.isfinite(ds) and ds != 0):
        raise ValueError(f"ds must be a finite nonzero number (the first arclength step; its "
                         f"sign picks the direction), got {ds!r}")
    if ds_max is not None:
        ds_max = check_positive(ds_max, "ds_max")
    if ds_min is not None:
        ds_min = check_positive(ds_min, "ds_min")
    return ds, ds_max, check_int(max_points, "max_points", 2)


def trace_branch(bs: BranchSystem, y0: np.ndarray, t0: np.ndarray, k: int, bounds, *,
                 ds: float = 0.02, ds_min: float = 1e-6, ds_max: float = 0.2,
                 max_points: int = 400, tol: float = 1e-11, refine_tol: float = 1e-12,
                 max_modes: int = 1024, progress: Callable | None = None):
    """Follow the branch through y0 in the direction t0 until it leaves ``bounds``.

    Returns (branch data dict, folds, crossings) where folds and crossings are lists of
    (y, bs) at the located special points (crossings: F = F_uniform).

    Examples
    --------
    :func:`bifurcation_diagram` calls it once per mode; its results are the diagram's branches:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> d = mf.bifurcation_diagram(model, basis, "kappa", (0.6, 1.0), modes=(1,))
    >>> br = d.branches[0]
    >>> br.mode, br.message
    (1, 'reached the bound kappa=1')
    """
    lo, hi = check_bounds(bounds)
    ds, ds_max, max_points = _check_steps(ds, ds_max, max_points, ds_min)
    tol, refine_tol = check_positive(tol, "tol"), check_positive(refine_tol, "refine_tol")
    branch = {key: [] for key in ("param", "amplitude", "free_energy", "stable",
                                  "morse_index", "n_modes", "coeffs", "leading", "hopf")}
    folds, crossings = [], []
    cur = _Point(y0, _tangent(bs, y0, t0), bs)
    if cur.t @ t0 < 0:
        cur.t = -cur.t
    _record(branch, bs, y0, k)
    dF_prev = _free_energy_diff(bs, y0)
    message = f"reached max_points={max_points}"
    while len(branch["param"]) < max_points:
        bs = cur.bs
        y_new, iters, ok = _correct(bs, cur.y + ds * cur.t, cur.t, tol)
        if ok and not _positive(bs, y_new):
            ok = False
        if not ok:
            ds *= 0.5
            if ds < ds_min:
                message = (f"step length fell below ds_min={ds_min:g} at "
                           f"{bs.param}={cur.y[-1]:.10g}")
                break
            continue
        t_new = _tangent(bs, y_new, cur.t)
        # fold: dp/ds changes sign
        if np.sign(t_new[-1]) != np.sign(cur.t[-1]) and cur.t[-1] != 0:
            yf, _ = _locate(bs, cur, ds, lambda y, t: t[-1], tol)
            folds.append((yf, bs))
        # crossing of the uniform state's free energy
        dF_new = _free_energy_diff(bs, y_new)
        floor = 1e-14 * max(1.0, abs(branch["free_energy"][-1]))  # round-off of F
        if np.sign(dF_new) != np.sign(dF_prev) and min(abs(dF_new), abs(dF_prev)) > floor:
            yc, _ = _locate(bs, cur, ds, lambda y, t, b=bs: _free_energy_diff(b, y), tol)
            crossings.append((yc, bs))
        dF_prev = dF_new
        p = float(y_new[-1])
        if not lo <= p <= hi:  # land the last point on the bound it crossed
            edge = hi if p > hi else lo
            try:
                y_edge, _ = _locate(bs, cur, ds, lambda y, t, e=edge: y[-1] - e, tol)
                y_edge[-1] = edge  # |p - edge| ~ 1e-13 from Brent: record the bound itself
                _record(branch, bs, y_edge, k)
            except (RuntimeError, ValueError):
                pass
            message = f"reached the bound {bs.param}={edge:g}"
            break
        prev, cur = cur, _Point(y_new, t_new, bs)
        _record(branch, bs, y_new, k)
        if _hopf_between(*branch["leading"][-2:]):  # a complex pair crosses the axis
            try:
                yh, _ = _locate(bs, prev, ds, lambda y, t, b=bs: _leading(b, y).real, tol)
                branch["hopf"].append((yh, bs))
            except (RuntimeError, ValueError):
                pass
        if progress is not None:
            progress(p)
        # resolution: refine when the spectrum's tail grows
        c = bs.coeffs(y_new)
        if bs.basis.tail(c) > refine_tol:
            if 2 * (bs.basis.max_degree + 1) > max_modes:
                message = (f"the branch needs more than max_modes={max_modes} modes at "
                           f"{bs.param}={p:.10g}")
                break
            new = bs.refined()
            y_ref = bs.transfer(y_new, new)
            t_ref = bs.transfer(cur.t, new, tangent=True)
            t_ref /= np.linalg.norm(t_ref)
            # bordered by the tangent (not by fixing p): regular at folds too
            y_ref, _, ok = _correct(new, y_ref, t_ref, tol)
            if not ok:
                message = (f"re-solving after mode refinement to {new.basis.max_degree + 1} "
                           f"modes failed at {bs.param}={p:.10g}")
                break
            cur = _Point(y_ref, _tangent(new, y_ref, t_ref), new)
        if iters <= 2:
            ds = min(ds * 1.5, ds_max)
        elif iters >= 5:
            ds *= 0.6
    return branch, folds, crossings, message


# ---------------------------------------------------------------------------------------
# the diagram
# ---------------------------------------------------------------------------------------


def _closed_form_threshold(model, param: str, k: int) -> float:
    """beta/lambda_k(beta) in the parameter's units (nan when not known)."""
    if isinstance(model.kernel, Layer):
        if param == "beta":
            return np.nan
        try:  # a layer of isotropic heads: 1 / (sum of the heads' gains)
            rate = model.interaction.growth_rates(k, 0.0)[k] / (k * (k + model.dim - 2))
        except ValueError:
            return np.nan
        kappa_k = 1.0 / rate if rate > 0 else np.inf
    elif not isinstance(model.kernel, AttentionKernel) and param != "beta":
        g = model.kernel.coefficients(k, model.dim)[k]
        kappa_k = 1.0 / g if g > 0 else np.inf
    elif param == "beta":
        return np.nan
    elif model.dynamics == "usa":
        kappa_k = model.kernel.threshold(k, model.dim)
    else:
        num, den = model.kernel.sa_coefficients(k, model.dim)
        kappa_k = den[0] / num[k] if num[k] > 0 else np.inf
    return kappa_k if param == "kappa" else 1.0 / kappa_k


def bifurcation_diagram(model, basis, param: str = "kappa", bounds=(0.2, 2.0),
                        modes=(1, 2, 3), *, ds: float = 0.02, ds_max: float | None = None,
                        max_points: int = 400, tol: float = 1e-11, amplitude0: float = 1e-3,
                        refine_tol: float = 1e-12, max_modes: int = 1024,
                        resolution_tol: float = 1e-12, progress: bool = False,
                        start=None, deflation: bool = False, n_values: int = 5,
                        guesses=None) -> BifurcationDiagram:
    """Branches of stationary states bifurcating from rho = 1, with special points.

    For an interaction that does not keep rho = 1 stationary (a weighted layer without
    symmetry, a perceptron block, a potential), the diagram is the one branch through a
    computed stationary state instead: :func:`meanfield.stationary_state` from ``start``
    (a density guess; default rho = 1) at the lower bound, then followed over ``bounds``
    in the full space, with folds and stability (``modes`` is ignored; the branch's
    ``mode`` is the degree k <= 4 of the largest order parameter at the start, and its
    amplitude that order parameter). Interactions that
    commute with rotations but not reflections (a value matrix with a rotational part)
    bifurcate into rotating waves, which this function does not follow: ValueError.

    Parameters
    ----------
    model : MeanFieldModel
        Its value of ``param`` is ignored (the parameter is varied over ``bounds``).
    basis : a basis with the real-coordinate interface (e.g. CircleBasis); refined
        automatically along concentrating branches (up to ``max_modes``).
    param : {"kappa", "noise", "beta"}
    bounds : (lo, hi)
        Parameter interval.
    modes : iterable of int
        Modes k whose branches (k-cluster states, 2 pi/k-periodic) are traced.
    ds, ds_max : float
        Initial and largest arclength step (its sign is irrelevant: branches born at
        rho = 1 are followed away from it, a branch through a computed state from the
        lower bound upwards).
    tol : float
        Corrector tolerance (max-norm of the scaled stationary equation).
    resolution_tol : float
        As in :func:`meanfield.evolve`: the basis must resolve the kernel over ``bounds``.
    amplitude0 : float
        Amplitude of the first off-uniform point (branch switching); the curvature
        p = p_k (1 + c a^2) is extrapolated from amplitudes amplitude0 and 2 amplitude0.
    deflation : bool
        Instead of the branches born at rho = 1, every branch present in the window,
        found by deflation at ``n_values`` parameter values (from ``guesses``, default
        :func:`meanfield.deflated.default_guesses`) and continued over the window
        (:func:`meanfield.deflated.deflated_diagram`; ``modes``, ``amplitude0`` and
        ``start`` are then ignored).

    Branches by isotropy type: where the basis lists several types for a mode (its
    ``branch_types(k)``: the planar basis and S^2, see :mod:`meanfield.isotropy`), one
    branch is traced per type, each in its fixed-point subspace, and each carries its
    ``isotropy``; both halves of a transcritical branch are traced (``side`` +1 and -1),
    since they are different patterns. Stability is always against every perturbation
    the basis holds.

    Returns
    -------
    BifurcationDiagram

    Raises
    ------
    ValueError
        If ``bounds`` contain no bifurcation point of any requested mode.

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.2, 2.0), modes=(1, 2))
    >>> [(p.mode, p.kind) for p in d.bifurcation_points]
    [(1, 'subcritical'), (2, 'supercritical')]
    >>> round(d.folds[0].param, 10)
    0.7502601061
    """
    check_model(model)
    check_basis(basis)
    if param not in PARAMS:
        raise ValueError(f"param must be one of {PARAMS}, got {param!r}")
    lo, hi = check_bounds(bounds)
    ds, ds_max, max_points = _check_steps(ds, ds_max, max_points)
    tol, refine_tol = check_positive(tol, "tol"), check_positive(refine_tol, "refine_tol")
    resolution_tol = check_positive(resolution_tol, "resolution_tol")
    amplitude0 = check_positive(amplitude0, "amplitude0")
    max_modes = check_int(max_modes, "max_modes", 2)
    if param in ("kappa", "noise") and lo <= 0:
        raise ValueError(f"bounds for {param} must be > 0, got {bounds}")
    if deflation:  # every branch in the window, connected to rho = 1 or not
        from .deflated import deflated_diagram

        return deflated_diagram(model, basis, param, (lo, hi), n_values=n_values,
                                guesses=guesses, ds=ds, ds_max=ds_max, max_points=max_points,
                                tol=tol, refine_tol=refine_tol, max_modes=max_modes,
                                resolution_tol=resolution_tol, progress=progress)
    if not model.interaction.uniform_stationary:
        return _diagram_from_state(model, basis, param, (lo, hi), start, ds=ds, ds_max=ds_max,
                                   max_points=max_points, tol=tol, refine_tol=refine_tol,
                                   max_modes=max_modes, resolution_tol=resolution_tol)
    if model.interaction.symmetry != "O(d)":
        raise ValueError(f"{model.kernel!r} commutes with rotations but not reflections: its "
                         "branches from rho = 1 are rotating waves (relative equilibria), "
                         "which bifurcation_diagram does not follow")
    modes = check_modes(modes, basis.max_degree)
    for edge in (lo, hi):  # the kernel must be resolved over the whole parameter range
        model_at(model, param, edge).check_resolution(basis, resolution_tol)
    ds_max = ds_max if ds_max is not None else 0.1 * (hi - lo) + 0.2
    start = time.perf_counter()
    bar = ProgressBar(0, len(modes), label="branch") if progress else None

    roots = {k: bifurcation_points_of_uniform(model, basis, param, (lo, hi), k) for k in modes}
    if not any(roots.values()):
        refs = {k: _closed_form_threshold(model, param, k) for k in modes}
        raise ValueError(f"bounds {param} in [{lo:g}, {hi:g}] contain no bifurcation point from "
                         f"the uniform state for modes {modes} (thresholds: "
                         + ", ".join(f"mode {k}: {v:.6g}" for k, v in refs.items()) + "); "
                         "widen the bounds, or find the branches present in the window with "
                         "meanfield.deflated.deflated_continuation")

    branches, points, folds, crossings, hopfs = [], [], [], [], []
    for n_done, k in enumerate(modes):
        for p_k in roots[k]:
            h = 1e-6 * (abs(p_k) if param in ("kappa", "noise") else max(1.0, abs(p_k)))
            dsigma = (uniform_growth_rate(model, basis, param, k, p_k + h)
                      - uniform_growth_rate(model, basis, param, k, p_k - h)) / (2 * h)
            for bt in branch_types(basis, k):
                bs = _type_system(model, basis, param, k, bt)
                for sw in _branch_starts(bs, k, p_k, bt.exclude, amplitude0):
                    y_a, y_m, y_2 = sw.points()
                    kind, curv = _classify(p_k, dsigma, y_a[-1], y_m[-1], y_2[-1], amplitude0)
                    points.append(BifurcationPoint(
                        param=p_k, mode=k, kind=kind, curvature=curv,
                        closed_form=_closed_form_threshold(model, param, k),
                        isotropy=bt.name))
                    # a transcritical branch's two halves are different states; a
                    # pitchfork's are images of each other under a symmetry
                    sides = (1, -1) if kind == "transcritical" else (1,)
                    for side in sides:
                        y_s, y_s2 = (y_a, y_2) if side > 0 else sw.minus(y_m)
                        out = _trace_half(bs, y_s, y_s2, k, p_k, (lo, hi), bt, side, ds=ds,
                                          ds_max=ds_max, max_points=max_points, tol=tol,
                                          refine_tol=refine_tol, max_modes=max_modes)
                        branch, fl, cr, hp = out
                        branches.append(branch)
                        hopfs += _hopf_points(k, hp)
                        folds += [_fold_of(model, param, b, yf, k) for yf, b in fl]
                        for yc, b in cr:
                            stab = _stability(model_at(model, param, float(yc[-1])),
                                              b.report_basis, b.report_coeffs(yc))
                            if stab.stable:
                                crossings.append(Transition(param=float(yc[-1]), mode=k,
                                                            amplitude=b.amplitude_of(yc, k)))
        if bar is not None:
            bar(n_done + 1)
    if bar is not None:
        bar.close()

    grid = np.linspace(lo, hi, 201)
    f_u, morse_u = [], []
    for p in grid:
        m_p = model_at(model, param, float(p))
        f_u.append(_free_energy_or_nan(m_p, basis, np.ones(basis.shape)))
        rates = m_p.growth_rates(basis.max_degree)[basis.real_degrees]  # one per direction
        morse_u.append(int(np.sum(rates > 1e-12)))
    diag = BifurcationDiagram(
        model=model, param_name=param, bounds=(lo, hi), branches=branches,
        bifurcation_points=points, folds=folds, first_order_transitions=[],
        uniform_param=grid, uniform_free_energy=np.array(f_u),
        uniform_morse_index=np.array(morse_u), wall_time=0.0, hopf_points=hopfs,
        restricted_to=getattr(basis, "restriction", "all"))
    def uniform_stable(p: float) -> bool:
        rates = model_at(model, param, p).growth_rates(basis.max_degree)[1:]
        return bool(np.all(rates < 0))

    diag.first_order_transitions = _global_jumps(diag, crossings, uniform_stable)
    diag.wall_time = time.perf_counter() - start
    return diag


# ---------------------------------------------------------------------------------------
# branch switching by isotropy type
# ---------------------------------------------------------------------------------------


def _type_system(model, basis, param: str, k: int, bt) -> BranchSystem:
    """The branch system of isotropy type ``bt`` (its mask, or its subspace's basis)."""
    if bt.subbasis is not None:
        return BranchSystem(model, bt.subbasis(basis), param, mode=k, parent=basis,
                            embed=bt.embed, amplitude=bt.amplitude)
    return BranchSystem(model, basis, param, mode=k, subspace=bt.mask,
                        amplitude=bt.amplitude)


def _kernel_directions(bs: BranchSystem, k: int, p_k: float, exclude=()):
    """The kernel coordinates of mode k in the subspace and the branch directions there.

    Returns (idx, [(v, slope), ...]): a branch leaves rho = 1 along x[idx] = s v with
    p ~ p_k + slope s. A one-dimensional kernel has the single direction (1,) (slope 0:
    the classification solves for it); a two-dimensional one the roots of the quadratic
    bifurcation equation off the ``exclude`` axes (:func:`meanfield.isotropy.
    quadratic_directions`)."""
    deg = bs.basis.real_degrees[bs.mask]
    idx = np.nonzero(deg == k)[0]
    if idx.size == 0:
        raise ValueError(f"mode {k} is not in the basis (max degree {bs.basis.max_degree})")
    if idx.size == 1:
        return idx, [(np.ones(1), 0.0)]
    if idx.size > 2:
        raise ValueError(f"the mode-{k} kernel in this subspace has dimension {idx.size}; "
                         "give a subspace where it has dimension 1 or 2")
    system, h = bs.system(p_k), 1e-4

    def R(v, sys_=system):
        x = np.zeros(bs.n)
        x[idx] = v
        return sys_.residual(x)[idx]

    r0 = R(np.zeros(2))
    orders = bs.basis.real_orders[bs.mask][idx]
    axes = [j for j in range(2) if (k, int(orders[j])) in tuple(exclude)]
    dirs = quadratic_directions(lambda v: (R(h * v) + R(-h * v) - 2 * r0) / h**2, axes)
    hp = 1e-6 * (abs(p_k) if bs.param in ("kappa", "noise") else max(1.0, abs(p_k)))
    e = np.array([h, 0.0])
    r_p = (R(e, bs.system(p_k + hp))[0] - R(e, bs.system(p_k - hp))[0]) / (2 * hp * h)
    return idx, [(v, -lam / (2 * r_p)) for v, lam in dirs]


@dataclass
class _Start:
    """Branch switching along one kernel direction: x[idx] = s v, p ~ p_k + slope s, with
    the subspace coordinate ``coord`` (v's largest component) held at a fixed value."""

    bs: BranchSystem
    k: int
    p_k: float
    idx: np.ndarray
    v: np.ndarray
    slope: float
    a: float

    @property
    def coord(self) -> int:
        return int(self.idx[int(np.argmax(np.abs(self.v)))])

    def solve(self, a: float, x_guess=None) -> np.ndarray:
        """The solution with x[coord] = a (guess: the tangent line, or ``x_guess``)."""
        if x_guess is None:
            s = a / float(self.v[int(np.argmax(np.abs(self.v)))])
            x_guess = np.zeros(self.bs.n + 1)
            x_guess[self.idx] = s * self.v
            x_guess[-1] = self.p_k + self.slope * s
        return _solve_at_amplitude(self.bs, self.k, a, x_guess[-1], x_guess, coord=self.coord)

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solutions at +a, -a and 2a (branch kind and curvature, first tangent)."""
        y_a = self.solve(self.a)
        return y_a, self.solve(-self.a), self.solve(2 * self.a, y_a)

    def minus(self, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The points at -a and -2a (the other half of a transcritical branch)."""
        return y_m, self.solve(-2 * self.a, y_m)


def _branch_starts(bs: BranchSystem, k: int, p_k: float, exclude, a: float) -> list[_Start]:
    """One branch switching per kernel direction of mode k in the subspace of ``bs``."""
    idx, dirs = _kernel_directions(bs, k, p_k, exclude)
    return [_Start(bs, k, p_k, idx, v, slope, a) for v, slope in dirs]


def _trace_half(bs: BranchSystem, y_s: np.ndarray, y_s2: np.ndarray, k: int, p_k: float,
                bounds, bt, side: int, **options):
    """One half of a branch, from the branch point through y_s (then y_s2) to the bounds."""
    param, model = bs.param, bs.model
    t0 = (y_s2 - y_s) / np.linalg.norm(y_s2 - y_s)
    # away from rho = 1 whatever the sign of ds: a negative step would run back
    # through the pitchfork onto its mirror image (a spurious fold at a = 0)
    ds = abs(options.pop("ds"))
    data, fl, cr, msg = trace_branch(bs, y_s, t0, k, bounds, ds=ds, **options)
    label = f"mode-{k} branch" + (f" of type {bt.name}" if bt.name else "")
    if not msg.startswith("reached the bound"):
        warnings.warn(f"the {label} stopped before the bounds: {msg}; the diagram is "
                      "incomplete beyond that point", stacklevel=3)
    y0 = np.zeros(bs.n + 1)
    y0[-1] = p_k
    m_k = model_at(model, param, p_k)
    rb, c0 = bs.report_basis, bs.report_coeffs(y0)
    stab0 = _stability(m_k, rb, c0)
    branch = Branch(
        mode=k, param_name=param,
        param=np.array([p_k] + data["param"]),
        amplitude=np.array([0.0] + data["amplitude"]),
        free_energy=np.array([_free_energy_or_nan(m_k, rb, np.ones(rb.shape))]
                             + data["free_energy"]),
        stable=np.array([stab0.stable] + data["stable"], dtype=bool),
        morse_index=np.array([stab0.morse_index] + data["morse_index"], dtype=int),
        n_modes=np.array([rb.max_degree + 1] + data["n_modes"], dtype=int),
        coeffs=[c0] + data["coeffs"], message=msg, isotropy=bt.name,
        description=bt.description, side=side)
    return branch, fl, cr, data["hopf"]


def _fold_of(model, param: str, b: BranchSystem, yf: np.ndarray, k: int) -> Fold:
    p = float(yf[-1])
    rho = b.basis.backward(b.coeffs(yf))
    return Fold(param=p, mode=k, amplitude=b.amplitude_of(yf, k),
                free_energy=_free_energy_or_nan(model_at(model, param, p), b.basis, rho))


def _hopf_points(mode: int, located) -> list[HopfPoint]:
    out = []
    for yh, b in located:
        lam = _leading(b, yh)
        out.append(HopfPoint(param=float(yh[-1]), mode=mode, amplitude=b.amplitude_of(yh, mode),
                             frequency=abs(lam.imag)))
    return out


def _diagram_from_state(model, basis, param, bounds, start, *, ds, ds_max, max_points, tol,
                        refine_tol, max_modes, resolution_tol) -> BifurcationDiagram:
    """The branch through a computed stationary state (see :func:`bifurcation_diagram`)."""
    from .stationary import stationary_state

    lo, hi = bounds
    started = time.perf_counter()
    for edge in (lo, hi):
        model_at(model, param, edge).check_resolution(basis, resolution_tol)
    guess = np.ones(basis.shape) if start is None else start
    st = stationary_state(model_at(model, param, lo), basis, guess, tol=min(tol, 1e-12),
                          stability=False)
    amps = [abs(float(basis.amplitude(st.coeffs, k)))
            for k in range(1, min(4, basis.max_degree) + 1)]
    mode = 1 + int(np.argmax(amps)) if max(amps) > 1e-12 else 1
    bs = BranchSystem(model, basis, param, mode=mode, full=True)
    y0 = bs.y_of(st.coeffs, lo)
    t0 = np.zeros(bs.n + 1)
    t0[-1] = 1.0
    ds_max = ds_max if ds_max is not None else 0.1 * (hi - lo) + 0.2
    data, fl, _, msg = trace_branch(bs, y0, t0, mode, (lo, hi), ds=abs(ds), ds_max=ds_max,
                                    max_points=max_points, tol=tol, refine_tol=refine_tol,
                                    max_modes=max_modes)
    if not msg.startswith("reached the bound"):
        warnings.warn(f"the branch stopped before the bounds: {msg}", stacklevel=3)
    branch = Branch(mode=mode, param_name=param, param=np.array(data["param"]),
                    amplitude=np.array(data["amplitude"]),
                    free_energy=np.array(data["free_energy"]),
                    stable=np.array(data["stable"], dtype=bool),
                    morse_index=np.array(data["morse_index"], dtype=int),
                    n_modes=np.array(data["n_modes"], dtype=int), coeffs=data["coeffs"],
                    message=msg)
    hopfs = _hopf_points(mode, data["hopf"])
    folds = [_fold_of(model, param, b, yf, mode) for yf, b in fl]
    empty = np.array([])
    return BifurcationDiagram(
        model=model, param_name=param, bounds=(lo, hi), branches=[branch],
        bifurcation_points=[], folds=folds, first_order_transitions=[], uniform_param=empty,
        uniform_free_energy=empty, uniform_morse_index=np.array([], dtype=int),
        wall_time=time.perf_counter() - started, hopf_points=hopfs,
        restricted_to=getattr(basis, "restriction", "all"))


def _global_jumps(diag: BifurcationDiagram, crossings: list[Transition],
                  uniform_stable: Callable[[float], bool]) -> list[Transition]:
    """The crossings F_branch = F_uniform (located exactly, branch stable there) that are
    jumps of the global minimizer: the uniform state is stable at the crossing and no
    stable state of another branch has a lower free energy there."""
    out = []
    for tr in crossings:
        if not uniform_stable(tr.param):
            continue
        f_u = diag._uniform_free_energy_at(tr.param)
        others = [c[2] for c in diag._candidates(tr.param) if c[1] not in (0, tr.mode)]
        if f_u is not None and all(f >= f_u - 1e-12 * max(1.0, abs(f_u)) for f in others):
            out.append(tr)
    return out


# ---------------------------------------------------------------------------------------
# the phase diagram in (beta, kappa)
# ---------------------------------------------------------------------------------------


def _circle_basis_for(model, tol: float = 1e-12):
    from .bases import CircleBasis

    need = model.required_degree(tol)
    return CircleBasis(max(32, 2 * ((need or 31) + 1)))


def _default_basis_for(model, tol: float = 1e-12):
    """The circle for dim = 2, else zonal densities (the 1-cluster branch is zonal), both
    with twice the degrees the kernel needs (the branch's states are smooth, not the kernel
    alone)."""
    if model.dim == 2:
        return _circle_basis_for(model, tol)
    from .bases import ZonalBasis

    need = model.required_degree(tol)
    return ZonalBasis(model.dim, max(31, 2 * ((need or 15) + 1) - 1))


def first_bifurcation(model, basis=None, amplitude: float = 1e-2) -> BifurcationPoint:
    """kappa_1 of ``model``'s kernel located numerically, with its kind and curvature.

    The kind comes from the curvature c in kappa = kappa_1 (1 + c a^2): supercritical
    (c > 0), subcritical (c < 0); see :func:`bifurcation_diagram`.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> bp = continuation.first_bifurcation(model, basis)
    >>> bp.kind, round(bp.param, 10), bool(abs(bp.param - bp.closed_form) < 1e-12)
    ('subcritical', 0.7588462084, True)
    """
    check_model(model)
    basis = basis if basis is not None else _default_basis_for(model)
    check_basis(basis)
    guess = _closed_form_threshold(model, "kappa", 1)
    if not np.isfinite(guess) or guess <= 0:
        raise ValueError(f"mode 1 of the uniform state never destabilizes for {model.kernel!r}")
    roots = bifurcation_points_of_uniform(model, basis, "kappa", (0.5 * guess, 2.0 * guess), 1)
    if not roots:
        raise RuntimeError(f"no mode-1 bifurcation found near kappa = {guess:.6g}")
    p_k = roots[0]
    bs = BranchSystem(model, basis, "kappa", mode=1)
    y_a = _solve_at_amplitude(bs, 1, amplitude, p_k)
    y_m = _solve_at_amplitude(bs, 1, -amplitude, p_k)
    y_2 = _solve_at_amplitude(bs, 1, 2 * amplitude, y_a[-1], y_a)
    kind, curv = _classify(p_k, 1.0, y_a[-1], y_m[-1], y_2[-1], amplitude)
    return BifurcationPoint(param=p_k, mode=1, kind=kind, curvature=curv, closed_form=guess)


@dataclass
class PhaseDiagram:
    """The first transition of the noisy transformer as a function of beta.

    Attributes
    ----------
    beta, kappa_1, curvature : ndarray
        Sampled beta, the numerically located kappa_1(beta) and the branch curvature c.
    kind : list of str
        "supercritical" (continuous transition) or "subcritical" (first order).
    kappa_fold, kappa_c : ndarray
        For first-order transitions: the fold of the 1-cluster branch and the kappa_c where
        its free energy crosses the uniform state's (nan for continuous transitions).
    beta_star : float
        The tricritical beta where the curvature changes sign (nan if not bracketed).

    Examples
    --------
    >>> import meanfield as mf
    >>> pd = mf.phase_diagram([2.0, 3.0])
    >>> pd.kind, round(pd.beta_star, 8)  # tricritical beta_* of the circle
    (['supercritical', 'subcritical'], 2.44691834)
    """

    beta: np.ndarray
    kappa_1: np.ndarray
    curvature: np.ndarray
    kind: list
    kappa_fold: np.ndarray
    kappa_c: np.ndarray
    beta_star: float
    dim: int = 2
    dynamics: str = "usa"

    def _curves(self) -> dict:
        if getattr(self, "_curve_cache", None) is None:
            from .two_parameter import phase_curves

            self._curve_cache = phase_curves(self, cusps=True)
        return self._curve_cache

    @property
    def fold_curve(self):
        """The fold curve kappa_fold(beta), continued (:mod:`meanfield.two_parameter`);
        None without a first-order transition. ``.beta``, ``.kappa``, ``.at(beta)``."""
        return self._curves()["fold_curve"]

    @property
    def maxwell_curve(self):
        """kappa_c(beta), the first-order line (equal free energies), continued; None
        without a first-order transition."""
        return self._curves()["maxwell_curve"]

    @property
    def branch_point_curve(self):
        """kappa_1(beta) at the sampled beta (Brent on the numerical growth rate)."""
        return self._curves()["branch_point_curve"]

    @property
    def codim2_points(self) -> list:
        """Codimension-two points located on the curves (``.beta``, ``.kappa``, ``.kind``):
        the tricritical point where the fold curve is born from the branch-point curve, and
        cusps ("cusp": the fold's quadratic coefficient changes sign away from it) found
        along the arclength fold path (:func:`meanfield.two_parameter.fold_path`)."""
        return self._curves()["codim2_points"]

    def to_dict(self) -> dict:
        """The diagram as JSON-ready data (arrays, kinds, beta_star).

        Examples
        --------
        >>> import meanfield as mf
        >>> pd = mf.phase_diagram([2.0, 3.0])
        >>> sorted(pd.to_dict())  # doctest: +NORMALIZE_WHITESPACE
        ['beta', 'beta_star', 'curvature', 'dim', 'dynamics', 'kappa_1', 'kappa_c',
         'kappa_fold', 'kind']
        """
        return {"dim": self.dim, "dynamics": self.dynamics, "beta_star": self.beta_star,
                "beta": self.beta, "kappa_1": self.kappa_1, "curvature": self.curvature,
                "kind": list(self.kind), "kappa_fold": self.kappa_fold, "kappa_c": self.kappa_c}

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` to ``path`` as JSON, atomically.

        Examples
        --------
        >>> import meanfield as mf
        >>> pd = mf.phase_diagram([2.0, 3.0])
        >>> import json
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     pd.to_json(Path(tmp) / "phase.json")
        ...     data = json.loads((Path(tmp) / "phase.json").read_text())
        >>> data["kind"], data["kappa_c"][0]  # nan written as a string
        (['supercritical', 'subcritical'], 'nan')
        """
        from . import io

        io.write_json(path, self.to_dict())

    def table(self) -> str:
        """Fixed-width text table, one row per beta, and the tricritical beta_*.

        Examples
        --------
        >>> import meanfield as mf
        >>> pd = mf.phase_diagram([2.0, 3.0])
        >>> print(pd.table())
            beta        kappa_1           kind   curvature c     kappa_fold        kappa_c
          2.0000   1.2573580162  supercritical   1.17968e-01            nan            nan
          3.0000   0.7588462084    subcritical  -1.57203e-01   0.7502601061   0.7521877664
        tricritical beta_* = 2.4469183396
        """
        rows = [f"{'beta':>8} {'kappa_1':>14} {'kind':>14} {'curvature c':>13} "
                f"{'kappa_fold':>14} {'kappa_c':>14}"]
        for i, b in enumerate(self.beta):
            rows.append(f"{b:8.4f} {self.kappa_1[i]:14.10f} {self.kind[i]:>14} "
                        f"{self.curvature[i]:13.5e} {self.kappa_fold[i]:14.10f} "
                        f"{self.kappa_c[i]:14.10f}")
        rows.append(f"tricritical beta_* = {self.beta_star:.10f}")
        return "\n".join(rows)

    def plot(self, path=None):
        """Top: kappa_1(beta), kappa_c and the fold in the (beta, kappa) plane, with beta_*.
        Bottom: their relative distance below kappa_1 (the first-order window).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import meanfield as mf
        >>> pd = mf.phase_diagram([2.0, 3.0])
        >>> fig = pd.plot()
        >>> len(fig.axes)
        2
        """
        import matplotlib.pyplot as plt

        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(6.5, 6.5), sharex=True,
                                      constrained_layout=True, height_ratios=(2, 1))
        sub = np.array([k == "subcritical" for k in self.kind])
        ax.plot(self.beta, self.kappa_1, "k-", lw=1, label=r"$\kappa_1(\beta)$ (numerical)")
        ax.plot(self.beta[sub], self.kappa_c[sub], "C3o-", ms=3,
                label=r"$\kappa_c$ (first-order transition)")
        ax.plot(self.beta[sub], self.kappa_fold[sub], "C0^--", ms=3, label="fold")
        ax2.semilogy(self.beta[sub], 1 - self.kappa_c[sub] / self.kappa_1[sub], "C3o-", ms=3)
        ax2.semilogy(self.beta[sub], 1 - self.kappa_fold[sub] / self.kappa_1[sub], "C0^--", ms=3)
        for a in (ax, ax2):
            if np.isfinite(self.beta_star):
                a.axvline(self.beta_star, color="0.5", ls=":",
                          label=rf"tricritical $\beta_*={self.beta_star:.6f}$")
            a.grid(alpha=0.3)
        ax.set_ylabel(r"$\kappa$")
        ax.set_yscale("log")
        ax.set_title(f"phase diagram of the noisy transformer (S^{self.dim - 1}, "
                     f"{self.dynamics.upper()})")
        ax.legend(fontsize=8)
        ax.text(0.02, 0.04, "uniform state below the curves; clustered above",
                transform=ax.transAxes, fontsize=8, color="0.3")
        ax2.set_xlabel(r"$\beta$")
        ax2.set_ylabel(r"$1-\kappa/\kappa_1$")
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig


def phase_diagram(beta_values, *, dim: int = 2, dynamics: str = "usa", basis_factory=None,
                  progress: bool = False) -> PhaseDiagram:
    """kappa_1(beta), the kind of the first transition, kappa_c and the tricritical beta_*.

    Parameters
    ----------
    beta_values : array_like
        Values of beta to sample (each > 0 for a mode-1 instability).
    dim : int
        Sphere S^{dim-1}; the default basis is the circle for dim = 2 and zonal densities
        (``ZonalBasis(dim, lmax)``) for dim > 2, resolving the kernel at each beta.
    basis_factory : callable, optional
        beta -> basis resolving the kernel at that beta (also used by the continued curves
        ``fold_curve``, ``maxwell_curve``, ``branch_point_curve``).

    Examples
    --------
    On the circle the first transition is continuous below beta_* = 2.4469... and first order
    above, where the 1-cluster branch folds at kappa_fold < kappa_c < kappa_1:

    >>> import meanfield as mf
    >>> pd = mf.phase_diagram([2.0, 3.0])
    >>> pd.kind
    ['supercritical', 'subcritical']
    >>> bool(pd.kappa_fold[1] < pd.kappa_c[1] < pd.kappa_1[1])
    True
    """
    from .model import MeanFieldModel

    betas = np.asarray(beta_values, dtype=float)
    if betas.ndim != 1 or betas.size == 0 or np.any(~np.isfinite(betas)):
        raise ValueError("beta_values must be a non-empty 1-D array of finite numbers")
    if basis_factory is None:
        def basis_factory(beta):
            return _default_basis_for(MeanFieldModel(AttentionKernel(beta), 1.0, dynamics, dim))

    def model_of(beta):
        return MeanFieldModel(AttentionKernel(beta), kappa=1.0, dynamics=dynamics, dim=dim)

    bar = ProgressBar(0, betas.size, label="beta") if progress else None
    k1, curv, kinds, kf, kc = [], [], [], [], []
    for i, beta in enumerate(betas):
        model, basis = model_of(beta), basis_factory(beta)
        bp = first_bifurcation(model, basis)
        k1.append(bp.param)
        curv.append(bp.curvature)
        kinds.append(bp.kind)
        fold = cross = np.nan
        if bp.kind == "subcritical":
            d = bifurcation_diagram(model, basis, "kappa", (0.1 * bp.param, 1.2 * bp.param),
                                    modes=(1,), ds=0.01 * bp.param)
            fold = d.folds[0].param if d.folds else np.nan
            cross = d.first_order_transitions[0].param if d.first_order_transitions else np.nan
            if not (np.isfinite(fold) and np.isfinite(cross)):
                warnings.warn(f"beta={beta:g}: subcritical, but the fold or kappa_c was not "
                              "found in [0.1, 1.2] kappa_1", stacklevel=2)
        kf.append(fold)
        kc.append(cross)
        if bar is not None:
            bar(i + 1)
    if bar is not None:
        bar.close()
    curv = np.array(curv)
    beta_star = np.nan
    flips = np.nonzero(np.sign(curv[:-1]) * np.sign(curv[1:]) < 0)[0]
    if flips.size:
        i = int(flips[0])
        beta_star = brentq(lambda b: first_bifurcation(model_of(b), basis_factory(b)).curvature,
                           betas[i], betas[i + 1], xtol=1e-12, rtol=1e-13)
    pd = PhaseDiagram(beta=betas, kappa_1=np.array(k1), curvature=curv, kind=kinds,
                      kappa_fold=np.array(kf), kappa_c=np.array(kc), beta_star=beta_star,
                      dim=dim, dynamics=dynamics)
    pd._basis_factory = basis_factory  # the continued curves use the same bases
    return pd
