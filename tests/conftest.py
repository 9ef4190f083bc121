"""Test fixtures: a fresh, migrated database per test on SQLite and on real PostgreSQL.

PostgreSQL tests create their own databases (from a migrated template) and drop them.
Without a server they skip, unless FINBOT_REQUIRE_SERVICES=1 makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from finbot.adapters.db.engine import make_engine, migrate
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings

POSTGRES_URL = os.environ.get("FINBOT_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("FINBOT_REQUIRE_SERVICES") == "1"
RUN_ID = uuid.uuid4().hex[:8]


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error.__class__.__name__}: {error})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}; FINBOT_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as error:
        _unavailable(f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()}", error)
    yield engine
    engine.dispose()


def _pg_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template(pg_admin: Engine) -> Iterator[str]:
    name = f"finbot_test_{RUN_ID}_template"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(_pg_url(name))
    migrate(engine)
    engine.dispose()
    yield name
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "finbot.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each backend, private to the test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "finbot.db")
        yield f"sqlite:///{tmp_path / 'finbot.db'}"
        return
    admin: Engine = request.getfixturevalue("pg_admin")
    template_name: str = request.getfixturevalue("pg_template")
    name = f"finbot_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    yield _pg_url(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Embedded unless a test asks for Redis itself (CI exports FINBOT_REDIS_URL).
    return Settings(environment="test", database_url=database_url, data_dir=tmp_path,
                    postgres_url=POSTGRES_URL, redis_url=None)


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    application = bootstrap(settings, run_migrations=False)
    yield application
    application.close()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's database and data directory, as a CLI command run now would see them."""
    monkeypatch.setenv("FINBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("FINBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINBOT_ENVIRONMENT", "test")
    monkeypatch.setenv("FINBOT_LOG_LEVEL", "warning")  # the commands' output, not their logs
    monkeypatch.delenv("FINBOT_REDIS_URL", raising=False)  # embedded unless a test says


REDIS_URL = os.environ.get("FINBOT_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[tuple[Any, str]]:
    """A client on the real Redis and a key prefix private to the test (keys deleted after).
    Without a server this skips, unless FINBOT_REQUIRE_SERVICES=1 makes it a failure."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        _unavailable(f"Redis at {REDIS_URL}", error)
    prefix = f"finbot-test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def private_servers() -> None:
    """A chaos run or a soak starts its own PostgreSQL and Redis: their programs must be
    here (a failure, not a skip, under FINBOT_REQUIRE_SERVICES=1)."""
    from finbot.chaos.servers import missing

    if missing():
        _unavailable("the server programs", RuntimeError(f"missing {missing()}"))

