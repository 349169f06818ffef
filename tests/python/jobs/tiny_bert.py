"""A tiny BERT from a config (no download) and generated token data it can learn: shared by
tests/python/test_transformers.py and the two-process job that test launches with torchrun."""

from __future__ import annotations

from typing import Any

import torch
import transformers

VOCAB, TOKENS = 50, 16


def make_tokens(n: int, seed: int) -> tuple[Any, Any, Any]:
    """``n`` sequences of random tokens; label 1 when token 7 appears (half of them)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(8, VOCAB, (n, TOKENS), generator=g)
    ids[:, 0] = 2  # a [CLS]-like first token
    has = torch.rand(n, generator=g) < 0.5
    where = torch.randint(1, TOKENS, (n,), generator=g)
    ids[has, where[has]] = 7
    return ids, torch.ones(n, TOKENS, dtype=torch.long), has.long()


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        self.ids, self.mask, self.labels = make_tokens(n, seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i], "labels": self.labels[i]}


def tiny_bert() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=TOKENS,
    )
    return transformers.BertForSequenceClassification(config)


class NaNAt(transformers.TrainerCallback):
    """Turns a weight of the first block to NaN at the end of step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        if state.global_step == self.step:
            with torch.no_grad():
                model.bert.encoder.layer[0].output.dense.weight.fill_(float("nan"))
