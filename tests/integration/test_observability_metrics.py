"""/metrics shows the event spine's lag: each embedded consumer's outbox rows not yet
applied and how old the oldest is; with Redis, each consumer group's lag and pending
entries per stream, how old the oldest event the relay has yet to publish is, and the
dead-letter stream's length."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.entrypoints.workers import drain
from tests.api_kit import web_app
from tests.conftest import REDIS_URL
from tests.integration.test_relay import emit

TOKEN = "scrape-token-0123456789"
Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(app: App) -> Figures:
    """Every sample /metrics serves to the scrape token, by name and labels."""
    app.settings = app.settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    answer = TestClient(web_app(app)).get("/metrics", headers={
        "Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples}


def lag(figures: Figures, name: str, consumer: str, stream: str) -> float:
    return figures[(name, (("consumer", consumer), ("stream", stream)))]


def test_embedded_consumers_lag_by_the_outbox_rows_they_have_not_applied(app: App) -> None:
    emit(app, 5)
    before = scrape(app)
    for consumer in app.consumers:
        assert lag(before, "finbot_consumer_lag", consumer, "outbox") == 5
        assert lag(before, "finbot_consumer_lag_seconds", consumer, "outbox") >= 0
    executor, deadline = app.consumer("executor"), time.monotonic() + 10
    while executor.poll() == 0:  # on PostgreSQL, once every older transaction has ended
        assert time.monotonic() < deadline
        time.sleep(0.01)
    after = scrape(app)
    assert lag(after, "finbot_consumer_lag", "executor", "outbox") == 0
    assert lag(after, "finbot_consumer_lag_seconds", "executor", "outbox") == 0
    assert lag(after, "finbot_consumer_lag", "orchestrator", "outbox") == 5
    assert ("finbot_outbox_lag_seconds", ()) not in after  # no relay without Redis


@pytest.fixture
def streamed(settings: Settings, redis_prefix: tuple[Any, str]) -> Iterator[App]:
    _, prefix = redis_prefix
    app = bootstrap(settings.model_copy(update={"redis_url": REDIS_URL,
                                                "events_prefix": prefix}),
                    run_migrations=False)
    yield app
    app.close()


@pytest.mark.redis
def test_consumer_groups_lag_per_stream_and_the_relay_by_its_oldest_event(
        streamed: App, redis_prefix: tuple[Any, str]) -> None:
    app, (client, prefix) = streamed, redis_prefix
    emit(app, 4)
    waiting = scrape(app)
    assert waiting[("finbot_outbox_lag_seconds", ())] > 0
    relay = app.relay()
    while relay.relay_once():
        pass
    executor = app.consumer("executor")
    executor.ensure_groups()  # type: ignore[attr-defined]
    app.consumer("orchestrator").ensure_groups()  # type: ignore[attr-defined]
    relayed = scrape(app)
    assert relayed[("finbot_outbox_lag_seconds", ())] == 0
    assert lag(relayed, "finbot_consumer_lag", "executor", "agents") == 4
    assert lag(relayed, "finbot_consumer_pending", "executor", "agents") == 0
    assert relayed[("finbot_stream_dead_letters", ())] == 0
    client.xadd(f"{prefix}agents", {"junk": "1"})  # unreadable: dead-lettered at once
    drain(app)
    caught_up = scrape(app)
    for consumer in ("executor", "orchestrator"):
        assert lag(caught_up, "finbot_consumer_lag", consumer, "agents") == 0
        assert lag(caught_up, "finbot_consumer_pending", consumer, "agents") == 0
    assert caught_up[("finbot_stream_dead_letters", ())] == len(app.consumers)  # each group
