"""What the routes do, without HTTP: submit, look up, cancel, fetch, list, solve now.

Routes parse the request and render the answer; this class holds the rules in between
(server caps on time limits, idempotency fingerprints, which job status has a plan) and is
the only code that touches the store and the runner.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from api.errors import ApiError, not_found
from api.runner import JobRunner
from api.store import Job as StoredJob
from api.store import JobStore
from api.wire import (
    Job,
    JobLinks,
    JobList,
    ListParams,
    Progress,
    SolveParams,
    dump_plan,
    timestamp,
)
from planner.pipeline import plan_from_json
from planner.replan import apply_state, replan, validate_state
from planner.schema import PlanRequest
from planner.validation import FieldError, RequestError, validate_request
from solvers import SolveOptions


@dataclass(frozen=True)
class ReplanBase:
    """A finished job's request and plan: what a live state is applied to."""

    job: StoredJob
    request: PlanRequest
    plan: dict[str, Any]


@dataclass(frozen=True)
class Limits:
    sync_time_cap: float = 60.0
    job_default_time_limit: float = 300.0
    job_time_cap: float = 3600.0


class PlanService:
    def __init__(self, store: JobStore, runner: JobRunner, limits: Limits):
        self.store = store
        self.runner = runner
        self.limits = limits
        # Pyomo is not thread-safe: synchronous solves (model building in this process) take
        # turns. Jobs are unaffected: each runs in its own worker process.
        self._sync_lock = threading.Lock()

    def submit(self, raw: Any, params: SolveParams, key: str | None) -> tuple[StoredJob, bool]:
        request = validate_request(raw)
        limit = params.time_limit or self.limits.job_default_time_limit
        options = params.model_copy(update={"time_limit": min(limit, self.limits.job_time_cap)})
        try:
            body = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except RecursionError:  # deep junk where the schema ignores extra keys
            raise RequestError([FieldError("$", "nested too deeply")]) from None
        asked = json.dumps(params.model_dump(mode="json"), sort_keys=True)
        fingerprint = hashlib.sha256(f"{body}\n{asked}".encode()).hexdigest()
        job, created = self.store.submit(
            body, fingerprint, options.model_dump(mode="json"), request.name, key
        )
        if created:
            self.runner.wake()
        return job, created

    def job(self, job_id: str) -> StoredJob:
        job = self.store.get(job_id)
        if job is None:
            raise not_found(job_id)
        return job

    def cancel(self, job_id: str) -> StoredJob:
        job = self.store.cancel(job_id)
        if job is None:
            raise not_found(job_id)
        self.runner.wake()
        return job

    def result(self, job_id: str) -> str:
        job = self.job(job_id)
        text = self.store.result(job_id) if job.has_result else None
        if text is None:
            raise ApiError(
                409, "Conflict", _why_no_plan(job, links(job_id).self), job_status=job.status
            )
        return text

    def list_jobs(self, params: ListParams) -> JobList:
        before = int(params.page_token) if params.page_token else None
        jobs = self.store.list_jobs(params.status, params.limit + 1, before)
        more = len(jobs) > params.limit
        jobs = jobs[: params.limit]
        return JobList(
            items=[render(j) for j in jobs],
            next_page_token=str(jobs[-1].seq) if more else None,
        )

    def _sync_options(self, params: SolveParams) -> SolveOptions:
        cap = self.limits.sync_time_cap
        return SolveOptions(
            time_limit=min(params.time_limit or cap, cap),
            mip_gap=params.gap,
            threads=params.threads,
            seed=params.seed,
        )

    def _take_sync_turn(self) -> None:
        if not self._sync_lock.acquire(timeout=self.limits.sync_time_cap):
            raise ApiError(
                503,
                "Service Unavailable",
                "another synchronous solve is running; retry, or submit a job (POST /v1/plans)",
                headers={"Retry-After": "5"},
            )

    def solve_now(self, raw: Any, params: SolveParams) -> dict[str, Any]:
        options = self._sync_options(params)
        validate_request(raw)  # a bad request is a 422 without waiting for the lock
        self._take_sync_turn()
        try:
            return plan_from_json(raw, options, params.solver)
        finally:
            self._sync_lock.release()

    def replan_base(self, job_id: str) -> ReplanBase:
        """The job's request and plan: 404 for an unknown job, 409 while it has no plan."""
        job = self.job(job_id)
        text = self.result(job_id)
        try:
            request = validate_request(json.loads(self.store.request(job_id) or "null"))
        except RequestError as exc:  # stored under older rules
            raise ApiError(
                409,
                "Conflict",
                f"the job's request is no longer valid, it cannot be replanned: {exc}",
                job_status=job.status,
            ) from None
        return ReplanBase(job, request, json.loads(text))

    def replan(self, base: ReplanBase, raw: Any, params: SolveParams) -> tuple[StoredJob, str]:
        """Apply a live state to a job's plan and solve the rest of its horizon now, warm from
        that plan; the new plan is stored as a new succeeded job (replannable in turn)."""
        state = validate_state(raw, base.request, base.plan)  # 422 before waiting for the lock
        options = self._sync_options(params)
        rebased = apply_state(base.request, base.plan, state)
        body = json.dumps(
            rebased.model_dump(mode="json", by_alias=True), sort_keys=True, ensure_ascii=False
        )
        self._take_sync_turn()
        try:
            started = time.time()
            plan = replan(base.request, base.plan, state, options, params.solver, rebased=rebased)
        finally:
            self._sync_lock.release()
        text = dump_plan(plan)
        stored = params.model_copy(update={"time_limit": options.time_limit})
        asked = json.dumps(stored.model_dump(mode="json"), sort_keys=True)
        job = self.store.add_completed(
            body,
            hashlib.sha256(f"{body}\n{asked}".encode()).hexdigest(),
            stored.model_dump(mode="json"),
            rebased.name,
            started_at=started,
            result=text,
            plan_status=plan["status"],
            objective=plan["objective"],
            detail=f"replan of job {base.job.id} from its day {state.as_of_day}",
        )
        return job, text


def links(job_id: str) -> JobLinks:
    base = f"/v1/plans/{job_id}"
    return JobLinks(self=base, result=f"{base}/result", cancel=f"{base}/cancel")


def render(job: StoredJob) -> Job:
    progress = None
    if job.progress is not None:
        progress = Progress(
            elapsed_seconds=job.progress.get("elapsed_seconds") or 0.0,
            incumbent=job.progress.get("incumbent"),
            bound=job.progress.get("bound"),
            gap=job.progress.get("gap"),
            reported_at=timestamp(job.progress.get("reported_at")) or timestamp(job.created_at),
        )
    return Job(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        name=job.name,
        created_at=timestamp(job.created_at),  # type: ignore[arg-type]
        started_at=timestamp(job.started_at),
        finished_at=timestamp(job.finished_at),
        options=SolveParams.model_validate(
            {k: v for k, v in job.options.items() if k in SolveParams.model_fields}
        ),
        attempt=job.attempt,
        cancel_requested=job.cancel_requested_at is not None,
        progress=progress,
        plan_status=job.plan_status,  # type: ignore[arg-type]
        objective=job.objective,
        error=job.error,
        result_available=job.has_result,
        links=links(job.id),
    )


def _why_no_plan(job: StoredJob, poll: str) -> str:
    if job.status in ("queued", "running"):
        return f"job is {job.status}; it has no plan yet: poll {poll} until it has finished"
    if job.status == "canceled":
        return "job was canceled before any plan was found"
    return f"job {job.status} without a plan: {job.error or 'no reason recorded'}"
