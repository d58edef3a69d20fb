"""OR-Tools backend: SCIP through MathOpt (``SolverType.GSCIP``), fed from plain arrays.

Route (measured on 2 shared cores, figures in the report of issue 5 item 2)
    The matrix reaches OR-Tools as one MathOpt ``ModelProto`` filled from numpy arrays (no
    Python loop over columns, rows or nonzeros: every repeated field is extended from an array)
    and loaded with ``mathopt.Model.from_model_proto``; MathOpt hands it to SCIP 10 (bundled in
    the OR-Tools wheel, with SoPlex as LP solver). The hand-off (proto + model) takes 1 ms for
    cap41 and 25-60 ms for the 20k-nonzero instances (the higher figure on a loaded machine),
    against 0.2-0.4 s for a per-nonzero ``pywraplp`` build and ~0.25 s for the Pyomo compile.

    SCIP is an exact LP-based branch and bound, independent of HiGHS, and the only bundled
    engine that handles the continuous columns of the planning models exactly and proves
    infeasibility and unboundedness; through MathOpt it also reports incumbents, takes hints and
    can be interrupted. CP-SAT (directly, through MathOpt or through ``model_builder``) is much
    faster on some instances but discretises continuous variables: on ``min x + y, 3x + y >= 2,
    x + 3y >= 2`` it returns "optimal" 2.0 with bound 2.0 where the optimum is 1.0, so its
    certificates cannot be trusted for these models (nor can it tell unbounded from infeasible).
    CBC is only reachable through ``pywraplp`` (per-nonzero build, no callbacks).
    ``model_builder`` + SCIP is the same engine with a vectorised hand-off but no incumbent
    callback. HiGHS inside OR-Tools is deliberately not used: the point of this
    backend is a second, independent engine.

Figures (solve seconds to proven optimum, gap 1e-9, one thread, one run at a time on 2 cores
shared with other work, load 1.6-5; hand-off excluded). MO = MathOpt, MB = model_builder,
LP = pywraplp (per-nonzero build); * = time limit (60 s) hit. Every route found the same optimum.
Matrices as compiled on the day of measurement (whole-unit quantities, before the pipeline
solved a continuous-quantity model first).
                     HiGHS  MO+SCIP  MB+SCIP  LP+SCIP  LP+CBC  MO+CP-SAT  CP-SAT direct
    glowup_live_show  37.6      8.8     12.0      7.6     9.5        8.7        4.6
    glowup_ramadan    37.1     28.8     25.2     30.7     5.0       35.2       20.9
    cap41              0.5      0.1      0.1      0.0     0.1        0.2        0.2
    cap131             2.9     13.7     40.4     60.0*    1.1        0.1        0.1
    k10x90             1.2      0.4      0.3      0.4     0.8        0.6        0.6
    r20x100           16.7      4.5      4.2        -    35.2       38.0          -
    g40x132           31.4     14.0     14.2        -    79.8       24.8          -
    l121x232          12.8      0.3      0.3        -     0.4        0.8          -
    beasleyC1          9.8     18.1     12.8        -     4.5        1.5          -
SCIP's times vary a lot with the search path (cap131: 13-60 s for the same engine).

What the backend honours (SolveOptions)
    time_limit   SCIP ``limits/time`` (wall clock, includes presolve).
    mip_gap      SCIP ``limits/gap``; when None, 1e-4 (HiGHS' default ``mip_rel_gap``), not
                 SCIP's own 0, so that ``--solver`` swaps the engine, not the tolerance.
    abs_gap      SCIP ``limits/absgap``; when None, 1e-6 (HiGHS' default ``mip_abs_gap``).
    threads      passed on (SCIP ``parallel/maxnthreads``), but SCIP's branch and bound is
                 sequential in this build: it always runs on one core, whatever the value.
    seed         SCIP ``randomization/randomseedshift`` (taken modulo 2**31 - 1, SCIP's range).
                 One core and a fixed seed make the search deterministic.
    verbose      SCIP's log on stdout (MathOpt ``enable_output``).

What the backend honours (SolveControl), for models with integer columns
    start         supported: the known (non-NaN) entries go to SCIP as a partial solution
                  hint; SCIP completes and checks it, and ignores it when it is infeasible.
    progress      supported, from SCIP's progress table (MathOpt message callback, SCIP
                  ``display/freq`` set to LOG_EVERY_NODES): on every improved incumbent and
                  at most every PROGRESS_EVERY_SECONDS otherwise, whenever SCIP writes a row
                  (each root separation round, each new incumbent, every LOG_EVERY_NODES
                  nodes). The table prints 7 significant digits: incumbent and bound are
                  rounded to that unless on_incumbent is also given (then the incumbent is
                  exact). Nothing during presolve. Reading the log leaves the search as it is.
    on_incumbent  supported, through MathOpt's ``MIP_SOLUTION`` callback: each solution SCIP
                  accepts that improves on the best so far, with its objective (offset
                  included) and x in column order. MathOpt implements SCIP callbacks as an
                  extra constraint handler, and its presence changes SCIP's search path, so it
                  is registered only when a caller asks for incumbents. The change is not a
                  steady cost but a different path (1 thread, gap 1e-9, cap131: seed 1
                  13 s -> 110 s, seed 2 40 s -> 24 s, seed 3 27 s -> 26 s; g40x132 24 s ->
                  20 s). A solve with on_incumbent can hence end on another optimal plan than
                  the same solve without it; with the same controls, one seed gives one plan.
    should_stop   supported: polled every STOP_POLL_SECONDS by a watcher thread (so it is
                  called from another thread), and at every log row and callback; then SCIP
                  is interrupted through a MathOpt ``SolveInterrupter`` and the solve returns
                  its best incumbent with termination ``interrupted``. SCIP acts on the
                  interruption at its next node, not inside one: during a long root node it
                  can take seconds (synthetic 6x3x2x2, loaded machine: asked at 1.5 s,
                  returned at 4.5-8.5 s); SCIP's own time limit has no such delay.
                  A flag set by a Python signal handler (``solvers.worker``) is seen at the
                  next log row: Python runs signal handlers in the main thread, which is
                  inside SCIP, only when a callback brings it back to Python.
    Pure LPs: start, progress and on_incumbent do nothing (SCIP reports no progress while it
    solves an LP); should_stop goes through the same interrupter.

Known quirks of OR-Tools 9.15 (SCIP 10)
    - An interrupter (should_stop) or a callback (on_incumbent) makes SCIP print two ``ERROR``
      lines on stderr ("SCIPcatchEvent does not support variable or row change events"); the
      solve, the callback and the interruption still work (checked by the tests). Solves
      without should_stop and on_incumbent print nothing.
    - MathOpt's conversion of solver errors to Python exceptions is itself broken
      (``'StatusNotOk' object has no attribute 'canonical_code'``); the backend catches any
      exception from the solve and returns termination ``error`` with the underlying message.
    - "Deactivated symmetry handling methods, since SCIP was built without symmetry detector"
      (in SCIP's log): the bundled SCIP cannot exploit symmetry, which may cost it time on
      symmetric models (not measured).
"""

