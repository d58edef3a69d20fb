"""Modelling overhead: build + hand-off to the solver, Pyomo vs the vectorised arrays.

Issue 6 asks that building the model and handing it to the solver take at most 20% of the
LP-relaxation time at 1000x8x5x3. Each (build, size) runs in its own child process, so its
peak RSS is its own; the clock covers the build and the MatrixModel the solver gets (for
Pyomo: ``build_network_plan`` + ``compile_pyomo``; for the arrays:
``build_network_arrays``), not the request's preparation, which both share. ``--lp`` also
solves the continuous relaxation of the arrays' matrix with HiGHS (capped at 300 s).

    python bench/build_overhead.py --sizes 100x5x4x3,1000x8x5x3 --lp 1000x8x5x3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import dataclasses, json, resource, sys, time
import numpy as np
from planner.prepare import network_data
from planner.synthetic import parse_size, synthetic_request
from planner.uncertainty import expand_scenarios
from planner.validation import validate_request
import pyomo.environ  # imported before the clock, for both builds
from models.network_plan import build_network_plan
from models.network_plan_arrays import build_network_arrays
from solvers.matrix import compile_pyomo

how, size, lp = sys.argv[1], sys.argv[2], sys.argv[3] == "lp"
request, _ = expand_scenarios(validate_request(synthetic_request(*parse_size(size))))
data = network_data(request)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if how == "pyomo":
    matrix = compile_pyomo(build_network_plan(data, whole_units=False))
else:
    matrix = build_network_arrays(data, whole_units=False).matrix
seconds = time.perf_counter() - start
out = {
    "build": how, "size": size, "seconds": round(seconds, 2),
    "columns": matrix.num_cols, "rows": matrix.num_rows, "nonzeros": matrix.nonzeros,
    "rss_before_build_mb": round(before / 1024),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}
if lp:
    from solvers import SolveOptions, get_solver
    relaxed = dataclasses.replace(matrix, integer=np.zeros_like(matrix.integer))
    result = get_solver("highs").solve(relaxed, SolveOptions(time_limit=300.0))
    out.update(lp_seconds=round(result.seconds, 2), lp_termination=result.termination.value)
print(json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100x5x4x3,1000x8x5x3")
    parser.add_argument("--builds", default="arrays,pyomo")
    parser.add_argument("--lp", default="", help="sizes whose LP relaxation is also solved")
    args = parser.parse_args()
    lp_sizes = set(filter(None, args.lp.split(",")))
    root = Path(__file__).resolve().parents[1]
    for size in args.sizes.split(","):
        for how in args.builds.split(","):
            lp = how == "arrays" and size in lp_sizes
            child = subprocess.run(
                [sys.executable, "-c", CHILD, how, size, "lp" if lp else "no"],
                capture_output=True,
                text=True,
                cwd=root,
            )
            print(child.stdout.strip() or json.dumps({"error": child.stderr[-2000:]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
