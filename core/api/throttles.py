"""Rate limits on the expensive routes (uploads and searches), per user.

The counters live in Django's default cache: Redis when ``REDIS_URL`` is set, so every
web process shares them; otherwise each process's memory. A refused request is a 429
in the error envelope with ``Retry-After`` (the one exception handler does both).
"""

from __future__ import annotations

import logging

from rest_framework import throttling
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
