"""Bad requests are rejected with the JSON path of the field and the reason, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, two_warehouse_request

from planner.cli import main
from planner.validation import RequestError, parse_json, validate_request


def _errors(raw: Any) -> dict[str, str]:
    with pytest.raises(RequestError) as info:
        validate_request(raw)
    return {e.path: e.reason for e in info.value.errors}


def test_a_valid_request_passes() -> None:
    assert validate_request(two_warehouse_request()).horizon_days == 3


def test_empty_object_names_every_missing_field() -> None:
    errors = _errors({})
    for field in ("horizon_days", "warehouses", "skus", "channels"):
        assert errors[f"$.{field}"] == "required field is missing"


def test_not_an_object() -> None:
    assert "JSON object" in _errors([1, 2])["$"]


def test_broken_json() -> None:
    with pytest.raises(RequestError) as info:
        parse_json('{"horizon_days": 3,')
    assert "not valid JSON" in info.value.errors[0].reason


def test_nan_and_infinity_literals_are_rejected() -> None:
    with pytest.raises(RequestError):
        parse_json('{"horizon_days": NaN}')
    raw = two_warehouse_request()
    raw["stock"][0]["quantity"] = float("inf")
    assert "$.stock[0].quantity" in _errors(raw)


def test_unknown_warehouse_id() -> None:
    raw = two_warehouse_request()
    raw["stock"][0]["warehouse"] = "Z"
    assert _errors(raw) == {"$.stock[0].warehouse": "unknown warehouse 'Z'"}


def test_negative_stock() -> None:
    raw = two_warehouse_request()
    raw["stock"][0]["quantity"] = -5
    assert "greater than or equal to 0" in _errors(raw)["$.stock[0].quantity"]


def test_probabilities_must_sum_to_one() -> None:
    raw = two_warehouse_request()
    raw["scenarios"][0]["probability"] = 0.9
    assert _errors(raw) == {"$.scenarios": "scenario probabilities sum to 0.9, not 1"}


def test_duplicate_ids() -> None:
    raw = two_warehouse_request(warehouses=[{"id": "A"}, {"id": "B"}, {"id": "A"}])
    assert "duplicate id 'A'" in _errors(raw)["$.warehouses[2].id"]


def test_lane_to_itself() -> None:
    raw = two_warehouse_request()
    raw["lanes"][0]["to"] = "A"
    assert "to itself" in _errors(raw)["$.lanes[0].to"]


def test_day_outside_horizon() -> None:
    raw = two_warehouse_request()
    raw["scenarios"][0]["demand"][0]["day"] = 3
    assert "outside the horizon" in _errors(raw)["$.scenarios[0].demand[0].day"]


def test_unknown_field_is_a_typo_not_ignored() -> None:
    raw = two_warehouse_request()
    raw["lanes"][0]["fixed_cots"] = 3
    assert "unknown field" in _errors(raw)["$.lanes[0].fixed_cots"]


def test_salvage_above_purchase_cost_is_rejected() -> None:
    raw = two_warehouse_request(
        suppliers=[{"id": "f", "deliver_to": ["B"], "unit_costs": {"x": 1}}],
        policy={"salvage_fraction": 0.5},  # salvage 2.5 > purchase 1
    )
    assert "buying only to salvage" in _errors(raw)["$.suppliers[0].unit_costs.x"]


CLI_CASES = {
    "broken_json": ("{", "not valid JSON"),
    "empty_object": ("{}", "$.horizon_days: required field is missing"),
    "unknown_warehouse": (
        json.dumps(two_warehouse_request(stock=[{"sku": "x", "warehouse": "Z", "quantity": 1}])),
        "$.stock[0].warehouse: unknown warehouse 'Z'",
    ),
    "negative_stock": (
        json.dumps(two_warehouse_request(stock=[{"sku": "x", "warehouse": "A", "quantity": -1}])),
        "$.stock[0].quantity",
    ),
    "probabilities_0.9": (
        json.dumps(
            two_warehouse_request(scenarios=[{"name": "s", "probability": 0.9, "demand": []}])
        ),
        "$.scenarios: scenario probabilities sum to 0.9, not 1",
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
@pytest.mark.parametrize("command", ["solve", "validate"])
def test_cli_exits_2_naming_the_problem(
    case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = CLI_CASES[case]
    path = tmp_path / "request.json"
    path.write_text(text)
    assert main([command, str(path)]) == 2
    assert expected in capsys.readouterr().err


def test_cli_missing_file_exits_2_without_a_traceback(tmp_path: Path) -> None:
    # A real process, so an uncaught exception would show as a traceback on stderr.
    proc = subprocess.run(
        [sys.executable, "-m", "planner.cli", "solve", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scenarios_or_uncertainty_is_required() -> None:
    raw = two_warehouse_request(scenarios=[])
    assert _errors(raw) == {"$.scenarios": "give at least one scenario, or `uncertainty`"}


def test_deeply_nested_json_is_rejected_not_crashed() -> None:
    with pytest.raises(RequestError) as info:
        parse_json("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in info.value.errors[0].reason


def test_a_sku_listed_twice_by_a_supplier_is_rejected() -> None:
    raw = two_warehouse_request(suppliers=[{"id": "f", "deliver_to": ["B"], "skus": ["x", "x"]}])
    assert "duplicate sku 'x'" in _errors(raw)["$.suppliers[0].skus[1].sku"]


def test_safety_stock_must_name_known_warehouse_and_sku() -> None:
    raw = two_warehouse_request(
        policy={
            "safety_stock": [
                {"warehouse": "Typo", "days": 3},
                {"warehouse": "B", "sku": "nope", "days": 3},
            ]
        }
    )
    assert _errors(raw) == {
        "$.policy.safety_stock[0].warehouse": "unknown warehouse 'Typo'",
        "$.policy.safety_stock[1].sku": "unknown sku 'nope'",
    }
