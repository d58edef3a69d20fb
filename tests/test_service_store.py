"""The job store's guarantees, without a server: a job completes exactly once whatever
attempts race for it, jobs of a dead server come back, cancel is idempotent, and a database
the service must not write to is refused untouched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from api.store import (
    IdempotencyConflict,
    JobStore,
    Owner,
    StateConflict,
    StoreError,
    owner_is_dead,
)
from planner.cli import main

OPTIONS = {"time_limit": 5.0, "gap": None, "solver": "highs", "threads": None, "seed": None}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    s = JobStore(tmp_path / "jobs.sqlite3")
    s.create_schema()
    yield s
    s.close()


def queue(store: JobStore, name: str = "r", key: str | None = None, fp: str = "f") -> str:
    job, created = store.submit("{}", fp, OPTIONS, name, key)
    assert created
    return job.id


def final_events(store: JobStore, job_id: str) -> list[str]:
    finals = {"completed", "failed", "canceled"}
    return [e["event"] for e in store.events(job_id) if e["event"] in finals]


def test_wal_mode_and_schema_version(store: JobStore) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_claims_oldest_first_and_bumps_the_attempt(store: JobStore) -> None:
    first, second = queue(store), queue(store)
    me = Owner.this_process()
    a, b = store.claim(me, 30), store.claim(me, 30)
    assert a is not None and b is not None
    assert (a.id, a.attempt, b.id) == (first, 1, second)
    assert store.claim(me, 30) is None
    job = store.get(first)
    assert job is not None and job.status == "running" and job.lease_owner == str(me)


def test_a_requeued_job_completes_exactly_once(store: JobStore) -> None:
    job_id = queue(store)
    dead, alive = Owner("host", 1, "old"), Owner("host", 2, "new")
    first = store.claim(dead, 30)
    assert first is not None
    assert store.recover(alive, max_attempts=3, is_dead=lambda owner, me: True) == [job_id]
    assert store.get(job_id).status == "queued"  # type: ignore[union-attr]
    # The orphaned first attempt cannot complete a re-queued job...
    assert not store.complete(job_id, first.attempt, "succeeded", result="{}")
    second = store.claim(alive, 30)
    assert second is not None and second.attempt == 2
    # ...nor one that a second attempt holds; the second completes it, once.
    assert not store.complete(job_id, first.attempt, "succeeded", result="{}")
    assert store.complete(job_id, second.attempt, "succeeded", result='{"a": 1}')
    assert not store.complete(job_id, second.attempt, "failed", error="late")
    job = store.get(job_id)
    assert job is not None and job.status == "succeeded" and job.has_result
    assert store.result(job_id) == '{"a": 1}'
    assert final_events(store, job_id) == ["completed"]
    assert [e["event"] for e in store.events(job_id)] == [
        "queued",
        "claimed",
        "requeued",
        "claimed",
        "completed",
    ]


def test_recover_leaves_live_servers_alone_and_gives_up_after_max_attempts(
    store: JobStore,
) -> None:
    me = Owner.this_process()
    other = Owner("elsewhere", 1, "x")  # another host with a fresh lease: alive as far as known
    live = queue(store)
    store.claim(other, 30)
    assert store.recover(me, max_attempts=3) == []
    assert store.get(live).status == "running"  # type: ignore[union-attr]
    # An expired lease is taken back even from another host.
    store.heartbeat(other, -1)
    assert store.recover(me, max_attempts=1) == [live]
    job = store.get(live)
    assert job is not None and job.status == "failed" and "abandoned after 1" in str(job.error)


def test_recover_cancels_a_job_whose_cancel_was_asked(store: JobStore) -> None:
    job_id = queue(store)
    store.claim(Owner("h", 1, "a"), 30)
    store.cancel(job_id)
    store.recover(Owner("h", 2, "b"), 3, is_dead=lambda owner, me: True)
    job = store.get(job_id)
    assert job is not None and job.status == "canceled" and not job.has_result


def test_cancel_is_idempotent_and_refused_once_finished(store: JobStore) -> None:
    queued, running = queue(store), queue(store)
    me = Owner.this_process()
    claim = store.claim(me, 30)  # the oldest: `queued`
    assert claim is not None and claim.id == queued
    job = store.cancel(queued)
    assert job is not None and job.status == "running" and job.cancel_requested_at is not None
    assert store.cancel(queued).cancel_requested_at == job.cancel_requested_at  # type: ignore[union-attr]
    assert store.cancel(running).status == "canceled"  # type: ignore[union-attr]
    assert store.cancel(running).status == "canceled"  # type: ignore[union-attr]
    assert store.cancel("nope") is None
    assert store.complete(queued, claim.attempt, "succeeded", result="{}")
    with pytest.raises(StateConflict):
        store.cancel(queued)


def test_idempotency_key_returns_the_same_job_or_conflicts(store: JobStore) -> None:
    job_id = queue(store, key="k", fp="one")
    again, created = store.submit("{}", "one", OPTIONS, "r", "k")
    assert not created and again.id == job_id
    with pytest.raises(IdempotencyConflict):
        store.submit("{}", "two", OPTIONS, "r", "k")


def test_owner_is_dead_only_when_provably_gone() -> None:
    me = Owner.this_process()
    assert not owner_is_dead(str(me), Owner(me.host, me.pid, me.token))
    assert owner_is_dead(str(Owner(me.host, me.pid, "earlier")), me)  # restarted container
    assert owner_is_dead(str(Owner(me.host, 2**22 + 12345, "x")), me)  # no such process
    assert not owner_is_dead(str(Owner("other-host", 1, "x")), me)
    assert not owner_is_dead("garbage", me)


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious notes, not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"notes\.txt"):
        JobStore(path).create_schema()
    assert path.read_bytes() == before
    assert main(["serve", "--db", str(path), "--port", "0"]) == 1  # the server will not start
    assert path.read_bytes() == before


def test_a_newer_schema_is_refused_and_existing_jobs_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    store.create_schema()
    job_id = queue(store)
    store.create_schema()  # a restart: nothing is dropped
    assert store.get(job_id) is not None
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 99")
        conn.commit()
    with pytest.raises(StoreError, match="schema version 99"):
        JobStore(path).create_schema()
