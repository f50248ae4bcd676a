"""Settings for VFRAME Search: one env-driven base, no production-only paths.

With no environment at all the server runs on the embedded defaults: SQLite and files
under ``VFRAME_DATA_DIR`` (default ``./data``), the in-memory channel layer, and tasks
run in a thread pool of the web process. ``DATABASE_URL`` switches to PostgreSQL,
``REDIS_URL`` to channels-redis and a Redis Celery broker, ``VFRAME_S3_BUCKET`` to
S3-compatible storage. A bad value stops start-up with the variable's name.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .datadir import private_dir, private_file, private_sqlite, write_private_text
from .env import (
    env_bool,
    env_database,
    env_float,
    env_int,
    env_list,
    env_path,
    env_rate,
    env_redis_url,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("VFRAME_DATA_DIR", BASE_DIR / "data")
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)  # its final mode: see "Stored files"

DEBUG = env_bool("VFRAME_DEBUG", False)


def _secret_key() -> str:
    """Secret from the environment; else one generated once and kept in the data dir."""
    key = env_str("DJANGO_SECRET_KEY")
    if key is not None:
        if len(key) < 50:
            raise ImproperlyConfigured("DJANGO_SECRET_KEY: must be at least 50 characters")
        return key
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        write_private_text(key_file, secrets.token_urlsafe(64))
    private_file(key_file)  # one made by an older version may be 0644
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("VFRAME_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("VFRAME_CSRF_TRUSTED_ORIGINS", [])

# Behind a TLS-terminating proxy: VFRAME_HTTPS=1 turns on every transport protection
# that `manage.py check --deploy` asks for.
HTTPS = env_bool("VFRAME_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("VFRAME_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("VFRAME_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_results",
    "vframe_search",
    "media_app",
    "collections_app",
    "search_app",
    "text_app",
    "tasks_app",
    "modelzoo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "vframe_search.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vframe_search.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "vframe_search.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", DATA_DIR / "vframe.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env_path("VFRAME_STATIC_ROOT", DATA_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Stored files -------------------------------------------------------------------
# Media files are never served as open paths: FILES_URL points at an authenticated view
# (media_app.views.serve_file) that streams from the storage backend, or hands off to
# the front proxy with X-Accel-Redirect / X-Sendfile when VFRAME_SENDFILE_HEADER is set.
FILES_ROOT = DATA_DIR / "files"
MEDIA_ROOT = FILES_ROOT
MEDIA_URL = "/files/"
SENDFILE_HEADER = env_str("VFRAME_SENDFILE_HEADER", "")
if SENDFILE_HEADER not in ("", "X-Accel-Redirect", "X-Sendfile"):
    raise ImproperlyConfigured("VFRAME_SENDFILE_HEADER: expected X-Accel-Redirect, X-Sendfile or empty")
SENDFILE_PREFIX = env_str("VFRAME_SENDFILE_PREFIX", "/protected/")
# Nobody else may read the data dir, the SQLite database or the secret key (created so,
# tightened at every start; vframe_search/datadir.py). A proxy that sends stored files
# itself may pass through the data dir to files/, whose files are group-readable.
private_dir(DATA_DIR, group_may_enter=bool(SENDFILE_HEADER))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and DATABASES["default"]["NAME"] not in ("", ":memory:"):
    private_sqlite(Path(DATABASES["default"]["NAME"]))

S3_BUCKET = env_str("VFRAME_S3_BUCKET")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("VFRAME_S3_ENDPOINT_URL"),
            "region_name": env_str("VFRAME_S3_REGION"),
            "access_key": env_str("VFRAME_S3_ACCESS_KEY_ID"),
            "secret_key": env_str("VFRAME_S3_SECRET_ACCESS_KEY"),
            "location": env_str("VFRAME_S3_PREFIX", ""),
            "querystring_auth": True,
            "querystring_expire": env_int("VFRAME_S3_URL_EXPIRE", 3600, minimum=60),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    # Django's FileSystemStorage, except that a file appears under its name only once
    # it is complete (a full disk or a crash never leaves half an original there).
    _default_storage = {
        "BACKEND": "vframe_search.storage.AtomicFileSystemStorage",
        "OPTIONS": {"location": str(FILES_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Index files and vector shards: each host's working copy is local (hnswlib reads
# local files); with VFRAME_SHARE_INDEXES they also travel through the default storage
# so several web and worker hosts need only PostgreSQL, Redis and the storage.
INDEX_DIR = DATA_DIR / "indexes"
SHARE_INDEXES = env_bool("VFRAME_SHARE_INDEXES", bool(S3_BUCKET))
# Index type milvus (search_app/indexing/backends/milvus.py): VFRAME_MILVUS_URI is a
# server or cluster (http://host:19530), a milvus-lite file path, or unset for a
# milvus-lite file in the data dir. Every call to it waits at most MILVUS_TIMEOUT
# seconds (a search on an unreachable Milvus answers 503 within it); writes of a
# build wait MILVUS_WRITE_TIMEOUT. MILVUS_INDEX: the Milvus index built on a server
# (milvus-lite builds FLAT unless IVF_FLAT is asked for: it has no HNSW).
MILVUS_URI = env_str("VFRAME_MILVUS_URI", "") or str(DATA_DIR / "milvus" / "vframe.db")
MILVUS_TOKEN = env_str("VFRAME_MILVUS_TOKEN", "")
MILVUS_TIMEOUT = env_float("VFRAME_MILVUS_TIMEOUT", 3.0, minimum=0.1)
MILVUS_WRITE_TIMEOUT = env_float("VFRAME_MILVUS_WRITE_TIMEOUT", 120.0, minimum=1.0)
MILVUS_INDEX = env_str("VFRAME_MILVUS_INDEX", "HNSW")
if MILVUS_INDEX not in ("HNSW", "IVF_FLAT", "FLAT", "DISKANN", "AUTOINDEX"):
    raise ImproperlyConfigured("VFRAME_MILVUS_INDEX: expected HNSW, IVF_FLAT, FLAT, DISKANN or AUTOINDEX")
# Collection names start with this, so several deployments can share one cluster.
MILVUS_PREFIX = env_str("VFRAME_MILVUS_PREFIX", "vframe")
if not (MILVUS_PREFIX[:1].isalpha() and MILVUS_PREFIX.replace("_", "").isalnum() and len(MILVUS_PREFIX) <= 64):
    raise ImproperlyConfigured("VFRAME_MILVUS_PREFIX: letters, digits and _, starting with a letter, at most 64")
MODELS_DIR = env_path("VFRAME_MODELS_DIR", DATA_DIR / "models")
# The operator's model zoo entries (TOML, merged over modelzoo/models.toml); '' for none.
MODELZOO_FILE = env_str("VFRAME_MODELZOO_FILE", "")

# --- Limits ---------------------------------------------------------------------------
MAX_UPLOAD_BYTES = env_int("VFRAME_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
MAX_IMAGE_PIXELS = env_int("VFRAME_MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
# Batch reverse search (POST search/batch/, search_app/analysis/batch.py): a request
# beyond these is refused (413) before any ZIP member is read or any image stored.
BATCH_MAX_BYTES = env_int("VFRAME_BATCH_MAX_BYTES", MAX_UPLOAD_BYTES, minimum=1024)
BATCH_ZIP_MAX_MEMBERS = env_int("VFRAME_BATCH_ZIP_MAX_MEMBERS", 1000, minimum=1)
BATCH_ZIP_MAX_UNCOMPRESSED = env_int("VFRAME_BATCH_ZIP_MAX_UNCOMPRESSED", 512 * 1024 * 1024, minimum=1024)
# A member that would expand more than this many times is skipped unread (a ZIP bomb).
BATCH_ZIP_MAX_RATIO = env_int("VFRAME_BATCH_ZIP_MAX_RATIO", 100, minimum=1)
THUMBNAIL_SIZE = env_int("VFRAME_THUMBNAIL_SIZE", 320, minimum=32)
# Other frames of its video listed with a media (media/id/<id>/: the nearest ones).
MAX_SIBLINGS = env_int("VFRAME_MAX_SIBLINGS", 200, minimum=1)
PAGE_SIZE = env_int("VFRAME_PAGE_SIZE", 30, minimum=1)
MAX_PAGE_SIZE = env_int("VFRAME_MAX_PAGE_SIZE", 500, minimum=1)
SEARCH_PAGE_SIZE = env_int("VFRAME_SEARCH_PAGE_SIZE", 30, minimum=1)
SEARCH_MAX_LIMIT = env_int("VFRAME_SEARCH_MAX_LIMIT", 200, minimum=1)
# Collection notes (collections_app/rendering.py): refused at write beyond these; notes
# stored before a limit was lowered are shown as plain text.
NOTES_MAX_CHARS = env_int("VFRAME_NOTES_MAX_CHARS", 50_000, minimum=100)
NOTES_MAX_NESTING = env_int("VFRAME_NOTES_MAX_NESTING", 20, minimum=1)
NOTES_RENDER_SECONDS = env_float("VFRAME_NOTES_RENDER_SECONDS", 1.0, minimum=0.01)
# Request bodies above this are spooled to disk by Django, not held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
FILE_UPLOAD_PERMISSIONS = 0o640
# Server-side folders that the ingest task may read (the management command may read
# anything its operator can).
INGEST_ALLOWED_DIRS = [str(p) for p in env_list("VFRAME_INGEST_ALLOWED_DIRS", [])]

# --- Ingest (manage.py ingest) ----------------------------------------------------------
# Files decoded and stored in parallel; database writes stay one transaction per file.
INGEST_WORKERS = env_int("VFRAME_INGEST_WORKERS", 2, minimum=1)
# Video keyframes (media_app/video.py explains the rules). Differences are the mean
# absolute difference of small grayscale frames, 0..1.
VIDEO_SCENE_THRESHOLD = env_float("VFRAME_VIDEO_SCENE_THRESHOLD", 0.1, minimum=0.0)
VIDEO_MAX_INTERVAL = env_float("VFRAME_VIDEO_MAX_INTERVAL", 10.0, minimum=0.1)
VIDEO_MIN_INTERVAL = env_float("VFRAME_VIDEO_MIN_INTERVAL", 0.5, minimum=0.0)
VIDEO_MIN_CHANGE = env_float("VFRAME_VIDEO_MIN_CHANGE", 0.01, minimum=0.0)
VIDEO_ANALYSIS_FPS = env_float("VFRAME_VIDEO_ANALYSIS_FPS", 4.0, minimum=0.1)
VIDEO_KEYFRAMES_ONLY = env_bool("VFRAME_VIDEO_KEYFRAMES_ONLY", False)

# --- REST API ---------------------------------------------------------------------------
# Per-user rate limits on the routes that cost CPU (core/api/throttles.py):
# "N/second", "N/minute", "N/hour", "N/day" (or s, min, h, d), or "off".
THROTTLE_RATES = {
    "upload": env_rate("VFRAME_THROTTLE_UPLOAD", "120/min"),
    "search": env_rate("VFRAME_THROTTLE_SEARCH", "600/min"),
}
# Seconds a refused request (429) waits before its answer (core/api/throttles.py's
# RefusalPause), at most its Retry-After: a client retrying at once costs one refusal a
# second per connection. 0 answers at once.
THROTTLE_PAUSE = env_float("VFRAME_THROTTLE_PAUSE", 1.0, minimum=0.0)
# Sign-in throttling on /login/ and /admin/login/ (vframe_search/web/login.py): this many
# failed sign-ins for one username, or from one client address (0: not counted), lock
# it out for LOGIN_LOCKOUT_MINUTES, which is also the window failures are counted in.
LOGIN_MAX_FAILURES = env_int("VFRAME_LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_MAX_FAILURES_PER_IP = env_int("VFRAME_LOGIN_MAX_FAILURES_PER_IP", 20, minimum=0)
LOGIN_LOCKOUT_MINUTES = env_float("VFRAME_LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.01)
REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["core.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    "EXCEPTION_HANDLER": "core.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VFRAME Search API",
    "DESCRIPTION": "Visual similarity search over private image and video collections.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are API routes too: no anonymous access.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The docs load nothing from the internet (offline deployments; no third party learns
    # who reads them): Swagger UI and ReDoc from drf-spectacular-sidecar's static files,
    # no online spec validator, and ReDoc without its Google Fonts or its maker's logo
    # (templates/drf_spectacular/redoc.html).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Name the shared enums once, so each appears under one name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "FeatureStatusEnum": "search_app.models.FeatureStatus",
        "IndexTypeEnum": ["hnsw", "flat", "milvus"],
        "MediaTypeEnum": "media_app.models.MediaType",
        "ModelTypeEnum": ["embedding", "detection"],
        "SearchQueryTypeEnum": "search_app.query.sources.query_types",
        "ErrorStatusEnum": ["error"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.envelope_postprocessing_hook",
    ],
}

# --- Redis, Channels, Celery --------------------------------------------------------------
REDIS_URL = env_redis_url("REDIS_URL")
# Every Redis connection gives up after these: a stalled Redis (up, but not answering)
# must fail a cache read, a rate-limit count or a task start, never hang the request.
REDIS_CONNECT_TIMEOUT = env_float("VFRAME_REDIS_CONNECT_TIMEOUT", 2.0, minimum=0.1)
REDIS_TIMEOUT = env_float("VFRAME_REDIS_TIMEOUT", 2.0, minimum=0.1)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis' layer, retrying a command whose pooled connection died
            # with a Redis restart (vframe_search/channel_layer.py).
            "BACKEND": "vframe_search.channel_layer.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # Each websocket waits for messages with a 5 s BZPOPMIN
                        # (channels-redis), and redis-py's read timeout is also 5 s by
                        # default: Redis answers a little after 5 s, the read times out
                        # first and the socket dies (1011) after 5 s of quiet. Reads
                        # may take longer than the blocking pop.
                        "socket_timeout": 15,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                    }
                ]
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("VFRAME_BROKER_TIMEOUT", 3.0, minimum=0.1)
# A worker waits for tasks with 1 s blocking pops, so reads may take a little longer
# than REDIS_TIMEOUT; a task start from a request still gives up within seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT, "socket_timeout": max(REDIS_TIMEOUT, 5.0)}
CELERY_TASK_DEFAULT_QUEUE = "vframe"
# Without a broker, tasks run in a thread pool of the process that enqueued them.
TASKS_INLINE = not bool(REDIS_URL)
TASKS_INLINE_WORKERS = env_int("VFRAME_INLINE_TASK_WORKERS", 2, minimum=1)
# Staff's and the system's own tasks (index builds) run in threads of their own, so
# curators' tasks never keep them waiting.
TASKS_INLINE_STAFF_WORKERS = env_int("VFRAME_INLINE_STAFF_TASK_WORKERS", 2, minimum=1)
# Tasks one non-staff user may have queued or running at once (429 beyond).
TASKS_PER_USER = env_int("VFRAME_TASKS_PER_USER", 2, minimum=1)
# Finished task runs older than this are deleted (at worker start, every
# TASK_HOUSEKEEPING_HOURS while one runs, and by `manage.py prune_tasks`).
TASK_RETENTION_DAYS = env_int("VFRAME_TASK_RETENTION_DAYS", 30, minimum=1)
TASK_HOUSEKEEPING_HOURS = env_float("VFRAME_TASK_HOUSEKEEPING_HOURS", 6.0, minimum=0.001)
# Presence of websocket clients and Celery workers (socket/clients/): members beat every
# interval and are dropped after the timeout without one (a killed worker, say).
PRESENCE_HEARTBEAT_INTERVAL = env_float("VFRAME_HEARTBEAT_INTERVAL", 10.0, minimum=0.1)
PRESENCE_TIMEOUT = env_float("VFRAME_PRESENCE_TIMEOUT", 30.0, minimum=0.5)
if PRESENCE_TIMEOUT <= PRESENCE_HEARTBEAT_INTERVAL:
    raise ImproperlyConfigured("VFRAME_PRESENCE_TIMEOUT: must be longer than VFRAME_HEARTBEAT_INTERVAL")
# How long task/info/ waits for workers to answer Celery's inspect broadcast.
TASK_INFO_TIMEOUT = env_float("VFRAME_TASK_INFO_TIMEOUT", 1.0, minimum=0.1)

# --- Embeddings ---------------------------------------------------------------------------
# Empty: the best model whose weights are on this machine (modelzoo.weights.default_model_name),
# efficientnet_lite0 on a fresh install. Never a random-weight model unless named here.
DEFAULT_EMBEDDING_MODEL = env_str("VFRAME_DEFAULT_MODEL", "")
EMBED_BATCH_SIZE = env_int("VFRAME_EMBED_BATCH_SIZE", 32, minimum=1)
EMBED_DTYPE = env_str("VFRAME_EMBED_DTYPE", "float32")
if EMBED_DTYPE not in ("float32", "bfloat16"):
    raise ImproperlyConfigured("VFRAME_EMBED_DTYPE: expected float32 or bfloat16")
EMBED_THREADS = env_int("VFRAME_EMBED_THREADS", 0, minimum=0)  # 0: torch's default
LOADER_WORKERS = env_int("VFRAME_LOADER_WORKERS", 2, minimum=0)
# Region vectors (modelzoo/regions.py): each picture's centre half and quarters are
# embedded too, so a crop finds its source (about 1.3 forward passes more per picture),
# and a search adds the parts of its query where a picture may sit. Off: whole pictures
# only (labels and the geometric check of the top results stay).
REGION_VECTORS = env_bool("VFRAME_REGION_VECTORS", True)
# Keep each imported picture's keypoints for the geometric check as the ingest stores it
# (search_app/query/keypoint_store.py): one more decode and ORB pass, about 50 ms for a
# 12-megapixel photograph. Off: the first search that checks a picture finds and keeps
# them (or manage.py keypoints, any time).
KEYPOINTS_AT_INGEST = env_bool("VFRAME_KEYPOINTS_AT_INGEST", False)
# Where embeddings run: auto (CUDA when torch sees a device, else the CPU), cpu or cuda
# (no device is then a 503 saying so). On CUDA, batches and decode threads are sized to
# keep the device fed (0 decode threads: one per core).
DEVICE = env_str("VFRAME_DEVICE", "auto").strip().lower()
if DEVICE not in ("auto", "cpu", "cuda"):
    raise ImproperlyConfigured(f"VFRAME_DEVICE: expected auto, cpu or cuda, got {DEVICE!r}")
EMBED_BATCH_SIZE_CUDA = env_int("VFRAME_EMBED_BATCH_SIZE_CUDA", 128, minimum=1)
LOADER_WORKERS_CUDA = env_int("VFRAME_LOADER_WORKERS_CUDA", 0, minimum=0)
# Allow the random-weight test entries of the model zoo (tests and demos only).
ALLOW_RANDOM_WEIGHTS = env_bool("VFRAME_ALLOW_RANDOM_WEIGHTS", False)
# Each server process loads the default feature's index and model as it starts, in the
# background (search_app.services.search_warm), so the first search does not wait seconds.
SEARCH_WARM_AT_START = env_bool("VFRAME_WARM_AT_START", True)
# Near-duplicate threshold per model, "name=0.9,other=0.85": replaces the value measured
# for that model (search_app.analysis.duplicates.MODEL_THRESHOLDS).
DUPLICATE_THRESHOLDS: dict[str, float] = {}
for _pair in filter(None, (p.strip() for p in env_str("VFRAME_DUPLICATE_THRESHOLDS", "").split(","))):
    _name, _, _value = _pair.partition("=")
    try:
        DUPLICATE_THRESHOLDS[_name.strip()] = float(_value)
        if not _name.strip() or not -1.0 <= DUPLICATE_THRESHOLDS[_name.strip()] <= 1.0:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(f"VFRAME_DUPLICATE_THRESHOLDS: expected name=similarity pairs (-1..1) separated by commas, got {_pair!r}") from None

# Words in pictures (text_app, docs/text-search.md). Labels: the top-k ImageNet classes
# of LABEL_MODEL's classifier head, stored at ingest (one classifier pass per picture).
# OCR costs many times an embedding (docs/benchmarks.md), so an ingest reads text only when asked (--ocr).
LABEL_MODEL = env_str("VFRAME_LABEL_MODEL", "efficientnet_lite0")
LABELS_TOP_K = env_int("VFRAME_LABELS_TOP_K", 5, minimum=1)
LABELS_AT_INGEST = env_bool("VFRAME_LABELS_AT_INGEST", True)
OCR_THREADS = env_int("VFRAME_OCR_THREADS", 1, minimum=0)  # per ONNX session; 0: one per core
OCR_MIN_CONFIDENCE = env_float("VFRAME_OCR_MIN_CONFIDENCE", 0.5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("VFRAME_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
