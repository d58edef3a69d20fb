"""Every named instance in instances/ validates, solves to proven optimality, and its plan
shows the decision its SEEDS.md case predicts.

The instances are realistic requests built from SEEDS.md (each file's ``notes`` says which
section and what was assumed). Each is solved once per test session through the real
pipeline; the business tests below read the cached plan. A business test asserts only what
follows from the instance's own economics, with the argument in a comment, so a failure means
the model (or the instance) stopped making the decision the case is about.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from planner.pipeline import run
from planner.schema import PlanRequest, PreviousPlan
from planner.validation import load_request_file
from solvers import SolveOptions

try:  # written by another engineer; the instances are checked by it when it exists
    from planner.checker import check_plan
except ImportError:  # pragma: no cover - depends on what is installed
    check_plan = None

INSTANCE_DIR = Path(__file__).resolve().parents[1] / "instances"
INSTANCES = sorted(INSTANCE_DIR.glob("*.json"))
TIME_LIMIT = 60.0


@functools.cache
def request_of(name: str) -> PlanRequest:
    return load_request_file(INSTANCE_DIR / f"{name}.json")


@functools.cache
def plan_of(name: str) -> dict[str, Any]:
    """The plan a user gets with default options (proven optimal within HiGHS' 0.01% gap)."""
    return run(request_of(name), SolveOptions(time_limit=TIME_LIMIT))


# The live show's event rules (shares of stock in pools, locks and the buffer) leave a tail of
# whole-unit rounding that HiGHS proves to 1e-6 in seconds but not to 1e-7 within the limit.
EXACT_GAP = {"glowup_live_show": 1e-6}


@functools.cache
def exact_plan_of(name: str) -> dict[str, Any]:
    """The optimum itself, for the business tests: within the default 0.01% gap a plan may
    still carry a few units that cost a little more than the best choice (e.g. on the
    Ramadan instance 0.01% is $63), and the tests below are about the best choice."""
    plan = run(
        request_of(name), SolveOptions(time_limit=TIME_LIMIT, mip_gap=EXACT_GAP.get(name, 1e-7))
    )
    assert plan["status"] == "optimal", plan["message"]
    return plan


def units(rows: list[dict[str, Any]], **match: Any) -> float:
    """Sum of ``quantity`` over plan rows matching ``match`` (``from_`` stands for ``from``)."""
    match = {("from" if k == "from_" else k): v for k, v in match.items()}
    return sum(r["quantity"] for r in rows if all(r[k] == v for k, v in match.items()))


def test_instances_exist() -> None:
    names = {p.stem for p in INSTANCES}
    assert {
        "glowup_live_show",
        "glowup_ramadan",
        "smart_home_multiplatform",
        "home_goods_us_eu",
        "jd_bonded_direct_mail",
        "glowup_live_show_surge",
    } <= names


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.stem)
def test_instance_validates_and_says_where_its_numbers_come_from(path: Path) -> None:
    request = load_request_file(path)
    assert "SEEDS" in request.notes, "notes must name the SEEDS.md section the numbers come from"


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.stem)
def test_instance_solves_to_proven_optimality(path: Path) -> None:
    plan = plan_of(path.stem)
    assert plan["status"] == "optimal", plan["message"]
    assert plan["costs"]["total"] == plan["objective"]
    assert plan["solver"]["seconds"] < TIME_LIMIT
    if check_plan is not None:
        assert check_plan(request_of(path.stem), plan) == []


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.stem)
def test_warm_started_resolve_of_an_unchanged_instance_reports_no_changes(path: Path) -> None:
    plan = plan_of(path.stem)
    again = run(
        request_of(path.stem).model_copy(
            update={"previous_plan": PreviousPlan.model_validate(plan)}
        ),
        SolveOptions(time_limit=TIME_LIMIT),
    )
    assert again["changes"]["unchanged"] is True
    assert again["plan_hash"] == plan["plan_hash"]


def test_live_show_made_infeasible_on_purpose_is_diagnosed() -> None:
    # Every unit of demand must now be served, but the aggressive scenario sells more
    # highlighters than exist in time: infeasible, and the diagnosis names the rule, the
    # channel and the SKU, and still proposes transfers as the cheapest repair.
    request = request_of("glowup_live_show")
    strict = request.model_copy(
        update={"policy": request.policy.model_copy(update={"serve_all_demand": True})}
    )
    plan = run(strict, SolveOptions(time_limit=TIME_LIMIT))
    assert plan["status"] == "infeasible"
    findings = plan["diagnosis"]["findings"]
    assert any(
        f["rule"] == "serve_all_demand" and f["sku"] == "highlighter" and f["units"] > 0
        for f in findings
    )
    assert plan["diagnosis"]["repair"]["transfers"]


