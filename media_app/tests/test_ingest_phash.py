"""Ingest hashes images for a perceptual-hash feature from its own decode, next to a
neural feature, and the hashes match what the index build makes from the files."""

from __future__ import annotations

import numpy as np
import pytest

from media_app.ingest import IngestOptions, ingest_run
from media_app.models import Media
from media_app.tests.test_ingest_embed import folder, model_settings, one_torch_thread  # noqa: F401 (fixtures)
from search_app.indexing.build import feature_update_index
from search_app.indexing.layout import vector_store
from search_app.models import Feature

pytestmark = pytest.mark.django_db


def stored(feature) -> dict[int, np.ndarray]:
    ids, vectors = vector_store(feature.pk, 64).load()
    return dict(zip(ids.tolist(), vectors, strict=True))


def test_ingest_hashes_for_a_phash_feature_beside_a_neural_one(folder):  # noqa: F811
    phash = Feature.objects.create(modelzoo_name="phash")
    neural = Feature.objects.create(modelzoo_name="tiny-random")
    summary = ingest_run(paths=[folder], options=IngestOptions(features=[phash, neural]))
    assert summary.embedded == {phash.pk: 6, neural.pk: 6}
    ours = stored(phash)
    assert set(ours) == set(Media.objects.values_list("pk", flat=True))
    by_build = Feature.objects.create(modelzoo_name="phash")
    assert feature_update_index(feature=by_build)["embedded"] == 6
    theirs = stored(by_build)
    ids = np.array(sorted(ours))
    a, b = np.stack([ours[i] for i in ids]), np.stack([theirs[i] for i in ids])
    # A larger decode scale for the thumbnail may flip a bit or two near the median.
    assert (np.sum(a * b, axis=1) > 0.8).all()
    assert (np.argmax(a @ b.T, axis=1) == np.arange(ids.size)).all()
    # Nothing left for the build of the ingest-hashed feature to embed.
    assert feature_update_index(feature=phash)["embedded"] == 0
