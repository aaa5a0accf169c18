"""Stationary states of the noisy mean-field PDE (DESIGN.md §1).

A stationary density of the noisy flow (kappa < inf) is a fixed point of the Gibbs map

    USA:  T(rho) = exp(kappa G * rho) / Z,
    SA:   T(rho) = (K_beta * rho)^(kappa/beta) / Z,

with Z the normalization (mass 1 w.r.t. sigma). For SA at beta -> 0 the exponent
(kappa/beta) log(K_beta * rho) = (kappa/beta) log(m + beta G * rho) tends to kappa G*rho / m.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validate import check_basis, check_int, check_model, check_positive, real_grid_values
from .free_energy import free_energy as _free_energy
from .model import _floored


def gibbs_exponent(model, basis, rho) -> np.ndarray:
    """The exponent phi with T(rho) = e^phi / Z, on the grid (up to an additive constant).

    Examples
    --------
    USA: ``phi = kappa G * rho``, constant at the uniform state:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> from meanfield.stationary import gibbs_exponent
    >>> phi = gibbs_exponent(model, basis, np.ones(basis.shape))
    >>> phi.shape, float(np.ptp(phi))
    ((96,), 0.0)
    """
    check_model(model)
    check_basis(basis)
    if np.isinf(model.kappa):
        raise ValueError("stationary states need noise: kappa must be finite (kappa=inf has "
                         "no Gibbs fixed point; the noiseless flow concentrates to Diracs)")
    if not hasattr(model.interaction, "potential_multiplier"):
        raise ValueError(f"{model.kernel!r} has no Gibbs map (only the isotropic kernels do); "
                         "its stationary states solve the right-hand side = 0 "
                         "(meanfield.stationary_state)")
    rho = real_grid_values(rho, "rho")
    c = basis.forward(rho)
    if model.dynamics == "usa":
        return model.kappa * basis.backward(model.potential_multiplier(basis) * c)
    beta = model.beta
    if abs(beta) <= 1.0:  # log1p form: accurate as beta -> 0
        mass = basis.mass(c)
        U = basis.backward(model.potential_multiplier(basis) * c)
        if beta == 0:
            return model.kappa * U / mass
        return (model.kappa / beta) * np.log1p(beta * U / mass)
    den = basis.multiplier(model.kernel.sa_coefficients(basis.max_degree, model.dim)[1])
    return (model.kappa / beta) * np.log(_floored(basis, basis.backward(den * c)))


def gibbs_map(model, basis, rho) -> np.ndarray:
    """T(rho) of the module docstring: grid values, mass 1 w.r.t. sigma.

    Examples
    --------
    A stationary state is a fixed point of the Gibbs map:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
    >>> from meanfield.stationary import gibbs_map
    >>> T = gibbs_map(model, basis, st.rho)
    >>> round(float(basis.integrate(T)), 12), bool(np.max(np.abs(T - st.rho)) < 1e-8)
    (1.0, True)
    """
    phi = gibbs_exponent(model, basis, rho)
    w = np.exp(phi - phi.max())
    return w / basis.integrate(w)


def stationary_residual(model, basis, rho) -> float:
    """max |rho - T(rho)| over the grid: 0 exactly at a stationary state.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
    >>> from meanfield.stationary import stationary_residual
    >>> stationary_residual(model, basis, np.ones(basis.shape))  # rho = 1 is stationary
    0.0
    >>> stationary_residual(model, basis, st.rho) < 1e-8
    True
    """
    return float(np.max(np.abs(np.asarray(rho) - gibbs_map(model, basis, rho))))


# ---------------------------------------------------------------------------------------
# Newton's method in coefficient space
# ---------------------------------------------------------------------------------------


class ConvergenceError(RuntimeError):
    """Newton's method did not converge; ``result`` holds the report (residual history).

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.von_mises(basis, 6.0)
    >>> try:
    ...     mf.stationary_state(model, basis, rho0, max_iter=1)
    ... except mf.ConvergenceError as err:
    ...     print(err.result.converged, err.result.iterations)
    False 1
    """

    def __init__(self, message: str, result: StationaryState) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class Stability:
    """Linear stability of a stationary state in the full space.

    Attributes
    ----------
    eigenvalues : ndarray
        Spectrum of the linearized right-hand side (degree-0 / mass direction removed),
        sorted by decreasing real part, with the symmetry zero modes set aside.
    symmetry_eigenvalues : ndarray
        The eigenvalues set aside as the rotation's zero modes (|.| ~ round-off).
    stable : bool
        All remaining eigenvalues have real part < -tol.
    morse_index : int
        Number of remaining eigenvalues with real part > tol (unstable directions).
    restricted_to : str
        The class of perturbations the spectrum covers, the basis's ``restriction``:
        "all", or "zonal" / "planar" (stability against such perturbations only).

    Examples
    --------
    At the uniform state the eigenvalues are the growth rates, each twice on the circle
    (cosine and sine):

    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> stab = mf.linear_stability(model, basis, basis.forward(np.ones(basis.shape)))
    >>> stab.stable, stab.morse_index  # kappa = 1 > kappa_1: mode 1 is unstable
    (False, 2)
    """

    eigenvalues: np.ndarray
    symmetry_eigenvalues: np.ndarray
    stable: bool
    morse_index: int
    restricted_to: str = "all"

    def leading(self, n: int = 5) -> np.ndarray:
        """The n eigenvalues with the largest real parts.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> stab = mf.linear_stability(model, basis, basis.forward(np.ones(basis.shape)))
        >>> bool(np.allclose(stab.leading(3), model.growth_rates(2)[[1, 1, 2]]))
        True
        """
        return self.eigenvalues[:n]


@dataclass
class StationaryState:
    """A stationary density and how it was found.

    ``rho`` (grid values w.r.t. sigma) and ``coeffs`` describe the state; ``residual`` is
    the final max-norm of the scaled stationary equation; ``residual_history`` its value
    per Newton iteration; ``stability`` is filled by :func:`stationary_state` (full-space
    spectrum) unless ``stability=False`` was passed.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
    >>> st.converged, st.rho.shape, st.residual < 1e-12
    (True, (96,), True)
    """

    model: object
    basis: object
    coeffs: np.ndarray
    converged: bool
    residual: float
    residual_history: list[float]
    iterations: int
    message: str = ""
    stability: Stability | None = None
    solver: str = "dense"
    found_by: str = ""
    _rho: np.ndarray | None = field(default=None, repr=False)

    @property
    def rho(self) -> np.ndarray:
        """Grid values of the state on ``basis.grid`` (w.r.t. sigma).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> st.rho.shape, round(float(basis.integrate(st.rho)), 12)
        ((96,), 1.0)
        """
        if self._rho is None:
            self._rho = self.basis.backward(self.coeffs)
        return self._rho

    @property
    def free_energy(self) -> float:
        """Free energy F(rho) of the state (DESIGN.md §1).

        Examples
        --------
        The 1-cluster state has a lower free energy than the (unstable) uniform state:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> bool(st.free_energy < mf.free_energy(model, basis, np.ones(basis.shape)))
        True
        """
        return float(_free_energy(self.model, self.basis, self.rho))

    @property
    def stable(self) -> bool | None:
        """Linear stability in the full space (None if not computed).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> st.stable
        True
        """
        return None if self.stability is None else self.stability.stable

    @property
    def restricted_to(self) -> str:
        """The class of densities the state was solved in and its stability covers (the
        basis's ``restriction``: "all", "zonal" or "planar").

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=6.0, dim=5)
        >>> basis = mf.ZonalBasis(5, 24)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 3.0))
        >>> st.restricted_to, st.stability.restricted_to
        ('zonal', 'zonal')
        """
        return getattr(self.basis, "restriction", "all")

    @property
    def morse_index(self) -> int | None:
        """Number of unstable directions (None if stability was not computed).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> st.morse_index
        0
        """
        return None if self.stability is None else self.stability.morse_index

    def amplitude(self, k: int) -> float:
        """Order parameter of degree k of the state (circle: ``|rho_k|``).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
        >>> round(st.amplitude(1), 6)
        0.911615
        """
        return float(self.basis.amplitude(self.coeffs, k))


def _scaled_rhs_divisor(basis) -> np.ndarray:
    """-Laplacian eigenvalue per real coordinate (the stationary equation is RHS/(-Lap) = 0)."""
    deg = np.asarray(basis.real_degrees, dtype=float)
    return deg * (deg + basis.dim - 2)


class _System:
    """The stationary equation restricted to a subspace, in real coordinates.

    R(x) = real(RHS(c)) / (l(l+d-2)) on the subspace, with c_0 = 1 (mass) fixed. Dividing
    by the Laplacian's eigenvalue makes the Jacobian (1/kappa) I + compact: well
    conditioned at every resolution.
    """

    def __init__(self, model, basis, mask: np.ndarray) -> None:
        self.model, self.basis, self.mask = model, basis, mask
        self.scale = _scaled_rhs_divisor(basis)[mask]
        self.rhs = model.nonlinear_term(basis)
        self.L = model.linear_operator(basis)
        self.n = int(mask.sum())

    def coeffs(self, x: np.ndarray) -> np.ndarray:
        full = np.zeros(self.basis.n_real)
        full[self.mask] = x
        return self.basis.from_real(full, mass=1.0)

    def x_of(self, c: np.ndarray) -> np.ndarray:
        return self.basis.to_real(c)[..., self.mask]

    def residual(self, x: np.ndarray) -> np.ndarray:
        c = self.coeffs(x)
        return self.x_of(self.L * c + self.rhs(c)) / self.scale

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        c = self.coeffs(x)
        eye = np.zeros((self.n, self.basis.n_real))
        eye[np.arange(self.n), np.nonzero(self.mask)[0]] = 1.0
        dirs = self.basis.from_real(eye, mass=0.0)
        cols = self.x_of(self.model.linearization(self.basis, c)(dirs))
        return (cols / self.scale).T


class _Deflated:
    """Deflation (Farrell, Birkisson & Funke 2015) of known solutions x_k of a system.

    R~(x) = m(x) R(x),  m(x) = prod_k (|x - x_k|^(-power) + shift): the known solutions
    are no longer zeros (m blows up there) and every other zero is kept; since m >= shift
    = 1, |R| <= |R~|, so the tolerance on R~ bounds R.
    """

    def __init__(self, system, known: list[np.ndarray], power: float = 2.0,
                 shift: float = 1.0) -> None:
        self.inner, self.known, self.power, self.shift = system, known, power, shift
        for name in ("model", "basis", "mask", "scale", "n", "coeffs", "x_of"):
            setattr(self, name, getattr(system, name))

    def _factor(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        m, grad_log = 1.0, np.zeros_like(x)
        for xk in self.known:
            d = x - xk
            r2 = max(float(d @ d), 1e-300)
            f = r2 ** (-self.power / 2) + self.shift
            m *= f
            grad_log += -self.power * r2 ** (-self.power / 2 - 1) * d / f
        return m, m * grad_log

    def residual(self, x: np.ndarray) -> np.ndarray:
        return self._factor(x)[0] * self.inner.residual(x)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        m, g = self._factor(x)
        return m * self.inner.jacobian(x) + np.outer(self.inner.residual(x), g)

    def jvp(self, x: np.ndarray):
        from .krylov import _jvp_factory

        m, g = self._factor(x)
        r = self.inner.residual(x)
        f = _jvp_factory(self.inner, x)
        return lambda v: m * f(v) + np.outer(np.atleast_2d(v) @ g, r)


class _SymbolicSystem(_System):
    """The same equation from :func:`meanfield.symbolic.fourier_system` (moments b_l)."""

    def __init__(self, model, basis, mask: np.ndarray, period: int) -> None:
        from . import symbolic

        if basis.dim != 2 or model.dynamics != "usa" or mask.sum() != np.sum(
                basis.subspace_mask(True, period)):
            raise ValueError("symbolic=True supports the circle, USA dynamics and the "
                             "symmetric subspace")
        super().__init__(model, basis, mask)
        sub = "even" if period == 1 else "k-periodic"
        fs = symbolic.fourier_system(model.kernel, basis.max_degree, 2, sub, period)
        if [p.name for p in fs.params] != ["kappa"]:
            raise ValueError(f"the kernel's symbolic coefficients have free symbols {fs.params}")
        self._res, self._jac = fs.lambdify()

    def residual(self, x: np.ndarray) -> np.ndarray:
        return self._res(x, self.model.kappa)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return self._jac(x, self.model.kappa)


def _dense_direction(singular: bool):
    """The Newton step from the assembled Jacobian (least squares when ``singular``)."""
    def direction(system, x, r, norm):
        J = system.jacobian(x)
        if singular:
            return np.linalg.lstsq(J, -r, rcond=1e-12)[0], ""
        try:
            return np.linalg.solve(J, -r), ""
        except np.linalg.LinAlgError:
            return None, "singular Jacobian (a bifurcation point, or a degenerate subspace)"
    return direction


def _newton(system: _System, x0: np.ndarray, tol: float, max_iter: int, singular: bool,
            direction=None, name: str = "Newton"):
    """Newton's method with a backtracking line search on the max-norm.

    ``direction(system, x, r, |r|) -> (dx or None, message)`` gives the step (default: the
    dense Jacobian; :mod:`meanfield.krylov` passes GMRES). Returns (x, history, converged,
    message).
    """
    direction = direction or _dense_direction(singular)
    x = np.array(x0, dtype=float)
    r = system.residual(x)
    history = [float(np.max(np.abs(r)))]
    message = ""
    for _ in range(max_iter):
        if history[-1] <= tol:
            break
        dx, message = direction(system, x, r, history[-1])
        if dx is None:
            break
        alpha, accepted = 1.0, False
        while alpha >= 1.0 / 1024:
            x_try = x + alpha * dx
            r_try = system.residual(x_try)
            norm = float(np.max(np.abs(r_try)))
            if np.isfinite(norm) and norm < (1 - 1e-4 * alpha) * history[-1]:
                accepted = True
                break
            alpha /= 2
        if not accepted:
            message = (f"line search failed at residual {history[-1]:.3e} (no decrease along "
                       f"the {name} direction down to step 1/1024)")
            break
        x, r = x_try, r_try
        history.append(norm)
    converged = history[-1] <= tol
    if not converged and not message:
        message = f"no convergence in {max_iter} iterations (residual {history[-1]:.3e})"
    return x, history, converged, message


def _guess_coeffs(basis, guess) -> np.ndarray:
    if callable(guess):
        guess = guess(basis.grid)
    g = np.asarray(guess)
    if g.shape == basis.coeff_shape and np.iscomplexobj(g) == np.iscomplexobj(
            np.zeros(1, basis.coeff_dtype)) and g.shape != basis.shape:
        return g.astype(basis.coeff_dtype)
    g = real_grid_values(g, "guess")
    if g.shape != basis.shape:
        raise ValueError(f"guess must be a density on basis.grid of shape {basis.shape}, "
                         f"got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("guess contains NaN/inf values")
    if g.min() < 0:
        raise ValueError(f"guess must be a nonnegative density; min = {g.min():.3e}")
    mass = float(basis.integrate(g))
    if mass <= 0:
        raise ValueError("guess has zero mass")
    return basis.forward(g / mass)


SOLVERS = ("auto", "dense", "krylov")
GUESS_AMPLITUDE = 0.1  # a guess with an order parameter above this is "clearly non-uniform"
DENSE_MAX_UNKNOWNS = 200  # above: Newton-Krylov (benchmarks/bench_krylov.py: 15-27x at 168-440)


def _leading_stability(model, basis, c, tol: float, k: int) -> Stability:
    from .krylov import leading_eigenvalues

    vals, gens = leading_eigenvalues(model, basis, c, k=k)
    top = max(1.0, float(np.max(np.abs(vals))))
    thr = max(tol, 1e-12 * top)
    return Stability(eigenvalues=vals, symmetry_eigenvalues=np.zeros(gens.shape[0]),
                     stable=bool(np.all(vals.real < -thr)),
                     morse_index=int(np.sum(vals.real > thr)),
                     restricted_to=getattr(basis, "restriction", "all"))


def stationary_state(model, basis, guess, *, symmetric: bool | None = None, period: int = 1,
                     tol: float = 1e-12, max_iter: int = 50, stability: bool = True,
                     raise_on_failure: bool = True, symbolic: bool = False,
                     solver: str = "auto", deflate=()) -> StationaryState:
    """Solve for a stationary state of the noisy mean-field PDE by Newton's method.

    The unknowns are the coefficients of rho (mass fixed to 1) in a subspace; the
    equation is the right-hand side divided by the Laplacian's eigenvalue (on the circle
    the quadratic system k rho_k = (kappa/beta) sum_j j I_|j| rho_j rho_{k-j} up to a
    factor), with its exact Jacobian, and a backtracking line search on the max-norm.

    Parameters
    ----------
    model : MeanFieldModel
        kappa must be finite.
    basis : basis with the real-coordinate interface (e.g. CircleBasis).
    guess : ndarray or callable
        Initial density on ``basis.grid`` (w.r.t. sigma, normalized here) or coefficients.
    symmetric : bool, optional
        Solve among even densities (cosine series), which removes the rotation; with
        False the full space is used (least-squares Newton steps along the orbit). The
        default is True when the interaction commutes with reflections
        (``model.interaction.symmetry == "O(d)"``: the isotropic kernels) and False
        otherwise (weighted layers), where the even subspace is not invariant.
    period : int
        Restrict to 2 pi/period-periodic densities (period-cluster states).
    tol : float
        Max-norm tolerance on the scaled residual.
    stability : bool
        Compute the full-space spectrum (:func:`linear_stability`) of the result.
    raise_on_failure : bool
        Raise :class:`ConvergenceError` (with the residual history) when Newton fails.
    symbolic : bool
        Use the residual and Jacobian generated by :mod:`meanfield.symbolic` (sympy,
        lambdified) instead of the pseudo-spectral ones: an independent cross-check
        (circle, USA, symmetric subspace; the sympy build grows fast with n_modes).
    solver : {"auto", "dense", "krylov"}
        "dense": Newton with the assembled Jacobian (least squares in the full space);
        "krylov": matrix-free Newton–Krylov (:mod:`meanfield.krylov`: GMRES on
        Jacobian-vector products); "auto": dense up to ``DENSE_MAX_UNKNOWNS`` unknowns,
        Krylov above. The result's ``solver`` says which ran.
    deflate : sequence of StationaryState or coefficient arrays
        Known stationary states to exclude (deflation, Farrell–Birkisson–Funke 2015):
        Newton then converges to a different state from the same guess. Independently of
        this, when a clearly non-uniform guess (an order parameter of degree <= 3 above
        ``GUESS_AMPLITUDE``) converges to the uniform state, the solve is repeated with the
        uniform state deflated, and the state near the guess is returned if one is found.
        ``found_by`` says how the state was found.

    Returns
    -------
    StationaryState

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
    >>> round(st.amplitude(1), 8), st.stable
    (0.91161504, True)
    """
    check_model(model)
    check_basis(basis)
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter")
    if np.isinf(model.kappa):
        raise ValueError("stationary states need noise: kappa must be finite")
    reflective = model.interaction.symmetry == "O(d)"
    if symmetric is None:
        symmetric = reflective
    elif symmetric and not reflective:
        raise ValueError(f"symmetric=True restricts to reflection-symmetric densities, which "
                         f"{model.kernel!r} does not keep invariant (its symmetry is "
                         f"{model.interaction.symmetry}); use symmetric=False")
    if period != 1 and model.interaction.symmetry is None:
        raise ValueError(f"period={period} needs an interaction that commutes with rotations; "
                         f"{model.kernel!r} does not")
    mask = basis.subspace_mask(symmetric=symmetric, period=period)
    if not np.any(mask):
        raise ValueError(f"period={period} leaves no unknowns in {basis!r}: a 2 pi/period-"
                         "periodic state has modes only at multiples of period, and the "
                         f"basis's highest degree is {basis.max_degree}; use period in "
                         f"[1, {basis.max_degree}] or more modes")
    system = (_SymbolicSystem(model, basis, mask, period) if symbolic
              else _System(model, basis, mask))
    c0 = _guess_coeffs(basis, guess)
    x0 = system.x_of(c0)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver == "auto":
        solver = "dense" if symbolic or system.n <= DENSE_MAX_UNKNOWNS else "krylov"
    if solver == "symbolic" or symbolic:
        solver = "dense"
    known = [system.x_of(np.asarray(getattr(k, "coeffs", k))) for k in deflate]

    def solve(known_x):
        sys_ = _Deflated(system, known_x) if known_x else system
        if solver == "krylov":
            from .krylov import newton_krylov

            return newton_krylov(sys_, x0, tol, max_iter)
        return _newton(sys_, x0, tol, max_iter, singular=not symmetric)

    x, history, converged, message = solve(known)
    found_by = (f"Newton ({solver}) with {len(known)} known state(s) deflated" if known
                else f"Newton ({solver}) from the guess")
    guess_amp = max(abs(float(basis.amplitude(c0, k)))
                    for k in range(1, min(3, basis.max_degree) + 1))
    uniform = np.max(np.abs(x)) < 1e-8 if x.size else True
    if converged and uniform and guess_amp > GUESS_AMPLITUDE and \
            model.interaction.uniform_stationary:
        x_u = np.zeros_like(x0)
        x2, h2, ok2, m2 = solve(known + [x_u])
        if ok2 and np.max(np.abs(x2)) > 1e-6:
            x, history, converged, message = x2, h2, ok2, m2
            also = f" (and {len(known)} known state(s))" if known else ""
            found_by = (f"Newton ({solver}): the guess (order parameter {guess_amp:.3g}) first "
                        f"converged to the uniform state; with the uniform state{also} "
                        "deflated it converged to this state")
        else:
            found_by += ("; the guess is non-uniform but the only state found is the uniform "
                         "one (also with the uniform state deflated)")
    c = system.coeffs(x)
    residual = float(np.max(np.abs(system.residual(x)))) if x.size else history[-1]
    state = StationaryState(model=model, basis=basis, coeffs=c, converged=converged,
                            residual=residual, residual_history=history,
                            iterations=len(history) - 1, message=message, solver=solver,
                            found_by=found_by)
    if not converged:
        text = (f"stationary_state did not converge: {message}; residual history "
                + ", ".join(f"{h:.2e}" for h in history[-8:]))
        if raise_on_failure:
            raise ConvergenceError(text, state)
        state.message = text
        return state
    rho = state.rho[..., basis.reliable_nodes]
    if rho.min() < -1e-8 * rho.max():
        state.message = (f"converged to a non-positive 'density' (min {rho.min():.2e}): "
                         "under-resolved; increase the number of modes")
        if raise_on_failure:
            raise ConvergenceError(state.message, state)
    if stability:
        state.stability = linear_stability(model, basis, c)
    return state


def linear_stability(model, basis, coeffs, tol: float = 1e-9, k: int | None = None) -> Stability:
    """Spectrum of the linearized PDE at a stationary state, in the full space.

    The mass direction (degree 0) is excluded. The Jacobian is assembled exactly (batched
    directional derivatives) and split into the blocks that the state's symmetries leave
    invariant (``basis.invariant_blocks``: on the circle, cosine / sine parts of an even
    state and the wavenumber classes of a 2 pi/k-periodic state), so that a 1-cluster
    state costs two eigenproblems of half the size. For a non-uniform state, the
    eigenvalue whose eigenvector spans the rotation orbit's tangent
    (``basis.rotation_generators``) is set aside as a symmetry zero mode.

    With ``k``, only the k eigenvalues of largest real part are computed, matrix-free by
    Arnoldi (:func:`meanfield.krylov.leading_eigenvalues`, the orbit's tangent set aside):
    ``stable`` is then exact, and ``morse_index`` is exact when fewer than k eigenvalues
    are unstable (otherwise it is k, a lower bound, and the result says so in
    ``eigenvalues.size == k``).

    Eigenvalues with |Re| below max(tol, 1e-12 max|lambda|) (round-off of the eigensolver
    relative to the stiffest mode) count as neither stable nor unstable: a state with such
    a marginal eigenvalue is reported not stable, with Morse index counting only clearly
    positive real parts.

    Examples
    --------
    The uniform state of a subcritical model (kappa below kappa_1) is stable; the leading
    eigenvalue is the growth rate ``I_1(beta)/beta - 1/kappa`` of mode 1:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=0.5)
    >>> basis = mf.CircleBasis(32)
    >>> stab = mf.linear_stability(model, basis, basis.forward(np.ones(basis.shape)))
    >>> stab.stable, stab.morse_index, round(float(stab.leading(1)[0].real), 6)
    (True, 0, -0.68221)
    """
    check_model(model)
    check_basis(basis)
    tol = check_positive(tol, "tol")
    c = np.asarray(coeffs)
    if k is not None:
        return _leading_stability(model, basis, c, tol, k)
    lin = model.linearization(basis, c)
    symmetry = model.interaction.symmetry
    gens = ([basis.to_real(g) for g in basis.rotation_generators(c)] if symmetry is not None
            else [])  # the rotation orbit is a zero mode only when the field commutes with it
    gens = [g for g in gens if np.linalg.norm(g) > 1e-10]  # none at the uniform state
    blocks = (basis.invariant_blocks(c) if symmetry == "O(d)"
              else [np.arange(basis.n_real)])  # reflections split the blocks
    kept, set_aside = [], []
    for idx in blocks:
        eye = np.zeros((idx.size, basis.n_real))
        eye[np.arange(idx.size), idx] = 1.0
        J = basis.to_real(lin(basis.from_real(eye, mass=0.0)))[:, idx].T
        vals, vecs = np.linalg.eig(J)
        keep = np.ones(vals.size, bool)
        scale = max(1.0, float(np.max(np.abs(vals))))
        for gx in gens:
            g = gx[idx]
            if np.linalg.norm(g) < 1e-8 * np.linalg.norm(gx):
                continue
            align = np.abs(vecs.conj().T @ g) / (np.linalg.norm(vecs, axis=0)
                                                 * np.linalg.norm(g))
            cand = np.nonzero(keep & (np.abs(vals) < 1e-6 * scale))[0]
            if cand.size:
                i = cand[np.argmax(align[cand])]
                keep[i] = False
                set_aside.append(vals[i])
        kept.append(vals[keep])
    rest = np.concatenate(kept)
    rest = rest[np.argsort(-rest.real, kind="stable")]
    top = max(1.0, float(np.max(np.abs(rest)))) if rest.size else 1.0
    rest = np.where(np.abs(rest.imag) < 1e-12 * top, rest.real, rest)
    thr = max(tol, 1e-12 * top)
    return Stability(eigenvalues=rest, symmetry_eigenvalues=np.array(set_aside),
                     stable=bool(np.all(rest.real < -thr)),
                     morse_index=int(np.sum(rest.real > thr)),
                     restricted_to=getattr(basis, "restriction", "all"))
