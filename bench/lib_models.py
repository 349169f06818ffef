"""Library models of the second diagnostic benchmark: architectures we did not write.

Each :class:`Family` is one model built from a library (torchvision, timm, transformers, or
``torch.nn``'s own recurrent layer) with a tiny configuration and random initialisation, its data
(scikit-learn digits upsampled to 16x16 or 32x32 three-channel images, or the generated token
sequences of ``diag_models.token_data``), the watched layers (real ``named_modules()`` names), how
it is trained (SGD + momentum with step decay, or AdamW with warm-up and cosine, optionally inside
the Hugging Face ``Trainer``), and what two failures need: the activation modules whose outputs
the ``dead_relu`` penalty hits and the parameters ``frozen`` stops (the first watched layer and
everything before it). Nothing is downloaded.

torchvision 0.28.0 on PyPI is a CUDA build; with the CPU torch wheel its import fails in its fake-op
registrations (see /work/shared/environment.md), so those are skipped before the first import. When
torchvision and timm are not in the virtual environment, they are taken from
``$SENTRYCAM_BENCH_LIBS`` (default ``.venv/library-models``, which ``scripts/setup.sh`` makes with
``pip install --target DIR --no-deps torchvision==0.28.0 timm pillow``): with torchvision in the
environment itself, ``transformers`` and ``lightning`` fail to import in the test suite.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.library as _tl
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
_LIBS = os.environ.get(
    "SENTRYCAM_BENCH_LIBS", str(Path(__file__).resolve().parents[1] / ".venv" / "library-models")
)
if os.path.isdir(_LIBS) and _LIBS not in sys.path:
    sys.path.append(_LIBS)  # after the environment: an installed torchvision wins

_register_fake = _tl.register_fake
_tl.register_fake = lambda op, *a, **k: (
    (lambda f: f) if str(op).startswith("torchvision::") else _register_fake(op, *a, **k)
)
import torchvision  # noqa: E402, F401

_tl.register_fake = _register_fake

import timm  # noqa: E402
import transformers  # noqa: E402
from diag_models import CLASSES, VOCAB, digits_data, token_data  # noqa: E402
from torchvision.models import efficientnet, mobilenetv3  # noqa: E402
from torchvision.models.resnet import BasicBlock, ResNet  # noqa: E402

transformers.logging.set_verbosity_error()

N_PROBE = 128  # probe rows recorded per capture (the first rows of the evaluation set)
N_VAL_EXTRA = 128  # further held-out rows: validation loss/accuracy are over probe + these
TINT = ((1.0, 0.0), (0.8, 0.1), (0.6, -0.1))  # (scale, offset) of the three image channels


@dataclass(frozen=True)
class Data:
    """Fixed tensors of one task: training inputs (and their shifted copy), labels, evaluation
    set (its first N_PROBE rows are the probe)."""

    x_train: torch.Tensor
    x_shifted: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor


@functools.cache
def image_data(size: int) -> Data:
    """Digits (standardised, 8x8; shift: 2 pixels right) upsampled bilinearly to ``size`` and
    tinted into three channels."""
    d = digits_data(image=True)

    def rgb(x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return torch.cat([x * a + b for a, b in TINT], 1).contiguous()

    x_eval = torch.cat([d.x_probe[:N_PROBE], d.x_val[:N_VAL_EXTRA]])
    y_eval = torch.cat([d.y_probe[:N_PROBE], d.y_val[:N_VAL_EXTRA]])
    return Data(rgb(d.x_train), rgb(d.x_shifted), d.y_train, rgb(x_eval), y_eval)


@functools.cache
def tokens(cls: bool = False) -> Data:
    """The generated motif sequences of the first benchmark (16 tokens of 20); ``cls``: each
    starts with a classification token (id VOCAB), as BERT is used."""
    d = token_data()
    x_eval = torch.cat([d.x_probe[:N_PROBE], d.x_val[:N_VAL_EXTRA]])
    y_eval = torch.cat([d.y_probe[:N_PROBE], d.y_val[:N_VAL_EXTRA]])
    xs = [d.x_train, d.x_shifted, x_eval]
    if cls:
        xs = [torch.cat([torch.full((len(x), 1), VOCAB), x], 1) for x in xs]
    return Data(xs[0], xs[1], d.y_train, xs[2], y_eval)


def _small_resnet() -> nn.Module:
    """torchvision's ResNet(BasicBlock, [1, 1, 1, 1]) with widths 16-32-64-128 (its own
    ``_make_layer``), re-initialised as ResNet initialises itself."""
    m = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=CLASSES)
    w = 16
    m.inplanes = w
    m.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = m._norm_layer(w)  # noqa: SLF001 (the library's own builder)
    m.layer1 = m._make_layer(BasicBlock, w, 1)  # noqa: SLF001
    m.layer2 = m._make_layer(BasicBlock, 2 * w, 1, stride=2)  # noqa: SLF001
    m.layer3 = m._make_layer(BasicBlock, 4 * w, 1, stride=2)  # noqa: SLF001
    m.layer4 = m._make_layer(BasicBlock, 8 * w, 1, stride=2)  # noqa: SLF001
    m.fc = nn.Linear(8 * w, CLASSES)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.constant_(mod.weight, 1)
            nn.init.constant_(mod.bias, 0)
    return m


def _mobilenet() -> nn.Module:
    """MobileNetV3-small (width 0.5, reduced tail), its first six inverted-residual blocks; its
    BatchNorm as the library makes it (momentum 0.01, eps 0.001)."""
    blocks, last = mobilenetv3._mobilenet_v3_conf(  # noqa: SLF001 (the library's config builder)
        "mobilenet_v3_small", width_mult=0.5, reduced_tail=True
    )
    return mobilenetv3.MobileNetV3(blocks[:6], last, num_classes=CLASSES)


def _efficientnet() -> nn.Module:
    """EfficientNet-B0's configuration at width 0.25 and depth 0.25, its first five stages."""
    stages, last = efficientnet._efficientnet_conf(  # noqa: SLF001 (the library's config builder)
        "efficientnet_b0", width_mult=0.25, depth_mult=0.25
    )
    return efficientnet.EfficientNet(stages[:5], 0.2, last_channel=last, num_classes=CLASSES)


def _timm_vit() -> nn.Module:
    return timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES, img_size=16, patch_size=4,
        depth=2, embed_dim=64, num_heads=2,
    )  # fmt: skip


def _bert() -> nn.Module:
    cfg = transformers.BertConfig(
        vocab_size=VOCAB + 1, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=17, num_labels=CLASSES,
    )  # fmt: skip
    return transformers.BertForSequenceClassification(cfg)


def _gpt2() -> nn.Module:
    cfg = transformers.GPT2Config(
        vocab_size=VOCAB + 1, n_embd=64, n_layer=2, n_head=2, n_positions=16,
        num_labels=CLASSES, pad_token_id=VOCAB, bos_token_id=VOCAB, eos_token_id=VOCAB,
    )  # fmt: skip
    return transformers.GPT2ForSequenceClassification(cfg)


def _hf_vit() -> nn.Module:
    cfg = transformers.ViTConfig(
        image_size=16, patch_size=4, num_channels=3, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=128, num_labels=CLASSES,
    )  # fmt: skip
    return transformers.ViTForImageClassification(cfg)


class LSTMClassifier(nn.Module):
    """Embedding → ``nn.LSTM`` (64, batch first) → last state → Linear-ReLU → head."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.lstm = nn.LSTM(32, 64, batch_first=True)
        self.fc, self.act, self.head = nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.emb(x))
        return self.head(self.act(self.fc(h[:, -1])))


class PlainCNN(nn.Module):
    """conv3x3(3→16)-ReLU-pool, conv3x3(16→32)-ReLU-pool, linear head; no normalisation."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()
        self.pool, self.head = nn.MaxPool2d(2), nn.Linear(32 * 4 * 4, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.relu1(self.conv1(x)))
        return self.head(self.pool(self.relu2(self.conv2(h))).flatten(1))


@dataclass(frozen=True)
class Family:
    """One library model and how it is trained and broken."""

    name: str
    make: Callable[[], nn.Module]
    data: str  # "img16" | "img32" | "tokens" | "tokens_cls"
    layers: tuple[str, ...]  # watched modules (named_modules names)
    opt: str  # "sgd_step" | "adamw_cosine"
    lr: float  # peak learning rate
    wd: float
    acts: tuple[str, ...]  # class names of the activation modules dead_relu penalises
    frozen: tuple[str, ...]  # parameter-name prefixes of the first watched layer and before it
    call: str = "x"  # "x": model(x); "ids": model(input_ids=x).logits; "pixels": pixel_values
    clip: float | None = None  # gradient-norm clipping
    trainer: bool = False  # trained inside transformers.Trainer (with a TrainerCallback)
    dead_layers: tuple[str, ...] | None = None  # single-layer dead_relu: the layers it hits
    config: str = ""

    def build(self) -> nn.Module:
        """A fresh model (initialised from torch's global RNG: seed it first)."""
        return self.make()

    def dataset(self) -> Data:
        if self.data.startswith("tokens"):
            return tokens(cls=self.data == "tokens_cls")
        return image_data(int(self.data[3:]))

    def logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.call == "ids":
            return model(input_ids=x).logits
        if self.call == "pixels":
            return model(pixel_values=x).logits
        return model(x)

    def frozen_params(self, model: nn.Module) -> list[nn.Parameter]:
        return [p for n, p in model.named_parameters() if n.startswith(self.frozen)]

    def act_modules(self, model: nn.Module) -> list[nn.Module]:
        return [m for m in model.modules() if type(m).__name__ in self.acts]


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "resnet", _small_resnet, "img32", ("layer2", "layer4"), "sgd_step", 0.05, 5e-4,
            ("ReLU",), ("conv1.", "bn1.", "layer1.", "layer2."),
            config="torchvision ResNet(BasicBlock, [1,1,1,1]), widths 16-128, 32x32 input",
        ),
        Family(
            "mobilenet_v3", _mobilenet, "img32", ("features.3", "features.7"), "sgd_step", 0.05,
            5e-4, ("ReLU",), tuple(f"features.{i}." for i in range(4)),
            config="torchvision MobileNetV3-small conf (width 0.5, reduced tail), first 6 "
            "blocks, BatchNorm momentum 0.01, 32x32",
        ),
        Family(
            "efficientnet", _efficientnet, "img32", ("features.3", "features.6"), "sgd_step",
            0.05, 5e-4, ("SiLU",), tuple(f"features.{i}." for i in range(4)),
            config="torchvision EfficientNet-B0 conf (width 0.25, depth 0.25), first 5 stages, "
            "32x32",
        ),
        Family(
            "timm_vit", _timm_vit, "img16", ("blocks.0", "blocks.1"), "adamw_cosine", 1e-3, 0.05,
            ("GELU",), ("cls_token", "pos_embed", "patch_embed.", "blocks.0."), clip=1.0,
            config="timm vit_tiny_patch16_224 (img 16, patch 4, depth 2, dim 64, 2 heads)",
        ),
        Family(
            "bert", _bert, "tokens_cls",
            ("bert.encoder.layer.0.output", "bert.encoder.layer.1.output"), "adamw_cosine",
            2e-3, 0.01, ("GELUActivation",),
            ("bert.embeddings.", "bert.encoder.layer.0."), call="ids", clip=1.0, trainer=True,
            config="transformers BertForSequenceClassification (hidden 64, 2 layers, 2 heads, "
            "ffn 128), trained by transformers.Trainer",
        ),
        Family(
            "gpt2", _gpt2, "tokens", ("transformer.h.0", "transformer.h.1"), "adamw_cosine", 1e-3,
            0.01, ("NewGELUActivation",), ("transformer.wte.", "transformer.wpe.",
            "transformer.h.0."), call="ids", clip=1.0,
            config="transformers GPT2ForSequenceClassification (n_embd 64, 2 layers, 2 heads)",
        ),
        Family(
            "hf_vit", _hf_vit, "img16", ("vit.layers.0", "vit.layers.1"), "adamw_cosine", 1e-3,
            0.01, ("GELUActivation",), ("vit.embeddings.", "vit.layers.0."), call="pixels",
            clip=1.0,
            config="transformers ViTForImageClassification (img 16, patch 4, hidden 64, 2 layers)",
        ),
        Family(
            "lstm", LSTMClassifier, "tokens", ("lstm", "act"), "adamw_cosine", 3e-3, 0.01,
            ("ReLU",), ("emb.", "lstm."), clip=1.0, dead_layers=("act",),
            config="nn.LSTM(32→64) classifier with a Linear-ReLU head",
        ),
        Family(
            "plain_cnn", PlainCNN, "img16", ("conv2", "relu2"), "sgd_step", 0.02, 5e-4, ("ReLU",),
            ("conv1.", "conv2."),
            config="2 conv layers (16, 32 channels) + ReLU + max-pool, no normalisation, 16x16",
        ),
    )
}  # fmt: skip
