"""Live replan (`planner replan`, POST /v1/plans/{id}/replan): the request re-based on the live
state with numbers worked out by hand, every bad state refused naming its field (exit 2 and
422), an unchanged state keeps the plan, a surge adds the transfer it calls for, the flagship
end to end through the command line, and replans chained through a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, solve
from flask import Flask
from openapi_spec_validator import validate as validate_openapi
from service_server import Server, finished

from api import create_app
from planner.cli import main
from planner.replan import apply_state, replan, validate_state
from planner.validation import validate_request
from planner.validation_types import RequestError

FLAGSHIP = REPO / "instances" / "glowup_live_show.json"
SURGE_STATE = REPO / "instances" / "states" / "glowup_live_show_surge.state.json"


def live_request() -> dict[str, Any]:
    """Home H (50 units of x) and overseas O (10); channel `live` (1-day promise) only from O,
    `shop` from both.

    Days 0..4. Demand of x per scenario (probability 0.5 each):
      lo: live day 1: 40; shop days 0..3: 80 (20 a day); shop days 2..4: 9
      hi: live day 1: 80; shop days 0..3: 80 (20 a day); live day 3: 10
    """
    return {
        "name": "live",
        "horizon_days": 5,
        "warehouses": [{"id": "H"}, {"id": "O"}],
        "skus": [{"id": "x", "unit_cost": 5, "price": 20}],
        "stock": [
            {"sku": "x", "warehouse": "H", "quantity": 50},
            {"sku": "x", "warehouse": "O", "quantity": 10},
        ],
        "in_transit": [
            {"sku": "x", "warehouse": "O", "quantity": 4, "arrival_day": 0},
            {"sku": "x", "warehouse": "O", "quantity": 6, "arrival_day": 3},
        ],
        "lanes": [
            {"from": "H", "to": "O", "mode": "air", "lead_days": 1, "unit_cost": 1, "fixed_cost": 3}
        ],
        "suppliers": [
            {
                "id": "f",
                "deliver_to": ["H"],
                "lead_days": 2,
                "capacity_windows": [{"start_day": 0, "end_day": 3, "capacity": 100}],
            }
        ],
        "channels": [
            {
                "id": "live",
                "kind": "live",
                "promise_days": 1,
                "fulfilment": [
                    {"warehouse": "O", "delivery_days": 1},
                    {"warehouse": "H", "delivery_days": 3},
                ],
            },
            {
                "id": "shop",
                "promise_days": 5,
                "fulfilment": [
                    {"warehouse": "O", "delivery_days": 1},
                    {"warehouse": "H", "delivery_days": 3},
                ],
            },
        ],
        "scenarios": [
            {
                "name": "lo",
                "probability": 0.5,
                "demand": [
                    {"sku": "x", "channel": "live", "day": 1, "quantity": 40},
                    {"sku": "x", "channel": "shop", "day": 0, "end_day": 3, "quantity": 80},
                    {"sku": "x", "channel": "shop", "day": 2, "end_day": 4, "quantity": 9},
                ],
            },
            {
                "name": "hi",
                "probability": 0.5,
                "demand": [
                    {"sku": "x", "channel": "live", "day": 1, "quantity": 80},
                    {"sku": "x", "channel": "shop", "day": 0, "end_day": 3, "quantity": 80},
                    {"sku": "x", "channel": "live", "day": 3, "quantity": 10},
                ],
            },
        ],
    }


# A plan of live_request, made up: what matters is which decisions come before day 1.
LIVE_PLAN: dict[str, Any] = {
    "request": {"horizon_days": 5},
    "transfers": [
        {"sku": "x", "lane": "H-O-air", "ship_day": 0, "quantity": 5},
        {"sku": "x", "lane": "H-O-air", "ship_day": 1, "quantity": 7},
        {"sku": "x", "lane": "H-O-air", "ship_day": 2, "quantity": 2},
    ],
    "orders": [{"supplier": "f", "sku": "x", "warehouse": "H", "order_day": 0, "quantity": 30}],
    "allocations": [
        {
            "sku": "x",
            "warehouse": "O",
            "channel": "live",
            "scenario": "lo",
            "day": 0,
            "quantity": 1,
        },
        {
            "sku": "x",
            "warehouse": "O",
            "channel": "live",
            "scenario": "lo",
            "day": 2,
            "quantity": 3,
        },
    ],
}

LIVE_STATE: dict[str, Any] = {
    "as_of_day": 1,
    "hours_left": 1.5,
    "sold": [
        {"sku": "x", "channel": "live", "units": 30},
        {"sku": "x", "channel": "shop", "units": 25},
    ],
    "sales_rate": [{"sku": "x", "channel": "live", "units_per_hour": 20}],
    "stock": [
        {"sku": "x", "warehouse": "H", "quantity": 12},
        {"sku": "x", "warehouse": "O", "quantity": 3},
    ],
}


def demand_of(request: Any, scenario: str) -> list[tuple[str, int, int | None, float]]:
    rows = next(s.demand for s in request.scenarios if s.name == scenario)
    return sorted((r.channel, r.day, r.end_day, r.quantity) for r in rows)


def test_apply_state_rebases_the_request_on_the_live_state() -> None:
    request = validate_request(live_request())
    state = validate_state(LIVE_STATE, request, LIVE_PLAN)
    rebased = apply_state(request, LIVE_PLAN, state)
    assert rebased.horizon_days == 4  # days 1..4 become 0..3
    # Day 1, live (rate given): the rest of the day is 20/h x 1.5 h = 30 units, spread like
    # the scenarios: expected day-1 live demand 0.5 x 40 + 0.5 x 80 = 60, so lo gets
    # 30 x 40/60 = 20 and hi 30 x 80/60 = 40 (expected 30, the observed rate).
    # Day 1, shop (no rate): 20 - 25 sold, never below 0: no demand left today.
    # Shop days 0..3 (20 a day): days 2..3 remain, 40 units on new days 1..2; the lo row of
    # days 2..4 and hi's live day 3 lie wholly after day 1 and only move one day earlier.
    assert demand_of(rebased, "lo") == [
        ("live", 0, None, 20.0),
        ("shop", 1, 2, 40.0),
        ("shop", 1, 3, 9.0),
    ]
    assert demand_of(rebased, "hi") == [
        ("live", 0, None, 40.0),
        ("live", 2, None, 10.0),
        ("shop", 1, 2, 40.0),
    ]
    assert [(r.warehouse, r.quantity) for r in rebased.stock] == [("H", 12), ("O", 3)]
    # In transit: the request's 6 units due on day 3 (now 2); the transfer shipped on day 0
    # (1-day lane, due day 1, now 0); the order placed on day 0 (2-day lead, due day 2, now
    # 1). The 4 units that arrived on day 0 are in the stock already.
    assert sorted((r.warehouse, r.quantity, r.arrival_day) for r in rebased.in_transit) == [
        ("H", 30, 1),
        ("O", 5, 0),
        ("O", 6, 2),
    ]
    previous = rebased.previous_plan
    assert previous is not None
    assert [(x.ship_day, x.quantity) for x in previous.transfers] == [(0, 7), (1, 2)]
    assert previous.orders == []  # placed on day 0: done, now in transit
    assert [(a.day, a.quantity) for a in previous.allocations] == [(1, 3)]
    # The supplier's window (days 0..3, 100 units) is now days 0..2 with the 30 units
    # ordered on day 0 used up.
    window = rebased.suppliers[0].capacity_windows[0]
    assert (window.start_day, window.end_day, window.capacity) == (0, 2, 70)
    # The plan ships 7 units on the lane on day 1: booked ahead, its fee is paid.
    assert [lane.booked_days for lane in rebased.lanes] == [(0,)]
    assert [lane.model_copy(update={"booked_days": ()}) for lane in rebased.lanes] == request.lanes
    assert rebased.channels == request.channels
    # The re-based request is a valid request in its own right.
    assert validate_request(rebased.model_dump(mode="json", by_alias=True)) == rebased


@pytest.mark.parametrize(
    ("start", "duration", "as_of", "expected"),
    [(3, 1, 3, (0, 1)), (2, 3, 3, (0, 2)), (4, 2, 1, (3, 2)), (0, 2, 3, None)],
)
def test_an_event_is_rebased_with_the_request(
    start: int, duration: int, as_of: int, expected: tuple[int, int] | None
) -> None:
    from planner.replan import _rebased_event
    from planner.schema import Event

    event = _rebased_event(Event(start_day=start, duration_days=duration), as_of)
    got = None if event is None else (event.start_day, event.duration_days)
    assert got == expected  # a show under way keeps its remaining days; one over is dropped


def test_apply_state_keeps_fields_it_does_not_know_about() -> None:
    raw = live_request() | {"notes": "kept", "policy": {"salvage_fraction": 0.5}}
    request = validate_request(raw)
    rebased = apply_state(request, LIVE_PLAN, validate_state(LIVE_STATE, request, LIVE_PLAN))
    assert rebased.notes == "kept" and rebased.policy == request.policy


def test_uncertainty_is_expanded_before_rebasing() -> None:
    raw = live_request()
    del raw["scenarios"]
    raw["uncertainty"] = {
        "sku_tiers": [
            {
                "sku": "x",
                "channel": "live",
                "day": 1,
                "tiers": [
                    {"name": "lo", "probability": 0.5, "quantity": 40},
                    {"name": "hi", "probability": 0.5, "quantity": 80},
                ],
            }
        ]
    }
    request = validate_request(raw)
    state = validate_state(LIVE_STATE, request, LIVE_PLAN)
    rebased = apply_state(request, LIVE_PLAN, state)
    assert rebased.uncertainty is None
    assert demand_of(rebased, "lo") == [("live", 0, None, 20.0)]
    assert demand_of(rebased, "hi") == [("live", 0, None, 40.0)]


# -- bad states ----------------------------------------------------------------------------------

BAD_STATES = [
    ({"sold": [{"sku": "y", "channel": "live", "units": 1}]}, "$.sold[0].sku", "unknown sku"),
    ({"sold": [{"sku": "x", "channel": "tv", "units": 1}]}, "$.sold[0].channel", "unknown"),
    (
        {"sold": [{"sku": "x", "channel": "live", "units": -1}]},
        "$.sold[0].units",
        "greater than or equal to 0",
    ),
    (
        {"stock": [{"sku": "x", "warehouse": "Z", "quantity": 1}]},
        "$.stock[0].warehouse",
        "unknown warehouse",
    ),
    (
        {"sales_rate": [{"sku": "x", "channel": "live", "units_per_hour": -5}]},
        "$.sales_rate[0].units_per_hour",
        "greater than or equal to 0",
    ),
    ({"as_of_day": 5, "stock": []}, "$.as_of_day", "outside the plan's horizon"),
    ({"as_of_day": 1}, "$.stock", "required when as_of_day > 0"),
    (
        {
            "as_of_day": 1,
            "stock": [],
            "in_transit": [{"sku": "x", "warehouse": "O", "quantity": 1, "arrival_day": 0}],
        },
        "$.in_transit[0].arrival_day",
        "not in days 1..4",
    ),
    # x: 60 in stock + 4 arrived on day 0 (the request) + 0 ordered by then = 64 units.
    (
        {
            "sold": [
                {"sku": "x", "channel": "live", "units": 40},
                {"sku": "x", "channel": "shop", "units": 25},
            ]
        },
        "$.sold[1].units",
        "65 units of 'x' sold on day 0 (over all channels) exceed its stock plus inbound "
        "by that day in the request: 60 + 4 = 64",
    ),
    ({"hours_left": 1, "sold_out": True}, "$.sold_out", "unknown field"),
]


@pytest.mark.parametrize(("state", "path", "reason"), BAD_STATES)
def test_bad_state_is_rejected_naming_the_field(
    state: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(RequestError) as caught:
        validate_state(state, validate_request(live_request()), LIVE_PLAN)
    assert [e.path for e in caught.value.errors] == [path]
    assert reason in caught.value.errors[0].reason


def test_oversold_counts_the_plans_orders_arrived_by_then() -> None:
    # The order of 30 placed on day 0 arrives on day 2: 64 + 30 units may be sold on day 2.
    state = {"as_of_day": 2, "stock": [], "sold": [{"sku": "x", "channel": "live", "units": 94}]}
    validate_state(state, validate_request(live_request()), LIVE_PLAN)
    with pytest.raises(RequestError, match=r"60 \+ 34 = 94"):
        validate_state(
            state | {"sold": [{"sku": "x", "channel": "live", "units": 95}]},
            validate_request(live_request()),
            LIVE_PLAN,
        )


@pytest.fixture
def live_files(tmp_path: Path) -> Path:
    (tmp_path / "request.json").write_text(json.dumps(live_request()))
    (tmp_path / "plan.json").write_text(json.dumps(LIVE_PLAN))
    return tmp_path


@pytest.mark.parametrize(("state", "path", "reason"), BAD_STATES)
def test_cli_bad_state_exits_2_naming_the_field(
    live_files: Path,
    capsys: pytest.CaptureFixture[str],
    state: dict[str, Any],
    path: str,
    reason: str,
) -> None:
    (live_files / "state.json").write_text(json.dumps(state | {"request": "request.json"}))
    code = main(["replan", str(live_files / "plan.json"), str(live_files / "state.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"invalid live state {live_files / 'state.json'}:" in err
    assert f"{path}: " in err and reason in err


def test_cli_unreadable_inputs_exit_2_without_a_traceback(live_files: Path) -> None:
    (live_files / "broken.json").write_text('{"as_of_day": 0,')
    (live_files / "state.json").write_text("{}")

    def planner(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "planner.cli", "replan", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    plan, state = str(live_files / "plan.json"), str(live_files / "state.json")
    for args, message in [
        ((plan, str(live_files / "broken.json")), "$: not valid JSON"),
        ((plan, str(live_files / "missing.json")), "cannot read"),
        ((plan, state), "$.request: give --request, or the request's path in the state"),
        (
            (str(live_files / "broken.json"), state, "--request", str(live_files / "request.json")),
            "invalid plan",
        ),
        ((plan, state, "--request", str(live_files / "nope.json")), "invalid request"),
    ]:
        proc = planner(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_plan_of_another_request_is_refused_naming_the_line(live_files: Path, capsys: Any) -> None:
    plan = LIVE_PLAN | {
        "transfers": [{"sku": "x", "lane": "O-H-sea", "ship_day": 0, "quantity": 1}]
    }
    (live_files / "plan.json").write_text(json.dumps(plan))
    (live_files / "state.json").write_text(json.dumps({"request": "request.json"}))
    code = main(["replan", str(live_files / "plan.json"), str(live_files / "state.json")])
    assert code == 2
    assert "$.transfers[0].lane: unknown lane 'O-H-sea'" in capsys.readouterr().err


# -- replans that solve ---------------------------------------------------------------------------


def surge_request() -> dict[str, Any]:
    """O holds 10 units of x for `live` (served only from O): 5 on day 1 and 5 on day 2. H holds
    20; the air lane H -> O takes 1 day at $1 a unit and $3 a shipping day; price 20.

    The plan ships nothing: O's 10 units meet the 10 units of demand."""
    return {
        "name": "surge",
        "horizon_days": 4,
        "warehouses": [{"id": "H"}, {"id": "O"}],
        "skus": [{"id": "x", "unit_cost": 5, "price": 20}],
        "stock": [
            {"sku": "x", "warehouse": "H", "quantity": 20},
            {"sku": "x", "warehouse": "O", "quantity": 10},
        ],
        "lanes": [
            {"from": "H", "to": "O", "mode": "air", "lead_days": 1, "unit_cost": 1, "fixed_cost": 3}
        ],
        "channels": [
            {
                "id": "live",
                "promise_days": 1,
                "fulfilment": [
                    {"warehouse": "O", "delivery_days": 1},
                    {"warehouse": "H", "delivery_days": 3},
                ],
            }
        ],
        "scenarios": [
            {
                "name": "base",
                "probability": 1,
                "demand": [
                    {"sku": "x", "channel": "live", "day": 1, "quantity": 5},
                    {"sku": "x", "channel": "live", "day": 2, "quantity": 5},
                ],
            }
        ],
    }


