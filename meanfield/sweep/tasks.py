"""What one grid point computes: the suite's tasks and user functions.

A task maps the parameters of one grid point (the point's axis values merged over the fixed
parameters) to a dict of named outputs: scalars or arrays over the task's own dimensions
(e.g. ``time``). It declares the grid axes it accepts, its fixed parameters with their
defaults, and, where it can, its outputs before it runs (so the store is created up front).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .grid import AXES, check_value


@dataclass(frozen=True)
class Output:
    """One stored output of a task: its own dimensions (after the grid's), shape and kind.

    ``kind`` is "float" (numbers; stored as float64, NaN where a task has no result),
    "complex" (complex128) or "str" ("" where missing).
    """

    name: str
    dims: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()
    kind: str = "float"
    attrs: dict = field(default_factory=dict, compare=False)


def _kind_of(value: np.ndarray) -> str:
    if value.dtype.kind in "biuf":
        return "float"
    if value.dtype.kind == "c":
        return "complex"
    if value.dtype.kind in "UST" or (value.dtype.kind == "O" and
                                     all(isinstance(v, str) for v in value.ravel())):
        return "str"
    raise TypeError(f"outputs must be numbers or strings, got dtype {value.dtype}")


def as_arrays(result, outputs: list[Output]) -> dict[str, np.ndarray]:
    """The task's ``result`` dict checked against ``outputs``: name -> array of the output's
    shape and kind. Raises TypeError / ValueError naming the output."""
    if not isinstance(result, Mapping):
        raise TypeError(f"a task must return a dict of outputs, got {type(result).__name__}")
    extra = set(result) - {o.name for o in outputs}
    if extra:
        raise ValueError(f"unexpected outputs {sorted(extra)}; expected "
                         f"{[o.name for o in outputs]}")
    arrays = {}
    for o in outputs:
        if o.name not in result:
            raise ValueError(f"output {o.name!r} missing from the task's result")
        value = np.asarray(getattr(result[o.name], "values", result[o.name]))
        if value.shape != o.shape:
            raise ValueError(f"output {o.name!r} has shape {value.shape}, expected {o.shape}")
        kind = _kind_of(value)
        if kind != o.kind and not (o.kind == "complex" and kind == "float"):
            raise ValueError(f"output {o.name!r} is {kind}, expected {o.kind}")
        dtype = {"float": np.float64, "complex": np.complex128, "str": object}[o.kind]
        arrays[o.name] = value.astype(dtype)
    return arrays


def infer_outputs(result, dims: Mapping[str, tuple] | None = None):
    """Outputs and coordinates read off one result (for user functions without a schema).

    An xarray.DataArray gives its dims and coords; an array of ndim k gets the dims
    ``dims[name]`` or ``(name_dim0, ..., name_dim{k-1})``.

    Examples
    --------
    >>> outs, coords = infer_outputs({"y": np.zeros(3), "label": "a"})
    >>> [(o.name, o.dims, o.shape, o.kind) for o in outs], coords
    ([('y', ('y_dim0',), (3,), 'float'), ('label', (), (), 'str')], {})
    """
    if not isinstance(result, Mapping) or not result:
        raise TypeError("a task must return a non-empty dict of outputs")
    dims = dict(dims or {})
    outputs, coords = [], {}
    for name, raw in result.items():
        value = np.asarray(getattr(raw, "values", raw))
        own = tuple(getattr(raw, "dims", None) or dims.get(name)
                    or (f"{name}_dim{k}" for k in range(value.ndim)))
        if len(own) != value.ndim:
            raise ValueError(f"output {name!r}: dims {own} do not match its shape {value.shape}")
        for dim, coord in getattr(raw, "coords", {}).items():
            if dim in own:
                coords[dim] = np.asarray(coord)
        outputs.append(Output(name, own, value.shape, _kind_of(value)))
    return outputs, coords


class Task:
    """Base of the sweep tasks: ``name``, accepted ``axes``, fixed-parameter ``defaults``.

    Subclasses implement :meth:`run` (parameters -> dict of outputs) and, where the outputs
    are known from the parameters, :meth:`outputs`.
    """

    name = "task"
    axes: tuple[str, ...] = tuple(AXES)
    defaults: dict = {}
    required: tuple[str, ...] = ()

    def fixed(self, params: Mapping | None, grid_dims) -> dict:
        """Defaults overridden by ``params``, checked; axes of the grid are left out."""
        params = dict(params or {})
        unknown = set(params) - set(self.defaults) - set(self.axes)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for task {self.name!r}; "
                             f"its parameters are {', '.join(sorted(self.defaults))} and the "
                             f"axes {', '.join(self.axes)}")
        both = set(params) & set(grid_dims)
        if both:
            raise ValueError(f"{sorted(both)} given both as grid axes and as fixed parameters")
        fixed = {k: v for k, v in self.defaults.items() if k not in grid_dims}
        fixed.update(params)
        for name in self.required:
            if name not in grid_dims and name not in fixed:
                raise ValueError(f"task {self.name!r} needs {name!r}: give it as a grid axis "
                                 "or a fixed parameter")
        return {k: check_value(k, v) if k in AXES else v for k, v in fixed.items()}

    def outputs(self, fixed: dict):
        """(list of Output, coords dict) known before running, or None (inferred later)."""
        return None

    def identity(self) -> dict:
        """What distinguishes this task in a store's fingerprint (JSON-ready)."""
        return {"task": self.name}

    def run(self, params: dict) -> dict:
        raise NotImplementedError

    def __call__(self, params: dict) -> dict:
        return self.run(params)


def _positive(name, value, kind=float):
    value = kind(value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


class ParticlesTask(Task):
    """The GLPR clustering statistic: per grid point, ``replicas`` independent systems of n
    tokens from uniform initial positions; outputs ``pair_fraction`` (time), the ensemble mean
    of the fraction of token pairs i < j with <x_i, x_j> > ``threshold``, and
    ``pair_fraction_sem`` (time), its standard error over replicas, at ``saves`` equally
    spaced times in [0, t_final] (time in units of depth; Euler step of ``dt`` then
    renormalization for ``integrator="euler"``). ``check_stability=False`` runs steps beyond the
    simulator's stability bound dt * L <= 0.5 knowingly (with its warning)."""

    name = "particles"
    defaults = {"kappa": math.inf, "dim": 2, "n": 32, "dynamics": "sa",
                "normalization": "post-ln", "seed": 0, "replicas": 256, "t_final": 30.0,
                "dt": 0.05, "saves": 201, "threshold": 0.999, "integrator": "euler",
                "check_stability": True}
    required = ("beta",)

    def fixed(self, params, grid_dims) -> dict:
        fixed = super().fixed(params, grid_dims)
        fixed["replicas"] = _positive("replicas", fixed["replicas"], int)
        fixed["t_final"] = _positive("t_final", fixed["t_final"])
        fixed["dt"] = _positive("dt", fixed["dt"])
        fixed["saves"] = int(fixed["saves"])
        if fixed["saves"] < 2:
            raise ValueError(f"saves must be an integer >= 2, got {fixed['saves']!r}")
        if not -1 < float(fixed["threshold"]) < 1:
            raise ValueError(f"threshold must lie in (-1, 1), got {fixed['threshold']!r}")
        return fixed

    def outputs(self, fixed):
        m = fixed["saves"]
        thr = fixed["threshold"]
        outs = [Output("pair_fraction", ("time",), (m,), attrs={
                    "long_name": f"ensemble mean fraction of pairs with <x_i,x_j> > {thr:g}"}),
                Output("pair_fraction_sem", ("time",), (m,), attrs={
                    "long_name": "standard error of pair_fraction over replicas"})]
        times = np.linspace(0.0, fixed["t_final"], m)
        return outs, {"time": times}

    def run(self, params):
        return _particles_task(params)


def _particles_task(params: dict) -> dict:
    """One GLPR ensemble: pair fraction over time, mean and standard error over replicas."""
    from ..particles import simulate_particles

    times = np.linspace(0.0, params["t_final"], params["saves"])
    thr = float(params["threshold"])
    extra = {}
    if params["normalization"] != "post-ln":
        extra["normalization"] = params["normalization"]
    ps = simulate_particles(beta=params["beta"], n=params["n"], dim=params["dim"],
                            dynamics=params["dynamics"], kappa=params["kappa"],
                            replicas=params["replicas"], t_final=params["t_final"],
                            dt=params["dt"], t_eval=times, seed=params["seed"],
                            integrator=params["integrator"], keep="observables",
                            check_stability=bool(params.get("check_stability", True)),
                            observables={"pair_fraction": {"threshold": thr}}, **extra)
    est = ps.ensemble("pair_fraction", threshold=thr)
    return {"pair_fraction": np.asarray(est.mean), "pair_fraction_sem": np.asarray(est.sem)}


class PhaseDiagramTask(Task):
    """The first transition of the noisy transformer at one (beta, dim, dynamics): kappa_1,
    the branch curvature c (kappa = kappa_1 (1 + c a^2)), the kind ("supercritical" |
    "subcritical"), and for a first-order transition the fold ``kappa_fold`` and the
    free-energy crossing ``kappa_c`` (nan otherwise), from
    :func:`meanfield.continuation.phase_diagram` at that single beta. dim = 2 uses a
    CircleBasis, dim > 2 a ZonalBasis, each resolving the kernel to ``resolution_tol``."""

    name = "phase-diagram"
    axes = ("beta", "dim", "dynamics")
    defaults = {"dim": 2, "dynamics": "usa", "resolution_tol": 1e-12}
    required = ("beta",)

    def outputs(self, fixed):
        names = {"kappa_1": "numerically located mode-1 threshold of rho = 1",
                 "curvature": "c in kappa = kappa_1 (1 + c a^2)",
                 "kappa_fold": "fold of the 1-cluster branch (nan if continuous)",
                 "kappa_c": "first-order transition: free energies cross (nan if continuous)"}
        outs = [Output(k, attrs={"long_name": v}) for k, v in names.items()]
        outs.append(Output("kind", kind="str", attrs={
            "long_name": "kind of the first bifurcation: supercritical | subcritical"}))
        return outs, {}

    def run(self, params):
        from ..continuation import phase_diagram

        dim, tol = params["dim"], float(params["resolution_tol"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing fold shows as nan
            pd = phase_diagram([params["beta"]], dim=dim, dynamics=params["dynamics"],
                               basis_factory=lambda beta: zonal_basis_for(beta, dim,
                                                                          params["dynamics"],
                                                                          tol))
        return {"kappa_1": pd.kappa_1[0], "curvature": pd.curvature[0],
                "kappa_fold": pd.kappa_fold[0], "kappa_c": pd.kappa_c[0], "kind": pd.kind[0]}


def zonal_basis_for(beta: float, dim: int, dynamics: str = "usa", tol: float = 1e-12):
    """A basis resolving the attention kernel at ``beta`` on S^{dim-1} to ``tol``: a
    CircleBasis (dim = 2) or a ZonalBasis (dim > 2) with at least 32 degrees and twice the
    degree the kernel needs.

    Examples
    --------
    >>> zonal_basis_for(4.0, 3).lmax, type(zonal_basis_for(4.0, 2)).__name__
    (36, 'CircleBasis')
    """
    from ..bases import CircleBasis, ZonalBasis
    from ..kernels import AttentionKernel
    from ..model import MeanFieldModel

    need = MeanFieldModel(AttentionKernel(beta), 1.0, dynamics, dim).required_degree(tol) or 31
    if dim == 2:
        return CircleBasis(max(32, 2 * (need + 1)))
    return ZonalBasis(dim, max(32, 2 * need))


class FunctionTask(Task):
    """A user function ``params dict -> dict of outputs`` (numbers, strings, arrays or
    xarray.DataArray). ``outputs`` (name -> dims) and ``coords`` (dim -> values) declare the
    outputs up front; without them they are read off the first result."""

    name = "function"

    def __init__(self, function: Callable[[dict], Mapping], outputs: Mapping | None = None,
                 coords: Mapping | None = None):
        if not callable(function):
            raise TypeError(f"task must be 'particles', 'phase-diagram' or a callable, got "
                            f"{function!r}")
        self.function = function
        self.dims = {k: tuple(v) for k, v in (outputs or {}).items()}
        self.coords = {k: np.asarray(v) for k, v in (coords or {}).items()}

    def fixed(self, params, grid_dims) -> dict:
        params = dict(params or {})
        both = set(params) & set(grid_dims)
        if both:
            raise ValueError(f"{sorted(both)} given both as grid axes and as fixed parameters")
        return {k: check_value(k, v) if k in AXES else v for k, v in params.items()}

    def outputs(self, fixed):
        return None

    def identity(self) -> dict:
        f = self.function
        return {"task": self.name,
                "function": f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', f)}"}

    def run(self, params):
        return self.function(params)


TASKS = {"particles": ParticlesTask, "phase-diagram": PhaseDiagramTask}


def resolve_task(task, outputs=None, coords=None) -> Task:
    """A Task from a name ("particles", "phase-diagram"), a Task, or a callable."""
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; the tasks are {', '.join(TASKS)} or a "
                             "function params -> dict")
        return TASKS[task]()
    return FunctionTask(task, outputs, coords)
