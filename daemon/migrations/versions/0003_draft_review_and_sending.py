"""draft review and sending: edits, Sent-folder copies, the server's reply

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:35:37.743257
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mailbox_name', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('edits', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('sent_subject', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('smtp_reply', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('sent_copy_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sent_copy_error', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_drafts_sent_copy_at'), ['sent_copy_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drafts_sent_copy_at'))
        batch_op.drop_column('sent_copy_error')
        batch_op.drop_column('sent_copy_at')
        batch_op.drop_column('smtp_reply')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('sent_subject')
        batch_op.drop_column('edits')
        batch_op.drop_column('body_sha256')
        batch_op.drop_column('mailbox_name')