# Day 1: 8 sold already (5 forecast), 4 an hour for half an hour more: 2 to come. O is down
# to 2 units, which serve today's 2; tomorrow's 5 need 5 units shipped H -> O today (new day
# 0), arriving tomorrow: $3 + 5 x $1 = $8, against 5 x $20 of lost sales.
SURGE: dict[str, Any] = {
    "as_of_day": 1,
    "hours_left": 0.5,
    "sold": [{"sku": "x", "channel": "live", "units": 8}],
    "sales_rate": [{"sku": "x", "channel": "live", "units_per_hour": 4}],
    "stock": [
        {"sku": "x", "warehouse": "H", "quantity": 20},
        {"sku": "x", "warehouse": "O", "quantity": 2},
    ],
}
SURGE_TRANSFER = {"sku": "x", "lane": "H-O-air", "ship_day": 0, "quantity": 5.0}


def test_unchanged_state_keeps_the_plan() -> None:
    request = validate_request(surge_request())
    plan = solve(surge_request())
    for raw in ({}, {"stock": surge_request()["stock"]}):
        new = replan(request, plan, validate_state(raw, request, plan))
        assert new["changes"]["unchanged"] and new["changes"]["kept_previous_plan"]
        assert new["objective"] == pytest.approx(plan["objective"])
        assert new["plan_hash"] == plan["plan_hash"]


