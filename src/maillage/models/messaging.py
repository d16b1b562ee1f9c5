"""Secure messaging between professionals (``maillage.messaging``): threads, their participants, messages, their
revisions and attachments, and each person's read mark.

A participant is a person (``user_id``) or a team mailbox (``team_kind`` + ``team_id``: a specialty line, a care
unit, an establishment's nursing team) that any current member can read and answer. Unread counts cost no count:
each message takes the thread's next ``seq`` and ``message_read.last_read_seq`` says how far a person has read,
so a thread's unread count is ``last_seq - last_read_seq``. The participant row repeats its thread's
``last_message_at`` so that one person's (or one team's) most recent threads are read from one index range.

Bodies, subjects, reasons and attachment names are sealed through the vault (``SealedText``); attachment contents
are vault blobs. A thread's subject is searchable only through ``subject_terms``: keyed hashes of its words
(``messaging.rules.subject_terms``), never the words themselves.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id
from maillage.kit.sealed import SealedText


class MessageThread(Base):
    __tablename__ = "message_thread"
    __table_args__ = (
        CheckConstraint("kind in ('direct', 'group', 'team')", name="kind_known"),
        CheckConstraint("last_seq >= 0", name="last_seq_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(SealedText("message_thread.subject"))
    subject_terms: Mapped[str] = mapped_column(String(1200), default="")
    patient_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("patient.id", ondelete="RESTRICT"), default=None, index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_message_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class MessageParticipant(Base):
    __tablename__ = "message_participant"
    __table_args__ = (
        CheckConstraint("(user_id is null) <> (team_id is null)", name="person_or_team"),
        CheckConstraint("(team_id is null) = (team_kind is null)", name="team_has_kind"),
        CheckConstraint("team_kind is null or team_kind in ('line', 'care_unit', 'nursing_team')",
                        name="team_kind_known"),
        Index("ix_message_participant_user_recent", "user_id", "last_message_at"),
        Index("ix_message_participant_team_recent", "team_id", "last_message_at"),
        Index("ix_message_participant_thread", "thread_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    thread_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("message_thread.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), default=None)
    team_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    added_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"), default=None)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    reason: Mapped[str | None] = mapped_column(SealedText("message_participant.reason"), default=None)
    access_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    removed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"), default=None)
    last_message_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class MessageRead(Base):
    """How far one person has read one thread (their receipt for every message up to ``last_read_seq``)."""

    __tablename__ = "message_read"

    thread_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("message_thread.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("thread_id", "seq"),
        CheckConstraint("seq > 0", name="seq_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    thread_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("message_thread.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(SealedText("message.body"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class MessageRevision(Base):
    """A message's earlier text, kept when it was corrected or withdrawn (the history shown under it)."""

    __tablename__ = "message_revision"
    __table_args__ = (CheckConstraint("kind in ('edit', 'withdraw')", name="kind_known"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("message.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(SealedText("message_revision.body"))
    replaced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class MessageAttachment(Base):
    """A file joined to a message: checked like every upload, its content a vault blob; ``filed_document_id`` once
    it was filed into the patient's documents."""

    __tablename__ = "message_attachment"
    __table_args__ = (CheckConstraint("size_bytes >= 0", name="size_non_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("message.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("message_thread.id", ondelete="CASCADE"),
                                                 index=True)
    blob_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("vault_blob.id"), unique=True)
    display_name: Mapped[str] = mapped_column(SealedText("message_attachment.display_name"))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    page_count: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    filed_document_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("document.id", ondelete="SET NULL"), default=None)
    filed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    filed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"), default=None)
