"""The deployment the fault tests run against: the processes of tests/harness.py
(daphne, Celery workers) on a database of their own, migrated once per session, with
the machine's Redis on the live tests' database number. Each test starts the
processes it needs, in the configuration it needs, and stops them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import (
    Api,
    LiveDatabase,
    Proc,
    bootstrap,
    clear_owned_keys,
    create_live_database,
    live_env,
    redis_test_url,
    require_redis,
    start_server,
    start_worker,
    wait_for,
)


@dataclass
class Deployment:
    tmp: Path
    database: LiveDatabase
    redis_url: str
    env: dict[str, str]
    tokens: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["VFRAME_DATA_DIR"])

    def env_with(self, **changes: str | None) -> dict[str, str]:
        """The deployment's environment with some variables changed (None removes one)."""
        env = dict(self.env)
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def server(self, env: dict[str, str] | None = None, name: str = "daphne") -> tuple[Proc, str]:
        proc, base = start_server(env or self.env, self.tmp, name=name)
        self.procs.append(proc)
        return proc, base

    def worker(self, name: str, env: dict[str, str] | None = None, base: str | None = None) -> Proc:
        """A Celery worker; with ``base``, waits until that server lists it as present."""
        proc = start_worker(env or self.env, self.tmp, name)
        self.procs.append(proc)
        if base is not None:
            api = Api(base, self.tokens["curator"])

            def present():
                status, body = api.get("/api/v1/socket/clients/")
                return status == 200 and any(w["hostname"].startswith(f"{name}@") for w in body["res"]["workers"])

            wait_for(present, timeout=60, what=f"worker {name} to register", proc=proc)
        return proc

    def api(self, base: str, who: str = "curator") -> Api:
        return Api(base, self.tokens[who])


@pytest.fixture(scope="session")
def deployment(tmp_path_factory):
    redis_url = redis_test_url()
    require_redis(redis_url)
    clear_owned_keys(redis_url)
    tmp = tmp_path_factory.mktemp("hardening")
    database = create_live_database(tmp, suffix="hardening")
    env = live_env(database_url=database.url, redis_url=redis_url, data_dir=tmp / "data", VFRAME_ALLOW_RANDOM_WEIGHTS="1")
    try:
        yield Deployment(tmp=tmp, database=database, redis_url=redis_url, env=env, tokens=bootstrap(env))
    finally:
        clear_owned_keys(redis_url)
        database.drop()


@pytest.fixture
def live(deployment):
    """The deployment, with every process a test starts stopped after it."""
    yield deployment
    while deployment.procs:
        deployment.procs.pop().stop(timeout=10)
    clear_owned_keys(deployment.redis_url)
