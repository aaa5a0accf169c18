"""The zarr store of a sweep: one xarray Dataset over the grid, written one task at a time.

Layout: the grid axes are dimension coordinates (in the grid's order), each output has the
grid dimensions followed by its own (e.g. ``time``); every variable is chunked one task per
chunk, so a task's result is its own chunk files. Per task, ``status`` (0 pending, 1 done,
2 failed), ``error`` (the failure's message, "" otherwise) and ``wall_time`` (seconds).
A result is written data first, ``status`` last, and each chunk file is written atomically
(temporary file, then rename), so a task is either done with all its data, or not done; a
rewrite of the same task writes the same chunks (idempotent). The attribute ``sweep`` holds
the sweep's fingerprint (task, grid, fixed parameters, as JSON): a store is only ever
reopened by the same sweep. Zarr format 2, consolidated metadata (``xarray.open_zarr``).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from .grid import Grid
from .tasks import Output

PENDING, DONE, FAILED = 0, 1, 2
_FILL = {"float": np.nan, "complex": complex(np.nan, np.nan), "str": ""}
_RESERVED = ("status", "error", "wall_time")
_DTYPE = {"float": np.float64, "complex": np.complex128, "str": object}


def _jsonable(obj):
    """JSON round trip (numpy scalars -> Python, tuples -> lists, inf kept as Infinity)."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return repr(o)
    return json.loads(json.dumps(obj, default=default, sort_keys=True))


