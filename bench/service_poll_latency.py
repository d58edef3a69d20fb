"""Status-poll latency of the service while two solves run (issue 4: p99 under 50 ms).

Starts `planner serve` on loopback with 2 job workers and a fresh database, submits two hard
synthetic requests (6 SKUs x 3 warehouses x 2 channels x 2 scenarios, 20 s time limit each),
waits until both are running, then polls GET /v1/plans/{id} back to back (alternating the
two jobs, one keep-alive connection) and prints p50 / p95 / p99 / max in milliseconds, plus
the load average, since other processes on a shared 2-core machine skew the figures.

    python bench/service_poll_latency.py               # 2000 polls
    python bench/service_poll_latency.py --polls 5000 --clients 4

Latency is measured at the client, so it includes the HTTP round trip and JSON decoding.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from planner.synthetic import synthetic_request


def start_server(db: Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "planner.cli", "serve", "--port", "0", "--db", str(db)]
    process = subprocess.Popen(
        [*command, "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on " not in line:
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, line.split("listening on ", 1)[1].split()[0]


def poll(url: str, ids: list[str], count: int, out: list[float]) -> None:
    with requests.Session() as session:
        for i in range(count):
            started = time.perf_counter()
            response = session.get(f"{url}/v1/plans/{ids[i % len(ids)]}", timeout=10)
            response.json()
            out.append(time.perf_counter() - started)
            assert response.status_code == 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=2000, help="polls in all")
    parser.add_argument("--clients", type=int, default=1, help="polling threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder) / "jobs.sqlite3")
        try:
            body = synthetic_request(6, 3, 2, 2, seed=3)
            ids = [
                requests.post(f"{url}/v1/plans?time_limit=20", json=body, timeout=30).json()["id"]
                for _ in range(2)
            ]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                jobs = [requests.get(f"{url}/v1/plans/{i}", timeout=10).json() for i in ids]
                if all(j["status"] == "running" and j["progress"] for j in jobs):
                    break
                time.sleep(0.2)
            else:
                raise SystemExit("the two solves did not start")
            load_before = os.getloadavg()[0]
            latencies: list[float] = []
            per_client = args.polls // args.clients
            threads = [
                threading.Thread(target=poll, args=(url, ids, per_client, latencies))
                for _ in range(args.clients)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - started
            still_running = [
                requests.get(f"{url}/v1/plans/{i}", timeout=10).json()["status"] for i in ids
            ]
        finally:
            process.terminate()
            process.wait(timeout=30)

    ms = [x * 1000 for x in latencies]
    print(f"{len(ms)} polls by {args.clients} client(s) in {seconds:.1f} s while 2 solves ran")
    print(
        f"jobs at the end: {still_running}; load average {load_before:.2f} -> "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print(
        f"latency ms: p50 {statistics.median(ms):.2f}  p95 {percentile(ms, 0.95):.2f}  "
        f"p99 {percentile(ms, 0.99):.2f}  max {max(ms):.2f}"
    )
    return 0 if percentile(ms, 0.99) < 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())
