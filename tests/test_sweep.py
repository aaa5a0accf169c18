"""Sweeps on dask.distributed (issue 11): a real LocalCluster of 2 worker processes; the
stored Dataset against the serial result, resume, a killed worker, a failing task, bad
input, the command line and the figures."""

from __future__ import annotations

import os
import time

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

xr = pytest.importorskip("xarray")
pytest.importorskip("distributed")

import meanfield as mf  # noqa: E402
from meanfield.cli import build_parser, main  # noqa: E402
from meanfield.sweep import (  # noqa: E402
    SweepInterrupted,
    equiangular_boundary,
    parse_axis,
    plot_clustering,
    plot_phase_diagram,
)
from meanfield.sweep.runner import local_cluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster (2 processes, 1 thread each) shared by this module's tests."""
    with local_cluster(2) as c:
        yield c.scheduler_address


def noisy_walk(p):
    """A user task: a seeded random walk over 5 'time' steps and a label."""
    rng = np.random.default_rng([p["seed"], int(round(100 * p["beta"]))])
    walk = np.cumsum(p["beta"] * rng.standard_normal(5))
    return {"walk": xr.DataArray(walk, dims=("time",), coords={"time": np.arange(5.0)}),
            "final": walk[-1], "label": f"b{p['beta']:g}"}


def counted(p):
    """Appends one line per call to p['log'] (to count computed tasks)."""
    with open(p["log"], "a") as f:
        f.write(f"{p['beta']}\n")
    if p.get("interrupt_at") == p["beta"]:
        raise KeyboardInterrupt
    return {"y": 2.0 * p["beta"]}


def dies_once(p):
    """Kills its own worker process on its first attempt at beta = 2 (marker file)."""
    if p["beta"] == 2.0 and not os.path.exists(p["marker"]):
        open(p["marker"], "w").close()
        os._exit(1)
    return {"y": p["beta"] ** 2, "pid": os.getpid()}


def raises_at_3(p):
    if p["beta"] == 3.0:
        raise RuntimeError("no convergence at beta=3")
    return {"y": p["beta"]}


def _data(ds):
    return ds.drop_vars("wall_time").load()


def test_cluster_result_equals_serial(cluster, tmp_path):
    grid = {"beta": [0.5, 1.0, 2.0], "seed": [0, 1]}
    serial = mf.sweep(noisy_walk, grid, store=tmp_path / "s.zarr", workers=0, progress=False)
    dist = mf.sweep(noisy_walk, grid, store=tmp_path / "d.zarr", scheduler=cluster,
                    progress=False)
    assert (serial.done, dist.done, dist.failed) == (6, 6, 0)
    a, b = _data(serial.dataset()), _data(dist.dataset())
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    assert a.walk.dims == ("beta", "seed", "time") and list(a.time.values) == [0, 1, 2, 3, 4]
    assert b.label.sel(beta=2.0, seed=1).item() == "b2"
    assert a.attrs["sweep"] == b.attrs["sweep"] and "xarray" in b.attrs["versions"]


def test_phase_diagram_sweep_equals_phase_diagram(cluster, tmp_path):
    """Reference: meanfield.phase_diagram on the same betas, in this process."""
    betas = [1.0, 3.0]
    s = mf.sweep("phase-diagram", {"beta": betas}, store=tmp_path / "pd.zarr",
                 scheduler=cluster, progress=False)
    ds = s.dataset()
    pd = mf.phase_diagram(betas)
    assert list(ds.kind.values) == pd.kind
    # workers run BLAS on one thread, this process on several: equal to round-off; the
    # curvature is a second difference at amplitude 1e-2, round-off / 1e-4 (~1e-12)
    for name in ("kappa_1", "kappa_c", "kappa_fold"):
        np.testing.assert_allclose(ds[name].values, getattr(pd, name), rtol=1e-13)
    np.testing.assert_allclose(ds.curvature.values, pd.curvature, rtol=1e-10)
    assert plot_phase_diagram(ds, tmp_path / "pd.png").axes
    assert (tmp_path / "pd.png").stat().st_size > 0


def test_phase_diagram_zonal_dim(tmp_path):
    """dim = 3 (zonal basis): kappa_1 = beta / lambda_1(beta) (Funk–Hecke, DESIGN §1), with
    lambda_1 = Gamma(3/2) (2/beta)^(1/2) I_{3/2}(beta); the first transition is first order
    at beta = 4 (tricritical beta_*^(3) ~ 1.8, Mun & Rosenzweig)."""
    from scipy.special import gamma, iv

    s = mf.sweep("phase-diagram", {"beta": [4.0]}, params={"dim": 3},
                 store=tmp_path / "z.zarr", workers=0, progress=False)
    ds = s.dataset()
    lam = gamma(1.5) * (2 / 4.0) ** 0.5 * iv(1.5, 4.0)
    assert abs(ds.kappa_1.item() - 4.0 / lam) < 1e-9
    assert ds.kind.item() == "subcritical" and ds.kappa_fold.item() < ds.kappa_c.item()


