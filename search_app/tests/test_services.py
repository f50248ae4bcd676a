"""Feature services: create/update/delete, incremental builds, deletions, crashes,
and the build claim."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.db import connection

from core.errors import Conflict, InvalidInput
from core.progress import ProgressReporter
from media_app.models import Media, MediaType
from media_app.services import media_delete
from search_app import services
from search_app.indexing import build
from search_app.indexing.build import feature_update_index
from search_app.indexing.index import load_index
from search_app.indexing.layout import feature_dir, vector_store
from search_app.models import Feature, FeatureStatus
from search_app.services import feature_create, feature_delete, feature_forget_media, feature_update
from search_app.tasks import build_index


def _store(feature):
    return vector_store(feature.pk, 64)


def _knn_ids(feature, media, k=50):
    from modelzoo.embedding import get_embedder

    feature.refresh_from_db()
    idx = load_index(feature)
    vector = get_embedder(feature.modelzoo_name).embed_image(media.file.path)
    ids, _ = idx.search(vector, k=k)
    return ids.tolist()


def test_created_feature_is_built_after_commit_and_ready(make_media, django_capture_on_commit_callbacks):
    media = [make_media(s) for s in range(5)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        feature = feature_create(modelzoo_name="tiny-random", index_type="hnsw", index_params={"ef": 64}, active=True, user=None, username="me")
    assert len(callbacks) == 1
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and feature.error == ""
    assert feature.item_count == 5 and feature.index_version == 1 and feature.built_at is not None
    assert feature.index_params == {"M": 16, "ef_construction": 200, "ef": 64}
    assert _knn_ids(feature, media[2])[0] == media[2].pk


def test_create_validates_model_type_and_params(db):
    with pytest.raises(InvalidInput) as info:
        feature_create(modelzoo_name="nope")
    assert "modelzoo_name" in info.value.fields
    with pytest.raises(InvalidInput) as info:
        feature_create(modelzoo_name="ssdlite320_mobilenet_v3_large")
    assert "modelzoo_name" in info.value.fields
    with pytest.raises(InvalidInput) as info:
        feature_create(modelzoo_name="tiny-random", index_type="ivf")
    assert "index_type" in info.value.fields
    with pytest.raises(InvalidInput) as info:
        feature_create(modelzoo_name="tiny-random", index_params={"M": 0})
    assert "index_params" in info.value.fields
    assert not Feature.objects.exists()


def test_random_model_is_refused_when_disabled(db, settings):
    settings.ALLOW_RANDOM_WEIGHTS = False
    with pytest.raises(InvalidInput) as info:
        feature_create(modelzoo_name="tiny-random")
    assert info.value.code == "random_weights_disabled"


def test_incremental_build_embeds_only_new_media(make_media, tiny_feature, monkeypatch):
    feature = tiny_feature()
    first = [make_media(s) for s in range(4)]
    r1 = feature_update_index(feature=feature)
    assert (r1["embedded"], r1["count"], r1["version"], r1["mode"]) == (4, 4, 1, "full")

    seen = []
    from modelzoo.embedding import Embedder

    original = Embedder.embed_files

    def spy(self, items, **kwargs):
        items = list(items)
        seen.extend(i for i, _ in items)
        return original(self, items, **kwargs)

    monkeypatch.setattr(Embedder, "embed_files", spy)
    new = [make_media(s) for s in range(10, 13)]
    r2 = feature_update_index(feature=feature)
    assert sorted(seen) == sorted(m.pk for m in new)
    assert (r2["embedded"], r2["count"], r2["version"], r2["mode"]) == (3, 7, 2, "incremental")
    r3 = feature_update_index(feature=feature)
    assert (r3["embedded"], r3["version"], r3["mode"]) == (0, 2, "unchanged")
    assert feature.item_count == 7 and _knn_ids(feature, first[0])[0] == first[0].pk


def test_video_frames_are_embedded_and_videos_are_not(make_media, tiny_feature):
    video = Media.objects.create(sha256="v" * 64, media_type=MediaType.VIDEO, file="media/video.mp4")
    frame = make_media(1)
    Media.objects.filter(pk=frame.pk).update(media_type=MediaType.VIDEO_FRAME, parent=video, frame_number=0, timestamp=0.0)
    image = make_media(2)
    feature = tiny_feature()
    result = feature_update_index(feature=feature)
    assert result["embedded"] == 2 and result["skipped"] == 0
    assert _store(feature).ids().tolist() == sorted([frame.pk, image.pk])


def test_deleted_media_never_come_back_in_results(make_media, tiny_feature, django_capture_on_commit_callbacks):
    media = [make_media(s) for s in range(8)]
    feature = tiny_feature()
    feature_update_index(feature=feature)
    victim = media[3]
    path = victim.file.path
    from modelzoo.embedding import get_embedder

    vector = get_embedder("tiny-random").embed_image(path)
    assert victim.pk in load_index(feature).search(vector, k=10)[0].tolist()
    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=victim)
    feature.refresh_from_db()
    assert feature.index_version == 2  # the forget scheduled a build, which ran (eager tasks)
    ids, _ = load_index(feature).search(vector, k=10)
    assert victim.pk not in ids.tolist() and len(ids) == 7
    # Further builds never bring it back.
    make_media(100)
    feature_update_index(feature=feature)
    ids, _ = load_index(feature).search(vector, k=20)
    assert victim.pk not in ids.tolist() and len(ids) == 8


def test_forget_without_rebuild_is_honoured_by_a_freshly_loaded_index(make_media, tiny_feature, monkeypatch):
    media = [make_media(s) for s in range(5)]
    feature = tiny_feature()
    feature_update_index(feature=feature)
    monkeypatch.setattr(build, "feature_schedule_build", lambda **kw: None)
    feature_forget_media(media_ids=[media[0].pk])
    feature.refresh_from_db()
    idx = load_index(feature)
    assert idx.version == 1 and idx.count == 4
    ids, _ = idx.knn(idx.get_vectors([media[1].pk]), k=10)
    assert media[0].pk not in ids.ravel().tolist()


def test_media_deleted_behind_our_back_are_dropped_on_the_next_build(make_media, tiny_feature):
    media = [make_media(s) for s in range(4)]
    feature = tiny_feature()
    feature_update_index(feature=feature)
    Media.objects.filter(pk=media[0].pk).delete()  # no forget call
    result = feature_update_index(feature=feature)
    assert result["removed"] == 1 and result["count"] == 3


def test_crash_before_rename_keeps_previous_index_and_rerun_completes_without_duplicates(make_media, tiny_feature, monkeypatch):
    media = [make_media(s) for s in range(4)]
    feature = tiny_feature()
    feature_update_index(feature=feature)
    more = [make_media(s) for s in range(20, 24)]

    from search_app.indexing import index as index_module

    real_write = index_module._write_version

    def crash(*args, before_rename=None, **kwargs):
        def boom():
            raise RuntimeError("power cut")

        return real_write(*args, before_rename=boom, **kwargs)

    monkeypatch.setattr(index_module, "_write_version", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.FAILED and "power cut" in feature.error
    assert feature.index_version == 1 and feature.has_index
    assert load_index(feature).count == 4  # the previous index still answers
    assert _knn_ids(feature, media[1])[0] == media[1].pk

    monkeypatch.setattr(index_module, "_write_version", real_write)
    result = feature_update_index(feature=feature)
    assert result["embedded"] == 0  # the vectors survived the crash
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and feature.error == "" and feature.index_version == 2
    idx = load_index(feature)
    assert idx.count == 8 and len(set(idx.ids.tolist())) == 8
    assert _knn_ids(feature, more[2])[0] == more[2].pk


def test_crash_while_embedding_keeps_written_shards_and_rerun_has_no_duplicates(make_media, tiny_feature, settings, monkeypatch, request):
    settings.INDEX_SHARD_ITEMS = 4
    settings.EMBED_BATCH_SIZE = 4
    media = [make_media(s) for s in range(12)]
    feature = tiny_feature()

    # The crash comes with the second shard write (the first 4 vectors are stored): tied to
    # the store, not to progress reports, which may be coalesced when the machine is busy.
    # The embedder is cached per process with the batch size it was made with: make a
    # fresh one with batches of 4, and drop it afterwards.
    from modelzoo.embedding import clear_embedder_cache
    from search_app.indexing.vectors import VectorStore

    clear_embedder_cache()
    request.addfinalizer(clear_embedder_cache)

    real_append = VectorStore.append
    writes = []

    def crashing_append(self, ids, vectors):
        writes.append(len(ids))
        if len(writes) == 2:
            raise KeyboardInterrupt
        return real_append(self, ids, vectors)

    monkeypatch.setattr(VectorStore, "append", crashing_append)
    with pytest.raises(KeyboardInterrupt):
        feature_update_index(feature=feature)
    monkeypatch.setattr(VectorStore, "append", real_append)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.FAILED and "Interrupted" in feature.error and not feature.has_index
    stored = _store(feature).ids().size
    assert 4 <= stored < 12

    result = feature_update_index(feature=feature)
    assert result["embedded"] == 12 - stored
    ids, _ = _store(feature).load()
    assert sorted(ids.tolist()) == sorted(m.pk for m in media)
    assert load_index(Feature.objects.get(pk=feature.pk)).count == 12


def test_undecodable_file_is_skipped_and_counted(make_media, tiny_feature):
    good = make_media(1)
    bad = make_media(2)
    with open(bad.file.path, "wb") as fh:
        fh.write(b"this is not a jpeg any more")
    feature = tiny_feature()
    result = feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert result["skipped"] == 1 and feature.skipped_count == 1 and feature.status == FeatureStatus.READY
    assert load_index(feature).ids.tolist() == [good.pk]


def test_a_failed_decode_is_remembered_and_tried_again_only_on_full_or_when_the_file_changes(make_media, tiny_feature, monkeypatch, image_bytes):
    import os

    make_media(1)
    bad = make_media(2)
    with open(bad.file.path, "wb") as fh:
        fh.write(b"this is not a jpeg any more")
    feature = tiny_feature()
    assert feature_update_index(feature=feature)["skipped"] == 1
    assert _store(feature).failed()[bad.pk]["reason"]
    decoded: list[int] = []
    real = build._media_sources
    monkeypatch.setattr(build, "_media_sources", lambda ids: decoded.extend(ids.tolist()) or real(ids))

    make_media(3)  # a new media: the next build decodes it, not the bad one again
    result = feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert decoded == [max(m for m in decoded)] and bad.pk not in decoded
    assert (result["skipped"], result["failed_before"], feature.skipped_count) == (0, 1, 1)

    decoded.clear()
    feature_update_index(feature=feature, full=True)  # full: every failure is tried again
    assert decoded == [bad.pk]

    decoded.clear()
    with open(bad.file.path, "wb") as fh:  # the file is repaired: tried again, and indexed
        fh.write(image_bytes(96, 72, seed=2))
    os.utime(bad.file.path, ns=(1, 1))
    result = feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert decoded == [bad.pk] and result["embedded"] == 1 and feature.skipped_count == 0
    assert _store(feature).failed() == {} and bad.pk in load_index(feature).ids.tolist()


def test_progress_is_reported_through_the_reporter(make_media, tiny_feature):
    for s in range(5):
        make_media(s)
    reporter = ProgressReporter("test")
    feature_update_index(feature=tiny_feature(), reporter=reporter)
    assert reporter.count >= 2 and reporter.last.current == reporter.last.total == 5


def test_a_second_build_does_not_run_while_one_holds_the_claim(make_media, tiny_feature):
    make_media(1)
    feature = tiny_feature()
    token = build._claim(feature.pk)
    assert token and build._claim(feature.pk) is None
    result = feature_update_index(feature=feature)
    assert result["claimed"] is False
    feature.refresh_from_db()
    assert feature.build_requested and feature.status == FeatureStatus.BUILDING and feature.index_version == 0


def test_a_stale_claim_is_taken_over(make_media, tiny_feature, settings):
    make_media(1)
    feature = tiny_feature()
    assert build._claim(feature.pk)
    settings.INDEX_BUILD_STALE_SECONDS = 0
    Feature.objects.filter(pk=feature.pk).update(heartbeat_at="2000-01-01T00:00:00Z")
    result = feature_update_index(feature=feature)
    assert result["claimed"] is True and result["count"] == 1


def test_a_build_that_cannot_be_queued_leaves_the_write_and_says_why(make_media, tiny_feature, monkeypatch, django_capture_on_commit_callbacks):
    """Redis down: the feature is created (not a 500 after its row committed), marked
    failed with the reason; a running build is asked to go round instead."""
    from kombu.exceptions import OperationalError

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(build, "enqueue", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        feature = feature_create(modelzoo_name="tiny-random")
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.FAILED and "task queue is unreachable" in feature.error

    running = tiny_feature()
    assert build._claim(running.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.feature_schedule_build(feature=running)
    running.refresh_from_db()
    assert running.status == FeatureStatus.BUILDING and running.build_requested


def test_the_claim_of_a_build_whose_process_died_is_taken_over_at_once(make_media, tiny_feature):
    """kill -9 of a worker mid-build: its heartbeat is fresh, but the kernel dropped the
    build's lock, so a rerun need not wait INDEX_BUILD_STALE_SECONDS."""
    make_media(1)
    feature = tiny_feature()
    dead = build._claim(feature.pk)
    lock = build._BuildLock(feature.pk)
    assert lock.hold(dead)
    lock.release()  # what the kernel does when the builder's process dies

    result = feature_update_index(feature=feature)

    assert result["claimed"] is True and result["count"] == 1
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and feature.build_token == ""


