"""Real FFTs along the last axis: pyFFTW with cached plans, numpy as the fallback.

Both backends follow numpy's conventions: ``rfft`` is unnormalized and ``irfft``
carries the factor ``1/n``. Callers scale to their own normalization. ``rfft(f, m)``
returns only the first ``m`` coefficients, and ``irfft(c, n)`` zero-pads a ``c`` shorter
than ``n // 2 + 1`` (a spectral basis keeps fewer modes than its grid resolves).

The backend is chosen by name: ``"pyfftw"``, ``"numpy"`` or ``"auto"`` (pyFFTW when it
imports, else numpy). The environment variable ``MEANFIELD_FFT`` overrides ``"auto"``.
"""

from __future__ import annotations

import os

import numpy as np


def _import_pyfftw():
    """Import pyfftw without its optional dask interface.

    ``pyfftw.interfaces`` imports ``dask.array`` whenever dask is installed (it is: sweeps
    run on dask.distributed), which costs seconds at every ``import meanfield``; the suite
    never uses ``pyfftw.interfaces.dask_fft``, so dask.array is hidden during the import
    (a ``None`` entry in sys.modules makes that import fail, which pyfftw tolerates).
    """
    import sys

    hide = "dask.array" not in sys.modules
    if hide:
        sys.modules["dask.array"] = None
    try:
        import pyfftw
    finally:
        if hide:
            del sys.modules["dask.array"]
    return pyfftw


try:  # pragma: no cover - exercised implicitly when pyfftw is installed
    pyfftw = _import_pyfftw()
    HAVE_PYFFTW = True
except ImportError:  # pragma: no cover
    HAVE_PYFFTW = False

BACKENDS = ("auto", "pyfftw", "numpy")


class NumpyFFT:
    """Real FFTs through :mod:`numpy.fft` (no plans; the reference implementation)."""

    name = "numpy"

    def rfft(self, f: np.ndarray, m: int | None = None) -> np.ndarray:
        out = np.fft.rfft(f, axis=-1)
        return out if m is None else out[..., :m]

    def irfft(self, c: np.ndarray, n: int) -> np.ndarray:
        return np.fft.irfft(c, n=n, axis=-1)


class PyFFTW:
    """Real FFTs through pyFFTW; one plan per (shape, direction), made once and reused.

    Each call copies the input into the plan's aligned buffer and returns a fresh
    output array, so results never alias the plan's internal storage.
    """

    name = "pyfftw"

    def __init__(self, planner_effort: str = "FFTW_MEASURE", threads: int = 1) -> None:
        if not HAVE_PYFFTW:
            raise ImportError("pyfftw is not installed; use fft='numpy'")
        self.planner_effort = planner_effort
        self.threads = threads
        self._forward: dict[tuple, object] = {}
        self._backward: dict[tuple, object] = {}

    def _plan_forward(self, shape: tuple[int, ...]):
        plan = self._forward.get(shape)
        if plan is None:
            a = pyfftw.empty_aligned(shape, dtype="float64")
            plan = pyfftw.builders.rfft(
                a, axis=-1, planner_effort=self.planner_effort, threads=self.threads,
                avoid_copy=False,
            )
            self._forward[shape] = plan
        return plan

    def _plan_backward(self, shape: tuple[int, ...], n: int):
        key = (shape, n)
        plan = self._backward.get(key)
        if plan is None:
            a = pyfftw.empty_aligned(shape, dtype="complex128")
            plan = pyfftw.builders.irfft(
                a, n=n, axis=-1, planner_effort=self.planner_effort, threads=self.threads,
                avoid_copy=False,
            )
            self._backward[key] = plan
        return plan

    def rfft(self, f: np.ndarray, m: int | None = None) -> np.ndarray:
        plan = self._plan_forward(f.shape)
        plan.input_array[...] = f
        out = plan()
        return (out if m is None else out[..., :m]).copy()

    def irfft(self, c: np.ndarray, n: int) -> np.ndarray:
        m = c.shape[-1]
        plan = self._plan_backward(c.shape[:-1] + (n // 2 + 1,), n)
        buf = plan.input_array
        buf[..., :m] = c
        buf[..., m:] = 0.0
        return plan().copy()


_SHARED: dict[str, object] = {}


def get_fft(name: str = "auto"):
    """Return a shared FFT backend instance by name (``"auto"``, ``"pyfftw"``, ``"numpy"``)."""
    if name not in BACKENDS:
        raise ValueError(f"fft must be one of {BACKENDS}, got {name!r}")
    if name == "auto":
        name = os.environ.get("MEANFIELD_FFT", "pyfftw" if HAVE_PYFFTW else "numpy")
        if name not in BACKENDS[1:]:
            raise ValueError(f"MEANFIELD_FFT must be 'pyfftw' or 'numpy', got {name!r}")
    if name not in _SHARED:
        _SHARED[name] = PyFFTW() if name == "pyfftw" else NumpyFFT()
    return _SHARED[name]
