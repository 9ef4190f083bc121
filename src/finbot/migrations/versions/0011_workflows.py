"""Vendors, purchase orders, invoices, vendor notes, messages, workflow steps and the
imported sanctions list: what the agents read and the orchestrator drives.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "vendors",
        sa.Column("vendor_id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("legal_name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("tax_id", sa.String(64), nullable=False),
        sa.Column("iban", sa.String(64), nullable=False),
        sa.Column("bic", sa.String(16), nullable=False),
        sa.Column("routing_number", sa.String(16), nullable=False),
        sa.Column("account_number", sa.String(34), nullable=False),
        sa.Column("industry", sa.String(200), nullable=False),
        sa.Column("website", sa.String(200), nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("documents", sa.Text, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("bank_changed_at", sa.BigInteger),
    )
    op.create_index("ix_vendors_tenant", "vendors", ["tenant", "vendor_id"])
    op.create_table(
        "purchase_orders",
        sa.Column("po_number", sa.String(64), primary_key=True),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "invoices",
        sa.Column("invoice_id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("tax", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issued_on", sa.String(10), nullable=False),
        sa.Column("due_on", sa.String(10), nullable=False),
        sa.Column("po_number", sa.String(64)),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("discount_percent", sa.String(8)),
        sa.Column("discount_until", sa.String(10)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_invoices_vendor", "invoices", ["vendor_id", "submitted_at"])
    op.create_table(
        "vendor_notes",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("author_id", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("author IN ('agent','vendor','reviewer')",
                           name="ck_vendor_notes_author"),
    )
    op.create_index("ix_vendor_notes_vendor", "vendor_notes", ["vendor_id", "id"])
    op.create_table(
        "messages",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("author_id", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("role IN ('vendor','assistant','notification','admin')",
                           name="ck_messages_role"),
    )
    op.create_index("ix_messages_conversation", "messages", ["conversation_id", "id"])
    op.create_index("ix_messages_vendor", "messages", ["vendor_id", "id"])
    op.create_table(
        "workflow_steps",
        sa.Column("workflow_id", sa.String(96), primary_key=True),
        sa.Column("step", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("lease_until", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_workflow_steps_due", "workflow_steps", ["status", "due_at"])
    op.create_table(
        "sanctions_entries",
        sa.Column("entry_id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("programs", sa.Text, nullable=False),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("imported_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sanctions_entries")
    op.drop_index("ix_workflow_steps_due", table_name="workflow_steps")
    op.drop_table("workflow_steps")
    op.drop_index("ix_messages_vendor", table_name="messages")
    op.drop_index("ix_messages_conversation", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_vendor_notes_vendor", table_name="vendor_notes")
    op.drop_table("vendor_notes")
    op.drop_index("ix_invoices_vendor", table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("purchase_orders")
    op.drop_index("ix_vendors_tenant", table_name="vendors")
    op.drop_table("vendors")
