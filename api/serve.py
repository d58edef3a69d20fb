"""`planner serve`: the service under waitress, a production WSGI server in pure Python.

Why waitress: no compiler or C extension to install, runs wherever Python runs, and one
process with a thread pool suits this service (solves run in worker processes anyway, so the
HTTP threads only parse, validate and read SQLite). gunicorn would fork several app
processes, each with its own job runner; that is safe (leases in the database) but buys
nothing here.

The server prints ``listening on http://HOST:PORT`` once it accepts connections (with
``--port 0`` the port is picked by the OS), and on SIGTERM or Ctrl-C stops its workers and
puts their jobs back in the queue for the next start.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

EXIT_OK, EXIT_CANNOT_START = 0, 1


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="run the planning service over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="0 picks a free port")
    serve.add_argument("--db", help="job database (SQLite); default ./planner-jobs.sqlite3")
    serve.add_argument("--workers", type=_count, help="jobs solved at once (worker processes)")
    serve.add_argument(
        "--token", help="require Authorization: Bearer TOKEN (or set PLANNER_API_TOKEN)"
    )
    serve.add_argument("--max-body", type=_count, help="largest request body in bytes")
    serve.add_argument("--sync-time-cap", type=_seconds, help="seconds, POST /v1/plans:solve")
    serve.add_argument("--job-time-cap", type=_seconds, help="largest time limit of a job")
    serve.add_argument(
        "--job-grace", type=_seconds, help="seconds past its time limit before a job is killed"
    )
    serve.add_argument("--threads", type=_count, default=8, help="HTTP threads")
    serve.set_defaults(handler=serve_command)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number of at least 1")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 picks a free one)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def app_config(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given: the rest comes from PLANNER_* variables or the defaults."""
    given = {
        "JOBS_DB": args.db,
        "JOB_WORKERS": args.workers,
        "API_TOKEN": args.token,
        "MAX_CONTENT_LENGTH": args.max_body,
        "SYNC_TIME_CAP": args.sync_time_cap,
        "JOB_TIME_CAP": args.job_time_cap,
        "JOB_GRACE_SECONDS": args.job_grace,
    }
    return {key: value for key, value in given.items() if value is not None}


def serve_command(args: argparse.Namespace) -> int:
    from waitress import create_server

    from api.app import create_app
    from api.store import StoreError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        app = create_app(app_config(args))
    except StoreError as exc:
        print(f"planner serve: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    max_body = int(app.config["MAX_CONTENT_LENGTH"])
    runner = app.extensions["planner"].runner
    try:
        server = create_server(
            app,
            host=args.host,
            port=args.port,
            threads=args.threads,
            # The app answers 413 problem+json up to twice its limit; waitress refuses the rest.
            max_request_body_size=2 * max_body,
            ident="supply-planner",
        )
    except OSError as exc:
        runner.stop()
        print(f"planner serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"planner serve: listening on http://{args.host}:{server.effective_port} "
        f"(jobs in {app.extensions['planner'].store.path}, "
        f"{app.config['JOB_WORKERS']} workers)",
        flush=True,
    )
    try:
        server.run()  # returns on KeyboardInterrupt (Ctrl-C, or SIGTERM above), closed
    finally:
        runner.stop()
        print("planner serve: stopped", flush=True)
    return EXIT_OK
