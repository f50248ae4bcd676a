#!/usr/bin/env python
"""Words in pictures: how much OCR reads, what it costs, how fast words are found.

    python bench/ocr.py recall [--photos 24]     # word recall and OCR ms/image
    python bench/ocr.py search [--items 100000]  # word search latency on PostgreSQL

``recall``: words rendered onto real photographs at several heights (10 to 64 px),
in five DejaVu fonts (Debian's fonts-dejavu-core), at angles of 0, 5 and 15 degrees
either way, and three contrasts against the photo underneath; plus screenshots of
social-media posts (name, handle, time, a few lines of text, counters). The photographs
are the real ones of ``bench/photos.py`` (Debian wallpaper packages and OpenCV's
samples, fetched with ``apt-get download``), else this script fetches Debian's
plasma-workspace-wallpapers and mate-backgrounds itself. A word counts as found when
its tokens appear, in order, in what OCR read on its picture (the tokenizer word
search uses, so "found" means "a search for it finds the picture"). Every input comes
from a fixed seed. Also measured: OCR ms per image (the engine the server runs,
``VFRAME_OCR_THREADS`` threads) against the default model's embedding of the same
images, which decides whether OCR at ingest is an option (it is: ``--ocr``).

``search``: a throwaway PostgreSQL database with ``--items`` media whose text, lines and
labels are generated directly in the tables (COPY; a Zipf-like vocabulary, serial
numbers, Cyrillic and Chinese lines, top-5 labels each), then word searches through
``text_app.selectors.words_search`` (ranked page + the hits' lines) and through the API
(``GET search/text/``, the search record included): p50 and p95 per kind of query.

Targets: recall >= 0.9 for words 20 px tall or taller; word search p50 <= 50 ms at
100,000 media on PostgreSQL. Figures go to docs/benchmarks.md with the load average.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "out" / "ocr"
FONTS = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSansCondensed-Oblique.ttf"]
HEIGHTS = [10, 14, 20, 28, 40, 64]  # ink height of an upper-case word, pixels
ANGLES = [0, 5, -5, 15, -15]
CONTRASTS = {"high": 1.0, "medium": 0.55, "low": 0.3}
SEED = 20261202
VOCAB = [
    "CHECKPOINT", "BORDER", "CONVOY", "ARTILLERY", "MINISTRY", "DEFENCE", "POLICE", "STATION", "HOSPITAL", "SCHOOL",
    "BRIDGE", "HARBOUR", "DANGER", "MINES", "ROCKET", "MISSILE", "AMMUNITION", "BATTALION", "BRIGADE", "DIVISION",
    "WARNING", "CLOSED", "EXIT", "MARKET", "STREET", "AVENUE", "VILLAGE", "FACTORY", "DEPOT", "AIRPORT",
    "Kharkiv", "Aleppo", "Mosul", "Donetsk", "Idlib", "Mariupol", "Sanaa", "Tripoli", "Khartoum", "Gaza",
    "serial", "lot", "batch", "type", "model", "calibre", "made", "year", "press", "release",
]  # fmt: skip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def django_setup(env: dict[str, str] | None = None) -> None:
    os.environ.update(env or {})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vframe_search.settings")
    import django

    django.setup()


# --- inputs ---------------------------------------------------------------------------------------


def photographs(limit: int) -> list[Path]:
    """Real photographs: bench/photos.py's selection when it is here, else Debian's
    wallpaper packages fetched and unpacked under bench/out/ocr/debs."""
    try:
        sys.path.insert(0, str(REPO / "bench"))
        import photos  # the quality benches' shared picture set

        items = photos.load() or (photos.build() and photos.load())
        chosen = sorted((path for p, path in items if p.kind == "photo"), key=lambda p: p.name)
        if chosen:
            return chosen[:limit]
    except Exception as exc:  # the shared picture set is optional here
        log(f"bench/photos.py not usable ({exc}); fetching wallpapers")
    debs = OUT / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    unpacked = debs / "x"
    if not unpacked.exists():
        subprocess.run(["apt-get", "download", "plasma-workspace-wallpapers", "mate-backgrounds"], cwd=debs, check=True)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked / deb.name.split("_")[0])], check=True)
    files = sorted(p for p in unpacked.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg") and p.stat().st_size > 200_000)
    return files[:limit]


def _font(name: str, px: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(FONTS / name), px)


def _font_for_height(name: str, height: int):
    """The font size whose upper-case ink is ``height`` pixels tall."""
    probe = _font(name, 100)
    box = probe.getbbox("HXE")
    return _font(name, max(6, round(100 * height / (box[3] - box[1]))))


def _text_colour(region, contrast: float) -> tuple[int, int, int]:
    """Dark text on a light patch, light on a dark one, ``contrast`` of the way to the
    extreme from the patch's mean."""
    from PIL import ImageStat

    mean = ImageStat.Stat(region.convert("L")).mean[0]
    target = 0 if mean > 127 else 255
    value = round(mean + (target - mean) * contrast)
    return (value, value, value)


