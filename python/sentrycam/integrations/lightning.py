"""Watch a LightningModule's hidden layers while ``lightning.Trainer`` trains it.

Usage::

    from sentrycam.integrations.lightning import SentrycamCallback

    cb = SentrycamCallback(layers=["net.1", "net.3"], probe=(x_val, y_val), every=50,
                           stop_on="critical", record="run.arrows")
    cb.monitor                      # a notebook cell: the live view, before training starts
    trainer = lightning.Trainer(max_epochs=10, callbacks=[cb])
    trainer.fit(module, train_loader)

When the monitor exists: at once. ``cb.monitor`` is a :class:`sentrycam.Monitor` made when the
callback is, so it can be displayed (and its ``on_alert`` callbacks added) before
``trainer.fit``. The LightningModule that ``fit`` trains is bound to it when fit starts
(``setup``): ``layers`` are names from that module's ``named_modules()`` (``"net.1"`` for a
module kept as ``self.net``), and an unknown name raises ``ValueError`` from ``trainer.fit``
before the first step. ``model=`` watches another module instead (a submodule, say), bound and
checked at once. The same callback may serve several ``fit`` calls: the frames continue on the
same view and recording.

What it does, in the trainer's terms:

- the step number is ``trainer.global_step`` (optimizer steps done); a frame is captured when
  training starts and then every ``every`` optimizer steps, at ``on_train_batch_end`` (so with
  gradient accumulation once per optimizer step);
- the scalars riding along are the numbers in ``trainer.callback_metrics`` (what the module
  logged), ``loss`` from the training step's output when it was not logged under that name, and
  ``lr``: the first optimizer's first parameter group (the alert engine follows a warm-up by it);
- only global rank 0 captures and records (other ranks check one flag per step), unless the
  monitor is told otherwise (``distributed="shard"``: every rank runs its part of the probe, for
  FSDP; ``"all"``: every rank captures on its own);
- ``stop_on="warning"`` or ``"critical"``: an alert of that severity or worse sets
  ``trainer.should_stop`` (in a multi-process job every rank agrees at the next multiple of
  ``every``). With the default background thread an alert reaches the training loop a step or a
  few after the capture that raised it; ``sync=True`` makes it the same step. ``cb.stopped_by``
  is the alert that stopped training;
- at the end of fit (or on an exception) the monitor is flushed: every frame is recorded and
  sent. It is not closed, so the view stays live and training may resume; ``cb.monitor.close()``
  (or interpreter exit) ends the recording.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from typing import Any

from ._common import Watch, WatchingCallback, first_lr, missing_framework, numbers

# The callback is a Callback of ``lightning`` and, when a program uses the standalone
# ``pytorch_lightning`` package (imported already, or the only one installed), of that one too:
# each Trainer recognises only its own package's callbacks.
_BASES: list[type] = []
with contextlib.suppress(ImportError):
    from lightning.pytorch import Callback as _LightningCallback

    _BASES.append(_LightningCallback)
if not _BASES or "pytorch_lightning" in sys.modules:
    with contextlib.suppress(ImportError):
        from pytorch_lightning import Callback as _StandaloneCallback

        _BASES.append(_StandaloneCallback)
if not _BASES:
    raise missing_framework("lightning", "lightning (or pytorch_lightning)")

__all__ = ["SentrycamCallback"]


class SentrycamCallback(WatchingCallback, *_BASES):  # type: ignore[misc]
    """Watch the trained LightningModule's ``layers`` on a fixed ``probe`` every ``every`` steps.

    ``stop_on`` (``None``, ``"warning"``, ``"critical"``): stop training on an alert of that
    severity or worse. ``model``: the module to watch when not the trained LightningModule.
    Other keyword arguments go to :class:`sentrycam.Monitor` (``record=``, ``pool=``,
    ``budget=``, ``sync=``, ...). ``.monitor`` is the monitor, displayable at once.
    """

    def __init__(
        self,
        layers: Any,
        probe: Any,
        every: int = 50,
        stop_on: str | None = None,
        *,
        model: Any = None,
        **monitor_kwargs: Any,
    ) -> None:
        super().__init__()
        self._watch = Watch(layers, probe, every, stop_on, model, monitor_kwargs)
        self._agreed_at: int | None = None
        self._offered: int | None = None  # the latest step offered to the monitor with scalars
        self._distributed = False
        # read by the trainer around every hook call: made once
        self._state_key = self._generate_state_key(layers=tuple(self.monitor.layers), every=every)

    @property
    def state_key(self) -> str:
        """Tells this callback from others of its kind in a checkpoint."""
        return self._state_key

    # ---- hooks ------------------------------------------------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            _check_forward(pl_module, self._watch)
            self._watch.start(pl_module, is_zero=trainer.is_global_zero)
            self._distributed = trainer.world_size > 1 and self._watch.stop_rank is not None
            self._agreed_at = self._offered = None

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if self._watch.active:
            lr = first_lr(trainer.optimizers)
            self._watch.capture(trainer.global_step, {} if lr is None else {"lr": lr})

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        watch = self._watch
        if watch.active:
            step = trainer.global_step
            if step % watch.every or step == self._offered:  # (the same step: accumulation)
                watch.monitor.step(step)
            else:
                self._offered = step
                watch.capture(step, _scalars(trainer, outputs))
            if watch.stop_requested and not self._distributed:
                trainer.should_stop = True
        if self._distributed:  # ranks stop together, or the others would wait forever
            self._agree(trainer)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._watch.finish()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        with contextlib.suppress(Exception):  # the training loop's own exception is the one to see
            self._watch.finish()

    # ---- helpers ----------------------------------------------------------------------------

    def _agree(self, trainer: Any) -> None:
        """Every rank, once per multiple of ``every``: stop when any rank asks to."""
        step = trainer.global_step
        if step % self._watch.every or step == self._agreed_at:
            return
        self._agreed_at = step
        strategy = trainer.strategy
        if self._watch.agree(lambda flag: strategy.reduce_boolean_decision(flag, all=False)):
            trainer.should_stop = True


def _scalars(trainer: Any, outputs: Any) -> dict[str, float]:
    """Logged metrics, the step's loss and the learning rate, as floats."""
    found = numbers(trainer.callback_metrics)
    if "loss" not in found:
        loss = numbers({"loss": outputs.get("loss") if isinstance(outputs, Mapping) else outputs})
        if loss:  # Lightning divides the loss it hands over by the accumulation: undo that
            found["loss"] = loss["loss"] * max(1, int(trainer.accumulate_grad_batches or 1))
    lr = first_lr(trainer.optimizers)
    if lr is not None:
        found["lr"] = lr
    return found


def _check_forward(pl_module: Any, watch: Any) -> None:
    """The probe runs as ``pl_module(x)``: a module without ``forward`` would record nothing."""
    if watch.watches_given_model:
        return
    forward = getattr(type(pl_module), "forward", None)
    if str(getattr(forward, "__module__", "")).startswith(("torch.", "lightning", "pytorch_")):
        raise ValueError(
            f"{type(pl_module).__name__} has no forward() of its own: sentrycam runs the probe as "
            "pl_module(x). Define forward() in the LightningModule, or pass model=<the "
            "nn.Module to probe> (e.g. model=module.net) to SentrycamCallback"
        )
