"""Build the network plan for a solve: the vectorised arrays where they cover the request,
else the Pyomo model; the pipeline sees one interface either way.

``PLANNER_BUILD=pyomo`` (or ``build="pyomo"``) forces the Pyomo model, the readable reference
(the baseline of the benchmark and of the identity tests); ``arrays`` or ``auto`` (the
default) use :func:`models.network_plan_arrays.build_network_arrays` wherever
:func:`models.network_plan_arrays.supports` the request. Both give the same matrix, column for
column and row for row (``tests/test_network_arrays.py``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyomo.environ as pyo

from models.data import NetworkData
from models.network_plan import build_network_plan, decision_index
from models.network_plan_arrays import ArrayModel, build_network_arrays, supports
from solvers.matrix import MatrixModel, compile_pyomo, load_solution

BUILD_ENV = "PLANNER_BUILD"
BUILDS = ("auto", "arrays", "pyomo")
Index = tuple[Any, ...]
Fixed = dict[str, dict[Index, float]]  # family -> index -> value


def chosen_build(data: NetworkData, build: str | None = None) -> str:
    """``arrays`` or ``pyomo``: what :func:`build_model` builds for ``data``."""
    how = (build or os.environ.get(BUILD_ENV) or "auto").strip().lower()
    if how not in BUILDS:
        raise ValueError(f"{BUILD_ENV} must be one of {', '.join(BUILDS)}, not {how!r}")
    return "arrays" if how != "pyomo" and supports(data) else "pyomo"


class BuiltModel:
    """A built, compiled model: its matrix and where each variable sits in it."""

    matrix: MatrixModel
    kind: str

    def column_keys(self) -> list[tuple[str, Index]]:
        """(family, index) of every matrix column."""
        raise NotImplementedError

    def family_keys(self, name: str) -> list[Index]:
        """Every index of a variable family, in the model's order (empty if none)."""
        raise NotImplementedError

    def family_columns(self, names: tuple[str, ...]) -> np.ndarray:
        """Matrix columns of the given variable families."""
        keys = self.column_keys()
        return np.array([i for i, (name, _) in enumerate(keys) if name in names], dtype=np.int64)

    def fixed_values(self) -> dict[tuple[str, Index], float]:
        """(family, index) -> value of every fixed variable."""
        raise NotImplementedError

    def solution(self, x: np.ndarray) -> Any:
        """An object with one mapping per variable family (index -> value, read with
        ``pyo.value``), as :func:`planner.plan.extract_plan` reads the Pyomo model."""
        raise NotImplementedError


class PyomoBuilt(BuiltModel):
    kind = "pyomo"

    def __init__(self, data: NetworkData, whole_units: bool, fixed: Fixed | None) -> None:
        self.model = build_network_plan(data, whole_units=whole_units)
        for name, values in (fixed or {}).items():
            component = getattr(self.model, name)
            for index, value in values.items():
                if index in component:
                    component[index].fix(value)
        self.matrix = compile_pyomo(self.model)
        self._keys: list[tuple[str, Index]] | None = None

    def column_keys(self) -> list[tuple[str, Index]]:
        if self._keys is None:
            self._keys = [(v.parent_component().local_name, v.index()) for v in self.matrix.columns]
        return self._keys

    def family_keys(self, name: str) -> list[Index]:
        component = getattr(self.model, name, None)
        return list(component) if component is not None else []

    def fixed_values(self) -> dict[tuple[str, Index], float]:
        return {
            (v.parent_component().local_name, v.index()): float(v.value)
            for v in self.model.component_data_objects(pyo.Var)
            if v.fixed
        }

    def solution(self, x: np.ndarray) -> pyo.ConcreteModel:
        load_solution(self.model, self.matrix, x)
        return self.model


class ArraysBuilt(BuiltModel):
    kind = "arrays"

    def __init__(self, data: NetworkData, whole_units: bool, fixed: Fixed | None) -> None:
        self.arrays: ArrayModel = build_network_arrays(data, whole_units, fixed)
        self.matrix = self.arrays.matrix
        self._keys: list[tuple[str, Index]] | None = None

    def column_keys(self) -> list[tuple[str, Index]]:
        if self._keys is None:
            self._keys = self.arrays.column_keys()
        return self._keys

    def family_keys(self, name: str) -> list[Index]:
        family = self.arrays.families.get(name)
        return family.keys() if family is not None else []

    def family_columns(self, names: tuple[str, ...]) -> np.ndarray:
        return self.arrays.family_columns(names)

    def fixed_values(self) -> dict[tuple[str, Index], float]:
        out = {}
        for name, values in self.arrays.fixed.items():
            where = np.flatnonzero(~np.isnan(values))
            if where.size:
                keys = self.arrays.families[name].keys()
                out.update({(name, keys[i]): float(values[i]) for i in where.tolist()})
        return out

    def solution(self, x: np.ndarray) -> Any:
        return self.arrays.solution(x)


def build_model(
    data: NetworkData,
    whole_units: bool = True,
    fixed: Fixed | None = None,
    build: str | None = None,
) -> BuiltModel:
    """The model of ``build_network_plan(data, whole_units=...)`` compiled, with the variables
    in ``fixed`` fixed; arrays or Pyomo as :func:`chosen_build` says. Raises
    ``InfeasibleConstraintException`` when the fixed values alone break a rule."""
    if chosen_build(data, build) == "arrays":
        return ArraysBuilt(data, whole_units, fixed)
    return PyomoBuilt(data, whole_units, fixed)


def index_keys(data: NetworkData) -> Any:
    """family -> its indices (ship, use, order, place, serve), without building a model."""
    index = decision_index(data)
    return lambda name: index.get(name, [])
