"""The ``transformers.Trainer`` path of ``lib_runs``: one segment of a run inside the Hugging Face
Trainer (its AdamW without weight decay on biases and LayerNorm, its gradient clipping), with our
per-step batches (failure-aware), our schedule (a ``LambdaLR``: warm-up + cosine x the failure's
factor), the failure's penalty in ``compute_loss``, and captures and snapshots in a
``TrainerCallback`` at the same cadence as the plain loop."""

from __future__ import annotations

import tempfile
import time
from itertools import count

import torch
from lib_runs import BATCH, Sim


def trainer_segment(sim: Sim, start: int, end: int, stops: set[int]) -> None:
    """The same segment inside ``transformers.Trainer``: our batches (per-step, failure-aware),
    our schedule (a LambdaLR: warm-up + cosine x the failure's factor), the loss with the
    failure's penalty in ``compute_loss``; captures and snapshots in a ``TrainerCallback``."""
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    fam = sim.fam
    clock = {"t": 0.0}

    class Batches(torch.utils.data.IterableDataset):
        def __iter__(self):
            for s in count(start):
                x, y = sim.batch(s)
                yield {"input_ids": x, "labels": y}

    class Capture(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kw):
            sim.opt = optimizer
            if sim.snap_in is not None:
                optimizer.load_state_dict(sim.snap_in["opt"])
                torch.set_rng_state(sim.snap_in["torch_rng"])
            for g in optimizer.param_groups:
                g["lr"] = sim.lr(start)
            sim.at(start, stops)

        def on_step_begin(self, args, state, control, **kw):
            sim.before_step(start + state.global_step)
            clock["t"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            sim.train_s += time.perf_counter() - clock["t"]
            sim.at(start + state.global_step, stops)

    class LoopTrainer(Trainer):
        def get_train_dataloader(self):
            # its own generator: making the iterator draws no number from torch's global RNG,
            # so a run resumed from a snapshot sees the same dropout masks as one trained through
            return torch.utils.data.DataLoader(
                Batches(), batch_size=None, generator=torch.Generator()
            )

        def create_scheduler(self, num_training_steps, optimizer=None):
            opt = optimizer if optimizer is not None else self.optimizer
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda i: sim.lr(start + i) / fam.lr
            )
            return self.lr_scheduler

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = sim.loss(start + self.state.global_step, inputs["input_ids"], inputs["labels"])
            return (loss, None) if return_outputs else loss

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, max_steps=end - start, per_device_train_batch_size=BATCH,
            learning_rate=fam.lr, weight_decay=fam.wd, max_grad_norm=fam.clip or 0.0,
            optim="adamw_torch", report_to="none", save_strategy="no", logging_strategy="no",
            eval_strategy="no", disable_tqdm=True, use_cpu=True, dataloader_num_workers=0,
            seed=sim.run.seed,
        )  # fmt: skip
        trainer = LoopTrainer(model=sim.model, args=args, callbacks=[Capture()])
        trainer.remove_callback(PrinterCallback)  # no log lines on stdout
        trainer.train()