def render_photo_case(photo: Path, index: int, rng: random.Random):
    """One photograph (longer side 1600 px) with 8 words at known heights, fonts, angles
    and contrasts; returns the image and [(word, height, font, angle, contrast)]."""
    from PIL import Image

    with Image.open(photo) as img:
        img = img.convert("RGB")
        img.thumbnail((1600, 1600))
    width, height = img.size
    words = []
    cols, rows = 2, 4
    for slot in range(cols * rows):
        word = rng.choice(VOCAB) + (str(rng.randint(10, 9999)) if rng.random() < 0.25 else "")
        h = HEIGHTS[(index + slot) % len(HEIGHTS)]
        font_name = FONT_FILES[(index * 3 + slot) % len(FONT_FILES)]
        angle = ANGLES[(index + 2 * slot) % len(ANGLES)]
        contrast = list(CONTRASTS)[(index + slot) % len(CONTRASTS)]
        font = _font_for_height(font_name, h)
        box = font.getbbox(word)
        layer = Image.new("L", (box[2] + 8, box[3] + 8), 0)
        from PIL import ImageDraw

        ImageDraw.Draw(layer).text((4, 4), word, fill=255, font=font)
        layer = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        cell_w, cell_h = width // cols, height // rows
        x0 = (slot % cols) * cell_w + rng.randint(0, max(0, cell_w - layer.width - 1))
        y0 = (slot // cols) * cell_h + rng.randint(0, max(0, cell_h - layer.height - 1))
        if layer.width > cell_w or layer.height > cell_h:
            continue  # does not fit its cell at this size
        region = img.crop((x0, y0, x0 + layer.width, y0 + layer.height))
        img.paste(Image.new("RGB", layer.size, _text_colour(region, CONTRASTS[contrast])), (x0, y0), layer)
        words.append((word, h, font_name, angle, contrast))
    return img, words


POSTS = [
    (
        "Field Reporter",
        "@fieldreport",
        "Convoy of trucks seen heading north on the M4 highway near the checkpoint this morning. Serial numbers on the crates read LOT 4471-B.",
    ),
    ("Open Source Desk", "@osintdesk", "Geolocated: the strike hit the grain depot east of the bridge. Compare with satellite imagery from 12 March."),
    ("Local News 24", "@localnews24", "BREAKING: roads closed around the central market after the explosion. Residents told to stay indoors."),
    ("Analyst", "@arms_watch", "Fragments recovered at the site match a 122mm rocket motor. Markings partially legible: batch 07, year 2019."),
    ("Citizen", "@citizen_cam", "Smoke rising over the harbour, ferries suspended. Video taken from the old lighthouse at 06:40."),
    ("Monitor", "@ceasefire_mon", "Checkpoint at the northern entrance now manned by a different unit. New flags and a sign reading STOP - CONTROL."),
]


def render_post(index: int, rng: random.Random):
    """A screenshot of a social-media post: avatar, name, handle and time, the text
    wrapped at about 60 characters, then counters; text 15 to 19 px."""
    from PIL import Image, ImageDraw

    name, handle, text = POSTS[index % len(POSTS)]
    size = 15 + index % 5
    body = _font("DejaVuSans.ttf", size)
    bold = _font("DejaVuSans-Bold.ttf", size)
    small = _font("DejaVuSans.ttf", size - 2)
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > 58:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    img = Image.new("RGB", (720, 140 + len(lines) * int(size * 1.6)), (255, 255, 255) if index % 2 == 0 else (21, 32, 43))
    fg, muted = ((15, 20, 25), (83, 100, 113)) if index % 2 == 0 else ((231, 233, 234), (139, 152, 165))
    draw = ImageDraw.Draw(img)
    draw.ellipse((20, 20, 68, 68), fill=(rng.randint(40, 200), rng.randint(40, 200), rng.randint(40, 200)))
    draw.text((84, 22), name, fill=fg, font=bold)
    draw.text((84, 26 + size), f"{handle} · {rng.randint(1, 23)}h", fill=muted, font=small)
    y = 84
    for text_line in lines:
        draw.text((20, y), text_line, fill=fg, font=body)
        y += int(size * 1.6)
    draw.text((20, y + 10), f"{rng.randint(2, 900)} Reposts   {rng.randint(10, 9000)} Likes   {rng.randint(1, 400)} Replies", fill=muted, font=small)
    words = [(w, size, "DejaVuSans.ttf", 0, "post") for w in text.replace(",", " ").replace(".", " ").replace(":", " ").split() if any(c.isalnum() for c in w)]
    return img, words


def _found(word: str, read_tokens: list[str]) -> bool:
    from text_app.query import tokenize

    want = tokenize(word)  # what a search for the word looks for
    n = len(want)
    return bool(want) and any(read_tokens[i : i + n] == want for i in range(len(read_tokens) - n + 1))


def run_recall(args) -> dict:
    django_setup({"VFRAME_DATA_DIR": tempfile.mkdtemp(prefix="vframe-bench-ocr-")})
    from modelzoo.embedding import get_embedder
    from text_app.ocr import engine_name, ocr_image
    from text_app.query import document_tokens

    rng = random.Random(SEED)
    photos = photographs(args.photos)
    log(f"{len(photos)} photographs; OCR engine {engine_name()}; load average {load_average()}")
    cases = [render_photo_case(p, i, rng) + ("photo",) for i, p in enumerate(photos)]
    cases += [render_post(i, rng) + ("post",) for i in range(args.posts)]
    if args.save:
        (OUT / "cases").mkdir(parents=True, exist_ok=True)
        for i, (img, _, kind) in enumerate(cases):
            img.save(OUT / "cases" / f"{i:02d}-{kind}.jpg", quality=90)
    ocr_image(cases[0][0])  # load the engine before timing
    rows, ocr_ms, ocr_cpu = [], {"photo": [], "post": []}, []
    for i, (img, words, kind) in enumerate(cases):
        c0 = time.process_time()
        result = ocr_image(img)
        if kind == "photo":
            ocr_cpu.append((time.process_time() - c0) * 1000)
        ocr_ms[kind].append(result.ms)
        read = [t for line in result.lines for t in document_tokens(line.text)]  # what the index holds
        for word, height, font, angle, contrast in words:
            rows.append({"kind": kind, "height": height, "font": font, "angle": angle, "contrast": contrast, "found": _found(word, read)})
        log(f"case {i} ({kind}, {img.size[0]}x{img.size[1]}): {result.ms:.0f} ms, {sum(r['found'] for r in rows[-len(words) :])}/{len(words)} words")
    embedder = get_embedder("efficientnet_lite0")
    embedder.embed_image(cases[0][0])
    embed_ms, embed_cpu = [], []
    for img, _, kind in cases:
        if kind == "photo":
            t0, c0 = time.perf_counter(), time.process_time()
            embedder.embed_image(img)
            embed_ms.append((time.perf_counter() - t0) * 1000)
            embed_cpu.append((time.process_time() - c0) * 1000)

    def recall(select) -> str:
        chosen = [r for r in rows if select(r)]
        return f"{sum(r['found'] for r in chosen) / len(chosen):.3f} ({sum(r['found'] for r in chosen)}/{len(chosen)})" if chosen else "-"

    photo = [r for r in rows if r["kind"] == "photo"]
    report = {
        "load_average": load_average(),
        "engine": engine_name(),
        "photos": len(photos),
        "posts": args.posts,
        "recall_photo_words_ge_20px": recall(lambda r: r["kind"] == "photo" and r["height"] >= 20),
        "recall_photo_words_lt_20px": recall(lambda r: r["kind"] == "photo" and r["height"] < 20),
        "recall_by_height": {h: recall(lambda r, h=h: r["kind"] == "photo" and r["height"] == h) for h in HEIGHTS},
        "recall_by_angle_ge_20px": {a: recall(lambda r, a=a: r["kind"] == "photo" and r["angle"] == a and r["height"] >= 20) for a in ANGLES},
        "recall_by_contrast_ge_20px": {c: recall(lambda r, c=c: r["kind"] == "photo" and r["contrast"] == c and r["height"] >= 20) for c in CONTRASTS},
        "recall_by_font_ge_20px": {f: recall(lambda r, f=f: r["kind"] == "photo" and r["font"] == f and r["height"] >= 20) for f in FONT_FILES},
        "recall_posts": recall(lambda r: r["kind"] == "post"),
        "ocr_ms_photo_p50": round(statistics.median(ocr_ms["photo"]), 1),
        "ocr_ms_photo_mean": round(statistics.fmean(ocr_ms["photo"]), 1),
        "ocr_ms_post_p50": round(statistics.median(ocr_ms["post"]), 1) if ocr_ms["post"] else None,
        "embed_ms_photo_p50 (efficientnet_lite0, one image)": round(statistics.median(embed_ms), 1),
        "ocr_over_embedding": round(statistics.median(ocr_ms["photo"]) / max(statistics.median(embed_ms), 1e-6), 1),
        # CPU time, all threads: what each costs the machine, less bent by other load.
        "ocr_cpu_ms_photo_p50": round(statistics.median(ocr_cpu), 1),
        "embed_cpu_ms_photo_p50": round(statistics.median(embed_cpu), 1),
        "ocr_over_embedding_cpu": round(statistics.median(ocr_cpu) / max(statistics.median(embed_cpu), 1e-6), 1),
        "words": len(photo),
        "ocr_threads": int(os.environ.get("VFRAME_OCR_THREADS", "1")),
        "torch_threads": __import__("torch").get_num_threads(),
    }
    return report


# --- search at scale --------------------------------------------------------------------------------

SYLLABLES = ["ka", "ro", "mi", "ta", "ne", "so", "lu", "vi", "de", "ra", "po", "zi", "an", "er", "ol", "us", "ba", "ke", "mo", "ti"]
CYRILLIC = ["Министерство обороны", "Пункт пропуска", "Осторожно мины", "Автобусная остановка", "Военная полиция"]
CHINESE = ["检查站", "坦克部队", "危险 禁止通行", "人民医院", "火车站"]


def _vocabulary(size: int, rng: random.Random) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def run_search(args) -> dict:
    import psycopg

    base = args.database_url.rsplit("/", 1)[0]
    name = args.database_url.rsplit("/", 1)[1]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    django_setup({"DATABASE_URL": args.database_url, "VFRAME_DATA_DIR": tempfile.mkdtemp(prefix="vframe-bench-ocr-"), "VFRAME_THROTTLE_SEARCH": "off"})
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0, interactive=False)
        report = _search_measure(args, connection)
    finally:
        connection.close()
        if not args.keep:
            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return report


