"""`planner` command line: solve, validate, schema.

Exit codes: 0 a plan was produced; 2 the request (or an option) is invalid; 3 no plan exists
(infeasible) or none was found in time; 1 the solver failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from planner.pipeline import run
from planner.schema import PlanRequest
from planner.validation import RequestError, load_request_file
from solvers import BACKENDS, SolveOptions

EXIT_OK, EXIT_SOLVER_ERROR, EXIT_BAD_INPUT, EXIT_NO_PLAN = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad options already; keep its message but no usage dump noise."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"planner: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def _fraction(text: str) -> float:
    value = _positive(text) if text not in ("0", "0.0") else 0.0
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be below 1 (a relative gap such as 0.001)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="planner", description="Optimization-based supply-chain planning.")
    sub = parser.add_subparsers(dest="command", required=True)

    solve = sub.add_parser("solve", help="plan a request and write the plan JSON")
    solve.add_argument("request", help="plan request JSON file")
    solve.add_argument("--time-limit", type=_positive, default=None, help="seconds")
    solve.add_argument("--gap", type=_fraction, default=None, help="relative MIP gap, e.g. 0.001")
    solve.add_argument("--threads", type=int, default=None)
    solve.add_argument("--seed", type=int, default=None)
    solve.add_argument("--solver", choices=sorted(BACKENDS), default="highs")
    solve.add_argument("--out", help="write the plan JSON here")
    solve.add_argument(
        "--json", action="store_true", help="print the plan JSON instead of a summary"
    )
    solve.add_argument("--verbose", action="store_true", help="show the solver log")

    validate = sub.add_parser("validate", help="check a request without solving it")
    validate.add_argument("request")

    sub.add_parser("schema", help="print the plan request JSON Schema")
    for module in _command_modules():
        module.register(sub)
    return parser


# Commands that live beside their own code: each module has register(subparsers), which
# adds a sub-parser with set_defaults(handler=...), the handler taking the parsed args and
# returning an exit code.
COMMAND_MODULES = (
    "api.serve",
    "planner.batch",
    "planner.bench",
    "planner.evaluate",
    "planner.replan",
)


def _command_modules() -> list[Any]:
    import importlib

    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it needs is missing
                raise
    return modules


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    if args.command == "schema":
        print(json.dumps(PlanRequest.model_json_schema(by_alias=True), indent=2))
        return EXIT_OK
    try:
        request = load_request_file(args.request)
    except RequestError as exc:
        print(f"invalid request {args.request}:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err.path}: {err.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "validate":
        print(
            f"{args.request}: valid ({len(request.skus)} SKUs, "
            f"{len(request.warehouses)} warehouses, "
            f"{len(request.channels)} channels, {len(request.scenarios)} scenarios, "
            f"{request.horizon_days} days)"
        )
        return EXIT_OK

    options = SolveOptions(
        time_limit=args.time_limit,
        mip_gap=args.gap,
        threads=args.threads,
        seed=args.seed,
        verbose=args.verbose,
    )
    plan = run(request, options, solver=args.solver)
    if args.out:
        Path(args.out).write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(plan, indent=1))
    else:
        print(summary(plan))
        if args.out:
            print(f"plan written to {args.out}")
    if plan["status"] in ("optimal", "feasible"):
        return EXIT_OK
    if plan["status"] == "error":
        return EXIT_SOLVER_ERROR
    return EXIT_NO_PLAN


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def summary(plan: dict[str, Any], top: int = 10) -> str:
    solver, size = plan["solver"], plan["model"]
    lines = [
        f"plan {plan['request']['name']!r}: {plan['status']} ({plan['message']})",
        f"  objective {_money(plan['objective'])} {plan['request']['currency']}, "
        f"best bound {_money(plan['best_bound'])}, gap "
        + ("-" if plan["gap"] is None else f"{plan['gap']:.4%}"),
        f"  solver {solver['name']} {solver['version']}: {solver['termination']} in "
        f"{solver['seconds']:.2f} s; model {size['variables']} variables "
        f"({size['integer_variables']} integer), {size['constraints']} constraints",
    ]
    diagnosis = plan.get("diagnosis")
    if diagnosis:
        for finding in diagnosis["findings"]:
            lines.append(f"  ! {finding['message']}")
        if diagnosis.get("repair"):
            lines.append(f"  {diagnosis['repair']['message']}")
    changes = plan.get("changes")
    if changes is not None:
        if changes["unchanged"]:
            lines.append("  no change from the previous plan")
        for kind in ("transfers", "orders", "allocations"):
            if kind in changes and not changes["unchanged"]:
                c = changes[kind]
                lines.append(
                    f"  {kind} vs previous plan: {len(c['added'])} added, "
                    f"{len(c['removed'])} removed, {len(c['resized'])} resized"
                )
    if plan["costs"]:
        costs = plan["costs"]
        lines.append(
            "  costs: "
            + ", ".join(f"{k} {_money(v)}" for k, v in costs.items() if k != "total" and abs(v) > 0)
        )
        kpis = plan["kpis"]
        lines.append(
            f"  expected fill rate {kpis['expected_fill_rate']:.1%}, expected lost units "
            f"{kpis['expected_lost_units']:,.0f}, days of supply "
            + ("-" if kpis["days_of_supply"] is None else f"{kpis['days_of_supply']:.1f}")
        )
    transfers = sorted(plan["transfers"], key=lambda x: -x["quantity"])
    if transfers:
        lines.append(f"  transfers ({len(transfers)}, largest first):")
        for x in transfers[:top]:
            lines.append(
                f"    {x['quantity']:>8,} x {x['sku']} {x['from']} -> {x['to']} by {x['mode']}, "
                f"day {x['ship_day']} -> {x['arrive_day']}, {_money(x['cost'])}"
            )
    flown: dict[tuple[str, str, str, str, int, int], float] = defaultdict(float)
    probability = {row["name"]: row["probability"] for row in plan["scenarios"]}
    for x in plan.get("order_shipments") or []:
        key = (x["sku"], x["from"], x["to"], x["mode"], x["ship_day"], x["deliver_day"])
        flown[key] += probability.get(x["scenario"], 0.0) * x["quantity"]
    if flown:
        lines.append(f"  orders shipped along lanes ({len(flown)}, expected units, largest first):")
        largest = sorted(flown.items(), key=lambda item: -item[1])[:top]
        for (sku, origin, to, mode, ship, deliver), q in largest:
            lines.append(
                f"    {q:>8,.0f} x {sku} {origin} -> {to} by {mode} to customers, "
                f"day {ship} -> {deliver}"
            )
    orders = sorted(plan["orders"], key=lambda o: -o["quantity"])
    if orders:
        lines.append(f"  orders ({len(orders)}, largest first):")
        for o in orders[:top]:
            lines.append(
                f"    {o['quantity']:>8,} x {o['sku']} from {o['supplier']} to {o['warehouse']}, "
                f"day {o['order_day']} -> {o['arrive_day']}, {_money(o['cost'])}"
            )
    return "\n".join(lines)


def entry() -> int:
    """Console-script entry: a closed pipe (``planner schema | head``) is not an error."""
    try:
        return main()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(entry())
