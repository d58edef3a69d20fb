"""The hand-off between a Pyomo model and a solver backend: plain arrays.

Backends never see Pyomo: they get a :class:`MatrixModel` (min c.x + offset, row_lower <= A x <=
row_upper, col_lower <= x <= col_upper, some x integer) and return values for x, which
:func:`load_solution` writes back into the Pyomo variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # Pyomo is imported only where a model is compiled: solver workers skip it
    import pyomo.environ as pyo


@dataclass(frozen=True)
class MatrixModel:
    c: np.ndarray
    offset: float
    A: sp.csc_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # bool per column
    columns: tuple  # Pyomo VarData per column (for loading values back), or names
    row_names: tuple[str, ...]

    @property
    def num_cols(self) -> int:
        return int(self.c.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.A.shape[0])

    @property
    def nonzeros(self) -> int:
        return int(self.A.nnz)

    @property
    def num_binaries(self) -> int:
        return int((self.integer & (self.col_lower >= 0) & (self.col_upper <= 1)).sum())


def compile_pyomo(model: pyo.ConcreteModel) -> MatrixModel:
    """Compile a linear Pyomo model with one objective into a minimisation MatrixModel."""
    from pyomo.common.enums import ObjectiveSense
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    info = LinearStandardFormCompiler().write(
        model, mixed_form=True, set_sense=ObjectiveSense.minimize
    )
    n = len(info.columns)
    c = np.zeros(n)
    if info.c.shape[0]:
        c = np.asarray(info.c.toarray()[0], dtype=float)
    offset = float(info.c_offset[0]) if len(info.c_offset) else 0.0
    rhs = np.asarray(info.rhs, dtype=float)
    kinds = np.array([row.bound_type for row in info.rows], dtype=int)
    row_lower = np.where(kinds >= 0, np.where(kinds == 0, rhs, -np.inf), rhs)
    row_upper = np.where(kinds <= 0, np.where(kinds == 0, rhs, np.inf), rhs)
    col_lower = np.array([-np.inf if v.lb is None else v.lb for v in info.columns], dtype=float)
    col_upper = np.array([np.inf if v.ub is None else v.ub for v in info.columns], dtype=float)
    integer = np.array([v.is_integer() for v in info.columns], dtype=bool)
    A = sp.csc_array(info.A) if info.A.shape[0] else sp.csc_array((0, n))
    return MatrixModel(
        c=c,
        offset=offset,
        A=A,
        row_lower=row_lower,
        row_upper=row_upper,
        col_lower=col_lower,
        col_upper=col_upper,
        integer=integer,
        columns=tuple(info.columns),
        row_names=tuple(row.constraint.name for row in info.rows),
    )


def load_solution(model: pyo.ConcreteModel, matrix: MatrixModel, x: np.ndarray) -> None:
    """Write solver values into the Pyomo variables.

    Integer columns are rounded to the nearest integer (solvers return 9.9999999 for 10).
    Variables the compiler dropped (they appear in no constraint and not in the objective)
    get the value nearest to 0 within their bounds: any value is optimal for them. Fixed
    variables keep their values.
    """
    import pyomo.environ as pyo

    for var in model.component_data_objects(pyo.Var, active=True):
        if var.fixed:  # a fixed variable is a constant of the model: keep its value
            continue
        lb = var.lb if var.lb is not None else -np.inf
        ub = var.ub if var.ub is not None else np.inf
        var.set_value(float(min(max(0.0, lb), ub)), skip_validation=True)
    for var, value, is_int in zip(matrix.columns, x, matrix.integer, strict=True):
        var.set_value(float(round(value)) if is_int else float(value), skip_validation=True)
