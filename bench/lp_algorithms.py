"""HiGHS algorithm choice on the big synthetic models: LP relaxation and MIP root.

Measures, for each ``--sizes`` (SKUs x warehouses x channels x scenarios, 14 days,
:mod:`planner.synthetic`), how long HiGHS takes with each ``--configs`` entry (one solver
thread, presolve on):

- the LP relaxation of the production model (the matrix the pipeline's first phase solves,
  built with :func:`models.network_plan_arrays.build_network_arrays`, every column
  continuous): ``simplex`` (HiGHS's default choice for an LP: dual simplex), ``ipx``
  (interior point, then crossover to a basic solution), ``ipx-nocross`` (interior point only)
  and, on request, ``pdlp`` (first-order, CPU);
- with ``--mip SECONDS``, also the pipeline's first-phase MIP (lane-use and order binaries
  integer, quantities continuous) for that many seconds: ``simplex`` (default) against
  ``ipx`` (``mip_lp_solver=ipx``: the root LP, solved without a basis, by interior point plus
  crossover; later LPs by simplex as always). It reports when the first finite dual bound
  (the end of the root LP) was seen and the bound and incumbent at the end.

The model is built once per size; every solve runs in its own forked process (fresh HiGHS,
its own peak memory), killed at its time limit + ``GRACE_SECONDS`` when HiGHS overruns it.
Run the configurations of one size in one invocation so that they see the same machine load:

    python bench/lp_algorithms.py --sizes 100x5x4x3,1000x8x5x3 --time-limit 600 --mip 120

One JSON line per solve on stdout, then a summary table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from planner.bench import high_water_mb
from solvers.matrix import MatrixModel

# HiGHS options per configuration, on top of threads=1, output off, the time limit.
LP_CONFIGS: dict[str, dict[str, Any]] = {
    "simplex": {},
    "ipx": {"solver": "ipx", "run_crossover": "on"},
    "ipx-nocross": {"solver": "ipx", "run_crossover": "off"},
    "pdlp": {"solver": "pdlp"},
}
MIP_CONFIGS: dict[str, dict[str, Any]] = {
    "simplex": {},
    "ipx": {"mip_lp_solver": "ipx"},
}
GRACE_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Run:
    size: str
    problem: str  # "lp" or "mip"
    config: str
    options: dict[str, Any]
    time_limit: float


def build_matrix(size: str) -> tuple[MatrixModel, float]:
    """The first-phase matrix of the pipeline for a synthetic size, and its build seconds."""
    from models.network_plan_arrays import build_network_arrays
    from planner.prepare import network_data
    from planner.synthetic import parse_size, synthetic_request
    from planner.uncertainty import expand_scenarios
    from planner.validation import validate_request

    started = time.perf_counter()
    request, _ = expand_scenarios(validate_request(synthetic_request(*parse_size(size))))
    matrix = build_network_arrays(network_data(request), whole_units=False).matrix
    return matrix, time.perf_counter() - started


def solve(matrix: MatrixModel, run: Run) -> dict[str, Any]:
    """Solve in this process with the run's HiGHS options; the figures of the solve."""
    import highspy

    from solvers.highs import _to_highs_lp, new_highs

    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.resetGlobalScheduler(True)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", float(run.time_limit))
    for name, value in run.options.items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise ValueError(f"HiGHS rejected option {name}={value!r}")
    if run.problem == "lp":
        matrix = dataclasses.replace(matrix, integer=np.zeros(matrix.num_cols, dtype=bool))
    h.passModel(_to_highs_lp(matrix))

    root: dict[str, float] = {}
    started = time.perf_counter()

    def on_mip(event: Any) -> None:
        bound = float(event.data_out.mip_dual_bound)
        if "root_seconds" not in root and np.isfinite(bound):
            root["root_seconds"] = time.perf_counter() - started
            root["root_bound"] = bound

    if run.problem == "mip":
        h.cbMipInterrupt.subscribe(on_mip)
        h.cbMipImprovingSolution.subscribe(on_mip)
    h.run()
    seconds = time.perf_counter() - started
    info = h.getInfo()
    feasible = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    out: dict[str, Any] = {
        "status": h.modelStatusToString(h.getModelStatus()),
        "seconds": round(seconds, 2),
        # a primal solution's cost (the best plan's, for the MIP); None without one
        "objective": float(info.objective_function_value) if feasible else None,
        "simplex_iterations": int(info.simplex_iteration_count),
        "ipm_iterations": int(info.ipm_iteration_count),
        "crossover_iterations": int(info.crossover_iteration_count),
        "pdlp_iterations": int(info.pdlp_iteration_count),
        "peak_mb": round(high_water_mb() or 0.0),
    }
    if run.problem == "mip":
        bound = float(info.mip_dual_bound)
        out.update(
            {
                "root_seconds": round(root["root_seconds"], 2) if root else None,
                "root_bound": root.get("root_bound"),
                "dual_bound": bound if np.isfinite(bound) else None,
                "gap": float(info.mip_gap) if np.isfinite(info.mip_gap) else None,
                "nodes": int(info.mip_node_count),
            }
        )
    return out