def test_a_live_build_keeps_its_claim_and_a_dead_one_of_another_token_is_not_guessed(make_media, tiny_feature):
    make_media(1)
    feature = tiny_feature()
    running = build._claim(feature.pk)
    lock = build._BuildLock(feature.pk)
    assert lock.hold(running)
    try:
        assert feature_update_index(feature=feature)["claimed"] is False  # its builder holds the lock
    finally:
        lock.release()
    # A lock file naming another token (a build on another host, or one that died before
    # writing its token) proves nothing about this claim: the heartbeat decides.
    build._BuildLock(feature.pk).path.write_text("f" * 32)
    assert feature_update_index(feature=feature)["claimed"] is False
    feature.refresh_from_db()
    assert feature.build_token == running and feature.build_requested


def test_a_build_requested_while_building_makes_the_running_build_go_round_again(make_media, tiny_feature):
    make_media(1)
    feature = tiny_feature()
    state = {"added": None}

    class AddMediaMidway(ProgressReporter):
        def emit(self, progress):
            if state["added"] is None:
                state["added"] = make_media(99)
                # What the ingest command does after importing, while our build runs:
                assert feature_update_index(feature=Feature.objects.get(pk=feature.pk))["claimed"] is False

    result = feature_update_index(feature=feature, reporter=AddMediaMidway())
    assert result["rounds"] == 2 and result["count"] == 2 and result["embedded"] == 2
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and not feature.build_requested and feature.item_count == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="needs concurrent connections (PostgreSQL; CI runs it there): the test SQLite database is a shared in-memory one whose table locks fail at once",
)
def test_concurrent_claims_only_one_wins(tiny_feature):
    feature = tiny_feature()
    barrier = threading.Barrier(4)
    tokens = []

    def claim():
        try:
            barrier.wait()
            tokens.append(build._claim(feature.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for t in tokens if t) == 1 and len(tokens) == 4


def test_changing_the_model_of_a_built_feature_is_a_conflict(make_media, tiny_feature):
    make_media(1)
    feature = tiny_feature()
    feature_update_index(feature=feature)
    with pytest.raises(Conflict) as info:
        feature_update(feature=feature, modelzoo_name="tiny-vit-random")
    assert info.value.status == 409 and "modelzoo_name" in info.value.fields


def test_changing_the_model_of_an_unbuilt_feature_is_allowed(tiny_feature, django_capture_on_commit_callbacks):
    feature = tiny_feature()
    with django_capture_on_commit_callbacks(execute=True):
        feature = feature_update(feature=feature, modelzoo_name="tiny-vit-random")
    feature.refresh_from_db()
    assert feature.modelzoo_name == "tiny-vit-random" and feature.status == FeatureStatus.READY


def test_new_index_params_rebuild_from_stored_vectors_without_the_model(make_media, tiny_feature, monkeypatch, django_capture_on_commit_callbacks):
    for s in range(6):
        make_media(s)
    feature = tiny_feature()
    feature_update_index(feature=feature)
    from modelzoo import embedding

    monkeypatch.setattr(embedding, "get_embedder", lambda *a, **k: pytest.fail("the model must not run"))
    with django_capture_on_commit_callbacks(execute=True):
        feature_update(feature=feature, index_params={"M": 8})
    feature.refresh_from_db()
    assert feature.index_version == 2 and load_index(feature).params["M"] == 8 and feature.item_count == 6
    with django_capture_on_commit_callbacks(execute=True):
        feature_update(feature=feature, index_type="flat")
    feature.refresh_from_db()
    idx = load_index(feature)
    assert idx.index_type == "flat" and idx.count == 6 and feature.index_version == 3


def test_update_refuses_unknown_fields_and_bad_values(tiny_feature):
    feature = tiny_feature()
    with pytest.raises(InvalidInput):
        feature_update(feature=feature, status="ready")
    with pytest.raises(InvalidInput):
        feature_update(feature=feature, index_params={"ef": -1})


def test_delete_removes_vectors_and_index_files(make_media, tiny_feature, django_capture_on_commit_callbacks):
    make_media(1)
    feature = tiny_feature()
    feature_update_index(feature=feature)
    directory = feature_dir(feature.pk)
    assert directory.is_dir()
    with django_capture_on_commit_callbacks(execute=True):
        feature_delete(feature=feature)
    assert not directory.exists() and not Feature.objects.filter(pk=feature.pk).exists()


def test_old_index_versions_are_cleaned_keeping_the_previous_one(make_media, tiny_feature):
    feature = tiny_feature()
    for round_ in range(4):
        make_media(round_)
        feature_update_index(feature=feature)
    names = sorted(p.name for p in feature_dir(feature.pk).iterdir() if p.name.startswith("index-"))
    assert names == [f"index-v{v}.{ext}" for v in (3, 4) for ext in ("bin", "ids.npy", "json")]


def test_build_index_task_is_idempotent_and_tolerates_a_missing_feature(make_media, tiny_feature):
    make_media(1)
    feature = tiny_feature()
    first = build_index.apply(args=[feature.pk]).get()
    second = build_index.apply(args=[feature.pk]).get()
    assert first["count"] == second["count"] == 1 and second["mode"] == "unchanged"
    assert build_index.apply(args=[987654]).get() == {"feature_id": 987654, "status": "missing"}


def test_build_without_weights_fails_with_the_how_to(make_media, db, settings, tmp_path, monkeypatch):
    from modelzoo import weights

    monkeypatch.setattr(weights, "_hub_cached_file", lambda spec: None)
    make_media(1)
    feature = Feature.objects.create(modelzoo_name="resnet18")
    with pytest.raises(weights.WeightsMissing):
        feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.FAILED and "modelzoo_download resnet18" in feature.error


def test_vectors_are_unique_and_normalised_on_disk(make_media, tiny_feature):
    for s in range(6):
        make_media(s)
    feature = tiny_feature()
    feature_update_index(feature=feature)
    feature_update_index(feature=feature, full=True)
    ids, vectors = _store(feature).load()
    assert len(ids) == len(set(ids.tolist())) == 6
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_warming_loads_the_default_features_index_and_model_and_info_says_so(tiny_feature, make_media, monkeypatch):
    from modelzoo import embedding
    from search_app.indexing import engine
    from search_app.selectors import search_info

    for seed in range(3):
        make_media(seed)
    feature = tiny_feature()
    feature_update_index(feature=feature)
    engine.clear()
    embedding.clear_embedder_cache()
    monkeypatch.setattr(services, "_warm_started", False)
    assert search_info()["model"]["loaded"] is False

    assert services.search_warm(background=False) is True

    assert search_info()["model"]["loaded"] is True
    assert feature.pk in {x["feature_id"] for x in search_info()["loaded"]}
    from search_app.query import hashes

    assert hashes._table.ids.size == 3  # the stored pictures' hashes are read too
    assert services.search_warm(background=False) is False  # once per process


def test_warming_with_nothing_to_search_yet_is_quiet(db, monkeypatch):
    monkeypatch.setattr(services, "_warm_started", False)
    assert services.search_warm(background=False) is True  # no feature: logged, not raised
