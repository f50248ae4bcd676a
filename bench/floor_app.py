"""The HTTP floor of bench/serve.py: the least an ASGI app can do per request.

Served by the same stack as the app (gunicorn, the project's uvicorn worker class, the
same worker count), it answers every GET with one fixed JSON body shaped like a search
answer of 10 hits, so the bench can tell what the server stack costs from what the
search costs. No Django, no database.
"""

from __future__ import annotations

import json

_HIT = {
    "rank": 1,
    "score": 0.912345,
    "media": {
        "id": 12345,
        "sha256": "0" * 64,
        "media_type": "image",
        "file_url": "http://127.0.0.1/files/media/00/00/" + "0" * 64 + ".jpg",
        "thumbnail_url": "http://127.0.0.1/files/thumbs/00/00/" + "0" * 64 + ".jpg",
        "width": 640,
        "height": 480,
        "format": "JPEG",
        "byte_size": 100000,
        "original_name": "bench-00012345.jpg",
        "source_path": "",
        "created_at": "2026-01-01T00:00:00Z",
        "parent": None,
        "parent_sha256": None,
        "frame_number": None,
        "timestamp": None,
        "duration": None,
        "frame_count": None,
    },
}
BODY = json.dumps({"status": "ok", "res": {"record_id": 1, "results": [dict(_HIT, rank=i + 1) for i in range(10)]}}).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return  # lifespan is off in the worker class; websockets are not measured
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
