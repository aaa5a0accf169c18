"""Deflated continuation: every branch of stationary states in a parameter window.

``bifurcation_diagram`` follows the branches that bifurcate from the uniform state inside
its window. Branches that are not connected to it there (their bifurcation point lies
outside the window, or they are born at a fold of their own) are invisible to it. Deflated
continuation (Farrell, Beentjes and Birkisson, "The computation of disconnected bifurcation
diagrams", arXiv:1603.00809, building on the deflation of Farrell, Birkisson and Funke
2015) discovers them: at each parameter value of a grid

1. every known branch is continued by Newton's method from its last point, with the states
   already found at this value deflated (so two branches never collapse onto one);
2. new states are searched for from every state found at the previous value and from a
   set of guesses, with all states found at this value deflated; each new state starts a
   new branch.

States are compared modulo the symmetry of the model (on the circle: rotations and the
reflection; on S^2: rotations): two states are the same when their rotation-invariant
signature (the degree powers |rho_l|, l = 1..lmax) agree to ``same_tol``. Each point carries
its Morse index (the number of unstable directions of the full-space linearization, the
rotation zero modes set aside), so that saddles (metastable multi-cluster states) and
minimizers are told apart.

:func:`deflated_diagram` turns the discovered families into a
:class:`~meanfield.diagram.BifurcationDiagram`: each family is continued by
pseudo-arclength from one of its points to both ends of the window (on the circle in the
even subspace of the state turned onto its reflection axis), discovered points already on
a continued branch are not continued again, and a branch reaching rho = 1 ends at its
bifurcation point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import continuation as _cont
from ._validate import check_basis, check_bounds, check_int, check_model, check_positive
from .bases import CircleBasis
from .diagram import BifurcationDiagram, BifurcationPoint, Branch, Fold, Transition
from .progress import ProgressBar


@dataclass
class DeflatedBranch:
    """One branch found by :func:`deflated_continuation`.

    ``params`` (increasing or decreasing like the grid), ``coeffs`` (one state per point),
    ``amplitudes`` (shape (points, 4): |rho_k|, k = 1..4, the basis's order parameters),
    ``morse_index`` and ``residual`` per point; ``kind`` names the branch by its leading
    order parameter at its first point ("uniform", "mode k").
    """

    params: list[float] = field(default_factory=list)
    coeffs: list[np.ndarray] = field(default_factory=list)
    amplitudes: list[np.ndarray] = field(default_factory=list)
    morse_index: list[int] = field(default_factory=list)
    residual: list[float] = field(default_factory=list)
    found_at: float = np.nan

    @property
    def kind(self) -> str:
        a = np.asarray(self.amplitudes[0])
        if np.max(a) < 1e-8:
            return "uniform"
        return f"mode {int(np.argmax(a)) + 1}"

    @property
    def stable(self) -> np.ndarray:
        """Morse index 0 (linearly stable, up to the rotations) per point."""
        return np.asarray(self.morse_index) == 0


@dataclass
class DeflatedDiagram:
    """The result of :func:`deflated_continuation`: all branches found in the window."""

    model: object
    basis: object
    param_name: str
    values: np.ndarray
    branches: list[DeflatedBranch]
    wall_time: float = 0.0

    def table(self) -> str:
        """One line per branch: kind, where it was found, its extent and Morse indices."""
        lines = [f"{'branch':>6} {'kind':>8} {'found at':>10} {'from':>10} {'to':>10} "
                 f"{'points':>6} {'Morse index':>12}"]
        for i, b in enumerate(self.branches):
            m = sorted(set(b.morse_index))
            lines.append(f"{i:>6} {b.kind:>8} {b.found_at:>10.5g} {b.params[0]:>10.5g} "
                         f"{b.params[-1]:>10.5g} {len(b.params):>6} "
                         f"{','.join(map(str, m)):>12}")
        return "\n".join(lines)

    def plot(self, path=None, mode: int = 1):
        """Order parameter |rho_mode| (and |rho_2|) of every branch against the parameter;
        solid where the Morse index is 0, dashed where the state is a saddle."""
        import matplotlib.pyplot as plt

        from .plotting import parameters_label

        fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        for k, ax in zip((mode, mode + 1), axes, strict=True):
            for i, b in enumerate(self.branches):
                p = np.asarray(b.params)
                a = np.asarray(b.amplitudes)[:, k - 1]
                st = np.asarray(b.morse_index) == 0
                ax.plot(p, np.where(st, a, np.nan), "-", color=f"C{i % 10}",
                        label=f"{i}: {b.kind}")
                ax.plot(p, np.where(st, np.nan, a), "--", color=f"C{i % 10}")
            ax.set_xlabel(self.param_name)
            ax.set_ylabel(rf"$|\rho_{k}|$")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize="small", title="branch (dashed: saddle)")
        fig.suptitle("deflated continuation: "
                     + parameters_label(self.model, omit=(self.param_name,)), fontsize=10)
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig


def default_guesses(basis, concentrations=(2.0, 8.0), modes=(1, 2, 3)) -> list[np.ndarray]:
    """Grid values exp(a T_k(<x, e_1>)) (cos k theta on the circle): k-cluster guesses.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.deflated import default_guesses
    >>> len(default_guesses(mf.CircleBasis(16)))
    6
    """
    t = np.clip(basis.points[..., 0], -1.0, 1.0)
    out = []
    for k in modes:
        if k > basis.max_degree:
            continue
        tk = np.cos(k * np.arccos(t))
        for a in concentrations:
            g = np.exp(a * (tk - 1.0))
            out.append(g / basis.integrate(g))
    return out


def _signature(basis, c: np.ndarray) -> np.ndarray:
    """Rotation-invariant signature: |rho_l| for every degree l >= 1."""
    return np.array([float(basis.amplitude(c, k)) for k in range(1, basis.max_degree + 1)])


def _is_new(basis, c, found, tol) -> bool:
    s = _signature(basis, c)
    return all(np.max(np.abs(s - _signature(basis, f))) > tol for f in found)


def deflated_continuation(model, basis, param: str = "kappa", values=None, *, guesses=None,
                          max_branches: int = 12, tries: int = 3, tol: float = 1e-11,
                          same_tol: float = 1e-6, progress: bool = False) -> DeflatedDiagram:
    """All branches of stationary states on a grid of ``param`` (module docstring).

    Parameters
    ----------
    model : MeanFieldModel
        Finite kappa (the noisy flow has stationary states; the parameter value of the
        model is replaced by each grid value).
    basis : a basis (circle, S^2, zonal).
    param : {"kappa", "noise", "beta"}
    values : array_like
        The parameter grid, in the order it is walked (at least 2 values).
    guesses : list of grid arrays, optional
        Where the search for new states starts at each value, besides the states already
        found there (default :func:`default_guesses`: 1-, 2- and 3-cluster profiles).
    max_branches : int
        Stop discovering beyond this many branches.
    tries : int
        Deflated Newton solves per starting point and value.
    tol : float
        Newton tolerance (max-norm of the scaled stationary equation).
    same_tol : float
        Two states are one when their signatures agree to this.
    progress : bool
        A progress bar over the grid.

    Returns
    -------
    DeflatedDiagram

    Examples
    --------
    At beta = 3 the mode-1 bifurcation point kappa_1 = 0.7588 is left of the window
    [0.9, 1.2]: ``bifurcation_diagram`` finds no branch there, deflated continuation finds
    the uniform state (a saddle: mode 1 is unstable) and the synchronized cluster (stable):

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.deflated import deflated_continuation
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> dd = deflated_continuation(model, mf.CircleBasis(32), "kappa",
    ...                            np.linspace(0.9, 1.2, 4))
    >>> [(b.kind, sorted(set(b.morse_index))) for b in dd.branches]
    [('uniform', [2]), ('mode 1', [0])]
    """
    from .continuation import model_at
    from .stationary import ConvergenceError, stationary_state

    values = np.asarray(values if values is not None else [], dtype=float)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a 1-D grid of at least 2 finite {param} values, got "
                         f"{values!r}")
    for name, v, lo in (("max_branches", max_branches, 1), ("tries", tries, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    guesses = default_guesses(basis) if guesses is None else [np.asarray(g, float)
                                                               for g in guesses]
    uniform = basis.forward(np.ones(basis.shape))
    branches: list[DeflatedBranch] = []
    active: list[DeflatedBranch] = []
    previous: list[np.ndarray] = []
    t0 = time.perf_counter()
    bar = ProgressBar(0, values.size, label="values") if progress else None

    def solve(m, guess, known):
        try:
            st = stationary_state(m, basis, guess, deflate=known, tol=tol, stability=False,
                                  raise_on_failure=False)
        except (ConvergenceError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            return None
        return st if st.converged and not st.message.startswith("converged to a non") else None

    for i, p in enumerate(values):
        m = model_at(model, param, float(p))
        found: list[np.ndarray] = []
        still = []
        for br in active:  # 1. continue the known branches
            st = solve(m, br.coeffs[-1], found)
            if st is not None and _is_new(basis, st.coeffs, found, same_tol):
                _append(br, m, basis, float(p), st)
                found.append(st.coeffs)
                still.append(br)
        active = still
        if not found or _is_new(basis, uniform, found, same_tol):  # the uniform state
            st = solve(m, uniform, found)
            if st is not None and _is_new(basis, st.coeffs, found, same_tol):
                active.append(_new_branch(branches, m, basis, float(p), st))
                found.append(st.coeffs)
        # 2. discover: from the previous value's states (as Farrell et al.) and the guesses
        starts = [basis.backward(c) for c in previous] + guesses
        for g in starts:
            for _ in range(tries):
                if len(branches) >= max_branches:
                    break
                st = solve(m, g, found)
                if st is None or not _is_new(basis, st.coeffs, found, same_tol):
                    break
                active.append(_new_branch(branches, m, basis, float(p), st))
                found.append(st.coeffs)
        previous = found
        if bar is not None:
            bar(i + 1, f"{len(branches)} branches")
    if bar is not None:
        bar.close()
    return DeflatedDiagram(model=model, basis=basis, param_name=param, values=values,
                           branches=branches, wall_time=time.perf_counter() - t0)


def _append(br: DeflatedBranch, model, basis, p: float, st) -> None:
    from .stationary import linear_stability

    br.params.append(p)
    br.coeffs.append(st.coeffs)
    br.amplitudes.append(np.array([float(basis.amplitude(st.coeffs, k))
                                   for k in range(1, min(4, basis.max_degree) + 1)]))
    br.morse_index.append(int(linear_stability(model, basis, st.coeffs).morse_index))
    br.residual.append(float(st.residual))


def _new_branch(branches: list, model, basis, p: float, st) -> DeflatedBranch:
    br = DeflatedBranch(found_at=p)
    _append(br, model, basis, p, st)
    branches.append(br)
    return br


# ---------------------------------------------------------------------------------------
# the diagram: deflated discovery, then arclength continuation of every family
# ---------------------------------------------------------------------------------------

#: a state whose degree powers are all below this is the uniform state
_UNIFORM_TOL = 1e-8


def deflated_diagram(model, basis, param: str = "kappa", bounds=(0.2, 2.0), *,
                     n_values: int = 5, guesses=None, ds: float = 0.02,
                     ds_max: float | None = None, max_points: int = 400, tol: float = 1e-11,
                     refine_tol: float = 1e-12, max_modes: int = 1024,
                     resolution_tol: float = 1e-12, same_tol: float = 1e-6,
                     progress: bool = False) -> BifurcationDiagram:
    """Every branch of stationary states in ``bounds``, found by deflation and continued.

    1. :func:`deflated_continuation` on ``n_values`` equispaced values of ``param`` in
       ``bounds`` discovers the families of stationary states (connected to rho = 1 or not);
    2. each family is continued by pseudo-arclength (:func:`meanfield.continuation.trace_branch`)
       from one of its points in both directions to the bounds: in the full space when
       the interaction has no continuous symmetry (or the basis keeps none, as the zonal
       class), on the circle with an O(2)-invariant interaction in the even,
       2 pi/k-periodic subspace of the state rotated onto its reflection axis (k: the gcd
       of its wavenumbers; the rotation zero mode is then removed);
    3. discovered points that lie on an already continued branch (Newton at their
       parameter value from the branch interpolated there converges to a state with the
       same degree powers |rho_l|, i.e. the same state up to rotation and reflection) are
       not continued again, so each branch appears once;
    4. a branch that reaches rho = 1 inside the window ends there, at the bifurcation
       point located as the zero of the uniform state's growth rate (a
       :class:`~meanfield.diagram.BifurcationPoint`; its mirror image beyond is a rotated
       copy of itself).

    The uniform state (when stationary) is the diagram's ``uniform_*`` samples, as in
    :func:`meanfield.bifurcation_diagram`, not a branch. States that cannot be continued
    (on the circle: without reflection symmetry; on S^2 with rotations) are kept as the
    points deflation found, with a message saying so.

    Parameters
    ----------
    model : MeanFieldModel
        Finite kappa; its value of ``param`` is ignored.
    basis : a basis with the real-coordinate interface (CircleBasis, ZonalBasis, ...).
    param : {"kappa", "noise", "beta"}
    bounds : (lo, hi)
        Parameter window (lo > 0 for kappa and noise).
    n_values : int
        Parameter values (>= 2, equispaced over ``bounds``) of the deflated discovery.
    guesses : list of grid arrays, optional
        Starting points of the discovery (default :func:`default_guesses`).
    ds, ds_max, max_points, tol, refine_tol, max_modes, resolution_tol
        As in :func:`meanfield.bifurcation_diagram` (tol is also deflation's Newton
        tolerance).
    same_tol : float
        Two states are one when their degree powers agree to this.
    progress : bool
        A progress bar over the discovery grid.

    Returns
    -------
    BifurcationDiagram
        Each branch with ``morse_index`` and ``stable`` at every point and a message
        starting "found by deflation at"; ``bifurcation_points`` only where a branch ends
        on rho = 1; folds and first-order transitions as located along the branches.

    Examples
    --------
    At beta = 3 the window kappa in [0.9, 1.2] holds no bifurcation point of rho = 1
    (kappa_1 = 0.7588); the synchronized cluster is found by deflation and continued:

    >>> import meanfield as mf
    >>> from meanfield.deflated import deflated_diagram
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> d = deflated_diagram(model, mf.CircleBasis(32), "kappa", (0.9, 1.2), n_values=3)
    >>> [(b.mode, float(b.param[0]), float(b.param[-1]), set(b.morse_index.tolist()))
    ...  for b in d.branches]
    [(1, 0.9, 1.2, {0})]
    >>> d.branches[0].message
    'found by deflation at kappa=1.05; continued to the bound kappa=0.9 and to the bound kappa=1.2'
    """
    check_model(model)
    check_basis(basis)
    if param not in _cont.PARAMS:
        raise ValueError(f"param must be one of {_cont.PARAMS}, got {param!r}")
    lo, hi = check_bounds(bounds)
    if param in ("kappa", "noise") and lo <= 0:
        raise ValueError(f"bounds for {param} must be > 0, got {bounds}")
    n_values = check_int(n_values, "n_values", 2)
    ds, ds_max, max_points = _cont._check_steps(ds, ds_max, max_points)
    opts = {"ds": abs(ds), "ds_max": ds_max if ds_max is not None else 0.1 * (hi - lo) + 0.2,
            "max_points": max_points, "tol": check_positive(tol, "tol"),
            "refine_tol": check_positive(refine_tol, "refine_tol"),
            "max_modes": check_int(max_modes, "max_modes", 2)}
    same_tol = check_positive(same_tol, "same_tol")
    resolution_tol = check_positive(resolution_tol, "resolution_tol")
    for edge in (lo, hi):
        _cont.model_at(model, param, edge).check_resolution(basis, resolution_tol)
    started = time.perf_counter()
    found = deflated_continuation(model, basis, param, np.linspace(lo, hi, n_values),
                                  guesses=guesses, tol=opts["tol"], same_tol=same_tol,
                                  progress=progress)
    parts = _Parts()
    for fam in found.branches:
        left = []  # the family's points on no branch continued so far
        for i in _seed_order(fam, lo, hi):
            p, c = fam.params[i], fam.coeffs[i]
            if max(_signature(basis, c)) < _UNIFORM_TOL or any(
                    _on_branch(model, basis, param, b, p, c, opts["tol"], same_tol)
                    for b in parts.branches):
                continue
            if not parts.continue_from(model, basis, param, (lo, hi), p, c, opts):
                left.append(i)
        if left:
            parts.branches.append(_grid_branch(model, basis, param, fam, sorted(left)))
    return parts.diagram(model, basis, param, (lo, hi), started)


def _seed_order(fam: DeflatedBranch, lo: float, hi: float) -> list[int]:
    """The family's points, the one nearest the middle of the window first (a seed away
    from the bounds is continued in both directions)."""
    mid = 0.5 * (lo + hi)
    return sorted(range(len(fam.params)), key=lambda i: abs(fam.params[i] - mid))


def _at_resolution(basis, n_modes: int):
    """``basis`` with ``n_modes`` = max_degree + 1 (a branch point's resolution)."""
    n_modes = int(n_modes)
    return basis if n_modes == basis.max_degree + 1 else basis.with_max_degree(n_modes - 1)


def _coeffs_in(basis, c: np.ndarray, n_modes: int) -> np.ndarray:
    """Coefficients of a branch point (resolution ``n_modes``) expressed in ``basis``."""
    own = _at_resolution(basis, n_modes)
    return np.asarray(c) if own is basis else own.convert(c, basis)


def _on_branch(model, basis, param: str, br: Branch, p: float, c: np.ndarray, tol: float,
               same_tol: float) -> bool:
    """Whether the state c at p lies on branch ``br``: from the branch interpolated
    linearly at p (between each pair of consecutive points bracketing p: once per
    monotone piece), Newton converges to a state with the signature of c (the same state
    up to rotation and reflection)."""
    from .stationary import stationary_state

    s = _signature(basis, c)
    x = np.asarray(br.param, dtype=float)
    m = _cont.model_at(model, param, float(p))
    eps = 1e-12 * max(1.0, abs(p))
    for i in range(x.size - 1):
        if not min(x[i], x[i + 1]) - eps <= p <= max(x[i], x[i + 1]) + eps:
            continue
        w = 0.0 if x[i + 1] == x[i] else (p - x[i]) / (x[i + 1] - x[i])
        guess = ((1 - w) * _coeffs_in(basis, br.coeffs[i], br.n_modes[i])
                 + w * _coeffs_in(basis, br.coeffs[i + 1], br.n_modes[i + 1]))
        st = stationary_state(m, basis, basis.backward(guess), tol=tol, stability=False,
                              raise_on_failure=False)
        if st.converged and np.max(np.abs(_signature(basis, st.coeffs) - s)) <= same_tol:
            return True
    return False


def _even_form(basis, c: np.ndarray, tol: float = 1e-9):
    """On the circle: (c rotated onto a reflection axis, period k) when the state is even
    about some axis, else None. The rotation by phi multiplies c_j by exp(-i j phi)."""
    c = np.asarray(c)
    j = np.asarray(basis.degrees)
    scale = float(np.max(np.abs(c[1:])))
    active = j[1:][np.abs(c[1:]) > tol * max(scale, 1.0)]
    if active.size == 0:
        return None
    m = int(active[0])
    best = None
    for r in range(2 * m):  # the axes that make c_m real: phi = arg(c_m)/m + r pi/m
        phi = (np.angle(c[m]) + r * np.pi) / m
        cr = c * np.exp(-1j * j * phi)
        err = float(np.max(np.abs(cr.imag)))
        if best is None or err < best[1]:
            best = (cr.real.astype(complex), err)
    if best[1] > tol * max(scale, 1.0):
        return None
    return best[0], int(np.gcd.reduce(active))


def _subspace(model, basis, c: np.ndarray):
    """(coefficients, mode, full) to continue the state c from, or None when its symmetry
    zero modes cannot be removed (see :func:`deflated_diagram`)."""
    amps = [float(basis.amplitude(c, k)) for k in range(1, min(4, basis.max_degree) + 1)]
    lead = 1 + int(np.argmax(amps))
    gens = basis.rotation_generators(c) if model.interaction.symmetry is not None else []
    if all(np.max(np.abs(g)) < 1e-12 for g in gens):
        return np.asarray(c), lead, True
    if isinstance(basis, CircleBasis) and model.interaction.symmetry == "O(d)":
        even = _even_form(basis, c)
        if even is not None:
            return even[0], even[1], False
    return None


def _signed(basis, c: np.ndarray, k: int) -> float:
    """The real coordinate of degree k (Re c_k on the circle): its sign tells a branch
    from its mirror image through rho = 1."""
    x = basis.to_real(c)
    return float(x[int(np.nonzero(basis.real_degrees == k)[0][0])])


class _Parts:
    """Branches and special points collected while continuing the families."""

    def __init__(self):
        self.branches: list[Branch] = []
        self.points: list[BifurcationPoint] = []
        self.folds: list[Fold] = []
        self.crossings: list[Transition] = []
        self.hopfs: list = []
        self._roots: dict[int, list[float]] = {}

    def continue_from(self, model, basis, param, bounds, p, c, opts) -> bool:
        """Continue the state c at p both ways (False when it cannot be continued)."""
        sub = self._setup(model, basis, param, p, c)
        if sub is None:
            return False
        bs, y0, k = sub
        halves = []
        for sign in (-1.0, 1.0):
            t0 = np.zeros(bs.n + 1)
            t0[-1] = sign
            data, fl, cr, msg = _cont.trace_branch(bs, y0, t0, k, bounds, **opts)
            n_traced = len(data["param"])
            data, msg = self._cut_at_uniform(model, basis, param, bounds, data, k, msg)
            if len(data["param"]) < n_traced:  # the special points on the part kept only
                fl, cr, data["hopf"] = (_kept(p_, data) for p_ in (fl, cr, data["hopf"]))
            self._special(model, param, k, fl, cr, data)
            halves.append((data, msg))
        (back, msg_b), (fwd, msg_f) = halves
        self.branches.append(_joined(param, k, back, fwd, f"found by deflation at {param}="
                                     f"{p:.6g}; continued {_to(msg_b)} and {_to(msg_f)}"))
        return True

    @staticmethod
    def _setup(model, basis, param, p, c):
        sub = _subspace(model, basis, c)
        if sub is None:
            return None
        c0, mode, full = sub
        bs = _cont.BranchSystem(model, basis, param, mode=mode, full=full)
        return bs, bs.y_of(c0, float(p)), mode

    def _roots_of(self, model, basis, param, bounds, k) -> list[float]:
        if k not in self._roots:
            self._roots[k] = _cont.bifurcation_points_of_uniform(model, basis, param, bounds, k)
        return self._roots[k]

    def _cut_at_uniform(self, model, basis, param, bounds, data, k, msg):
        """End the half-branch where it passes through rho = 1 (Re c_k changes sign, or all
        degree powers vanish) at a bifurcation point of mode k."""
        if not model.interaction.uniform_stationary:
            return data, msg
        cs, ps = data["coeffs"], data["param"]
        s0 = np.sign(_signed(_at_resolution(basis, data["n_modes"][0]), cs[0], k))
        for i in range(1, len(cs)):
            b = _at_resolution(basis, data["n_modes"][i])
            flat = max(_signature(b, cs[i])) < _UNIFORM_TOL
            if not flat and np.sign(_signed(b, cs[i], k)) == s0:
                continue
            roots = self._roots_of(model, basis, param, bounds, k)
            if not roots:
                return data, msg
            p_k = min(roots, key=lambda r: abs(r - ps[i - 1]))
            cut = {key: list(v if key == "hopf" else v[:i]) for key, v in data.items()}
            self._add_uniform_point(model, basis, param, cut, p_k, k)
            return cut, (f"reached the uniform state at {param}={p_k:.10g} (a bifurcation "
                         f"point of mode {k})")
        return data, msg

    def _add_uniform_point(self, model, basis, param, data, p_k, k) -> None:
        m_k = _cont.model_at(model, param, p_k)
        c_u = basis.forward(np.ones(basis.shape))
        stab = _cont._stability(m_k, basis, c_u)
        far = max(data["param"], key=lambda q: abs(q - p_k))  # the branch's side of p_k
        rate = _cont.uniform_growth_rate(model, basis, param, k, far)
        self.points.append(BifurcationPoint(
            param=p_k, mode=k, kind="supercritical" if rate > 0 else "subcritical",
            closed_form=_cont._closed_form_threshold(model, param, k)))
        for key, value in (("param", p_k), ("amplitude", 0.0), ("stable", stab.stable),
                           ("free_energy", _cont._free_energy_or_nan(m_k, basis,
                                                               np.ones(basis.shape))),
                           ("morse_index", stab.morse_index), ("coeffs", c_u),
                           ("n_modes", basis.max_degree + 1)):
            data[key].append(value)

    def _special(self, model, param, k, folds, crossings, data) -> None:
        """Folds, free-energy crossings (where stable) and Hopf points of a half-branch
        (only those on the part kept: within its parameter range)."""
        for yf, b in folds:
            cf = b.coeffs(yf)
            self.folds.append(Fold(param=float(yf[-1]), mode=k,
                                   amplitude=float(b.basis.amplitude(cf, k)),
                                   free_energy=_cont._free_energy_or_nan(
                                       _cont.model_at(model, param, float(yf[-1])), b.basis,
                                       b.basis.backward(cf))))
        for yc, b in crossings:
            cc = b.coeffs(yc)
            if _cont._stability(_cont.model_at(model, param, float(yc[-1])), b.basis, cc).stable:
                self.crossings.append(Transition(param=float(yc[-1]), mode=k,
                                                 amplitude=float(b.basis.amplitude(cc, k))))
        self.hopfs += _cont._hopf_points(k, data["hopf"])

    def diagram(self, model, basis, param, bounds, started) -> BifurcationDiagram:
        grid, f_u, morse_u = _uniform_samples(model, basis, param, bounds)
        diag = BifurcationDiagram(
            model=model, param_name=param, bounds=bounds, branches=self.branches,
            bifurcation_points=self.points, folds=self.folds, first_order_transitions=[],
            uniform_param=grid, uniform_free_energy=f_u, uniform_morse_index=morse_u,
            hopf_points=self.hopfs, restricted_to=getattr(basis, "restriction", "all"))
        if grid.size:
            def uniform_stable(p: float) -> bool:
                rates = _cont.model_at(model, param, p).growth_rates(basis.max_degree)[1:]
                return bool(np.all(rates < 0))

            diag.first_order_transitions = _cont._global_jumps(diag, self.crossings, uniform_stable)
        diag.wall_time = time.perf_counter() - started
        return diag


def _to(msg: str) -> str:
    """'reached the bound kappa=2' -> 'to the bound kappa=2' (other messages as they are)."""
    return "to" + msg[len("reached"):] if msg.startswith("reached the ") else msg


def _kept(located: list, data: dict) -> list:
    """The located special points (y, system) nearest a point of a cut half-branch other
    than its last two (the last is rho = 1: a fold located in the step through rho = 1 is
    the pitchfork's own turning point, not a fold of the branch)."""
    out = []
    ps = np.asarray(data["param"][:-1], dtype=float)
    for y, b in located:
        c = b.coeffs(y)
        sig = _signature(b.basis, c)
        dist = [abs(float(y[-1]) - q) + np.max(np.abs(
            _signature(b.basis, _coeffs_in(b.basis, cq, nq)) - sig))
            for q, cq, nq in zip(ps, data["coeffs"], data["n_modes"], strict=False)]
        if dist and int(np.argmin(dist)) < len(ps) - 1:
            out.append((y, b))
    return out


def _joined(param: str, k: int, back: dict, fwd: dict, message: str) -> Branch:
    """One Branch from the two half-branches traced from the same seed (back reversed,
    its copy of the seed dropped; a repeated point on a bound dropped)."""
    order = [(back, i) for i in range(len(back["param"]) - 1, 0, -1)]
    order += [(fwd, i) for i in range(len(fwd["param"]))]
    keep = []
    for d, i in order:
        if keep and abs(d["param"][i] - keep[-1][0]["param"][keep[-1][1]]) <= 1e-13 * max(
                1.0, abs(d["param"][i])):
            continue
        keep.append((d, i))

    def col(key, dtype=float):
        return np.array([d[key][i] for d, i in keep], dtype=dtype)

    return Branch(mode=k, param_name=param, param=col("param"), amplitude=col("amplitude"),
                  free_energy=col("free_energy"), stable=col("stable", bool),
                  morse_index=col("morse_index", int), n_modes=col("n_modes", int),
                  coeffs=[d["coeffs"][i] for d, i in keep], message=message)


def _grid_branch(model, basis, param: str, fam: DeflatedBranch, idx: list[int]) -> Branch:
    """The points of a family that could not be continued, as deflation found them."""
    amps = np.array([fam.amplitudes[i] for i in idx])
    k = 1 + int(np.argmax(amps[0]))
    fe = [_cont._free_energy_or_nan(_cont.model_at(model, param, fam.params[i]), basis,
                              basis.backward(fam.coeffs[i])) for i in idx]
    morse = np.array([fam.morse_index[i] for i in idx], dtype=int)
    return Branch(mode=k, param_name=param, param=np.array([fam.params[i] for i in idx]),
                  amplitude=amps[:, k - 1], free_energy=np.array(fe), stable=morse == 0,
                  morse_index=morse, n_modes=np.full(len(idx), basis.max_degree + 1),
                  coeffs=[fam.coeffs[i] for i in idx],
                  message=f"found by deflation at {param}={fam.found_at:.6g}; not continued "
                          "(its rotations are not removed by a reflection-symmetric "
                          "subspace): the deflation grid points only")


def _uniform_samples(model, basis, param: str, bounds, n: int = 201):
    """rho = 1 on a grid of the window: parameter, free energy, Morse index (empty when
    rho = 1 is not stationary)."""
    if not model.interaction.uniform_stationary:
        return np.array([]), np.array([]), np.array([], dtype=int)
    grid = np.linspace(bounds[0], bounds[1], n)
    f_u, morse_u = [], []
    for p in grid:
        m_p = _cont.model_at(model, param, float(p))
        f_u.append(_cont._free_energy_or_nan(m_p, basis, np.ones(basis.shape)))
        rates = m_p.growth_rates(basis.max_degree)[basis.real_degrees]  # one per direction
        morse_u.append(int(np.sum(rates > 1e-12)))
    return grid, np.array(f_u), np.array(morse_u, dtype=int)
