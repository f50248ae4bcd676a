"""The task registry: who may run what, and parameters checked before anything is queued."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, PermissionDeniedError
from tasks_app.registry import TASKS, params_schema, task_spec_get, task_specs_for


def test_unknown_task_name_is_invalid_and_lists_what_is_available(user):
    with pytest.raises(InvalidInput) as err:
        task_spec_get(name="format_disk", user=user)
    assert "Unknown task 'format_disk'; available: batch_search, find_duplicates, test." == err.value.message
    assert "task_name" in err.value.fields


@pytest.mark.parametrize("name", ["build_index", "download_model", "ingest_folder"])
def test_staff_only_tasks_are_refused_to_other_users(user, staff, name):
    with pytest.raises(PermissionDeniedError):
        task_spec_get(name=name, user=user)
    assert task_spec_get(name=name, user=staff).name == name


def test_users_see_only_the_tasks_they_may_run(user, staff):
    # Curators run what only searches or reads the index: batch reverse search, near-duplicates.
    assert [s.name for s in task_specs_for(user=user)] == ["batch_search", "find_duplicates", "test"]
    assert [s.name for s in task_specs_for(user=staff)] == [
        "build_index",
        "download_model",
        "ingest_folder",
        "media_words",
        "batch_search",
        "find_duplicates",
        "test",
    ]


def test_test_task_params_get_defaults_and_bounds():
    spec = TASKS["test"]
    assert spec.validate({}) == {"steps": 10, "interval": 1.0, "fail_at": None}
    assert spec.validate(None)["steps"] == 10
    with pytest.raises(InvalidInput) as err:
        spec.validate({"steps": 0, "interval": "soon"})
    assert set(err.value.fields["params"]) == {"steps", "interval"}


def test_test_task_cannot_tie_up_a_worker_for_long():
    assert TASKS["test"].validate({"steps": 600, "interval": 1})["steps"] == 600
    with pytest.raises(InvalidInput) as err:
        TASKS["test"].validate({"steps": 1000, "interval": 60})
    assert "at most 600 seconds" in str(err.value.fields)


@pytest.mark.parametrize("params", [[1, 2], "steps=3", 5])
def test_params_must_be_an_object(params):
    with pytest.raises(InvalidInput, match="params must be a JSON object"):
        TASKS["test"].validate(params)


def test_unknown_params_are_named():
    with pytest.raises(InvalidInput) as err:
        TASKS["test"].validate({"steps": 2, "rm": "-rf"})
    assert err.value.fields == {"params": {"rm": ["Unknown parameter."]}}


def test_ingest_folder_only_inside_allowed_folders(settings, tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "photos").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (allowed / "escape").symlink_to(outside)
    spec = TASKS["ingest_folder"]

    settings.INGEST_ALLOWED_DIRS = []
    with pytest.raises(InvalidInput) as err:
        spec.validate({"path": str(allowed)})
    assert "VFRAME_INGEST_ALLOWED_DIRS" in str(err.value.fields)

    settings.INGEST_ALLOWED_DIRS = [str(allowed)]
    assert spec.validate({"path": str(allowed / "photos")}) == {"path": str((allowed / "photos").resolve()), "index": True, "ocr": False}
    for bad in (outside, allowed / "escape", allowed / "photos" / ".." / ".." / "outside"):
        with pytest.raises(InvalidInput, match="Invalid parameters"):
            spec.validate({"path": str(bad)})
    with pytest.raises(InvalidInput) as err:
        spec.validate({"path": str(allowed / "missing")})
    assert "No such folder" in str(err.value.fields)


def test_build_index_needs_an_existing_feature(db):
    from search_app.models import Feature

    feature = Feature.objects.create(modelzoo_name="resnet18")
    assert TASKS["build_index"].validate({"feature_id": feature.pk}) == {"feature_id": feature.pk, "full": False}
    with pytest.raises(InvalidInput) as err:
        TASKS["build_index"].validate({"feature_id": feature.pk + 1})
    assert f"No feature with id {feature.pk + 1}." in str(err.value.fields)


def test_download_model_needs_a_model_zoo_name():
    from modelzoo.registry import MODELS

    name = next(iter(MODELS))
    assert TASKS["download_model"].validate({"name": name, "force": True}) == {"name": name, "force": True}
    with pytest.raises(InvalidInput) as err:
        TASKS["download_model"].validate({"name": "gpt-17"})
    assert "No model called 'gpt-17'" in str(err.value.fields)


def test_params_schema_is_json_schema_of_the_serializer():
    schema = params_schema(TASKS["test"].params)
    assert schema["type"] == "object" and schema["required"] == [] and schema["additionalProperties"] is False
    assert schema["properties"]["steps"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10, "description": "Number of progress reports."}
    assert schema["properties"]["fail_at"]["type"] == ["integer", "null"]
    assert params_schema(TASKS["build_index"].params)["required"] == ["feature_id"]
