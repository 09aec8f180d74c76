"""public portal: anonymous reports' query codes and rate-limit hashes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('public_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=True),
    sa.Column('ip_hash', sa.String(length=64), nullable=False),
    sa.Column('challenge', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id'),
    sa.UniqueConstraint('challenge')
    )
    op.create_index('ix_public_reports_ip', 'public_reports', ['ip_hash', 'created_at'], unique=False)
    op.create_index('ix_public_reports_phone', 'public_reports', ['phone_hash', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_public_reports_phone', table_name='public_reports')
    op.drop_index('ix_public_reports_ip', table_name='public_reports')
    op.drop_table('public_reports')