def _search_measure(args, connection) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from collections_app.models import Collection, CollectionMedia
    from text_app.query import parse_query, search_document
    from text_app.selectors import label_classes, words_search

    rng = random.Random(SEED)
    vocab = _vocabulary(20_000, rng)
    weights = [1 / (i + 1) ** 1.07 for i in range(len(vocab))]  # Zipf-like
    n = args.items
    t0 = time.perf_counter()
    log(f"generating {n} media with text, lines and labels")
    cum = list(__import__("itertools").accumulate(weights))
    from datetime import UTC, datetime

    from media_app.models import Media

    # Through the ORM: the media table is the media app's, its columns its own business.
    created = datetime(2026, 11, 1, tzinfo=UTC)
    for start in range(1, n + 1, 5000):
        Media.objects.bulk_create(
            [
                Media(
                    pk=i,
                    sha256=f"{i:064x}",
                    media_type="image",
                    file=f"media/{i}.jpg",
                    width=1600,
                    height=1067,
                    format="JPEG",
                    byte_size=250_000,
                    original_name=f"img-{i}.jpg",
                )
                for i in range(start, min(n, start + 4999) + 1)
            ]
        )
    Media.objects.update(created_at=created)
    with connection.cursor() as cur:
        raw = cur.cursor
        raw.execute("SELECT setval(pg_get_serial_sequence('media_app_media', 'id'), %s)", (n,))
        now = "2026-11-01T00:00:00Z"
        texts: dict[int, list[str]] = {}
        with raw.copy(
            "COPY text_app_mediawords (media_id, text, doc, ocr_engine, ocr_ms, ocr_error, ocr_at, labels_model, labels_error, labels_at) FROM STDIN"
        ) as copy:
            for i in range(1, n + 1):
                lines = []
                if rng.random() < 0.6:
                    for _ in range(rng.randint(1, 6)):
                        words = rng.choices(vocab, cum_weights=cum, k=rng.randint(1, 6))
                        if rng.random() < 0.1:
                            words.append(f"{rng.choice('ABCDEFGH')}{rng.choice('KLMN')}-{rng.randint(1000, 9999)}")
                        lines.append(" ".join(words).upper() if rng.random() < 0.3 else " ".join(words))
                    if rng.random() < 0.03:
                        lines.append(rng.choice(CYRILLIC))
                    if rng.random() < 0.03:
                        lines.append(rng.choice(CHINESE))
                texts[i] = lines
                text = "\n".join(lines)
                copy.write_row((i, text, search_document(text), "rapidocr-onnxruntime==1.4.4 PP-OCRv4", 900.0, "", now, "efficientnet_lite0", "", now))
        with raw.copy("COPY text_app_textline (media_id, n, text, x1, y1, x2, y2, quad, confidence) FROM STDIN") as copy:
            for i, lines in texts.items():
                for k, line in enumerate(lines):
                    y = 0.05 + 0.15 * k
                    copy.write_row((i, k, line, 0.1, y, 0.8, y + 0.1, "[]", 0.9))
        with raw.copy("COPY text_app_medialabel (media_id, modelzoo_name, label_id, score, rank) FROM STDIN") as copy:
            for i in range(1, n + 1):
                classes = rng.sample(range(1000), 5)
                scores = sorted((rng.random() for _ in range(5)), reverse=True)
                total = sum(scores) * 1.3
                for rank, (c, s) in enumerate(zip(classes, scores, strict=True), start=1):
                    copy.write_row((i, "efficientnet_lite0", c, s / total, rank))
        raw.execute("ANALYZE")
    user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
    collection = Collection.objects.create(title="bench", user=user)
    CollectionMedia.objects.bulk_create(
        [CollectionMedia(collection=collection, media_id=i) for i in rng.sample(range(1, n + 1), min(5000, n))], batch_size=2000
    )
    log(f"generated in {time.perf_counter() - t0:.0f} s; load average {load_average()}")

    counts = {}
    with connection.cursor() as cur:
        for word in (vocab[0], vocab[50], vocab[5000]):
            cur.execute("SELECT count(*) FROM text_app_words_tsv WHERE doc_tsv @@ %s::tsquery", [f"'{word}'"])
            counts[word] = cur.fetchone()[0]
    queries = {
        f"common word ({counts[vocab[0]]} matches)": {"q": vocab[0]},
        f"mid word ({counts[vocab[50]]} matches)": {"q": vocab[50]},
        f"rare word ({counts[vocab[5000]]} matches)": {"q": vocab[5000]},
        "two words": {"q": f"{vocab[3]} {vocab[40]}"},
        "phrase": {"q": f'"{vocab[0]} {vocab[1]}"'},
        "OR and exclusion": {"q": f"{vocab[10]} OR {vocab[11]} -{vocab[0]}"},
        "Cyrillic": {"q": "пропуска"},
        "Chinese": {"q": "坦克"},
        "common word, page 10": {"q": vocab[0], "offset": 270},
        "common word in a collection": {"q": vocab[0], "collection": collection.pk},
        "label (tank)": {"label": "tank"},
        "label and word": {"label": "tank", "q": vocab[2]},
    }
    client = Client(HTTP_HOST="localhost")  # a host the settings allow
    client.force_login(user)
    results = {}
    for title, params in queries.items():
        query = parse_query(params["q"]) if params.get("q") else None
        labels = label_classes(params["label"]) if params.get("label") else None
        filters = None
        if params.get("collection"):
            from text_app.fulltext import Filters

            filters = Filters(media_ids_sql=CollectionMedia.objects.filter(collection=collection).values("media_id").query.sql_with_params())
        selector, api = [], []
        for rep in range(args.reps + 2):
            t1 = time.perf_counter()
            page = words_search(query=query, label_ids=labels, filters=filters, offset=params.get("offset", 0), limit=30)
            t2 = time.perf_counter()
            res = client.get("/api/v1/search/text/", params)
            t3 = time.perf_counter()
            assert res.status_code == 200, res.content[:300]
            if rep >= 2:  # warm
                selector.append((t2 - t1) * 1000)
                api.append((t3 - t2) * 1000)
        selector.sort()
        api.sort()
        results[title] = {
            "hits": len(page.hits),
            "selector_p50_ms": round(statistics.median(selector), 1),
            "selector_p95_ms": round(selector[math.ceil(0.95 * len(selector)) - 1], 1),
            "api_p50_ms": round(statistics.median(api), 1),
            "api_p95_ms": round(api[math.ceil(0.95 * len(api)) - 1], 1),
        }
        log(f"{title}: {results[title]}")
    all_api = [r["api_p50_ms"] for r in results.values()]
    return {"items": n, "load_average": load_average(), "queries": results, "worst_api_p50_ms": max(all_api), "median_api_p50_ms": statistics.median(all_api)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recall")
    r.add_argument("--photos", type=int, default=24)
    r.add_argument("--posts", type=int, default=6)
    r.add_argument("--save", action="store_true", help="Write the rendered pictures under bench/out/ocr/cases/")
    s = sub.add_parser("search")
    s.add_argument("--items", type=int, default=100_000)
    s.add_argument("--reps", type=int, default=20)
    s.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_ocr")
    s.add_argument("--keep", action="store_true", help="Keep the generated database")
    args = parser.parse_args()
    report = run_recall(args) if args.cmd == "recall" else run_search(args)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.cmd}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
