"""What a training loop hands to ``cam.log()`` / ``cam.step()``, checked on the training thread.

Rows per layer (pooled like a layer output), labels, predictions, ids, groups and scalars. Bad
input never stops training: each problem is reported in plain words through the monitor's
problem log (which raises instead with ``strict=True``) and the frame goes without what was
wrong (a layer whose rows cannot be used goes without a frame).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..base import GroupNames, as_int_vector
from ._handoff import LayerCapture
from ._pool import PoolChoice, pool_array

Report = Callable[[str, BaseException | None], None]


class Inputs:
    """Checks ``log()``/``step()`` arguments; ``report(text, exc)`` tells of each problem;
    groups are encoded into ``group_names`` (the monitor's list)."""

    def __init__(self, report: Report, group_names: GroupNames) -> None:
        self._report = report
        self.group_names = group_names

    def layer(
        self,
        step: int,
        name: str,
        values: Any,
        pool: PoolChoice,
        *,
        labels: Any,
        preds: Any,
        ids: Any,
        groups: Any,
        default_groups: Any,
    ) -> LayerCapture | None:
        """One layer of a ``log()`` call (``default_groups``: the probe's group codes, used when
        ``groups`` is ``None`` and they fit); ``None`` when its rows cannot be used."""
        try:
            pooled = pool_array(values, name, pool)
        except Exception as exc:  # bad input must not stop training
            self._report(f"step {step}: {exc}; this layer's frame was not sent", exc)
            return None
        n = int(pooled.rows.shape[0])
        return LayerCapture(
            pooled,
            labels=self.int_vector(labels, "labels", n, step, name),
            preds=self.int_vector(preds, "preds", n, step, name),
            ids=self.int_vector(ids, "ids", n, step, name),
            groups=self.group_codes(groups, default_groups, n, step, name),
        )

    def layers(
        self,
        step: int,
        activations: Mapping[str, Any],
        pool: Callable[[str], PoolChoice],
        *,
        labels: Any,
        preds: Any,
        ids: Any,
        groups: Any,
        default_groups: Any,
    ) -> dict[str, LayerCapture]:
        """Every usable layer of a ``log()`` call, by name (see :meth:`layer`)."""
        layers: dict[str, LayerCapture] = {}
        for key, values in activations.items():
            name = str(key)
            layer = self.layer(
                step,
                name,
                values,
                pool(name),
                labels=labels,
                preds=preds,
                ids=ids,
                groups=groups,
                default_groups=default_groups,
            )
            if layer is not None:
                layers[name] = layer
        return layers

    def int_vector(self, values: Any, what: str, n: int, step: int, layer: str) -> Any:
        """Labels, predictions or ids as an int32 vector; ``None`` (and a problem) when wrong."""
        try:
            return as_int_vector(values, what, n)
        except Exception as exc:  # bad input must not stop training
            self._report(f"step {step}, layer {layer!r}: {exc}; sent without {what}", exc)
            return None

    def group_codes(self, groups: Any, default: Any, n: int, step: int, layer: str) -> Any:
        """The group codes of ``groups`` (``default`` when not given and of length ``n``);
        ``None`` (and a problem) when they do not fit."""
        if groups is None:
            return default if default is not None and len(default) == n else None
        try:
            return self.group_names.encode(groups, n)
        except Exception as exc:  # bad input must not stop training
            self._report(f"step {step}, layer {layer!r}: {exc}; sent without groups", exc)
            return None

    def scalars(self, step: int, scalars: dict[str, Any]) -> dict[str, float]:
        """The scalars that are numbers, as floats (a problem for each one that is not)."""
        clean: dict[str, float] = {}
        for key, value in scalars.items():
            try:
                clean[key] = float(value.item() if hasattr(value, "item") else value)
            except Exception as exc:  # bad input must not stop training
                self._report(f"step {step}: scalar {key}={value!r} is not a number ({exc})", None)
        return clean