from __future__ import annotations

import datetime
import importlib.util
import math
import threading
import time
from functools import cache
from typing import Any

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

# MathOpt (termination reason, limit) -> why the solver stopped; keyed by enum names so that
# OR-Tools (0.5 s to import) is loaded only when this backend solves. Whether a solution came
# with it is read separately from the result's primal solutions.
_LIMITS: dict[str, Termination] = {
    "TIME": Termination.time_limit,
    "INTERRUPTED": Termination.interrupted,
    "NODE": Termination.interrupted,
    "SOLUTION": Termination.interrupted,
    "ITERATION": Termination.interrupted,
    "OBJECTIVE": Termination.interrupted,
    "SLOW_PROGRESS": Termination.interrupted,
    "OTHER": Termination.interrupted,
    "MEMORY": Termination.error,
    "NORM": Termination.error,
    "UNDETERMINED": Termination.error,
}
TERMINATION: dict[tuple[str, str | None], Termination] = {
    ("OPTIMAL", None): Termination.optimal,  # SCIP's GAP_LIMIT too: see gap_reached below
    ("INFEASIBLE", None): Termination.infeasible,
    ("UNBOUNDED", None): Termination.unbounded,
    ("INFEASIBLE_OR_UNBOUNDED", None): Termination.infeasible_or_unbounded,
    ("IMPRECISE", None): Termination.error,
    ("NUMERICAL_ERROR", None): Termination.error,
    ("OTHER_ERROR", None): Termination.error,
    **{("FEASIBLE", limit): term for limit, term in _LIMITS.items()},
    **{("NO_SOLUTION_FOUND", limit): term for limit, term in _LIMITS.items()},
}

