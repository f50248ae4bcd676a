"""The ``clip`` runtime: CLIP-style models, an image tower and a text tower that embed
pictures and words into one space, so words can search an image index.

:class:`ClipEmbedder` is an :class:`~modelzoo.embedding.Embedder` (same decoding,
preprocessing, batching and loader threads for images) with :meth:`embed_text`. Two
kinds of entry use it:

- ``architecture = "tiny-clip"``: a tiny network built here with random weights from a
  fixed seed (timm's test ViT as the image tower, a one-layer transformer over UTF-8
  bytes as the text tower): tests the plumbing, any script included, without weights;
- any other architecture is an OpenCLIP model name (``ViT-B-32``) loaded with the
  ``open_clip_torch`` package from the entry's weights, the full OpenCLIP checkpoint
  (``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin`` of the hub repo,
  or either copied to ``MODELS_DIR/<name>/model.safetensors``). Missing weights are a
  503 ``weights_missing`` (modelzoo.weights), a missing package a 503 ``runtime_missing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import ServiceUnavailable

from .embedding import EMBEDDER_FACTORIES, Embedder, _configure_threads
from .rng import BUILD_LOCK, seeded
from .specs import EmbeddingModelSpec

TINY = "tiny-clip"
MAX_TEXT_BYTES = 77 * 4
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class RuntimeMissing(ServiceUnavailable):
    code = "runtime_missing"


def _tiny_clip(spec: EmbeddingModelSpec):
    """Image and text towers of the tiny random CLIP, from the entry's seed."""
    import timm
    import torch
    from torch import nn

    class TextTower(nn.Module):
        def __init__(self, dim: int, out: int) -> None:
            super().__init__()
            self.embed = nn.Embedding(258, dim)  # bytes, padding (256), start (257)
            self.pos = nn.Parameter(torch.randn(MAX_TEXT_BYTES + 1, dim) * 0.02)
            layer = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=2 * dim, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
            self.proj = nn.Linear(dim, out)

        def forward(self, tokens, mask):
            x = self.embed(tokens) + self.pos[: tokens.shape[1]]
            x = self.encoder(x, src_key_padding_mask=~mask)
            pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
            return self.proj(pooled)

    with seeded(spec.seed):
        image = timm.create_model("test_vit", pretrained=False, num_classes=spec.embedding_dim, img_size=spec.input_size)
        text = TextTower(32, spec.embedding_dim)
    return image.eval(), text.eval()


def _byte_tokens(texts: Sequence[str]):
    import torch

    rows = [[257, *list(t.encode("utf-8")[:MAX_TEXT_BYTES])] for t in texts]
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), 256, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = True
    return tokens, mask


class ClipEmbedder(Embedder):
    """Images through the image tower (as any Embedder), words through the text tower;
    both L2-normalised, so a word query is a cosine query on the image index."""

    def __init__(self, spec: EmbeddingModelSpec, image_model, encode_text, **options) -> None:
        super().__init__(spec, image_model, **options)
        self._encode_text = encode_text

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self._encode_text(list(texts))
        out = torch.nn.functional.normalize(out.float(), dim=1)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def embed_text(self, text: str) -> np.ndarray:
        """One text's vector, shape (dim,)."""
        return self.embed_texts([text])[0]


def _open_clip_file(weights: Path) -> Path:
    for name in OPEN_CLIP_FILES:
        candidate = weights.parent / name
        if candidate.is_file():
            return candidate
    return weights


def _clip_embedder(spec: EmbeddingModelSpec, weights: Path | None, **options) -> Embedder:
    _configure_threads()
    if spec.architecture == TINY:
        image, text = _tiny_clip(spec)
        return ClipEmbedder(spec, image, lambda texts: text(*_byte_tokens(texts)), **options)
    try:
        import open_clip
    except ImportError:
        raise RuntimeMissing(f"Model {spec.name!r} runs with the open_clip_torch package: pip install open_clip_torch.") from None
    with BUILD_LOCK:
        model, _, _ = open_clip.create_model_and_transforms(spec.architecture, pretrained=str(_open_clip_file(weights)))
    tokenizer = open_clip.get_tokenizer(spec.architecture)
    model.eval()

    class ImageTower:
        """The CLIP model's image side, as the Embedder calls a model."""

        def __call__(self, x):
            return model.encode_image(x)

        def to(self, *args, **kwargs):
            model.to(*args, **kwargs)
            return self

        def eval(self):
            return self

    def encode_text(texts: list[str]):
        return model.encode_text(tokenizer(texts))

    return ClipEmbedder(spec, ImageTower(), encode_text, **options)


EMBEDDER_FACTORIES["clip"] = _clip_embedder
