"""The solver protocol: a matrix model in, a :class:`SolveResult` out.

A result keeps two questions apart, as Pyomo's solver layer does: why the solver stopped
(:class:`Termination`) and what it produced (:class:`SolutionKind`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from solvers.matrix import MatrixModel


class Termination(StrEnum):
    optimal = "optimal"
    time_limit = "time_limit"
    gap_reached = "gap_reached"
    infeasible = "infeasible"
    unbounded = "unbounded"
    infeasible_or_unbounded = "infeasible_or_unbounded"
    interrupted = "interrupted"
    error = "error"


class SolutionKind(StrEnum):
    optimal = "optimal"
    feasible = "feasible"
    none = "none"


@dataclass(frozen=True)
class SolveOptions:
    time_limit: float | None = None  # seconds
    mip_gap: float | None = None  # relative
    abs_gap: float | None = None
    threads: int | None = None
    seed: int | None = None
    verbose: bool = False


@dataclass(frozen=True)
class Progress:
    """What a solver knows mid-solve (minimisation): best plan cost so far and proven bound."""

    seconds: float
    incumbent: float | None
    bound: float | None
    gap: float | None


@dataclass
class SolveControl:
    """Live hooks into a solve.

    progress: called with a :class:`Progress` whenever the solver reports one (at least on
    each improved incumbent); keep it cheap.
    should_stop: polled by the solver; returning True interrupts the solve, which then returns
    its best incumbent (termination ``interrupted``).
    start: a MIP start, one value per column (NaN where unknown); the solver may repair or
    ignore it.
    on_incumbent: called with (objective, x) for each improved incumbent, so a caller that
    has to kill the solve can still return the best plan found.
    """

    progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    start: np.ndarray | None = None
    on_incumbent: Callable[[float, np.ndarray], None] | None = None


@dataclass(frozen=True)
class ModelSize:
    variables: int
    integer_variables: int
    binary_variables: int
    constraints: int
    nonzeros: int

    @classmethod
    def of(cls, model: MatrixModel) -> ModelSize:
        return cls(
            variables=model.num_cols,
            integer_variables=int(model.integer.sum()),
            binary_variables=model.num_binaries,
            constraints=model.num_rows,
            nonzeros=model.nonzeros,
        )


@dataclass(frozen=True)
class SolveResult:
    solver: str
    version: str
    termination: Termination
    solution: SolutionKind
    objective: float | None
    best_bound: float | None
    seconds: float
    size: ModelSize
    x: np.ndarray | None = field(default=None, repr=False)
    message: str = ""

    @property
    def has_solution(self) -> bool:
        return self.solution is not SolutionKind.none and self.x is not None


class Solver(Protocol):
    name: str

    def available(self) -> bool: ...

    def version(self) -> str: ...

    def solve(
        self, model: MatrixModel, options: SolveOptions, control: SolveControl | None = None
    ) -> SolveResult: ...