def test_surge_adds_the_transfer_it_calls_for() -> None:
    request = validate_request(surge_request())
    plan = solve(surge_request())
    assert plan["transfers"] == []
    new = replan(request, plan, validate_state(SURGE, request, plan))
    assert new["status"] == "optimal" and new["request"]["horizon_days"] == 3
    assert new["changes"]["transfers"]["added"] == [SURGE_TRANSFER]
    assert new["objective"] == pytest.approx(8)
    assert new["kpis"]["expected_lost_units"] == pytest.approx(0)
    section = new["replan"]
    assert section["as_of_day"] == 1
    # The plan expected 30 on hand at the start of day 1 (nothing sold on day 0); 22 on hand
    # + 8 sold: no stock went missing, only demand surged (5 -> 8 sold + 2 to come).
    assert section["stock"][0] | {"warehouses": None} == {
        "sku": "x",
        "planned_start_of_day": 30,
        "sold_today": 8,
        "on_hand": 22,
        "delta": 0,
        "warehouses": None,
    }
    assert section["demand"] == [
        {
            "sku": "x",
            "channel": "live",
            "sold": 8,
            "units_per_hour": 4,
            "planned_today": 5,
            "replanned_today": 10,
            "delta": 5,
        }
    ]
    assert new["timings"]["state_seconds"] >= 0


