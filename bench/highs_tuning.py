"""HiGHS with its default options against the project's tuning (``solvers.highs.TUNING``, on
models of at most ``TUNING_MAX_NONZEROS``).

For every instance in instances/ (and optional synthetic sizes), in one process, the pipeline
(``planner.pipeline.run``, as ``planner solve`` runs it) plans the request ``--repeat`` times
with each solver seed 0, 1, ... under both settings; the script prints the median wall time,
the status and the objective of each. Same status and objective with less time is what
justifies the tuning. On a shared 2-core machine compare the two columns of one run, not
figures across runs.

    python bench/highs_tuning.py
    python bench/highs_tuning.py --synthetic 20x4x3x3 --time-limit 60 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import solvers.highs as highs
from planner.bench import size_argument
from planner.pipeline import run
from planner.schema import PlanRequest
from planner.synthetic import synthetic_request
from planner.validation import load_request_file, validate_request
from solvers import SolveOptions

REPO = Path(__file__).resolve().parents[1]


def timed(request: PlanRequest, tuning: dict[str, bool], repeat: int, limit: float) -> str:
    saved = dict(highs.TUNING)
    highs.TUNING.clear()
    highs.TUNING.update(tuning)
    try:
        seconds, plan = [], {}
        for seed in range(repeat):
            started = time.perf_counter()
            plan = run(request, SolveOptions(time_limit=limit, seed=seed))
            seconds.append(time.perf_counter() - started)
    finally:
        highs.TUNING.clear()
        highs.TUNING.update(saved)
    objective = plan.get("objective")
    shown = "-" if objective is None else f"{objective:,.2f}"
    return f"{statistics.median(seconds):7.2f} s {plan['status']:>9} {shown:>14}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument(
        "--synthetic", action="append", default=[], metavar="SIZE", type=size_argument
    )
    args = parser.parse_args()
    cases = {p.stem: load_request_file(p) for p in sorted((REPO / "instances").glob("*.json"))}
    for size in args.synthetic:
        name = "x".join(str(n) for n in size)
        cases[f"synthetic {name}"] = validate_request(synthetic_request(*size))
    print(f"{'request':<28} {'HiGHS defaults':>34} | {'TUNING ' + str(highs.TUNING):>34}")
    for name, request in cases.items():
        default = timed(request, {}, args.repeat, args.time_limit)
        tuned = timed(request, dict(highs.TUNING), args.repeat, args.time_limit)
        print(f"{name:<28} {default} | {tuned}", flush=True)


if __name__ == "__main__":
    main()
