"""Model zoo: one capture of library models we did not write, counting crashes and warnings.

Every torchvision classification model (``torchvision.models.list_models(module=torchvision.
models)``) of at most 60M parameters, at least 200 timm models and the 23 transformers
architectures of ``HF_MODELS`` from small configurations, all with random initialisation (nothing
is downloaded) and 10 classes. Per model: ``Monitor(model, layers=..., probe=(x, y), every=1,
sync=True)``, ``cam.step(0)``, then ``cam.frames``, ``cam.problems``, ``cam.alerts`` and
``cam.close()``, with every warning raised meanwhile recorded. Not a CI test: a table for a human
to read.

Models and inputs:

- torchvision: ``get_model(name, weights=None, num_classes=10)``; models over 60M parameters (as
  built, counted on the meta device) are skipped. Inputs are 3x64x64; a model whose forward pass
  fails there is tried at 96, 128, 224 and 299.
- timm: the modules of ``timm.list_modules()`` in order (98 in timm 1.0.31); within each, its
  models by name whose default configuration (``timm.create_model(name)`` on the meta device) has
  at most 30M parameters. Round r takes the r-th such model of every module (modules without one
  are passed), until ``--limit-timm`` models have been tried (captured, or crashed inside
  sentrycam); later ones finishing in parallel are dropped, so the set is the first N of that
  order. Built with ``pretrained=False, num_classes=10`` and, where the model takes it,
  ``img_size`` equal to the input size; inputs of 64x64 first, then 96, 128, 160, 224 and 256
  (those below the model's default input size), then its default size (built without
  ``img_size``). A model that cannot be built or run at any of these sizes without sentrycam,
  or whose plain forward pass takes over ``--slow`` seconds, is skipped (listed, not tried).
- transformers: the configurations in ``HF_MODELS`` (hidden size 32-64, 2 layers); token models
  get a probe dict of ``input_ids`` and ``attention_mask`` (8 rows of 16 tokens, 4 of them right
  padded), vision models ``pixel_values`` (3x32x32), audio models their features.

The probe: 8 samples (seeded normal images or random token ids) and integer labels. Models are in
training mode, as while a user trains them (the probe runs them in eval mode).

Layers watched (real ``named_modules()`` names): the top-level stages (direct children; a
``ModuleList``/``ModuleDict`` child, or a ``Sequential`` child never called, is replaced by its
entries: all of them up to 4, else the first two, the middle and the last) plus up to three inner
modules: the middle module of ``named_modules()``, the middle activation module and the last
normalisation module (among those the probe's forward pass calls). Before sentrycam sees the
model, one plain forward pass of the probe in eval mode (as the probe runs) counts the calls of
every module with hooks: a sentrycam warning that a layer was not called, or ran k times, is
checked against that count (the ``bench check`` column: agrees / DISAGREES / -).

A crash: an exception from ``Monitor(...)``, ``step``, ``frames``, ``problems`` or ``close``; a
"running the probe failed" or "background thread hit a bug" problem; a timeout or a dead worker
while sentrycam runs. Captured OK: no crash, and every watched layer has a frame (of the probe's
8 rows) or a warning that names it. Outputs that look channels-last (``(N, H, W, C)`` with
H = W != C) whose rows do not have C values (pooled as ``(N, C, H, W)`` without a word) are
listed too.

Warnings are grouped with digits and quoted names masked. Workers: ``--jobs`` spawned processes,
one torch thread each, a new process every ``RECYCLE`` models; a model that runs over
``--timeout`` seconds is killed with its worker.

Prints a markdown table; writes bench/results/model_zoo.md and model_zoo.json (not with --quick).
Usage: .venv/bin/python bench/model_zoo.py [--quick] [--limit-timm N] [--jobs N] [--slow S]
       [--timeout S] [--only torchvision,timm,transformers] [--out DIR]
torchvision and timm are imported as bench/lib_models.py imports them: from $SENTRYCAM_BENCH_LIBS
(default .venv/library-models, which scripts/setup.sh makes); see /work/shared/environment.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reporting

ROOT = Path(__file__).resolve().parent.parent
N_PROBE = 8
CLASSES = 10
SEQ = 16  # tokens per probe row
DECODER_SEQ = 6  # decoder tokens of encoder-decoder models (not N_PROBE: no ambiguous shapes)
IMAGE = 64  # first image size tried
TV_SIZES = (64, 96, 128, 224, 299)
TIMM_SIZES = (64, 96, 128, 160, 224, 256)
TV_MAX_PARAMS = 60_000_000
TIMM_MAX_PARAMS = 30_000_000
RECYCLE = 25  # models per worker process before a fresh one
MAX_INNER = 3
ACT_NAMES = re.compile(r"ReLU|GELU|SiLU|Swish|Hardswish|Mish|Sigmoid|Tanh|ELU|Activation|Act$")
NORM_NAMES = re.compile(r"Norm")
CONTAINERS = ("ModuleList", "ModuleDict")
QUICK = {
    "torchvision": ["resnet18", "inception_v3", "mobilenet_v3_small", "swin_t"],
    "timm": ["convnext_atto", "efficientnet_b0", "resnet18", "vit_tiny_patch16_224"],
    "transformers": ["bert", "gpt2", "t5", "whisper"],
}
LIBS = ("torchvision", "timm", "transformers")


# ---- libraries -----------------------------------------------------------------------------


def import_vision() -> tuple[Any, Any]:
    """torchvision and timm, imported as the library-model benchmark imports them
    (bench/lib_models.py: from $SENTRYCAM_BENCH_LIBS, torchvision's fake-op registrations of its
    detection ops skipped)."""
    import lib_models

    return lib_models.torchvision, lib_models.timm


def count_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def meta_params(build: Callable[[], Any]) -> int | None:
    """Parameters of ``build()`` made on the meta device (no memory, no initialisation)."""
    import torch

    try:
        with torch.device("meta"):
            return count_params(build())
    except Exception:
        return None


# ---- transformers models from small configurations -----------------------------------------


def _tok(cfg_name: str, model_name: str, **cfg: Any) -> Callable[[], tuple[Any, str]]:
    def make() -> tuple[Any, str]:
        import transformers

        config = getattr(transformers, cfg_name)(**cfg)
        return getattr(transformers, model_name)(config), model_name

    return make


SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
ENC = {**SMALL, "vocab_size": 256, "intermediate_size": 128, "num_labels": CLASSES}
DEC = {**SMALL, "vocab_size": 256, "intermediate_size": 128, "num_labels": CLASSES}
VISION = {**SMALL, "image_size": 32, "num_channels": 3, "num_labels": CLASSES}

#: name: (builder, input kind) with input kind one of "tokens", "seq2seq", "pixels", "audio",
#: "mel", "clip".
HF_MODELS: dict[str, tuple[Callable[[], tuple[Any, str]], str]] = {
    "bert": (_tok("BertConfig", "BertForSequenceClassification", **ENC), "tokens"),
    "roberta": (
        _tok("RobertaConfig", "RobertaForSequenceClassification", **ENC,
             max_position_embeddings=SEQ + 2),
        "tokens",
    ),
    "distilbert": (
        _tok("DistilBertConfig", "DistilBertForSequenceClassification", vocab_size=256, dim=64,
             n_layers=2, n_heads=2, hidden_dim=128, num_labels=CLASSES),
        "tokens",
    ),
    "albert": (
        _tok("AlbertConfig", "AlbertForSequenceClassification", **ENC, embedding_size=32),
        "tokens",
    ),
    "electra": (
        _tok("ElectraConfig", "ElectraForSequenceClassification", **ENC, embedding_size=32),
        "tokens",
    ),
    "deberta_v2": (
        _tok("DebertaV2Config", "DebertaV2ForSequenceClassification", **ENC),
        "tokens",
    ),
    "mobilebert": (
        _tok("MobileBertConfig", "MobileBertForSequenceClassification", **ENC,
             embedding_size=32, intra_bottleneck_size=32, true_hidden_size=32,
             num_feedforward_networks=2),
        "tokens",
    ),
    "gpt2": (
        _tok("GPT2Config", "GPT2ForSequenceClassification", vocab_size=256, n_embd=64, n_layer=2,
             n_head=2, n_positions=SEQ, num_labels=CLASSES, pad_token_id=0),
        "tokens",
    ),
    "gpt_neo": (
        _tok("GPTNeoConfig", "GPTNeoForCausalLM", vocab_size=256, hidden_size=64, num_layers=2,
             num_heads=2, attention_types=[[["global", "local"], 1]], window_size=8,
             max_position_embeddings=SEQ),
        "tokens",
    ),
    "opt": (
        _tok("OPTConfig", "OPTForCausalLM", vocab_size=256, hidden_size=64, num_hidden_layers=2,
             num_attention_heads=2, ffn_dim=128, word_embed_proj_dim=64,
             max_position_embeddings=SEQ, pad_token_id=0),
        "tokens",
    ),
    "llama": (
        _tok("LlamaConfig", "LlamaForCausalLM", **DEC, num_key_value_heads=1,
             max_position_embeddings=SEQ),
        "tokens",
    ),
    "mistral": (
        _tok("MistralConfig", "MistralForCausalLM", **DEC, num_key_value_heads=1,
             max_position_embeddings=SEQ, sliding_window=8),
        "tokens",
    ),
    "qwen2": (
        _tok("Qwen2Config", "Qwen2ForSequenceClassification", **DEC, num_key_value_heads=1,
             max_position_embeddings=SEQ, pad_token_id=0),
        "tokens",
    ),
    "t5": (
        _tok("T5Config", "T5ForConditionalGeneration", vocab_size=256, d_model=64, d_kv=32,
             d_ff=128, num_layers=2, num_heads=2, decoder_start_token_id=0),
        "seq2seq",
    ),
    "bart": (
        _tok("BartConfig", "BartForConditionalGeneration", vocab_size=256, d_model=64,
             encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
             decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
             max_position_embeddings=SEQ),
        "seq2seq",
    ),
    "vit": (
        _tok("ViTConfig", "ViTForImageClassification", **VISION, patch_size=4,
             intermediate_size=128),
        "pixels",
    ),
    "deit": (
        _tok("DeiTConfig", "DeiTForImageClassificationWithTeacher", **VISION, patch_size=4,
             intermediate_size=128),
        "pixels",
    ),
    "swin": (
        _tok("SwinConfig", "SwinForImageClassification", image_size=32, patch_size=2,
             embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4,
             num_labels=CLASSES),
        "pixels",
    ),
    "convnext": (
        _tok("ConvNextConfig", "ConvNextForImageClassification", hidden_sizes=[16, 32, 64, 128],
             depths=[1, 1, 1, 1], num_labels=CLASSES),
        "pixels",
    ),
    "hf_resnet": (
        _tok("ResNetConfig", "ResNetForImageClassification", embedding_size=16,
             hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_labels=CLASSES),
        "pixels",
    ),
    "wav2vec2": (
        _tok("Wav2Vec2Config", "Wav2Vec2ForSequenceClassification", **SMALL,
             intermediate_size=128, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, num_labels=CLASSES,
             classifier_proj_size=32),
        "audio",
    ),
    "whisper": (
        _tok("WhisperConfig", "WhisperForAudioClassification", vocab_size=256, d_model=64,
             encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
             decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
             num_mel_bins=16, max_source_positions=16, max_target_positions=16,
             num_labels=CLASSES, classifier_proj_size=32),
        "mel",
    ),
    "clip": (
        _tok("CLIPConfig", "CLIPModel",
             text_config={**SMALL, "vocab_size": 256, "intermediate_size": 128,
                          "max_position_embeddings": SEQ},
             vision_config={**SMALL, "intermediate_size": 128, "image_size": 32,
                            "patch_size": 4},
             projection_dim=32),
        "clip",
    ),
}  # fmt: skip


# ---- inputs ---------------------------------------------------------------------------------


def token_probe(seed: int) -> dict[str, Any]:
    """``input_ids`` (8 x 16, ids 3..255) and an ``attention_mask`` padding 4 rows on the right
    (padded positions hold id 0)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 256, (N_PROBE, SEQ), generator=g)
    lengths = torch.tensor([SEQ, SEQ, 12, 9, SEQ, 5, 14, SEQ])
    mask = (torch.arange(SEQ)[None, :] < lengths[:, None]).long()
    return {"input_ids": ids * mask, "attention_mask": mask}


