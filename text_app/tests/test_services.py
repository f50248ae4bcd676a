"""OCR and labels stored per media, the full-text index on the database in use
(SQLite FTS5 or PostgreSQL GIN), the resumable run and the ingest hook."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from media_app.models import Media
from text_app.fulltext import Filters
from text_app.models import MediaLabel, MediaWords, TextLine
from text_app.query import parse_query
from text_app.selectors import label_classes, media_words, words_search
from text_app.services import media_label, media_ocr, media_words_run
from text_app.tests.pictures import WQY, store_picture, text_picture


def found(q: str, **kwargs) -> list[int]:
    return [h.media_id for h in words_search(query=parse_query(q), limit=50, **kwargs).hits]


@pytest.mark.django_db(transaction=True)
def test_text_read_on_a_picture_is_stored_with_normalised_boxes_and_found_by_its_words():
    media = store_picture(text_picture(["SERIAL 4471-B", "KALASHNIKOV"]))
    words = media_ocr(media=media)
    assert words.ocr_engine.startswith("rapidocr-onnxruntime==1.4.4") and words.ocr_ms > 0
    lines = list(TextLine.objects.filter(media=media))
    texts = " ".join(line.text for line in lines).upper()
    assert "KALASHNIKOV" in texts and "4471" in texts
    for line in lines:
        assert 0 <= line.x1 < line.x2 <= 1 and 0 <= line.y1 < line.y2 <= 1 and 0.5 <= line.confidence <= 1
    assert found("kalashnikov") == [media.pk]
    assert found("4471-B") == [media.pk]
    hit = words_search(query=parse_query("kalashnikov")).hits[0]
    assert [line.text.upper() for line in hit.lines] == ["KALASHNIKOV"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not WQY.exists(), reason="needs fonts-wqy-microhei (.ci/run installs it)")
def test_chinese_text_is_read_and_found_by_a_word_of_it():
    media = store_picture(text_picture(["坦克部队 2024"], font=WQY, px=40))
    media_ocr(media=media)
    assert "坦克" in MediaWords.objects.get(pk=media.pk).text
    assert found("坦克") == [media.pk]
    assert found("克坦") == []  # characters out of order are not the word


@pytest.mark.django_db(transaction=True)
def test_non_latin_text_round_trips_and_each_script_finds_its_own_picture(words_media):
    cyrillic = words_media("Министерство обороны", "Т-72Б3")
    chinese = words_media("中华人民共和国", "坦克")
    arabic = words_media("وزارة الدفاع")
    greek = words_media("ΣΤΡΑΤΟΣ")
    assert found("министерство") == [cyrillic.pk]
    assert found("ОБОРОНЫ") == [cyrillic.pk]
    assert found("т-72б3") == [cyrillic.pk]
    assert found("人民") == [chinese.pk]
    assert found("الدفاع") == [arabic.pk]
    assert found("στρατος") == [greek.pk]  # casefold: Σ and final ς
    assert media_words([chinese.pk])[chinese.pk]["text"] == "中华人民共和国\n坦克"


@pytest.mark.django_db(transaction=True)
def test_ranking_paging_and_filters_are_exact(words_media):
    a = words_media("checkpoint checkpoint checkpoint")
    b = words_media("checkpoint north")
    c = words_media("checkpoint")
    words_media("nothing here")
    everything = found("checkpoint")
    assert sorted(everything) == sorted([a.pk, b.pk, c.pk]) and everything[0] == a.pk
    pages = [h.media_id for off in range(3) for h in words_search(query=parse_query("checkpoint"), offset=off, limit=1).hits]
    assert pages == everything
    page = words_search(query=parse_query("checkpoint"), offset=2, limit=1)
    assert not page.has_more and words_search(query=parse_query("checkpoint"), offset=1, limit=1).has_more
    assert found("checkpoint -north") == [m for m in everything if m != b.pk]
    assert sorted(found("north OR nothing")) == sorted([b.pk, Media.objects.order_by("-pk").first().pk])
    subquery = Media.objects.filter(pk__in=[b.pk, c.pk]).values("pk").query.sql_with_params()
    assert sorted(found("checkpoint", filters=Filters(media_ids_sql=subquery))) == sorted([b.pk, c.pk])
    assert found("checkpoint", filters=Filters(media_type="video_frame")) == []


@pytest.mark.django_db(transaction=True)
def test_reading_again_replaces_the_text_and_a_deleted_media_leaves_the_index(words_media):
    from media_app.services import media_delete

    media = words_media("old sign")
    assert found("old") == [media.pk]
    from text_app.ocr import OcrLine, OcrResult
    from text_app.services import media_ocr_store

    media_ocr_store(media=media, result=OcrResult(lines=[OcrLine("new sign", (0.1, 0.1, 0.5, 0.2), (), 0.9)], ms=1.0))
    assert found("old") == [] and found("new") == [media.pk]
    assert TextLine.objects.filter(media=media).count() == 1
    media_delete(media=media)
    assert found("new") == [] and not MediaWords.objects.filter(pk=media.pk).exists()


def test_the_full_text_index_follows_text_that_empties_and_a_truncated_table(words_media):
    from django.db import connection

    from text_app.fulltext import TSV_TABLE
    from text_app.services import media_ocr_store

    sign, other = words_media("checkpoint alpha"), words_media("bridge seven")
    media_ocr_store(media=sign, result=None, error="unreadable")  # read again: no text now
    assert found("checkpoint") == [] and found("bridge") == [other.pk]
    MediaWords.objects.filter(pk=other.pk).update(ocr_error="noted")  # the text unchanged
    assert found("bridge") == [other.pk]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # only pictures with text have a row
            cursor.execute(f"SELECT media_id FROM {TSV_TABLE}")
            assert [row[0] for row in cursor.fetchall()] == [other.pk]
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # a TRUNCATE waits for no deferred check
            cursor.execute("TRUNCATE text_app_mediawords")  # what Django's flush does
        else:
            cursor.execute("DELETE FROM text_app_mediawords")
    assert found("bridge") == []


@pytest.fixture(scope="module")
def sample_photos() -> dict[str, Path]:
    spec = importlib.util.find_spec("sklearn")
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "images"
    return {"china": folder / "china.jpg", "flower": folder / "flower.jpg"}


@pytest.mark.django_db(transaction=True)
def test_labels_come_from_the_real_classifier_and_a_label_search_ranks_by_probability(sample_photos):
    temple = store_picture(sample_photos["china"].read_bytes(), "china.jpg")
    flower = store_picture(sample_photos["flower"].read_bytes(), "flower.jpg")
    assert media_label(medias=[temple, flower]) == 2
    top = {m: list(MediaLabel.objects.filter(media=m).order_by("rank")) for m in (temple, flower)}
    assert len(top[temple]) == 5 and top[temple][0].label_id == label_classes("palace")[0]
    assert top[flower][0].label_id == label_classes("daisy")[0]
    assert all(a.score >= b.score for a, b in zip(top[temple], top[temple][1:], strict=False))
    page = words_search(query=None, label_ids=label_classes("palace"))
    assert page.hits[0].media_id == temple.pk and page.hits[0].labels[0]["label"] == "palace"
    assert 0 < page.hits[0].score <= 1
    assert [h.media_id for h in words_search(query=None, label_ids=label_classes("daisy")).hits] == [flower.pk]


def test_label_names_resolve_to_imagenet_classes():
    from modelzoo.labels import classes_named, label_name

    assert [label_name(i) for i in classes_named("tank")] == ["tank"]
    assert classes_named("Assault Rifle") == [413]
    assert set(classes_named("missile")) == {657, 744}
    assert classes_named("rifle") == [764]  # a class called exactly that wins
    assert classes_named("combat vehicle") == [847]  # else whole words of a name
    assert classes_named("847") == [847]
    assert classes_named("no such thing") == []


@pytest.mark.django_db(transaction=True)
def test_the_run_over_stored_media_resumes_where_it_stopped_and_is_idempotent():
    first = store_picture(text_picture(["FIRST SIGN"]), "a.png")
    second = store_picture(text_picture(["SECOND SIGN"], size=(600, 300)), "b.png")
    calls = []

    def stop_after_one() -> bool:
        calls.append(1)
        return len(calls) > 1

    run = media_words_run(ocr=True, labels=False, stop=stop_after_one)
    assert run.interrupted and run.ocr == 1
    assert MediaWords.objects.filter(pk=first.pk).exclude(ocr_at=None).exists()
    assert not MediaWords.objects.filter(pk=second.pk).exists()
    run = media_words_run(ocr=True, labels=False)
    assert run.ocr == 1 and not run.interrupted
    lines_before = list(TextLine.objects.order_by("pk").values_list("media_id", "n", "text"))
    assert media_words_run(ocr=True, labels=False).ocr == 0  # nothing left
    assert list(TextLine.objects.order_by("pk").values_list("media_id", "n", "text")) == lines_before
    assert found("second") == [second.pk]


@pytest.mark.django_db(transaction=True)
def test_an_ingest_labels_what_it_stores_and_reads_text_when_asked(tmp_path, settings, sample_photos):
    from media_app.ingest import IngestOptions, ingest_run

    settings.LABELS_AT_INGEST = True
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sign.png").write_bytes(text_picture(["CHECKPOINT ALPHA"]))
    (tmp_path / "in" / "china.jpg").write_bytes(sample_photos["china"].read_bytes())
    summary = ingest_run(paths=[tmp_path / "in"], options=IngestOptions(ocr=True))
    assert summary.images == 2 and not summary.failures
    sign = Media.objects.get(original_name="sign.png")
    temple = Media.objects.get(original_name="china.jpg")
    assert found("checkpoint") == [sign.pk]
    assert MediaLabel.objects.filter(media=temple, rank=1, label_id=label_classes("palace")[0]).exists()
    assert MediaWords.objects.exclude(ocr_at=None).count() == 2

    # Without --ocr an ingest labels only; the text waits for the media_words task.
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "late.png").write_bytes(text_picture(["LATE NOTICE"]))
    ingest_run(paths=[tmp_path / "more"], options=IngestOptions())
    late = Media.objects.get(original_name="late.png")
    assert MediaWords.objects.get(pk=late.pk).ocr_at is None and MediaWords.objects.get(pk=late.pk).labels_model
    media_words_run(ocr=True, labels=True)
    assert found("notice") == [late.pk]


def _labels_by_name() -> dict[str, list[tuple[int, float]]]:
    rows = MediaLabel.objects.order_by("media_id", "rank").values_list("media__original_name", "label_id", "score")
    out: dict[str, list[tuple[int, float]]] = {}
    for name, label_id, score in rows:
        out.setdefault(name, []).append((label_id, score))
    return out


@pytest.mark.django_db(transaction=True)
def test_an_ingest_embedding_with_the_label_model_labels_from_that_pass_as_the_files_would_be(tmp_path, settings, sample_photos, monkeypatch):
    from media_app.ingest import IngestOptions, ingest_run
    from modelzoo.labels import Classifier, label_model_name
    from search_app.models import Feature

    settings.LABELS_AT_INGEST = True
    (tmp_path / "in").mkdir()
    for name, path in sample_photos.items():
        (tmp_path / "in" / f"{name}.jpg").write_bytes(path.read_bytes())
    feature = Feature.objects.create(modelzoo_name=label_model_name())

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the ingest classified a file its embedding pass had run through the model")

    with monkeypatch.context() as patch:
        patch.setattr(Classifier, "embed_files", no_second_pass)
        summary = ingest_run(paths=[tmp_path / "in"], options=IngestOptions(features=[feature]))
    assert summary.images == 2 and summary.embedded == {feature.pk: 2}
    from_pass = _labels_by_name()
    assert from_pass["china.jpg"][0][0] == label_classes("palace")[0]
    assert from_pass["flower.jpg"][0][0] == label_classes("daisy")[0]

    # The same classes, the same probabilities (to resampling noise), as classifying the files.
    MediaLabel.objects.all().delete()
    assert media_label(medias=list(Media.objects.order_by("pk"))) == 2
    from_files = _labels_by_name()
    for name, labels in from_pass.items():
        assert [c for c, _ in labels[:3]] == [c for c, _ in from_files[name][:3]], name
        assert [round(p, 2) for _, p in labels] == pytest.approx([round(p, 2) for _, p in from_files[name]], abs=0.011), name


@pytest.mark.django_db(transaction=True)
def test_pictures_an_ingest_embedding_pass_failed_on_are_labelled_from_their_files(tmp_path, settings, sample_photos, monkeypatch):
    from media_app.ingest import IngestOptions, ingest_run
    from modelzoo.embedding import Embedder
    from modelzoo.labels import label_model_name
    from search_app.models import Feature

    settings.LABELS_AT_INGEST = True
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "china.jpg").write_bytes(sample_photos["china"].read_bytes())
    feature = Feature.objects.create(modelzoo_name=label_model_name())

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Embedder, "forward_pooled", broken)
    summary = ingest_run(paths=[tmp_path / "in"], options=IngestOptions(features=[feature]))
    assert summary.images == 1 and summary.embedded == {}
    assert _labels_by_name()["china.jpg"][0][0] == label_classes("palace")[0]


@pytest.mark.django_db(transaction=True)
def test_an_ingested_video_has_the_text_of_its_keyframes_read_and_found(tmp_path):
    from media_app.ingest import IngestOptions, ingest_run
    from text_app.tests.pictures import text_video

    (tmp_path / "in").mkdir()
    text_video(tmp_path / "in" / "clip.mp4", [["CHECKPOINT ALPHA"], ["BRIDGE SEVEN"]])
    summary = ingest_run(paths=[tmp_path / "in"], options=IngestOptions(ocr=True))
    assert summary.videos == 1 and summary.frames >= 2, summary
    video = Media.objects.get(media_type="video")
    (checkpoint,) = found("checkpoint")
    (bridge,) = found("bridge")
    frames = Media.objects.filter(pk__in=[checkpoint, bridge])
    assert {f.media_type for f in frames} == {"video_frame"} and {f.parent_id for f in frames} == {video.pk}
    assert Media.objects.get(pk=checkpoint).timestamp < Media.objects.get(pk=bridge).timestamp
    assert found("checkpoint", filters=Filters(media_type="image")) == []
