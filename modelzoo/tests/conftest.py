"""Fixtures for model zoo tests: an empty models folder per test, one torch thread
(the test machine is shared), and no network: a download attempt meets a refused
connection, as on an offline server."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.ALLOW_RANDOM_WEIGHTS = True
    return settings.MODELS_DIR


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def offline(monkeypatch):
    """Every outgoing connection fails like it does on a machine without internet."""

    def refuse(*args, **kwargs):
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def no_hub_cache(monkeypatch):
    """Ignore any weights cached in this machine's Hugging Face / torch hub caches."""
    from modelzoo import weights

    monkeypatch.setattr(weights, "_hub_cached_file", lambda spec: None)
