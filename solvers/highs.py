"""HiGHS backend through highspy: the matrix model is passed as one column-wise LP."""

from __future__ import annotations

import os
import sys
import time

import highspy
import numpy as np

from solvers.base import (
    ModelSize,
    Progress,
    SolutionKind,
    SolveControl,
    SolveOptions,
    SolveResult,
    Termination,
)
from solvers.matrix import MatrixModel

_MS = highspy.HighsModelStatus

# HiGHS model status -> why the solver stopped. Whether a solution came with it is read
# separately from the primal solution status.
TERMINATION: dict[object, Termination] = {
    _MS.kOptimal: Termination.optimal,
    _MS.kInfeasible: Termination.infeasible,
    _MS.kUnbounded: Termination.unbounded,
    _MS.kUnboundedOrInfeasible: Termination.infeasible_or_unbounded,
    _MS.kTimeLimit: Termination.time_limit,
    _MS.kIterationLimit: Termination.interrupted,
    _MS.kSolutionLimit: Termination.interrupted,
    _MS.kInterrupt: Termination.interrupted,
    _MS.kObjectiveBound: Termination.interrupted,
    _MS.kObjectiveTarget: Termination.interrupted,
    _MS.kModelEmpty: Termination.optimal,
    _MS.kMemoryLimit: Termination.error,
    _MS.kSolveError: Termination.error,
    _MS.kPostsolveError: Termination.error,
    _MS.kLoadError: Termination.error,
    _MS.kModelError: Termination.error,
    _MS.kPresolveError: Termination.error,
    _MS.kNotset: Termination.error,
    _MS.kUnknown: Termination.error,
}


_banner_shown = False


def new_highs() -> highspy.Highs:
    """A Highs instance, without the banner HiGHS writes to stdout on its first construction.

    The banner goes straight to file descriptor 1, so it would corrupt JSON printed on stdout.
    """
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_shown = True
    return h


# An x that comes with these is not a plan: unbounded means the objective has no minimum.
NO_PLAN_TERMINATIONS = (
    Termination.infeasible,
    Termination.unbounded,
    Termination.infeasible_or_unbounded,
    Termination.error,
)


# The sub-MIP heuristics RINS and RENS off, on small models (at most TUNING_MAX_NONZEROS).
# On the seed instances they took most of the solve after the optimum was already found.
# bench/highs_tuning.py, 2 seeds each, same status and optimum both ways: live show 1.87 s ->
# 0.80 s, mid-show surge 0.98 -> 0.61, smart home 1.21 -> 0.91, the other instances equal;
# synthetic 10x3x2x2 (11,700 nonzeros) 95 s (not proven) -> 68 s (optimal); 20x4x3x3 (58,000)
# equal at the 120 s limit. On 100x5x4x3 (463,000) they pay off late: `planner bench` with a
# 600 s limit reached 286,678 in the 480 s first phase with them and 287,804 without (twice).
# Turning every heuristic off (mip_heuristic_effort 0) hurt 20x4x3x3 too.
TUNING: dict[str, bool] = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False}
TUNING_MAX_NONZEROS = 20_000


def tuning_for(model: MatrixModel) -> dict[str, bool]:
    """The options of TUNING this model gets: all of them when it is small, else none."""
    return dict(TUNING) if model.nonzeros <= TUNING_MAX_NONZEROS else {}


