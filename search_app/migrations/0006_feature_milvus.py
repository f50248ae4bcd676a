from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("search_app", "0005_detections"),
    ]

    operations = [
        migrations.AddField(
            model_name="feature",
            name="milvus_collection",
            field=models.CharField(blank=True, editable=False, max_length=255),
        ),
        migrations.AddField(
            model_name="feature",
            name="milvus_version",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AlterField(
            model_name="feature",
            name="index_type",
            field=models.CharField(
                choices=[
                    ("hnsw", "HNSW (approximate, hnswlib)"),
                    ("flat", "Flat (exact, brute force)"),
                    ("milvus", "Milvus (VFRAME_MILVUS_URI: a cluster, or milvus-lite in the data dir)"),
                ],
                default="hnsw",
                max_length=16,
            ),
        ),
    ]