def test_flagship_surge_end_to_end_through_the_command_line(tmp_path: Path) -> None:
    def planner(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "planner.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    plan, new, rebased = tmp_path / "plan.json", tmp_path / "new.json", tmp_path / "rebased.json"
    assert planner("solve", str(FLAGSHIP), "--out", str(plan)).returncode == 0
    proc = planner(
        "replan", str(plan), str(SURGE_STATE), "--out", str(new), "--out-request", str(rebased)
    )
    assert proc.returncode == 0, proc.stderr
    assert "replan from day 3" in proc.stdout and "blush on tiktok_live" in proc.stdout
    result = json.loads(new.read_text())
    assert result["status"] == "optimal" and result["request"]["horizon_days"] == 9
    # the show (day 3) is under way: its rules apply from the new day 0
    assert (result["event"]["start_day"], result["event"]["end_day"]) == (0, 0)
    assert any(s["sku"] == "blush" for s in result["presale_switches"])
    assert result["replan"]["as_of_day"] == 3 and "changes" in result
    blush = next(r for r in result["replan"]["demand"] if r["sku"] == "blush")
    assert blush["replanned_today"] == pytest.approx(800 + 2400 * 0.5)
    # The re-based request is what the new plan solved; it replans in turn.
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"as_of_day": 1, "stock": json.loads(SURGE_STATE.read_text())["stock"]})
    )
    again = planner("replan", str(new), str(state), "--request", str(rebased), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["request"]["horizon_days"] == 8


# -- HTTP ------------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "JOBS_DB": str(tmp_path / "jobs.sqlite3"),
            "RUN_JOBS": False,
            "SYNC_TIME_CAP": 30.0,
        }
    )
    yield app
    app.extensions["planner"].store.close()