DEFAULT_MIP_GAP = 1e-4  # HiGHS' default mip_rel_gap
DEFAULT_ABS_GAP = 1e-6  # HiGHS' default mip_abs_gap
GAP_REACHED_ABOVE = 1e-9  # an "optimal" MIP with a larger relative gap reports gap_reached
PROGRESS_EVERY_SECONDS = 0.5
LOG_EVERY_NODES = 10  # SCIP's display/freq while progress or should_stop is wanted
STOP_POLL_SECONDS = 0.05
_SEED_RANGE = 2**31 - 1


@cache
def _versions() -> str:
    import ortools
    from ortools.linear_solver import pywraplp

    scip = pywraplp.Solver.CreateSolver("SCIP")
    engine = scip.SolverVersion() if scip is not None else "SCIP (version unknown)"
    return f"{ortools.__version__} (MathOpt GSCIP: {engine})"


class OrToolsSolver:
    name = "ortools"

    def available(self) -> bool:
        return importlib.util.find_spec("ortools") is not None

    def version(self) -> str:
        return _versions()

    def solve(
        self, model: MatrixModel, options: SolveOptions, control: SolveControl | None = None
    ) -> SolveResult:
        from ortools.math_opt.python import mathopt

        mo_model = mathopt.Model.from_model_proto(to_model_proto(model))
        params = _parameters(mathopt, options)
        session = _Session(mathopt, model, mo_model, control)
        session.tune(params)

        start = time.perf_counter()
        try:
            with session.watching():
                res = mathopt.solve(
                    mo_model,
                    mathopt.SolverType.GSCIP,
                    params=params,
                    model_params=session.model_parameters(),
                    msg_cb=session.on_log if session.wants_log else None,
                    callback_reg=session.registration(),
                    cb=session.callback if session.has_callback else None,
                    interrupter=session.interrupter,
                )
        except Exception as exc:
            return self._error(model, exc, time.perf_counter() - start)
        seconds = time.perf_counter() - start

        reason = res.termination.reason.name
        limit = res.termination.limit.name if res.termination.limit is not None else None
        termination = TERMINATION.get((reason, limit), Termination.error)
        is_mip = bool(model.integer.any())

        x = None
        if res.has_primal_feasible_solution() and termination not in (
            Termination.infeasible,
            Termination.unbounded,
            Termination.infeasible_or_unbounded,
            Termination.error,
        ):
            x = _values(res.solutions[0].primal_solution.variable_values, model.num_cols)
        objective = float(res.objective_value()) + 0.0 if x is not None else None
        bound = float(res.termination.objective_bounds.dual_bound)
        best_bound = bound if math.isfinite(bound) else None
        if not is_mip:
            best_bound = objective if termination is Termination.optimal else None
        if (
            is_mip
            and termination is Termination.optimal
            and objective is not None
            and best_bound is not None
            and objective - best_bound > GAP_REACHED_ABOVE * max(1.0, abs(objective))
        ):
            termination = Termination.gap_reached  # optimal within the requested tolerance
        if termination in (Termination.optimal, Termination.gap_reached) and x is not None:
            solution = SolutionKind.optimal
        elif x is not None:
            solution = SolutionKind.feasible
        else:
            solution = SolutionKind.none
        return SolveResult(
            solver=self.name,
            version=self.version(),
            termination=termination,
            solution=solution,
            objective=objective,
            best_bound=best_bound,
            seconds=seconds,
            size=ModelSize.of(model),
            x=x,
            message=_message(res),
        )

    def _error(self, model: MatrixModel, exc: BaseException, seconds: float) -> SolveResult:
        # MathOpt fails to convert a solver's error status (see the module docstring): the
        # status with the real message is then the context of the AttributeError.
        cause: BaseException = exc
        seen: BaseException | None = exc
        while seen is not None:
            if type(seen).__name__ == "StatusNotOk":
                cause = seen
                break
            seen = seen.__context__
        return SolveResult(
            solver=self.name,
            version=self.version(),
            termination=Termination.error,
            solution=SolutionKind.none,
            objective=None,
            best_bound=None,
            seconds=seconds,
            size=ModelSize.of(model),
            x=None,
            message=f"{type(cause).__name__}: {cause}",
        )


