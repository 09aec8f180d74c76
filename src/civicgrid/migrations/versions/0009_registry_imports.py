"""registry: import records (导入记录); residents created by an import point to it instead of a history row each

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reg_imports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('mode', sa.String(length=10), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_name', sa.String(length=100), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('created', sa.Integer(), nullable=False),
        sa.Column('updated', sa.Integer(), nullable=False),
        sa.Column('error_rows', sa.Integer(), nullable=False),
        sa.CheckConstraint("mode in ('all','valid')", name=op.f('ck_reg_imports_mode')),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_reg_imports_actor_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reg_imports')),
    )
    with op.batch_alter_table('reg_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reg_imports_actor_id'), ['actor_id'], unique=False)
    with op.batch_alter_table('reg_residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_reg_residents_import_id_reg_imports'), 'reg_imports',
                                    ['import_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('reg_residents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reg_residents_import_id_reg_imports'), type_='foreignkey')
        batch_op.drop_column('import_id')
    with op.batch_alter_table('reg_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reg_imports_actor_id'))
    op.drop_table('reg_imports')
