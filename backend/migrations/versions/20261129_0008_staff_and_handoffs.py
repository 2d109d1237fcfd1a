"""staff and handoffs

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:00:00.000000

Staff members and their console sessions; handoffs, the episodes in which a person owns a
conversation (at most one open per contact).
"""

import sqlalchemy as sa
from alembic import op

import backend.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "agent",
                "supervisor",
                name="staffrole",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_members")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_members_email")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_sessions_staff_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=True),
        sa.Column("debt_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=48), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "assigned",
                "handed_back",
                "closed",
                name="handoffstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("taken_by_staff", sa.Boolean(), nullable=False),
        sa.Column("queued_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_staff_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("debtor_told_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_staff_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_staff_id"],
            ["staff_members.id"],
            name=op.f("fk_handoffs_assigned_staff_id_staff_members"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["channel_contacts.id"],
            name=op.f("fk_handoffs_contact_id_channel_contacts"),
        ),
        sa.ForeignKeyConstraint(["debt_id"], ["debts.id"], name=op.f("fk_handoffs_debt_id_debts")),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_handoffs_debtor_id_debtors")
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_staff_id"],
            ["staff_members.id"],
            name=op.f("fk_handoffs_ended_by_staff_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handoffs_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_handoffs_debtor_id"), ["debtor_id"], unique=False)
        batch_op.create_index("ix_handoffs_status_priority", ["status", "priority"], unique=False)
        batch_op.create_index(
            "uq_handoffs_one_open_per_contact",
            ["contact_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'assigned')"),
            postgresql_where=sa.text("status IN ('queued', 'assigned')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_handoffs_one_open_per_contact",
            sqlite_where=sa.text("status IN ('queued', 'assigned')"),
            postgresql_where=sa.text("status IN ('queued', 'assigned')"),
        )
        batch_op.drop_index("ix_handoffs_status_priority")
        batch_op.drop_index(batch_op.f("ix_handoffs_debtor_id"))
        batch_op.drop_index(batch_op.f("ix_handoffs_contact_id"))

    op.drop_table("handoffs")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_staff_id"))

    op.drop_table("staff_sessions")
    op.drop_table("staff_members")