def to_model_proto(model: MatrixModel) -> Any:
    """The matrix model as a MathOpt ModelProto (minimisation), built from arrays.

    Variable and constraint ids are the column and row positions, so solution values come
    back keyed by column index.
    """
    from ortools.math_opt import model_pb2

    proto = model_pb2.ModelProto()
    n, m = model.num_cols, model.num_rows
    variables = proto.variables
    variables.ids.extend(np.arange(n, dtype=np.int64))
    variables.lower_bounds.extend(np.asarray(model.col_lower, dtype=float))
    variables.upper_bounds.extend(np.asarray(model.col_upper, dtype=float))
    variables.integers.extend(np.asarray(model.integer, dtype=bool))

    objective = proto.objective
    objective.maximize = False
    objective.offset = float(model.offset)
    c = np.asarray(model.c, dtype=float)
    nz = np.flatnonzero(c)
    objective.linear_coefficients.ids.extend(nz.astype(np.int64))
    objective.linear_coefficients.values.extend(c[nz])

    rows = proto.linear_constraints
    rows.ids.extend(np.arange(m, dtype=np.int64))
    rows.lower_bounds.extend(np.asarray(model.row_lower, dtype=float))
    rows.upper_bounds.extend(np.asarray(model.row_upper, dtype=float))

    # MathOpt wants the matrix row-major, sorted, without duplicates or explicit zeros.
    a = model.A.tocsr(copy=True)
    a.sum_duplicates()
    a.eliminate_zeros()
    a.sort_indices()
    row_ids = np.repeat(np.arange(m, dtype=np.int64), np.diff(a.indptr))
    matrix = proto.linear_constraint_matrix
    matrix.row_ids.extend(row_ids)
    matrix.column_ids.extend(a.indices.astype(np.int64))
    matrix.coefficients.extend(a.data.astype(float))
    return proto


def _parameters(mathopt: Any, options: SolveOptions) -> Any:
    params = mathopt.SolveParameters(
        enable_output=bool(options.verbose),
        relative_gap_tolerance=float(
            DEFAULT_MIP_GAP if options.mip_gap is None else options.mip_gap
        ),
        absolute_gap_tolerance=float(
            DEFAULT_ABS_GAP if options.abs_gap is None else options.abs_gap
        ),
    )
    if options.time_limit is not None:
        params.time_limit = datetime.timedelta(seconds=max(0.0, float(options.time_limit)))
    if options.threads is not None:
        params.threads = max(1, int(options.threads))
    if options.seed is not None:
        params.random_seed = int(options.seed) % _SEED_RANGE
    return params


def _values(values: dict, n: int) -> np.ndarray:
    """MathOpt {Variable: value} (ids are column positions) -> array in column order."""
    x = np.zeros(n)
    if values:
        ids = np.fromiter((v.id for v in values), dtype=np.int64, count=len(values))
        x[ids] = np.fromiter(values.values(), dtype=float, count=len(values))
    return x


def _message(res: Any) -> str:
    detail = res.termination.detail
    reason = res.termination.reason.name.lower()
    if res.termination.limit is not None:
        reason += f" ({res.termination.limit.name.lower()} limit)"
    return f"{reason}: {detail}" if detail else reason


