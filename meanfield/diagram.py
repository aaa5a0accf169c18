"""Bifurcation diagrams: branches of stationary states, special points, export and plots.

Produced by :func:`meanfield.continuation.bifurcation_diagram`. Everything is stored in
basis-independent numbers (parameter values, order parameters, free energies, stability),
plus each point's coefficients for reuse.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import _jsonable, save_npz, write_json

_UNIFORM = "uniform"


def _label(mode: int) -> str:
    return _UNIFORM if mode == 0 else f"mode {mode}"


def _float(x) -> float:
    """A JSON number or one of the strings "inf", "-inf", "nan" as a float."""
    if x is None:
        return float("nan")
    return float(x)


def _floats(xs) -> np.ndarray:
    return np.array([_float(x) for x in xs], dtype=float)


def _monotone_segments(param: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``(start, stop)`` (inclusive) on which ``param`` is monotone.

    The array is cut where the sign of ``diff(param)`` changes (zero steps join the
    current segment); consecutive segments share their turning point.
    """
    m = len(param)
    if m == 0:
        return []
    if m == 1:
        return [(0, 0)]
    sign = np.sign(np.diff(param))
    segments = []
    start, current = 0, 0.0
    for i, s in enumerate(sign):
        if s == 0 or np.isnan(s):
            continue
        if current != 0 and s != current:
            segments.append((start, i))
            start = i
        current = s
    segments.append((start, m - 1))
    return segments


def _interp_monotone(p: float, x: np.ndarray, y: np.ndarray) -> float:
    """Linear interpolation of y(x) at p on a monotone (either direction) x covering p."""
    if x[0] > x[-1]:
        x, y = x[::-1], y[::-1]
    return float(np.interp(p, x, y))


def _runs(flags: np.ndarray) -> list[tuple[int, int, bool]]:
    """Maximal runs of equal ``flags``: ``(start, stop, value)``, ``stop`` exclusive.

    Each run is extended by one point into the next one so that drawn pieces join.
    """
    flags = np.asarray(flags, dtype=bool)
    m = len(flags)
    runs = []
    start = 0
    for i in range(1, m + 1):
        if i == m or flags[i] != flags[start]:
            runs.append((start, min(i + 1, m), bool(flags[start])))
            start = i
    return runs


@dataclass
class Branch:
    """One branch of stationary states, traced by pseudo-arclength continuation.

    Attributes
    ----------
    mode : int
        The mode k the branch bifurcates with from the uniform state (a k-cluster branch:
        2 pi/k-periodic on the circle); 0 for the uniform branch itself.
    param_name : str
        "kappa", "beta" or "noise" (= 1/kappa).
    param, amplitude, free_energy : ndarray (m,)
        Parameter value, order parameter |rho_k| of the branch's mode (on spheres
        <P_k(x.e)>), and free energy F (DESIGN.md §1) at each point.
    stable : ndarray of bool (m,)
        Linear stability in the full space (rotation zero modes set aside).
    morse_index : ndarray of int (m,)
        Number of unstable directions.
    n_modes : ndarray of int (m,)
        Resolution used at each point (grows when the branch concentrates).
    coeffs : list of ndarray
        Spectral coefficients of each point (lengths follow n_modes).
    message : str
        Why the continuation of this branch stopped.
    isotropy, description : str
        The branch's isotropy subgroup and what its states look like (see
        :mod:`meanfield.isotropy`; "" on bases with one type per mode).
    side : int
        +1, or -1 for the second half of a transcritical branch (the states on the other
        side of the branch point: a different pattern, not a symmetric image).

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
    >>> br = d.branches[0]
    >>> br.mode, br.param_name, br.param.shape == br.amplitude.shape == br.free_energy.shape
    (1, 'kappa', True)
    """

    mode: int
    param_name: str
    param: np.ndarray
    amplitude: np.ndarray
    free_energy: np.ndarray
    stable: np.ndarray
    morse_index: np.ndarray
    n_modes: np.ndarray
    coeffs: list = field(default_factory=list, repr=False)
    message: str = ""
    isotropy: str = ""
    description: str = ""
    side: int = 1


