"""registry: buildings' floors below ground and floor checks; facilities' source coordinate system and an
index for the facility map (kind, status)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reg_buildings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('floors_below', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_reg_buildings_floors'), "floors is null or floors between 1 and 200")
        batch_op.create_check_constraint(op.f('ck_reg_buildings_floors_below'),
                                         "floors_below is null or floors_below between 0 and 20")
    with op.batch_alter_table('reg_facilities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_crs', sa.String(length=10), nullable=False, server_default='wgs84'))
        batch_op.create_check_constraint(op.f('ck_reg_facilities_source_crs'),
                                         "source_crs in ('wgs84','gcj02','bd09')")
        batch_op.create_index('ix_reg_facilities_kind_status', ['kind', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reg_facilities', schema=None) as batch_op:
        batch_op.drop_index('ix_reg_facilities_kind_status')
        batch_op.drop_constraint(op.f('ck_reg_facilities_source_crs'), type_='check')
        batch_op.drop_column('source_crs')
    with op.batch_alter_table('reg_buildings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reg_buildings_floors_below'), type_='check')
        batch_op.drop_constraint(op.f('ck_reg_buildings_floors'), type_='check')
        batch_op.drop_column('floors_below')
