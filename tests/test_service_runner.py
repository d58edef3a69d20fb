"""The job runner without HTTP: a crashing worker fails only its own job, an overrunning one
is killed at its time limit plus grace, concurrency is bounded, and shutdown hands running
jobs back to the queue.

The worker command is a thin wrapper around the real ``api.job_worker`` that crashes or hangs
on purpose for jobs named so; every other job runs the real pipeline.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import two_warehouse_request

from api.runner import JobRunner, RunnerConfig
from api.store import Job, JobStore

MISBEHAVING_WORKER = """
import os, signal, sys, time
from api.store import JobStore
args = sys.argv[1:]
store = JobStore(args[args.index("--db") + 1])
name = store.get(args[args.index("--job") + 1]).name
if name == "crash":
    print("about to crash", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
if name == "hang":
    time.sleep(600)
from api.job_worker import main
sys.exit(main(args))
"""


def wait_for(
    what: Callable[[], Job | None], done: Callable[[Job], bool], timeout: float = 60
) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = what()
        if job is not None and done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"timed out; last seen: {what()}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    s = JobStore(tmp_path / "jobs.sqlite3")
    s.create_schema()
    yield s
    s.close()


def submit(store: JobStore, name: str, time_limit: float) -> str:
    options = {"time_limit": time_limit, "gap": None, "solver": "highs"}
    raw = two_warehouse_request(name=name)
    return store.submit(json.dumps(raw), name, options, name)[0].id


def test_crash_and_overrun_fail_only_their_own_jobs(store: JobStore) -> None:
    config = RunnerConfig(
        workers=3, grace_seconds=1.0, command=(sys.executable, "-c", MISBEHAVING_WORKER)
    )
    crash = submit(store, "crash", 30)
    hang = submit(store, "hang", 1)
    good = submit(store, "good", 30)
    runner = JobRunner(store, config)
    runner.start()
    try:
        finished = {
            job_id: wait_for(lambda j=job_id: store.get(j), lambda j: j.finished_at is not None)
            for job_id in (crash, hang, good)
        }
    finally:
        runner.stop()
    assert finished[crash].status == "failed"
    assert "signal 11" in str(finished[crash].error)
    assert "about to crash" in str(finished[crash].error)
    assert finished[hang].status == "failed"
    assert "time limit of 1 s plus a grace of 1 s" in str(finished[hang].error)
    hang_seconds = finished[hang].finished_at - finished[hang].started_at  # type: ignore[operator]
    assert 2 <= hang_seconds < 10
    assert finished[good].status == "succeeded" and finished[good].plan_status == "optimal"
    assert finished[good].objective == pytest.approx(15)
    plan = json.loads(store.result(good) or "{}")
    assert plan["status"] == "optimal" and plan["request"]["name"] == "good"
    for job_id in (crash, hang, good):
        events = [e["event"] for e in store.events(job_id)]
        assert sum(e in ("completed", "failed", "canceled") for e in events) == 1, events


def test_concurrency_is_bounded_and_shutdown_requeues(store: JobStore) -> None:
    config = RunnerConfig(workers=2, command=(sys.executable, "-c", MISBEHAVING_WORKER))
    ids = [submit(store, "hang", 60) for _ in range(3)]
    runner = JobRunner(store, config)
    runner.start()
    try:
        wait_for(lambda: store.get(ids[1]), lambda j: j.status == "running", timeout=10)
        time.sleep(0.5)
        assert [store.get(i).status for i in ids] == ["running", "running", "queued"]  # type: ignore[union-attr]
        assert runner.running == 2
    finally:
        runner.stop()
    jobs = [store.get(i) for i in ids]
    assert all(j is not None and j.status == "queued" for j in jobs)
    assert [e["event"] for e in store.events(ids[0])][-1] == "requeued"
