"""ASGI entry point: HTTP through Django, websockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vframe_search.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from core.api.throttles import RefusalPause  # noqa: E402
from tasks_app.middleware import browser_origin_validator  # noqa: E402

from .datadir import sweep_incoming_at_start  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402

# Once per server process, as it starts: uploads killed mid-write leave temporary files.
sweep_incoming_at_start()
# The model loads in the background as the server starts. Not in gunicorn's master
# (its config sets VFRAME_WEB_WORKERS): torch must not cross the fork, so each worker
# warms itself after it (serving.after_fork).
if "VFRAME_WEB_WORKERS" not in os.environ:
    from .serving import warm_search_at_start  # noqa: E402

    warm_search_at_start()

application = ProtocolTypeRouter(
    {
        # A refused request (429) is answered after a pause (VFRAME_THROTTLE_PAUSE).
        "http": RefusalPause(django_asgi_app),
        # Browsers must come from ALLOWED_HOSTS; API clients (no Origin header) authenticate by token.
        "websocket": browser_origin_validator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