def test_interrupted_sweep_resumes_computing_only_what_is_missing(cluster, tmp_path):
    log, store = tmp_path / "calls.log", tmp_path / "r.zarr"
    params = {"log": str(log)}
    grid = {"beta": [1.0, 2.0, 3.0, 4.0, 5.0]}
    first = mf.sweep(counted, grid, store=store, params=params, scheduler=cluster,
                     max_tasks=2, progress=False)
    assert (first.done, first.remaining) == (2, 3)
    second = mf.sweep(counted, grid, store=store, params=params, scheduler=cluster,
                      progress=False)
    assert (second.done, second.skipped, second.remaining) == (3, 2, 0)
    assert len(log.read_text().split()) == 5  # each task computed once
    np.testing.assert_array_equal(second.dataset().y.values, 2.0 * np.array(grid["beta"]))


def test_keyboard_interrupt_keeps_finished_tasks(tmp_path):
    log, store = tmp_path / "calls.log", tmp_path / "k.zarr"
    grid = {"beta": [1.0, 2.0, 3.0]}
    with pytest.raises(SweepInterrupted) as stop:
        mf.sweep(counted, grid, store=store, params={"log": str(log), "interrupt_at": 2.0},
                 workers=0, progress=False)
    assert stop.value.summary.done == 1 and stop.value.summary.interrupted
    # the same sweep (same parameters) resumes: beta = 1 is not recomputed
    with pytest.raises(SweepInterrupted):
        mf.sweep(counted, grid, store=store, params={"log": str(log), "interrupt_at": 2.0},
                 workers=0, progress=False)
    assert log.read_text().split() == ["1.0", "2.0", "2.0"]


def test_killed_worker_loses_no_task(cluster, tmp_path):
    marker = tmp_path / "died"
    s = mf.sweep(dies_once, {"beta": [1.0, 2.0, 3.0, 4.0]}, store=tmp_path / "w.zarr",
                 params={"marker": str(marker)}, scheduler=cluster, progress=False)
    assert marker.exists()  # a worker did die
    assert (s.done, s.failed) == (4, 0)
    ds = s.dataset()
    np.testing.assert_array_equal(ds.y.values, [1.0, 4.0, 9.0, 16.0])
    assert (ds.status.values == 1).all()


def always_dies_at_2(p):
    if p["beta"] == 2.0:
        os._exit(1)
    return {"y": p["beta"]}


