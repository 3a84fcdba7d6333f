"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 00:50:24.718843
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('buyers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company', sa.String(length=300), nullable=False),
    sa.Column('contact_name', sa.String(length=300), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('buyer_type', sa.String(length=40), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('phone', sa.String(length=100), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_followup_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyers'))
    )
    with op.batch_alter_table('buyers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_buyers_company'), ['company'], unique=False)
        batch_op.create_index(batch_op.f('ix_buyers_next_followup_at'), ['next_followup_at'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('template', sa.String(length=300), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('segment', sa.JSON(), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('mailboxes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('last_poll_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_poll_ok_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failures_in_row', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailboxes')),
    sa.UniqueConstraint('name', name=op.f('uq_mailboxes_name'))
    )
    op.create_table('buyer_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_buyer_addresses_buyer_id_buyers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyer_addresses')),
    sa.UniqueConstraint('address', name=op.f('uq_buyer_addresses_address'))
    )
    with op.batch_alter_table('buyer_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_buyer_addresses_buyer_id'), ['buyer_id'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('outgoing_message_id', sa.String(length=998), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_deliveries_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_deliveries_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('campaign_id', 'buyer_id', name=op.f('uq_deliveries_campaign_id_buyer_id')),
    sa.UniqueConstraint('outgoing_message_id', name=op.f('uq_deliveries_outgoing_message_id'))
    )
    op.create_table('folder_cursors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('folder', sa.String(length=500), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_folder_cursors_mailbox_id_mailboxes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_folder_cursors')),
    sa.UniqueConstraint('mailbox_id', 'folder', name=op.f('uq_folder_cursors_mailbox_id_folder'))
    )
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=True),
    sa.Column('folder', sa.String(length=500), nullable=True),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('uid', sa.BigInteger(), nullable=True),
    sa.Column('source_key', sa.String(length=255), nullable=True),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('dedup_key', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('stored', 'processed', 'failed', 'quarantined', name='messagestate', native_enum=False, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('from_addr', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('buyer_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_messages_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_messages_mailbox_id_mailboxes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('mailbox_id', 'folder', 'source_key', name=op.f('uq_messages_mailbox_id_folder_source_key')),
    sa.UniqueConstraint('mailbox_id', 'folder', 'uidvalidity', 'uid', name=op.f('uq_messages_mailbox_id_folder_uidvalidity_uid'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index('ix_messages_dedup', ['mailbox_id', 'folder', 'dedup_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_from_addr'), ['from_addr'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_message_id'), ['message_id'], unique=False)
        batch_op.create_index('ix_messages_state', ['state'], unique=False)

    op.create_table('polls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fetched', sa.Integer(), nullable=False),
    sa.Column('stored', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_polls_mailbox_id_mailboxes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_polls'))
    )
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_polls_mailbox_id'), ['mailbox_id'], unique=False)

    op.create_table('inquiries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('products', sa.JSON(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('stage', sa.Enum('new', 'quoted', 'negotiating', 'sample', 'confirmed', 'contract', 'won', 'lost', 'dormant', name='stage', native_enum=False, length=20), nullable=False),
    sa.Column('stage_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_inquiries_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_inquiries_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inquiries')),
    sa.UniqueConstraint('message_id', name=op.f('uq_inquiries_message_id'))
    )
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inquiries_buyer_id'), ['buyer_id'], unique=False)

    op.create_table('raw_messages',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_raw_messages_message_id_messages')),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_raw_messages'))
    )
    op.create_table('drafts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('state', sa.Enum('pending', 'approved', 'sending', 'sent', 'unknown', 'failed', 'rejected', name='draftstate', native_enum=False, length=20), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=True),
    sa.Column('inquiry_id', sa.Integer(), nullable=True),
    sa.Column('in_reply_to_message', sa.Integer(), nullable=True),
    sa.Column('outgoing_message_id', sa.String(length=998), nullable=False),
    sa.Column('to_addr', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_drafts_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['in_reply_to_message'], ['messages.id'], name=op.f('fk_drafts_in_reply_to_message_messages')),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_drafts_inquiry_id_inquiries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drafts')),
    sa.UniqueConstraint('outgoing_message_id', name=op.f('uq_drafts_outgoing_message_id'))
    )
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drafts_buyer_id'), ['buyer_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('draft_id', sa.String(length=40), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_events_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_events_draft_id_drafts')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_events_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_buyer_id'), ['buyer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_buyer_id'))
        batch_op.drop_index(batch_op.f('ix_events_at'))

    op.drop_table('events')
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drafts_buyer_id'))

    op.drop_table('drafts')
    op.drop_table('raw_messages')
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inquiries_buyer_id'))

    op.drop_table('inquiries')
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_polls_mailbox_id'))

    op.drop_table('polls')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_state')
        batch_op.drop_index(batch_op.f('ix_messages_message_id'))
        batch_op.drop_index(batch_op.f('ix_messages_from_addr'))
        batch_op.drop_index('ix_messages_dedup')
        batch_op.drop_index(batch_op.f('ix_messages_buyer_id'))

    op.drop_table('messages')
    op.drop_table('folder_cursors')
    op.drop_table('deliveries')
    with op.batch_alter_table('buyer_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buyer_addresses_buyer_id'))

    op.drop_table('buyer_addresses')
    op.drop_table('mailboxes')
    op.drop_table('campaigns')
    with op.batch_alter_table('buyers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buyers_next_followup_at'))
        batch_op.drop_index(batch_op.f('ix_buyers_company'))

    op.drop_table('buyers')