class HighsSolver:
    name = "highs"

    def available(self) -> bool:
        return True

    def version(self) -> str:
        return new_highs().version()

    def solve(
        self, model: MatrixModel, options: SolveOptions, control: SolveControl | None = None
    ) -> SolveResult:
        h = new_highs()
        h.setOptionValue("output_flag", bool(options.verbose))
        for name, value in tuning_for(model).items():
            h.setOptionValue(name, value)
        if options.time_limit is not None:
            h.setOptionValue("time_limit", float(options.time_limit))
        if options.mip_gap is not None:
            h.setOptionValue("mip_rel_gap", float(options.mip_gap))
        if options.abs_gap is not None:
            h.setOptionValue("mip_abs_gap", float(options.abs_gap))
        if options.threads is not None:
            # HiGHS keeps one thread pool per process, sized by the first solve; a later solve
            # asking for another size fails unless the pool is rebuilt.
            h.resetGlobalScheduler(True)
            h.setOptionValue("threads", int(options.threads))
        if options.seed is not None:
            h.setOptionValue("random_seed", int(options.seed))

        h.passModel(_to_highs_lp(model))
        if control is not None:
            _attach_control(h, model, control)
        start = time.perf_counter()
        h.run()
        seconds = time.perf_counter() - start

        status = h.getModelStatus()
        termination = TERMINATION.get(status, Termination.error)
        info = h.getInfo()
        is_mip = bool(model.integer.any())
        has_primal = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        if model.num_cols == 0:
            has_primal = termination is Termination.optimal
        x = np.asarray(h.getSolution().col_value, dtype=float) if has_primal else None
        if x is not None and model.num_cols == 0:
            x = np.zeros(0)
        if (
            is_mip
            and termination is Termination.optimal
            and info.mip_gap > 1e-9
            and np.isfinite(info.mip_gap)
        ):
            termination = Termination.gap_reached  # optimal within the requested tolerance
        if termination in (Termination.optimal, Termination.gap_reached) and x is not None:
            solution = SolutionKind.optimal
        elif x is not None and termination not in NO_PLAN_TERMINATIONS:
            solution = SolutionKind.feasible
        else:
            solution, x = SolutionKind.none, None
        objective = float(info.objective_function_value) + 0.0 if x is not None else None
        if is_mip:
            bound = float(info.mip_dual_bound)
            best_bound = bound if np.isfinite(bound) else None
        else:
            best_bound = objective if solution is SolutionKind.optimal else None
        if objective is not None and best_bound is not None and model.num_cols == 0:
            best_bound = objective
        return SolveResult(
            solver=self.name,
            version=h.version(),
            termination=termination,
            solution=solution,
            objective=objective,
            best_bound=best_bound,
            seconds=seconds,
            size=ModelSize.of(model),
            x=x,
            message=h.modelStatusToString(status),
        )


PROGRESS_EVERY_SECONDS = 0.5


def _attach_control(h: highspy.Highs, model: MatrixModel, control: SolveControl) -> None:
    """Wire progress reports, incumbent capture, interruption and a MIP start into HiGHS."""
    last_report = [-PROGRESS_EVERY_SECONDS]

    def report(out: object, force: bool) -> None:
        if control.progress is None:
            return
        now = float(out.running_time)  # type: ignore[attr-defined]
        if not force and now - last_report[0] < PROGRESS_EVERY_SECONDS:
            return
        last_report[0] = now
        incumbent = float(out.mip_primal_bound)  # type: ignore[attr-defined]
        bound = float(out.mip_dual_bound)  # type: ignore[attr-defined]
        gap = float(out.mip_gap)  # type: ignore[attr-defined]
        control.progress(
            Progress(
                seconds=now,
                incumbent=incumbent if np.isfinite(incumbent) else None,
                bound=bound if np.isfinite(bound) else None,
                gap=gap if np.isfinite(gap) and np.isfinite(incumbent) else None,
            )
        )

    def improved(event: highspy.cb.HighsCallbackEvent) -> None:  # type: ignore[name-defined]
        out = event.data_out
        if control.on_incumbent is not None:
            control.on_incumbent(
                float(out.objective_function_value), np.array(out.mip_solution, dtype=float)
            )
        report(out, force=True)

    def interrupt(event: highspy.cb.HighsCallbackEvent) -> None:  # type: ignore[name-defined]
        report(event.data_out, force=False)
        if control.should_stop is not None and control.should_stop():
            event.interrupt()

    def lp_interrupt(event: highspy.cb.HighsCallbackEvent) -> None:  # type: ignore[name-defined]
        if control.should_stop is not None and control.should_stop():
            event.interrupt()

    if model.integer.any():
        h.cbMipImprovingSolution.subscribe(improved)
        h.cbMipInterrupt.subscribe(interrupt)
    if control.should_stop is not None:
        h.cbSimplexInterrupt.subscribe(lp_interrupt)
        h.cbIpmInterrupt.subscribe(lp_interrupt)
    if control.start is not None:
        known = np.flatnonzero(~np.isnan(control.start))
        if known.size:
            h.setSolution(int(known.size), known.astype(np.int32), control.start[known])


def _to_highs_lp(model: MatrixModel) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_ = model.num_cols
    lp.num_row_ = model.num_rows
    lp.col_cost_ = model.c
    lp.offset_ = model.offset
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    a = model.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = model.num_cols
    lp.a_matrix_.num_row_ = model.num_rows
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    if model.integer.any():
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in model.integer
        ]
    return lp
