"""Worker process of :mod:`solvers.guard`: one solve, job on stdin, frames on stdout.

File descriptor 1 is moved aside for the frames and pointed at stderr, so solver logs and
banners printed by C code can never corrupt the frame stream. SIGTERM asks the solve to stop
and return its best solution.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys


def main() -> int:
    frames = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)

    from solvers import SolveControl, get_solver
    from solvers.guard import write_frame

    backend, model, options, start = pickle.loads(sys.stdin.buffer.read())
    control = SolveControl(
        progress=lambda p: write_frame(frames, "progress", p),
        on_incumbent=lambda obj, x: write_frame(frames, "incumbent", (obj, x)),
        should_stop=lambda: stop_requested,
        start=start,
    )
    try:
        result = get_solver(backend).solve(model, options, control)
    except Exception as exc:  # reported to the parent, which maps it to an error result
        write_frame(frames, "error", f"{type(exc).__name__}: {exc}")
        return 1
    write_frame(frames, "result", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
