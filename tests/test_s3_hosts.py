"""Two hosts and one S3 bucket, over the S3 HTTP API (moto's standalone server): host A
imports with ``manage.py ingest`` and builds the index; host B, with a data dir of its
own, searches (pulling the index version A published to the bucket), serves originals
and thumbnails as signed S3 URLs, and exports a collection whose files it reads back
from the bucket. Slow: it starts an S3 server, commands and a live server."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.error
import urllib.request
import zipfile

import pytest

from tests.harness import Api, bootstrap, create_live_database, live_env, manage, start_s3, start_server
from tests.images import make_image_bytes

pytestmark = pytest.mark.slow


def _get(url: str, token: str | None = None, *, follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_ingest_and_build_on_one_host_search_serve_and_export_on_another(tmp_path):
    s3 = start_s3(tmp_path)
    database = create_live_database(tmp_path, suffix="s3hosts")
    procs = [s3.proc]
    try:
        common = {**s3.env(), "VFRAME_ALLOW_RANDOM_WEIGHTS": "1", "VFRAME_THROTTLE_SEARCH": "off"}
        env_a = live_env(database_url=database.url, redis_url=None, data_dir=tmp_path / "host-a", **common)
        env_b = live_env(database_url=database.url, redis_url=None, data_dir=tmp_path / "host-b", **common)
        tokens = bootstrap(env_a)

        # Host A: a feature, then an ingest that imports into the bucket and indexes.
        folder = tmp_path / "incoming"
        folder.mkdir()
        originals = {}
        for seed in range(8):
            data = make_image_bytes(160, 120, seed=seed)
            (folder / f"photo-{seed}.jpg").write_bytes(data)
            originals[hashlib.sha256(data).hexdigest()] = data
        made = manage(env_a, "shell", "-c", "from search_app.models import Feature; print(Feature.objects.create(modelzoo_name='tiny-random').pk)")
        feature_id = int(made.stdout.strip().splitlines()[-1])
        manage(env_a, "ingest", str(folder), "--feature", str(feature_id), "--workers", "1", timeout=300)

        keys = s3.keys()
        assert any(k.startswith(f"indexes/feature-{feature_id}/index-v") and k.endswith(".json") for k in keys), keys
        assert any(k.startswith(f"indexes/feature-{feature_id}/vectors/") for k in keys), keys
        stored = [k for k in keys if not k.startswith("indexes/")]
        assert len(stored) >= 16, f"originals and thumbnails are in the bucket: {stored}"
        assert not (tmp_path / "host-a" / "files").exists() or not any((tmp_path / "host-a" / "files").rglob("*.jpg"))

        # Host B: a live server with an empty data dir.
        server, base = start_server(env_b, tmp_path, name="host-b")
        procs.append(server)
        api = Api(base, tokens["curator"])
        status, body = api.get("/api/v1/media/", timeout=30)
        assert status == 200, body
        media = body["res"]["results"]
        assert len(media) == 8
        query = media[0]
        status, body = api.get(f"/api/v1/search/media/{query['id']}/?feature={feature_id}&limit=5", timeout=60)
        assert status == 200, body
        assert body["res"]["index_count"] == 8 and len(body["res"]["results"]) == 5
        assert (tmp_path / "host-b" / "indexes" / f"feature-{feature_id}" / "index-v1.json").exists(), "pulled from the bucket"

        # Files: /files/ answers a redirect to a signed URL of the bucket, which serves the bytes.
        status, detail = api.get(f"/api/v1/media/id/{query['id']}/")
        assert status == 200, detail
        item = detail["res"]
        for url in (item["file_url"], item["thumbnail_url"]):
            assert url.startswith(s3.endpoint) and "Signature=" in url, url
            code, _, data = _get(url)
            assert code == 200 and data
        assert hashlib.sha256(_get(item["file_url"])[2]).hexdigest() == item["sha256"]
        unsigned = item["file_url"].split("?", 1)[0]
        assert _get(unsigned)[0] == 403, "the bucket is private: only signed URLs read it"
        name = unsigned.split(f"/{s3.bucket}/", 1)[1]
        code, headers, _ = _get(f"{base}/files/{name}", tokens["curator"], follow=False)
        assert code == 302 and headers["Location"].startswith(s3.endpoint), headers
        assert _get(f"{base}/files/{name}", follow=False)[0] == 401

        # Export on host B: a ZIP whose originals come from the bucket, byte for byte.
        status, body = api.post("/api/v1/collection/", {"title": "leads"})
        assert status == 201, body
        collection_id = body["res"]["id"]
        for hit in body_hits(api, query["id"], feature_id):
            status, added = api.post(f"/api/v1/collection/{collection_id}/media/", {"media_id": hit})
            assert status == 201, added
        code, headers, data = _get(f"{base}/api/v1/collection/{collection_id}/export/", tokens["curator"])
        assert code == 200, data[:500]
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            names = archive.namelist()
            exported = [archive.read(n) for n in names if n.startswith("media/") or n.startswith("items/")]
        assert manifest and len(exported) >= 3, names
        assert sum(hashlib.sha256(b).hexdigest() in originals for b in exported) == 3
        assert not (tmp_path / "host-b" / "files").exists() or not any((tmp_path / "host-b" / "files").rglob("*.jpg"))
    finally:
        for proc in reversed(procs):
            proc.stop()
        database.drop()


def body_hits(api: Api, media_id: int, feature_id: int) -> list[int]:
    status, body = api.get(f"/api/v1/search/media/{media_id}/?feature={feature_id}&limit=3", timeout=60)
    assert status == 200, body
    return [r["media"]["id"] for r in body["res"]["results"]]
