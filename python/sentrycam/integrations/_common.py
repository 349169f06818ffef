"""What the framework callbacks share: argument checks, scalar cleaning, the monitor they feed,
binding it to the trained model when training starts, stop-on-alert and agreement between ranks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..base import is_tensor
from ..capture import Probe, check_pool
from ..contract import NOTIFY_SEVERITIES, SEVERITIES, SEVERITY_RANK
from ..monitor import Monitor

STOP_LEVELS = NOTIFY_SEVERITIES  # the severities a run may stop on: warning and above
LOG = logging.getLogger("sentrycam")


def missing_framework(extra: str, module: str) -> ImportError:
    """The error raised when a callback's framework is not installed."""
    return ImportError(
        f"sentrycam.integrations.{extra} needs {module}, which is not installed: "
        f"pip install sentrycam[{extra}]"
    )


def check_stop_on(stop_on: Any) -> int | None:
    """The severity rank at or above which an alert stops training (``None``: never)."""
    if stop_on is None:
        return None
    if not isinstance(stop_on, str) or stop_on not in STOP_LEVELS:
        raise ValueError(
            f"stop_on must be None, 'warning' or 'critical' (stop training on an alert of that "
            f"severity or worse; severities: info < warning < critical), got {stop_on!r}"
        )
    return SEVERITY_RANK[stop_on]


def check_layers(layers: Any) -> list[str]:
    """``layers`` as a non-empty list of layer names."""
    if isinstance(layers, str):
        layers = [layers]
    try:
        names = list(layers)
    except TypeError:
        raise ValueError(
            f"layers must be a list of module names, e.g. layers=['fc1'], got {layers!r}"
        ) from None
    if not names:
        raise ValueError(
            "name at least one layer to watch, e.g. layers=['fc1'] (names from "
            "model.named_modules())"
        )
    bad = [name for name in names if not isinstance(name, str) or not name]
    if bad:
        raise ValueError(f"layer names must be non-empty strings, got {bad!r}")
    return names


