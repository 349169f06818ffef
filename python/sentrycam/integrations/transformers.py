"""Watch a model's hidden layers while Hugging Face ``transformers.Trainer`` trains it.

Usage::

    from sentrycam.integrations.transformers import SentrycamCallback

    probe = ({"input_ids": ids, "attention_mask": mask}, labels)   # a fixed set of examples
    cb = SentrycamCallback(layers=["bert.encoder.layer.0.output", "bert.pooler"], probe=probe,
                           every=50, stop_on="critical", record="run.arrows")
    cb.monitor                      # a notebook cell: the live view, before training starts
    trainer = transformers.Trainer(model=model, args=args, train_dataset=ds, callbacks=[cb])
    trainer.train()

When the monitor exists: at once. ``cb.monitor`` is a :class:`sentrycam.Monitor` made when the
callback is, so it can be displayed before ``trainer.train()``. The trainer's model is bound to
it when training starts (``on_train_begin``): ``layers`` are names from the model's
``named_modules()``, and an unknown name raises ``ValueError`` from ``trainer.train()`` before the
first step. ``model=`` watches another module instead, bound and checked at once. Token outputs
``(N, T, D)`` become one row per example (``pool="auto"`` averages over the tokens; see
:class:`sentrycam.Monitor`). The probe's inputs are passed as ``model(**inputs)``.

What it does, in the trainer's terms:

- the step number is ``state.global_step``; a frame is captured when training starts and then
  every ``every`` optimizer steps. When the trainer logs at that step, the capture waits for the
  log (``on_log``, the same step, no weights changed in between) so that the loss just logged
  rides along; otherwise it happens at ``on_step_end``;
- the scalars riding along are the numbers the trainer logged since the previous capture
  (``loss``, ``grad_norm``, ``eval_*``; timings and ``epoch`` are left out) and ``lr``: the first
  optimizer's first parameter group (the alert engine follows a warm-up by it). The trainer
  leaves NaN losses out of its logs (``logging_nan_inf_filter``); non-finite activations still
  raise a critical alert;
- only the main process (``state.is_world_process_zero``) captures and records, unless the
  monitor is told otherwise (``distributed="shard"``: every rank runs its part of the probe, for
  FSDP; ``"all"``: every rank captures on its own);
- ``stop_on="warning"`` or ``"critical"``: an alert of that severity or worse sets
  ``control.should_training_stop`` (in a multi-process job every rank agrees at the next
  multiple of ``every``). With the default background thread an alert reaches the training loop
  a step or a few after the capture that raised it; ``sync=True`` makes it the same step.
  ``cb.stopped_by`` is the alert that stopped training;
- when training ends the monitor is flushed (every frame recorded and sent), not closed: the
  view stays live and training may resume; ``cb.monitor.close()`` (or interpreter exit) ends the
  recording.
"""

from __future__ import annotations

from typing import Any

from ._common import (
    Watch,
    WatchingCallback,
    as_number,
    first_lr,
    missing_framework,
    numbers,
    reduce_any,
)

try:
    from transformers import TrainerCallback
except ImportError:
    raise missing_framework("transformers", "transformers") from None

__all__ = ["SentrycamCallback"]

# Logged numbers that are bookkeeping, not the run's health (``learning_rate`` becomes ``lr``).
SKIPPED = frozenset({"epoch", "learning_rate", "total_flos", "num_input_tokens_seen", "step"})
SKIPPED_SUFFIXES = ("_runtime", "_per_second")


class SentrycamCallback(WatchingCallback, TrainerCallback):
    """Watch the trained model's ``layers`` on a fixed ``probe`` every ``every`` steps.

    ``stop_on`` (``None``, ``"warning"``, ``"critical"``): stop training on an alert of that
    severity or worse. ``model``: the module to watch when not the trainer's model. Other keyword
    arguments go to :class:`sentrycam.Monitor` (``record=``, ``pool=``, ``budget=``, ``sync=``,
    ...). ``.monitor`` is the monitor, displayable at once.
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
        self._watch = Watch(layers, probe, every, stop_on, model, monitor_kwargs)
        self._logged: dict[str, float] = {}  # numbers logged since the latest capture
        self._logged_lr: float | None = None  # the latest logged learning rate
        self._pending: int | None = None  # a due step whose capture waits for the step's log
        self._distributed = False
        self._device: Any = None

    # ---- hooks ------------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        watch = self._watch
        watch.start(kwargs.get("model"), is_zero=state.is_world_process_zero)
        self._distributed = args.world_size > 1 and watch.stop_rank is not None
        self._device = args.device
        self._logged = {}
        self._logged_lr = None
        self._pending = None
        if watch.active:
            lr = first_lr(kwargs.get("optimizer"))
            watch.capture(state.global_step, {} if lr is None else {"lr": lr})
        return control

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._pending is not None:  # the log it waited for did not come
            self._resolve(control, kwargs)
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        watch = self._watch
        step = state.global_step
        if step % watch.every:
            if watch.active:
                watch.monitor.step(step)
                if watch.stop_requested and not self._distributed:
                    control.should_training_stop = True
            return control
        if not (watch.active or self._distributed):
            return control
        self._pending = step
        if not control.should_log:  # else on_log (right after this hook) resolves it
            self._resolve(control, kwargs)
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        if self._watch.active and logs:
            self._logged.update(_health(logs))
            self._logged_lr = as_number(logs.get("learning_rate"), self._logged_lr)
        if self._pending is not None and self._pending == state.global_step:
            self._resolve(control, kwargs)
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._pending is not None:
            self._resolve(control, kwargs)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._pending is not None:
            self._resolve(control, kwargs)
        self._watch.finish()
        return control

    # ---- helpers ----------------------------------------------------------------------------

    def _resolve(self, control: Any, kwargs: dict[str, Any]) -> None:
        """Capture the pending step with what was logged since the previous capture; in a
        multi-process job, let every rank agree on stopping (all ranks call this together)."""
        step, self._pending = self._pending, None
        watch = self._watch
        if watch.active and step is not None:
            scalars, self._logged = self._logged, {}
            lr = first_lr(kwargs.get("optimizer"), self._logged_lr)
            if lr is not None:
                scalars["lr"] = lr
            watch.capture(step, scalars)
        if self._distributed:
            if watch.agree(lambda flag: reduce_any(flag, self._device)):
                control.should_training_stop = True
        elif watch.stop_requested:
            control.should_training_stop = True


def _health(logs: dict[str, Any]) -> dict[str, float]:
    """The logged numbers that tell how the run goes (not timings, not the learning rate)."""
    return numbers(
        logs, skip=[k for k in logs if k in SKIPPED or str(k).endswith(SKIPPED_SUFFIXES)]
    )
