"""Run every validation script and write validation/REPORT.md (atomically).

Usage: python validation/run_all.py [--quick] [--out DIR]. Exit status 1 if any row fails.
The full run writes validation/REPORT.md; ``--quick`` (fewer cases) writes validation/quick/
unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import matplotlib

matplotlib.use("Agg")

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

from _common import HERE, OUTPUT, markdown  # noqa: E402

from meanfield import io  # noqa: E402


def scripts() -> list[str]:
    return sorted(p.stem for p in HERE.glob("v[0-9][0-9]_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer cases (under a minute)")
    parser.add_argument("--out", default=None, help="folder for REPORT.md and figures/ "
                        "(default validation/; with --quick validation/quick/, so that a "
                        "quick run never replaces the committed full report)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else (HERE / "quick" if args.quick else HERE)
    OUTPUT["dir"] = __import__("pathlib").Path(out)
    OUTPUT["dir"].mkdir(parents=True, exist_ok=True)
    rows, figures = [], []
    start = time.perf_counter()
    for i, name in enumerate(scripts(), start=1):
        mod = importlib.import_module(name)
        t0 = time.perf_counter()
        print(f"[{i}/{len(scripts())}] {mod.TITLE} ...", end=" ", flush=True)
        r, f = mod.run(args.quick)
        rows += r
        figures += f
        bad = sum(not x.passed for x in r)
        print(f"{len(r)} rows, {bad} failed ({time.perf_counter() - t0:.1f} s)", flush=True)
    text = markdown(rows, figures, time.perf_counter() - start, args.quick)
    report = OUTPUT["dir"] / "REPORT.md"
    io._atomic(report, lambda fh: fh.write(text.encode()))
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} rows pass; report: {report}")
    for r in failed:
        print(f"FAIL {r.result}: ours {r.ours!r} vs {r.reference!r} (diff {r.diff:.2e} > "
              f"{r.tol:.0e})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