# ---- business decisions, one per SEEDS case ------------------------------------------------


def blush_flown_from_malaysia(plan: dict[str, Any], day: int, scenario: str) -> float:
    """Blush orders flown Malaysia -> Indonesia by air on ``day`` in ``scenario``."""
    return units(
        plan["order_shipments"],
        sku="blush",
        from_="malaysia",
        to="indonesia",
        mode="air",
        ship_day=day,
        scenario=scenario,
    )


def test_live_show_flies_tiktok_orders_from_malaysia_by_air_on_show_day() -> None:
    """SEEDS 1-2: "with a 3-day delivery promise the system picks Malaysia air".

    tiktok_live promises 3 days. Indonesia's stock (2 days) and orders flown from Malaysia
    along the Malaysia -> Indonesia air lane (3 days door to door, $2.30 flight + $1.10 last
    mile) meet it; Korea direct mail (6 days) does not. Indonesia's 1,000 blush are short of
    the show's TikTok demand (1,100 on show day 3 in the optimistic case, plus the tail), so on
    show day the plan flies TikTok blush orders from Malaysia, pays the lane's $120 booking fee
    that day and keeps the day's flights (transfers and orders) within the lane's 1,500 units.
    The palette, held only in Korea, has to fly Korea -> Indonesia before the show.
    """
    plan = exact_plan_of("glowup_live_show")
    show_day = 3
    for scenario in ("optimistic", "aggressive"):
        assert blush_flown_from_malaysia(plan, show_day, scenario) > 0, scenario
    [use] = [
        u
        for u in plan["lane_uses"]
        if u["lane"] == "malaysia-indonesia-air" and u["ship_day"] == show_day
    ]
    assert use["fixed_cost"] == 120 and use["order_units"] > 0
    assert use["units"] + use["order_units"] <= 1500 + 1e-6
    by_show = [t for t in plan["transfers"] if t["arrive_day"] <= show_day]
    assert units(by_show, sku="palette", from_="korea", to="indonesia", mode="air") > 0


def test_live_show_surge_flies_blush_from_malaysia_and_switches_the_rest_to_presale() -> None:
    """SEEDS 1, during the show: blush sells 800 in 5 minutes, Indonesia is down to 200.
    "Transfer Malaysia -> Indonesia"; "with a 3-day delivery promise the system picks Malaysia
    air"; "when live stock is nearly sold out, switch the SKU to presale and lock the next
    inbound batch"; "cut the allocation to Shopee/Lazada to protect the live channel";
    "Indonesia: 200 left, 1-3 days".

    Half an hour of show is left at 2,400 an hour: 1,200 more TikTok orders today (optimistic
    case). Indonesia sells down to its 10% buffer (180 sellable). No transfer lands today (Korea
    air takes 2 days), but an order flown from Malaysia reaches the customer in 3 days: Malaysia
    (1,083 blush) flies TikTok orders in every scenario and, when the show sells at least the
    optimistic forecast, sells its blush to the live channels only: today's Lazada and
    everyday blush orders ship from Korea instead. The
    rest of the TikTok orders switch to presale on the next batch. The storefront shows
    Indonesia's 200 less the buffer.
    """
    plan = exact_plan_of("glowup_live_show_surge")
    for scenario in ("conservative", "optimistic", "aggressive"):
        assert blush_flown_from_malaysia(plan, 0, scenario) > 0, scenario
    for scenario in ("optimistic", "aggressive"):  # Malaysia's blush short of the live orders
        today = [a for a in plan["allocations"] if a["scenario"] == scenario]
        for channel in ("lazada", "everyday"):
            assert units(today, sku="blush", warehouse="malaysia", channel=channel, day=0) == 0
            assert units(today, sku="blush", warehouse="korea", channel=channel, day=0) > 0
    switches = [s for s in plan["presale_switches"] if s["sku"] == "blush"]
    assert any(s["warehouse"] == "indonesia" and s["batch_day"] == 1 for s in switches)
    offers = {o["warehouse"]: o for o in plan["offers"] if o["sku"] == "blush"}
    assert offers["indonesia"]["units"] == 180
    assert offers["indonesia"]["text"] == "indonesia: 180 left, 2-3 days"
    assert all(t["arrive_day"] >= 2 for t in plan["transfers"])


