"""Set up a working demo offline: a curator account, a generated media set with
copies and a short video, a feature with its index, and a collection."""

from __future__ import annotations

import io
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from collections_app.models import Collection
from core.errors import DomainError
from modelzoo.registry import get_embedding_model
from modelzoo.weights import default_model_name, resolve_weights
from search_app.models import Feature
from search_app.services import feature_load
from vframe_search.demo import write_demo_set, write_demo_video


class Command(BaseCommand):
    help = "Create a demo account, generate and ingest a demo media set, and build a searchable feature (no network needed)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default=None, help="Demo account password (default: random, printed)")
        parser.add_argument("--scenes", type=int, default=40, help="Number of generated scenes")
        parser.add_argument("--model", default=None, help="Model zoo name (default: the server's default model, efficientnet_lite0 on a fresh install)")

    def handle(self, *args, username: str, password: str | None, scenes: int, model: str | None, **options):
        model = model or default_model_name()
        try:
            spec = get_embedding_model(model)
            # Fail before writing anything: a demo on missing or damaged weights shows nothing real.
            resolve_weights(spec)
        except DomainError as exc:
            raise CommandError(exc.message) from None

        password = password or secrets.token_urlsafe(9)
        User = get_user_model()
        with transaction.atomic():
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = True
            user.is_superuser = True
            user.save()
            token, _ = Token.objects.get_or_create(user=user)

        source = settings.DATA_DIR / "demo-source"
        self.stdout.write(f"Writing demo images to {source}")
        write_demo_set(source, scenes=scenes)
        write_demo_video(source / "video" / "demo.mp4")

        # A plain row, not feature_create(): that service schedules a background build,
        # and here the ingest below builds the index in the foreground instead.
        feature = Feature.objects.filter(modelzoo_name=model, active=True).order_by("pk").first()
        if feature is None:
            feature = Feature.objects.create(modelzoo_name=model, index_type="hnsw", username=username, user=user)
        collection, _ = Collection.objects.get_or_create(
            title="Demo: copies of scenes",
            defaults={"username": username, "user": user, "notes": "Re-encoded, resized, cropped and recoloured copies found in the demo set."},
        )

        call_command("ingest", str(source), "--feature", str(feature.pk), stdout=self.stdout, stderr=self.stderr)
        # The copies are already imported: this only files them into the collection.
        call_command(
            "ingest", str(source / "copies"), "--collection", str(collection.pk), "--no-index", "--no-progress", stdout=io.StringIO(), stderr=self.stderr
        )
        self.stdout.write(f"Collection {collection.pk} {collection.title!r} holds {collection.items.count()} items.")
        feature.refresh_from_db()
        feature_load(feature_id=feature.pk, user=user)

        self.stdout.write(self.style.SUCCESS(f"Demo ready: feature {feature.pk} ({model}) holds {feature.item_count} items."))
        if spec.random_weights:
            self.stdout.write(self.style.WARNING(f"Model {model} has RANDOM weights: its scores do not tell a copy from a stranger."))
        self.stdout.write(f"Log in at http://127.0.0.1:8000/login/ (admin: /admin/) as {username!r} with password: {password}")
        self.stdout.write(f"API token: {token.key}")
        self.stdout.write(f"Try: curl -H 'Authorization: Token {token.key}' http://127.0.0.1:8000/api/v1/search/random/1/")