class _Session:
    """Wires one solve's SolveControl into MathOpt: hint, log, callback and interruption."""

    def __init__(self, mathopt: Any, model: MatrixModel, mo_model: Any, control: Any) -> None:
        self.mathopt = mathopt
        self.model = model
        self.mo_model = mo_model
        self.control: SolveControl = control or SolveControl()
        c = self.control
        is_mip = bool(model.integer.any())
        # The MIP_SOLUTION callback changes SCIP's search path (see the module docstring):
        # only for a caller that wants the incumbents themselves.
        self.has_callback = is_mip and c.on_incumbent is not None
        # SCIP's log carries the progress figures, and each line runs Python code in the
        # solving thread (so that pending signal handlers run, see should_stop).
        self.wants_log = is_mip and (c.progress is not None or c.should_stop is not None)
        self.interrupter = None
        if c.should_stop is not None:
            from ortools.util.python import solve_interrupter

            self.interrupter = solve_interrupter.SolveInterrupter()
        self.started = time.perf_counter()
        self.best: float | None = None  # exact objective of the best incumbent seen
        self.columns: list[str] | None = None  # the log table's column names
        self.log_primal: float | None = None
        self.log_bound: float | None = None
        self.last_report = -math.inf
        self.stop_requested = False

    def model_parameters(self) -> Any:
        mathopt = self.mathopt
        start = self.control.start
        if start is None:
            return None
        start = np.asarray(start, dtype=float)
        known = np.flatnonzero(~np.isnan(start))
        if known.size == 0:
            return None
        get = self.mo_model.get_variable
        hint = mathopt.SolutionHint(variable_values={get(int(j)): float(start[j]) for j in known})
        return mathopt.ModelSolveParameters(solution_hints=[hint])

    def tune(self, params: Any) -> None:
        """A log line at least every LOG_EVERY_NODES nodes (display only, no effect on the
        search)."""
        if self.wants_log:
            params.gscip.int_params["display/freq"] = LOG_EVERY_NODES

    def registration(self) -> Any:
        mathopt = self.mathopt
        if not self.has_callback:
            return mathopt.CallbackRegistration()
        return mathopt.CallbackRegistration(
            events={mathopt.Event.MIP_SOLUTION}, mip_solution_filter=mathopt.SparseVectorFilter()
        )

    def callback(self, data: Any) -> Any:
        """MIP_SOLUTION: every solution SCIP accepts, improving or not."""
        mathopt = self.mathopt
        c = self.control
        if data.solution is not None and c.on_incumbent is not None:
            x = _values(data.solution, self.model.num_cols)
            objective = float(self.model.c @ x + self.model.offset)
            if self.best is None or objective < self.best - 1e-9 * max(1.0, abs(objective)):
                self.best = objective
                c.on_incumbent(objective, x)
                self._report(force=True)
        if self._stopping():
            return mathopt.CallbackResult(terminate=True)
        return mathopt.CallbackResult()

    def on_log(self, lines: list[str]) -> None:
        """SCIP's progress table: a header naming the columns, then one row per report, with
        a heuristic's letter in front of the rows that bring a new incumbent."""
        improved = False
        for line in lines:
            if "|" not in line:
                continue
            cells = [cell.strip() for cell in line.split("|")]
            if "primalbound" in cells and "dualbound" in cells:
                self.columns = cells
                continue
            if self.columns is None or len(cells) != len(self.columns):
                continue
            row = dict(zip(self.columns, cells, strict=True))
            primal = _log_number(row["primalbound"])
            bound = _log_number(row["dualbound"])
            if primal is not None and (self.log_primal is None or primal < self.log_primal):
                improved = True
                self.log_primal = primal
            if bound is not None:
                self.log_bound = bound
        if improved or self.columns is not None:
            self._report(force=improved)
        self._stopping()

    def _stopping(self) -> bool:
        if self.control.should_stop is None:
            return False
        if not self.stop_requested and self.control.should_stop():
            self.stop_requested = True
            if self.interrupter is not None:
                self.interrupter.interrupt()
        return self.stop_requested

    def _report(self, force: bool) -> None:
        progress = self.control.progress
        if progress is None:
            return
        seconds = time.perf_counter() - self.started
        if not force and seconds - self.last_report < PROGRESS_EVERY_SECONDS:
            return
        self.last_report = seconds
        # The exact incumbent when the callback saw it, else the log's (7 significant digits).
        incumbent = self.best
        if self.log_primal is not None and (
            incumbent is None or self.log_primal < incumbent - 1e-6 * max(1.0, abs(incumbent))
        ):
            incumbent = self.log_primal
        bound = self.log_bound
        if bound is not None and incumbent is not None:
            bound = min(bound, incumbent)  # both may be rounded in the log
        gap = None
        if incumbent is not None and bound is not None:
            gap = max(0.0, (incumbent - bound) / max(1e-9, abs(incumbent)))
        progress(Progress(seconds=seconds, incumbent=incumbent, bound=bound, gap=gap))

    def watching(self) -> _Watcher:
        return _Watcher(self)


def _log_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None  # "--": nothing yet
    return value if math.isfinite(value) else None


class _Watcher:
    """Polls should_stop in a thread while SCIP runs (the solve releases the GIL)."""

    def __init__(self, session: _Session) -> None:
        self.session = session
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Watcher:
        s = self.session
        s.started = time.perf_counter()
        if s.interrupter is not None and s.control.should_stop is not None:
            self.thread = threading.Thread(target=self._run, name="ortools-stop", daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        while not self.done.wait(STOP_POLL_SECONDS):
            if self.session._stopping():
                return

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()
