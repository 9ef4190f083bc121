"""SQLAlchemy Core tables: the shape of FinBot's data in SQLite and PostgreSQL.

The migrations create these tables (and the triggers that make the ledger append-only);
this module is what queries are written against. Amounts are BIGINT minor units.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")

accounts = Table(
    "ledger_accounts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(128), nullable=False, unique=True),
    Column("name", String(256), nullable=False),
    Column("type", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("flags", Integer, nullable=False, server_default="0"),
    Column("debits_pending", BigInteger, nullable=False, server_default="0"),
    Column("debits_posted", BigInteger, nullable=False, server_default="0"),
    Column("credits_pending", BigInteger, nullable=False, server_default="0"),
    Column("credits_posted", BigInteger, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
    CheckConstraint("type IN ('asset','liability','equity','income','expense')",
                    name="ck_ledger_accounts_type"),
    CheckConstraint("debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
                    "AND credits_posted >= 0", name="ck_ledger_accounts_totals"),
)

transfers = Table(
    "ledger_transfers", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("id", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("debit_account_id", Integer, nullable=False),
    Column("credit_account_id", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("debit_balance", BigInteger, nullable=False),
    Column("credit_balance", BigInteger, nullable=False),
    Column("parent_id", String(128)),
    Column("expires_at", BigInteger),
    Column("reference", String(256)),
    Column("meta", JSON),
    # SQLite only, since migration 0022: PostgreSQL checks the same with one
    # statement-level trigger per INSERT or COPY (see that migration).
    ForeignKeyConstraint(["debit_account_id", "currency"],
                         ["ledger_accounts.id", "ledger_accounts.currency"],
                         name="fk_ledger_transfers_debit", deferrable=True,
                         initially="DEFERRED"),
    ForeignKeyConstraint(["credit_account_id", "currency"],
                         ["ledger_accounts.id", "ledger_accounts.currency"],
                         name="fk_ledger_transfers_credit", deferrable=True,
                         initially="DEFERRED"),
    CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id",
                    name="ck_ledger_transfers_accounts_differ"),
    CheckConstraint("kind IN ('posted','pending','post_pending','void_pending',"
                    "'expire_pending','reversal')", name="ck_ledger_transfers_kind"),
    CheckConstraint("(parent_id IS NULL) = (kind IN ('posted','pending'))",
                    name="ck_ledger_transfers_parent"),
    Index("ix_ledger_transfers_debit_ts", "debit_account_id", "ts", "seq"),
    Index("ix_ledger_transfers_credit_ts", "credit_account_id", "ts", "seq"),
    Index("ix_ledger_transfers_parent", "parent_id",
          sqlite_where=text("parent_id IS NOT NULL"),
          postgresql_where=text("parent_id IS NOT NULL")),
    Index("uq_ledger_transfers_resolution", "parent_id", unique=True,
          sqlite_where=text("kind IN ('post_pending','void_pending','expire_pending')"),
          postgresql_where=text("kind IN ('post_pending','void_pending','expire_pending')")),
    Index("ix_ledger_transfers_expiry", "expires_at",
          sqlite_where=text("expires_at IS NOT NULL"),
          postgresql_where=text("expires_at IS NOT NULL")),
)

rejections = Table(
    "ledger_rejections", metadata,
    Column("id", String(128), primary_key=True),
    Column("code", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status", Integer),
    Column("response", JSON),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    CheckConstraint("state IN ('in_progress','completed')", name="ck_idempotency_state"),
    Index("ix_idempotency_keys_expires", "expires_at"),
)

sagas = Table(
    "payment_sagas", metadata,
    Column("id", String(128), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("payee_account", String(128), nullable=False),
    Column("source_account", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("rail_reference", String(128)),
    Column("error", String(512)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("decision_id", String(128), unique=True),
    CheckConstraint("amount > 0", name="ck_payment_sagas_amount_positive"),
    Index("ix_payment_sagas_state", "state"),
)

saga_steps = Table(
    "payment_saga_steps", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("saga_id", String(128), nullable=False),
    Column("step", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", JSON),
    Column("ts", BigInteger, nullable=False),
    Index("ix_payment_saga_steps_saga", "saga_id", "seq"),
)

rail_sim_payments = Table(
    "rail_sim_payments", metadata,
    Column("key", String(160), primary_key=True),
    Column("payee", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("reason", String(256)),
    Column("created_at", BigInteger, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("decision_id", String(128)),
    Column("created_at", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_decision", "decision_id"),
)

audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

policies = Table(
    "policies", metadata,
    Column("version", String(32), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

review_queue = Table(
    "review_queue", metadata,
    Column("decision_id", String(128), primary_key=True),
    Column("vendor_id", String(128), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("required_approvals", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("approvals", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger),
    Column("version", Integer, nullable=False, server_default="0"),
)

reviews = Table(
    "reviews", metadata,
    Column("review_id", String(128), primary_key=True),
    Column("decision_id", String(128), nullable=False),
    Column("reviewer_id", String(128), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("decision_id", "reviewer_id", name="reviews_one_per_reviewer"),
)

vendor_members = Table(
    "vendor_members", metadata,
    Column("user_id", String(128), primary_key=True),
    Column("vendor_id", String(128), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

breaker_states = Table(
    "breaker_states", metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),
)

agent_outcome_counts = Table(
    "agent_outcome_counts", metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("outcome", String(16), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("txid", BigInteger, nullable=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream", String(32), nullable=False),
    Column("type", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("aggregate_id", String(128), nullable=False),
    Column("aggregate_seq", BigInteger, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("trace_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    UniqueConstraint("stream", "aggregate_id", "aggregate_seq", name="outbox_stream_order"),
)

outbox_waiting = Table(
    "outbox_waiting", metadata,  # outbox rows not yet relayed (kept by triggers on outbox)
    Column("id", BigId, primary_key=True, autoincrement=False),
)

outbox_aggregates = Table(
    "outbox_aggregates", metadata,
    Column("stream", String(32), primary_key=True),
    Column("aggregate_id", String(128), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

aggregate_cursors = Table(
    "aggregate_cursors", metadata,
    Column("consumer", String(64), primary_key=True),
    Column("stream", String(32), primary_key=True),
    Column("aggregate_id", String(128), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

consumer_offsets = Table(
    "consumer_offsets", metadata,
    Column("consumer", String(64), primary_key=True),
    Column("txid", BigInteger, nullable=False),
    Column("outbox_id", BigInteger, nullable=False),
)

processed_events = Table(
    "processed_events", metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("processed_at", BigInteger, nullable=False),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("outbox_id", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

vendors = Table(
    "vendors", metadata,
    Column("vendor_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("legal_name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    # sealed under the vendor's data key (see vendor_keys and finbot.privacy.keys)
    Column("tax_id", Text, nullable=False),
    Column("iban", Text, nullable=False),
    Column("bic", Text, nullable=False),
    Column("routing_number", Text, nullable=False),
    Column("account_number", Text, nullable=False),
    Column("industry", String(200), nullable=False),
    Column("website", String(200), nullable=False),
    Column("profile", Text, nullable=False),
    Column("documents", Text, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("bank_changed_at", BigInteger),
    # keyed blind indexes (HMAC) of the sealed values that lookups compare
    Column("tax_id_index", String(64)),
    Column("iban_index", String(64)),
    Column("account_index", String(64)),
    Index("ix_vendors_iban_index", "iban_index"),
    Index("ix_vendors_account_index", "account_index"),
    Index("ix_vendors_tax_id_index", "tax_id_index"),
)

vendor_keys = Table(
    "vendor_keys", metadata,
    Column("vendor_id", String(64), primary_key=True),
    Column("key_version", Integer, nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped_key", Text),  # NULL once destroyed: the vendor's fields are shredded
    Column("created_at", BigInteger, nullable=False),
    Column("rotated_at", BigInteger),
    Column("destroyed_at", BigInteger),
    Index("ix_vendor_keys_kek", "kek_version"),
)

purchase_orders = Table(
    "purchase_orders", metadata,
    Column("po_number", String(64), primary_key=True),
    Column("vendor_id", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

invoices = Table(
    "invoices", metadata,
    Column("invoice_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("vendor_id", String(64), nullable=False),
    Column("number", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("issued_on", String(10), nullable=False),
    Column("due_on", String(10), nullable=False),
    Column("po_number", String(64)),
    Column("lines", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("discount_percent", String(8)),
    Column("discount_until", String(10)),
    Column("status", String(16), nullable=False),
    Column("submitted_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

vendor_notes = Table(
    "vendor_notes", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("vendor_id", String(64), nullable=False),
    Column("author", String(16), nullable=False),
    Column("author_id", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

money_bursts = Table(
    "money_bursts", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("vendor_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("requests", Integer, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_money_bursts_vendor", "vendor_id", "at_us"),
)

messages = Table(
    "messages", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("vendor_id", String(64), nullable=False),
    Column("conversation_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("author_id", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

workflow_steps = Table(
    "workflow_steps", metadata,
    Column("workflow_id", String(96), primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("subject_id", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

sanctions_entries = Table(
    "sanctions_entries", metadata,
    Column("entry_id", BigInteger, primary_key=True),
    Column("name", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("programs", Text, nullable=False),
    Column("aliases", Text, nullable=False),
    Column("imported_at", BigInteger, nullable=False),
)

users = Table(
    "users", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("roles", Text, nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("disabled", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
)

user_sessions = Table(
    "user_sessions", metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("token_id", String(32), nullable=False, unique=True),
    Column("user_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

# The arena's simulated tool servers: one world per sandbox, and every call logged.
arena_worlds = Table(
    "arena_worlds", metadata,
    Column("sandbox", String(128), primary_key=True),
    Column("seeded_at_us", BigInteger, nullable=False),
)

arena_files = Table(
    "arena_files", metadata,
    Column("sandbox", String(128), nullable=False),
    Column("path", String(300), nullable=False),
    Column("text", Text, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("sandbox", "path"),
)

arena_mail = Table(
    "arena_mail", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sandbox", String(128), nullable=False),
    Column("sender", String(254), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("outside", Boolean, nullable=False),
    Column("dead_drop", Boolean, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_arena_mail_sandbox", "sandbox", "id"),
)

arena_payments = Table(
    "arena_payments", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sandbox", String(128), nullable=False),
    Column("payee", String(200), nullable=False),
    Column("iban", String(34), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(140), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_arena_payments_sandbox", "sandbox", "id"),
)

arena_tool_calls = Table(
    "arena_tool_calls", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sandbox", String(128), nullable=False),
    Column("tool", String(64), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("workflow_id", String(128), nullable=False),
    Column("arguments", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_arena_tool_calls_sandbox", "sandbox", "id"),
)

arena_tool_descriptions = Table(
    "arena_tool_descriptions", metadata,
    Column("sandbox", String(128), nullable=False),
    Column("tool", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("overridden_at_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("sandbox", "tool"),
)

arena_findings = Table(
    "arena_findings", metadata,
    Column("id", String(36), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("aggregate_id", String(200), nullable=False),
    Column("detector", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("trail", JSON, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    UniqueConstraint("event_id", "detector", name="arena_findings_once_per_event"),
    Index("ix_arena_findings_tenant", "tenant", "at_us", "id"),
)

arena_plays = Table(
    "arena_plays", metadata,
    Column("player_id", String(64), primary_key=True),
    Column("challenge_id", String(64), primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("hints_opened", Integer, nullable=False),
    Column("manipulated", JSON),
    Column("money", JSON),
    Column("solved_at", BigInteger),
    Column("points", Integer, nullable=False),
    Column("first_blood", Boolean, nullable=False),
    Column("defence", JSON),
    Index("ix_arena_plays_solved", "challenge_id", "solved_at"),
)

arena_sandboxes = Table(
    "arena_sandboxes", metadata,
    Column("player_id", String(64), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("reset_at", BigInteger),
    CheckConstraint("mode IN ('governed','training')", name="ck_arena_sandbox_mode"),
)

challengers = Table(
    "challengers", metadata,
    Column("challenger_id", String(64), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("agent_version", String(64)),
    Column("prompt", Text),
    Column("model_name", String(200)),
    Column("fraud_version", String(64)),
    Column("canary_share", String(16), nullable=False),
    Column("min_agreement", String(16), nullable=False),
    Column("min_count", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint("state IN ('shadow','canary','promoted','retired')",
                    name="ck_challengers_state"),
    Index("ix_challengers_agent", "agent_id", "state"),
)

challenger_sign_offs = Table(
    "challenger_sign_offs", metadata,
    Column("challenger_id", String(64), primary_key=True),
    Column("signer", String(200), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    CheckConstraint("role IN ('risk','compliance','engineering')",
                    name="ck_challenger_sign_offs_role"),
)

challenger_pairs = Table(
    "challenger_pairs", metadata,
    Column("challenger_id", String(64), primary_key=True),
    Column("step_decision_id", String(200), primary_key=True),
    Column("champion_decision_id", String(240), nullable=False),
    Column("challenger_decision_id", String(240), nullable=False),
    Column("routed", String(16), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_challenger_pairs_at", "challenger_id", "at_us"),
)
