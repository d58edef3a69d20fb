"""The `planner` command: solve writes the same plan the pipeline returns; schema is JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import two_warehouse_request


def _planner(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_solve_writes_the_plan_and_prints_a_summary(tmp_path: Path) -> None:
    request = tmp_path / "r.json"
    request.write_text(json.dumps(two_warehouse_request()))
    out = tmp_path / "plan.json"
    proc = _planner(
        "solve", str(request), "--time-limit", "30", "--gap", "0.0001", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(out.read_text())
    assert plan["status"] == "optimal"
    assert plan["costs"]["total"] == plan["objective"]
    assert plan["solver"]["time_limit"] == 30 and plan["solver"]["mip_gap"] == 0.0001
    assert (
        "optimal" in proc.stdout and "A -> B by air" in proc.stdout and "fill rate" in proc.stdout
    )


def test_solve_json_prints_only_json(tmp_path: Path) -> None:
    request = tmp_path / "r.json"
    request.write_text(json.dumps(two_warehouse_request()))
    proc = _planner("solve", str(request), "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["status"] == "optimal"  # no solver banner on stdout


def test_infeasible_request_exits_3_with_the_reason(tmp_path: Path) -> None:
    request = tmp_path / "r.json"
    raw = two_warehouse_request(policy={"serve_all_demand": True})
    raw["scenarios"][0]["demand"][0]["quantity"] = 50
    request.write_text(json.dumps(raw))
    proc = _planner("solve", str(request))
    assert proc.returncode == 3
    assert "infeasible" in proc.stdout and "40 units of demand cannot be served" in proc.stdout


def test_bad_option_exits_2() -> None:
    proc = _planner("solve", "x.json", "--time-limit", "-1")
    assert proc.returncode == 2 and "--time-limit" in proc.stderr


def test_schema_is_a_json_schema() -> None:
    proc = _planner("schema")
    schema = json.loads(proc.stdout)
    assert schema["title"] == "PlanRequest"
    assert {"warehouses", "skus", "lanes", "channels", "scenarios"} <= set(schema["properties"])
    assert "from" in schema["$defs"]["Lane"]["properties"]
