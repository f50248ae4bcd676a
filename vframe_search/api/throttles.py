"""Rate limits on the expensive routes (uploads and searches), per user.

The counters live in Django's default cache: Redis when ``REDIS_URL`` is set, so every
web process shares them; otherwise each process's memory. A refused request is a 429
in the error envelope with ``Retry-After`` (the one exception handler does both).
"""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.settings import api_settings


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading its rate at request time.

    DRF copies ``DEFAULT_THROTTLE_RATES`` into a class attribute at import, so a rate
    changed later (tests override settings) would be ignored; ``api_settings`` follows
    setting changes. A scope whose rate is ``None`` is not limited.
    """

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
