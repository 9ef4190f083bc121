"""The composition root: settings in, wired objects out. Production and tests both use it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from redis import Redis
from sqlalchemy import Engine

from finbot.adapters.archive import FileArchive
from finbot.adapters.db.agent_views import (
    SqlInvoiceView,
    SqlLedgerView,
    SqlPolicyView,
    SqlSanctionsView,
    SqlVendorView,
)
from finbot.adapters.db.engine import make_engine, migrate
from finbot.adapters.db.ledger_queries import LedgerQueries
from finbot.adapters.db.monitor_queries import MonitorQueries
from finbot.adapters.db.retention_repo import SqlRetention
from finbot.adapters.db.uow import LedgerUnitOfWork, SqlUnitOfWork
from finbot.adapters.rails.simulated import RailBehaviour, SimulatedRail
from finbot.adapters.redis.consumer import StreamConsumer
from finbot.adapters.redis.streams import RedisStreamPublisher
from finbot.agents import fraud, invoice, onboarding, payments
from finbot.agents.ports import AgentTools
from finbot.config import ModelSettings, Settings
from finbot.domain.clock import now_us, utc_datetime
from finbot.domain.decisions import Stage
from finbot.domain.errors import ConfigurationError, NotFound
from finbot.domain.events import AGENTS, BUSINESS
from finbot.execution.escalations import pay_approved_decisions, pay_started
from finbot.execution.rail import PaymentRail
from finbot.execution.saga import PaymentExecutor
from finbot.llm.context import Price
from finbot.llm.offline import Gullibility
from finbot.llm.router import ModelChoice, ModelRouter
from finbot.privacy.keys import KeyRing, keyring_from
from finbot.services.arena_agents import ArenaToolbox
from finbot.services.arena_play import ArenaPlay
from finbot.services.arena_tools import ArenaTools
from finbot.services.arena_watch import WATCHED, watch
from finbot.services.audit import AuditLog
from finbot.services.auth import AuthService
from finbot.services.breakers import BreakerService
from finbot.services.challengers import ChallengerService
from finbot.services.contest import Contest
from finbot.services.decisions import DecisionService
from finbot.services.events import (
    CommitBell,
    Consumer,
    ConsumerSpec,
    Outbox,
    OutboxConsumer,
    traced,
)
from finbot.services.idempotency import IdempotencyService
from finbot.services.ledger import LedgerService, UowFactory
from finbot.services.monitoring import MonitorService
from finbot.services.orchestrator import DecidingAgent, StepRunner
from finbot.services.policies import PolicyStore
from finbot.services.privacy import PrivacyService
from finbot.services.relay import OutboxRelay
from finbot.services.reviews import ReviewService
from finbot.services.workflows import ORCHESTRATED, VendorWork, orchestrate

if TYPE_CHECKING:
    from finbot.fraud.scorer import Scorer


@dataclass
class App:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    engine: Engine
    uow: UowFactory
    one_read: UowFactory  # a unit of work for one statement (autocommit on PostgreSQL)
    reader: UowFactory  # one read-only statement: autocommit on PostgreSQL, lock-free SQLite
    ledger: LedgerService
    queries: LedgerQueries
    idempotency: IdempotencyService
    rail: PaymentRail
    payments: PaymentExecutor
    audit: AuditLog
    policies: PolicyStore
    agent_engine: Engine
    agent_tools: AgentTools
    outbox: Outbox
    breakers: BreakerService
    decisions: DecisionService
    reviews: ReviewService
    consumers: dict[str, ConsumerSpec]
    archive: FileArchive
    models: ModelRouter
    vendor_work: VendorWork
    steps: StepRunner
    fraud_scorer: Callable[[], Scorer]
    auth: AuthService
    arena_play: ArenaPlay
    challengers: ChallengerService
    monitor: MonitorService
    keys: KeyRing
    privacy: PrivacyService
    redis: Redis | None = None
    bell: CommitBell = field(default_factory=CommitBell)  # rung by commits writing events

    def consumer_spec(self, name: str) -> ConsumerSpec:
        """The registered consumer ``name``; NotFound listing the known ones."""
        spec = self.consumers.get(name)
        if spec is None:
            raise NotFound(f"no consumer named {name!r}; known: "
                           f"{', '.join(sorted(self.consumers))}", code="consumer_unknown",
                           field="consumer")
        return spec

    def consumer(self, name: str, *, copy: str | None = None) -> Consumer:
        """The consumer ``name`` as this deployment runs it: a Redis consumer group copy
        when FINBOT_REDIS_URL is set, else the embedded reader of the outbox table.
        ``copy`` names this copy in its group (default: host and process id)."""
        spec = self.consumer_spec(name)
        handler = traced(spec.name, spec.handler)
        if self.redis is None:
            return OutboxConsumer(spec.name, self.uow, handler, types=spec.types,
                                  on_settled=spec.after, bell=self.bell, reader=self.reader)
        return StreamConsumer(spec.name, self.uow, handler, self.redis,
                              streams=spec.streams, types=spec.types, name=copy,
                              prefix=self.settings.events_prefix, on_settled=spec.after)

    def relay(self, *, client: Redis | None = None, prefix: str | None = None,
              batch: int = 500) -> OutboxRelay:
        """The outbox relay to Redis Streams (``client`` and ``prefix`` default to the
        settings'); ConfigurationError without FINBOT_REDIS_URL."""
        client = client or self.redis
        if client is None:
            raise ConfigurationError("the relay publishes to Redis: set FINBOT_REDIS_URL",
                                     field="redis_url")
        return OutboxRelay(self.uow, RedisStreamPublisher(
            client, prefix=self.settings.events_prefix if prefix is None else prefix),
            batch=batch, one_read=self.one_read)

    def close(self) -> None:
        self.engine.dispose()
        self.agent_engine.dispose()
        if self.redis is not None:
            self.redis.close()


def bootstrap(settings: Settings | None = None, *, run_migrations: bool = True,
              **overrides: Any) -> App:
    """Build the application; ``overrides`` replace any wired component (tests pass fakes)."""
    settings = settings or Settings()
    engine = overrides.pop("engine", None) or make_engine(
        settings.effective_database_url, pool_size=settings.database_pool_size)
    keys = overrides.pop("keys", None) or key_ring(settings)
    if run_migrations:
        migrate(engine, keys=keys)

    bell = CommitBell()

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, keys=keys, after_events=bell.ring)

    def one_read() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, one_read=True, keys=keys)

    def reader() -> SqlUnitOfWork:  # one read that waits for no writer, on either backend
        return SqlUnitOfWork(engine, read_only=True, one_read=True, keys=keys)

    parts: dict[str, Any] = {
        "settings": settings, "engine": engine, "uow": uow, "one_read": one_read, "keys": keys,
        "reader": reader, "bell": bell,
        "ledger": LedgerService(uow, default_pending_timeout_s=settings.pending_timeout_s,
                                ledger_uow=lambda: LedgerUnitOfWork(engine)),
        "queries": LedgerQueries(engine),
        "idempotency": IdempotencyService(uow, ttl_s=settings.idempotency_ttl_s),
    }
    parts["rail"] = overrides.pop("rail", None) or SimulatedRail(engine, RailBehaviour(
        latency_ms=settings.rail_latency_ms, failure_rate=settings.rail_failure_rate,
        timeout_rate=settings.rail_timeout_rate, unknown_rate=settings.rail_unknown_rate,
        seed=settings.rail_seed))
    parts["audit"] = AuditLog(uow, secret=settings.secret_key.get_secret_value().encode(),
                              read_uow=lambda: SqlUnitOfWork(engine, read_only=True,
                                                             keys=keys))
    parts["policies"] = PolicyStore(uow, parts["audit"])
    # Agents read through their own engine, which the database keeps from writing.
    reads = overrides.pop("agent_engine", None) or make_engine(
        settings.effective_database_url, pool_size=4, read_only=True)
    parts["agent_engine"] = reads
    parts["agent_tools"] = AgentTools(
        ledger=SqlLedgerView(reads), policy=SqlPolicyView(reads),
        vendors=SqlVendorView(reads, keys), invoices=SqlInvoiceView(reads),
        sanctions=SqlSanctionsView(reads))
    parts["outbox"] = Outbox()
    parts["breakers"] = BreakerService(uow, parts["audit"], outbox=parts["outbox"])
    parts["decisions"] = DecisionService(uow, parts["audit"], breakers=parts["breakers"],
                                         outbox=parts["outbox"])
    parts["auth"] = overrides.pop("auth", None) or AuthService(
        uow, session_ttl_s=settings.session_ttl_s, one_read=one_read)
    parts["reviews"] = ReviewService(uow, parts["audit"], parts["policies"],
                                     outbox=parts["outbox"])
    parts["payments"] = PaymentExecutor(uow, parts["ledger"], parts["rail"],
                                        idempotency=parts["idempotency"],
                                        audit=parts["audit"], outbox=parts["outbox"])
    parts["arena_play"] = ArenaPlay(uow, outbox=parts["outbox"],
                                    secret=settings.secret_key.get_secret_value().encode())
    parts["consumers"] = {spec.name: spec for spec in (
        ConsumerSpec("executor", "executor", pay_approved_decisions(
            parts["payments"], source_account=settings.payment_source_account,
            ledger=parts["ledger"], home_tenant=settings.home_tenant),
            streams=(BUSINESS, AGENTS),
            types=frozenset({"escalation.approved", "decision.recorded"}),
            after=pay_started(parts["payments"])),
        ConsumerSpec("orchestrator", "agents", orchestrate(outbox=parts["outbox"]),
                     streams=(BUSINESS, AGENTS), types=ORCHESTRATED),
        ConsumerSpec("arena-watch", "arena", watch(outbox=parts["outbox"],
                                                   play=parts["arena_play"]),
                     streams=(BUSINESS, AGENTS), types=WATCHED),
    )}
    parts["archive"] = FileArchive(settings.archive_dir)
    parts["privacy"] = PrivacyService(
        uow, parts["audit"], keys, outbox=parts["outbox"], days=settings.retention_days,
        retention=SqlRetention(uow, consumers=lambda: list(parts["consumers"]),
                               relayed_only=bool(settings.redis_url)))
    parts["monitor"] = MonitorService(uow, MonitorQueries(engine), parts["breakers"],
                                      outbox=parts["outbox"], home_tenant=settings.home_tenant)
    parts["models"] = overrides.pop("models", None) or model_router(settings)
    parts["fraud_scorer"] = overrides.pop("fraud_scorer", None) or fraud_scorer(settings)
    parts["vendor_work"] = VendorWork(uow, outbox=parts["outbox"])
    parts["challengers"], contest = challenger_parts(settings, parts)
    parts["steps"] = StepRunner(uow, parts["decisions"], parts["policies"], parts["models"],
                                parts["agent_tools"],
                                deciding_agents(parts["fraud_scorer"]),
                                outbox=parts["outbox"], contest=contest,
                                arena=ArenaToolbox(
                                    uow, ArenaTools(uow, parts["outbox"])).for_step,
                                reader=parts["reader"])
    if settings.redis_url:
        parts["redis"] = Redis.from_url(settings.redis_url, socket_timeout=10,
                                        socket_connect_timeout=5, health_check_interval=30)
    parts.update(overrides)
    return App(**parts)