def test_task_killing_every_worker_ends_as_failed(tmp_path):
    """dask reruns a task whose worker died, up to distributed.scheduler.allowed-failures
    times (here 0, to keep the test short); then it is a recorded failure (KilledWorker) and
    the sweep goes on."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with local_cluster(2) as c:
            s = mf.sweep(always_dies_at_2, {"beta": [1.0, 2.0, 3.0]},
                         store=tmp_path / "kw.zarr", scheduler=c.scheduler_address,
                         progress=False)
    assert (s.done, s.failed) == (2, 1)
    assert "KilledWorker" in s.dataset().error.sel(beta=2.0).item()


def test_failed_task_is_recorded_and_others_finish(cluster, tmp_path):
    store = tmp_path / "f.zarr"
    grid = {"beta": [1.0, 2.0, 3.0, 4.0]}
    s = mf.sweep(raises_at_3, grid, store=store, scheduler=cluster, progress=False)
    assert (s.done, s.failed) == (3, 1)
    assert s.failures == [({"beta": 3.0}, "RuntimeError: no convergence at beta=3")]
    assert "1 failed" in str(s)
    ds = s.dataset()
    assert ds.status.values.tolist() == [1, 1, 2, 1]
    assert ds.error.sel(beta=3.0).item() == "RuntimeError: no convergence at beta=3"
    assert np.isnan(ds.y.sel(beta=3.0).item()) and ds.y.sel(beta=4.0).item() == 4.0
    again = mf.sweep(raises_at_3, grid, store=store, workers=0, retry_failed=False,
                     progress=False)
    assert (again.done, again.failed, again.skipped) == (0, 0, 4)


@pytest.mark.parametrize("task, grid, message", [
    ("phase-diagram", {"bta": [1.0]}, "unknown grid axis 'bta'"),
    ("phase-diagram", {"beta": []}, "grid axis 'beta' is empty"),
    ("phase-diagram", {"beta": [1.0], "dim": [1]}, "grid axis 'dim': values must be integers"),
    ("phase-diagram", {"beta": [1.0, 1.0]}, "repeated values"),
    ("phase-diagram", {"beta": [1.0], "n": [32]}, "grid axis 'n' is not an axis of this task"),
    ("phase-diagram", {"beta": [1.0], "dynamics": "softmax"}, "must be one of usa, sa"),
    ("particles", {"beta": [1.0], "kappa": [0.0]}, "grid axis 'kappa': values must be > 0"),
    ("particles", {"beta": [np.nan]}, "grid axis 'beta': values must be finite"),
    (raises_at_3, {"seed": [-1]}, "grid axis 'seed': values must be integers >= 0"),
])
def test_bad_grid(tmp_path, task, grid, message):
    with pytest.raises(ValueError, match=message):
        mf.sweep(task, grid, store=tmp_path / "x.zarr", workers=0, progress=False)
    assert not (tmp_path / "x.zarr").exists()


def test_bad_parameters(tmp_path):
    with pytest.raises(ValueError, match="unknown parameter"):
        mf.sweep("particles", {"beta": [1.0]}, params={"replica": 4}, store=tmp_path / "a",
                 workers=0)
    with pytest.raises(ValueError, match="both as grid axes and as fixed"):
        mf.sweep("particles", {"beta": [1.0]}, params={"beta": 2.0}, store=tmp_path / "a",
                 workers=0)
    with pytest.raises(ValueError, match="needs 'beta'"):
        mf.sweep("particles", {"n": [8]}, store=tmp_path / "a", workers=0)
    with pytest.raises(ValueError, match="unknown task"):
        mf.sweep("particle", {"beta": [1.0]}, store=tmp_path / "a", workers=0)
    with pytest.raises(ValueError, match="workers must be an integer >= 0"):
        mf.sweep(raises_at_3, {"beta": [1.0]}, store=tmp_path / "a", workers=-1)


def test_store_of_another_sweep_is_refused(tmp_path):
    store = tmp_path / "o.zarr"
    mf.sweep(raises_at_3, {"beta": [1.0, 2.0]}, store=store, workers=0, progress=False)
    before = sorted(p.name for p in store.rglob("*"))
    for grid, task in (({"beta": [1.0, 2.0, 5.0]}, raises_at_3),
                       ({"beta": [1.0, 2.0]}, counted)):
        with pytest.raises(ValueError, match="holds a different sweep"):
            mf.sweep(task, grid, store=store, workers=0, progress=False)
    assert sorted(p.name for p in store.rglob("*")) == before
    assert mf.sweep(raises_at_3, {"beta": [1.0, 2.0]}, store=store, workers=0,
                    progress=False).skipped == 2
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not a meanfield sweep store"):
        mf.sweep(raises_at_3, {"beta": [1.0]}, store=other, workers=0)
    assert (other / "keep.txt").read_text() == "mine"


def test_unreachable_scheduler_fails_within_seconds(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"tcp://127\.0\.0\.1:1.*within 2 s"):
        mf.sweep(raises_at_3, {"beta": [1.0]}, store=tmp_path / "u.zarr",
                 scheduler="tcp://127.0.0.1:1", timeout=2.0, progress=False)
    assert time.perf_counter() - t0 < 10
    with pytest.raises(ValueError, match="scheduler must be an address"):
        mf.sweep(raises_at_3, {"beta": [1.0]}, store=tmp_path / "u.zarr", scheduler="nowhere")


def test_axis_parsing():
    assert parse_axis("1:9:1", "beta") == [float(b) for b in range(1, 10)]
    assert parse_axis("0.5:6:0.5", "beta")[-1] == 6.0 and len(parse_axis("0.5:6:0.5",
                                                                          "beta")) == 12
    assert parse_axis("0:1:0.3", "beta") == [0.0, 0.3, 0.6, 0.9]  # 1 is off the grid
    assert parse_axis("-2:-1:0.5", "beta") == [-2.0, -1.5, -1.0]
    assert parse_axis("2:4:1", "dim") == [2, 3, 4]
    args = build_parser().parse_args(["sweep", "phase-diagram", "--beta", "-1:1:1",
                                      "--store", "x.zarr"])
    assert args.beta == [-1.0, 0.0, 1.0] and args.dim is None
    for text, name in (("1:0:1", "beta"), ("a:b:c", "beta"), ("1:2:0", "beta"),
                       ("ssa", "dynamics"), ("", "beta")):
        with pytest.raises(ValueError):
            parse_axis(text, name)


def test_equiangular_boundary_closed_form():
    """USA, beta = 0, n = 2: gamma(t) = tanh(t) (observables.equiangular_ode docstring), so
    gamma reaches 1 - 1e-3 at artanh(1 - 1e-3); beyond t_max: nan."""
    t = equiangular_boundary([0.0], 2, "usa", level=1e-3, t_max=10.0)
    assert abs(t[0] - np.arctanh(1 - 1e-3)) < 1e-9
    assert np.isnan(equiangular_boundary([0.0], 2, "usa", t_max=1.0)[0])
    sa = equiangular_boundary([1.0, 4.0], 32, "sa", t_max=200.0)
    assert np.all(np.isfinite(sa)) and sa[1] > sa[0]  # larger beta: slower merging (SA)


def test_cli_phase_diagram_local_cluster(tmp_path, capsys):
    """The issue's command, on a LocalCluster the command starts (--workers 2)."""
    store = tmp_path / "OUT.zarr"
    code = main(["sweep", "phase-diagram", "--beta", "2:3:1", "--workers", "2", "--store",
                 str(store), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "2 done, 0 failed, 0 skipped" in out
    ds = xr.open_zarr(store)
    assert "beta" in ds.dims and "beta" in ds.indexes and ds.kind.values.tolist() == [
        "supercritical", "subcritical"]
    assert (tmp_path / "OUT.png").stat().st_size > 0
    assert main(["sweep", "phase-diagram", "--beta", "2:3:1", "--workers", "0", "--store",
                 str(store), "--no-progress", "--no-figure"]) == 0
    assert "0 done, 0 failed, 2 skipped" in capsys.readouterr().out
    assert main(["sweep", "phase-diagram", "--beta", "2:4:1", "--workers", "0", "--store",
                 str(store)]) == 2
    assert "holds a different sweep" in capsys.readouterr().err
    assert main(["sweep", "phase-diagram", "--beta", "1", "--store", str(tmp_path / "u"),
                 "--scheduler", "tcp://127.0.0.1:1", "--timeout", "1"]) == 2
    assert "no dask scheduler answered" in capsys.readouterr().err


def test_particles_sweep_pair_fraction(cluster, tmp_path, capsys):
    """The GLPR statistic on the cluster equals the serial CLI run, and at t = 0 (uniform
    tokens on the circle) the pair fraction matches P(<x_i, x_j> > c) = arccos(c)/pi within
    4 standard errors (independent closed form; Monte Carlo error)."""
    store = tmp_path / "p.zarr"
    common = ["--beta", "1:2:1", "--n", "8", "--replicas", "64", "--t-final", "2", "--dt",
              "0.05", "--saves", "5", "--threshold", "0.99", "--no-progress"]
    assert main(["sweep", "particles", *common, "--workers", "0", "--store", str(store)]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0
    params = {"n": 8, "replicas": 64, "t_final": 2.0, "dt": 0.05, "saves": 5,
              "threshold": 0.99}
    dist = mf.sweep("particles", {"beta": [1.0, 2.0]}, params=params,
                    store=tmp_path / "pd.zarr", scheduler=cluster, progress=False)
    serial, ds = xr.open_zarr(store).squeeze("n"), dist.dataset()
    assert dist.done == 2 and ds.pair_fraction.dims == ("beta", "time")
    np.testing.assert_allclose(ds.pair_fraction.values, serial.pair_fraction.values,
                               rtol=0, atol=1e-12)
    p0, sem0 = ds.pair_fraction.isel(time=0).values, ds.pair_fraction_sem.isel(time=0).values
    assert np.all(np.abs(p0 - np.arccos(0.99) / np.pi) < 4 * sem0 + 1e-12)
    assert np.all(np.diff(ds.pair_fraction.sel(beta=1.0).values) >= -4 * sem0[0])
    fig = plot_clustering(ds, tmp_path / "c.png")
    assert len(fig.axes) == 2 and (tmp_path / "c.png").stat().st_size > 0


def worker_env(p):
    return {"numba_threads": os.environ.get("NUMBA_NUM_THREADS", ""),
            "omp_threads": os.environ.get("OMP_NUM_THREADS", "")}


def test_local_cluster_workers_run_one_thread_each(cluster, tmp_path):
    s = mf.sweep(worker_env, {"seed": [0, 1, 2, 3]}, store=tmp_path / "e.zarr",
                 scheduler=cluster, progress=False)
    ds = s.dataset()
    assert set(ds.numba_threads.values) == {"1"} and set(ds.omp_threads.values) == {"1"}


def ragged(p):
    return {"y": np.zeros(int(p["n"]))}


def test_output_of_another_shape_is_a_recorded_failure(tmp_path):
    s = mf.sweep(ragged, {"n": [2, 3]}, store=tmp_path / "g.zarr", workers=0, progress=False)
    assert (s.done, s.failed) == (1, 1)
    assert "output 'y' has shape (3,), expected (2,)" in s.failures[0][1]
