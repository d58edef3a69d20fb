"""Benchmark: plan time of the Ramadan campaign with 100 scenarios against 3 (issue 3).

The 3-scenario request is instances/glowup_ramadan.json as is (conservative / optimistic /
aggressive). The 100-scenario request states the same expected demand per SKU x channel x
bucket as normal distributions with a 30% coefficient of variation (SEEDS.md section 5:
live-commerce forecast errors above 30%), discretised by sampling 100 draws (seed 0).
Both are planned in this one command, so the ratio is measured on the same machine state.

    python bench/ramadan_scenarios.py [--time-limit 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from planner.pipeline import run
from planner.validation import load_request_file, validate_request
from solvers import SolveOptions

ROOT = Path(__file__).resolve().parents[1]


def hundred_scenario_request(base: dict, scenarios: int = 100, cv: float = 0.3) -> dict:
    mean: dict[tuple, float] = defaultdict(float)
    for scenario in base["scenarios"]:
        for row in scenario["demand"]:
            key = (row["sku"], row["channel"], row.get("day", 0), row.get("end_day"))
            mean[key] += scenario["probability"] * row["quantity"]
    distributions = [
        {
            "sku": k,
            "channel": c,
            "kind": "normal",
            "mean": q,
            "std": cv * q,
            "day": day,
            **({"end_day": end} if end is not None else {}),
        }
        for (k, c, day, end), q in mean.items()
        if q > 0
    ]
    out = {key: value for key, value in base.items() if key != "scenarios"}
    out["uncertainty"] = {
        "distributions": distributions,
        "method": "sampling",
        "scenarios": scenarios,
        "max_scenarios": scenarios,
        "seed": 0,
    }
    out["name"] = f"{base.get('name', 'ramadan')} ({scenarios} sampled scenarios)"
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = ROOT / "instances" / "glowup_ramadan.json"
    base = json.loads(path.read_text())
    rows = []
    for label, request in (
        ("3 scenarios", load_request_file(path)),
        ("100 scenarios", validate_request(hundred_scenario_request(base))),
    ):
        started = time.perf_counter()
        plan = run(request, SolveOptions(time_limit=args.time_limit))
        rows.append(
            {
                "case": label,
                "status": plan["status"],
                "gap": plan["gap"],
                "wall_seconds": round(time.perf_counter() - started, 2),
                "build_seconds": plan["timings"]["build_seconds"],
                "solve_seconds": plan["timings"]["solve_seconds"],
                "variables": plan["model"]["variables"],
                "integer_variables": plan["model"]["integer_variables"],
                "constraints": plan["model"]["constraints"],
                "objective": plan["objective"],
            }
        )
    rows.append(
        {"case": "ratio 100/3 wall", "value": rows[1]["wall_seconds"] / rows[0]["wall_seconds"]}
    )
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            print(row)


if __name__ == "__main__":
    main()