def versions() -> dict:
    """Versions of Python and the packages a sweep's results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("meanfield", "numpy", "scipy", "numba", "dask", "distributed", "xarray",
                "zarr"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "not installed"
    return out


def _template(grid: Grid, outputs: list[Output], coords: dict, with_status: bool):
    """The Dataset of fill values (outputs lazy, as dask arrays: only metadata gets written)
    and its zarr encoding (one task per chunk)."""
    import dask.array as da
    import xarray as xr

    ones = (1,) * len(grid.dims)
    data, encoding = {}, {}

    def add(name, dims, shape, kind, attrs, lazy):
        full = grid.shape + tuple(shape)
        if lazy and kind != "str":
            arr = da.full(full, _FILL[kind], dtype=_DTYPE[kind], chunks=ones + tuple(shape))
        else:
            arr = np.full(full, _FILL[kind], dtype=_DTYPE[kind])
            encoding[name] = {"chunks": ones + tuple(shape)}
        data[name] = xr.Variable(grid.dims + tuple(dims), arr, attrs)

    if with_status:
        data["status"] = xr.Variable(grid.dims, np.zeros(grid.shape, np.int8),
                                     {"flag_values": [PENDING, DONE, FAILED],
                                      "flag_meanings": "pending done failed"})
        encoding["status"] = {"chunks": ones}
        add("error", (), (), "str", {"long_name": "error of a failed task"}, False)
        add("wall_time", (), (), "float", {"units": "s", "long_name": "task wall time"}, True)
    for o in outputs:
        add(o.name, o.dims, o.shape, o.kind, o.attrs, True)
    all_coords = {} if not with_status else {
        k: (k, np.asarray(v, dtype=object) if v.dtype == object else v)
        for k, v in grid.axes.items()}
    all_coords.update({k: (k, np.asarray(v)) for k, v in coords.items()})
    return xr.Dataset(data, coords=all_coords), encoding


class SweepStore:
    """A sweep's zarr store at a local ``path``; see the module docstring for its layout.

    Use :meth:`open` (create, or reopen the same sweep's store).
    """

    def __init__(self, path, grid: Grid):
        import zarr

        self.path = Path(path)
        self.grid = grid
        self._group = zarr.open_group(str(self.path), mode="r+", zarr_format=2)

    @classmethod
    def open(cls, path, grid: Grid, fingerprint: dict, outputs, coords: dict,
             attrs: dict) -> SweepStore:
        """Create the store of this sweep at ``path``, or reopen it if it holds the same sweep.

        Raises ValueError if ``path`` exists and holds anything else (another sweep, or
        something that is not a sweep store); nothing is overwritten.
        """
        path = Path(path)
        fingerprint = _jsonable(fingerprint)
        if not path.exists():
            cls._create(path, grid, fingerprint, outputs or [], coords or {}, attrs)
        cls._check(path, fingerprint)
        return cls(path, grid)

    @staticmethod
    def _create(path: Path, grid, fingerprint, outputs, coords, attrs) -> None:
        """Write the template next to ``path``, then rename it into place (atomic)."""
        ds, encoding = _template(grid, outputs, coords, with_status=True)
        ds.attrs.update({"sweep": json.dumps(fingerprint, sort_keys=True),
                         "task": fingerprint["task"],
                         "params": json.dumps(fingerprint["params"], sort_keys=True),
                         "versions": json.dumps(versions(), sort_keys=True),
                         "created": datetime.datetime.now(datetime.UTC).isoformat(
                             timespec="seconds"),
                         "status_meaning": "0 pending, 1 done, 2 failed (see error)"})
        ds.attrs.update(attrs)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.to_zarr(str(tmp), mode="w-", compute=False, consolidated=True, zarr_format=2,
                   encoding=encoding)
        try:
            os.rename(tmp, path)
        except OSError:  # another process created it first: theirs is checked
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _check(path: Path, fingerprint: dict) -> None:
        import zarr

        try:
            attrs = dict(zarr.open_group(str(path), mode="r").attrs)
            stored = json.loads(attrs["sweep"])
        except Exception:  # noqa: BLE001 - anything unreadable is "not a sweep store"
            raise ValueError(f"store {str(path)!r} exists and is not a meanfield sweep store; "
                             "refusing to overwrite it (choose another path or delete it)"
                             ) from None
        if stored != fingerprint:
            keys = sorted(k for k in set(stored) | set(fingerprint)
                          if stored.get(k) != fingerprint.get(k))
            detail = "; ".join(f"{k}: stored {stored.get(k)!r}, now {fingerprint.get(k)!r}"
                               for k in keys)
            raise ValueError(f"store {str(path)!r} holds a different sweep ({detail}); "
                             "refusing to overwrite it: choose another store or delete it")

    def status(self) -> np.ndarray:
        """Per-task status over the grid: 0 pending, 1 done, 2 failed."""
        return np.asarray(self._group["status"][...])

    def has_outputs(self) -> bool:
        """Whether the output variables exist (user functions: after the first result)."""
        n, dims = len(self.grid.dims), list(self.grid.dims)
        return any(k not in _RESERVED and k not in dims
                   and list(self._group[k].attrs.get("_ARRAY_DIMENSIONS", []))[:n] == dims
                   for k in self._group.array_keys())

    def outputs(self) -> list[Output]:
        """The output variables of the store, as Outputs (kind from the dtype)."""
        import xarray as xr

        ds = xr.open_zarr(str(self.path))
        n = len(self.grid.dims)
        kinds = {"f": "float", "c": "complex"}
        return [Output(k, v.dims[n:], v.shape[n:], kinds.get(v.dtype.kind, "str"))
                for k, v in ds.data_vars.items() if k not in _RESERVED]

    def add_outputs(self, outputs: list[Output], coords: dict) -> None:
        """Add output variables (fill values) and their coordinates to the store."""
        ds, encoding = _template(self.grid, outputs, coords, with_status=False)
        ds.attrs.update(self._group.attrs)  # an append replaces the group's attributes
        ds.to_zarr(str(self.path), mode="a", compute=False, consolidated=True, zarr_format=2,
                   encoding=encoding)
        import zarr

        self._group = zarr.open_group(str(self.path), mode="r+", zarr_format=2)

    def _region(self, index) -> tuple[slice, ...]:
        return tuple(slice(i, i + 1) for i in index)

    def write_result(self, index, arrays: dict, wall_time: float) -> None:
        """Task ``index``'s outputs, then its wall time, error "" and status done."""
        region = self._region(index)
        for name, value in arrays.items():
            value = np.asarray(value)
            self._group[name][region] = value.reshape((1,) * len(index) + value.shape)
        self._finish(region, DONE, "", wall_time)

    def write_failure(self, index, error: str, wall_time: float) -> None:
        """Task ``index`` failed: its error message and status failed (outputs left as fill)."""
        self._finish(self._region(index), FAILED, error, wall_time)

    def _finish(self, region, status: int, error: str, wall_time: float) -> None:
        shape = (1,) * len(region)
        self._group["wall_time"][region] = np.full(shape, wall_time)
        self._group["error"][region] = np.full(shape, error, dtype=object)
        self._group["status"][region] = np.full(shape, status, dtype=np.int8)
