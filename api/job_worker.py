"""One plan job in its own process: ``python -m api.job_worker --db PATH --job ID --attempt N``.

Why a process per job: a solve that crashes, leaks or hangs takes only its own job down, and
the runner can always stop it from outside (it kills the worker's whole process group, so the
pipeline's guarded solver process goes with it).

The worker calls the same pipeline as the CLI (``plan_from_json``). A monitor thread does all
the database I/O every half second, so the solver's hooks stay cheap:

- it writes the latest solver progress to the job row (throttled);
- it reads the job's cancel flag; ``should_stop`` then tells the solver to stop, and the plan
  keeps the best solution found so far;
- it checks that the job is still this attempt's and that the server that started this
  worker still lives; otherwise the worker kills itself (and its solver) at once, without
  writing anything, because the job belongs to another attempt now or is about to.

Completion is one conditional update on (id, attempt, status running): a worker whose job was
re-queued meanwhile cannot complete it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from api.store import JobStore
from api.wire import dump_plan, finite
from planner.pipeline import plan_from_json
from planner.validation import RequestError
from solvers import Progress, SolveOptions

MONITOR_SECONDS = 0.5
PLAN_STATUSES_WITH_A_PLAN = ("optimal", "feasible")


def solve_options(options: dict[str, Any]) -> SolveOptions:
    return SolveOptions(
        time_limit=options.get("time_limit"),
        mip_gap=options.get("gap"),
        threads=options.get("threads"),
        seed=options.get("seed"),
    )


class Monitor:
    """The worker's link to its job row and to the server that started it."""

    def __init__(self, store: JobStore, job_id: str, attempt: int, interval: float):
        self.store = store
        self.job_id = job_id
        self.attempt = attempt
        self.interval = interval
        self.parent = os.getppid()
        self._latest: Progress | None = None
        self._written: Progress | None = None
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-monitor", daemon=True)

    # Solver hooks: memory only.
    def progress(self, report: Progress) -> None:
        self._latest = report

    def should_stop(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=10)
        self._tick(final=True)

    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                self._tick()
            except Exception:  # a busy database must not end the monitoring
                traceback.print_exc()

    def _tick(self, final: bool = False) -> None:
        if not final and os.getppid() != self.parent:
            abandon("the server that started this worker is gone")
        mine, cancel = self.store.watch(self.job_id, self.attempt)
        if not mine and not final:
            abandon("the job is no longer this attempt's")
        if cancel:
            self._cancel.set()
        latest = self._latest
        if latest is not None and latest is not self._written:
            self.store.record_progress(
                self.job_id,
                self.attempt,
                finite(
                    {
                        "elapsed_seconds": latest.seconds,
                        "incumbent": latest.incumbent,
                        "bound": latest.bound,
                        "gap": latest.gap,
                        "reported_at": time.time(),
                    }
                ),
            )
            self._written = latest


def abandon(why: str) -> None:
    """Stop now, writing nothing: kill this worker's process group (its solver too)."""
    print(f"job worker {os.getpid()}: {why}; stopping", file=sys.stderr, flush=True)
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(3)


def run_job(store: JobStore, job_id: str, attempt: int) -> int:
    row = store.claim_info(job_id)
    if row is None or row["status"] != "running" or row["attempt"] != attempt:
        print(f"job {job_id} attempt {attempt} is not running; nothing to do", file=sys.stderr)
        return 0
    options = json.loads(row["options"])
    monitor = Monitor(store, job_id, attempt, MONITOR_SECONDS)
    monitor.start()
    try:
        plan = plan_from_json(
            json.loads(row["request"]),
            solve_options(options),
            options.get("solver", "highs"),
            progress=monitor.progress,
            should_stop=monitor.should_stop,
        )
    except RequestError as exc:  # accepted by an older version of the rules
        monitor.stop()
        store.complete(job_id, attempt, "failed", error=f"invalid plan request: {exc}")
        return 0
    except Exception as exc:
        traceback.print_exc()
        monitor.stop()
        store.complete(
            job_id, attempt, "failed", error=f"planning failed: {type(exc).__name__}: {exc}"
        )
        return 1
    monitor.stop()
    has_plan = plan["status"] in PLAN_STATUSES_WITH_A_PLAN
    if monitor.cancel_requested():
        store.complete(
            job_id,
            attempt,
            "canceled",
            result=dump_plan(plan) if has_plan else None,
            plan_status=plan["status"] if has_plan else None,
            objective=plan["objective"] if has_plan else None,
            error=None if has_plan else "canceled before any plan was found",
            detail="kept the best plan found" if has_plan else "no plan found",
        )
    elif plan["status"] == "error":
        store.complete(job_id, attempt, "failed", plan_status="error", error=plan["message"])
    else:
        store.complete(
            job_id,
            attempt,
            "succeeded",
            result=dump_plan(plan),
            plan_status=plan["status"],
            objective=finite(plan["objective"]),
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.job_worker")
    parser.add_argument("--db", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--attempt", type=int, required=True)
    args = parser.parse_args(argv)
    return run_job(JobStore(args.db), args.job, args.attempt)


if __name__ == "__main__":
    raise SystemExit(main())
