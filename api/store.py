"""Plan jobs kept in SQLite, so that a job outlives the process that accepted it.

Why SQLite (WAL): one file beside the service, readers (status polls) never wait for the
writers (workers recording progress), and every state change is one short transaction that
either happened or did not. The job row is the single source of truth; the runner and the
worker processes only ever change it with *conditional* updates:

- a worker claims a job by moving it ``queued -> running`` and bumping ``attempt``;
- everything a worker writes later (progress, completion) names ``(id, attempt)`` and holds
  only while the row is still ``running`` in that attempt. A job re-queued after its server
  died therefore can never be completed by the orphaned first attempt: completion happens
  exactly once, by whichever attempt still holds the row.

Every state change is logged in ``job_events`` (claimed, requeued, completed, ...), which is
also what the tests read to prove "exactly once".

The schema is created when missing and never dropped or rewritten; a file that is not a
database, or one written by a newer schema, is refused rather than touched.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    name TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    options TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempt INTEGER NOT NULL DEFAULT 0,
    cancel_requested_at REAL,
    lease_owner TEXT,
    lease_expires REAL,
    worker_pid INTEGER,
    progress TEXT,
    plan_status TEXT,
    objective REAL,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS job_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_by_job ON job_events (job_id, seq);
"""

# Columns a status poll needs: everything but the request and the plan, which can be large.
_JOB_COLUMNS = (
    "seq, id, status, name, options, idempotency_key, created_at, started_at, finished_at, "
    "attempt, cancel_requested_at, lease_owner, worker_pid, progress, plan_status, objective, "
    "error, result IS NOT NULL AS has_result"
)


class StoreError(RuntimeError):
    """The database cannot be used (not a database, newer schema): the service must not start."""


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        super().__init__(job_id)


class StateConflict(Exception):
    """The job is in a status where the requested change is impossible."""

    def __init__(self, job: Job, message: str):
        self.job = job
        super().__init__(message)


@dataclass(frozen=True)
class Job:
    seq: int
    id: str
    status: str
    name: str
    options: dict[str, Any]
    idempotency_key: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempt: int
    cancel_requested_at: float | None
    lease_owner: str | None
    worker_pid: int | None
    progress: dict[str, Any] | None
    plan_status: str | None
    objective: float | None
    error: str | None
    has_result: bool

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            seq=row["seq"],
            id=row["id"],
            status=row["status"],
            name=row["name"],
            options=json.loads(row["options"]),
            idempotency_key=row["idempotency_key"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            attempt=row["attempt"],
            cancel_requested_at=row["cancel_requested_at"],
            lease_owner=row["lease_owner"],
            worker_pid=row["worker_pid"],
            progress=json.loads(row["progress"]) if row["progress"] else None,
            plan_status=row["plan_status"],
            objective=row["objective"],
            error=row["error"],
            has_result=bool(row["has_result"]),
        )


@dataclass(frozen=True)
class Claim:
    """A job a runner took: the worker it starts is bound to this (id, attempt)."""

    id: str
    attempt: int
    options: dict[str, Any]


@dataclass(frozen=True)
class Owner:
    """Who holds a running job's lease: a server process, recognisable as dead on this host."""

    host: str
    pid: int
    token: str

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_is_dead(text: str | None, me: Owner) -> bool:
    """True when the lease holder is provably gone: a process of this host that no longer
    runs, or an earlier incarnation of this very pid (a restarted container)."""
    if text is None:
        return True
    owner = Owner.parse(text)
    if owner is None or owner.host != me.host:
        return False
    if owner.pid == me.pid:
        return owner.token != me.token
    return not _pid_alive(owner.pid)


