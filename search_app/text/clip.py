"""Which feature a CLIP search (``search/text/?mode=clip``) searches when the request
names none."""

from __future__ import annotations

from core.errors import Conflict
from search_app.models import Feature


def clip_models() -> list[str]:
    """Model zoo names of the CLIP-style entries (a text tower beside the image one)."""
    from modelzoo.registry import MODELS

    return [name for name, spec in MODELS.items() if getattr(spec, "backend", "") == "clip"]


def clip_feature() -> Feature:
    """The newest searchable active feature whose model is CLIP-style. Without one: a
    503 ``weights_missing`` when no CLIP model's weights are on this machine (saying how
    to get them), else a 409 ``no_clip_feature`` saying to create one."""
    from modelzoo.registry import MODELS, random_weights_allowed
    from modelzoo.weights import WeightsMissing, resolve_weights

    names = clip_models()
    feature = Feature.objects.filter(active=True, index_version__gt=0, modelzoo_name__in=names).order_by("-built_at", "-pk").first()
    if feature is not None:
        return feature
    usable = []
    for name in names:
        spec = MODELS[name]
        if spec.random_weights and not random_weights_allowed():
            continue
        try:
            resolve_weights(spec)
        except Exception:  # that model's weights are missing here; say so below
            continue
        usable.append(name)
    real = [n for n in names if not MODELS[n].random_weights]
    if not usable:
        raise WeightsMissing(
            "Text-to-image search needs a CLIP model's weights, and none are on this machine: "
            + (
                f"run `manage.py modelzoo_download {real[0]}` (or copy its weights file by hand), then create a feature with it."
                if real
                else "add a CLIP model."
            )
        )
    raise Conflict(
        f"No feature uses a CLIP model; create one with model {usable[0]} (POST feature/) and build its index, or name one with feature=.",
        code="no_clip_feature",
    )
