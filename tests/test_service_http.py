"""The flows that matter, through a real `planner serve` process on loopback: submit, poll,
fetch (the same plan `planner solve` makes), idempotency, cancel keeping the best plan, time
limits, bearer auth, client errors over the wire, and a job that survives the server being
killed mid-solve and then completes exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, two_warehouse_request
from service_server import Server, finished, pid_alive

from api.store import JobStore
from planner.pipeline import run
from planner.synthetic import synthetic_request
from planner.validation import load_request_file
from solvers import SolveOptions

TOKEN = "test-token"
FLAGSHIP = REPO / "instances" / "glowup_live_show.json"
# Hard enough to be still running after several seconds (see test_solve_control.py).
HARD = synthetic_request(6, 3, 2, 2, seed=3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("service")
    with Server(
        folder / "jobs.sqlite3", "--workers", "2", "--max-body", "1000000", token=TOKEN
    ) as s:
        yield s


def submit(server: Server, body: Any, query: str = "", **headers: str) -> dict[str, Any]:
    response = server.post(f"/v1/plans{query}", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/plans/{response.json()['id']}"
    return response.json()  # type: ignore[no-any-return]


def test_flagship_plan_matches_planner_solve(server: Server) -> None:
    job = submit(server, json.loads(FLAGSHIP.read_text()), "?time_limit=120")
    # `planner solve` on the same request, meanwhile, in this process.
    expected: dict[str, Any] = {}
    solve = threading.Thread(
        target=lambda: expected.update(
            run(load_request_file(FLAGSHIP), SolveOptions(time_limit=120))
        )
    )
    solve.start()
    done = server.wait_job(job["id"], finished, timeout=200)
    solve.join(timeout=200)
    assert done["status"] == "succeeded", done
    assert done["attempt"] == 1 and done["plan_status"] == "optimal"
    assert done["started_at"] >= done["created_at"] and done["finished_at"] >= done["started_at"]
    response = server.get(done["links"]["result"])
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    plan = response.json()
    assert plan["status"] == "optimal" == expected["status"]
    assert plan["objective"] == pytest.approx(expected["objective"], rel=1e-6)
    assert plan["objective"] == pytest.approx(done["objective"])
    masked = {"timings", "solver"}
    assert {k: v for k, v in plan.items() if k not in masked}.keys() == {
        k for k in expected if k not in masked
    }
    assert plan["request"] == expected["request"]


def test_client_errors_over_the_wire(server: Server) -> None:
    def problem(response: Any, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        return response.json()  # type: ignore[no-any-return]

    problem(server.get("/v1/plans/0123456789abcdef"), 404)
    assert problem(server.post("/v1/plans", json={}), 422)["errors"]
    broken = server.post("/v1/plans", data="{", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in problem(broken, 422)["errors"][0]["reason"]
    big = server.post(
        "/v1/plans", data=b" " * 1_000_001, headers={"Content-Type": "application/json"}
    )
    problem(big, 413)
    problem(server.post("/v1/plans", data="{}", headers={"Content-Type": "text/csv"}), 415)
    anonymous = server.session.headers.pop("Authorization")
    try:
        unauthorized = server.get("/v1/plans")
        problem(unauthorized, 401)
        assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = server.get("/v1/plans", headers={"Authorization": "Bearer nope"})
        problem(wrong, 401)
        assert server.get("/healthz").json() == {"status": "ok"}
        assert server.get("/openapi.json").json()["openapi"] == "3.1.0"
    finally:
        server.session.headers["Authorization"] = anonymous


def test_idempotency_key_same_job_in_flight_and_after(server: Server) -> None:
    key = {"Idempotency-Key": f"test-{time.time_ns()}"}
    first = submit(server, two_warehouse_request(), "?time_limit=20", **key)
    in_flight = server.post("/v1/plans?time_limit=20", json=two_warehouse_request(), headers=key)
    assert in_flight.status_code == 202 and in_flight.json()["id"] == first["id"]
    assert in_flight.headers["Idempotent-Replayed"] == "true"
    done = server.wait_job(first["id"], finished)
    assert done["status"] == "succeeded" and done["objective"] == pytest.approx(15)
    after = server.post("/v1/plans?time_limit=20", json=two_warehouse_request(), headers=key)
    assert after.json()["id"] == first["id"] and after.json()["status"] == "succeeded"
    other = server.post(
        "/v1/plans?time_limit=20", json=two_warehouse_request(name="x"), headers=key
    )
    assert other.status_code == 422


def test_progress_while_running_then_cancel_keeps_the_best_plan(server: Server) -> None:
    job = submit(server, HARD, "?time_limit=60")
    running = server.wait_job(
        job["id"], lambda j: bool(j["progress"] and j["progress"]["incumbent"]), timeout=60
    )
    assert running["status"] == "running" and running["finished_at"] is None
    progress = running["progress"]
    assert progress["elapsed_seconds"] > 0 and progress["bound"] <= progress["incumbent"]
    assert 0 <= progress["gap"] <= 1
    asked = time.monotonic()
    first = server.post(job["links"]["cancel"])
    assert first.status_code in (200, 202) and first.json()["cancel_requested"]
    again = server.post(job["links"]["cancel"])
    assert again.status_code in (200, 202) and again.json()["id"] == job["id"]
    done = server.wait_job(job["id"], finished, timeout=30)
    assert time.monotonic() - asked < 15
    assert done["status"] == "canceled" and done["result_available"]
    assert done["plan_status"] == "feasible"
    assert server.post(job["links"]["cancel"]).status_code == 200  # still idempotent
    plan = server.get(job["links"]["result"]).json()
    assert plan["status"] == "feasible" and plan["objective"] == pytest.approx(done["objective"])
    assert plan["solver"]["termination"] == "interrupted"
    assert plan["transfers"] or plan["orders"] or plan["allocations"]


def test_time_limit_ends_the_solve_with_its_best_plan(server: Server) -> None:
    # Unlimited, HiGHS needs well over 20 s to prove this request optimal on 2 cores.
    job = submit(server, HARD, "?time_limit=2")
    assert job["options"]["time_limit"] == 2
    done = server.wait_job(job["id"], finished, timeout=60)
    assert done["status"] == "succeeded" and done["plan_status"] in ("feasible", "optimal")
    seconds = _seconds(done["finished_at"]) - _seconds(done["started_at"])
    # 2 s of solving, the pipeline's guard grace (3 s), two process starts.
    assert seconds < 20, seconds
    plan = server.get(job["links"]["result"]).json()
    assert plan["solver"]["time_limit"] == 2 and plan["objective"] == done["objective"]


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_a_job_survives_a_server_kill_and_completes_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    store = JobStore(db)
    first = Server(db, "--workers", "1").start()
    try:
        job = submit(first, HARD, "?time_limit=6")
        first.wait_job(
            job["id"], lambda j: j["status"] == "running" and bool(j["progress"]), timeout=60
        )
        orphan = store.get(job["id"]).worker_pid  # type: ignore[union-attr]
        assert orphan is not None and pid_alive(orphan)
        first.kill()
    finally:
        first.stop()
    assert store.get(job["id"]).status == "running"  # type: ignore[union-attr]
    # The dead server's worker notices that its parent is gone and stops itself.
    deadline = time.monotonic() + 10
    while pid_alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(orphan), "the orphaned worker kept running"

    with Server(db, "--workers", "1") as second:
        done = second.wait_job(job["id"], finished, timeout=90)
        plan = second.get(job["links"]["result"]).json()
    assert done["status"] == "succeeded" and done["attempt"] == 2
    assert plan["status"] in ("optimal", "feasible") and plan["objective"] == done["objective"]
    events = [e["event"] for e in store.events(job["id"])]
    assert events == ["queued", "claimed", "requeued", "claimed", "completed"], events
    store.close()
