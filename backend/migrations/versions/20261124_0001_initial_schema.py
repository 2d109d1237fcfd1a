"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 01:59:25.242259
"""

import sqlalchemy as sa
from alembic import op

import backend.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creditors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("legal_id_kind", sa.String(length=16), nullable=False),
        sa.Column("legal_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("support_phone", sa.String(length=32), nullable=False),
        sa.Column("support_email", sa.String(length=200), nullable=False),
        sa.Column("support_url", sa.String(length=300), nullable=True),
        sa.Column("payment_url_template", sa.String(length=300), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creditors")),
        sa.UniqueConstraint("legal_id", name=op.f("uq_creditors_legal_id")),
    )
    op.create_table(
        "debtors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("document_kind", sa.String(length=16), nullable=False),
        sa.Column("document_number", sa.String(length=32), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "preferred_language",
            sa.Enum(
                "pt_BR",
                "es",
                "it",
                "en",
                name="language",
                native_enum=False,
                create_constraint=True,
                length=8,
            ),
            nullable=False,
        ),
        sa.Column("risk_segment", sa.String(length=32), nullable=False),
        sa.Column("failed_verifications", sa.Integer(), nullable=False),
        sa.Column(
            "verification_locked_until", backend.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("creditor_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["creditor_id"], ["creditors.id"], name=op.f("fk_debtors_creditor_id_creditors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debtors")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_debtors_external_ref")),
    )
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_debtors_creditor_id"), ["creditor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_debtors_document_number"), ["document_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_debtors_phone"), ["phone"], unique=False)

    op.create_table(
        "negotiation_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creditor_id", sa.Integer(), nullable=False),
        sa.Column("risk_segment", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("max_installments", sa.Integer(), nullable=False),
        sa.Column("min_down_payment_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("min_installment_minor", sa.BigInteger(), nullable=False),
        sa.Column("max_plan_days", sa.Integer(), nullable=False),
        sa.Column("max_days_to_first_payment", sa.Integer(), nullable=False),
        sa.Column("max_settlement_discount_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("plan_interest_monthly_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("max_broken_promises", sa.Integer(), nullable=False),
        sa.Column("updated_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "max_broken_promises >= 0",
            name=op.f("ck_negotiation_policies_broken_promises_not_negative"),
        ),
        sa.CheckConstraint(
            "max_days_to_first_payment >= 0",
            name=op.f("ck_negotiation_policies_first_payment_days"),
        ),
        sa.CheckConstraint(
            "max_installments >= 1", name=op.f("ck_negotiation_policies_max_installments_positive")
        ),
        sa.CheckConstraint(
            "max_plan_days >= max_days_to_first_payment",
            name=op.f("ck_negotiation_policies_plan_days_cover"),
        ),
        sa.CheckConstraint(
            "max_settlement_discount_pct >= 0 AND max_settlement_discount_pct < 100",
            name=op.f("ck_negotiation_policies_discount_range"),
        ),
        sa.CheckConstraint(
            "min_down_payment_pct >= 0 AND min_down_payment_pct <= 100",
            name=op.f("ck_negotiation_policies_down_pct_range"),
        ),
        sa.CheckConstraint(
            "min_installment_minor >= 1",
            name=op.f("ck_negotiation_policies_min_installment_positive"),
        ),
        sa.CheckConstraint(
            "plan_interest_monthly_pct >= 0",
            name=op.f("ck_negotiation_policies_interest_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["creditor_id"],
            ["creditors.id"],
            name=op.f("fk_negotiation_policies_creditor_id_creditors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_negotiation_policies")),
        sa.UniqueConstraint(
            "creditor_id",
            "risk_segment",
            "currency",
            name=op.f("uq_negotiation_policies_creditor_id"),
        ),
    )
    op.create_table(
        "channel_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "whatsapp",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=True),
        sa.Column(
            "language",
            sa.Enum(
                "pt_BR",
                "es",
                "it",
                "en",
                name="language",
                native_enum=False,
                create_constraint=True,
                length=8,
            ),
            nullable=True,
        ),
        sa.Column("verified_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_verifications", sa.Integer(), nullable=False),
        sa.Column("locked_until", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opted_out_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_inbound_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_channel_contacts_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_contacts")),
        sa.UniqueConstraint("channel", "external_id", name=op.f("uq_channel_contacts_channel")),
    )
    with op.batch_alter_table("channel_contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_contacts_debtor_id"), ["debtor_id"], unique=False
        )

    op.create_table(
        "debts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("creditor_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=120), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("principal_minor", sa.BigInteger(), nullable=False),
        sa.Column("fees_minor", sa.BigInteger(), nullable=False),
        sa.Column("interest_minor", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "current",
                "overdue",
                "in_plan",
                "disputed",
                "paid",
                "written_off",
                name="debtstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status_before_dispute",
            sa.Enum(
                "current",
                "overdue",
                "in_plan",
                "disputed",
                "paid",
                "written_off",
                name="status_before_dispute",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("late_interest_monthly_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("late_fee_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("fees_minor >= 0", name=op.f("ck_debts_fees_not_negative")),
        sa.CheckConstraint("interest_minor >= 0", name=op.f("ck_debts_interest_not_negative")),
        sa.CheckConstraint(
            "outstanding_minor >= 0", name=op.f("ck_debts_outstanding_not_negative")
        ),
        sa.CheckConstraint("principal_minor >= 0", name=op.f("ck_debts_principal_not_negative")),
        sa.ForeignKeyConstraint(
            ["creditor_id"], ["creditors.id"], name=op.f("fk_debts_creditor_id_creditors")
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_debts_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debts")),
        sa.UniqueConstraint("reference", name=op.f("uq_debts_reference")),
    )
    with op.batch_alter_table("debts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_debts_creditor_id"), ["creditor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_debts_debtor_id"), ["debtor_id"], unique=False)

    op.create_table(
        "csat_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "whatsapp",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_csat_scores_score_range")),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["channel_contacts.id"],
            name=op.f("fk_csat_scores_contact_id_channel_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_csat_scores_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_scores")),
    )
    with op.batch_alter_table("csat_scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_csat_scores_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_csat_scores_debtor_id"), ["debtor_id"], unique=False)

    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debt_id", sa.Integer(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "not_mine",
                "already_paid",
                "wrong_amount",
                "fraud",
                "other",
                name="disputereason",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "upheld",
                "rejected",
                name="disputestatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "whatsapp",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("resolution_note", sa.String(length=500), nullable=True),
        sa.Column("opened_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["debt_id"], ["debts.id"], name=op.f("fk_disputes_debt_id_debts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_debt_id"), ["debt_id"], unique=False)

    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=True),
        sa.Column("debt_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "whatsapp",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column(
            "direction",
            sa.Enum(
                "inbound",
                "outbound",
                "internal",
                name="direction",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "actor",
            sa.Enum(
                "debtor",
                "bot",
                "agent",
                "system",
                name="actor",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("actor_ref", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["channel_contacts.id"],
            name=op.f("fk_interactions_contact_id_channel_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["debt_id"], ["debts.id"], name=op.f("fk_interactions_debt_id_debts")
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_interactions_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interactions_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_interactions_debt_id"), ["debt_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_interactions_debtor_id"), ["debtor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_interactions_event"), ["event"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_interactions_occurred_at"), ["occurred_at"], unique=False
        )

    op.create_table(
        "payment_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debt_id", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("receipt_reference", sa.String(length=128), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "confirmed",
                "rejected",
                name="claimstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "whatsapp",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["debt_id"], ["debts.id"], name=op.f("fk_payment_claims_debt_id_debts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_claims")),
    )
    with op.batch_alter_table("payment_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_claims_debt_id"), ["debt_id"], unique=False)

    op.create_table(
        "payment_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debt_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "completed",
                "broken",
                "cancelled",
                name="planstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "installments",
                "settlement",
                name="plankind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("interest_minor", sa.BigInteger(), nullable=False),
        sa.Column("interest_monthly_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("down_payment_minor", sa.BigInteger(), nullable=False),
        sa.Column("installment_count", sa.Integer(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "whatsapp",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["debt_id"], ["debts.id"], name=op.f("fk_payment_plans_debt_id_debts")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["negotiation_policies.id"],
            name=op.f("fk_payment_plans_policy_id_negotiation_policies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plans")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_plans_idempotency_key")),
    )
    with op.batch_alter_table("payment_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_plans_debt_id"), ["debt_id"], unique=False)
        batch_op.create_index(
            "uq_payment_plans_one_active_per_debt",
            ["debt_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("debt_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("overpaid_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["debt_id"], ["debts.id"], name=op.f("fk_payments_debt_id_debts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("external_id", name=op.f("uq_payments_external_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_debt_id"), ["debt_id"], unique=False)

    op.create_table(
        "promises_to_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debt_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_before_minor", sa.BigInteger(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "kept",
                "broken",
                "cancelled",
                name="promisestatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "whatsapp",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["debt_id"], ["debts.id"], name=op.f("fk_promises_to_pay_debt_id_debts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises_to_pay")),
    )
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_promises_to_pay_debt_id"), ["debt_id"], unique=False)
        batch_op.create_index(
            "uq_promises_to_pay_one_active_per_debt",
            ["debt_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "installments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("is_down_payment", sa.Boolean(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["payment_plans.id"], name=op.f("fk_installments_plan_id_payment_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installments")),
        sa.UniqueConstraint("plan_id", "sequence", name=op.f("uq_installments_plan_id")),
    )

    _install_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_table("installments")
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_promises_to_pay_one_active_per_debt",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_promises_to_pay_debt_id"))

    op.drop_table("promises_to_pay")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_debt_id"))

    op.drop_table("payments")
    with op.batch_alter_table("payment_plans", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payment_plans_one_active_per_debt",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_payment_plans_debt_id"))

    op.drop_table("payment_plans")
    with op.batch_alter_table("payment_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_claims_debt_id"))

    op.drop_table("payment_claims")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_interactions_event"))
        batch_op.drop_index(batch_op.f("ix_interactions_debtor_id"))
        batch_op.drop_index(batch_op.f("ix_interactions_debt_id"))
        batch_op.drop_index(batch_op.f("ix_interactions_contact_id"))

    op.drop_table("interactions")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_debt_id"))

    op.drop_table("disputes")
    with op.batch_alter_table("csat_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_csat_scores_debtor_id"))
        batch_op.drop_index(batch_op.f("ix_csat_scores_contact_id"))

    op.drop_table("csat_scores")
    with op.batch_alter_table("debts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debts_debtor_id"))
        batch_op.drop_index(batch_op.f("ix_debts_creditor_id"))

    op.drop_table("debts")
    with op.batch_alter_table("channel_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_contacts_debtor_id"))

    op.drop_table("channel_contacts")
    op.drop_table("negotiation_policies")
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debtors_phone"))
        batch_op.drop_index(batch_op.f("ix_debtors_document_number"))
        batch_op.drop_index(batch_op.f("ix_debtors_creditor_id"))

    op.drop_table("debtors")
    op.drop_table("creditors")


APPEND_ONLY_MESSAGE = "interactions are append-only"


def _install_append_only_triggers() -> None:
    """Refuse UPDATE and DELETE on the interaction log in the database itself."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION interactions_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER interactions_append_only BEFORE UPDATE OR DELETE ON interactions "
            "FOR EACH ROW EXECUTE FUNCTION interactions_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER interactions_no_{operation.lower()} BEFORE {operation} "
                f"ON interactions BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS interactions_append_only ON interactions")
        op.execute("DROP FUNCTION IF EXISTS interactions_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS interactions_no_update")
        op.execute("DROP TRIGGER IF EXISTS interactions_no_delete")