@dataclass
class BifurcationPoint:
    """Where branch ``mode`` leaves the uniform state.

    ``kind`` is "supercritical", "subcritical", "transcritical" or "degenerate";
    ``curvature`` is c in param = param_k (1 + c a^2 + ...) with a the branch amplitude;
    ``closed_form`` is the reference value beta/lambda_k(beta) (kappa) when known, else nan;
    ``isotropy`` the isotropy type of the branch it starts (one point per type when the
    basis traces several, see :mod:`meanfield.isotropy`).

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
    >>> bp = d.bifurcation_points[0]
    >>> bp.mode, bp.kind, bool(abs(bp.param - bp.closed_form) < 1e-12)
    (1, 'subcritical', True)
    """

    param: float
    mode: int
    kind: str
    curvature: float = np.nan
    closed_form: float = np.nan
    isotropy: str = ""


@dataclass
class Fold:
    """A fold (saddle-node, turning point) of branch ``mode``.

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
    >>> f = d.folds[0]
    >>> f.mode, round(f.param, 8), round(f.amplitude, 4)
    (1, 0.75026011, 0.3927)
    """

    param: float
    mode: int
    amplitude: float
    free_energy: float


@dataclass
class HopfPoint:
    """A Hopf point of branch ``mode``: a complex pair of eigenvalues +-i ``frequency``
    crosses the imaginary axis (the flows of weighted layers need not be gradient flows;
    a periodic orbit or a rotating state is born there).

    Examples
    --------
    >>> from meanfield.diagram import HopfPoint
    >>> HopfPoint(param=1.87, mode=2, amplitude=0.17, frequency=1.1).frequency
    1.1
    """

    param: float
    mode: int
    amplitude: float
    frequency: float


@dataclass
class Transition:
    """A first-order transition: the global free-energy minimizer jumps from the uniform
    state to branch ``mode`` (with order parameter jumping from 0 to ``amplitude``).

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
    >>> tr = d.first_order_transitions[0]
    >>> tr.kind, round(tr.param, 8), round(tr.amplitude, 4)  # kappa_c, jump of |rho_1|
    ('first-order', 0.75218777, 0.4815)
    """

    param: float
    mode: int
    amplitude: float
    kind: str = "first-order"


