"""outbound messages, follow-up, ledger and segments

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 20:00:00.000000

The outbox and its delivery attempts, cadence policies and contact rules, the debt ledger,
recorded segment changes; installments that can be late, plans that can break, debts under
legal review, debtors' scorecard figures and e-mail opt-out.
"""

from alembic import op
import sqlalchemy as sa
import backend.db


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("window_start", sa.Time(), nullable=False),
        sa.Column("window_end", sa.Time(), nullable=False),
        sa.Column("excluded_weekdays", sa.JSON(), nullable=False),
        sa.Column("skip_public_holidays", sa.Boolean(), nullable=False),
        sa.Column("max_per_day", sa.Integer(), nullable=False),
        sa.Column("max_per_7_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_rules")),
        sa.UniqueConstraint("country", name=op.f("uq_contact_rules_country")),
    )
    op.create_table(
        "cadence_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creditor_id", sa.Integer(), nullable=False),
        sa.Column("risk_segment", sa.String(length=32), nullable=False),
        sa.Column("channel_order", sa.JSON(), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creditor_id"],
            ["creditors.id"],
            name=op.f("fk_cadence_policies_creditor_id_creditors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cadence_policies")),
        sa.UniqueConstraint(
            "creditor_id", "risk_segment", name=op.f("uq_cadence_policies_creditor_id")
        ),
    )
    with op.batch_alter_table("cadence_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cadence_policies_creditor_id"), ["creditor_id"], unique=False
        )

    op.create_table(
        "cadence_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=32), nullable=False),
        sa.Column("escalate", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["cadence_policies.id"],
            name=op.f("fk_cadence_steps_policy_id_cadence_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cadence_steps")),
        sa.UniqueConstraint("policy_id", "level", name=op.f("uq_cadence_steps_policy_level")),
        sa.UniqueConstraint("policy_id", "offset_days", name=op.f("uq_cadence_steps_policy_offset")),
    )
    op.create_table(
        "segment_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("from_segment", sa.String(length=32), nullable=False),
        sa.Column("to_segment", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("pay_likelihood", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("recovery_priority_minor", sa.BigInteger(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("computed_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_segment_changes_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_changes")),
    )
    with op.batch_alter_table("segment_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segment_changes_debtor_id"), ["debtor_id"], unique=False
        )

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "reminder",
                "promise_due",
                "installment_due",
                "promise_broken",
                "installment_late",
                "plan_broken",
                "payment_thanks",
                name="messagekind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("debt_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("scheduled_for", sa.Date(), nullable=False),
        sa.Column("not_before", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "suppressed",
                "failed",
                "in_doubt",
                name="outboxstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(
                "whatsapp",
                "telegram",
                "webchat",
                "email",
                name="outboundchannel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("suppression_reason", sa.String(length=48), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["channel_contacts.id"],
            name=op.f("fk_outbox_messages_contact_id_channel_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["debt_id"], ["debts.id"], name=op.f("fk_outbox_messages_debt_id_debts")
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_outbox_messages_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_messages_dedupe_key")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_messages_debt_id"), ["debt_id"], unique=False)
        batch_op.create_index(
            "ix_outbox_messages_debtor_id_sent_at", ["debtor_id", "sent_at"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_messages_status_not_before", ["status", "not_before"], unique=False
        )

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "whatsapp",
                "telegram",
                "webchat",
                "email",
                name="outboundchannel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "sent",
                "deferred",
                "suppressed",
                "transient_error",
                "permanent_error",
                "in_doubt",
                "skipped_channel",
                name="deliveryoutcome",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=48), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox_messages.id"],
            name=op.f("fk_delivery_attempts_outbox_id_outbox_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempts_outbox_id"), ["outbox_id"], unique=False
        )

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debt_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "principal",
                "interest",
                "late_fee",
                "payment",
                "discount",
                "adjustment",
                name="entrykind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["debt_id"], ["debts.id"], name=op.f("fk_ledger_entries_debt_id_debts")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_entries_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("debt_id", "entry_key", name=op.f("uq_ledger_entries_debt_id")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_debt_id"), ["debt_id"], unique=False)

    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_score", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("pay_likelihood", sa.Numeric(precision=5, scale=4), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "recovery_priority_minor", sa.BigInteger(), server_default="0", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("segment_updated_at", backend.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("email_opted_out_at", backend.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_debtors_recovery_priority_minor"),
            ["recovery_priority_minor"],
            unique=False,
        )

    with op.batch_alter_table("debts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legal_review_at", backend.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("accrued_through", sa.Date(), nullable=True))

    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late_since", sa.Date(), nullable=True))

    with op.batch_alter_table("negotiation_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("installment_grace_days", sa.Integer(), server_default="5", nullable=False)
        )
        batch_op.add_column(
            sa.Column("max_late_installments", sa.Integer(), server_default="2", nullable=False)
        )

    with op.batch_alter_table("debts", schema=None) as batch_op:
        batch_op.create_index("ix_debts_status_due_date", ["status", "due_date"], unique=False)
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.create_index("ix_installments_due_date", ["due_date"], unique=False)
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.create_index(
            "ix_promises_to_pay_status_promised_date", ["status", "promised_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.drop_index("ix_promises_to_pay_status_promised_date")
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.drop_index("ix_installments_due_date")
    with op.batch_alter_table("debts", schema=None) as batch_op:
        batch_op.drop_index("ix_debts_status_due_date")
    # Plain DROP COLUMN (SQLite 3.35+), not a batch copy: recreating these tables would drop
    # rows that other tables still reference.
    op.drop_index(op.f("ix_debtors_recovery_priority_minor"), table_name="debtors")
    for table, column in (
        ("negotiation_policies", "max_late_installments"),
        ("negotiation_policies", "installment_grace_days"),
        ("installments", "late_since"),
        ("debts", "accrued_through"),
        ("debts", "legal_review_at"),
        ("debtors", "email_opted_out_at"),
        ("debtors", "segment_updated_at"),
        ("debtors", "recovery_priority_minor"),
        ("debtors", "pay_likelihood"),
        ("debtors", "risk_score"),
    ):
        op.drop_column(table, column)

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_debt_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_outbox_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_status_not_before")
        batch_op.drop_index("ix_outbox_messages_debtor_id_sent_at")
        batch_op.drop_index(batch_op.f("ix_outbox_messages_debt_id"))

    op.drop_table("outbox_messages")
    with op.batch_alter_table("segment_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_changes_debtor_id"))

    op.drop_table("segment_changes")
    op.drop_table("cadence_steps")
    with op.batch_alter_table("cadence_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cadence_policies_creditor_id"))

    op.drop_table("cadence_policies")
    op.drop_table("contact_rules")