def key_ring(settings: Settings) -> KeyRing:
    """The KEKs that wrap vendors' data keys, as the settings give them (outside development
    one must be given: ConfigurationError)."""
    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None
    return keyring_from(kek=secret(settings.kek), kek_file=settings.kek_file,
                        previous=secret(settings.kek_previous),
                        environment=settings.environment)


def deciding_agents(scorer: Callable[[], Scorer]) -> dict[str, DecidingAgent]:
    """The agents that decide a workflow's steps, by step."""
    return {
        "onboarding": DecidingAgent(onboarding.SPEC, onboarding.onboarding_tools,
                                    Stage.ONBOARDING),
        "invoice": DecidingAgent(invoice.SPEC, invoice.invoice_tools, Stage.INVOICE),
        "fraud": DecidingAgent(fraud.SPEC, lambda tools: fraud.fraud_tools(tools, scorer),
                               Stage.FRAUD),
        "payment": DecidingAgent(payments.SPEC, payments.payments_tools, Stage.PAYMENT),
    }


def fraud_scorer(settings: Settings) -> Callable[[], Scorer]:
    """The fraud model in use: the registry's newest version, loaded once (a fresh install
    trains the default model on first use)."""
    loaded: list[Scorer] = []
    lock = threading.Lock()

    def scorer() -> Scorer:
        from finbot.fraud.registry import ModelRegistry, latest_or_default  # LightGBM, sklearn

        with lock:
            if not loaded:
                created = utc_datetime(now_us()).isoformat()
                loaded.append(latest_or_default(ModelRegistry(settings.models_dir),
                                                created_at=created))
            return loaded[0]
    return scorer


