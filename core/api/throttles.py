"""Rate limits on the expensive routes (uploads and searches), per user.

The counters live in Django's default cache: Redis when ``REDIS_URL`` is set, so every
web process shares them; otherwise each process's memory. A refused request is a 429
in the error envelope with ``Retry-After`` (the one exception handler does both), sent
after a pause (:class:`RefusalPause`).
"""

from __future__ import annotations

import asyncio
import logging

from rest_framework import exceptions, throttling
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading its rate at request time.

    DRF copies ``DEFAULT_THROTTLE_RATES`` into a class attribute at import, so a rate
    changed later (tests override settings) would be ignored; ``api_settings`` follows
    setting changes. A scope whose rate is ``None`` is not limited.
    """

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        # With Redis down the counters are out of reach. Search and uploads must go on
        # working without Redis (only tasks and live updates need it), so the limit is
        # not applied rather than failing the request.
        try:
            return super().allow_request(request, view)
        except Exception as exc:
            if not (isinstance(exc, OSError) or type(exc).__module__.split(".")[0] == "redis"):
                raise
            logger.warning("rate limit %s not applied: its cache is unreachable (%s)", self.scope, exc)
            return True


def throttle_charge(*, scope: str, user, count: int, what: str = "requests") -> None:
    """Count ``count`` uses of ``scope`` for ``user`` at once, as that many requests would.

    For a request that does the work of many (a batch stores and searches each of its
    images): all of them fit in the rate now, or none is counted and the request is
    refused with 429 (``Retry-After``), before any of the work. ``what`` names the units
    in the message. Not applied when the scope has no rate or its cache is unreachable.
    """
    throttle = ScopedRateThrottle()
    throttle.scope = scope
    throttle.rate = throttle.get_rate()
    if throttle.rate is None or count <= 0:
        return
    throttle.num_requests, throttle.duration = throttle.parse_rate(throttle.rate)
    key = throttle.cache_format % {"scope": scope, "ident": user.pk}
    try:
        now = throttle.timer()
        history = [t for t in throttle.cache.get(key, []) if t > now - throttle.duration]
        if len(history) + count > throttle.num_requests:
            if count > throttle.num_requests:
                detail = f"Request was throttled: it asks for {count} {what} at once; the {scope} limit is {throttle.rate} per user. Send fewer at a time."
                wait = throttle.duration
            else:
                # Wait until enough of the oldest uses have left the window.
                oldest_needed = sorted(history)[len(history) + count - throttle.num_requests - 1]
                wait = max(1, int(oldest_needed + throttle.duration - now + 0.999))
                detail = f"Request was throttled: {count} {what} do not fit in the {scope} limit of {throttle.rate} per user now."
            raise exceptions.Throttled(wait=wait, detail=detail)
        throttle.cache.set(key, [now] * count + history, throttle.duration)
    except exceptions.Throttled:
        raise
    except Exception as exc:
        if not (isinstance(exc, OSError) or type(exc).__module__.split(".")[0] == "redis"):
            raise
        logger.warning("rate limit %s not applied: its cache is unreachable (%s)", scope, exc)


class RefusalPause:
    """ASGI middleware: a refused request (HTTP 429, any route) is answered only after a
    pause of ``settings.THROTTLE_PAUSE`` seconds (at most its ``Retry-After``).

    A client that ignores ``Retry-After`` and asks again at once would otherwise get
    hundreds of cheap refusals a second per connection, and together they take the
    cores that other users' searches need. Paused, each connection costs one refusal a
    second. The pause is an ``asyncio`` sleep on the server's event loop: it holds no
    thread and no database connection, and answers that are not 429 pass untouched.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def paused_send(message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 429:
                pause = refusal_pause(message.get("headers") or ())
                if pause > 0:
                    await asyncio.sleep(pause)
            await send(message)

        await self.app(scope, receive, paused_send)


def refusal_pause(headers) -> float:
    """Seconds to hold a 429 answer with these ASGI headers: the configured pause, but
    no longer than the ``Retry-After`` it names."""
    from django.conf import settings

    pause = float(getattr(settings, "THROTTLE_PAUSE", 0.0))
    for name, value in headers:
        if name.lower() == b"retry-after":
            try:
                pause = min(pause, float(value))
            except ValueError:
                pass  # an HTTP date: the configured pause stands
    return max(0.0, pause)
