"""followup cadence: unanswered follow-ups and the last one sent

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:23:39.339046
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('buyers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followups_unanswered', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_followup_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('buyers', schema=None) as batch_op:
        batch_op.drop_column('last_followup_at')
        batch_op.drop_column('followups_unanswered')
