"""The forgetting rule: a group's accuracy or representation lost after its task ended.

It reads only per-group metrics (:mod:`.group_metrics`) and the task boundaries known when each
frame was captured, so a recording replays to the same alerts. For a group whose task has ended
(:func:`~.groups.task_of`; a later boundary has been marked):

``accuracy@g``      (model-level, layer ``None``) the *reference* is the median of its last
                    :data:`END_FRAMES` values while its task was the current one; the rule fires
                    when the accuracy is at least :data:`FORGET_DROP` below it **and** at least
                    :data:`FORGET_SPREADS` times the robust spread (MAD) of those values, on
                    :data:`FORGET_CONFIRM` consecutive captures spanning at least
                    :data:`FORGET_PERSIST_STEPS` steps. ``critical`` when it fell by more than
                    half of the reference, else ``warning``.
``cka_task_end@g``  (per layer) below :data:`FORGET_CKA` on consecutive captures as long: the
                    group's samples are represented very differently from the end of their task.

The persistence is what tells forgetting from the *stability gap*: right after a switch of task
even a run that rehearses old samples loses 15-55 points of an old group's accuracy for a few
tens of steps, then recovers (measured on split digits: at most 20 steps below the threshold
with rehearsal, every step to the end of the run without).

Alerts are named ``forgetting_accuracy@g`` / ``forgetting_cka@g`` (rule ``"forgetting"``). Like
every rule of :mod:`.alerts`, one alert per episode: a stream that keeps failing raises one alert
and re-arms after ``rearm_steps`` quiet steps, or when the group's task starts again. Without task
boundaries nothing is ever judged.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..base import group_metric_name, split_group_metric, task_of
from ._alert import Alert
from ._explain import explain_forgetting
from ._rules import EVIDENCE_POINTS, mad_spread, median

__all__ = [
    "END_FRAMES",
    "FORGET_CKA",
    "FORGET_CONFIRM",
    "FORGET_DROP",
    "FORGET_PERSIST_STEPS",
    "FORGET_SPREADS",
    "ForgettingRule",
]

#: Accuracy must fall at least this much (absolute) below its level at the end of its task ...
FORGET_DROP = 0.15
#: ... and at least this many robust spreads of its values over the task's last frames ...
FORGET_SPREADS = 3.0
#: ... on this many consecutive captures (the CKA rule too) ...
FORGET_CONFIRM = 2
#: ... from the first of which to the last at least this many steps have passed.
FORGET_PERSIST_STEPS = 50
#: Frames at the end of a group's task that give its reference level and spread.
END_FRAMES = 5
#: ``cka_task_end`` below this: the group's representation has drifted far from its task's end.
FORGET_CKA = 0.6


@dataclass
class _Watch:
    """One watched stream: a group's accuracy (layer ``None``) or its CKA on one layer."""

    task: int | None = None  # the group's task index this state refers to
    last_step: int | None = None
    end: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=END_FRAMES))
    end_step: int | None = None  # the last step seen while the group's task was current
    history: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=EVIDENCE_POINTS))
    below: int = 0  # consecutive captures past the threshold
    since: int | None = None
    active: bool = False  # an episode is open (its alert was raised)
    last_fired: int = 0

    def restart(self, task: int | None) -> None:
        """A new task for this group (or a new run): forget the reference and the episode."""
        self.task, self.end_step, self.below, self.since, self.active = task, None, 0, None, False
        self.end.clear()


