"""A real `planner serve` process on loopback for the service tests: started on a port the OS
picks, stopped (or killed) by the test, with bounded waits everywhere."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import requests

STARTUP_SECONDS = 90.0


class Server:
    def __init__(self, db: Path, *args: str, cwd: Path | None = None, token: str | None = None):
        self.db = db
        self.args = args
        self.cwd = cwd or db.parent
        self.token = token
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.log = self.cwd / f"server-{int(time.time() * 1000)}.log"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def start(self) -> Server:
        command = [sys.executable, "-m", "planner.cli", "serve", "--port", "0"]
        command += ["--db", str(self.db), *self.args]
        if self.token:
            command += ["--token", self.token]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=self.cwd, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        self._pump = threading.Thread(target=_pump, args=(self.process.stdout, lines), daemon=True)
        self._pump.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                return self
        self.kill()
        raise AssertionError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._close_output()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_output()
        self.session.close()

    def _close_output(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self._pump.join(timeout=5)
            self.process.stdout.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def wait_job(
        self, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 90
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.get(f"/v1/plans/{job_id}")
            assert response.status_code == 200, response.text
            job = response.json()
            if done(job):
                return job
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for job {job_id}; last seen {job}")


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "canceled")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