def finished_job(app: Flask, request: dict[str, Any], plan: dict[str, Any]) -> str:
    """A job that has succeeded with ``plan``, as a worker would have left it."""
    service = app.extensions["planner"]
    job, _ = service.store.submit(json.dumps(request), "fp", {}, request["name"])
    claim = service.store.claim(service.runner.owner, 30)
    assert claim is not None and claim.id == job.id
    assert service.store.complete(
        job.id, claim.attempt, "succeeded", result=json.dumps(plan), plan_status="optimal"
    )
    return job.id


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/problem+json"
    return response.get_json(force=True)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("state", "path", "reason"), BAD_STATES)
def test_http_bad_state_is_422_naming_the_field(
    app: Flask, state: dict[str, Any], path: str, reason: str
) -> None:
    job_id = finished_job(app, live_request(), LIVE_PLAN)
    body = problem(app.test_client().post(f"/v1/plans/{job_id}/replan", json=state), 422)
    assert body["detail"] == "invalid live state"
    assert [e["path"] for e in body["errors"]] == [path] and reason in body["errors"][0]["reason"]


def test_http_unknown_job_404_no_plan_yet_409_request_path_422(app: Flask) -> None:
    client = app.test_client()
    job_id = finished_job(app, live_request(), LIVE_PLAN)
    assert "nope" in problem(client.post("/v1/plans/nope/replan", json={}), 404)["detail"]
    queued = client.post("/v1/plans", json=surge_request()).json
    body = problem(client.post(f"/v1/plans/{queued['id']}/replan", json={}), 409)
    assert body["job_status"] == "queued"
    # Over HTTP the base request is the job's: a file path is not accepted.
    body = problem(client.post(f"/v1/plans/{job_id}/replan", json={"request": "/etc/x"}), 422)
    assert body["errors"][0]["path"] == "$.request"
    problem(client.post(f"/v1/plans/{job_id}/replan", data="{}"), 415)
    problem(client.post(f"/v1/plans/{job_id}/replan?time_limit=-1", json={}), 422)


