"""The geometry audit: per-layer metrics with state, fed into one alert engine.

:class:`Auditor` is what a training loop (or ``Monitor``) calls once per captured frame. It never
raises for bad data: a problem is handed to ``on_problem`` (by default a :class:`SentrycamWarning`;
``Monitor`` passes its problem log) and the result is partial (or empty).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..base import to_numpy
from ..metrics import (
    DORMANT_TAU,
    METRIC_KEYS,
    GroupTracker,
    LayerState,
    group_metrics,
    layer_metrics,
)
from ._alert import Alert
from ._engine import AlertEngine, readable_floats, takes_averaged
from ._log import AlertLog

__all__ = ["Auditor"]


class Auditor:
    """Computes each layer's metrics against its own history and raises alerts on them.

    ``engine``: the alert engine (a default :class:`AlertEngine` if ``None``). ``tau``: the dormant
    threshold. ``on_alert``: optional callable invoked synchronously with each new alert; its
    exceptions propagate (that is how a loop can stop on an alert). ``log``: where the alerts are
    kept (a new :class:`AlertLog` if ``None``; a monitor passes its own).
    """

    def __init__(
        self,
        engine: AlertEngine | None = None,
        *,
        tau: float = DORMANT_TAU,
        on_alert: Callable[[Alert], Any] | None = None,
        on_problem: Callable[[str], Any] | None = None,
        log: AlertLog | None = None,
    ) -> None:
        self.engine = engine if engine is not None else AlertEngine()
        self.tau = tau
        self.on_alert = on_alert
        self.on_problem = on_problem if on_problem is not None else _warn
        self.states: dict[str, LayerState] = {}
        self.trackers: dict[str, GroupTracker] = {}  # per layer: groups' task-end snapshots
        self.log = log if log is not None else AlertLog()

    @property
    def alerts(self) -> list[Alert]:
        """Every alert raised so far (bounded: see :class:`AlertLog`)."""
        return self.log.list()

    def take_updated(self) -> list[Alert]:
        """Alerts raised earlier whose incident has grown since the last call."""
        return self.engine.take_updated()

    def state(self, layer: str) -> LayerState:
        """The per-layer state (created on first use)."""
        st = self.states.get(layer)
        if st is None:
            st = self.states[layer] = LayerState()
        return st

    def set_reference(self, layer: str, x: Any) -> None:
        """Use ``x`` instead of the layer's first frame as the CKA reference."""
        tmp = LayerState()
        try:
            layer_metrics(x, None, tmp, tau=self.tau)
        except Exception as exc:
            self.on_problem(f"the CKA reference for layer {layer!r} was ignored: {exc}")
            return
        st = self.state(layer)
        st.ref = tmp.prev

    def observe(
        self,
        step: int,
        layer: str,
        x: Any,
        labels: Any = None,
        preds: Any = None,
        *,
        projection: Any = None,
        groups: Any = None,
        group_names: Sequence[str] = (),
        ids: Any = None,
        tasks: Sequence[Any] = (),
    ) -> tuple[dict[str, float], list[Alert]]:
        """Metrics of one frame of ``layer`` and the alerts newly raised by them.

        ``preds`` (class ids) is used by the per-group accuracy. ``projection``: see
        :func:`layer_metrics` (a layer too wide for exact metrics). ``groups``: each row's group
        code into ``group_names`` (``-1``: none) adds the per-group metrics of
        :mod:`.group_metrics` (``ids``: the rows' sample ids); ``tasks``: the task boundaries
        marked before this frame, for ``cka_task_end`` and the forgetting rule.
        """
        st = self.state(layer)
        try:
            metrics = layer_metrics(x, labels, st, tau=self.tau, projection=projection)
        except Exception as exc:
            self.on_problem(f"step {step}, layer {layer!r}: computing metrics failed: {exc!r}")
            st.prev = None
            metrics = dict.fromkeys(METRIC_KEYS, math.nan)
            metrics = _fallback_nonfinite(x, metrics)
        if groups is not None:
            try:
                metrics.update(
                    group_metrics(
                        x,
                        codes=np.asarray(groups),
                        names=group_names,
                        labels=None if labels is None else to_numpy(labels, "labels"),
                        preds=None if preds is None else to_numpy(preds, "preds"),
                        ids=ids,
                        tasks=tasks,
                        tracker=self.trackers.setdefault(layer, GroupTracker()),
                        projection=projection,
                    )
                )
            except Exception as exc:
                self.on_problem(f"step {step}, layer {layer!r}: per-group metrics failed: {exc!r}")
        return metrics, self._feed(step, layer, metrics, tasks)

    def preview_scalars(self, step: int, scalars: dict[str, float]) -> None:
        """Tell the engine the run scalars of ``step`` before its layers are observed (they are
        fed after them, by :meth:`observe_scalars`)."""
        self.engine.preview(int(step), scalars)

    def observe_scalars(
        self, step: int, scalars: dict[str, float], steps: Mapping[str, int] | None = None
    ) -> list[Alert]:
        """Feed run scalars (loss, accuracy, ...) to the engine; return new alerts. ``steps``:
        how many training steps each value is the mean of (1 where not given)."""
        return self._feed(step, None, readable_floats(scalars), averaged=steps)

    def _feed(
        self,
        step: int,
        layer: str | None,
        values: dict[str, float],
        tasks: Sequence[Any] | None = None,
        averaged: Mapping[str, int] | None = None,
    ) -> list[Alert]:
        try:
            if averaged and takes_averaged(self.engine):
                new = self.engine.update(int(step), layer, values, averaged=averaged)
            elif tasks is None:
                new = self.engine.update(int(step), layer, values)
            else:
                new = self.engine.update(int(step), layer, values, tasks=list(tasks))
        except Exception as exc:
            self.on_problem(f"step {step}: the alert engine failed: {exc!r}")
            return []
        self.log.extend(new)
        if self.on_alert is not None:
            for a in new:
                self.on_alert(a)
        return new


def _warn(message: str) -> None:
    from ..base import SentrycamWarning

    warnings.warn(f"sentrycam: {message}", SentrycamWarning, stacklevel=3)


def _fallback_nonfinite(x: Any, metrics: dict[str, float]) -> dict[str, float]:
    """Best-effort ``nonfinite_frac`` when the full metric pass failed."""
    try:
        a = to_numpy(x, "activations")
        if a.size:
            metrics["nonfinite_frac"] = float(1.0 - np.isfinite(a).mean())
    except Exception:
        pass
    return metrics
