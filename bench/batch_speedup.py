"""Batch scale-out benchmark: the same generated batch on 1 worker, then on 2, in one command.

Issue 6 asks that 200 generated requests plan at least 1.8x faster on 2 workers than on 1.
A ratio measured within one run says more than absolute times on a shared 2-core machine, so
this script times every worker count on the same requests, back to back, through
:func:`planner.batch.run_batch` (the code path of ``planner batch``), and prints the load
average before and after (other processes on the machine skew the ratio: rerun if it was
high). It also reports the engine's start-up (cluster up and every worker ready to plan) and
the peak memory of the driver and all its child processes, the figures behind the choice of
engine.

    python bench/batch_speedup.py                      # 200 requests, local engine, 1 vs 2
    python bench/batch_speedup.py --engine dask --workers 1,2 --requests 200

Requests are ``planner.synthetic`` networks of 2 SKUs x 3 warehouses x 1 channel x 2
scenarios over 9 days (seeds 0..N-1): about 0.4 s each on average (most 0.1-1 s, a few up
to 2 s) on an unloaded core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from planner.batch import BatchSettings, make_engine, make_job, plan_job, run_batch
from planner.synthetic import synthetic_request


def write_requests(folder: Path, count: int, size: tuple[int, int, int, int], days: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        request = synthetic_request(*size, horizon_days=days, seed=seed)
        (folder / f"req{seed:04d}.json").write_text(json.dumps(request), encoding="utf-8")


class ProcessTree:
    """Samples this process and all its descendants: peak resident memory (MB, summed) and
    the CPU seconds the descendants (the workers, a cluster's daemons) used while sampled."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak_mb = every, 0.0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
                    if proc.pid != me.pid:
                        times = proc.cpu_times()
                        self._cpu[proc.pid] = times.user + times.system
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(self.every)

    @property
    def children_cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def __enter__(self) -> ProcessTree:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def startup_seconds(engine: str, workers: int, request: str) -> float:
    """Seconds from nothing to every worker having planned one request (imports included)."""
    job = make_job("warm", "warm", request, BatchSettings())
    start = time.perf_counter()
    pool = make_engine(engine, workers)
    try:
        for _ in pool.map((f"warm{i}", job) for i in range(workers)):
            pass
    finally:
        elapsed = time.perf_counter() - start
        pool.close()
    return elapsed


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="local", help="local or dask")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--size", default="2x3x1x2", help="SKUSxWAREHOUSESxCHANNELSxSCENARIOS")
    parser.add_argument("--days", type=int, default=9, help="horizon of each request")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",")]
    size = tuple(int(x) for x in args.size.split("x"))
    assert len(size) == 4, "size is SKUSxWAREHOUSESxCHANNELSxSCENARIOS"

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        requests = Path(tmp) / "requests"
        write_requests(requests, args.requests, size, args.days)  # type: ignore[arg-type]
        sample = (requests / "req0000.json").read_text()
        check = json.loads(plan_job(make_job("check", "check", sample, BatchSettings())))
        assert check["row"]["status"] == "optimal", check["row"]
        print(
            f"{args.requests} requests {args.size} over {args.days} days, engine "
            f"{args.engine}, {os.cpu_count()} cores; load average before: {load()}",
            flush=True,
        )
        objectives: dict[int, dict[str, float]] = {}
        for workers in counts:
            ready = startup_seconds(args.engine, workers, sample)
            out = Path(tmp) / f"out-{workers}"
            driver_cpu = time.process_time()
            with ProcessTree() as tree:
                start = time.perf_counter()
                report = run_batch(
                    requests,
                    out,
                    engine=args.engine,
                    workers=workers,
                    settings=BatchSettings(),
                    progress=False,
                )
                seconds = time.perf_counter() - start
            driver_cpu = time.process_time() - driver_cpu
            plans = {
                p.stem: json.loads(p.read_text())["objective"]
                for p in (out / "plans").glob("*.plan.json")
            }
            objectives[workers] = plans
            row = {
                "engine": args.engine,
                "workers": workers,
                "requests": report.total,
                "seconds": round(seconds, 2),
                "requests_per_second": round(report.total / seconds, 2),
                "startup_seconds": round(ready, 2),
                "peak_rss_mb": round(tree.peak_mb),
                "worker_cpu_seconds": round(tree.children_cpu_seconds, 1),
                "driver_cpu_seconds": round(driver_cpu, 1),
                "statuses": dict(report.statuses),
                "load_after": load(),
            }
            rows.append(row)
            print(
                f"  {workers} worker(s): {seconds:7.2f} s, {row['requests_per_second']:6.2f} req/s,"
                f" start-up {ready:5.2f} s, peak RSS {row['peak_rss_mb']} MB, CPU s: workers "
                f"{row['worker_cpu_seconds']}, driver {row['driver_cpu_seconds']}; "
                f"{dict(report.statuses)}; load average after: {row['load_after']}",
                flush=True,
            )
    base = rows[0]
    for row in rows[1:]:
        same = all(
            abs(objectives[row["workers"]][k] - v) <= 1e-6 * max(1.0, abs(v))
            for k, v in objectives[base["workers"]].items()
        )
        ratio = base["seconds"] / row["seconds"]
        print(
            f"speedup {row['workers']} vs {base['workers']} worker(s): {ratio:.2f}x "
            f"(target for 2 vs 1: >= 1.8x); same objectives: {same}"
        )
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