def hf_inputs(kind: str, seed: int) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn(N_PROBE, 3, 32, 32, generator=g)
    if kind == "tokens":
        return token_probe(seed)
    if kind == "seq2seq":
        ids = torch.randint(3, 256, (N_PROBE, DECODER_SEQ), generator=g)
        return {**token_probe(seed), "decoder_input_ids": ids}
    if kind == "pixels":
        return {"pixel_values": pixels}
    if kind == "audio":
        return {"input_values": torch.randn(N_PROBE, 1600, generator=g)}
    if kind == "mel":
        return {"input_features": torch.randn(N_PROBE, 16, 32, generator=g)}
    if kind == "clip":
        return {**token_probe(seed), "pixel_values": pixels}
    raise ValueError(kind)


def shape_of(x: Any) -> str:
    if isinstance(x, dict):
        return ", ".join(f"{k} {tuple(v.shape)}" for k, v in x.items())
    return str(tuple(x.shape))


def call(model: Any, x: Any) -> Any:
    return model(**x) if isinstance(x, dict) else model(x)


# ---- the plain pass and the layers ---------------------------------------------------------


def plain_pass(model: Any, x: Any) -> tuple[dict[str, int], dict[str, int], float]:
    """One forward pass of the probe in eval mode without gradients, as sentrycam's probe runs:
    each named module's calls seen by forward hooks, and seen by a wrapper of its ``forward``
    (which also counts a parent's direct ``child.forward(x)``, invisible to hooks), and the
    seconds. Modes are restored."""
    import torch

    calls: dict[str, int] = defaultdict(int)
    forwards: dict[str, int] = defaultdict(int)
    handles, wrapped = [], []
    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(
            module.register_forward_hook(
                lambda *_a, name=name: calls.__setitem__(name, calls[name] + 1)
            )
        )
        if "forward" not in vars(module):
            module.forward = counted(module.forward, name, forwards)
            wrapped.append(module)
    modes = [(m, m.training) for m in model.modules()]
    t0 = time.perf_counter()
    try:
        model.eval()
        with torch.no_grad():
            call(model, x)
    finally:
        for module, training in modes:
            module.training = training
        for handle in handles:
            handle.remove()
        for module in wrapped:
            del module.forward
    return dict(calls), dict(forwards), time.perf_counter() - t0