def _child(matrix: MatrixModel, run: Run, conn: Connection) -> None:
    try:
        conn.send(solve(matrix, run))
    except Exception as exc:  # reported as the run's row
        conn.send({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def solve_in_child(matrix: MatrixModel, run: Run) -> dict[str, Any]:
    """Fork, solve, return the child's figures; kill it at the time limit + grace."""
    receive, send = mp.get_context("fork").Pipe(duplex=False)
    child = mp.get_context("fork").Process(target=_child, args=(matrix, run, send))
    started = time.perf_counter()
    child.start()
    send.close()
    if receive.poll(run.time_limit + GRACE_SECONDS):
        row = receive.recv()
    else:
        row = {"status": "killed", "seconds": round(time.perf_counter() - started, 2)}
    if child.is_alive():
        child.kill()
    child.join()
    return row


def _sizes(text: str) -> list[str]:
    """--sizes: comma-separated synthetic sizes, each checked (a usage error, not a traceback)."""
    from planner.bench import size_argument

    sizes = text.split(",")
    for size in sizes:
        size_argument(size)
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100x5x4x3",
        type=_sizes,
        help="comma-separated, e.g. 100x5x4x3,1000x8x5x3",
    )
    parser.add_argument(
        "--configs", default="simplex,ipx,ipx-nocross", help="LP configs ('' for none)"
    )
    parser.add_argument("--time-limit", type=float, default=600.0, help="per LP solve")
    parser.add_argument(
        "--mip", type=float, default=0.0, help="also run the first-phase MIP this many seconds"
    )
    parser.add_argument("--mip-configs", default="simplex,ipx", help="MIP configs, with --mip")
    args = parser.parse_args()
    configs = args.configs.split(",") if args.configs else []
    mip_configs = args.mip_configs.split(",")
    for option, chosen, known in (
        ("--configs", configs, LP_CONFIGS),
        ("--mip-configs", mip_configs, MIP_CONFIGS),
    ):
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            parser.error(f"{option}: unknown configs {unknown}; choose from {sorted(known)}")
    from solvers.highs import new_highs

    print(
        json.dumps(
            {
                "highs": new_highs().version(),
                "cores": os.cpu_count(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        ),
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        matrix, build_seconds = build_matrix(size)
        shape = {
            "columns": matrix.num_cols,
            "rows": matrix.num_rows,
            "nonzeros": matrix.nonzeros,
            "binaries": matrix.num_binaries,
            "build_seconds": round(build_seconds, 2),
        }
        runs = [Run(size, "lp", c, LP_CONFIGS[c], args.time_limit) for c in configs]
        if args.mip > 0:
            runs += [Run(size, "mip", c, MIP_CONFIGS[c], args.mip) for c in mip_configs]
        for run in runs:
            row = {"size": size, "problem": run.problem, "config": run.config, **shape}
            row.update(solve_in_child(matrix, run))
            row["load_average"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
        del matrix
    print(
        "\n| size | problem | config | status | seconds | objective | root bound | bound | gap "
        "| root s | peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def number(value: float | None, spec: str = ",.1f") -> str:
        return "-" if value is None else format(value, spec)

    for r in rows:
        print(
            f"| {r['size']} | {r['problem']} | {r['config']} | {r['status']} "
            f"| {r.get('seconds', '-')} | {number(r.get('objective'))} "
            f"| {number(r.get('root_bound'))} | {number(r.get('dual_bound'))} "
            f"| {number(r.get('gap'), '.2%')} "
            f"| {r.get('root_seconds') or '-'} | {r.get('peak_mb', '-')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
