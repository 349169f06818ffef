"""A monitor's capture side on the training thread: its model, watched layers and probe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import GroupNames
from ._distributed import Distributed
from ._handoff import LayerCapture
from ._pool import check_pool, pool_for
from ._probe import Probe, ProbeRun, ProbeRunner, resolve_layers

__all__ = ["ProbeSession"]


class ProbeSession:
    """What ``step()`` runs: the probe through the model with temporary hooks on the watched
    layers (the whole probe, or this rank's part in a sharded job). ``agreed``: the settings
    every rank of a sharded job must share."""

    def __init__(
        self,
        dist: Distributed,
        groups: GroupNames,
        *,
        pool: Any,
        probe_batch: int,
        agreed: Mapping[str, Any],
    ) -> None:
        self.dist = dist
        self.groups = groups
        self.pool = pool
        self.probe_batch = probe_batch
        self.agreed = dict(agreed)
        self.probe: Probe | None = None
        self.runner: ProbeRunner | None = None
        self._run_probe: Probe | None = None  # what this process runs: the probe or its part
        self._run_probe_of: Probe | None = None  # ... of this probe

    @property
    def ready(self) -> bool:
        """A model and a probe are bound: ``step()`` can capture."""
        return self.runner is not None

    def bind(self, model: Any, probe: Any, layers: list[str], *, pool_checked: bool) -> None:
        """Watch ``layers`` of ``model`` with ``probe``. Unknown names raise ``ValueError``;
        ``pool_checked``: the pool was already checked against these layers."""
        modules = resolve_layers(model, layers)
        if probe is None:
            raise ValueError(
                "a model needs a fixed probe set: pass probe=(x, y) with x a tensor of inputs "
                "and y integer labels (or probe=x)"
            )
        if not pool_checked:
            check_pool(self.pool, layers)
        self.probe = Probe(probe, needs_model_input=True, group_names=self.groups)
        if self.dist.active:  # no runner (no hooks, no probe on the device) on an idle rank
            pool = self.pool
            self.runner = ProbeRunner(model, modules, lambda name: pool_for(pool, name))
            try:
                self._bind_probe()
            except BaseException:
                self.runner = None  # refused: nothing is bound
                raise

    def set_probe(self, probe: Any) -> None:
        """A probe without a model: its labels and groups serve ``log()``."""
        self.probe = Probe(probe, needs_model_input=False, group_names=self.groups)

    def run(self) -> ProbeRun | None:
        """One probe pass; ``None`` on a rank whose part went to rank 0 (which makes frames)."""
        assert self.runner is not None and self.probe is not None  # set together
        if self._run_probe_of is not self.probe:  # bound after construction
            self._bind_probe()
        return self.dist.run_shard(self._probe_pass) if self.dist.shards else self._probe_pass()

    def layers(self, run: ProbeRun) -> dict[str, LayerCapture]:
        """The hand-off of each layer of ``run``: its pooled rows and the probe's labels."""
        probe = self.probe
        assert probe is not None
        return {
            name: LayerCapture(pooled, labels=probe.labels, preds=run.preds, groups=probe.groups)
            for name, pooled in run.layers.items()
        }

    def close(self) -> None:
        """Capture nothing more (the runner's hooks exist only during a pass)."""
        self.runner = None

    def _bind_probe(self) -> None:
        """Run ``probe`` from now on: all of it, or this rank's part when sharded (then a
        collective that checks that every rank agrees)."""
        assert self.runner is not None and self.probe is not None
        self._run_probe = self.dist.bind(self.probe, self.runner.model, self.agreed)
        self._run_probe_of = self.probe
        self._run_probe.follow(self.runner.inner)

    def _probe_pass(self) -> ProbeRun:
        """Run this process's probe (the whole probe, or its part in a sharded pass)."""
        assert self.runner is not None and self._run_probe is not None
        self._run_probe.follow(self.runner.inner)  # the model may have moved since
        return self.runner.run(self._run_probe, self.probe_batch)
