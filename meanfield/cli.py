"""The ``meanfield`` command line: ``meanfield evolve ...`` and ``meanfield demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import initial, io
from .bases import CircleBasis
from .evolution import evolve
from .kernels import AttentionKernel
from .model import MeanFieldModel
from .stationary import stationary_residual

INITS = ("perturbed", "vonmises", "wrapped-cauchy", "uniform")


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _kappa(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"kappa must be > 0 (or inf for no noise), got {text}")
    return value


def _add_evolve_args(p: argparse.ArgumentParser, defaults: dict) -> None:
    p.add_argument("--beta", type=float, default=defaults.get("beta", 3.0),
                   help="inverse temperature of the attention kernel (any real)")
    p.add_argument("--kappa", type=_kappa, default=defaults.get("kappa", 1.0),
                   help="inverse noise level, > 0; 'inf' for the noiseless flow")
    p.add_argument("--dynamics", choices=("usa", "sa"), default="usa")
    p.add_argument("--n-modes", type=_positive(int), default=defaults.get("n_modes", 64))
    p.add_argument("--t-final", type=_positive(float), default=defaults.get("t_final", 30.0))
    p.add_argument("--saves", type=_positive(int), default=201, help="number of save times")
    p.add_argument("--init", choices=INITS, default="perturbed")
    p.add_argument("--amplitude", type=float, default=0.1, help="perturbation size (perturbed)")
    p.add_argument("--concentration", type=float, default=1.0, help="von Mises k0")
    p.add_argument("--r", type=float, default=0.3, help="wrapped Cauchy r")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="etdrk4")
    p.add_argument("--rtol", type=_positive(float), default=1e-8)
    p.add_argument("--out", default=defaults.get("out", "results"), help="output folder")
    p.add_argument("--no-progress", action="store_true")


def _initial(args, basis) -> np.ndarray:
    if args.init == "perturbed":
        return initial.perturbed_uniform(basis, args.amplitude, max_degree=4, seed=args.seed)
    if args.init == "vonmises":
        return initial.von_mises(basis, args.concentration)
    if args.init == "wrapped-cauchy":
        return initial.wrapped_cauchy(basis, args.r)
    return np.ones(basis.shape)


def run_evolve(args) -> int:
    out = Path(args.out)
    kernel = AttentionKernel(args.beta)
    model = MeanFieldModel(kernel, kappa=args.kappa, dynamics=args.dynamics)
    basis = CircleBasis(args.n_modes)
    rho0 = _initial(args, basis)
    t_eval = np.linspace(0.0, args.t_final, args.saves)
    sol = evolve(model, basis, rho0, args.t_final, t_eval, method=args.method, rtol=args.rtol,
                 checkpoint=out / "checkpoint.npz", progress=not args.no_progress)
    from .plotting import save_solution_figures

    sol.save(out / "solution.npz")
    summary = sol.summary()
    rates = model.growth_rates(4)
    summary["linear_growth_rates_of_uniform"] = {str(k): float(rates[k]) for k in range(1, 5)}
    if np.isfinite(model.kappa):
        summary["stationary_residual_end"] = stationary_residual(model, basis, sol.rho[-1])
    io.write_json(out / "summary.json", summary)
    figs = save_solution_figures(sol, out)
    _print_table(sol)
    print("\nlinear growth rates of rho = 1, modes 1-4: "
          + ", ".join(f"{r:+.4f}" for r in rates[1:]))
    if "stationary_residual_end" in summary:
        print(f"final state: Gibbs fixed-point residual max |rho - T(rho)| = "
              f"{summary['stationary_residual_end']:.2e} (0 at a stationary state)")
    print(f"\nstatus: {sol.status} {sol.message}".rstrip())
    print(f"wrote {out / 'solution.npz'}, {out / 'summary.json'}, "
          + ", ".join(str(f) for f in figs))
    return 0 if sol.success else 1


def _print_table(sol, rows: int = 6) -> None:
    idx = np.unique(np.linspace(0, sol.t.size - 1, rows).round().astype(int))
    print(f"\n{'t':>8} {'|rho_1|':>11} {'|rho_2|':>11} {'|rho_3|':>11} {'max rho':>10} "
          f"{'F':>13} {'mass-1':>10}")
    F, a1, a2, a3 = sol.free_energy, sol.amplitude(1), sol.amplitude(2), sol.amplitude(3)
    for i in idx:
        print(f"{sol.t[i]:8.3f} {a1[i]:11.4e} {a2[i]:11.4e} {a3[i]:11.4e} "
              f"{sol.rho[i].max():10.4f} {F[i]:13.8f} {sol.mass[i] - 1:10.1e}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meanfield", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("evolve", help="evolve the mean-field PDE on the circle")
    _add_evolve_args(p, {})
    d = sub.add_parser("demo", help="the flagship run on defaults (beta=3, kappa=1)")
    _add_evolve_args(d, {"out": "demo_output"})
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("evolve", "demo"):
        try:
            return run_evolve(args)
        except (ValueError, OverflowError) as err:
            print(f"meanfield: error: {err}", file=sys.stderr)
            return 2
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