def counted(forward: Callable, name: str, counts: dict[str, int]) -> Callable:
    @functools.wraps(forward)
    def run(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return forward(*args, **kwargs)

    return run


def entries(names: list[str]) -> list[str]:
    """All of ``names`` up to 4, else the first two, the middle one and the last."""
    if len(names) <= 4:
        return names
    return [names[0], names[1], names[len(names) // 2], names[-1]]


def stage_names(name: str, module: Any, calls: dict[str, int]) -> list[str]:
    """``name``, or for a container (a ``ModuleList``/``ModuleDict``, or a ``Sequential`` that
    no hook sees called) its entries' stage names, subsampled by :func:`entries`."""
    kind = type(module).__name__
    if kind in CONTAINERS or (kind == "Sequential" and not calls.get(name)):
        inner = [stage_names(f"{name}.{c}", child, calls) for c, child in module.named_children()]
        return entries([n for names in inner for n in names])
    return [name]


def pick_layers(model: Any, calls: dict[str, int]) -> list[str]:
    """The top-level stages (containers replaced by their entries) and up to three inner
    modules: the middle named module, the middle activation, the last normalisation layer."""
    chosen = [n for c, child in model.named_children() for n in stage_names(c, child, calls)]
    called = [
        (n, m)
        for n, m in model.named_modules()
        if n and calls.get(n) and type(m).__name__ not in CONTAINERS and n not in chosen
    ]
    acts = [n for n, m in called if ACT_NAMES.search(type(m).__name__) and not any(m.children())]
    norms = [n for n, m in called if NORM_NAMES.search(type(m).__name__)]
    inner = []
    if called:
        inner.append(called[len(called) // 2][0])
    if acts:
        inner.append(acts[len(acts) // 2])
    if norms:
        inner.append(norms[-1])
    for name in inner[:MAX_INNER]:
        if name not in chosen:
            chosen.append(name)
    return chosen


# ---- building ------------------------------------------------------------------------------


def images(size: int, seed: int) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(N_PROBE, 3, size, size, generator=g)


def build_torchvision(name: str, seed: int, out: dict[str, Any]) -> tuple[Any, Any, dict] | None:
    import torch

    torchvision, _ = import_vision()
    make = lambda **kw: torchvision.models.get_model(  # noqa: E731
        name, weights=None, num_classes=CLASSES, **kw
    )
    params = meta_params(make)
    out["params"] = params
    if params is not None and params > TV_MAX_PARAMS:
        out["skip"] = f"{params / 1e6:.0f}M parameters > {TV_MAX_PARAMS / 1e6:.0f}M"
        return None
    torch.manual_seed(seed)
    model = make()
    return try_sizes(lambda _size: model, TV_SIZES, seed, out)


def build_timm(name: str, seed: int, out: dict[str, Any]) -> tuple[Any, Any, dict] | None:
    import torch

    _, timm = import_vision()
    cfg = timm.get_pretrained_cfg(name)
    default = int((getattr(cfg, "input_size", None) or (3, 224, 224))[-1])
    sizes = tuple(dict.fromkeys((*(s for s in TIMM_SIZES if s < default), default)))

    def make(img: int | None) -> Any:
        torch.manual_seed(seed)
        kwargs = {"img_size": img} if img is not None and img != default else {}
        return timm.create_model(name, pretrained=False, num_classes=CLASSES, **kwargs)

    built = try_sizes(make, sizes, seed, out)
    if built is not None and out["params"] > TIMM_MAX_PARAMS:  # not countable on the meta device
        out["skip"] = f"{out['params'] / 1e6:.0f}M parameters > {TIMM_MAX_PARAMS / 1e6:.0f}M"
        return None
    return built


def try_sizes(
    make: Callable[[int | None], Any], sizes: tuple[int, ...], seed: int, out: dict[str, Any]
) -> tuple[Any, Any, dict] | None:
    """The model (``make(size)`` per size while it takes ``img_size``; ``make(None)``: the model
    that does not), a probe it runs, and the plain pass's call counts, at the first size whose
    forward pass works."""
    errors = []
    takes_size, model = True, None
    for size in sizes:
        if takes_size:
            try:
                model = make(size)
            except TypeError as exc:
                if "img_size" not in str(exc):
                    errors.append(f"{size}: build TypeError: {str(exc)[:120]}")
                    continue
                takes_size, model = False, make(None)
            except Exception as exc:  # a size the model cannot be built at
                errors.append(f"{size}: build {type(exc).__name__}: {str(exc)[:120]}")
                continue
        x = images(size, seed)
        try:
            calls, forwards, seconds = plain_pass(model, x)
        except Exception as exc:
            errors.append(f"{size}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        out["img_size_kwarg"] = takes_size
        out["plain_s"] = round(seconds, 3)
        out["params"] = count_params(model)
        return model, x, (calls, forwards)
    out["skip"] = "no forward pass at any size: " + " | ".join(errors[-3:])
    return None


def build_hf(name: str, seed: int, out: dict[str, Any]) -> tuple[Any, Any, dict] | None:
    import torch

    make, kind = HF_MODELS[name]
    torch.manual_seed(seed)
    model, cls = make()
    out["class"] = cls
    out["params"] = count_params(model)
    x = hf_inputs(kind, seed)
    try:
        calls, forwards, seconds = plain_pass(model, x)
    except Exception as exc:
        out["skip"] = f"plain forward pass failed: {type(exc).__name__}: {str(exc)[:200]}"
        return None
    out["plain_s"] = round(seconds, 3)
    return model, x, (calls, forwards)


BUILDERS = {"torchvision": build_torchvision, "timm": build_timm, "transformers": build_hf}


# ---- one model ------------------------------------------------------------------------------


def run_model(lib: str, name: str, seed: int, slow: float, send: Callable) -> dict[str, Any]:
    """Build, pick layers, capture once; everything the table needs."""
    import torch

    out: dict[str, Any] = {"lib": lib, "name": name}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the libraries' own warnings while building
            built = BUILDERS[lib](name, seed, out)
    except Exception as exc:
        out["skip"] = f"build failed: {type(exc).__name__}: {str(exc)[:200]}"
        built = None
    out["build_s"] = round(time.perf_counter() - t0, 2)
    if built is None:
        return out
    if out.get("plain_s", 0) > slow:
        out["skip"] = f"slow: plain forward pass {out['plain_s']:.1f} s > {slow:g} s"
        return out
    model, x, (calls, forwards) = built
    model.train()  # as while training; the probe runs it in eval mode
    layers = pick_layers(model, calls)
    y = torch.randint(0, CLASSES, (N_PROBE,), generator=torch.Generator().manual_seed(seed))
    out.update(
        input=shape_of(x),
        layers=layers,
        calls={n: calls.get(n, 0) for n in layers},
        forward_calls={  # only where they differ from the hooks' count
            n: forwards.get(n, 0) for n in layers if forwards.get(n, 0) != calls.get(n, 0)
        },
    )
    modes = [m.training for m in model.modules()]
    hooks = hook_count(model)
    send(("stage", "sentrycam"))
    out.update(capture(model, layers, x, y))
    out["modes_restored"] = modes == [m.training for m in model.modules()]
    out["hooks_left"] = hook_count(model) - hooks
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def hook_count(model: Any) -> int:
    """Forward (pre-)hooks on the model's modules."""
    modules = list(model.modules())
    after = sum(len(m._forward_hooks) for m in modules)  # noqa: SLF001 (what the check counts)
    return after + sum(len(m._forward_pre_hooks) for m in modules)  # noqa: SLF001


def capture(model: Any, layers: list[str], x: Any, y: Any) -> dict[str, Any]:
    """One capture with sentrycam: frames, problems, warnings, alerts, crash."""
    import sentrycam

    out: dict[str, Any] = {"crash": None}
    cam = None
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cam = sentrycam.Monitor(model, layers=layers, probe=(x, y), every=1, sync=True)
            cam.step(0)
            frames = cam.frames
            out["problems"] = list(cam.problems)
            out["alerts"] = [f"{a.kind} {a.layer}" for a in cam.alerts]
            out["frames"] = [
                {"layer": f.layer, "n": f.n, "d": f.d, "shape": list(f.shape), "pool": f.pool,
                 "width": f.projected_from or f.d,
                 "nonfinite": int(f.nonfinite)}
                for f in frames
            ]  # fmt: skip
            cam.close()
        except Exception as exc:
            out["crash"] = f"{type(exc).__name__}: {exc}"
            out["traceback"] = traceback.format_exc()
            if cam is not None:
                with contextlib.suppress(Exception):
                    cam.close()
    out["capture_s"] = round(time.perf_counter() - t0, 3)
    out["warnings"] = [str(w.message) for w in caught if w.category is sentrycam.SentrycamWarning]
    out["other_warnings"] = [
        f"{w.category.__name__}: {str(w.message)[:300]} ({Path(w.filename).name}:{w.lineno})"
        for w in caught
        if w.category is not sentrycam.SentrycamWarning
    ]
    return out


def worker(conn: Any, seed: int, slow: float) -> None:
    """A worker process: one torch thread; models from ``conn`` until ``None``."""
    import torch

    torch.set_num_threads(1)
    import_vision()
    import transformers

    import sentrycam  # noqa: F401

    transformers.logging.set_verbosity_error()
    while True:
        task = conn.recv()
        if task is None:
            return
        lib, name = task
        try:
            result = run_model(lib, name, seed, slow, conn.send)
        except Exception as exc:  # a bench bug: reported, never hidden
            result = {"lib": lib, "name": name, "skip": f"bench error: {exc!r}",
                      "traceback": traceback.format_exc()}  # fmt: skip
        conn.send(("done", result))


# ---- scheduling -----------------------------------------------------------------------------


class Slot:
    """One worker process and the model it runs."""

    def __init__(self, ctx: Any, seed: int, slow: float) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(child, seed, slow), daemon=True)
        self.proc.start()
        child.close()
        self.task: tuple[str, str, int] | None = None
        self.started = 0.0
        self.stage = "build"
        self.done = 0

    def give(self, task: tuple[str, str, int]) -> None:
        self.task, self.started, self.stage = task, time.perf_counter(), "build"
        self.conn.send(task[:2])

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def timm_order(timm: Any, stats: dict[str, int]) -> Iterator[tuple[str, int | None]]:
    """The eligible timm models in round-robin order over modules (see the module docstring),
    with their parameter counts at the default configuration; ``stats`` counts the screening."""
    queues = {m: sorted(timm.list_models(module=m)) for m in timm.list_modules()}
    stats.update(models=sum(map(len, queues.values())), modules=len(queues))
    pos = dict.fromkeys(queues, 0)
    while any(pos[m] < len(q) for m, q in queues.items()):
        for module, queue in queues.items():
            while pos[module] < len(queue):
                name = queue[pos[module]]
                pos[module] += 1
                params = meta_params(lambda name=name: timm.create_model(name))
                stats["screened"] = stats.get("screened", 0) + 1
                if params is None or params <= TIMM_MAX_PARAMS:  # None: counted when built
                    yield name, params
                    break
                stats["over_limit"] = stats.get("over_limit", 0) + 1


def run_all(tasks: list[tuple[str, str]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the fixed tasks and the timm models (lazily, until ``--limit-timm`` were tried)."""
    ctx = mp.get_context("spawn")
    results: list[dict[str, Any]] = []
    fixed = [(lib, name, i) for i, (lib, name) in enumerate(tasks)]
    timm_iter: Iterator[tuple[str, int | None]] | None = None
    if args.timm_models is None and "timm" in args.only:
        _, timm = import_vision()
        timm_iter = timm_order(timm, args.timm_stats)
    timm_tried, timm_flying, timm_index = 0, 0, 0
    slots = [Slot(ctx, args.seed, args.slow) for _ in range(args.jobs)]
    t_start = time.perf_counter()

    def next_task() -> tuple[str, str, int] | None:
        nonlocal timm_flying, timm_index, timm_iter
        if fixed:
            return fixed.pop(0)
        if timm_iter is None or timm_tried + timm_flying >= args.limit_timm:
            return None
        try:
            name, _ = next(timm_iter)
        except StopIteration:
            timm_iter = None
            return None
        timm_flying += 1
        timm_index += 1
        return ("timm", name, 100_000 + timm_index)

    def finish(slot: Slot, result: dict[str, Any]) -> None:
        nonlocal timm_tried, timm_flying
        assert slot.task is not None
        lib, name, order = slot.task
        result["order"] = order
        result["wall_s"] = round(time.perf_counter() - slot.started, 2)
        if lib == "timm" and order >= 100_000:
            timm_flying -= 1
            timm_tried += "skip" not in result
        results.append(result)
        tried = sum("skip" not in r for r in results)
        status = "skip" if "skip" in result else "CRASH" if result.get("crash") else "ok"
        print(
            f"[{time.perf_counter() - t_start:6.0f}s] {tried:3d} tried  {lib}/{name}: {status} "
            f"{result.get('wall_s', 0):.1f}s {len(result.get('warnings', []))} warning(s)",
            file=sys.stderr,
            flush=True,
        )
        slot.task = None
        slot.done += 1

    try:
        while True:
            for i, slot in enumerate(slots):
                if slot.task is None:
                    if slot.done >= RECYCLE:
                        slot.stop()
                        slots[i] = slot = Slot(ctx, args.seed, args.slow)
                    task = next_task()
                    if task is not None:
                        slot.give(task)
            busy = [s for s in slots if s.task is not None]
            if not busy:
                break
            for conn in wait([s.conn for s in busy], timeout=1.0):
                slot = next(s for s in busy if s.conn is conn)
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    dead(slot, results, finish, "its worker process died")
                    continue
                if kind == "stage":
                    slot.stage = payload
                else:
                    finish(slot, payload)
            now = time.perf_counter()
            for slot in busy:
                if slot.task is not None and now - slot.started > args.timeout:
                    dead(slot, results, finish, f"timed out after {args.timeout:g} s")
            for i, slot in enumerate(slots):
                if slot.task is None and not slot.proc.is_alive():
                    slots[i] = Slot(ctx, args.seed, args.slow)
    finally:
        for slot in slots:
            slot.stop(kill=slot.task is not None)
    return trim_timm(results, args.limit_timm)


def dead(slot: Slot, results: list, finish: Callable, why: str) -> None:
    """A model whose worker died or ran out of time: a crash once sentrycam ran, else skipped."""
    assert slot.task is not None
    lib, name, _ = slot.task
    result: dict[str, Any] = {"lib": lib, "name": name}
    if slot.stage == "sentrycam":
        result["crash"] = f"{why} while sentrycam ran"
        result["layers"], result["frames"], result["warnings"] = [], [], []
    else:
        result["skip"] = f"{why} while building or running the model without sentrycam"
    slot.proc.kill()
    slot.proc.join()
    finish(slot, result)
    slot.proc = _ProcDead()


class _ProcDead:
    """Stands in for a killed worker until its slot gets a fresh one."""

    def is_alive(self) -> bool:
        return False

    def kill(self) -> None:
        return None

    def join(self, *_a: Any) -> None:
        return None


def trim_timm(results: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` tried timm models of the order (and every one skipped before the
    last of them); models finishing in parallel after the limit are dropped."""
    timm_runs = sorted((r for r in results if r["lib"] == "timm"), key=lambda r: r["order"])
    kept, tried = [], 0
    for r in timm_runs:
        if tried >= limit:
            break
        kept.append(r)
        tried += "skip" not in r
    others = [r for r in results if r["lib"] != "timm"]
    return sorted(others, key=lambda r: r["order"]) + kept


# ---- judging and reporting -----------------------------------------------------------------


def mask(text: str) -> str:
    """A warning's kind: the prefix dropped; quoted names, the listed stages, the probe's
    description, shapes and digits masked."""
    text = re.sub(r"^(sentrycam: )?(step \d+: )?", "", text)
    text = re.sub(r"'[^'\s]+'", "'…'", text)
    text = re.sub(r"'…'(, '…')+( \.\.\. '…')?", "'…', …", text)
    text = re.sub(r"top-level stages: [^;]*", "top-level stages: …", text)
    text = re.sub(r"\{[^{}]*\}", "{…}", text)
    text = re.sub(r"\(output shape \([^()]*\)\)", "(output shape (…))", text)
    text = re.sub(r"Tensor \([^()]*\)", "Tensor (…)", text)
    return re.sub(r"\d+(\.\d+)?", "#", text)


def bench_check(text: str, calls: dict[str, int], forwards: dict[str, int]) -> str:
    """Whether a warning about calls agrees with the plain pass's counts: 'agrees',
    'DISAGREES', 'bypass' (no hook saw it, but its ``forward`` ran: called as
    ``child.forward(x)``), '-' (not checkable)."""
    m = re.search(r"layer '([^']+)' was not called by the probe pass", text)
    if m:
        if calls.get(m.group(1), 0):
            return "DISAGREES"
        return "bypass" if forwards.get(m.group(1), 0) else "agrees"  # absent: as the hooks
    m = re.search(r"layer '([^']+)' ran (\d+) times in one forward pass", text)
    if m:
        return "agrees" if calls.get(m.group(1), 0) == int(m.group(2)) else "DISAGREES"
    return "-"


def judge(r: dict[str, Any]) -> None:
    """Add what the table counts: crash (incl. failed probe / worker bug problems), frames
    missing without a warning naming their layer, per-warning bench checks."""
    if "skip" in r:
        return
    problems = r.get("problems", [])
    for p in problems:
        if "running the probe failed" in p or "background thread hit a bug" in p:
            r["crash"] = r.get("crash") or p
    calls = r.get("calls", {})
    got = {f["layer"] for f in r.get("frames", []) if f["n"] == N_PROBE}
    missing = [n for n in r.get("layers", []) if n not in got]
    told = " ".join(problems)
    r["missing_frames"] = missing
    r["missing_untold"] = [n for n in missing if repr(n) not in told]
    r["ok"] = not r.get("crash") and not r["missing_untold"]
    forwards = r.get("forward_calls", {})
    r["checks"] = [bench_check(w, calls, forwards) for w in r.get("warnings", [])]
    r["repeats_untold"] = [  # run k > 1 times by the plain pass, no warning names it
        n for n in r.get("layers", []) if calls.get(n, 0) > 1 and repr(n) not in told
    ]
    r["nonfinite_layers"] = [f["layer"] for f in r.get("frames", []) if f["nonfinite"]]
    r["channels_last"] = [  # (N, H, W, C) pooled as (N, C, H, W): rows of H values, silently
        f"{f['layer']} {tuple(f['shape'])}"
        for f in r.get("frames", [])
        if len(f["shape"]) == 4
        and f["shape"][1] == f["shape"][2] != f["shape"][3]
        and f.get("width", f["d"]) != f["shape"][3]  # rows of C values: pooled as it is
    ]


def summary_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for lib in (*LIBS, "all"):
        rs = [r for r in results if lib in ("all", r["lib"])]
        tried = [r for r in rs if "skip" not in r]
        rows.append(
            {
                "library": lib,
                "tried": len(tried),
                "ok": sum(bool(r.get("ok")) for r in tried),
                "crashes": sum(bool(r.get("crash")) for r in tried),
                "with_warnings": sum(bool(r.get("warnings")) for r in tried),
                "warnings": sum(len(r.get("warnings", [])) for r in tried),
                "layers": sum(len(r.get("layers", [])) for r in tried),
                "frames": sum(len(r.get("frames", [])) for r in tried),
                "skipped": len(rs) - len(tried),
                "seconds": round(sum(r.get("seconds", r.get("build_s", 0)) for r in rs), 1),
            }
        )
    return rows


def grouped(results: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for r in results:
        checks = r.get("checks", []) if key == "warnings" else []
        for i, text in enumerate(r.get(key, [])):
            g = groups.setdefault(
                mask(text), {"count": 0, "models": [], "example": text, "checks": Counter()}
            )
            g["count"] += 1
            model = f"{r['lib']}/{r['name']}"
            if model not in g["models"]:
                g["models"].append(model)
            if i < len(checks):
                g["checks"][checks[i]] += 1
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]["count"]))


def cell(text: str, limit: int = 400) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def models_cell(models: list[str], shown: int = 6) -> str:
    more = f" … (+{len(models) - shown})" if len(models) > shown else ""
    return ", ".join(models[:shown]) + more


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Model zoo: one capture per library model",
        "",
        f"`{meta['command']}` · {meta['when']} · wall time {meta['wall_s'] / 60:.1f} min "
        f"({meta['jobs']} worker processes, 1 torch thread each) · {meta['machine']} · "
        f"sentrycam at {meta['git']}",
        "",
        "Random initialisation, 10 classes, probe of 8 samples (images 3x64x64 or the smallest "
        "size tried that runs; transformers: 16 tokens, 4 rows padded, or 3x32x32 pixels). "
        "Layers: the top-level stages plus up to 3 inner modules (see the script's docstring). "
        "Captured OK: no crash, and every watched layer has a frame of 8 rows or a warning that "
        "names it.",
        "",
        "| library | models tried | captured OK | crashes | models with warnings | warnings "
        "| layers watched | frames | skipped | model s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in summary_rows(results):
        lines.append(
            f"| {row['library']} | {row['tried']} | {row['ok']} | {row['crashes']} | "
            f"{row['with_warnings']} | {row['warnings']} | {row['layers']} | {row['frames']} | "
            f"{row['skipped']} | {row['seconds']:.0f} |"
        )
    screen = meta.get("timm_screening") or {}
    if screen:
        lines += [
            "",
            f"timm: {screen.get('models', 0)} models in {screen.get('modules', 0)} modules; "
            f"{screen.get('screened', 0)} screened in round-robin order, "
            f"{screen.get('over_limit', 0)} of them over {TIMM_MAX_PARAMS / 1e6:.0f}M parameters.",
        ]
    tried = [r for r in results if "skip" not in r]
    lines += ["", "## Warnings (sentrycam), grouped", ""]
    groups = grouped(tried, "warnings")
    if groups:
        lines += [
            "Digits and quoted names masked. *bench check*: the plain pass's own call count "
            "agrees with a 'not called' / 'ran k times' warning, or DISAGREES ('-': not "
            "checkable).",
            "",
            "| # | count | models | bench check | warning (masked) | example models | "
            "one example |",
            "|--:|--:|--:|---|---|---|---|",
        ]
        for i, (kind, g) in enumerate(groups.items(), 1):
            checks = ", ".join(f"{k} {v}" for k, v in sorted(g["checks"].items()))
            lines.append(
                f"| {i} | {g['count']} | {len(g['models'])} | {checks} | {cell(kind, 300)} | "
                f"{models_cell(g['models'])} | {cell(g['example'])} |"
            )
    else:
        lines.append("None.")
    lines += ["", "## Crashes", ""]
    crashes = [r for r in tried if r.get("crash")]
    for r in crashes:
        tb = r.get("traceback", "").strip().splitlines()[-6:]
        lines += [f"- **{r['lib']}/{r['name']}**: {cell(r['crash'], 600)}"]
        if tb:
            lines += ["  ```", *[f"  {t}" for t in tb], "  ```"]
    if not crashes:
        lines.append("None.")
    lines += ["", "## Other anomalies", ""]
    anomalies = []
    for r in tried:
        model = f"{r['lib']}/{r['name']}"
        if r.get("missing_untold"):
            anomalies.append(f"- {model}: no frame and no warning for {r['missing_untold']}")
        if r.get("repeats_untold"):
            anomalies.append(
                f"- {model}: no warning that {r['repeats_untold']} ran several times in one "
                "forward pass"
            )
        if r.get("hooks_left"):
            anomalies.append(f"- {model}: {r['hooks_left']} hooks left on the model after close")
        if r.get("modes_restored") is False:
            anomalies.append(f"- {model}: the modules' training modes were not restored")
        if r.get("channels_last"):
            anomalies.append(
                f"- {model}: probably channels-last (N, H, W, C) outputs, pooled as (N, C, H, W) "
                f"without a warning: {', '.join(r['channels_last'])}"
            )
        if r.get("nonfinite_layers"):
            anomalies.append(f"- {model}: non-finite values in {r['nonfinite_layers']}")
        if len(r.get("warnings", [])) != len(r.get("problems", [])) and not r.get("crash"):
            anomalies.append(
                f"- {model}: {len(r.get('warnings', []))} warnings but "
                f"{len(r.get('problems', []))} cam.problems"
            )
    lines += anomalies or ["None."]
    others = grouped(tried, "other_warnings")
    lines += ["", "## Other warnings raised while sentrycam ran (libraries, torch)", ""]
    for g in others.values():
        lines.append(
            f"- {g['count']}× ({len(g['models'])} models: {models_cell(g['models'], 4)}): "
            f"{cell(g['example'], 300)}"
        )
    if not others:
        lines.append("None.")
    skipped = [r for r in results if "skip" in r]
    lines += ["", f"## Skipped ({len(skipped)}: not tried)", ""]
    by_reason: dict[str, list[str]] = defaultdict(list)
    for r in skipped:
        by_reason[mask(r["skip"])[:160]].append(r["name"])
    for reason, names in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"- {len(names)}: {cell(reason, 160)} — {models_cell(names, 12)}")
    if not skipped:
        lines.append("None.")
    lines += [
        "",
        "## Per model",
        "",
        "| model | params | input | layers | frames | warnings | other warnings | s |",
        "|---|--:|---|--:|--:|--:|--:|--:|",
    ]
    for r in tried:
        flag = " **CRASH**" if r.get("crash") else ""
        lines.append(
            f"| {r['lib']}/{r['name']}{flag} | {r.get('params', 0) / 1e6:.1f}M | "
            f"{cell(r.get('input', ''), 80)} | {len(r.get('layers', []))} | "
            f"{len(r.get('frames', []))} | {len(r.get('warnings', []))} | "
            f"{len(r.get('other_warnings', []))} | {r.get('seconds', 0):.1f} |"
        )
    return "\n".join(lines) + "\n"


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "python/sentrycam"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}{' + uncommitted changes' if dirty else ''}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a handful of models; print only")
    ap.add_argument("--limit-timm", type=int, default=200, help="timm models tried")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--slow", type=float, default=20.0, help="skip models slower than this (s)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per model")
    ap.add_argument("--only", default=",".join(LIBS), help="libraries, comma separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    args.only = [lib for lib in args.only.split(",") if lib]
    unknown = [lib for lib in args.only if lib not in LIBS]
    if unknown:
        ap.error(f"unknown libraries {unknown}; choose from {LIBS}")
    args.timm_models = None
    args.timm_stats = {}
    tasks: list[tuple[str, str]] = []
    if args.quick:
        tasks = [(lib, n) for lib in args.only for n in QUICK[lib]]
        args.timm_models = QUICK["timm"]
    else:
        if "transformers" in args.only:
            tasks += [("transformers", n) for n in HF_MODELS]
        if "torchvision" in args.only:
            torchvision, _ = import_vision()
            names = sorted(torchvision.models.list_models(module=torchvision.models))
            tasks += [("torchvision", n) for n in names]
    t0 = time.perf_counter()
    results = run_all(tasks, args)
    for r in results:
        judge(r)
    import torch

    niceness = os.nice(0)
    command = [".venv/bin/python", "bench/model_zoo.py", *sys.argv[1:]]
    meta = {
        "command": " ".join([f"nice -n {niceness}", *command] if niceness else command),
        "when": reporting.now(),
        "wall_s": round(time.perf_counter() - t0, 1),
        "jobs": args.jobs,
        "machine": reporting.machine(torch.__version__, 1),
        "git": git_rev(),
        "limit_timm": args.limit_timm,
        "slow_s": args.slow,
        "timeout_s": args.timeout,
        "timm_screening": args.timm_stats,
    }
    text = markdown(results, meta)
    if args.quick:
        print(text)
        return
    payload = {
        "meta": meta,
        "summary": summary_rows(results),
        "warnings": {
            k: {**g, "checks": dict(g["checks"])}
            for k, g in grouped([r for r in results if "skip" not in r], "warnings").items()
        },
        "models": results,
    }
    reporting.write(args.out, "model_zoo", text, payload)


if __name__ == "__main__":
    main()
