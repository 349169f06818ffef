"""Groups of samples and task boundaries: names, codes, and which task a group belongs to.

A *group* is given per sample (``probe=(x, y, groups)`` or ``cam.log(..., groups=...)``): an
integer or a string each (a list, a NumPy array or a tensor). A monitor keeps one group-name list
(:class:`GroupNames`); a sample travels as its *code*, the index of its group's name in that list
(``-1``: no group). The list only grows, so a code means the same group in every frame of a run.
Integer groups are named by their decimal string (``3`` → ``"3"``) and enter the list in sorted
order; string groups in the order they first appear. ``None``, NaN, ``""`` and negative integers
mean "no group" (as negative labels mean "no label").

Per-group metrics are named ``f"{metric}@{group}"`` (:func:`group_metric_name`) for each metric of
:data:`GROUP_METRICS`. A *task boundary* is ``{"step": s, "name": n}`` (``cam.task(n)`` at step
``s``); :func:`task_of` says which task a group was trained in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..contract import GROUP_METRICS, GROUP_SEP
from ._arrays import to_numpy

__all__ = [
    "GROUP_METRICS",
    "MAX_GROUPS",
    "GroupNames",
    "group_metric_name",
    "split_group_metric",
    "task_boundary",
    "task_of",
]


def group_metric_name(metric: str, group: str) -> str:
    """The name under which ``metric`` of ``group`` travels: ``"accuracy@0-4"``."""
    return f"{metric}{GROUP_SEP}{group}"


def split_group_metric(name: str) -> tuple[str, str] | None:
    """``(metric, group)`` of a per-group metric name; ``None`` for any other name."""
    metric, sep, group = name.partition(GROUP_SEP)
    if sep and metric in GROUP_METRICS:
        return metric, group
    return None


def task_of(name: str, tasks: Sequence[Any]) -> int | None:
    """The index in ``tasks`` of the task group ``name`` was trained in: the latest task of the
    same name; for an integer group ``g`` with no task of its name, the ``g``-th task marked
    (groups 0, 1, 2 ... are the tasks in order); ``None`` otherwise (a string group is matched by
    name only: the order in which string groups first appear says nothing about their tasks)."""
    for i in range(len(tasks) - 1, -1, -1):
        if str(tasks[i]["name"]) == name:
            return i
    if name.isdigit() and int(name) < len(tasks):
        return int(name)
    return None


#: Most groups a monitor keeps: a group is a task or a split, not a sample. Samples of groups
#: beyond it travel without a group (and it is reported), so frames and per-group work stay small.
MAX_GROUPS = 64


class GroupNames:
    """A monitor's group-name list: the codes of every frame index into it (see module doc)."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self.names: tuple[str, ...] = ()  # a snapshot that frames can share (never mutated)

    def encode(self, values: Any, n: int) -> np.ndarray | None:
        """The codes of ``values`` (one group per sample, ``n`` samples) as an int32 vector
        (``-1``: no group), adding new names to the list; ``None`` when no sample has a group.

        Raises ``ValueError`` (wrong length, non-integer numbers, more than :data:`MAX_GROUPS`
        groups) or ``TypeError`` (neither an integer nor a string) with a plain message; the list
        is unchanged then.
        """
        keys, numeric = _group_keys(values, n)
        valid = keys >= 0 if numeric else keys != ""
        if not valid.any():
            return None
        uniq, first, inverse = np.unique(keys[valid], return_index=True, return_inverse=True)
        names = [str(int(u)) if numeric else str(u) for u in uniq]
        order = range(len(uniq)) if numeric else np.argsort(first, kind="stable")
        new = [names[i] for i in order if names[i] not in self._index]
        if len(self._names) + len(new) > MAX_GROUPS:
            raise ValueError(
                f"groups would make {len(self._names) + len(new)} distinct groups, more than "
                f"{MAX_GROUPS}: a group is a task or a split of the data, not a sample (pass ids= "
                "to name samples)"
            )
        for i in order:  # integers sorted, strings in order of first appearance
            if names[i] not in self._index:
                self._index[names[i]] = len(self._names)
                self._names.append(names[i])
        if len(self._names) != len(self.names):
            self.names = tuple(self._names)
        lookup = np.array([self._index[name] for name in names], dtype=np.int32)
        codes = np.full(n, -1, dtype=np.int32)
        codes[valid] = lookup[inverse.reshape(-1)]
        return codes


def _group_keys(values: Any, n: int) -> tuple[np.ndarray, bool]:
    """One key per sample and whether the keys are integers (int64, ``-1``: no group) or
    strings (``""``: no group)."""
    if isinstance(values, str | bytes):
        raise TypeError(
            "groups must give one group per sample (a list, array or tensor of integers or "
            f"strings), got a single string {values!r}"
        )
    arr = to_numpy(values, "groups")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(
            f"groups must give one group per sample (a 1-D list or array), got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise ValueError(f"groups has {arr.shape[0]} entries but there are {n} samples")
    kind = arr.dtype.kind
    if kind in "biu":
        return np.where(arr.astype(np.int64) >= 0, arr.astype(np.int64), -1), True
    if kind == "f":
        return np.array([_float_key(v) for v in arr.tolist()], dtype=np.int64), True
    if kind in "US":
        return arr.astype(str), False
    if kind == "O":
        keys = [_object_key(v) for v in arr.tolist()]
        if all(k is None or isinstance(k, int) for k in keys):
            return np.array([-1 if k is None else k for k in keys], dtype=np.int64), True
        return np.array(["" if k is None else str(k) for k in keys], dtype=str), False
    raise TypeError(f"groups must be integers or strings, got dtype {arr.dtype}")


def _float_key(v: float) -> int:
    if not math.isfinite(v):
        return -1
    if v != int(v):
        raise ValueError(f"groups must be integers or strings, got the non-integer number {v!r}")
    return int(v) if v >= 0 else -1


def _str_key(v: str | bytes) -> str | None:
    text = v.decode() if isinstance(v, bytes) else str(v)
    return text or None


def _object_key(v: Any) -> int | str | None:
    if v is None:
        return None
    if isinstance(v, str | bytes):
        return _str_key(v)
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, int | np.integer):
        return int(v) if v >= 0 else None
    if isinstance(v, float | np.floating):
        key = _float_key(float(v))
        return key if key >= 0 else None
    raise TypeError(f"groups must be integers or strings, got {type(v).__name__} {v!r}")


def task_boundary(name: Any, step: int) -> dict[str, Any]:
    """The boundary ``{"step": step, "name": name}`` of ``cam.task(name)``; ``name`` is a
    string (an integer is taken as its decimal string, like integer groups)."""
    if isinstance(name, bool) or not isinstance(name, str | int | np.integer):
        raise TypeError(
            f"task() takes the task's name (a string, e.g. cam.task('digits 0-4')), got "
            f"{type(name).__name__} {name!r}"
        )
    return {"step": int(step), "name": str(name)}