class ForgettingRule:
    """Raises forgetting alerts from per-group metrics and task boundaries (see module doc)."""

    name = "forgetting"

    def __init__(
        self,
        *,
        drop: float = FORGET_DROP,
        spreads: float = FORGET_SPREADS,
        cka: float = FORGET_CKA,
        confirm: int = FORGET_CONFIRM,
        persist_steps: int = FORGET_PERSIST_STEPS,
        rearm_steps: int = 300,
    ) -> None:
        self.drop, self.spreads, self.cka, self.confirm = drop, spreads, cka, confirm
        self.persist_steps = persist_steps
        self.rearm_steps = rearm_steps
        self.watches: dict[tuple[str, str | None, str], _Watch] = {}
        self.tasks: list[Any] = []

    def observe(
        self,
        step: int,
        layer: str | None,
        values: dict[str, float],
        tasks: Sequence[Any] | None = None,
    ) -> list[Any]:
        """Judge one frame's per-group metrics (``tasks``: the boundaries marked when it was
        captured; ``None``: as last time). New alerts."""
        if tasks is not None:
            self.tasks = list(tasks)
        out = []
        for name, raw in values.items():
            parsed = split_group_metric(name)
            if parsed is None or parsed[0] not in ("accuracy", "cka_task_end"):
                continue
            metric, group = parsed
            kind = "accuracy" if metric == "accuracy" else "cka"
            key = (kind, None if kind == "accuracy" else layer, group)
            watch = self.watches.setdefault(key, _Watch())
            alert = self._judge(kind, watch, step, layer, group, _float(raw))
            if alert is not None:
                out.append(alert)
        return out

    def _judge(
        self, kind: str, w: _Watch, step: int, layer: str | None, group: str, v: float
    ) -> Any:
        if w.last_step is not None and step == w.last_step:
            return None  # the same capture seen through another layer's frame
        if w.last_step is not None and step < w.last_step:
            w.restart(None)  # steps went backwards: a new run
            w.history.clear()
        w.last_step = step
        task = task_of(group, self.tasks)
        if task != w.task:
            w.restart(task)
        if math.isfinite(v):
            w.history.append((step, v))
        if task is None:
            return None
        if task == len(self.tasks) - 1:  # its task is the current one: this is the reference
            w.end_step = step
            if math.isfinite(v):
                w.end.append((step, v))
            return None
        if w.end_step is None:
            return None  # never seen while its task ran: nothing to compare with
        if kind == "accuracy":
            if not w.end:
                return None
            ends = [e for _, e in w.end]
            reference = median(ends)
            spread = mad_spread(ends, reference)
            threshold = reference - max(self.drop, self.spreads * spread)
            window = [w.end[0][0], w.end[-1][0]]
        else:
            reference, spread, threshold = 1.0, 0.0, self.cka
            window = [w.end_step, w.end_step]
        past = math.isfinite(v) and (v <= threshold if kind == "accuracy" else v < threshold)
        if not past:
            w.below, w.since = 0, None
            if w.active and step - w.last_fired >= self.rearm_steps:
                w.active = False
            return None
        w.below += 1
        w.since = step if w.since is None else w.since
        if w.below < self.confirm or step - w.since < self.persist_steps:
            return None
        fired_before, w.active, w.last_fired = w.active, True, step
        if fired_before:
            return None
        return self._alert(kind, w, step, layer, group, v, reference, spread, threshold, window)

    def _alert(
        self,
        kind: str,
        w: _Watch,
        step: int,
        layer: str | None,
        group: str,
        v: float,
        reference: float,
        spread: float,
        threshold: float,
        window: list[int],
    ) -> Alert:
        assert w.task is not None
        task = str(self.tasks[w.task]["name"])
        later = [str(t["name"]) for t in self.tasks[w.task + 1 :]]
        steps, values = [s for s, _ in w.history], [x for _, x in w.history]
        evidence = {
            "steps": steps,
            "values": values,
            "reference": reference,
            "spread": spread,
            "threshold": threshold,
            "window": window,
            "direction": -1,
            "kind": "forgetting",
            "since": w.since,
            "z": (reference - v) / spread if spread > 0 else math.nan,
            "group": group,
            "task": task,
            "task_end": w.end_step,
        }
        critical = kind == "accuracy" and v < 0.5 * reference
        span = step - (w.since if w.since is not None else step)
        message = explain_forgetting(
            kind, layer, group, task, later, v, reference, threshold, w.end_step or 0, span
        )
        return Alert(
            step,
            None if kind == "accuracy" else layer,
            group_metric_name(f"forgetting_{kind}", group),
            message,
            "critical" if critical else "warning",
            self.name,
            v,
            evidence,
        )


def _float(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan
