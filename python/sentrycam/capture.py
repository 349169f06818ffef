"""Capture: forward hooks on named PyTorch modules and runs of the fixed probe set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .frames import as_int_vector


class Probe:
    """A fixed probe set: inputs ``x`` (a tensor, or tuple/dict of tensors) and optional labels."""

    def __init__(self, probe: Any, *, needs_model_input: bool) -> None:
        x, y = _split_probe(probe)
        self.n = _batch_size(x)
        if needs_model_input and not _is_model_input(x):
            raise ValueError(
                "probe inputs must be a torch.Tensor (or a tuple/list/dict of tensors) with "
                f"one row per sample, got {type(x).__name__}; pass probe=(x, y) with x a tensor"
            )
        self.x = x
        self._device: Any = None
        self.labels: np.ndarray | None = as_int_vector(y, "probe labels", self.n)

    def to(self, device: Any) -> None:
        """Keep the probe inputs on ``device``: moved when the device changes, not per capture."""
        if device != self._device:
            self.x = _move(self.x, device)
            self._device = device


def _split_probe(probe: Any) -> tuple[Any, Any]:
    if isinstance(probe, tuple | list) and len(probe) == 2 and not _is_tensor(probe):
        return probe[0], probe[1]
    return probe, None


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "detach") and hasattr(value, "shape")


def _is_model_input(x: Any) -> bool:
    if _is_tensor(x):
        return True
    if isinstance(x, tuple | list) and x:
        return all(_is_tensor(v) for v in x)
    if isinstance(x, dict) and x:
        return all(_is_tensor(v) for v in x.values())
    return False


def _batch_size(x: Any) -> int:
    if isinstance(x, dict) and x:
        x = next(iter(x.values()))
    elif isinstance(x, tuple | list) and x and _is_tensor(x[0]):
        x = x[0]
    shape = getattr(x, "shape", None)
    if shape is None:
        try:
            return len(x)
        except TypeError:
            raise ValueError(
                f"probe must be (x, y) with x an array or tensor, got {type(x).__name__}"
            ) from None
    if len(shape) == 0:
        raise ValueError("probe inputs must have a row per sample, got a scalar")
    return int(shape[0])


def _move(x: Any, device: Any) -> Any:
    if _is_tensor(x):
        return x.to(device)
    if isinstance(x, dict):
        return {k: _move(v, device) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return type(x)(_move(v, device) for v in x)
    return x


def device_of(model: Any) -> Any:
    """The device of the model's first parameter (or buffer); ``"cpu"`` for a model without any."""
    for param in model.parameters():
        return param.device
    for buf in model.buffers():
        return buf.device
    return "cpu"


def resolve_layers(model: Any, layers: Sequence[str]) -> dict[str, Any]:
    """Map each requested name to its module in ``model.named_modules()``.

    Raises ``ValueError`` naming the unknown layers and listing the available names.
    """
    if isinstance(layers, str):
        layers = [layers]
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        available = [name for name in modules if name]
        raise ValueError(f"unknown layer name(s) {missing}; available layers: {available}")
    if not layers:
        raise ValueError(
            "name at least one layer to watch, e.g. layers=['fc1']; available layers: "
            f"{[name for name in modules if name]}"
        )
    return {name: modules[name] for name in layers}


def first_tensor(output: Any) -> Any:
    """The activation tensor of a module output (a tensor, or the first tensor in a tuple/dict)."""
    if _is_tensor(output):
        return output
    if isinstance(output, tuple | list):
        for item in output:
            found = first_tensor(item)
            if found is not None:
                return found
    if isinstance(output, dict):
        for item in output.values():
            found = first_tensor(item)
            if found is not None:
                return found
    return None


class LayerHooks:
    """Forward hooks that keep each named layer's output while a probe run is in progress."""

    def __init__(self, modules: dict[str, Any], on_error: Callable[[str, BaseException], None]):
        self._armed = False
        self._outputs: dict[str, Any] = {}
        self._on_error = on_error
        self._handles = [
            module.register_forward_hook(self._make_hook(name)) for name, module in modules.items()
        ]

    def _make_hook(self, name: str) -> Callable[..., None]:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            if not self._armed:
                return  # ordinary training forward passes cost one branch
            try:
                tensor = first_tensor(output)
                if tensor is None:
                    raise TypeError(f"output of type {type(output).__name__} holds no tensor")
                self._outputs[name] = tensor.detach()
            except Exception as exc:  # a hook must never break the forward pass
                self._on_error(name, exc)

        return hook

    def run(self, model: Any, probe: Probe) -> tuple[dict[str, Any], Any]:
        """Run the probe through ``model`` in eval mode without gradients; restore every mode.

        Returns the captured output of each hooked layer and the model's own output.
        """
        import torch

        modes = [(module, module.training) for module in model.modules()]
        self._outputs = {}
        self._armed = True
        try:
            model.eval()
            with torch.no_grad():
                x = probe.x
                if isinstance(x, dict):
                    model_output = model(**x)
                elif isinstance(x, tuple | list):
                    model_output = model(*x)
                else:
                    model_output = model(x)
        finally:
            self._armed = False
            for module, training in modes:  # per module: a user may freeze e.g. BatchNorm alone
                module.training = training
        outputs, self._outputs = self._outputs, {}
        return outputs, model_output

    def remove(self) -> None:
        """Remove every hook from the model."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
