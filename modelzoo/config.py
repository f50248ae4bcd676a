"""The model zoo as configuration: the shipped ``models.toml`` and the operator's file.

``VFRAME_MODELZOO_FILE`` names a TOML file of the same form as ``modelzoo/models.toml``
(whose header lists the keys). Its entries are merged over the shipped ones: the same
name replaces that entry whole, a new name is added after them. Everything is checked
before anything is used: a syntax error, an unknown key, a wrong type or value, a
duplicate name, a label file that cannot be read or whose length differs from the
entry's class count is a :class:`ConfigError` naming the file, the entry and the key,
and then no entry of that file is registered. Relative paths (weights, labels) are
relative to the file that names them.

Checks that need the model itself (an ONNX file's inputs and outputs, a weights
checksum) run when it loads and in ``manage.py check`` / ``manage.py modelzoo check``.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .specs import UNIT_MEAN, UNIT_STD, DetectionModelSpec, EmbeddingModelSpec, ModelSpec

SHIPPED_FILE = Path(__file__).with_name("models.toml")

# Names become API paths and folders under MODELS_DIR: no slashes, no leading dot.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

ENTRY_KEYS = {"name", "kind", "runtime", "architecture", "description", "licence", "model_kwargs", "weights", "input", "preprocess", "output"}
TABLE_KEYS = {
    "weights": {"path", "package", "file", "no_deps", "hub", "url", "torchvision_weights", "sha256", "layout", "random", "seed"},
    "input": {"size", "name"},
    "preprocess": {"mean", "std", "scale", "resize", "crop_pct", "interpolation", "colour"},
    "output": {"embedding_dim", "layer", "labels", "labels_source", "num_classes", "layout", "confidence", "iou", "max_detections"},
}
FILE_KEYS = {"model", "default_preference"}
RUNTIMES = {"embedding": ("timm", "onnx", "phash", "clip"), "detection": ("torchvision", "onnx")}
# The weights sources each runtime can load.
WEIGHTS_SOURCES = {
    ("embedding", "timm"): ("hub", "package", "path", "random"),
    ("embedding", "onnx"): ("path", "package", "url"),
    ("embedding", "phash"): (),
    ("embedding", "clip"): ("hub", "path", "random"),
    ("detection", "torchvision"): ("url", "path", "random"),
    ("detection", "onnx"): ("path", "package", "url"),
}


class ConfigError(Exception):
    """A model zoo configuration file that cannot be used, with where the fault is."""

    def __init__(self, file: str | Path, message: str, *, entry: str | None = None, key: str | None = None):
        self.file = str(file)
        self.entry = entry
        self.key = key
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.entry is not None:
            where.append(f"model {self.entry!r}")
        if self.key is not None:
            where.append(f"key {self.key!r}")
        return f"{self.file}: {', '.join(where) + ': ' if where else ''}{self.message}"


@dataclass(frozen=True)
class Zoo:
    """The merged configuration: entries by name in order, and the default preference."""

    models: dict[str, ModelSpec]
    default_preference: tuple[str, ...]
    files: tuple[str, ...]


class _Entry:
    """One [[model]] table being read: typed getters that name the key on error, and a
    record of what was read so anything else is reported as unknown."""

    def __init__(self, file: Path, index: int, table: Any):
        self.file = file
        self.label = f"#{index + 1}"
        if not isinstance(table, dict):
            raise ConfigError(file, "each [[model]] must be a table.", entry=self.label)
        self.table = table
        name = table.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise self.error("name", "required: letters, digits, '_', '.', '-' (at most 100, not starting with a dot or dash).")
        self.label = name
        for key in sorted(set(table) - ENTRY_KEYS):
            raise self.error(key, f"unknown key; known keys are {', '.join(sorted(ENTRY_KEYS))}.")
        for section, known in TABLE_KEYS.items():
            value = table.get(section, {})
            if not isinstance(value, dict):
                raise self.error(section, "must be a table, e.g. { size = 224 }.")
            for key in sorted(set(value) - known):
                raise self.error(f"{section}.{key}", f"unknown key; known keys of {section} are {', '.join(sorted(known))}.")

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.file, message, entry=self.label, key=key)

    def has(self, key: str) -> bool:
        section, _, sub = key.partition(".")
        return (sub in self.table.get(section, {})) if sub else (section in self.table)

    def raw(self, key: str) -> Any:
        section, _, sub = key.partition(".")
        return self.table.get(section, {}).get(sub) if sub else self.table.get(section)

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] | None = None) -> str:
        if not self.has(key):
            if default is None:
                raise self.error(key, "required." + (f" One of: {', '.join(choices)}." if choices else ""))
            return default
        value = self.raw(key)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.error(key, "must be a non-empty string.")
        if choices and value not in choices:
            raise self.error(key, f"{value!r} is not one of: {', '.join(choices)}.")
        return value

    def whole(self, key: str, default: int | None = None, *, minimum: int = 0, maximum: int = 1 << 31) -> int:
        if not self.has(key):
            if default is None:
                raise self.error(key, "required.")
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.error(key, f"must be a whole number from {minimum} to {maximum}.")
        return value

    def number(self, key: str, default: float, *, low: float, high: float, low_open: bool = False) -> float:
        if not self.has(key):
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(key, "must be a number.")
        if value > high or value < low or (low_open and value == low):
            raise self.error(key, f"must be {'above' if low_open else 'at least'} {low} and at most {high}.")
        return float(value)

    def flag(self, key: str, default: bool = False) -> bool:
        if not self.has(key):
            return default
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false.")
        return value

    def triple(self, key: str, default: tuple[float, float, float], *, positive: bool = False) -> tuple[float, float, float]:
        if not self.has(key):
            return default
        value = self.raw(key)
        ok = isinstance(value, list) and len(value) == 3
        ok = ok and all(not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v) and (v > 0 or not positive) for v in value)
        if not ok:
            raise self.error(key, "must be three numbers (R, G, B on 0..1 values)" + (", each above 0." if positive else "."))
        return tuple(float(v) for v in value)

    def path(self, key: str) -> str:
        """A file path, relative to this configuration file unless absolute."""
        value = Path(self.text(key)).expanduser()
        return str(value if value.is_absolute() else (self.file.parent / value).resolve())


def _weights(e: _Entry, kind: str, runtime: str) -> dict[str, Any]:
    allowed = WEIGHTS_SOURCES[(kind, runtime)]
    given = [k for k in ("hub", "package", "path", "url", "random") if e.has(f"weights.{k}") and (k != "random" or e.raw("weights.random") is not False)]
    if not allowed:
        if e.has("weights"):
            raise e.error("weights", f"the {runtime} runtime has no weights; remove this table.")
        return {}
    if len(given) != 1:
        raise e.error("weights", f"name exactly one source of the weights: {' | '.join(allowed)} (found {', '.join(given) or 'none'}).")
    source = given[0]
    if source not in allowed:
        raise e.error(f"weights.{source}", f"the {runtime} runtime loads weights from {' | '.join(allowed)}, not {source}.")
    out: dict[str, Any] = {"random_weights": source == "random", "seed": e.whole("weights.seed", 0)}
    if e.has("weights.random"):
        e.flag("weights.random")
    if e.has("weights.file") and source != "package":
        raise e.error("weights.file", "only for weights.package: the path of the file inside the installed package.")
    if e.has("weights.no_deps") and source != "package":
        raise e.error("weights.no_deps", "only for weights.package.")
    if e.has("weights.torchvision_weights") and runtime != "torchvision":
        raise e.error("weights.torchvision_weights", "only for the torchvision runtime.")
    if e.has("weights.layout") and runtime != "timm":
        raise e.error("weights.layout", "only for the timm runtime.")
    if source == "hub":
        out["hf_hub_id"] = e.text("weights.hub")
    elif source == "package":
        package = e.text("weights.package")
        if package.count("==") != 1 or not all(part.strip() for part in package.split("==")):
            raise e.error("weights.package", f"{package!r}: pin one version, e.g. 'name==1.0.0'.")
        out.update(package=package, package_file=e.text("weights.file"), package_no_deps=e.flag("weights.no_deps"))
    elif source == "path":
        out["weights_path"] = e.path("weights.path")
    elif source == "url":
        url = e.text("weights.url")
        if not url.startswith("https://"):
            raise e.error("weights.url", "must be an https:// address.")
        out["weights_url"] = url
    if e.has("weights.sha256"):
        sha = e.text("weights.sha256")
        if not SHA256_RE.match(sha):
            raise e.error("weights.sha256", "must be 64 lowercase hexadecimal digits.")
        if source == "random":
            raise e.error("weights.sha256", "random weights have no file to check.")
        out["sha256"] = sha
    if runtime == "timm":
        out["checkpoint_layout"] = e.text("weights.layout", "timm", choices=("timm", "by-order"))
    if kind == "detection":
        out["weights_enum"] = e.text("weights.torchvision_weights", "")
        out.setdefault("weights_url", "")
    return out


def _preprocess(e: _Entry, runtime: str, *, default_resize: str, default_mean, default_std) -> dict[str, Any]:
    if e.has("preprocess.scale") and (e.has("preprocess.mean") or e.has("preprocess.std")):
        raise e.error("preprocess.scale", "give either scale or mean and std, not both.")
    out: dict[str, Any] = {
        "resize": e.text("preprocess.resize", default_resize, choices=("crop", "letterbox", "stretch")),
        "interpolation": e.text("preprocess.interpolation", "bicubic" if runtime in ("timm", "phash") else "bilinear", choices=("bilinear", "bicubic")),
        "colour": e.text("preprocess.colour", "rgb", choices=("rgb", "bgr")),
    }
    if e.has("preprocess.scale"):
        # pixel * scale on 0..255 values is (x - 0) / (1 / (255 * scale)) on 0..1 values.
        scale = e.number("preprocess.scale", 0.0, low=0.0, high=1.0, low_open=True)
        out["mean"], out["std"] = UNIT_MEAN, (1.0 / (255.0 * scale),) * 3
    else:
        out["mean"] = e.triple("preprocess.mean", default_mean)
        out["std"] = e.triple("preprocess.std", default_std, positive=True)
    if e.has("preprocess.crop_pct") and out["resize"] != "crop":
        raise e.error("preprocess.crop_pct", "only with resize = 'crop'.")
    if runtime in ("timm", "phash", "torchvision") and out["colour"] != "rgb":
        raise e.error("preprocess.colour", f"the {runtime} runtime takes RGB images.")
    if runtime in ("timm", "phash") and out["resize"] != "crop":
        raise e.error("preprocess.resize", f"the {runtime} runtime resizes with 'crop'.")
    return out


def _embedding(e: _Entry, runtime: str, common: dict[str, Any]) -> EmbeddingModelSpec:
    from .specs import IMAGENET_MEAN, IMAGENET_STD

    weights = _weights(e, "embedding", runtime)
    pre = _preprocess(e, runtime, default_resize="crop", default_mean=IMAGENET_MEAN, default_std=IMAGENET_STD)
    for key in ("output.labels", "output.labels_source", "output.num_classes", "output.layout", "output.confidence", "output.iou", "output.max_detections"):
        if e.has(key):
            raise e.error(key, "only for detection models.")
    if runtime != "onnx":
        for key in ("input.name", "output.layer"):
            if e.has(key):
                raise e.error(key, "only for the onnx runtime (names an input or output of the file).")
    if e.has("model_kwargs") and (runtime != "timm" or not isinstance(e.raw("model_kwargs"), dict)):
        raise e.error("model_kwargs", "a table of timm.create_model arguments, for the timm runtime only.")
    dim = e.whole("output.embedding_dim", minimum=1, maximum=65536)
    if runtime == "phash" and math.isqrt(dim) ** 2 != dim:
        raise e.error("output.embedding_dim", f"the perceptual hash's dimension is a square (64 = 8x8), not {dim}.")
    return EmbeddingModelSpec(
        **common,
        backend=runtime,
        input_size=e.whole("input.size", minimum=8, maximum=4096),
        embedding_dim=dim,
        crop_pct=e.number("preprocess.crop_pct", 0.875, low=0.0, high=1.0, low_open=True),
        model_kwargs=dict(e.raw("model_kwargs") or {}),
        input_name=e.text("input.name", ""),
        output_layer=e.text("output.layer", ""),
        **weights,
        **pre,
    )


def _read_labels(e: _Entry) -> tuple[str, tuple[str, ...]]:
    path = Path(e.path("output.labels"))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise e.error("output.labels", f"cannot read the label file {path}: {exc}") from None
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not labels:
        raise e.error("output.labels", f"the label file {path} has no labels (one per line, in class id order).")
    return str(path), labels


def _detection(e: _Entry, runtime: str, common: dict[str, Any]) -> DetectionModelSpec:
    weights = _weights(e, "detection", runtime)
    for key in ("output.embedding_dim", "model_kwargs"):
        if e.has(key):
            raise e.error(key, "only for embedding models.")
    extra: dict[str, Any] = {}
    if runtime == "torchvision":
        for key in ("output.labels", "output.layout", "output.layer", "input", "preprocess"):
            if e.has(key):
                raise e.error(key, "not for the torchvision runtime (its weights carry their COCO labels and transform).")
        extra["num_classes"] = e.whole("output.num_classes", 91, minimum=1, maximum=100_000)
        if e.has("output.labels_source"):
            extra["labels_source"] = e.text("output.labels_source")
        default_confidence = 0.3
    else:
        labels_file, labels = _read_labels(e)
        classes = e.whole("output.num_classes", len(labels), minimum=1, maximum=100_000)
        if classes != len(labels):
            raise e.error("output.labels", f"the label file {labels_file} has {len(labels)} labels, but output.num_classes says {classes}.")
        pre = _preprocess(e, runtime, default_resize="letterbox", default_mean=UNIT_MEAN, default_std=UNIT_STD)
        extra.update(
            pre,
            labels=labels,
            labels_file=labels_file,
            num_classes=classes,
            labels_source=e.text("output.labels_source", f"label file {labels_file}"),
            output_layout=e.text("output.layout", choices=("yolov5", "yolov8")),
            input_size=e.whole("input.size", 640, minimum=8, maximum=4096),
            input_name=e.text("input.name", ""),
            output_layer=e.text("output.layer", ""),
            iou=e.number("output.iou", 0.45, low=0.0, high=1.0, low_open=True),
        )
        default_confidence = 0.25
    extra["confidence"] = e.number("output.confidence", default_confidence, low=0.0, high=1.0)
    extra["max_detections"] = e.whole("output.max_detections", 50, minimum=1, maximum=1000)
    if runtime == "torchvision" and e.has("output.iou"):
        raise e.error("output.iou", "only for the onnx runtime (torchvision detectors run their own NMS).")
    return DetectionModelSpec(**common, runtime=runtime, **weights, **extra)


def _entry(file: Path, index: int, table: Any) -> ModelSpec:
    e = _Entry(file, index, table)
    kind = e.text("kind", choices=("embedding", "detection"))
    runtime = e.text("runtime", choices=RUNTIMES[kind])
    common = {
        "name": e.label,
        "architecture": e.text("architecture", None if runtime in ("timm", "torchvision", "phash") else runtime),
        "description": e.text("description", ""),
        "licence": e.text("licence"),
        "source_file": str(file),
    }
    return _embedding(e, runtime, common) if kind == "embedding" else _detection(e, runtime, common)


def read_file(path: str | Path) -> tuple[list[ModelSpec], tuple[str, ...] | None]:
    """The entries of one file in order, and its ``default_preference`` (None if it has
    none); ConfigError for anything wrong with it."""
    path = Path(path).expanduser()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, "no such file.") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"not UTF-8 text: {exc}") from None
    path = path.resolve()
    for key in sorted(set(data) - FILE_KEYS):
        raise ConfigError(path, f"unknown top-level key {key!r}; a file holds [[model]] entries and default_preference.", key=key)
    tables = data.get("model", [])
    if not isinstance(tables, list):
        raise ConfigError(path, "entries are written [[model]] (an array of tables).", key="model")
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        spec = _entry(path, index, table)
        if spec.name in seen:
            raise ConfigError(path, "this name is used by an earlier entry of the same file.", entry=spec.name, key="name")
        seen.add(spec.name)
        specs.append(spec)
    preference = data.get("default_preference")
    if preference is not None and not (isinstance(preference, list) and all(isinstance(n, str) for n in preference)):
        raise ConfigError(path, "must be a list of model names.", key="default_preference")
    return specs, None if preference is None else tuple(preference)


def load_zoo(operator_file: str | Path | None = None, *, shipped_file: str | Path = SHIPPED_FILE) -> Zoo:
    """The shipped entries with the operator's merged over them; ConfigError (nothing
    returned, nothing half-registered) if either file has a fault."""
    specs, preference = read_file(shipped_file)
    models = {spec.name: spec for spec in specs}
    files = [str(Path(shipped_file).resolve())]
    preference_file = files[0]
    if operator_file:
        extra, extra_preference = read_file(operator_file)
        files.append(str(Path(operator_file).expanduser().resolve()))
        for spec in extra:
            models[spec.name] = spec  # same name: replaced in place; new name: appended
        if extra_preference is not None:
            preference, preference_file = extra_preference, files[-1]
    preference = preference or ()
    for name in preference:
        spec = models.get(name)
        if not isinstance(spec, EmbeddingModelSpec) or not spec.needs_weights:
            raise ConfigError(preference_file, f"{name!r} is not an embedding model with weights in the model zoo.", key="default_preference")
    if not any(models[name].package for name in preference):
        raise ConfigError(preference_file, "name at least one model whose weights a pip package installs (the fallback default).", key="default_preference")
    return Zoo(models=models, default_preference=tuple(preference), files=tuple(files))
