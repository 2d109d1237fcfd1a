"""personal data: per-person keys sealing the log's texts, debtors.erased_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 12:00:00.000000

Texts already in the interaction log are sealed here with their owner's key, like every new
one (backend/privacy/keys.py): the contact's key, or the debtor's for an entry without a
contact. An entry with neither has nobody to be erased with and is left as it is (the
gateway never wrote one). The log's append-only triggers are lifted for this one rewrite and
put back; on SQLite freed space is zeroed so the plain texts do not stay in the file.
Downgrading opens the texts again ("[erased]" for those whose key was destroyed).
"""

from alembic import op
import sqlalchemy as sa
import backend.db
from backend.config import get_settings
from backend.privacy import crypto


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ERASED = "[erased]"
APPEND_ONLY_MESSAGE = "interactions are append-only"  # as in 0001
_BATCH = 500

_keys = sa.table(
    "debtor_keys",
    sa.column("id", sa.Integer),
    sa.column("debtor_id", sa.Integer),
    sa.column("contact_id", sa.Integer),
    sa.column("wrapped_key", sa.LargeBinary),
    sa.column("created_at", backend.db.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "debtor_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(length=64), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(debtor_id IS NULL) <> (contact_id IS NULL)", name=op.f("ck_debtor_keys_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["channel_contacts.id"],
            name=op.f("fk_debtor_keys_contact_id_channel_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtors.id"], name=op.f("fk_debtor_keys_debtor_id_debtors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debtor_keys")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_debtor_keys_contact_id")),
        sa.UniqueConstraint("debtor_id", name=op.f("uq_debtor_keys_debtor_id")),
    )
    op.add_column(
        "debtors", sa.Column("erased_at", backend.db.UTCDateTime(timezone=True), nullable=True)
    )
    _rewrite_texts(_seal)


def downgrade() -> None:
    _rewrite_texts(_open)
    # Not a batch: SQLite (3.35+) drops a column in place, while a table copy could not drop
    # the debtors table that debts and contacts refer to.
    op.drop_column("debtors", "erased_at")
    op.drop_table("debtor_keys")


def _rewrite_texts(rewrite) -> None:
    bind = op.get_bind()
    master = crypto.master_key(get_settings().data_key)
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA secure_delete = ON")
        op.execute("DROP TRIGGER IF EXISTS interactions_no_update")
    else:
        op.execute("ALTER TABLE interactions DISABLE TRIGGER interactions_append_only")
    keys: dict = {}
    last_id = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, contact_id, debtor_id, text FROM interactions "
                "WHERE id > :last AND text IS NOT NULL ORDER BY id LIMIT :batch"
            ),
            {"last": last_id, "batch": _BATCH},
        ).all()
        if not rows:
            break
        for row in rows:
            rewritten = rewrite(bind, master, keys, row)
            if rewritten is not None and rewritten != row.text:
                bind.execute(
                    sa.text("UPDATE interactions SET text = :text WHERE id = :id"),
                    {"text": rewritten, "id": row.id},
                )
        last_id = rows[-1].id
    if sqlite:
        op.execute(
            "CREATE TRIGGER interactions_no_update BEFORE UPDATE "
            f"ON interactions BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
        )
    else:
        op.execute("ALTER TABLE interactions ENABLE TRIGGER interactions_append_only")


def _seal(bind, master: bytes, keys: dict, row) -> str | None:
    if crypto.sealed_key_id(row.text) is not None:
        return None  # already sealed
    if row.contact_id is not None:
        owner = ("contact_id", row.contact_id)
    elif row.debtor_id is not None:
        owner = ("debtor_id", row.debtor_id)
    else:
        return None
    if owner not in keys:
        keys[owner] = _owner_key(bind, master, *owner)
    key_id, data_key = keys[owner]
    if data_key is None:
        return ERASED
    return crypto.seal(data_key, key_id, row.text)


def _owner_key(bind, master: bytes, column: str, owner_id: int) -> tuple[int, bytes | None]:
    found = bind.execute(
        sa.select(_keys.c.id, _keys.c.wrapped_key).where(_keys.c[column] == owner_id)
    ).first()
    if found is not None:
        wrapped = found.wrapped_key
        return found.id, crypto.unwrap(master, wrapped) if wrapped is not None else None
    data_key = crypto.new_data_key()
    key_id = bind.execute(
        _keys.insert()
        .values(
            {
                column: owner_id,
                "wrapped_key": crypto.wrap(master, data_key),
                "created_at": backend.db.utcnow(),
            }
        )
        .returning(_keys.c.id)
    ).scalar_one()
    return key_id, data_key


def _open(bind, master: bytes, keys: dict, row) -> str | None:
    key_id = crypto.sealed_key_id(row.text)
    if key_id is None:
        return None
    if key_id not in keys:
        wrapped = bind.execute(
            sa.select(_keys.c.wrapped_key).where(_keys.c.id == key_id)
        ).scalar()
        keys[key_id] = crypto.unwrap(master, wrapped) if wrapped is not None else None
    data_key = keys[key_id]
    return crypto.open_sealed(data_key, row.text) if data_key is not None else ERASED