@dataclass
class BifurcationDiagram:
    """Branches and special points over ``bounds`` of the parameter ``param_name``.

    ``uniform_param`` / ``uniform_free_energy`` / ``uniform_morse_index`` sample the
    uniform state rho = 1 on a grid of the parameter.

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
    >>> len(d.branches), d.param_name, d.bounds
    (1, 'kappa', (0.6, 1.0))
    """

    model: object
    param_name: str
    bounds: tuple[float, float]
    branches: list[Branch]
    bifurcation_points: list[BifurcationPoint]
    folds: list[Fold]
    first_order_transitions: list[Transition]
    uniform_param: np.ndarray
    uniform_free_energy: np.ndarray
    uniform_morse_index: np.ndarray
    wall_time: float = 0.0
    hopf_points: list[HopfPoint] = field(default_factory=list)
    #: the basis's ``restriction``: "all", or "zonal" / "planar" when the branches and their
    #: ``stable`` flags are within (and against perturbations of) that class only
    restricted_to: str = "all"

    # ------------------------------------------------------------------ minimizer

    def _uniform_free_energy_at(self, p: float) -> float | None:
        """F of the uniform state at ``p`` (linear interpolation), None outside its grid."""
        x = np.asarray(self.uniform_param, dtype=float)
        f = np.asarray(self.uniform_free_energy, dtype=float)
        if x.size == 0:
            return None
        order = np.argsort(x, kind="stable")
        x, f = x[order], f[order]
        lo, hi = float(np.min(x)), float(np.max(x))
        tol = 1e-12 * max(1.0, abs(lo), abs(hi))
        if not lo - tol <= p <= hi + tol:
            return None
        value = _interp_monotone(min(max(p, lo), hi), x, f)
        return value if np.isfinite(value) else None

    def _candidates(self, p: float, stable_only: bool = True
                    ) -> list[tuple[str, int, float, float]]:
        """Every state defined at ``p``: ``(label, mode, F, amplitude)``.

        The uniform state comes first; then, for each branch, one entry per monotone
        segment of ``branch.param`` that covers ``p`` (so a branch folded back over ``p``
        gives several entries).
        """
        out = []
        fu = self._uniform_free_energy_at(p)
        if fu is not None and (not stable_only or self._uniform_stable_at(p)):
            out.append((_UNIFORM, 0, fu, 0.0))
        for br in self.branches:
            x = np.asarray(br.param, dtype=float)
            f = np.asarray(br.free_energy, dtype=float)
            a = np.asarray(br.amplitude, dtype=float)
            st = np.asarray(br.stable, dtype=bool)
            for i, j in _monotone_segments(x):
                xs = x[i:j + 1]
                lo, hi = np.nanmin(xs), np.nanmax(xs)
                tol = 1e-12 * max(1.0, abs(lo), abs(hi))
                if not lo - tol <= p <= hi + tol:
                    continue
                q = min(max(p, lo), hi)
                if stable_only:  # both ends of the interval holding q must be stable
                    order = np.argsort(xs, kind="stable")
                    pos = int(np.clip(np.searchsorted(xs[order], q), 1, xs.size - 1))
                    ends = order[[pos - 1, pos]] if xs.size > 1 else order[[0, 0]]
                    if not np.all(st[i:j + 1][ends]):
                        continue
                fp = _interp_monotone(q, xs, f[i:j + 1])
                if np.isfinite(fp):
                    out.append((_label(br.mode), int(br.mode), fp,
                                _interp_monotone(q, xs, a[i:j + 1])))
        return out

    def _uniform_stable_at(self, p: float) -> bool:
        x = np.asarray(self.uniform_param, dtype=float)
        m = np.asarray(self.uniform_morse_index)
        return bool(m[int(np.argmin(np.abs(x - p)))] == 0) if x.size else False

    def _argmin(self, p: float) -> tuple[str, int, float, float]:
        cands = self._candidates(p)
        if not cands:
            raise ValueError(f"no stable state of the diagram is known at {self.param_name}={p!r}")
        best = cands[0]
        for c in cands[1:]:
            # a branch must beat the incumbent by more than round-off: at a bifurcation the
            # branch and the uniform state have the same F, and the uniform state wins ties
            tol = 1e-12 * max(1.0, abs(best[2]))
            if c[2] < best[2] - tol:
                best = c
        return best

    def minimizer(self, p: float) -> tuple[str, int, float]:
        """Global free-energy minimizer among the computed states at parameter value ``p``.

        Candidates are the uniform state (F linearly interpolated in ``uniform_param`` /
        ``uniform_free_energy``, when ``p`` lies in that grid) and every branch point set:
        since a branch may be multi-valued in the parameter (folds), each monotone piece of
        ``branch.param`` (cut where ``diff(param)`` changes sign) that covers ``p`` gives one
        candidate, with F linearly interpolated within the piece.

        Only linearly stable states count (a branch piece between two stable points; the
        uniform state where its Morse index is 0): the global minimizer of F is stable, and
        where a branch was not computed (beyond where it stopped) an unstable state must not
        stand in for it. Ties within round-off (as at a bifurcation point) go to the earlier
        candidate, the uniform state first.

        Parameters
        ----------
        p : float
            Parameter value (of ``param_name``).

        Returns
        -------
        label : str
            ``"uniform"`` or ``"mode k"``.
        mode : int
            0 for the uniform state, else the branch's mode k.
        free_energy : float
            F of the minimizer at ``p``.

        Raises
        ------
        ValueError
            If no stable state of the diagram (uniform grid nor branch) covers ``p``.

        Examples
        --------
        Below kappa_c = 0.7522 the uniform state is the global minimizer, above it the 1-cluster:

        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> d.minimizer(0.7)[:2], d.minimizer(0.9)[:2]
        (('uniform', 0), ('mode 1', 1))
        """
        label, mode, f, _ = self._argmin(float(p))
        return label, mode, f

    def minimizer_map(self, n: int = 400) -> dict:
        """The global minimizer (see :meth:`minimizer`) on ``linspace(*bounds, n)``.

        Parameters
        ----------
        n : int
            Number of parameter values.

        Returns
        -------
        dict
            ``param`` (n,) float, ``mode`` (n,) int (0 = uniform, -1 where no state is
            defined), ``free_energy`` (n,) float and ``amplitude`` (n,) float (order
            parameter of the minimizer, 0 for the uniform state), nan where undefined.

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> m = d.minimizer_map(5)
        >>> m["param"], m["mode"]
        (array([0.6, 0.7, 0.8, 0.9, 1. ]), array([0, 0, 1, 1, 1]))
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        params = np.linspace(float(self.bounds[0]), float(self.bounds[1]), int(n))
        modes = np.full(params.shape, -1, dtype=int)
        energies = np.full(params.shape, np.nan)
        amps = np.full(params.shape, np.nan)
        for i, p in enumerate(params):
            if not self._candidates(p):
                continue
            _, modes[i], energies[i], amps[i] = self._argmin(float(p))
        return {"param": params, "mode": modes, "free_energy": energies, "amplitude": amps}

    # ------------------------------------------------------------------ export

    def to_dict(self) -> dict:
        """The diagram as plain JSON-ready data (no coefficients).

        Floats and lists only; non-finite numbers are the strings ``"inf"``, ``"-inf"``,
        ``"nan"``. The model is kept as its ``repr`` (or None). Each branch carries
        ``mode``, ``param_name``, ``param``, ``amplitude``, ``free_energy``, ``stable``,
        ``morse_index``, ``n_modes`` and ``message``.

        Returns
        -------
        dict
            Keys ``param_name``, ``bounds``, ``model``, ``wall_time``, ``branches``,
            ``bifurcation_points``, ``folds``, ``first_order_transitions``,
            ``hopf_points``, ``uniform``, ``restricted_to``.

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> data = d.to_dict()
        >>> sorted(data)  # doctest: +NORMALIZE_WHITESPACE
        ['bifurcation_points', 'bounds', 'branches', 'first_order_transitions', 'folds',
         'hopf_points', 'model', 'param_name', 'restricted_to', 'uniform', 'wall_time']
        >>> data["bifurcation_points"][0]["kind"]
        'subcritical'
        """
        branches = [{
            "mode": int(b.mode),
            "param_name": b.param_name,
            "param": np.asarray(b.param, dtype=float),
            "amplitude": np.asarray(b.amplitude, dtype=float),
            "free_energy": np.asarray(b.free_energy, dtype=float),
            "stable": np.asarray(b.stable, dtype=bool),
            "morse_index": np.asarray(b.morse_index, dtype=int),
            "n_modes": np.asarray(b.n_modes, dtype=int),
            "message": str(b.message),
            "isotropy": str(b.isotropy),
            "description": str(b.description),
            "side": int(b.side),
        } for b in self.branches]
        out = {
            "param_name": self.param_name,
            "bounds": [float(self.bounds[0]), float(self.bounds[1])],
            "model": None if self.model is None else repr(self.model),
            "wall_time": float(self.wall_time),
            "branches": branches,
            "bifurcation_points": [{
                "param": float(b.param), "mode": int(b.mode), "kind": b.kind,
                "curvature": float(b.curvature), "closed_form": float(b.closed_form),
                "isotropy": str(b.isotropy),
            } for b in self.bifurcation_points],
            "folds": [{
                "param": float(f.param), "mode": int(f.mode), "amplitude": float(f.amplitude),
                "free_energy": float(f.free_energy),
            } for f in self.folds],
            "first_order_transitions": [{
                "param": float(t.param), "mode": int(t.mode), "amplitude": float(t.amplitude),
                "kind": t.kind,
            } for t in self.first_order_transitions],
            "hopf_points": [{
                "param": float(h.param), "mode": int(h.mode), "amplitude": float(h.amplitude),
                "frequency": float(h.frequency),
            } for h in self.hopf_points],
            "restricted_to": self.restricted_to,
            "uniform": {
                "param": np.asarray(self.uniform_param, dtype=float),
                "free_energy": np.asarray(self.uniform_free_energy, dtype=float),
                "morse_index": np.asarray(self.uniform_morse_index, dtype=int),
            },
        }
        return _jsonable(out)

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` to ``path`` as JSON, atomically.

        Parameters
        ----------
        path : str or path-like
            Output file; parent directories are created.

        Returns
        -------
        Path
            The written file.

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = d.to_json(Path(tmp) / "diagram.json")
        ...     back = mf.BifurcationDiagram.from_json(path)
        >>> back.folds[0].param == d.folds[0].param, back.model is None
        (True, True)
        """
        return write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> BifurcationDiagram:
        """Rebuild a diagram written by :meth:`to_json` (for re-plotting and tables).

        The result has ``model=None`` and empty ``coeffs`` on every branch.

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`to_json`.

        Returns
        -------
        BifurcationDiagram

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     back = mf.BifurcationDiagram.from_json(d.to_json(Path(tmp) / "d.json"))
        >>> [(p.mode, p.kind) for p in back.bifurcation_points]
        [(1, 'subcritical')]
        """
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> BifurcationDiagram:
        """Inverse of :meth:`to_dict` (``model=None``, no coefficients).

        Parameters
        ----------
        data : dict
            As returned by :meth:`to_dict` (or read back from its JSON).

        Returns
        -------
        BifurcationDiagram

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> back = mf.BifurcationDiagram.from_dict(d.to_dict())
        >>> back.table() == d.table()
        True
        """
        name = data["param_name"]
        branches = [Branch(
            mode=int(b["mode"]),
            param_name=b.get("param_name", name),
            param=_floats(b["param"]),
            amplitude=_floats(b["amplitude"]),
            free_energy=_floats(b["free_energy"]),
            stable=np.array(b["stable"], dtype=bool),
            morse_index=np.array(b["morse_index"], dtype=int),
            n_modes=np.array(b["n_modes"], dtype=int),
            coeffs=[],
            message=b.get("message", ""),
            isotropy=b.get("isotropy", ""),
            description=b.get("description", ""),
            side=int(b.get("side", 1)),
        ) for b in data["branches"]]
        uni = data["uniform"]
        return cls(
            model=None,
            param_name=name,
            bounds=(_float(data["bounds"][0]), _float(data["bounds"][1])),
            branches=branches,
            bifurcation_points=[BifurcationPoint(
                param=_float(b["param"]), mode=int(b["mode"]), kind=b["kind"],
                curvature=_float(b.get("curvature")), closed_form=_float(b.get("closed_form")),
                isotropy=b.get("isotropy", ""),
            ) for b in data["bifurcation_points"]],
            folds=[Fold(param=_float(f["param"]), mode=int(f["mode"]),
                        amplitude=_float(f["amplitude"]),
                        free_energy=_float(f["free_energy"])) for f in data["folds"]],
            first_order_transitions=[Transition(
                param=_float(t["param"]), mode=int(t["mode"]),
                amplitude=_float(t["amplitude"]), kind=t.get("kind", "first-order"),
            ) for t in data["first_order_transitions"]],
            uniform_param=_floats(uni["param"]),
            uniform_free_energy=_floats(uni["free_energy"]),
            uniform_morse_index=np.array(uni["morse_index"], dtype=int),
            wall_time=_float(data.get("wall_time", 0.0)),
            hopf_points=[HopfPoint(param=_float(h["param"]), mode=int(h["mode"]),
                                   amplitude=_float(h["amplitude"]),
                                   frequency=_float(h["frequency"]))
                         for h in data.get("hopf_points", [])],
            restricted_to=str(data.get("restricted_to", "all")),
        )

    def to_npz(self, path: str | os.PathLike) -> Path:
        """Write the diagram's arrays, coefficients included, to ``path`` (.npz), atomically.

        Keys: ``param_name`` (0-d str), ``bounds``, ``n_branches``, ``uniform_param``,
        ``uniform_free_energy``, ``uniform_morse_index``; per branch i ``branch{i}_mode``,
        ``branch{i}_param``, ``branch{i}_amplitude``, ``branch{i}_free_energy``,
        ``branch{i}_stable``, ``branch{i}_morse_index``, ``branch{i}_n_modes`` and
        ``branch{i}_coeffs`` (complex, shape (points, *max coefficient shape), each point's
        coefficients zero-padded to the common shape; (0, 0) when none were kept); special
        points as ``bifurcation_{param,mode,kind,curvature,closed_form}``,
        ``fold_{param,mode,amplitude,free_energy}`` and
        ``transition_{param,mode,amplitude}``.

        Parameters
        ----------
        path : str or path-like
            Output file.

        Returns
        -------
        Path
            The written file.

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     data = np.load(d.to_npz(Path(tmp) / "diagram.npz"))
        ...     n_branches, n_points = int(data["n_branches"]), data["branch0_param"].size
        >>> n_branches, n_points == d.branches[0].param.size
        (1, True)
        """
        arrays: dict[str, np.ndarray] = {
            "param_name": np.array(self.param_name),
            "bounds": np.asarray(self.bounds, dtype=float),
            "n_branches": np.array(len(self.branches)),
            "uniform_param": np.asarray(self.uniform_param, dtype=float),
            "uniform_free_energy": np.asarray(self.uniform_free_energy, dtype=float),
            "uniform_morse_index": np.asarray(self.uniform_morse_index, dtype=int),
        }
        for i, b in enumerate(self.branches):
            key = f"branch{i}_"
            arrays[key + "mode"] = np.array(int(b.mode))
            arrays[key + "param"] = np.asarray(b.param, dtype=float)
            arrays[key + "amplitude"] = np.asarray(b.amplitude, dtype=float)
            arrays[key + "free_energy"] = np.asarray(b.free_energy, dtype=float)
            arrays[key + "stable"] = np.asarray(b.stable, dtype=bool)
            arrays[key + "morse_index"] = np.asarray(b.morse_index, dtype=int)
            arrays[key + "n_modes"] = np.asarray(b.n_modes, dtype=int)
            arrays[key + "coeffs"] = _pad_coeffs(b.coeffs)
        bp = self.bifurcation_points
        arrays["bifurcation_param"] = np.array([b.param for b in bp], dtype=float)
        arrays["bifurcation_mode"] = np.array([b.mode for b in bp], dtype=int)
        arrays["bifurcation_kind"] = np.array([b.kind for b in bp], dtype=str)
        arrays["bifurcation_curvature"] = np.array([b.curvature for b in bp], dtype=float)
        arrays["bifurcation_closed_form"] = np.array([b.closed_form for b in bp], dtype=float)
        arrays["fold_param"] = np.array([f.param for f in self.folds], dtype=float)
        arrays["fold_mode"] = np.array([f.mode for f in self.folds], dtype=int)
        arrays["fold_amplitude"] = np.array([f.amplitude for f in self.folds], dtype=float)
        arrays["fold_free_energy"] = np.array([f.free_energy for f in self.folds], dtype=float)
        tr = self.first_order_transitions
        arrays["transition_param"] = np.array([t.param for t in tr], dtype=float)
        arrays["transition_mode"] = np.array([t.mode for t in tr], dtype=int)
        arrays["transition_amplitude"] = np.array([t.amplitude for t in tr], dtype=float)
        return save_npz(path, **arrays)

    # ------------------------------------------------------------------ stability changes

    def stability_changes(self) -> list[dict]:
        """Where the Morse index changes along each branch (between consecutive points).

        Folds and bifurcation points are where such changes are expected; any other entry
        is a secondary bifurcation of the branch (located to the spacing of its points).
        Each entry: mode, param (midpoint), param_interval, morse_before, morse_after.

        Examples
        --------
        The subcritical 1-cluster branch leaves kappa_1 unstable and regains stability at its fold:

        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> [(c["morse_before"], c["morse_after"]) for c in d.stability_changes()]
        [(0, 1), (1, 0)]
        """
        out = []
        for br in self.branches:
            m = np.asarray(br.morse_index)
            for i in np.nonzero(np.diff(m) != 0)[0]:
                out.append({"mode": br.mode, "param": 0.5 * float(br.param[i] + br.param[i + 1]),
                            "param_interval": (float(br.param[i]), float(br.param[i + 1])),
                            "morse_before": int(m[i]), "morse_after": int(m[i + 1])})
        return out

    # ------------------------------------------------------------------ table

    def _isotropy_lines(self) -> list[str]:
        """One row per branch with an isotropy type (bases tracing several per mode)."""
        typed = [b for b in self.branches if b.isotropy]
        if not typed:
            return []
        header = (f"{'branch':<6} {'mode':>4} {'isotropy':<15} {'side':>4} {'points':>6} "
                  f"{self.param_name + ' from':>14} {'to':>14} {'Morse index':>13}")
        out = ["", header, "-" * len(header)]
        for i, b in enumerate(typed):
            out.append(f"{i:<6d} {b.mode:>4d} {b.isotropy:<15} {b.side:>+4d} "
                       f"{b.param.size:>6d} {b.param[0]:>14.8g} {b.param[-1]:>14.8g} "
                       f"{f'{b.morse_index[0]} -> {b.morse_index[-1]}':>13}")
        return out

    def table(self) -> str:
        """Fixed-width text table of the special points.

        One row per bifurcation point, fold and first-order transition (in that order,
        each sorted by parameter): the point's kind, mode and parameter value (12
        significant digits); for bifurcations also their type, the closed-form reference
        and the difference (computed - reference); for folds the amplitude; for
        first-order transitions the amplitude jump (from 0 to the branch's amplitude).
        When the branches carry isotropy types (:mod:`meanfield.isotropy`), a second
        part lists each branch: mode, type, side, points, parameter range and Morse index
        at its start and end.

        Returns
        -------
        str
            The table, lines joined by newlines (no trailing newline).

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> for line in d.table().splitlines()[2:]:
        ...     print(line.split()[:3])
        ['bifurcation', '1', '0.758846208431']
        ['fold', '1', '0.750260106103']
        ['first-order', '1', '0.752187766367']
        """
        header = (f"{'point':<12} {'mode':>4} {self.param_name:>19} {'type':<14} "
                  f"{'closed form':>19} {'difference':>11} {'amplitude':>12}")
        lines = [header, "-" * len(header)]

        def num(x: float, fmt: str) -> str:
            return "-" if not np.isfinite(x) else format(x, fmt)

        for b in sorted(self.bifurcation_points, key=lambda b: (b.param, b.mode)):
            lines.append(
                f"{'bifurcation':<12} {b.mode:>4d} {num(b.param, '#.12g'):>19} {b.kind:<14} "
                f"{num(b.closed_form, '#.12g'):>19} {num(b.param - b.closed_form, '.2e'):>11} "
                f"{'-':>12}")
        for f in sorted(self.folds, key=lambda f: (f.param, f.mode)):
            lines.append(
                f"{'fold':<12} {f.mode:>4d} {num(f.param, '#.12g'):>19} {'saddle-node':<14} "
                f"{'-':>19} {'-':>11} {num(f.amplitude, '.6g'):>12}")
        for t in sorted(self.first_order_transitions, key=lambda t: (t.param, t.mode)):
            lines.append(
                f"{'first-order':<12} {t.mode:>4d} {num(t.param, '#.12g'):>19} "
                f"{'jump 0 ->':<14} {'-':>19} {'-':>11} {num(t.amplitude, '.6g'):>12}")
        for h in sorted(self.hopf_points, key=lambda h: (h.param, h.mode)):
            lines.append(
                f"{'hopf':<12} {h.mode:>4d} {num(h.param, '#.12g'):>19} "
                f"{'omega ' + num(h.frequency, '.6g'):<14} {'-':>19} {'-':>11} "
                f"{num(h.amplitude, '.6g'):>12}")
        if len(lines) == 2:
            lines.append("(no special points)")
        lines += self._isotropy_lines()
        if self.restricted_to != "all":
            lines.append(f"(branches and stability within {self.restricted_to} densities only: "
                         f"stable means against {self.restricted_to} perturbations)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ plot

    def plot(self, path: str | os.PathLike | None = None, axes=None):
        """Bifurcation diagram figure: order parameter (top) and F - F_uniform (bottom).

        Both panels share the parameter axis. Each branch is drawn in its mode's color,
        solid where stable and dashed where unstable; the uniform state (amplitude 0,
        F - F_uniform = 0) is black, solid where ``uniform_morse_index == 0``. Bifurcation
        points are circles on the axis, folds triangles at their amplitude (top) and free
        energy (bottom), first-order transitions vertical dotted lines.

        Parameters
        ----------
        path : str or path-like, optional
            When given, the figure is saved there (PNG) and closed.
        axes : sequence of two matplotlib Axes, optional
            Top and bottom panels to draw into; a new figure is made when None.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.6, 1.0), modes=(1,))
        >>> fig = d.plot()
        >>> len(fig.axes)  # amplitude and F - F_uniform panels
        2
        """
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        if axes is None:
            fig, (ax_a, ax_f) = plt.subplots(2, 1, sharex=True, figsize=(7, 7),
                                             constrained_layout=True)
        else:
            ax_a, ax_f = axes
            fig = ax_a.figure

        def color(mode: int) -> str:
            return "k" if mode == 0 else f"C{(mode - 1) % 10}"

        def draw(x, ya, yf, stable, c):
            for i, j, s in _runs(stable):
                style = "-" if s else "--"
                ax_a.plot(x[i:j], ya[i:j], style, color=c, lw=1.5)
                ax_f.plot(x[i:j], yf[i:j], style, color=c, lw=1.5)

        ux = np.asarray(self.uniform_param, dtype=float)
        uf = np.asarray(self.uniform_free_energy, dtype=float)
        if ux.size:
            order = np.argsort(ux)
            ux, uf = ux[order], uf[order]
            umi = np.asarray(self.uniform_morse_index)[order]
            draw(ux, np.zeros_like(ux), np.zeros_like(ux), umi == 0, color(0))

        def f_uniform(x):
            if ux.size == 0:
                return np.zeros_like(np.asarray(x, dtype=float))
            return np.interp(x, ux, uf)

        # one colour per mode, or per (mode, isotropy type) when the branches carry types
        keys = sorted({(b.mode, b.isotropy) for b in self.branches if len(b.param)})
        typed = any(t for _, t in keys)

        def key_color(key) -> str:
            return f"C{keys.index(key) % 10}" if typed else color(key[0])

        for b in self.branches:
            x = np.asarray(b.param, dtype=float)
            if x.size == 0:
                continue
            a = np.asarray(b.amplitude, dtype=float)
            f = np.asarray(b.free_energy, dtype=float) - f_uniform(x)
            draw(x, a, f, np.asarray(b.stable, dtype=bool), key_color((b.mode, b.isotropy)))

        handles = [Line2D([], [], color=color(0), label=_UNIFORM)] if ux.size else []
        handles += [Line2D([], [], color=key_color(key),
                           label=_label(key[0]) + (f", {key[1]}" if key[1] else ""))
                    for key in keys]
        handles += [Line2D([], [], color="0.4", ls="-", label="stable"),
                    Line2D([], [], color="0.4", ls="--", label="unstable")]

        if self.bifurcation_points:
            for b in self.bifurcation_points:
                for ax in (ax_a, ax_f):
                    ax.plot([b.param], [0.0], "o", mfc="white", mec=color(b.mode), ms=6,
                            zorder=5)
            handles.append(Line2D([], [], ls="", marker="o", mfc="white", mec="0.2",
                                  label="bifurcation"))
        if self.folds:
            for fo in self.folds:
                ax_a.plot([fo.param], [fo.amplitude], "^", color=color(fo.mode), ms=7, zorder=5)
                ax_f.plot([fo.param], [fo.free_energy - float(f_uniform(fo.param))], "^",
                          color=color(fo.mode), ms=7, zorder=5)
            handles.append(Line2D([], [], ls="", marker="^", color="0.2", label="fold"))
        if self.first_order_transitions:
            for t in self.first_order_transitions:
                for ax in (ax_a, ax_f):
                    ax.axvline(t.param, ls=":", color=color(t.mode), lw=1.2)
            handles.append(Line2D([], [], ls=":", color="0.2", label="first-order transition"))
        if self.hopf_points:
            for h in self.hopf_points:
                ax_a.plot([h.param], [h.amplitude], "s", mfc="white", mec=color(h.mode), ms=7,
                          zorder=5)
            handles.append(Line2D([], [], ls="", marker="s", mfc="white", mec="0.2",
                                  label="Hopf point"))

        ax_f.axhline(0.0, color="0.6", lw=0.6, zorder=0)
        ax_a.set_ylabel("order parameter (amplitude)")
        ax_f.set_ylabel(r"$F - F_{\mathrm{uniform}}$")
        ax_f.set_xlabel(self.param_name)
        lo, hi = float(self.bounds[0]), float(self.bounds[1])
        if np.isfinite(lo) and np.isfinite(hi) and lo != hi:
            ax_f.set_xlim(min(lo, hi), max(lo, hi))
        for ax in (ax_a, ax_f):
            ax.grid(alpha=0.3)
        ax_a.legend(handles=handles, fontsize="small", loc="best")
        from .plotting import parameters_label

        omit = (self.param_name,) + (("kappa",) if self.param_name == "noise" else ())
        label = parameters_label(self.model, omit=omit)
        ax_a.set_title(f"bifurcation diagram in {self.param_name}"
                       + (f": {label}" if label else ""), fontsize=10)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig


def _pad_coeffs(coeffs: list) -> np.ndarray:
    """Stack coefficient arrays of varying shapes, zero-padded to a common shape (complex)."""
    arrs = [np.asarray(c, dtype=complex) for c in coeffs]
    if not arrs:
        return np.zeros((0, 0), dtype=complex)
    ndim = max(a.ndim for a in arrs)
    arrs = [a.reshape(a.shape + (1,) * (ndim - a.ndim)) if a.ndim < ndim else a for a in arrs]
    shape = tuple(max(a.shape[d] for a in arrs) for d in range(ndim))
    out = np.zeros((len(arrs),) + shape, dtype=complex)
    for i, a in enumerate(arrs):
        out[(i,) + tuple(slice(0, n) for n in a.shape)] = a
    return out
