"""The job runner: a thread in the server that starts, watches and stops job workers.

Why it is built this way:

- **Isolation.** Each claimed job runs in a fresh ``python -m api.job_worker`` process in its
  own session (process group). A worker that crashes marks only its own job failed; one that
  overruns its time limit plus a grace period is killed with its whole group (the pipeline's
  solver process included) and its job is marked failed with the reason.
- **Concurrency** is the number of workers alive at once (``workers``); jobs beyond it wait
  queued in the database, oldest first.
- **Restarts.** Running jobs are leased to this server (host, pid, token) and the lease is
  renewed every few seconds. On start, and periodically, a runner re-queues the running jobs
  whose server is provably dead (same host, process gone) or whose lease expired (another
  host). An orphaned worker of a dead server notices within half a second and kills itself;
  even if it did not, its completion would be refused by the store (wrong attempt).
- **Cancel.** A canceled running job is stopped by its worker (which keeps the best plan);
  a worker that ignores the request for ``cancel_grace`` seconds is killed.
- **Shutdown** kills the workers and hands their jobs back to the queue for the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from api.store import Claim, JobStore, Owner

log = logging.getLogger(__name__)

DEFAULT_WORKER_COMMAND = (sys.executable, "-m", "api.job_worker")


@dataclass(frozen=True)
class RunnerConfig:
    workers: int = 2
    grace_seconds: float = 120.0  # beyond the time limit: validation, build, extraction
    cancel_grace_seconds: float = 30.0
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 2.0
    max_attempts: int = 3
    poll_seconds: float = 0.2
    command: tuple[str, ...] = DEFAULT_WORKER_COMMAND


@dataclass
class _Worker:
    claim: Claim
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    started: float
    time_limit: float
    stop_reason: str | None = None
    killed_at: float | None = None
    cancel_seen: float | None = field(default=None)


class JobRunner:
    def __init__(self, store: JobStore, config: RunnerConfig | None = None):
        self.store = store
        self.config = config or RunnerConfig()
        self.owner = Owner.this_process()
        self._workers: dict[str, _Worker] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_heartbeat = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        for job_id in self.store.recover(self.owner, self.config.max_attempts):
            log.warning("job %s: its server stopped while it ran; recovered", job_id)
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A job was queued or canceled: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, kill the running workers and put their jobs back in the queue."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for worker in list(self._workers.values()):
            self._kill(worker)
            worker.process.wait(timeout=5)
            worker.output.close()
            self.store.release(
                self.owner, worker.claim.id, worker.claim.attempt, "server shut down"
            )
        self._workers.clear()
        self.store.close()

    @property
    def running(self) -> int:
        return len(self._workers)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # the runner must outlive any one bad tick (e.g. a locked db)
                log.exception("job runner tick failed")
            self._wake.wait(self.config.poll_seconds)
            self._wake.clear()
        self.store.close()  # this thread's connection

    # -- one round --------------------------------------------------------------------------

    def tick(self) -> None:
        now = time.monotonic()
        for worker in list(self._workers.values()):
            if worker.process.poll() is not None:
                self._reap(worker)
            else:
                self._enforce(worker, now)
        if now >= self._next_heartbeat:
            self.store.heartbeat(self.owner, self.config.lease_seconds)
            self.store.recover(self.owner, self.config.max_attempts)
            self._next_heartbeat = now + self.config.heartbeat_seconds
        while not self._stopping.is_set() and len(self._workers) < self.config.workers:
            claim = self.store.claim(self.owner, self.config.lease_seconds)
            if claim is None:
                break
            self._spawn(claim)

    def _spawn(self, claim: Claim) -> None:
        output = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the worker is reaped)
        command = [
            *self.config.command,
            *("--db", self.store.path, "--job", claim.id, "--attempt", str(claim.attempt)),
        ]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        except OSError as exc:
            output.close()
            self.store.complete(
                claim.id, claim.attempt, "failed", error=f"could not start a worker: {exc}"
            )
            return
        self.store.set_worker_pid(claim.id, claim.attempt, process.pid)
        self._workers[claim.id] = _Worker(
            claim=claim,
            process=process,
            output=output,
            started=time.monotonic(),
            time_limit=float(claim.options.get("time_limit") or 0.0),
        )
        log.info("job %s attempt %d: worker %d", claim.id, claim.attempt, process.pid)

    def _enforce(self, worker: _Worker, now: float) -> None:
        """Kill a worker past its time limit plus grace, or one that ignores a cancel."""
        if worker.stop_reason is not None:
            return
        limit = worker.time_limit + self.config.grace_seconds
        if now - worker.started > limit:
            worker.stop_reason = (
                f"killed after {now - worker.started:.0f} s: the job ran past its time limit "
                f"of {worker.time_limit:g} s plus a grace of {self.config.grace_seconds:g} s"
            )
            self._kill(worker)
            return
        if worker.cancel_seen is None:
            job = self.store.get(worker.claim.id)
            if job is not None and job.cancel_requested_at is not None:
                worker.cancel_seen = now
        elif now - worker.cancel_seen > self.config.cancel_grace_seconds:
            worker.stop_reason = (
                f"canceled: the worker did not stop within {self.config.cancel_grace_seconds:g}"
                " s of the cancel request and was killed; no plan was kept"
            )
            self._kill(worker)

    def _kill(self, worker: _Worker) -> None:
        worker.killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.process.pid, signal.SIGKILL)

    def _reap(self, worker: _Worker) -> None:
        """The worker exited: if it did not record an outcome itself, record why not."""
        del self._workers[worker.claim.id]
        self._kill(worker)  # anything its process group left behind (the solver process)
        code = worker.process.returncode
        tail = _tail(worker.output)
        worker.output.close()
        claim = worker.claim
        if worker.stop_reason is not None and worker.stop_reason.startswith("canceled"):
            status, error = "canceled", worker.stop_reason
        elif worker.stop_reason is not None:
            status, error = "failed", worker.stop_reason
        else:
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            status = "failed"
            error = f"the worker process ended ({how}) without recording a result"
            if tail:
                error += f"; its last output: {tail}"
        if self.store.complete(claim.id, claim.attempt, status, error=error):
            log.warning("job %s attempt %d: %s", claim.id, claim.attempt, error)
        self._wake.set()


def _tail(output: IO[bytes], limit: int = 600) -> str:
    try:
        output.seek(0, os.SEEK_END)
        size = output.tell()
        output.seek(max(0, size - limit))
        return output.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
