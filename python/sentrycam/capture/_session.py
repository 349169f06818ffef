"""A monitor's capture side on the training thread: its model, watched layers and probe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import GroupNames
from ._distributed import Distributed, sharded_by
from ._handoff import LayerCapture
from ._layers import WatchedLayer, entries_refusal, resolve_layers, split_call
from ._modes import ACCURACY_GAP_LIMIT, GAP_LIMIT, gap, gap_message
from ._pool import check_pool, pool_for
from ._probe import Probe, ProbeRun, ProbeRunner

#: Captures after which eval-mode rows are compared with batch-statistics rows (once told, never
#: again): the running averages of a BatchNorm start at (0, 1), so the first captures are skipped.
GAP_CHECKS = frozenset({4, 8, 16, 32, 64, 128, 256})

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
        batch_first: bool = True,
        probe_mode: str = "eval",
    ) -> None:
        self.dist = dist
        self.groups = groups
        self.pool = pool
        self.probe_batch = probe_batch
        self.batch_first = batch_first
        self.probe_mode = probe_mode
        self.passes = 0  # probe passes run by this session
        self.gap_told = False
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
        self.probe = Probe(
            probe, needs_model_input=True, group_names=self.groups, batch_first=self.batch_first
        )
        if self.dist.active:  # no runner (no hooks, no probe on the device) on an idle rank
            pool = self.pool
            self.runner = ProbeRunner(
                model, modules, lambda name: pool_for(pool, name), self.probe_mode
            )
            try:
                self._bind_probe()
                self._refuse_uncalled(modules)
            except BaseException:
                self.runner = None  # refused: nothing is bound
                raise

    def set_probe(self, probe: Any) -> None:
        """A probe without a model: its labels and groups serve ``log()``."""
        self.probe = Probe(
            probe, needs_model_input=False, group_names=self.groups, batch_first=self.batch_first
        )

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
        run = self.runner.run(self._run_probe, self.probe_batch)
        self.passes += 1
        if self.passes in GAP_CHECKS and not self.gap_told and self._gap_matters():
            self._check_gap(run)
        return run

    def _refuse_uncalled(self, modules: Mapping[str, WatchedLayer]) -> None:
        """Refuse a watched ``Sequential`` (or other module) that its model never calls itself.

        Only a ``Sequential`` can be such a container while looking callable, so only then one
        sample runs through the model in eval mode, without gradients and with counting hooks
        (never in a sharded job, where a forward pass is a collective).
        """
        assert self.runner is not None and self._run_probe is not None
        suspects = {n: w for n, w in modules.items() if type(w.module).__name__ == "Sequential"}
        if not suspects or self.dist.shards or sharded_by(self.runner.inner) is not None:
            return
        uncalled = self.runner.uncalled(self._run_probe, list(suspects))
        if uncalled:
            name = uncalled[0]
            module = suspects[name].module
            base = split_call(name)[0]
            entries = [f"{base}.{child}" for child, _ in module.named_children()]
            what = f"{type(module).__name__} that the model never calls itself"
            raise ValueError(entries_refusal(name, what, entries))

    def _gap_matters(self) -> bool:
        assert self.runner is not None
        return self.probe_mode == "eval" and bool(self.runner.modes.norms) and not self.dist.shards

    def _check_gap(self, run: ProbeRun) -> None:
        """Tell once when eval mode and batch statistics disagree on the probe's first chunk:
        on predictions when the model's output gives them, else on a watched layer's rows (the
        model and its buffers are left as they were)."""
        assert self.runner is not None and self._run_probe is not None
        if not self.runner.modes.settled():
            return
        probe = self._run_probe
        size = min(probe.n, self.probe_batch)
        sample = probe if size == probe.n else probe.rows(0, size, size)
        sample.follow(self.runner.inner)
        try:
            batch = self.runner.run(sample, self.probe_batch, mode="train")
        except Exception:  # a check must never break the capture
            return
        for event in [*run.ready, *batch.ready]:  # copies from a GPU: done once these are
            event.synchronize()
        what = _disagreement(run, batch, size, self.probe)
        if what:
            self.gap_told = True
            run.problems.append(gap_message(what, self.runner.modes.momenta()))


def _disagreement(run: ProbeRun, batch: ProbeRun, size: int, probe: Probe | None) -> str:
    """How eval-mode ``run`` and batch-statistics ``batch`` disagree, in words ('' when not
    greatly): on accuracy if predictions and labels exist, else on the watched layer farthest
    apart (predictions alone say little: two networks at chance disagree on most samples)."""
    labels = probe.labels[:size] if probe is not None and probe.labels is not None else None
    if run.preds is not None and batch.preds is not None and labels is not None:
        import torch

        truth = torch.as_tensor(labels, dtype=torch.int64)
        right = [float((p[:size].cpu() == truth).float().mean()) for p in (run.preds, batch.preds)]
        if abs(right[0] - right[1]) < ACCURACY_GAP_LIMIT:
            return ""
        return (
            f"the model is right on {right[0]:.0%} of the probe's first {size} samples, against "
            f"{right[1]:.0%} with the probe's batch statistics"
        )
    gaps = {
        name: gap(pooled.rows[:size], batch.layers[name].rows)
        for name, pooled in run.layers.items()
        if name in batch.layers
    }
    if not gaps or max(gaps.values()) < GAP_LIMIT:
        return ""
    name = max(gaps, key=lambda n: gaps[n])
    return f"layer {name!r}'s rows differ by {gaps[name]:.0%} from those with batch statistics"
