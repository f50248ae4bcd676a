import sys

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ModelzooConfig(AppConfig):
    name = "modelzoo"
    verbose_name = "Model zoo"

    def ready(self):
        # Imported for what they register: the system check, the clip runtime's embedder.
        from . import checks, clip  # noqa: F401
        from .registry import CONFIG_ERROR, MODELS, EmbeddingModelSpec

        # A faulty configuration is never used in part: refuse to start, naming the
        # file, the entry and the key; the commands that diagnose it report it instead.
        if CONFIG_ERROR is not None and sys.argv[1:2] not in (["check"], ["modelzoo"]):
            raise ImproperlyConfigured(f"VFRAME_MODELZOO_FILE: {CONFIG_ERROR}")
        # A misspelt default would otherwise surface as a 404 on the first search.
        name = settings.DEFAULT_EMBEDDING_MODEL
        if name and not isinstance(MODELS.get(name), EmbeddingModelSpec):
            known = ", ".join(n for n, m in MODELS.items() if isinstance(m, EmbeddingModelSpec))
            raise ImproperlyConfigured(f"VFRAME_DEFAULT_MODEL: no embedding model called {name!r} (known: {known}); leave it empty for the best one installed")
