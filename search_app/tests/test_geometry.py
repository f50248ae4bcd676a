"""The geometric check on its own (search_app.query.geometry): a picture pasted small into
another is confirmed once the small part is enlarged for its keypoints; an unrelated
picture is not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

from search_app.query import geometry


def _photo(name: str) -> Image.Image:
    spec = importlib.util.find_spec("sklearn")
    assert spec is not None, "scikit-learn (requirements/dev.txt) provides the real photos this test needs"
    return Image.open(Path(spec.submodule_search_locations[0]) / "datasets" / "images" / f"{name}.jpg").convert("RGB")


def test_keypoints_enlarge_a_small_part_up_to_the_side_and_never_shrink_it_less():
    small = Image.new("RGB", (200, 150))
    assert geometry.keypoints(small).size == (200, 150)
    assert geometry.keypoints(small, enlarge=2.0).size == (400, 300)
    assert geometry.keypoints(Image.new("RGB", (500, 250)), enlarge=2.0).size == (geometry.SIDE, 320)
    assert geometry.keypoints(Image.new("RGB", (1280, 960)), enlarge=2.0).size == (geometry.SIDE, 480)


def test_a_photo_pasted_small_is_confirmed_with_its_part_enlarged_and_an_unrelated_one_is_not():
    china, flower = _photo("china"), _photo("flower")
    stored = geometry.keypoints(china)
    part = china.resize((china.width * 2 // 9, china.height * 2 // 9))  # the inset as the query's crop sees it
    found = geometry.verify(geometry.keypoints(part, enlarge=2.0), stored)
    assert found is not None and found.inliers >= geometry.MIN_INLIERS
    x1, y1, x2, y2 = found.box
    assert x1 < 0.05 and y1 < 0.05 and x2 > 0.95 and y2 > 0.95  # the whole stored photo
    assert geometry.verify(geometry.keypoints(flower.resize(part.size), enlarge=2.0), stored) is None