def as_number(value: Any, default: float | None = None) -> float | None:
    """``value`` as a float when it is one number (Python, NumPy or a one-element tensor), else
    ``default``."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if is_tensor(value):
        if value.numel() != 1 or value.is_complex() or str(value.dtype) == "torch.bool":
            return default
        return float(value.item())
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():  # a NumPy scalar
        return float(value) if getattr(value.dtype, "kind", "") in ("i", "u", "f") else default
    return default


def numbers(values: Mapping[str, Any] | None, skip: Iterable[str] = ()) -> dict[str, float]:
    """The entries of ``values`` that are numbers, as floats (non-finite ones kept)."""
    found: dict[str, float] = {}
    if not values:
        return found
    skipped = set(skip)
    for key, value in values.items():
        if key in skipped:
            continue
        number = as_number(value)
        if number is not None:
            found[str(key)] = number
    return found


def first_lr(optimizers: Any, default: float | None = None) -> float | None:
    """The learning rate of the first parameter group of the first optimizer, else ``default``."""
    if isinstance(optimizers, list | tuple):
        optimizers = optimizers[0] if optimizers else None
    if optimizers is None:
        return default
    try:
        return as_number(optimizers.param_groups[0]["lr"], default)
    except (AttributeError, IndexError, KeyError, TypeError):
        return default


class Watch:
    """The monitor behind a framework callback, and what it decides for the training loop.

    The monitor exists from the start (so it can be displayed before training); the model the
    framework trains is bound to it when training starts, unless ``model`` was given.
    """

    def __init__(
        self,
        layers: Any,
        probe: Any,
        every: int,
        stop_on: str | None,
        model: Any,
        monitor_kwargs: dict[str, Any],
    ) -> None:
        names = check_layers(layers)
        self.stop_rank = check_stop_on(stop_on)
        if probe is None:
            raise ValueError(
                "a callback needs a fixed probe set: pass probe=(x, y) with x the model's inputs "
                "(a tensor, or a tuple/dict of tensors) and y integer labels (or probe=x)"
            )
        kwargs = dict(monitor_kwargs)
        #: every rank captures (``distributed="shard"`` or ``"all"``), else only global rank 0
        self.every_rank = kwargs.get("distributed") in ("shard", "all")
        self._pool = kwargs.get("pool", "auto")
        if model is None:  # checked now, not when training starts
            Probe(probe, needs_model_input=True)
            check_pool(self._pool, names)
        self.monitor = Monitor(model, names, probe, every, **kwargs)
        self.every = every
        self._probe = probe
        self._given = model  # a model given by the user is always the one watched
        self._bound = model
        self.active = False  # this rank captures (set when training starts)
        self.stop_requested = False
        self.stopped_by: Any = None  # the alert that stopped training
        self.monitor.on_alert(self._on_alert)

    @property
    def watches_given_model(self) -> bool:
        """Whether the user named the model to watch (``model=``), not the trainer."""
        return self._given is not None

    def start(self, model: Any, *, is_zero: bool) -> None:
        """Training starts on a rank (``is_zero``: global rank 0): bind ``model`` if needed."""
        self.active = is_zero or self.every_rank
        self.stop_requested = False
        self.stopped_by = None
        if not self.active:
            return
        if self.monitor.closed:
            raise RuntimeError(
                "this callback's monitor was closed (cb.monitor.close()), so it captures nothing "
                "more; make a new SentrycamCallback to watch this run"
            )
        if self._given is None and model is not None and model is not self._bound:
            # The monitor learns its model now: the model-dependent part of its construction.
            layers = list(self.monitor.layers)
            self.monitor.bind(model, probe=self._probe, layers=layers, pool=self._pool)
            self._bound = model
        if self._bound is None:
            raise ValueError("the trainer gave the callback no model to watch; pass model=...")

    def capture(self, step: int, scalars: dict[str, float]) -> None:
        """``monitor.step`` at a step that may capture, with the run's scalars."""
        self.monitor.step(step, **scalars)

    def agree(self, reduce_any: Callable[[bool], bool]) -> bool:
        """Whether any rank asks to stop; called by every rank at the same point of the loop.

        The capturing rank first waits for its captures' alerts, so the decision includes them.
        """
        if self.active:
            self.monitor.flush()
        return bool(reduce_any(self.stop_requested))

    def finish(self) -> None:
        """Training ended: everything captured is encoded, recorded and sent (monitor stays open,
        so training may resume and its views stay live)."""
        if self.active:
            self.monitor.flush()

    def _on_alert(self, alert: Any) -> None:
        if self.stop_rank is None or self.stop_requested:
            return
        if SEVERITY_RANK.get(getattr(alert, "severity", ""), -1) < self.stop_rank:
            return
        self.stop_requested = True
        self.stopped_by = alert
        layer = f" on {alert.layer!r}" if alert.layer else ""
        LOG.warning(
            "sentrycam: stopping training (stop_on=%r): %s alert at step %s%s about %s: %s",
            SEVERITIES[self.stop_rank],
            alert.severity,
            alert.step,
            layer,
            alert.metric,
            alert.message.splitlines()[0] if alert.message else "",
        )


def reduce_any(flag: bool, device: Any) -> bool:
    """Whether ``flag`` is true on any rank of the default ``torch.distributed`` group (``flag``
    itself outside a distributed job). Every rank must call it at the same point."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    vote = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(vote, op=dist.ReduceOp.MAX)
    return bool(vote.item() > 0)


class WatchingCallback:
    """What both frameworks' callbacks show their users: ``.monitor`` and ``.stopped_by``."""

    _watch: Watch

    @property
    def monitor(self) -> Monitor:
        """The monitor: display it, read its frames and alerts, add ``on_alert`` callbacks."""
        return self._watch.monitor

    @property
    def stopped_by(self) -> Any:
        """The alert that stopped the latest training run (``None`` when none did)."""
        return self._watch.stopped_by
