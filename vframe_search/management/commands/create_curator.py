"""Create (or update) a curator account and print its API token."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create a curator account (or reset its password) and print its API token."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="Password to set (default: a random one, printed once)")
        parser.add_argument("--staff", action="store_true", help="Give the account staff rights (admin site, deletes, ingest tasks)")
        parser.add_argument("--superuser", action="store_true", help="Make the account a superuser (implies --staff)")
        parser.add_argument("--email", default="")

    def handle(self, *args, username: str, password: str | None, staff: bool, superuser: bool, email: str, **options):
        username = username.strip()
        if not username:
            raise CommandError("username must not be empty")
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            user.set_password(password)
            user.is_staff = staff or superuser or user.is_staff
            user.is_superuser = superuser or user.is_superuser
            if email:
                user.email = email
            user.save()
            token, _ = Token.objects.get_or_create(user=user)
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {'staff ' if user.is_staff else ''}account {username!r}"))
        if generated:
            self.stdout.write(f"password: {password}")
        self.stdout.write(f"token: {token.key}")
        self.stdout.write(f"use it as: curl -H 'Authorization: Token {token.key}' http://127.0.0.1:8000/api/v1/media/")
