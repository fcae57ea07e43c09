"""The tables of the store, as SQLAlchemy Core metadata (the migrations create the same shape).

Times are stored as naive UTC (:class:`UTCDateTime` converts), so SQLite and PostgreSQL keep the
same values. ``events`` is append-only: reports are built from it, nothing updates or deletes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime in, the same instant (aware, UTC) out, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware one")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite without type detection
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC)


metadata = MetaData()

tickets = Table(
    "tickets", metadata,
    Column("id", String(40), primary_key=True),
    Column("office", String(40), nullable=False),
    Column("service", String(40), nullable=False),
    Column("number_service", String(40), nullable=False),  # the service the number was drawn for
    Column("purpose", String(16), nullable=False),
    Column("prefix", String(4), nullable=False),
    Column("number", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("language", String(4), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("priority", String(40)),
    Column("appointment_at", UTCDateTime),
    Column("status", String(16), nullable=False),
    Column("queued_at", UTCDateTime),
    Column("not_before", UTCDateTime),
    Column("target_counter", String(40)),
    Column("return_to", String(40)),
    Column("return_service", String(40)),
    Column("counter", String(40)),
    Column("operator", String(64)),
    Column("called_at", UTCDateTime),
    Column("first_called_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("recalls", Integer, nullable=False, default=0),
    Column("result", String(40)),
    Column("reason", Text),
    Column("why", JSON),  # the scheduler's reason as facts (scheduling.Decision.why)
    Column("plan", JSON),  # services still to visit (a life-situation bundle)
    Column("source", String(80)),
    Column("version", Integer, nullable=False, default=1),  # bumped by every update (compare-and-set)
    UniqueConstraint("office", "number_service", "day", "number", name="uq_ticket_number"),
)
Index("ix_tickets_office_status", tickets.c.office, tickets.c.status)

events = Table(
    "events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("office", String(40), nullable=False),
    Column("ticket_id", String(40)),
    Column("service", String(40)),
    Column("counter", String(40)),
    Column("operator", String(64)),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    # The seq the event had in its own office's database, for an event that came up from an office with
    # its own server (server.region.intake, issue 21); null for an event written here. Unique per office:
    # a batch delivered twice can never store an event twice.
    Column("origin_seq", Integer),
)
Index("ix_events_office_at", events.c.office, events.c.at)
Index("ix_events_ticket", events.c.ticket_id)
Index("uq_events_office_origin_seq", events.c.office, events.c.origin_seq, unique=True)

commands = Table(
    "commands", metadata,
    Column("office", String(40), primary_key=True),
    Column("command_id", String(80), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("result", JSON, nullable=False),
)

number_counters = Table(
    "number_counters", metadata,
    Column("office", String(40), primary_key=True),
    Column("service", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("range", String(16), primary_key=True),
    Column("last", Integer, nullable=False),
)

counter_states = Table(
    "counter_states", metadata,
    Column("office", String(40), primary_key=True),
    Column("counter", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("operator", String(64)),
    Column("pause_reason", String(80)),
    Column("ticket_id", String(40)),
    Column("rateable_ticket", String(40)),
    Column("seq", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
)

staff = Table(
    "staff", metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(120), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200)),
    Column("pin_hash", String(200)),
    Column("pin_tag", String(32), index=True),  # server.auth.pin_tag: a PIN's account in one lookup
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    # The offices the account may act on (issue 21), ids separated by spaces; null: every office this
    # database serves (a regional administrator, and every account made before 0010 on a one-office server).
    Column("offices", String(400)),
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # server.security.sessions: the office whose server issued the token (another office's server on
    # the same database refuses it) and when it was last used (idle expiry). Null: issued before 0007.
    Column("office", String(40)),
    Column("last_seen_at", UTCDateTime),
)

appointments = Table(
    "appointments", metadata,
    Column("code", String(32), primary_key=True),
    Column("office", String(40), nullable=False),
    Column("service", String(40), nullable=False),
    Column("slot", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # booked | checked_in
    Column("ticket_id", String(40)),
    Column("source", String(80)),
    Column("created_at", UTCDateTime, nullable=False),
    # Which of the slot's places this booking holds (0 .. capacity-1). Unique among the places still
    # held, so two server processes can never both take a slot's last place.
    Column("seat", Integer),
)
_HELD = "status IN ('booked', 'checked_in')"
Index("appointments_seat", appointments.c.office, appointments.c.service, appointments.c.slot, appointments.c.seat,
      unique=True, sqlite_where=text(_HELD), postgresql_where=text(_HELD))

ratings = Table(
    "ratings", metadata,
    Column("ticket_id", String(40), primary_key=True),
    Column("office", String(40), nullable=False),
    Column("service", String(40)),
    Column("counter", String(40)),
    Column("operator", String(64)),
    Column("score", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# One row per (node, token) a provisioned node enrolled with (server.enrollment). A reinstated
# node gets a fresh token, so it enrolls again under a new row; the old one stays as history.
node_enrollments = Table(
    "node_enrollments", metadata,
    Column("office", String(40), primary_key=True),
    Column("node", String(40), primary_key=True),
    Column("token_sha256", String(64), primary_key=True),
    Column("command_id", String(80), nullable=False),  # the enroll request's id (a resend gets "ok" again)
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("address", String(64)),
)

# The analytics aggregates (server.analytics.store): one row per office and closed local day with
# that day's hourly cells as JSON text [[hour, service, counter, operator, *Cell.to_row()], ...]
# (a month is ~30 rows, parsed by one json.loads each, not ~35,000 cell rows). No ticket ids and
# no visitor data; employees' ids stay (reports per employee must survive retention).
analytics_day_cells = Table(
    "analytics_day_cells", metadata,
    Column("office", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("cells", Text, nullable=False),
    # The same day summed for a network report (server/analytics/network.py): per service, and the
    # desk hours the staff rotation needs. Null for days folded before it existed (made on next use).
    Column("summary", Text, nullable=True),
)

# Which days are folded into ``analytics_day_cells``, up to which event, and whether their raw
# events were pruned (then the cells are all there is).
analytics_days = Table(
    "analytics_days", metadata,
    Column("office", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last_seq", Integer, nullable=False),
    Column("pruned", Boolean, nullable=False),
)

# Notifications (server.notify, issue 19). A contact is personal data left with explicit consent for
# one ticket or booking; it and the bodies of the messages sent to it are deleted after the office's
# notify.retention_days. A walk-in ticket without consent has no row here.
notify_contacts = Table(
    "notify_contacts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("office", String(40), nullable=False),
    Column("ticket_id", String(40), index=True),  # a ticket's contact, or
    Column("booking_code", String(32), index=True),  # a booking's (found again when it checks in)
    Column("channel", String(16), nullable=False),  # sms | email | telegram
    Column("address", String(254), nullable=False),
    Column("language", String(4), nullable=False),
    Column("consent_version", String(16), nullable=False),  # which consent text the citizen agreed to
    Column("consent_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# The durable outbox: the queue's side only ever inserts a row; the sender delivers it. ``dedup_key``
# (contact, kind and the event that caused it) is unique, so one event never queues a message twice.
notify_outbox = Table(
    "notify_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("office", String(40), nullable=False),
    Column("dedup_key", String(160), nullable=False, unique=True),
    Column("contact_id", Integer),  # null once retention deleted the contact
    Column("ticket_id", String(40)),
    Column("booking_code", String(32)),
    Column("kind", String(24), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("body", Text),  # null once retention deleted it
    Column("status", String(12), nullable=False),  # pending | sending | sent | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),  # not before (a reminder waits for its day)
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),  # a sender took it (a stale claim is a sender that died)
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
)
Index("ix_notify_outbox_due", notify_outbox.c.status, notify_outbox.c.next_attempt_at)

# How far each office's event log has been read for notifications (the follower resumes here).
notify_cursor = Table(
    "notify_cursor", metadata,
    Column("office", String(40), primary_key=True),
    Column("last_seq", Integer, nullable=False),
)

# server.security.audit: who did what, when and from where (staff, administrators, node enrolment).
# Append-only: the code has no update or delete but retention's; triggers (migration 0007) refuse
# UPDATE always and DELETE of rows younger than the retention floor, on SQLite and PostgreSQL.
audit_log = Table(
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("office", String(40)),
    Column("actor", String(64)),  # a staff username, a node id, or null (an unknown caller)
    Column("actor_kind", String(12), nullable=False),  # staff | node | anonymous
    Column("action", String(64), nullable=False),  # e.g. sign_in, sign_in_refused, POST /panel/manager/cancel
    Column("target", String(160)),
    Column("outcome", String(16), nullable=False),  # ok | refused | locked
    Column("address", String(64)),  # the caller's IP address (or the node's)
    Column("data", JSON, nullable=False),
)
Index("ix_audit_log_at", audit_log.c.at)

# server.security.throttle: wrong passwords per account and per address, shared by every server
# process on the database. ``key`` is "user:NAME" or "addr:IP"; a row is deleted by a good sign-in.
auth_throttle = Table(
    "auth_throttle", metadata,
    Column("key", String(120), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
)

# Every saved office configuration (server.admin.versions): the whole site config as YAML text, who
# saved it, when and why. Append-only: going back to an earlier version saves it again as a new one.
config_versions = Table(
    "config_versions", metadata,
    Column("office", String(40), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("saved_at", UTCDateTime, nullable=False),
    Column("author", String(64), nullable=False),
    Column("comment", Text, nullable=False),
    Column("yaml", Text, nullable=False),
)

# The region's downward configuration (server.region.downward, issue 21), kept in the region's database:
# per office, the version of the last push and a hash of its content. The version grows by one only when
# the content changes, so a push made again without a change keeps its number and offices ignore it.
region_config_pushes = Table(
    "region_config_pushes", metadata,
    Column("office", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("pushed_at", UTCDateTime, nullable=False),
)

# What an office took from the region (server.region.apply), kept in the office's database: the
# newest push applied (older or equal ones are ignored, also after a restart), the config version it
# saved, and the staff accounts the region manages here (a later push that drops one disables it;
# accounts made at the office itself are not in this list and are never touched).
region_config_applied = Table(
    "region_config_applied", metadata,
    Column("office", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
    Column("config_version", Integer),  # the config_versions number it saved; null: the config was unchanged
    Column("staff", JSON, nullable=False),  # usernames the region manages at this office
)

# How far the region holds each uploading office's event log (server.region.intake): the office's own
# seq of the last event stored in order. Updated in the same transaction as the events it covers.
region_cursors = Table(
    "region_cursors", metadata,
    Column("office", String(40), primary_key=True),
    Column("upto", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
