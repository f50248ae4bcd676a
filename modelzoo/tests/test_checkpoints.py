"""Copying another implementation's checkpoint in tensor order: everything lines up or
nothing is loaded."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from modelzoo.checkpoints import load_state_dict_by_order, read_state_dict
from modelzoo.weights import WeightsIncompatible


@pytest.fixture
def pair():
    """A tiny timm model and the same network's tensors under other names (as another code base saves them)."""
    import timm
    import torch

    torch.manual_seed(3)
    source = timm.create_model("test_efficientnet", pretrained=False)
    renamed = OrderedDict((f"other.{i}.{name.rsplit('.', 1)[-1]}", tensor.clone()) for i, (name, tensor) in enumerate(source.state_dict().items()))
    target = timm.create_model("test_efficientnet", pretrained=False)
    return source, renamed, target


def test_tensors_are_copied_in_order_and_the_model_computes_the_same(pair):
    import torch

    source, renamed, target = pair
    load_state_dict_by_order(target, renamed, source="test")
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(source.eval()(x), target.eval()(x))


def test_a_missing_tensor_is_refused_before_anything_is_loaded(pair):
    import torch

    _, renamed, target = pair
    before = {k: v.clone() for k, v in target.state_dict().items()}
    renamed.popitem()
    with pytest.raises(WeightsIncompatible, match="tensors; the model has"):
        load_state_dict_by_order(target, renamed, source="test")
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_a_wrong_shape_or_two_batchnorm_vectors_out_of_order_name_the_tensor(pair):
    _, renamed, target = pair
    keys = list(renamed)
    bad_shape = OrderedDict(renamed)
    bad_shape[keys[0]] = bad_shape[keys[0]][:1]
    with pytest.raises(WeightsIncompatible, match=f"tensor 0 '{keys[0]}'"):
        load_state_dict_by_order(target, bad_shape, source="test")
    # running_mean and running_var have the same shape: only their kind tells them apart.
    i = next(i for i, k in enumerate(keys) if k.endswith("running_mean"))
    swapped = OrderedDict((k, renamed[k]) for k in keys[:i] + [keys[i + 1], keys[i]] + keys[i + 2 :])
    with pytest.raises(WeightsIncompatible, match=f"tensor {i} "):
        load_state_dict_by_order(target, swapped, source="test")


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    import torch

    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsIncompatible, match="not a state dict"):
        read_state_dict(path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsIncompatible, match="could not be read"):
        read_state_dict(tmp_path / "junk.pth")