class JobStore:
    """Jobs in one SQLite file; one connection per thread (sqlite3 objects are per-thread)."""

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = 10.0):
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()

    # -- connections and schema -------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open job database {self.path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot open job database {self.path}: {exc}") from exc
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def create_schema(self) -> None:
        """Create the tables when missing; refuse a file this code must not write to."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.transaction() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"job database {self.path} has schema version {version}; this server "
                        f"knows up to {SCHEMA_VERSION} (upgrade the service)"
                    )
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if version < SCHEMA_VERSION:
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use job database {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken up front (BEGIN IMMEDIATE) so that read-check-write
        sequences cannot interleave with another process's."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _event(
        conn: sqlite3.Connection, job_id: str, attempt: int, event: str, detail: str = ""
    ) -> None:
        conn.execute(
            "INSERT INTO job_events (job_id, attempt, event, detail, at) VALUES (?, ?, ?, ?, ?)",
            (job_id, attempt, event, detail, time.time()),
        )

    # -- what the HTTP layer does -----------------------------------------------------------

    def submit(
        self,
        request_json: str,
        fingerprint: str,
        options: dict[str, Any],
        name: str,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job; with a known idempotency key, return that job instead (created=False),
        or raise IdempotencyConflict when the key was used for another request."""
        with self.transaction() as conn:
            if idempotency_key is not None:
                row = conn.execute(
                    "SELECT id, fingerprint FROM jobs WHERE idempotency_key = ?",
                    (idempotency_key,),
                ).fetchone()
                if row is not None:
                    if row["fingerprint"] != fingerprint:
                        raise IdempotencyConflict(row["id"])
                    job = self._get(conn, row["id"])
                    assert job is not None
                    return job, False
            job_id = uuid.uuid4().hex
            conn.execute(
                "INSERT INTO jobs (id, status, name, request, fingerprint, options, "
                "idempotency_key, created_at) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    name,
                    request_json,
                    fingerprint,
                    json.dumps(options, sort_keys=True),
                    idempotency_key,
                    time.time(),
                ),
            )
            self._event(conn, job_id, 0, "queued")
            job = self._get(conn, job_id)
        assert job is not None
        return job, True

    def add_completed(
        self,
        request_json: str,
        fingerprint: str,
        options: dict[str, Any],
        name: str,
        *,
        started_at: float,
        result: str,
        plan_status: str,
        objective: float | None,
        detail: str = "",
    ) -> Job:
        """Record a plan solved outside the queue (a synchronous replan) as a succeeded job in
        its first attempt, so that it can be fetched and replanned like any other; one
        transaction inserts the row and its events (created, completed)."""
        with self.transaction() as conn:
            job_id = uuid.uuid4().hex
            conn.execute(
                "INSERT INTO jobs (id, status, name, request, fingerprint, options, created_at, "
                "started_at, finished_at, attempt, plan_status, objective, result) "
                "VALUES (?, 'succeeded', ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                (
                    job_id,
                    name,
                    request_json,
                    fingerprint,
                    json.dumps(options, sort_keys=True),
                    started_at,
                    started_at,
                    time.time(),
                    plan_status,
                    objective,
                    result,
                ),
            )
            self._event(conn, job_id, 1, "created", detail)
            self._event(conn, job_id, 1, "completed", detail)
            job = self._get(conn, job_id)
        assert job is not None
        return job

    @staticmethod
    def _get(conn: sqlite3.Connection, job_id: str) -> Job | None:
        row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job.from_row(row)

    def get(self, job_id: str) -> Job | None:
        return self._get(self.conn, job_id)

    def list_jobs(self, status: str | None, limit: int, before_seq: int | None) -> list[Job]:
        """Newest first; ``before_seq`` continues a page."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if before_seq is not None:
            where.append("seq < ?")
            args.append(before_seq)
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = self.conn.execute(sql, (*args, limit)).fetchall()
        return [Job.from_row(r) for r in rows]

    def result(self, job_id: str) -> str | None:
        row = self.conn.execute("SELECT result FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else row["result"]

    def request(self, job_id: str) -> str | None:
        row = self.conn.execute("SELECT request FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else row["request"]

    def cancel(self, job_id: str) -> Job | None:
        """Idempotent: a queued job is canceled at once, a running one is asked to stop (its
        worker keeps the best plan so far); a finished job cannot be canceled."""
        with self.transaction() as conn:
            job = self._get(conn, job_id)
            if job is None:
                return None
            now = time.time()
            if job.status == "queued":
                conn.execute(
                    "UPDATE jobs SET status = 'canceled', cancel_requested_at = ?, "
                    "finished_at = ? WHERE id = ?",
                    (now, now, job_id),
                )
                self._event(conn, job_id, job.attempt, "canceled", "while queued")
            elif job.status == "running" and job.cancel_requested_at is None:
                conn.execute("UPDATE jobs SET cancel_requested_at = ? WHERE id = ?", (now, job_id))
                self._event(conn, job_id, job.attempt, "cancel_requested")
            elif job.status in ("succeeded", "failed"):
                raise StateConflict(job, f"job already {job.status}; it can no longer be canceled")
            return self._get(conn, job_id)

    def events(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT attempt, event, detail, at FROM job_events WHERE job_id = ? ORDER BY seq",
            (job_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    # -- what the runner does ---------------------------------------------------------------

    def claim(self, owner: Owner, lease_seconds: float) -> Claim | None:
        """Take the oldest queued job: queued -> running, attempt + 1, leased to ``owner``."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id, attempt, options FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            attempt = row["attempt"] + 1
            conn.execute(
                "UPDATE jobs SET status = 'running', attempt = ?, started_at = ?, "
                "lease_owner = ?, lease_expires = ?, worker_pid = NULL, progress = NULL "
                "WHERE id = ? AND status = 'queued'",
                (attempt, now, str(owner), now + lease_seconds, row["id"]),
            )
            self._event(conn, row["id"], attempt, "claimed", str(owner))
            return Claim(row["id"], attempt, json.loads(row["options"]))

    def set_worker_pid(self, job_id: str, attempt: int, pid: int) -> None:
        self.conn.execute(
            "UPDATE jobs SET worker_pid = ? WHERE id = ? AND attempt = ? AND status = 'running'",
            (pid, job_id, attempt),
        )

    def heartbeat(self, owner: Owner, lease_seconds: float) -> None:
        self.conn.execute(
            "UPDATE jobs SET lease_expires = ? WHERE lease_owner = ? AND status = 'running'",
            (time.time() + lease_seconds, str(owner)),
        )

    def recover(
        self,
        me: Owner,
        max_attempts: int,
        is_dead: Callable[[str | None, Owner], bool] = owner_is_dead,
    ) -> list[str]:
        """Put back the running jobs whose server is gone (dead on this host, or its lease
        expired): re-queued, or canceled if a cancel was asked, or failed after too many
        attempts. Returns the ids touched."""
        touched = []
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT id, attempt, lease_owner, lease_expires, cancel_requested_at "
                "FROM jobs WHERE status = 'running'"
            ).fetchall()
            now = time.time()
            for row in rows:
                expired = row["lease_expires"] is None or row["lease_expires"] < now
                if str(me) == row["lease_owner"] or not (
                    expired or is_dead(row["lease_owner"], me)
                ):
                    continue
                job_id, attempt = row["id"], row["attempt"]
                why = f"server {row['lease_owner']} stopped while running attempt {attempt}"
                if row["cancel_requested_at"] is not None:
                    self._finish(conn, job_id, attempt, "canceled", error=why, event="canceled")
                elif attempt >= max_attempts:
                    self._finish(
                        conn,
                        job_id,
                        attempt,
                        "failed",
                        error=f"abandoned after {attempt} attempts: {why}",
                        event="failed",
                    )
                else:
                    conn.execute(
                        "UPDATE jobs SET status = 'queued', lease_owner = NULL, "
                        "lease_expires = NULL, worker_pid = NULL WHERE id = ? AND attempt = ? "
                        "AND status = 'running'",
                        (job_id, attempt),
                    )
                    self._event(conn, job_id, attempt, "requeued", why)
                touched.append(job_id)
        return touched

    def release(self, owner: Owner, job_id: str, attempt: int, why: str) -> bool:
        """Hand a running job back to the queue (graceful shutdown)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, "
                "worker_pid = NULL WHERE id = ? AND attempt = ? AND status = 'running' "
                "AND lease_owner = ?",
                (job_id, attempt, str(owner)),
            )
            if cur.rowcount:
                self._event(conn, job_id, attempt, "requeued", why)
            return cur.rowcount == 1

    # -- what a worker does -----------------------------------------------------------------

    def claim_info(self, job_id: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT status, attempt, request, options, cancel_requested_at FROM jobs WHERE id = ?",
            (job_id,),
        ).fetchone()

    def watch(self, job_id: str, attempt: int) -> tuple[bool, bool]:
        """(still ours, cancel requested) for a worker's attempt."""
        row = self.conn.execute(
            "SELECT status, attempt, cancel_requested_at FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None or row["status"] != "running" or row["attempt"] != attempt:
            return False, False
        return True, row["cancel_requested_at"] is not None

    def record_progress(self, job_id: str, attempt: int, progress: dict[str, Any]) -> None:
        self.conn.execute(
            "UPDATE jobs SET progress = ? WHERE id = ? AND attempt = ? AND status = 'running'",
            (json.dumps(progress), job_id, attempt),
        )

    def complete(
        self,
        job_id: str,
        attempt: int,
        status: str,
        *,
        result: str | None = None,
        plan_status: str | None = None,
        objective: float | None = None,
        error: str | None = None,
        detail: str = "",
    ) -> bool:
        """Record the outcome of ``attempt``: True if it was recorded, False when the attempt
        no longer holds the job (re-queued, canceled meanwhile, or completed already)."""
        assert status in FINAL_STATUSES
        with self.transaction() as conn:
            return self._finish(
                conn,
                job_id,
                attempt,
                status,
                result=result,
                plan_status=plan_status,
                objective=objective,
                error=error,
                event="completed" if status == "succeeded" else status,
                detail=detail,
            )

    def _finish(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        attempt: int,
        status: str,
        *,
        result: str | None = None,
        plan_status: str | None = None,
        objective: float | None = None,
        error: str | None = None,
        event: str,
        detail: str = "",
    ) -> bool:
        cur = conn.execute(
            "UPDATE jobs SET status = ?, result = ?, plan_status = ?, objective = ?, error = ?, "
            "finished_at = ?, lease_owner = NULL, lease_expires = NULL "
            "WHERE id = ? AND attempt = ? AND status = 'running'",
            (status, result, plan_status, objective, error, time.time(), job_id, attempt),
        )
        if cur.rowcount != 1:
            return False
        self._event(conn, job_id, attempt, event, detail or (error or ""))
        return True
