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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

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
