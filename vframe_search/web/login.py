"""Sign-in throttling for ``/login/`` and ``/admin/login/``: failed sign-ins are counted
per username and per client address, and past the limit both are locked out for a while.

The counters live in Django's cache (Redis when ``REDIS_URL`` is set, so every web
process counts together). A locked username or address is refused before its password
is even checked, so the right password does not get in either until the lock expires;
a successful sign-in clears the username's count (not the address's: one's own account
must not reset the count of guesses at other people's). With the cache unreachable,
sign-in goes on without counting rather than locking everyone out.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "vframe:login"


def _subjects(request, username: str) -> list[tuple[str, int]]:
    """(cache key part, failure limit) of each thing counted for this attempt."""
    subjects = [("user:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32], settings.LOGIN_MAX_FAILURES)]
    address = (request.META.get("REMOTE_ADDR") or "") if request is not None else ""
    if address and settings.LOGIN_MAX_FAILURES_PER_IP:
        subjects.append(("ip:" + address, settings.LOGIN_MAX_FAILURES_PER_IP))
    return subjects


def _window() -> int:
    return max(1, math.ceil(settings.LOGIN_LOCKOUT_MINUTES * 60))


def lockout_remaining(request, username: str) -> int:
    """Seconds until this username and address may try again (0: not locked)."""
    now = time.time()
    try:
        until = cache.get_many([f"{_PREFIX}:lock:{subject}" for subject, _ in _subjects(request, username)])
    except Exception as exc:
        logger.warning("sign-in lockout not checked: the cache is unreachable (%s)", exc)
        return 0
    return max([math.ceil(value - now) for value in until.values()] + [0])


def record_failure(request, username: str) -> int:
    """Count a failed sign-in; returns the seconds of the lockout it started (0: none)."""
    window = _window()
    locked = 0
    try:
        for subject, limit in _subjects(request, username):
            key = f"{_PREFIX}:fail:{subject}"
            cache.add(key, 0, timeout=window)
            try:
                failures = cache.incr(key)
            except ValueError:  # expired between add() and incr()
                failures = 1
                cache.set(key, failures, timeout=window)
            if failures >= limit:
                cache.set(f"{_PREFIX}:lock:{subject}", time.time() + window, timeout=window)
                cache.delete(key)
                locked = window
                logger.warning("sign-in locked for %d s after %d failures (%s)", window, failures, subject.split(":")[0])
    except Exception as exc:
        logger.warning("failed sign-in not counted: the cache is unreachable (%s)", exc)
    return locked


def record_success(request, username: str) -> None:
    subject = _subjects(request, username)[0][0]
    try:
        cache.delete(f"{_PREFIX}:fail:{subject}")
    except Exception as exc:
        logger.warning("sign-in count not cleared: the cache is unreachable (%s)", exc)


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class ThrottledLoginMixin:
    """AuthenticationForm.clean() behind the lockout: refused while locked, failures
    counted, success clears the username's count."""

    locked_message = "Too many failed sign-ins for this account or from this address. Try again in {wait}."
    retry_after = 0

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        remaining = lockout_remaining(self.request, username)
        if remaining:
            self._locked(remaining)
        try:
            cleaned = super().clean()
        except forms.ValidationError as exc:
            if any(error.code == "invalid_login" for error in exc.error_list):
                locked = record_failure(self.request, username)
                if locked:
                    self._locked(locked)
            raise
        record_success(self.request, username)
        return cleaned

    def _locked(self, seconds: int):
        self.retry_after = seconds
        raise forms.ValidationError(self.locked_message.format(wait=_minutes(seconds)), code="locked_out")


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The curators' sign-in form (``/login/``)."""


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's sign-in form (``/admin/login/``), counted with the same counters."""