def test_http_replan_stores_a_new_job_with_the_new_plan(app: Flask) -> None:
    client = app.test_client()
    job_id = finished_job(app, surge_request(), solve(surge_request()))
    response = client.post(f"/v1/plans/{job_id}/replan?time_limit=20", json=SURGE)
    assert response.status_code == 201, response.data[:500]
    plan = response.json
    assert plan["changes"]["transfers"]["added"] == [SURGE_TRANSFER]
    location = response.headers["Location"]
    job = client.get(location).json
    assert job["status"] == "succeeded" and job["attempt"] == 1 and job["result_available"]
    assert job["plan_status"] == "optimal" and job["objective"] == pytest.approx(8)
    assert job["options"]["time_limit"] == 20 and job["name"] == "surge"
    assert client.get(f"{location}/result").json == plan
    store = app.extensions["planner"].store
    new_id = location.rsplit("/", 1)[1]
    assert [e["event"] for e in store.events(new_id)] == ["created", "completed"]
    assert validate_request(json.loads(store.request(new_id))).horizon_days == 3
    # Nothing stored is lost: the original job is as it was.
    assert client.get(f"/v1/plans/{job_id}/result").json["transfers"] == []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("replan-service")
    with Server(folder / "jobs.sqlite3", "--workers", "1") as s:
        yield s


def test_chained_replans_over_http(server: Server) -> None:
    submitted = server.post("/v1/plans?time_limit=20", json=surge_request())
    assert submitted.status_code == 202, submitted.text
    first = server.wait_job(submitted.json()["id"], finished)
    assert first["status"] == "succeeded", first

    surge = server.post(f"/v1/plans/{first['id']}/replan", json=SURGE)
    assert surge.status_code == 201, surge.text
    assert surge.json()["changes"]["transfers"]["added"] == [SURGE_TRANSFER]
    second = server.get(surge.headers["Location"]).json()
    assert second["status"] == "succeeded" and second["id"] != first["id"]

    # The next day (day 1 of the replanned plan): O sold its 2 units, the 5 shipped are due
    # today (in transit by default), H holds 15. Everything went as replanned: kept.
    state = {
        "as_of_day": 1,
        "stock": [
            {"sku": "x", "warehouse": "H", "quantity": 15},
            {"sku": "x", "warehouse": "O", "quantity": 0},
        ],
    }
    calm = server.post(f"/v1/plans/{second['id']}/replan", json=state)
    assert calm.status_code == 201, calm.text
    plan = calm.json()
    assert plan["request"]["horizon_days"] == 2 and plan["status"] == "optimal"
    assert plan["changes"]["unchanged"] and plan["changes"]["kept_previous_plan"]
    assert plan["kpis"]["expected_lost_units"] == pytest.approx(0)
    third = server.get(calm.headers["Location"]).json()
    assert third["status"] == "succeeded"
    assert server.get(f"{calm.headers['Location']}/result").json() == plan
    listed = [j["id"] for j in server.get("/v1/plans").json()["items"]]
    assert listed[:3] == [third["id"], second["id"], first["id"]]


def test_openapi_describes_the_replan_route(app: Flask) -> None:
    client = app.test_client()
    spec = client.get("/openapi.json").json
    validate_openapi(spec)
    operation = spec["paths"]["/v1/plans/{id}/replan"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/LiveState"}
    assert {"as_of_day", "sold", "stock", "sales_rate"} <= set(
        spec["components"]["schemas"]["LiveState"]["properties"]
    )
    assert {"201", "404", "409", "422", "503"} <= set(operation["responses"])
    assert "Location" in operation["responses"]["201"]["headers"]
    page = client.get("/docs").get_data(as_text=True)
    assert "POST /v1/plans/{id}/replan" in page and "href='#LiveState'" in page
