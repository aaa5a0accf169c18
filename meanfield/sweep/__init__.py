"""Parameter sweeps on dask.distributed, results as one xarray Dataset in a zarr store.

``meanfield.sweep(task, grid, store=...)`` runs a task at every point of a grid over
beta, kappa, dim, n, dynamics, normalization and seed: the GLPR clustering statistic
("particles"), the first transition of the noisy transformer ("phase-diagram"), or a user
function. Modules: :mod:`.grid` (axes and points), :mod:`.tasks` (what a point computes),
:mod:`.store` (the zarr layout, resume, refusal of another sweep's store), :mod:`.runner`
(dask execution, progress, summary), :mod:`.plots` (a figure per sweep kind).

Import this package's names from ``meanfield.sweep`` (``from meanfield.sweep import
Grid``); ``meanfield.sweep`` as an attribute of ``meanfield`` is the function.
"""

from .grid import AXES, Grid, parse_axis
from .plots import equiangular_boundary, plot_clustering, plot_phase_diagram, plot_sweep
from .runner import SweepInterrupted, SweepSummary, sweep
from .store import SweepStore
from .tasks import FunctionTask, Output, ParticlesTask, PhaseDiagramTask, Task, zonal_basis_for

__all__ = ["AXES", "FunctionTask", "Grid", "Output", "ParticlesTask", "PhaseDiagramTask",
           "SweepInterrupted", "SweepStore", "SweepSummary", "Task", "equiangular_boundary",
           "parse_axis", "plot_clustering", "plot_phase_diagram", "plot_sweep", "sweep",
           "zonal_basis_for"]
