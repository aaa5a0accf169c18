"""Run a sweep: pending tasks of the grid on dask.distributed (or serially), results into
the store as they arrive, a progress bar, and a summary."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..progress import ProgressBar
from .grid import Grid
from .store import FAILED, PENDING, SweepStore, _jsonable
from .tasks import Task, as_arrays, infer_outputs, resolve_task

#: Environment of each LocalCluster worker: one thread for numba, OpenMP and BLAS.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass
class SweepSummary:
    """What a sweep did.

    Attributes
    ----------
    store : Path
        The zarr store (``xarray.open_zarr(store)`` or :meth:`dataset`).
    task : str
    tasks : int
        Grid points.
    done, failed : int
        Tasks computed by this run that succeeded / raised (failed ones are recorded in the
        store's ``error`` with status 2, and in ``failures``).
    skipped : int
        Tasks finished by an earlier run (not recomputed).
    remaining : int
        Tasks still pending (``max_tasks`` reached, or interrupted).
    wall_time : float
        Seconds, including starting the cluster.
    failures : list of (params dict, error message)
    interrupted : bool
    """

    store: Path
    task: str
    tasks: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    remaining: int = 0
    wall_time: float = 0.0
    failures: list = field(default_factory=list)
    interrupted: bool = False

    def dataset(self, load: bool = True):
        """The stored results as an xarray.Dataset, read into memory (``load=False``: lazy,
        as ``xarray.open_zarr(store)`` gives it)."""
        import xarray as xr

        ds = xr.open_zarr(str(self.store))
        return ds.load() if load else ds

    def __str__(self) -> str:
        text = (f"sweep {self.task}: {self.tasks} tasks: {self.done} done, {self.failed} "
                f"failed, {self.skipped} skipped (finished before), {self.remaining} "
                f"remaining; {self.wall_time:.2f} s wall; store {self.store}")
        if self.interrupted:
            text += " (interrupted: rerun the same sweep to continue)"
        for params, error in self.failures[:10]:
            text += f"\n  failed {params}: {error}"
        if len(self.failures) > 10:
            text += f"\n  ... and {len(self.failures) - 10} more failures (see the store)"
        return text


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by an interrupt; ``summary`` says what was finished (rerun to go on)."""

    def __init__(self, summary: SweepSummary):
        super().__init__(str(summary))
        self.summary = summary


def _execute(task: Task, params: dict) -> dict:
    """Run one task (on a worker); an exception becomes a failed outcome, not a lost task."""
    t0 = time.perf_counter()
    try:
        result = task(params)
    except Exception as err:  # noqa: BLE001 - recorded in the store
        return {"ok": False, "error": f"{type(err).__name__}: {err}",
                "wall_time": time.perf_counter() - t0}
    return {"ok": True, "result": result, "wall_time": time.perf_counter() - t0}


class _Serial:
    """Tasks one after the other in this process (``workers=0`` or scheduler="synchronous")."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, task: Task, items: list) -> Iterator[tuple]:
        for index, params in items:
            yield index, _execute(task, params)


class _Dask:
    """Tasks on a dask.distributed cluster: a new LocalCluster of ``workers`` processes (one
    thread each), an existing scheduler at ``address``, or a given Client."""

    def __init__(self, workers: int | None, scheduler, timeout: float, prefix: str):
        self.workers, self.scheduler, self.timeout, self.prefix = (workers, scheduler, timeout,
                                                                   prefix)
        self.cluster = self.client = None
        self._own_client = True
        self._futures = []

    def __enter__(self):
        from distributed import Client

        if self.scheduler is None:
            self.cluster = local_cluster(self.workers)
            self.client = Client(self.cluster)
        elif isinstance(self.scheduler, str):
            self.client = _connect(self.scheduler, self.timeout)
        else:  # a distributed.Client
            self.client, self._own_client = self.scheduler, False
        return self

    def __exit__(self, *exc):
        if self._futures and self.client is not None:
            self.client.cancel(self._futures)
        if self._own_client and self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False

    def run(self, task: Task, items: list) -> Iterator[tuple]:
        from distributed import as_completed

        keys = [f"{self.prefix}-{'-'.join(map(str, index))}" for index, _ in items]
        self._futures = self.client.map(_execute, [task] * len(items),
                                        [params for _, params in items], key=keys, pure=False)
        index_of = {fut.key: index for fut, (index, _) in zip(self._futures, items,
                                                              strict=True)}
        done = as_completed(self._futures, with_results=True, raise_errors=False)
        for fut, outcome in done:
            if fut.status == "error":  # e.g. KilledWorker after repeated worker deaths
                outcome = {"ok": False, "error": f"{type(outcome).__name__}: {outcome}",
                           "wall_time": float("nan")}
            fut.release()
            yield index_of[fut.key], outcome


def local_cluster(workers: int):
    """A dask LocalCluster of ``workers`` processes, one thread each, with numba, OpenMP and
    BLAS limited to one thread per process (:data:`THREAD_VARIABLES`), HTTP on a free port.

    Examples
    --------
    >>> from distributed import Client
    >>> with local_cluster(2) as cluster, Client(cluster) as client:  # doctest: +SKIP
    ...     client.run(lambda: __import__("os").environ["NUMBA_NUM_THREADS"])
    """
    import logging

    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=":0", env=dict.fromkeys(THREAD_VARIABLES, "1"),
                        silence_logs=logging.ERROR)


def _connect(address: str, timeout: float):
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as err:
        raise ConnectionError(f"scheduler={address!r}: no dask scheduler answered within "
                              f"{timeout:g} s ({err})") from None


def _executor(workers, scheduler, timeout, prefix):
    if scheduler == "synchronous" or (scheduler is None and workers == 0):
        return _Serial()
    if isinstance(scheduler, str) and ":" not in scheduler:
        raise ValueError(f"scheduler must be an address like tcp://host:8786 (or "
                         f"'synchronous'), got {scheduler!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 0):
        raise ValueError(f"workers must be an integer >= 0 (0: serial), got {workers!r}")
    return _Dask(workers or os.cpu_count() or 1, scheduler, timeout, prefix)


def sweep(task: str | Task | Callable[[dict], Mapping], grid: Mapping[str, Sequence], *,
          store, params: Mapping | None = None, workers: int | None = None,
          scheduler=None, outputs: Mapping[str, Sequence[str]] | None = None,
          coords: Mapping[str, Sequence] | None = None, retry_failed: bool = True,
          max_tasks: int | None = None, progress: bool = True,
          timeout: float = 5.0) -> SweepSummary:
    """Run ``task`` at every point of ``grid`` and store the results in a zarr store.

    Parameters
    ----------
    task : {"particles", "phase-diagram"}, Task or callable
        "particles": the GLPR clustering statistic (fraction of token pairs with
        <x_i, x_j> > threshold over time, ensemble mean and standard error), see
        :class:`~meanfield.sweep.tasks.ParticlesTask`. "phase-diagram": kappa_1, the
        curvature, the kind of the first bifurcation, the fold and kappa_c per (beta, dim,
        dynamics), see :class:`~meanfield.sweep.tasks.PhaseDiagramTask`. A callable gets the
        point's parameters (a dict: axis values merged over ``params``) and returns a dict of
        numbers, strings, arrays or xarray.DataArrays (each the same shape at every point).
    grid : mapping
        Axis name -> values, for axes among beta, kappa, dim, n, dynamics, normalization,
        seed (the task may accept fewer). Each axis becomes a dimension coordinate of the
        stored Dataset, in this order.
    store : str or Path
        Local path of the zarr store. Created if missing; a store holding the same sweep is
        resumed (finished tasks are skipped); one holding anything else is refused.
    params : mapping, optional
        Fixed parameters (e.g. replicas, t_final, dt; or an axis held at one value).
    workers : int, optional
        Processes of a new LocalCluster (one thread each; numba / OpenMP / BLAS threads set
        to 1); default ``os.cpu_count()``; 0 runs serially in this process.
    scheduler : str or distributed.Client, optional
        Address of an existing dask scheduler ("tcp://host:8786"), or a Client; the store's
        path must then be writable by this process (results are written here, not on the
        workers). "synchronous": serially in this process.
    outputs, coords : mapping, optional
        User functions: dims of each output (name -> tuple of dim names) and coordinate
        values of those dims; default: read off the first result.
    retry_failed : bool
        Recompute tasks recorded as failed by an earlier run (default) or skip them.
    max_tasks : int, optional
        Compute at most this many pending tasks, then stop (rerun to continue).
    progress : bool
        A progress bar on stderr.
    timeout : float
        Seconds to wait for an existing scheduler before ConnectionError.

    Returns
    -------
    SweepSummary

    Raises
    ------
    ValueError
        An unknown or empty grid axis, a bad value (naming the axis and the allowed range),
        an unknown parameter, or a store holding a different sweep.
    ConnectionError
        No scheduler answered at ``scheduler`` within ``timeout`` seconds.

    Examples
    --------
    A user function on a grid of two axes, serially:

    >>> import tempfile
    >>> import meanfield as mf
    >>> def task(p):
    ...     return {"kappa_1": p["beta"] * p["dim"]}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     s = mf.sweep(task, {"beta": [1.0, 2.0], "dim": [2, 3]}, store=f"{tmp}/out.zarr",
    ...                  workers=0, progress=False)
    ...     ds = s.dataset()
    ...     print(s.done, s.failed, ds.kappa_1.values.tolist(), ds.status.values.tolist())
    4 0 [[2.0, 3.0], [4.0, 6.0]] [[1, 1], [1, 1]]

    The same on a LocalCluster of two processes:

    >>> s = mf.sweep(task, {"beta": [1.0, 2.0]}, store="out.zarr",
    ...              workers=2)  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    task = resolve_task(task, outputs, coords)
    g = Grid(grid.axes if isinstance(grid, Grid) else grid, task.axes)
    fixed = task.fixed(params, g.dims)
    if max_tasks is not None and (not isinstance(max_tasks, int) or max_tasks < 0):
        raise ValueError(f"max_tasks must be an integer >= 0, got {max_tasks!r}")
    fingerprint = _jsonable({**task.identity(), "dims": list(g.dims), "grid": g.to_dict(),
                             "params": fixed})
    digest = hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    ex = _executor(workers, scheduler, timeout, f"sweep-{task.name}-{digest[:10]}")
    declared = task.outputs(fixed)
    st = SweepStore.open(store, g, fingerprint, *(declared or ([], {})), attrs={})
    status = st.status()
    todo = [i for i in g.indices()
            if status[i] == PENDING or (retry_failed and status[i] == FAILED)]
    summary = SweepSummary(Path(store), task.name, g.size, skipped=g.size - len(todo),
                           remaining=len(todo))
    schema = declared[0] if declared else (st.outputs() if st.has_outputs() else None)
    items = [(i, {**fixed, **g.params(i)}) for i in todo[:max_tasks]]
    if items:  # nothing left: no cluster started
        try:
            _run(ex, task, items, st, g, schema, summary, progress)
        except KeyboardInterrupt:
            summary.interrupted = True
            summary.wall_time = time.perf_counter() - t0
            raise SweepInterrupted(summary) from None
    summary.wall_time = time.perf_counter() - t0
    return summary


def _run(ex, task: Task, items: list, st: SweepStore, g: Grid, schema, summary: SweepSummary,
         progress: bool) -> None:
    """Submit ``items`` to the executor, record each outcome as it arrives, show progress."""
    bar = ProgressBar(0, len(items), label="tasks") if progress else None
    try:
        with ex:
            for k, (index, outcome) in enumerate(ex.run(task, items), start=1):
                schema = _record(st, task, index, g.params(index), outcome, schema, summary)
                if bar is not None:
                    bar(k, extra=f"{summary.failed} failed")
    finally:
        if bar is not None:
            bar.close()


def _record(st: SweepStore, task: Task, index, point: dict, outcome: dict, schema,
            summary: SweepSummary):
    """Write one outcome to the store; returns the (possibly just inferred) output schema."""
    error = None if outcome["ok"] else outcome["error"]
    if error is None:
        try:
            if schema is None:
                fn = getattr(task, "dims", None)
                schema, coords = infer_outputs(outcome["result"], fn)
                coords.update(getattr(task, "coords", {}))
                st.add_outputs(schema, coords)
            arrays = as_arrays(outcome["result"], schema)
        except (TypeError, ValueError) as err:
            error = f"{type(err).__name__}: {err}"
    summary.remaining -= 1
    if error is None:
        st.write_result(index, arrays, outcome["wall_time"])
        summary.done += 1
    else:
        st.write_failure(index, error, outcome["wall_time"])
        summary.failed += 1
        summary.failures.append((point, error))
    return schema


__all__ = ["THREAD_VARIABLES", "SweepInterrupted", "SweepSummary", "local_cluster", "sweep"]
