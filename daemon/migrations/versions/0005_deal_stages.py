"""deal stages: stage changes, samples, documents, RFQ leads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 03:35:02.544510
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rfq_leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=False),
    sa.Column('rfq_key', sa.String(length=200), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('buyer_name', sa.String(length=200), nullable=False),
    sa.Column('company', sa.String(length=300), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('quantity', sa.String(length=100), nullable=False),
    sa.Column('skus', sa.JSON(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_rfq_leads_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rfq_leads')),
    sa.UniqueConstraint('platform', 'rfq_key', name=op.f('uq_rfq_leads_platform_rfq_key'))
    )
    with op.batch_alter_table('rfq_leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rfq_leads_created_at'), ['created_at'], unique=False)

    op.create_table('samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('courier', sa.String(length=100), nullable=False),
    sa.Column('tracking', sa.String(length=200), nullable=False),
    sa.Column('payment', sa.String(length=20), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('followed_up_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_samples_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_samples_inquiry_id_inquiries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_samples'))
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_expected_at'), ['expected_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_inquiry_id'), ['inquiry_id'], unique=False)

    op.create_table('deal_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('draft_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_deal_documents_draft_id_drafts')),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_deal_documents_inquiry_id_inquiries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_documents')),
    sa.UniqueConstraint('kind', 'year', 'seq', name=op.f('uq_deal_documents_kind_year_seq')),
    sa.UniqueConstraint('number', name=op.f('uq_deal_documents_number'))
    )
    with op.batch_alter_table('deal_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_documents_inquiry_id'), ['inquiry_id'], unique=False)

    op.create_table('stage_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('from_stage', sa.String(length=20), nullable=True),
    sa.Column('to_stage', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('by', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('draft_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_stage_changes_draft_id_drafts')),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_stage_changes_inquiry_id_inquiries')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_stage_changes_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_changes'))
    )
    with op.batch_alter_table('stage_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stage_changes_inquiry_id'), ['inquiry_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stage_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stage_changes_inquiry_id'))

    op.drop_table('stage_changes')
    with op.batch_alter_table('deal_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_documents_inquiry_id'))

    op.drop_table('deal_documents')
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_inquiry_id'))
        batch_op.drop_index(batch_op.f('ix_samples_expected_at'))
        batch_op.drop_index(batch_op.f('ix_samples_buyer_id'))

    op.drop_table('samples')
    with op.batch_alter_table('rfq_leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rfq_leads_created_at'))

    op.drop_table('rfq_leads')
