"""buyer matching keys and grade history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:20:38.998053
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('grade_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=True),
    sa.Column('by', sa.String(length=100), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_grade_changes_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_grade_changes_inquiry_id_inquiries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grade_changes'))
    )
    with op.batch_alter_table('grade_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grade_changes_buyer_id'), ['buyer_id'], unique=False)

    with op.batch_alter_table('buyer_addresses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('domain', sa.String(length=255), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_buyer_addresses_domain'), ['domain'], unique=False)

    with op.batch_alter_table('buyers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('company_key', sa.String(length=300), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('grade_source', sa.String(length=10), nullable=False, server_default='auto'))
        batch_op.drop_index(batch_op.f('ix_buyers_company'))
        batch_op.create_index(batch_op.f('ix_buyers_company_key'), ['company_key'], unique=False)

    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=30), nullable=False, server_default='inquiry'))
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=False, server_default=''))



def downgrade() -> None:
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_column('country')
        batch_op.drop_column('kind')

    with op.batch_alter_table('buyers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buyers_company_key'))
        batch_op.create_index(batch_op.f('ix_buyers_company'), ['company'], unique=False)
        batch_op.drop_column('grade_source')
        batch_op.drop_column('company_key')

    with op.batch_alter_table('buyer_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buyer_addresses_domain'))
        batch_op.drop_column('domain')

    with op.batch_alter_table('grade_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grade_changes_buyer_id'))

    op.drop_table('grade_changes')
