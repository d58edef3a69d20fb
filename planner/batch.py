"""`planner batch`: plan a folder (or manifest) of requests on local processes or a Dask cluster.

Nightly replanning runs hundreds of requests; one bad request must not cost the others, a
killed run must not start from scratch, and the same code must run on one laptop core or on
a cluster. Hence this shape:

- **One function plans one request.** :func:`plan_job` takes a job as JSON text (the request
  file's text, its name and the solve settings) and returns JSON text (the summary row and
  the plan dict). It calls :func:`planner.pipeline.plan_from_json`, the pipeline every entry
  point uses, and turns every failure into a row (``invalid`` for a
  :class:`~planner.validation.RequestError`, naming the fields; ``error`` for a crash), so a
  worker never raises for a request. Engines differ only in how they map it over the jobs:
  ``local`` uses a :class:`~concurrent.futures.ProcessPoolExecutor` (spawned processes, so it
  works the same from the console script, ``python -m`` or a test), ``dask`` a
  ``dask.distributed`` cluster (a :class:`~distributed.LocalCluster` of worker processes by
  default, or ``--scheduler ADDRESS`` for a running one). Only text crosses a process
  boundary: no Pyomo model or solver object is ever pickled.
- **The driver alone writes.** Plans go to ``DIR/plans/<name>.plan.json`` (written to a
  temporary file and renamed), failures' details to ``DIR/errors/<name>.json``, and then the
  request's row is committed to ``DIR/summary.sqlite3``. ``DIR/summary.csv`` is rewritten from
  the database at the end of every run (also an interrupted one), so both always agree. The
  folder mirrors the latest input: rows and files of requests no longer listed are removed.
- **Resumable.** A row records the sha256 of the request file's bytes and the settings that
  change a plan (solver, time limit, gap). A rerun skips a request whose row has the same hash
  and settings, a final status (anything but ``error``) and its plan file still in place; an
  edited request, new settings or an ``error`` row is planned again.
- **Exit codes.** 0 when the batch ran to its end, whatever the requests' outcomes: they are
  per-request results, recorded in the summary and counted on the last line (``--strict``
  makes any request without a plan exit 4). 2 for bad input to the command itself (a missing
  folder, an unreadable manifest, duplicate request names, an output folder in use). 1 when
  the engine failed. 130 when interrupted (rerun to resume).
- **Threads.** Each solve runs HiGHS with one thread unless ``--threads`` says otherwise:
  parallelism comes from the workers, and N workers x M solver threads on N cores would only
  contend.
- **Dask rather than Ray.** Measured on the same 200 generated requests on the 2-core machine
  (``bench/batch_speedup.py``): both plan at the same rate (49.3 s and 49.2 s on 2 workers),
  but a Dask LocalCluster is ready sooner (2.6-3.3 s against 4.4-5.4 s), peaks at about half
  the memory (580 MB against 1,100 MB with 2 workers: Ray adds its GCS, raylet and object
  store) and installs in 44 MB of pure-Python wheels against Ray's 259 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import socket
import sqlite3
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

EXIT_OK, EXIT_ENGINE_FAILED, EXIT_BAD_INPUT, EXIT_NOT_ALL_PLANNED = 0, 1, 2, 4
EXIT_INTERRUPTED = 130

ENGINES = ("local", "dask")
STATUSES = ("optimal", "feasible", "infeasible", "time_limit_no_solution", "error", "invalid")
PLANNED = frozenset({"optimal", "feasible"})
# A row with one of these statuses is final for its request content and settings; ``error``
# (a crash, a dead worker, a solver failure) may be transient and is retried on a rerun.
FINAL = frozenset(STATUSES) - {"error"}

SUMMARY_COLUMNS = (
    "name",
    "path",
    "status",
    "objective",
    "best_bound",
    "gap",
    "solve_seconds",
    "total_seconds",
    "fill_rate",
    "message",
    "plan_file",
    "request_sha256",
    "settings",
    "worker",
    "finished_at",
)
_REAL_COLUMNS = frozenset(
    {"objective", "best_bound", "gap", "solve_seconds", "total_seconds", "fill_rate"}
)


class BatchInputError(ValueError):
    """The command's own input is wrong (exit 2): nothing was planned."""


