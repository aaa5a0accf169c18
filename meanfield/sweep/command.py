"""The ``meanfield sweep particles|phase-diagram`` command line (wired into meanfield.cli)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .grid import NORMALIZATIONS, parse_axis

# "-1:2:0.5" or "-1,0" are values, not options (argparse's default matcher takes only "-1")
_NEGATIVE_VALUE = re.compile(r"^-\.?\d[\d.eE+-]*([:,][-+.\deEinf]*)*$")


def _axis(name: str):
    def parse(text: str) -> list:
        try:
            return parse_axis(text, name)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p._negative_number_matcher = _NEGATIVE_VALUE
    p.add_argument("--store", required=True, help="zarr store of the results (OUT.zarr); "
                   "rerun the same command to resume, another sweep's store is refused")
    p.add_argument("--workers", type=_count, default=os.cpu_count() or 1,
                   help="processes of a local dask cluster, one thread each (0: serial in "
                   "this process); default: the number of CPUs")
    p.add_argument("--scheduler", default=None,
                   help="address of an existing dask scheduler (tcp://host:8786) instead of a "
                   "local cluster; the store is written by this process")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for --scheduler before giving up")
    p.add_argument("--max-tasks", type=_count, default=None,
                   help="compute at most this many pending tasks, then stop")
    p.add_argument("--skip-failed", action="store_true",
                   help="do not retry tasks an earlier run recorded as failed")
    p.add_argument("--figure", default=None, help="figure path (default: the store's path "
                   "with .png)")
    p.add_argument("--no-figure", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def add_sweep_parser(sub) -> None:
    """Add ``sweep`` with its ``particles`` and ``phase-diagram`` subcommands to ``sub``."""
    sw = sub.add_parser("sweep", help="a grid of particle ensembles or phase diagrams on "
                        "dask.distributed; results as one xarray Dataset in a zarr store")
    kinds = sw.add_subparsers(dest="sweep_task", required=True)
    axis = "an axis: lo:hi:step (hi included), a,b,c or one value"
    pa = kinds.add_parser("particles", help="GLPR clustering: fraction of token pairs with "
                          "<x_i,x_j> > threshold over time, mean and standard error over "
                          "replicas")
    pa.add_argument("--beta", type=_axis("beta"), default=parse_axis("1:9:1", "beta"),
                    help=f"{axis} (default 1:9:1)")
    for name, help_ in (("kappa", "inverse noise level (default inf: noiseless)"),
                        ("dim", "tokens on S^(dim-1) (default 2)"),
                        ("n", "tokens per system (default 32)"),
                        ("dynamics", "sa or usa (default sa)"),
                        ("normalization", f"{', '.join(NORMALIZATIONS)} (default post-ln)"),
                        ("seed", "base seed of the replica streams (default 0)")):
        pa.add_argument(f"--{name}", type=_axis(name), default=None,
                        help=f"{help_}; given, it is {axis}")
    pa.add_argument("--replicas", type=int, default=256, help="systems per grid point")
    pa.add_argument("--t-final", type=float, default=30.0, help="final time (depth)")
    pa.add_argument("--dt", type=float, default=0.05, help="time step")
    pa.add_argument("--saves", type=int, default=201, help="number of save times")
    pa.add_argument("--threshold", type=float, default=0.999,
                    help="a pair is clustered when <x_i,x_j> > threshold")
    pa.add_argument("--integrator", default="euler",
                    help="particle integrator (euler: step, then renormalization)")
    pa.add_argument("--no-stability-check", action="store_true",
                    help="run a step beyond the bound dt * L <= 0.5 knowingly (a warning)")
    _common(pa)
    ph = kinds.add_parser("phase-diagram", help="per (beta, dim, dynamics): kappa_1, the kind "
                          "of the first bifurcation, the fold and kappa_c")
    ph.add_argument("--beta", type=_axis("beta"), default=parse_axis("0.5:6:0.5", "beta"),
                    help=f"{axis} (default 0.5:6:0.5)")
    ph.add_argument("--dim", type=_axis("dim"), default=None,
                    help=f"S^(dim-1), dim > 2 zonal (default 2); given, it is {axis}")
    ph.add_argument("--dynamics", type=_axis("dynamics"), default=None,
                    help=f"usa or sa (default usa); given, it is {axis}")
    _common(ph)


def _grid_and_params(args) -> tuple[dict, dict]:
    names = (("beta", "kappa", "dim", "n", "dynamics", "normalization", "seed")
             if args.sweep_task == "particles" else ("beta", "dim", "dynamics"))
    grid = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    params = {}
    if args.sweep_task == "particles":
        params = {"replicas": args.replicas, "t_final": args.t_final, "dt": args.dt,
                  "saves": args.saves, "threshold": args.threshold,
                  "integrator": args.integrator,
                  "check_stability": not args.no_stability_check}
    return grid, params


def run_sweep(args) -> int:
    """Run the sweep, print its summary, draw its figure; 0 if no task failed, else 1."""
    from .plots import plot_sweep
    from .runner import SweepInterrupted, sweep

    grid, params = _grid_and_params(args)
    try:
        summary = sweep(args.sweep_task, grid, store=args.store, params=params,
                        workers=args.workers, scheduler=args.scheduler, timeout=args.timeout,
                        retry_failed=not args.skip_failed, max_tasks=args.max_tasks,
                        progress=not args.no_progress)
    except ConnectionError as err:
        print(f"meanfield: error: {err}", file=sys.stderr)
        return 2
    except SweepInterrupted as stop:
        print(stop.summary)
        return 130
    print(summary)
    if not args.no_figure and summary.remaining == 0:
        path = Path(args.figure) if args.figure else Path(args.store).with_suffix(".png")
        try:
            plot_sweep(args.store, path)
            print(f"wrote {path}")
        except ValueError as err:  # e.g. no beta axis
            print(f"no figure: {err}")
    return 0 if summary.failed == 0 else 1
