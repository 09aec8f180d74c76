"""cases: the reporter's phone number encrypted at rest

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":  # SQLite does not enforce VARCHAR lengths
        op.alter_column('cases', 'reporter_phone', type_=sa.String(length=120), existing_nullable=False)
    from civicgrid.registry import crypto

    keyring = crypto.keyring()
    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('reporter_phone', sa.String))
    rows = bind.execute(sa.select(cases.c.id, cases.c.reporter_phone)
                        .where(cases.c.reporter_phone != '', ~cases.c.reporter_phone.contains('$'))).all()
    for rid, phone in rows:
        bind.execute(cases.update().where(cases.c.id == rid)
                     .values(reporter_phone=keyring.encrypt(phone, "case.reporter_phone")))


def downgrade() -> None:
    pass  # the encrypted values stay; decrypt with the keys (see docs/registry.md) if ever needed
