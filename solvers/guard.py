"""Time limits that hold: run a backend in a worker process and stop it from outside.

Solvers overrun their own time limits (presolve, a long LP, a stuck heuristic). The guard
runs the backend in a fresh worker process (``python -m solvers.worker``), relays its
progress and every improved incumbent to the caller, asks it to stop (SIGTERM: the backend
interrupts and returns its best solution) when the caller's ``should_stop`` says so, and
kills it at ``time_limit + grace`` seconds. The caller then gets the best incumbent relayed
so far (termination ``time_limit``), or no solution.

Only plain data crosses the process boundary, pickled: the matrix's arrays, options, progress
figures and solution vectors; never a Pyomo model or a solver object.
"""

from __future__ import annotations

import dataclasses
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

import numpy as np

from solvers.base import (
    ModelSize,
    Progress,
    SolutionKind,
    SolveControl,
    SolveOptions,
    SolveResult,
    Termination,
)
from solvers.matrix import MatrixModel

DEFAULT_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.05


def write_frame(stream: IO[bytes], kind: str, payload: Any) -> None:
    data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def read_frames(stream: IO[bytes], sink: queue.Queue) -> None:
    """Reader thread: frames from the worker into a queue; ('eof', None) when it closes."""
    while True:
        header = stream.read(8)
        if len(header) < 8:
            break
        data = stream.read(int.from_bytes(header, "little"))
        sink.put(pickle.loads(data))
    sink.put(("eof", None))


def solve_guarded(
    backend: str,
    model: MatrixModel,
    options: SolveOptions,
    control: SolveControl | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
    kill_after: float | None = None,
) -> SolveResult:
    """Solve in a worker process that is stopped at ``time_limit + grace`` seconds (or at
    ``kill_after`` seconds when given)."""
    control = control or SolveControl()
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "solvers.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert worker.stdin is not None and worker.stdout is not None
    job = (backend, dataclasses.replace(model, columns=()), options, control.start)
    frames: queue.Queue = queue.Queue()
    reader = threading.Thread(target=read_frames, args=(worker.stdout, frames), daemon=True)
    reader.start()
    try:
        worker.stdin.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        worker.stdin.close()
    except BrokenPipeError:
        pass
    if kill_after is None and options.time_limit is not None:
        kill_after = options.time_limit + grace
    deadline = None if kill_after is None else started + kill_after
    best: tuple[float, np.ndarray] | None = None
    last: Progress | None = None
    asked_to_stop = False
    try:
        while True:
            if not asked_to_stop and control.should_stop is not None and control.should_stop():
                worker.send_signal(signal.SIGTERM)
                asked_to_stop = True
            try:
                kind, payload = frames.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if deadline is not None and time.perf_counter() > deadline:
                    return _stopped_result(
                        backend, model, best, last, time.perf_counter() - started
                    )
                continue
            if kind == "progress":
                last = payload
                if control.progress is not None:
                    control.progress(payload)
            elif kind == "incumbent":
                if best is None or payload[0] < best[0]:
                    best = payload
                if control.on_incumbent is not None:
                    control.on_incumbent(*payload)
            elif kind == "result":
                return payload
            elif kind == "error":
                return _error_result(backend, model, str(payload), started, best)
            else:  # eof without a result: the worker died
                code = worker.wait(timeout=5)
                return _error_result(
                    backend, model, f"solver process died (exit code {code})", started, best
                )
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=5)
        worker.stdout.close()


def _stopped_result(
    backend: str,
    model: MatrixModel,
    best: tuple[float, np.ndarray] | None,
    last: Progress | None,
    seconds: float,
) -> SolveResult:
    return SolveResult(
        solver=backend,
        version="",
        termination=Termination.time_limit,
        solution=SolutionKind.feasible if best is not None else SolutionKind.none,
        objective=best[0] if best is not None else None,
        best_bound=last.bound if last is not None else None,
        seconds=seconds,
        size=ModelSize.of(model),
        x=best[1] if best is not None else None,
        message="stopped from outside after overrunning the time limit",
    )


def _error_result(
    backend: str,
    model: MatrixModel,
    message: str,
    started: float,
    best: tuple[float, np.ndarray] | None,
) -> SolveResult:
    return SolveResult(
        solver=backend,
        version="",
        termination=Termination.error,
        solution=SolutionKind.feasible if best is not None else SolutionKind.none,
        objective=best[0] if best is not None else None,
        best_bound=None,
        seconds=time.perf_counter() - started,
        size=ModelSize.of(model),
        x=best[1] if best is not None else None,
        message=message,
    )
