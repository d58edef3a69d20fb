"""`planner bench` and the straightforward baseline it measures against.

The baseline must be a correct model of the same plans, only weaker: the same optimum in
whole units, a lower (or equal) LP-relaxation bound.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import hand_solved_request, two_warehouse_request

from models.network_plan import build_network_plan
from planner.bench import (
    MARK_BEGIN,
    MARK_END,
    ROW_KEYS,
    add_ratios,
    limit_for,
    table,
    write_markdown,
)
from planner.cli import main
from planner.prepare import network_data
from planner.synthetic import synthetic_request
from planner.validation import validate_request
from solvers import SolutionKind, SolveOptions, get_solver
from solvers.matrix import compile_pyomo

REQUIRED = (
    "size",
    "variant",
    "status",
    "gap",
    "build_seconds",
    "solve_seconds",
    "lp_relaxation_seconds",
    "peak_rss_mb",
)
TINY = ("--size", "3x2x2x2", "--horizon", "6", "--time-limit", "20")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bench_prints_one_json_row_per_variant_each_from_its_own_process(
    tmp_path: Path,
) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nWritten by hand.\n")
    proc = _bench(*TINY, "--json", "--out", str(tmp_path / "rows.json"), "--markdown", str(doc))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows == json.loads((tmp_path / "rows.json").read_text())
    assert [r["variant"] for r in rows] == ["lp", "strong", "straightforward"]
    for row in rows:
        assert set(REQUIRED) <= row.keys()
        assert row["size"] == "3x2x2x2" and row["status"] == "optimal", row
        # models this small solve in-process (pipeline.IN_PROCESS_NONZEROS): no worker to add
        assert row["peak_rss_model_mb"] > 10 and row["peak_rss_solver_mb"] >= 0
        assert row["peak_rss_mb"] == row["peak_rss_model_mb"] + row["peak_rss_solver_mb"]
        assert row["build_seconds"] >= 0
        assert row["lp_relaxation_seconds"] == rows[0]["solve_seconds"]
    pids = {r["pid"] for r in rows}
    assert len(pids) == 3 and os.getpid() not in pids  # a fresh process per variant
    lp, strong, baseline = rows
    assert strong["objective"] == pytest.approx(baseline["objective"], rel=1e-6)
    assert lp["objective"] <= strong["objective"] + 1e-6
    assert lp["integer_variables"] == 0 and strong["variables"] == lp["variables"]
    assert baseline["constraints"] < strong["constraints"]  # no (4b)
    assert strong["time_vs_straightforward"] == pytest.approx(
        strong["total_seconds"] / baseline["total_seconds"]
    )
    text = doc.read_text()
    assert text.startswith("# Performance\n\nWritten by hand.\n")
    assert "Regenerate: `planner bench --size 3x2x2x2 --horizon 6" in text
    assert text.count(MARK_BEGIN) == 1 and "| 3x2x2x2 | straightforward | optimal |" in text


def test_a_variant_over_the_memory_limit_is_killed_and_reported() -> None:
    proc = _bench(*TINY, "--variants", "lp", "--memory-limit", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["status"] == "killed" and "passed 1 MB" in row["message"]
    assert row["peak_rss_mb"] > 1


@pytest.mark.parametrize(
    ("size", "problem"),
    [("100x5x4", "must be SKUSxWAREHOUSESxCHANNELSxSCENARIOS"), ("10x1x2x2", "2 warehouses")],
)
def test_a_bad_size_exits_2_naming_the_problem(size: str, problem: str) -> None:
    proc = _bench("--size", size)
    assert proc.returncode == 2
    assert "--size" in proc.stderr and problem in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("--time-limit=100x5x4x3:tight=5", "unknown variant 'tight'"),
        ("--time-limit=10x5=5", "must be SKUSxWAREHOUSESxCHANNELSxSCENARIOS"),
        ("--memory-limit=lp=-1", "must be a positive finite number"),
        ("--variants=lp,milp", "unknown variant(s) milp"),
    ],
)
def test_a_bad_limit_or_variant_exits_2_naming_the_problem(
    option: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--size", "3x2x2x2", option])
    assert exit_info.value.code == 2 and problem in capsys.readouterr().err


def test_time_limits_are_scoped_and_the_most_specific_wins() -> None:
    limits = [
        (None, None, 30.0),
        (None, "straightforward", 90.0),
        ("100x5x4x3", None, 120.0),
        ("100x5x4x3", "straightforward", 900.0),
    ]
    assert limit_for(limits, "3x2x2x2", "lp") == 30
    assert limit_for(limits, "3x2x2x2", "straightforward") == 90
    assert limit_for(limits, "100x5x4x3", "strong") == 120
    assert limit_for(limits, "100x5x4x3", "straightforward") == 900
    assert limit_for([], "3x2x2x2", "lp") == 60
    assert limit_for([], "3x2x2x2", "lp", default=8192) == 8192


def test_ratios_say_when_they_are_bounds() -> None:
    # The LP stopped at its 600 s limit: its time is > 600 s, the overhead ratio an upper
    # bound. The baseline did not prove its optimum: the strong/baseline ratio is one too.
    def row(variant: str, status: str, **values: float) -> dict[str, Any]:
        return (
            dict.fromkeys(ROW_KEYS)
            | {"size": "9x2x2x2", "variant": variant}
            | {"status": status, **values}
        )

    rows = [
        row("lp", "time_limit_no_solution", solve_seconds=600.0),
        row("strong", "optimal", build_seconds=40.0, handoff_seconds=20.0, total_seconds=100.0),
        row("straightforward", "feasible", total_seconds=400.0),
    ]
    add_ratios(rows)
    assert rows[1]["lp_relaxation_seconds"] is None
    assert rows[1]["lp_relaxation_seconds_at_least"] == 600
    assert rows[1]["overhead_vs_lp"] == pytest.approx(0.1)
    assert rows[1]["time_vs_straightforward"] == pytest.approx(0.25)
    strong_line = table(rows, markdown=True).splitlines()[3]
    assert "| > 600.00 |" in strong_line and "| < 0.25 |" in strong_line
    assert "| < 0.10 |" in strong_line


def test_the_markdown_section_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    doc = tmp_path / "p.md"
    doc.write_text(f"intro\n\n{MARK_BEGIN}\nold table\n{MARK_END}\n\nanalysis\n")
    row = dict.fromkeys(("size", "variant", "status", "message", "stage"), "x")
    write_markdown(doc, [row], "planner bench --size 3x2x2x2", "context")
    text = doc.read_text()
    assert text.startswith("intro\n\n") and text.endswith(f"{MARK_END}\n\nanalysis\n")
    assert "old table" not in text and "planner bench --size 3x2x2x2" in text


# ---- the straightforward baseline is a correct, weaker model ----------------------------------


def _optimum(raw: dict[str, Any], formulation: str, relax: bool) -> float:
    model = build_network_plan(network_data(validate_request(raw)), formulation=formulation)
    matrix = compile_pyomo(model)
    if relax:
        matrix = dataclasses.replace(matrix, integer=np.zeros(matrix.num_cols, dtype=bool))
    result = get_solver("highs").solve(matrix, SolveOptions(mip_gap=1e-9))
    assert result.solution is SolutionKind.optimal and result.objective is not None
    return result.objective


INSTANCES = {
    "synthetic 3x2x2x2": synthetic_request(3, 2, 2, 2, horizon_days=6, seed=0),
    "two warehouses": two_warehouse_request(),
    "hand-solved": hand_solved_request(),
}


@pytest.mark.parametrize("name", INSTANCES)
def test_the_baseline_has_the_same_optimum_and_a_weaker_lp_bound(name: str) -> None:
    raw = INSTANCES[name]
    strong = _optimum(raw, "strong", relax=False)
    assert _optimum(raw, "straightforward", relax=False) == pytest.approx(strong, abs=1e-6)
    strong_lp = _optimum(raw, "strong", relax=True)
    baseline_lp = _optimum(raw, "straightforward", relax=True)
    assert baseline_lp <= strong_lp + 1e-6 <= strong + 2e-6
    if name == "synthetic 3x2x2x2":  # many units share each lane: M far above S_kt
        assert baseline_lp < strong_lp - 1.0


def test_an_unknown_formulation_is_refused() -> None:
    data = network_data(validate_request(two_warehouse_request()))
    with pytest.raises(ValueError, match="unknown formulation 'tight'"):
        build_network_plan(data, formulation="tight")


def _lp_algorithms(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(__file__).resolve().parents[1] / "bench" / "lp_algorithms.py"
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )


def test_lp_algorithms_refuses_an_unknown_mip_config_naming_the_option() -> None:
    proc = _lp_algorithms("--sizes", "1x2x1x1", "--mip", "5", "--mip-configs", "simplex,bogus")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--mip-configs: unknown configs ['bogus']" in proc.stderr


def test_lp_algorithms_runs_only_the_chosen_configs_and_reports_the_mip_gap() -> None:
    """One SKU on 2 warehouses: the MIP is proven optimal, so its gap is within HiGHS's 1e-4."""
    proc = _lp_algorithms(
        "--sizes", "1x2x1x1", "--configs", "", "--mip", "30", "--mip-configs", "simplex"
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")][1:]
    assert [(r["problem"], r["config"]) for r in rows] == [("mip", "simplex")]
    assert rows[0]["status"] == "Optimal" and rows[0]["gap"] <= 1e-4
    assert rows[0]["dual_bound"] == pytest.approx(rows[0]["objective"], rel=1e-4)
    assert "| root bound | bound | gap |" in proc.stdout
