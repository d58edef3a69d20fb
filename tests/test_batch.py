"""`planner batch`: real runs on local processes and on a real Dask LocalCluster (2 workers).

The batch is tiny requests (hand-sized and small synthetic networks that solve in well under a
second), plus an invalid request and a file that is not JSON, so each run shows that failures
are recorded per request without stopping the others. Every run goes through worker
processes, as production does; no test mocks an engine.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from planner.batch import (
    SUMMARY_COLUMNS,
    BatchInputError,
    BatchSettings,
    LocalEngine,
    make_job,
    plan_job,
    run_batch,
)
from planner.synthetic import synthetic_request

VALID = ("alpha", "bravo", "charlie", "delta")


# The pipeline is imported lazily: a worker process spawned for `_echo_or_die` imports this
# module, and should not pay for Pyomo to do so.
def two_warehouse_request(**changes: Any) -> dict[str, Any]:
    from conftest import two_warehouse_request

    return two_warehouse_request(**changes)


def cli_main(argv: list[str]) -> int:
    from planner.cli import main

    return main(argv)


def _write_batch(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alpha.json").write_text(json.dumps(two_warehouse_request(name="alpha")))
    bravo = two_warehouse_request(name="bravo")
    bravo["stock"][0]["quantity"] = 4  # short of stock: a lost sale, fill rate below 1
    (folder / "bravo.json").write_text(json.dumps(bravo))
    for name, seed in (("charlie", 1), ("delta", 2)):
        request = synthetic_request(2, 2, 1, 1, horizon_days=5, seed=seed)
        (folder / f"{name}.json").write_text(json.dumps(request))
    broken = two_warehouse_request(name="unknown warehouse")
    broken["stock"][0]["warehouse"] = "Z"
    (folder / "invalid.json").write_text(json.dumps(broken))
    (folder / "notjson.json").write_text("{this is not JSON")
    (folder / "README.txt").write_text("not a request: only *.json files are")
    return folder


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    return _write_batch(tmp_path / "requests")


def _sqlite_rows(out: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(out / "summary.sqlite3")
    try:
        cursor = db.execute(f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM summary ORDER BY position")
        return {r[0]: dict(zip(SUMMARY_COLUMNS, r, strict=True)) for r in cursor}
    finally:
        db.close()


def _csv_rows(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _check_outputs(out: Path) -> dict[str, dict[str, Any]]:
    """The summary in SQLite and CSV agree with each other and with the plan files."""
    rows = _sqlite_rows(out)
    assert list(rows) == ["alpha", "bravo", "charlie", "delta", "invalid", "notjson"]
    csv_rows = _csv_rows(out)
    assert [r["name"] for r in csv_rows] == list(rows)
    for line in csv_rows:
        row = rows[line["name"]]
        assert list(line) == list(SUMMARY_COLUMNS)
        for column, value in row.items():
            if value is None:
                assert line[column] == "", column
            elif isinstance(value, float):
                assert float(line[column]) == value, column
            else:
                assert line[column] == str(value), column

    for name in VALID:
        row = rows[name]
        plan = json.loads((out / row["plan_file"]).read_text())
        assert row["status"] == plan["status"] == "optimal"
        assert row["objective"] == plan["objective"] == plan["costs"]["total"]
        assert row["best_bound"] == plan["best_bound"]
        assert row["gap"] == plan["gap"]
        assert row["solve_seconds"] == plan["timings"]["solve_seconds"]
        assert row["fill_rate"] == plan["kpis"]["expected_fill_rate"]
        assert row["message"] == plan["message"]
        assert row["worker"] and not row["worker"].endswith(f":{os.getpid()}")  # a worker did it
        assert not (out / "errors" / f"{name}.json").exists()
    assert rows["alpha"]["fill_rate"] == 1.0 and rows["bravo"]["fill_rate"] < 1.0

    invalid = rows["invalid"]
    assert invalid["status"] == "invalid" and invalid["objective"] is None
    assert invalid["message"] == "$.stock[0].warehouse: unknown warehouse 'Z'"
    detail = json.loads((out / "errors" / "invalid.json").read_text())
    assert detail["errors"] == [{"path": "$.stock[0].warehouse", "reason": "unknown warehouse 'Z'"}]
    assert rows["notjson"]["status"] == "invalid"
    assert rows["notjson"]["message"].startswith("$: not valid JSON")
    assert sorted(p.name for p in (out / "plans").iterdir()) == [
        f"{name}.plan.json" for name in VALID
    ]
    return rows


def test_dask_engine_on_a_real_local_cluster(batch: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run_batch(batch, out, engine="dask", workers=2, progress=False)
    assert (report.total, report.skipped, report.interrupted) == (6, 0, False)
    assert report.statuses == {"optimal": 4, "invalid": 2}
    _check_outputs(out)


def test_dask_engine_on_a_running_cluster_by_address(batch: Path, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    manifest = batch.parent / "two.json"
    manifest.write_text(json.dumps(["requests/alpha.json", "requests/invalid.json"]))
    out = tmp_path / "out"
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = set(client.run(os.getpid).values())
        report = run_batch(
            manifest, out, engine="dask", scheduler=cluster.scheduler_address, progress=False
        )
    assert report.statuses == {"optimal": 1, "invalid": 1}
    rows = _sqlite_rows(out)
    assert int(rows["alpha"]["worker"].rsplit(":", 1)[1]) in pids


def _planner_command() -> list[str]:
    """The installed console script when there is one (spawned workers must start from it)."""
    script = Path(sys.executable).with_name("planner")
    return [str(script)] if script.exists() else [sys.executable, "-m", "planner.cli"]


def test_local_engine_from_the_console_script(batch: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [*_planner_command(), "batch", str(batch), "--out", str(out), "--workers", "2"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr  # per-request failures do not fail the batch
    assert "6 requests, 6 run now, 0 already done" in proc.stdout and "invalid 2" in proc.stdout
    assert "6/6" in proc.stderr and "failed=2" in proc.stderr  # the progress bar
    rows = _check_outputs(out)
    assert len({rows[name]["worker"] for name in VALID}) >= 1


def test_rerun_skips_done_requests_and_replans_an_edited_one(batch: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_batch(batch, out, workers=1, progress=False)
    assert first.skipped == 0 and first.statuses == {"optimal": 4, "invalid": 2}
    before = _sqlite_rows(out)

    again = run_batch(batch, out, workers=1, progress=False)
    assert (again.total, again.skipped) == (6, 6)
    assert again.statuses == first.statuses
    assert _sqlite_rows(out) == before

    bravo = json.loads((batch / "bravo.json").read_text())
    bravo["stock"][0]["quantity"] = 10  # enough stock now: every unit served
    (batch / "bravo.json").write_text(json.dumps(bravo))
    (batch / "notjson.json").write_text(json.dumps(two_warehouse_request(name="fixed")))
    third = run_batch(batch, out, workers=1, progress=False)
    assert (third.total, third.skipped, third.ran) == (6, 4, 2)
    after = _sqlite_rows(out)
    assert after["bravo"]["request_sha256"] != before["bravo"]["request_sha256"]
    assert after["bravo"]["fill_rate"] == 1.0
    assert after["notjson"]["status"] == "optimal"
    assert not (out / "errors" / "notjson.json").exists()
    assert (out / "plans" / "notjson.plan.json").exists()
    for name in ("alpha", "charlie", "delta", "invalid"):
        assert after[name] == before[name]

    # Other settings (solver, time limit, gap) make other plans: every request runs again.
    fourth = run_batch(batch, out, workers=1, settings=BatchSettings(mip_gap=0.01), progress=False)
    assert fourth.skipped == 0
    assert _sqlite_rows(out)["alpha"]["settings"] == BatchSettings(mip_gap=0.01).key()


def test_a_crash_is_recorded_per_request_and_retried_on_rerun(batch: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    broken = BatchSettings(solver="no-such-solver")  # the pipeline raises for each request
    report = run_batch(batch, out, workers=1, settings=broken, progress=False)
    assert report.statuses == {"error": 4, "invalid": 2}
    rows = _sqlite_rows(out)
    for name in VALID:
        assert rows[name]["status"] == "error"
        assert "unknown solver 'no-such-solver'" in rows[name]["message"]
        detail = json.loads((out / "errors" / f"{name}.json").read_text())
        assert "Traceback" in detail["traceback"]

    rerun = run_batch(batch, out, workers=1, settings=broken, progress=False)
    assert rerun.skipped == 2  # the invalid ones are final; errors are tried again


def test_manifest_csv_and_json_relative_to_the_manifest(batch: Path, tmp_path: Path) -> None:
    manifest = batch.parent / "nightly.csv"
    manifest.write_text("path,owner\nrequests/alpha.json,ops\n# a comment\nrequests/bravo.json,\n")
    out = tmp_path / "out"
    report = run_batch(manifest, out, workers=1, progress=False)
    assert report.statuses == {"optimal": 2}
    assert list(_sqlite_rows(out)) == ["alpha", "bravo"]

    listed = batch.parent / "nightly.json"
    listed.write_text(json.dumps({"requests": ["requests/alpha.json", "requests/missing.json"]}))
    report = run_batch(listed, out, workers=1, progress=False)
    rows = _sqlite_rows(out)
    assert list(rows) == ["alpha", "missing"]  # bravo left the batch, so left the summary
    assert report.skipped == 1 and rows["missing"]["status"] == "invalid"
    assert rows["missing"]["message"].startswith("$: cannot read")
    assert [r["name"] for r in _csv_rows(out)] == ["alpha", "missing"]
    assert [p.name for p in (out / "plans").iterdir()] == ["alpha.plan.json"]


def test_duplicate_names_are_rejected_before_anything_runs(
    batch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(batch / "alpha.json", other / "ALPHA.json")
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([str(batch / "alpha.json"), "other/ALPHA.json"]))
    out = tmp_path / "out"
    with pytest.raises(BatchInputError, match="duplicate request names"):
        run_batch(manifest, out, progress=False)
    assert cli_main(["batch", str(manifest), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "duplicate request names" in err and "other/ALPHA.json" in err
    assert not (out / "summary.sqlite3").exists()


def test_exit_codes(batch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli_main(["batch", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "no such folder or manifest" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["batch", str(empty), "--out", str(out)]) == 2
    bad_manifest = tmp_path / "bad.json"
    bad_manifest.write_text('{"requests": 3}')
    assert cli_main(["batch", str(bad_manifest), "--out", str(out)]) == 2
    with pytest.raises(SystemExit) as exc:
        cli_main(["batch", str(batch), "--out", str(out), "--workers", "0"])
    assert exc.value.code == 2
    assert cli_main(["batch", str(batch), "--out", str(out), "--scheduler", "tcp://x:1"]) == 2
    capsys.readouterr()

    only_bad = tmp_path / "only-bad"
    only_bad.mkdir()
    shutil.copy(batch / "alpha.json", only_bad)
    shutil.copy(batch / "invalid.json", only_bad)
    args = ["batch", str(only_bad), "--out", str(out), "--workers", "1", "--no-progress"]
    assert cli_main(args) == 0  # the batch ran; the invalid request is in the summary
    assert cli_main([*args, "--strict"]) == 4  # ...unless every request must get a plan
    assert "2 already done" in capsys.readouterr().out


def test_jobs_and_results_are_json_text() -> None:
    request = json.dumps(two_warehouse_request())
    result = plan_job(make_job("r", "r.json", request, BatchSettings(mip_gap=1e-9)))
    assert isinstance(result, str)
    data = json.loads(result)
    assert set(data) == {"row", "plan", "detail"}
    assert data["row"]["status"] == data["plan"]["status"] == "optimal"
    assert data["row"]["settings"] == BatchSettings(mip_gap=1e-9).key()
    assert data["plan"]["solver"]["mip_gap"] == 1e-9 and data["detail"] is None


def _echo_or_die(job: str) -> str:
    """A task for the local engine's pool: the job back, or the worker process dies."""
    if job == "die":
        os._exit(3)
    return job


def test_a_dead_worker_costs_only_its_own_request() -> None:
    engine = LocalEngine(2, task=_echo_or_die)
    try:
        results = dict(engine.map((job, job) for job in ("a", "b", "die", "c", "d", "e")))
    finally:
        engine.close()
    assert {name: results[name] for name in "abcde"} == {name: name for name in "abcde"}
    assert isinstance(results["die"], RuntimeError)
    assert "worker process died" in str(results["die"])
