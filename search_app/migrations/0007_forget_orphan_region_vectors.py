"""Remove kept region vectors of pictures that no media or upload holds: until this
release, deleting a media or an upload left them behind (search_app.query.sources
``forget_region_vectors`` removes them with their picture from now on)."""

from django.db import migrations


def forget_orphans(apps, schema_editor):
    Media = apps.get_model("media_app", "Media")
    Upload = apps.get_model("media_app", "Upload")
    RegionVector = apps.get_model("search_app", "RegionVector")
    RegionVector.objects.exclude(sha256__in=Media.objects.values("sha256")).exclude(sha256__in=Upload.objects.values("sha256")).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("search_app", "0006_feature_milvus"),
        ("media_app", "0003_media_phash"),
    ]

    operations = [migrations.RunPython(forget_orphans, migrations.RunPython.noop)]
