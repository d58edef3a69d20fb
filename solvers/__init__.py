"""Solver backends behind one small protocol: ``available()`` and ``solve(matrix, options)``."""

from __future__ import annotations

from solvers.base import (
    ModelSize,
    Progress,
    SolutionKind,
    SolveControl,
    SolveOptions,
    Solver,
    SolveResult,
    Termination,
)
from solvers.highs import HighsSolver
from solvers.ortools import OrToolsSolver

BACKENDS: dict[str, type] = {"highs": HighsSolver, "ortools": OrToolsSolver}


class UnknownSolverError(ValueError):
    pass


def get_solver(name: str = "highs") -> Solver:
    try:
        solver: Solver = BACKENDS[name]()
    except KeyError:
        raise UnknownSolverError(
            f"unknown solver {name!r}; available: {', '.join(sorted(BACKENDS))}"
        ) from None
    return solver


__all__ = [
    "BACKENDS",
    "ModelSize",
    "Progress",
    "SolutionKind",
    "SolveControl",
    "SolveOptions",
    "SolveResult",
    "Solver",
    "Termination",
    "UnknownSolverError",
    "get_solver",
]