def model_router(settings: Settings) -> ModelRouter:
    """Each agent's model chain: FINBOT_LLM_* by default, the config file's ``agents``
    entries where present (each with its fallbacks)."""
    default = [ModelChoice(
        settings.llm_provider, settings.llm_model, settings.llm_base_url,
        settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        settings.llm_timeout_s, settings.llm_max_retries, Gullibility(settings.llm_gullibility))]
    if settings.llm_fallback_offline and settings.llm_provider != "offline":
        default.append(ModelChoice("offline", gullibility=Gullibility(settings.llm_gullibility)))
    per_agent = {agent: [_choice(models, settings), *(_choice(f, settings)
                                                      for f in models.fallback)]
                 for agent, models in settings.agents.items()}
    return ModelRouter(default, per_agent)


def _choice(models: ModelSettings, settings: Settings) -> ModelChoice:
    return ModelChoice(
        models.provider, models.model, models.base_url, models.key(), models.timeout_s,
        models.max_retries, Gullibility(models.gullibility or settings.llm_gullibility),
        Price(models.input_usd_per_million_tokens, models.output_usd_per_million_tokens))


def challenger_parts(settings: Settings, parts: dict[str, Any]
                     ) -> tuple[ChallengerService, Contest]:
    """The challenger registry and the contest that runs challengers beside each live step
    (another fraud model version is loaded from the registry, once, when first asked)."""
    def fraud_versions() -> list[str]:
        from finbot.fraud.registry import ModelRegistry  # LightGBM, sklearn

        return ModelRegistry(settings.models_dir).versions()
    known = {agent.spec.agent_id for agent in deciding_agents(parts["fraud_scorer"]).values()}
    service = ChallengerService(parts["uow"], parts["audit"], agents=known,
                                models=parts["models"].names, fraud_versions=fraud_versions,
                                outbox=parts["outbox"])
    scorers = registry_scorers(settings)
    contest = Contest(parts["uow"], service, parts["models"], outbox=parts["outbox"],
                      fraud_tools=lambda version: lambda tools: fraud.fraud_tools(
                          tools, scorers(version)),
                      rolling_window=settings.challenger_rolling_window,
                      rolling_min=settings.challenger_rolling_min, clock=now_us,
                      reader=parts["reader"])
    return service, contest


def registry_scorers(settings: Settings) -> Callable[[str], Callable[[], Scorer]]:
    """A scorer per fraud model version in the registry, each loaded once when first used."""
    loaded: dict[str, Scorer] = {}
    lock = threading.Lock()

    def scorer_of(version: str) -> Callable[[], Scorer]:
        def scorer() -> Scorer:
            from finbot.fraud.registry import ModelRegistry  # LightGBM, sklearn

            with lock:
                if version not in loaded:
                    loaded[version] = ModelRegistry(settings.models_dir).load(version)
                return loaded[version]
        return scorer
    return scorer_of