# ---------------------------------------------------------------------------------------------
# Settings and the one function that plans one request


@dataclasses.dataclass(frozen=True)
class BatchSettings:
    """What every request of the batch is solved with."""

    solver: str = "highs"
    time_limit: float | None = None
    mip_gap: float | None = None
    threads: int | None = 1

    def key(self) -> str:
        """The settings that change a plan, as canonical JSON: part of the resume key."""
        return json.dumps(
            {"solver": self.solver, "time_limit": self.time_limit, "mip_gap": self.mip_gap},
            sort_keys=True,
        )


def plan_request_text(
    name: str, path: str, text: str, settings: BatchSettings
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """Plan one request given as JSON text -> (summary row, plan dict or None, failure detail).

    Never raises for the request's sake: an invalid request gives status ``invalid`` with
    every field problem in the message, any other exception status ``error``.
    """
    from planner.pipeline import plan_from_json
    from planner.validation import RequestError, parse_json
    from solvers import SolveOptions

    started = time.perf_counter()
    sha = sha256_text(text)
    options = SolveOptions(
        time_limit=settings.time_limit, mip_gap=settings.mip_gap, threads=settings.threads
    )
    try:
        plan = plan_from_json(parse_json(text), options, solver=settings.solver)
    except RequestError as exc:
        errors = [e.as_dict() for e in exc.errors]
        row = failure_row(name, path, sha, settings, "invalid", str(exc), started)
        return row, None, {"status": "invalid", "message": str(exc), "errors": errors}
    except Exception as exc:  # a crash is this request's outcome, not the batch's
        message = f"{type(exc).__name__}: {exc}"
        row = failure_row(name, path, sha, settings, "error", message, started)
        detail = {"status": "error", "message": message, "traceback": traceback.format_exc()}
        return row, None, detail
    return plan_row(name, path, sha, settings, plan, started), plan, None


def make_job(name: str, path: str, text: str, settings: BatchSettings) -> str:
    """The JSON text a worker receives for one request (see :func:`plan_job`)."""
    return json.dumps(
        {"name": name, "path": path, "text": text, "settings": dataclasses.asdict(settings)}
    )


def plan_job(job: str) -> str:
    """The unit of work every engine maps: a job as JSON text in, a result as JSON text out.

    job: ``{"name", "path", "text", "settings"}`` where ``text`` is the request file's text;
    result: ``{"row", "plan", "detail"}``.
    """
    spec = json.loads(job)
    settings = BatchSettings(**spec["settings"])
    row, plan, detail = plan_request_text(spec["name"], spec["path"], spec["text"], settings)
    return json.dumps({"row": row, "plan": plan, "detail": detail})


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _worker() -> str:
    """Which process planned a request (host:pid): where to look when one misbehaves."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def plan_row(
    name: str,
    path: str,
    sha: str | None,
    settings: BatchSettings,
    plan: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    kpis = plan.get("kpis") or {}
    return {
        "name": name,
        "path": path,
        "status": plan["status"],
        "objective": plan.get("objective"),
        "best_bound": plan.get("best_bound"),
        "gap": plan.get("gap"),
        "solve_seconds": (plan.get("timings") or {}).get("solve_seconds"),
        "total_seconds": round(time.perf_counter() - started, 6),
        "fill_rate": kpis.get("expected_fill_rate"),
        "message": plan.get("message", ""),
        "plan_file": f"plans/{name}.plan.json",
        "request_sha256": sha,
        "settings": settings.key(),
        "worker": _worker(),
        "finished_at": _now(),
    }


def failure_row(
    name: str,
    path: str,
    sha: str | None,
    settings: BatchSettings,
    status: str,
    message: str,
    started: float | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "status": status,
        "objective": None,
        "best_bound": None,
        "gap": None,
        "solve_seconds": None,
        "total_seconds": None if started is None else round(time.perf_counter() - started, 6),
        "fill_rate": None,
        "message": message,
        "plan_file": "",
        "request_sha256": sha,
        "settings": settings.key(),
        "worker": "" if started is None else _worker(),
        "finished_at": _now(),
    }


# ---------------------------------------------------------------------------------------------
# Finding the requests


@dataclasses.dataclass(frozen=True)
class RequestRef:
    name: str
    path: Path


def discover(source: str | Path) -> list[RequestRef]:
    """The requests of a batch: every ``*.json`` file of a folder (sorted, not recursive), or
    the files a manifest lists (JSON: a list of paths or ``{"requests": [...]}``; CSV: a
    ``path`` column, else the first column), relative to the manifest's folder.

    Names are file stems and must be unique (ignoring case: they name the plan files).
    """
    source = Path(source)
    if source.is_dir():
        paths = sorted(
            p
            for p in source.iterdir()
            if p.is_file() and p.suffix.lower() == ".json" and not p.name.startswith(".")
        )
        if not paths:
            raise BatchInputError(f"no request files (*.json) in folder {source}")
    elif source.is_file():
        paths = [
            entry if entry.is_absolute() else source.parent / entry
            for entry in _manifest_entries(source)
        ]
        if not paths:
            raise BatchInputError(f"manifest {source} lists no requests")
    else:
        raise BatchInputError(f"{source}: no such folder or manifest")
    refs = [RequestRef(name=p.stem, path=p) for p in paths]
    _reject_duplicates(refs)
    return refs


def _manifest_entries(manifest: Path) -> list[Path]:
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"cannot read manifest {manifest}: {exc}") from exc
    if manifest.suffix.lower() == ".csv":
        return _csv_entries(manifest, text)
    if manifest.suffix.lower() != ".json":
        raise BatchInputError(f"manifest {manifest} must be a .json or .csv file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BatchInputError(f"manifest {manifest} is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("requests")
    if not isinstance(data, list) or not all(isinstance(x, str) and x.strip() for x in data):
        raise BatchInputError(
            f"manifest {manifest} must be a JSON list of request paths, or an object whose "
            '"requests" is one'
        )
    return [Path(x.strip()) for x in data]


def _csv_entries(manifest: Path, text: str) -> list[Path]:
    rows = [
        row
        for row in csv.reader(text.splitlines())
        if row and row[0].strip() and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = 0
    if "path" in header:
        column, rows = header.index("path"), rows[1:]
    entries = []
    for line, row in enumerate(rows, start=2 if "path" in header else 1):
        if column >= len(row) or not row[column].strip():
            raise BatchInputError(f"manifest {manifest}: row {line} has no path")
        entries.append(Path(row[column].strip()))
    return entries


def _reject_duplicates(refs: list[RequestRef]) -> None:
    by_name: dict[str, list[RequestRef]] = {}
    for ref in refs:
        by_name.setdefault(ref.name.casefold(), []).append(ref)
    clashes = [group for group in by_name.values() if len(group) > 1]
    if clashes:
        listed = "; ".join(
            f"{group[0].name!r} from " + ", ".join(str(r.path) for r in group) for group in clashes
        )
        raise BatchInputError(
            "duplicate request names (a request is named by its file name without .json, "
            f"which names its plan file): {listed}"
        )


# ---------------------------------------------------------------------------------------------
# Engines: map plan_job over (name, job) pairs, results in completion order


class Engine(Protocol):
    def map(self, jobs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str | BaseException]]:
        """Yield (name, result JSON) per job, or (name, exception) when the engine lost it."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """A pool of spawned worker processes on this machine.

    At most two jobs per worker are in flight, so the driver reads request files as the
    workers need them. If a worker process dies (a segfault, the OOM killer), the pool breaks
    and every job in flight fails with it; those jobs go on once more, each alone in a fresh
    one-process pool, so only the request that kills its worker is recorded as ``error``.
    """

    def __init__(self, workers: int, task: Callable[[str], str] = plan_job) -> None:
        self.workers, self.task = workers, task
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        import multiprocessing

        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, jobs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str | BaseException]]:
        source = iter(jobs)
        pending: dict[Future[str], tuple[str, str]] = {}
        suspects: list[tuple[str, str]] = []
        self._pool = self._new_pool(self.workers)

        def fill() -> None:
            assert self._pool is not None
            while len(pending) < 2 * self.workers:
                item = next(source, None)
                if item is None:
                    return
                pending[self._pool.submit(self.task, item[1])] = item

        fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                name, job = pending.pop(future)
                try:
                    yield name, future.result()
                except BrokenProcessPool:
                    suspects.append((name, job))
                    broken = True
                except Exception as exc:
                    yield name, exc
            if broken:  # every other job in flight is lost with the pool
                suspects.extend(pending.values())
                pending.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool(self.workers)
            fill()
        for name, job in suspects:
            yield name, self._alone(job)

    def _alone(self, job: str) -> str | BaseException:
        with self._new_pool(1) as pool:
            try:
                return pool.submit(self.task, job).result()
            except BrokenProcessPool:
                return RuntimeError("the worker process died while planning this request")
            except Exception as exc:
                return exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskEngine:
    """``dask.distributed``: a LocalCluster of ``workers`` single-threaded worker processes,
    or the running cluster whose scheduler is at ``scheduler``.

    The scheduler reschedules a job whose worker died (up to its ``allowed-failures``), then
    reports it as lost; that job is recorded as ``error``.
    """

    def __init__(
        self, workers: int, scheduler: str | None = None, task: Callable[[str], str] = plan_job
    ) -> None:
        import logging

        from distributed import Client, LocalCluster

        self.workers, self.task = workers, task
        self._cluster = None
        if scheduler:
            self._client = Client(scheduler)
        else:
            # Loopback only; the scheduler's HTTP server on a free port (with no address it
            # takes 8787 and warns when another cluster holds it).
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster)

    def map(self, jobs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str | BaseException]]:
        from distributed import as_completed

        source = iter(jobs)
        names: dict[str, str] = {}
        window = 2 * max(self.workers, len(self._client.scheduler_info()["workers"]))
        queue = as_completed()

        def submit() -> bool:
            item = next(source, None)
            if item is None:
                return False
            future = self._client.submit(self.task, item[1], pure=False)
            names[future.key] = item[0]
            queue.add(future)
            return True

        for _ in range(window):
            if not submit():
                break
        for future in queue:
            name = names.pop(future.key)
            try:
                yield name, future.result()
            except Exception as exc:
                yield name, exc
            future.release()
            submit()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_engine(engine: str, workers: int, scheduler: str | None = None) -> Engine:
    if engine == "local":
        return LocalEngine(workers)
    if engine == "dask":
        return DaskEngine(workers, scheduler)
    raise BatchInputError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


# ---------------------------------------------------------------------------------------------
# The summary store


class SummaryStore:
    """``DIR/summary.sqlite3``: table ``summary``, one row per request of the latest run, in
    input order (``position``). The batch's durable record: the resume check reads it."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        # One commit per request: in WAL mode without a sync per commit it costs microseconds
        # instead of ~20 ms. A crash may lose the last rows (they are planned again), never
        # the database.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        cols = ", ".join(
            f"{c} REAL" if c in _REAL_COLUMNS else f"{c} TEXT"
            for c in SUMMARY_COLUMNS
            if c != "name"
        )
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS summary (name TEXT PRIMARY KEY, position INTEGER, {cols})"
        )
        self.db.commit()

    def rows(self) -> dict[str, dict[str, Any]]:
        cursor = self.db.execute(f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM summary")
        return {r[0]: dict(zip(SUMMARY_COLUMNS, r, strict=True)) for r in cursor}

    def put(self, row: dict[str, Any], position: int) -> None:
        cols = ("position", *SUMMARY_COLUMNS)
        self.db.execute(
            f"INSERT OR REPLACE INTO summary ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})",
            [position, *(row[c] for c in SUMMARY_COLUMNS)],
        )
        self.db.commit()

    def keep_only(self, positions: dict[str, int]) -> set[str]:
        """Drop the rows of requests no longer in the input (returning their names); renumber
        the rest."""
        dropped = set(self.rows()) - set(positions)
        for name in dropped:
            self.db.execute("DELETE FROM summary WHERE name = ?", (name,))
        self.db.executemany(
            "UPDATE summary SET position = ? WHERE name = ?",
            [(pos, name) for name, pos in positions.items()],
        )
        self.db.commit()
        return dropped

    def write_csv(self, path: Path) -> None:
        cursor = self.db.execute(
            f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM summary ORDER BY position"
        )
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(SUMMARY_COLUMNS)
            for row in cursor:
                writer.writerow(["" if v is None else v for v in row])
        os.replace(tmp, path)

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------------------------------------
# The batch


@dataclasses.dataclass
class BatchReport:
    total: int
    skipped: int
    statuses: Counter[str]
    seconds: float
    ran: int = 0  # requests recorded by this run
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in PLANNED)

    def line(self, out: Path) -> str:
        counts = ", ".join(f"{s} {self.statuses[s]}" for s in STATUSES if self.statuses[s])
        verb = "interrupted after" if self.interrupted else "done in"
        return (
            f"batch {verb} {self.seconds:.1f} s: {self.total} requests, "
            f"{self.ran} run now, {self.skipped} already done; "
            f"{counts or 'nothing run'}; summary in {out / 'summary.csv'} and "
            f"{out / 'summary.sqlite3'}"
        )


