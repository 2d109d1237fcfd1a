"""verification guards: failure counts, knowledge locks, one-time codes, creditor's mode

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import backend.db


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["channel_contacts.id"],
            name=op.f("fk_verification_failures_contact_id_channel_contacts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_failures")),
    )
    with op.batch_alter_table("verification_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_failures_address_hash"), ["address_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verification_failures_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verification_failures_occurred_at"), ["occurred_at"], unique=False
        )

    op.create_table(
        "verification_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["channel_contacts.id"],
            name=op.f("fk_verification_codes_contact_id_channel_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_verification_codes_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_codes")),
    )
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_codes_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verification_codes_debtor_id"), ["debtor_id"], unique=False
        )

    # Plain ADD COLUMN on every table (SQLite needs no table copy for these). Existing
    # creditors get the safer mode; the seed and the README say how to choose the other.
    op.add_column(
        "creditors",
        sa.Column(
            "verification_mode",
            sa.Enum(
                "knowledge_and_code",
                "knowledge_only",
                name="verificationmode",
                native_enum=False,
                create_constraint=False,
                length=24,
            ),
            server_default="knowledge_and_code",
            nullable=False,
        ),
    )
    if op.get_bind().dialect.name != "sqlite":  # SQLite adds no CHECK without a table copy
        op.create_check_constraint(
            op.f("ck_creditors_verificationmode"),
            "creditors",
            "verification_mode IN ('knowledge_and_code', 'knowledge_only')",
        )
    op.add_column(
        "debtors",
        sa.Column(
            "last_failed_verification_at", backend.db.UTCDateTime(timezone=True), nullable=True
        ),
    )
    op.create_index(op.f("ix_debtors_birth_date"), "debtors", ["birth_date"], unique=False)
    op.add_column(
        "channel_contacts",
        sa.Column("linked_at", backend.db.UTCDateTime(timezone=True), nullable=True),
    )
    # Chats already bound by a deep link proved possession then: the log says when.
    op.execute(
        "UPDATE channel_contacts SET linked_at = ("
        " SELECT MAX(interactions.occurred_at) FROM interactions"
        " WHERE interactions.contact_id = channel_contacts.id"
        " AND interactions.event = 'telegram.linked'"
        " AND interactions.debtor_id = channel_contacts.debtor_id)"
        " WHERE channel = 'telegram' AND debtor_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("channel_contacts", schema=None) as batch_op:
        batch_op.drop_column("linked_at")
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debtors_birth_date"))
        batch_op.drop_column("last_failed_verification_at")
    with op.batch_alter_table("creditors", schema=None) as batch_op:
        batch_op.drop_column("verification_mode")

    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_codes_debtor_id"))
        batch_op.drop_index(batch_op.f("ix_verification_codes_contact_id"))
    op.drop_table("verification_codes")

    with op.batch_alter_table("verification_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_failures_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_verification_failures_contact_id"))
        batch_op.drop_index(batch_op.f("ix_verification_failures_address_hash"))
    op.drop_table("verification_failures")
