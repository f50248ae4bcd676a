"""The Redis channel layer, with connections that survive a Redis restart.

channels-redis hands each host entry of ``CHANNEL_LAYERS`` to redis-py's connection
pool. redis-py fails a command on a pooled connection that died with a Redis restart
(its default is no retry), so the first websockets and task events after Redis returns
were lost to stale connections. Here such a command is sent again on a fresh
connection. The retry object is made here, when the layer is first used, rather than
in settings: importing redis.asyncio in settings would make every process, even a
management command that never talks to Redis, depend on it.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from channels_redis.utils import create_pool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff


class RedisChannelLayer(_RedisChannelLayer):
    """channels-redis' layer whose connections retry a command after a reconnect."""

    def create_pool(self, index):
        return create_pool({"retry": Retry(ExponentialBackoff(cap=1.0, base=0.1), 3), **self.hosts[index]})