def _read_text(path: Path) -> str:
    """Read a request file; raises OSError or UnicodeDecodeError."""
    return path.read_bytes().decode("utf-8")


def _file_sha(path: Path) -> str | None:
    try:
        return sha256_text(_read_text(path))
    except (OSError, UnicodeDecodeError):
        return None


def _is_done(row: dict[str, Any] | None, sha: str | None, settings: str, out: Path) -> bool:
    return (
        row is not None
        and sha is not None
        and row["request_sha256"] == sha
        and row["settings"] == settings
        and row["status"] in FINAL
        and (not row["plan_file"] or (out / row["plan_file"]).is_file())
    )


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class _Progress:
    """tqdm on stderr: done/total and failures so far."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                desc="planning",
                unit="req",
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 10.0,
            )

    def step(self, failed: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix(failed=failed, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    lock = (out / ".batch.lock").open("w")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchInputError(f"another batch is writing to {out}") from None
        yield
    finally:
        lock.close()


def run_batch(
    source: str | Path,
    out: str | Path,
    engine: str = "local",
    workers: int | None = None,
    settings: BatchSettings | None = None,
    progress: bool = True,
    scheduler: str | None = None,
) -> BatchReport:
    """Plan every request of ``source`` (folder or manifest) into ``out``; see the module doc.

    Raises :class:`BatchInputError` for bad input to the batch itself.
    """
    settings = settings or BatchSettings()
    workers = workers or os.cpu_count() or 1
    refs = discover(source)
    out = Path(out)
    try:
        (out / "plans").mkdir(parents=True, exist_ok=True)
        (out / "errors").mkdir(exist_ok=True)
    except OSError as exc:
        raise BatchInputError(f"cannot create output folder {out}: {exc}") from exc

    with _exclusive(out):
        store = SummaryStore(out / "summary.sqlite3")
        try:
            return _run(refs, out, store, engine, workers, settings, progress, scheduler)
        finally:
            store.write_csv(out / "summary.csv")
            store.close()


def _run(
    refs: list[RequestRef],
    out: Path,
    store: SummaryStore,
    engine_name: str,
    workers: int,
    settings: BatchSettings,
    progress: bool,
    scheduler: str | None,
) -> BatchReport:
    started = time.perf_counter()
    positions = {ref.name: i for i, ref in enumerate(refs)}
    for name in store.keep_only(positions):  # the output folder mirrors the latest input
        (out / "plans" / f"{name}.plan.json").unlink(missing_ok=True)
        (out / "errors" / f"{name}.json").unlink(missing_ok=True)
    previous = store.rows()
    key = settings.key()
    todo = [
        ref for ref in refs if not _is_done(previous.get(ref.name), _file_sha(ref.path), key, out)
    ]
    by_name = {ref.name: ref for ref in todo}
    statuses: Counter[str] = Counter(
        row["status"] for name, row in previous.items() if name not in by_name
    )
    report = BatchReport(len(refs), len(refs) - len(todo), statuses, 0.0)
    bar = _Progress(len(refs), report.skipped, progress)

    def record(ref: RequestRef, row: dict[str, Any], plan: Any, detail: Any) -> None:
        plan_path = out / "plans" / f"{ref.name}.plan.json"
        error_path = out / "errors" / f"{ref.name}.json"
        if plan is not None:
            _write_json(plan_path, plan)
            error_path.unlink(missing_ok=True)
        else:
            _write_json(error_path, detail)
            plan_path.unlink(missing_ok=True)
        store.put(row, positions[ref.name])
        statuses[row["status"]] += 1
        report.ran += 1
        bar.step(report.failed)

    def jobs() -> Iterator[tuple[str, str]]:
        for ref in todo:
            try:
                text = _read_text(ref.path)
            except (OSError, UnicodeDecodeError) as exc:
                reason = (
                    f"cannot read {ref.path}: {exc.strerror or exc}"
                    if isinstance(exc, OSError)
                    else f"{ref.path} is not UTF-8 text: {exc}"
                )
                message = f"$: {reason}"
                row = failure_row(ref.name, str(ref.path), None, settings, "invalid", message)
                errors = [{"path": "$", "reason": reason}]
                record(ref, row, None, {"status": "invalid", "message": message, "errors": errors})
                continue
            yield ref.name, make_job(ref.name, str(ref.path), text, settings)

    engine: Engine | None = None
    try:
        if todo:
            engine = make_engine(engine_name, workers, scheduler)
            for name, result in engine.map(jobs()):
                ref = by_name[name]
                if isinstance(result, BaseException):
                    message = f"{type(result).__name__}: {result}"
                    sha = _file_sha(ref.path)
                    row = failure_row(name, str(ref.path), sha, settings, "error", message)
                    record(ref, row, None, {"status": "error", "message": message})
                    continue
                data = json.loads(result)
                record(ref, data["row"], data["plan"], data["detail"])
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if engine is not None:
            engine.close()
        bar.close()
        report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------------------------------------
# Command line


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def register(subparsers: Any) -> None:
    """Add ``planner batch`` to the CLI (called by :mod:`planner.cli`)."""
    from planner.cli import _fraction, _positive
    from solvers import BACKENDS

    p = subparsers.add_parser(
        "batch",
        help="plan a folder or manifest of requests; resumable, with a summary table",
        description=(
            "Plan every request of INPUT (a folder of *.json request files, or a .json/.csv "
            "manifest listing request paths relative to itself) into DIR/plans/<name>.plan.json, "
            "with one row per request in DIR/summary.csv and DIR/summary.sqlite3. A rerun skips "
            "requests already done with the same file content and settings. Exit 0 when the "
            "batch ran (per-request failures are in the summary), 2 for bad input to the "
            "command, 4 with --strict when a request got no plan, 1 when the engine failed, "
            "130 when interrupted (rerun to resume)."
        ),
    )
    p.add_argument(
        "input", metavar="INPUT", help="folder of request JSON files, or a .json/.csv manifest"
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--engine", choices=ENGINES, default="local")
    p.add_argument(
        "--workers", type=_workers, default=None, help="worker processes (default: cores)"
    )
    p.add_argument("--scheduler", default=None, help="dask: address of a running scheduler to use")
    p.add_argument("--time-limit", type=_positive, default=None, help="seconds per request")
    p.add_argument("--gap", type=_fraction, default=None, help="relative MIP gap, e.g. 0.001")
    p.add_argument(
        "--threads", type=_workers, default=1, help="solver threads per request (default 1)"
    )
    p.add_argument("--solver", choices=sorted(BACKENDS), default="highs")
    p.add_argument("--strict", action="store_true", help="exit 4 when any request got no plan")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.scheduler and args.engine != "dask":
        print("planner batch: --scheduler needs --engine dask", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = BatchSettings(
        solver=args.solver, time_limit=args.time_limit, mip_gap=args.gap, threads=args.threads
    )
    out = Path(args.out)
    try:
        report = run_batch(
            args.input,
            out,
            engine=args.engine,
            workers=args.workers,
            settings=settings,
            progress=not args.no_progress,
            scheduler=args.scheduler,
        )
    except BatchInputError as exc:
        print(f"planner batch: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # the engine itself (not a request) failed
        print(
            f"planner batch: engine {args.engine} failed: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_ENGINE_FAILED
    print(report.line(out))
    if report.interrupted:
        return EXIT_INTERRUPTED
    if args.strict and report.failed:
        return EXIT_NOT_ALL_PLANNED
    return EXIT_OK