def test_ramadan_tiered_stock_serves_every_conservative_sale_and_uses_reserved_capacity() -> None:
    """SEEDS 1, Ramadan: stock 100% of the conservative forecast, less of the higher tiers;
    rush production uses the capacity reserved for days 10-15.

    The 150,000 units on hand exceed the conservative scenario's demand (about 130,000 with the
    pre-campaign days), and getting a unit to any channel costs at most $3.10 of freight and
    $3.60 of fulfilment against a lost sale of $9-34, so every conservative sale is served.
    The factory's days 0-9 window (15,000 units) is not enough for the optimistic tier, so the
    plan also orders inside the reserved days 10-15 window. The higher the scenario, the larger
    the share it leaves unserved (tiered, not full, cover of the aggressive case).
    """
    plan = exact_plan_of("glowup_ramadan")
    fill = {s["name"]: s["fill_rate"] for s in plan["scenarios"]}
    assert fill["conservative"] == pytest.approx(1.0)
    assert fill["conservative"] >= fill["optimistic"] >= fill["aggressive"]
    assert fill["aggressive"] < 1.0
    reserved = sum(o["quantity"] for o in plan["orders"] if 10 <= o["order_day"] <= 15)
    assert reserved > 0


def test_smart_home_moves_idle_fba_plugs_to_the_tiktok_partner_warehouse() -> None:
    """SEEDS 2: 600 smart plugs idle in Amazon FBA while TikTok demand rises -> move at least
    the seed's 150 units FBA -> TikTok-partner warehouse.

    Amazon sells about 13 plugs a day (182 in the two weeks), TikTok Shop's 3-day promise is met
    only by the TikTok-partner warehouse, which holds 60 against 91-287 units of demand; a plug
    moved costs $1.35 (+$95 per truck) against a $24.99 lost sale. Mug warmers follow the same
    logic towards Wayfair, which sells twice its plan.
    """
    plan = exact_plan_of("smart_home_multiplatform")
    transfers = plan["transfers"]
    assert units(transfers, sku="smart_plug", from_="amazon_fba", to="tiktok_partner") >= 150
    assert units(transfers, sku="mug_warmer", from_="amazon_fba", to="wayfair_castlegate") > 0


def test_home_goods_air_only_bridges_until_the_sea_sailing_lands() -> None:
    """SEEDS 3: choose the carrier by freight cost against time.

    Sea to US West takes 16 days at $1.10 a unit, air 5 days at $6.80 and express 3 days at
    $10.50, and sea space departs daily: once sea can land (day 16), flying to US West only
    costs more. So air and express into US West land before the first sea arrival there, and
    sea and rail carry more units than air and express together.
    """
    plan = exact_plan_of("home_goods_us_eu")
    transfers = plan["transfers"]
    sea_west = [t for t in transfers if t["mode"] == "sea" and t["to"] == "us_west"]
    assert sea_west, "the sea lane to US West should be used"
    first_sea_arrival = min(t["arrive_day"] for t in sea_west)
    fast_west = [t for t in transfers if t["mode"] in ("air", "express") and t["to"] == "us_west"]
    assert all(t["arrive_day"] < first_sea_arrival for t in fast_west)
    slow = sum(t["quantity"] for t in transfers if t["mode"] in ("sea", "rail"))
    fast = sum(t["quantity"] for t in transfers if t["mode"] in ("air", "express"))
    assert slow > fast


def test_jd_long_tail_stays_on_direct_mail_and_best_sellers_go_bonded() -> None:
    """SEEDS 4: best-sellers -> bonded warehouse; long tail and luxury -> direct mail.

    Long-tail and luxury SKUs are sold as direct-mail listings (all their orders are patient,
    14-day orders). Serving a patient order from the bonded warehouse costs sea freight $0.45
    plus $4.90 remote delivery, against $5.00 direct mail from Melbourne, and the 14 days at sea
    save at most $0.14 of Melbourne holding: direct mail is cheaper, so no long-tail unit enters
    the bonded warehouse. Big-city orders (2-day promise) can only be served from bonded stock,
    so best-sellers move there, mostly by sea.
    """
    plan = exact_plan_of("jd_bonded_direct_mail")
    request = request_of("jd_bonded_direct_mail")
    best_sellers = {"infant_formula_s2", "fish_oil_400", "vitamin_c_gummies", "sunscreen_spf50"}
    long_tail = {s.id for s in request.skus} - best_sellers
    into_bonded: dict[str, float] = defaultdict(float)
    by_mode: dict[str, float] = defaultdict(float)
    for t in plan["transfers"]:
        if t["to"] == "bonded_ningbo":
            into_bonded[t["sku"]] += t["quantity"]
            by_mode[t["mode"]] += t["quantity"]
    assert all(into_bonded[k] == 0 for k in long_tail)
    assert all(into_bonded[k] > 0 for k in best_sellers)
    assert by_mode["sea"] > by_mode["air"]
    served_from = {a["warehouse"] for a in plan["allocations"] if a["sku"] in long_tail}
    assert served_from == {"overseas_melbourne"}
