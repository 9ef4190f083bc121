"""Scratch databases for benchmarks: created for one run, migrated, and always dropped."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings

Backend = Literal["sqlite", "postgres"]


@contextmanager
def scratch_database(backend: Backend, postgres_url: str) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards, even on error."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="finbot-bench-"))
        try:
            yield f"sqlite:///{folder / 'bench.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"finbot_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(postgres_url).set(database=name).render_as_string(
                hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def scratch_app(backend: Backend, postgres_url: str, **overrides: Any) -> Iterator[App]:
    """The application on a scratch database (see ``scratch_database``), closed after;
    ``overrides`` go to ``bootstrap``."""
    with scratch_database(backend, postgres_url) as url:
        app = bootstrap(Settings(database_url=url, postgres_url=postgres_url,
                                 environment="test"), **overrides)
        try:
            yield app
        finally:
            app.close()
