"""The notification tables (contacts, the outbox, the event cursor) on SQLite and PostgreSQL: I/O only.

Guarantees, relied on by :mod:`.follower` and :mod:`.sender`:

* :meth:`Outbox.enqueue` inserts with ``ON CONFLICT (dedup_key) DO NOTHING``: an event read twice
  queues its message once.
* :meth:`Outbox.claim` takes due rows by compare-and-set on (status, claimed_at): two senders never
  hold the same row; a claim older than ``lease`` belongs to a sender that died and is taken again
  (at-least-once: the message it may have sent is sent again, under the same message id).
* :meth:`Outbox.purge` (retention) deletes contacts and blanks message texts older than the
  office's retention period; the outbox rows stay, without personal data, for the counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cherga.server.db import schema
from cherga.server.notify.plan import ContactRef, Planned
from cherga.server.store import Store

C = schema.notify_contacts
O = schema.notify_outbox  # noqa: E741 - the table's short name, as in the queries below
K = schema.notify_cursor


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row a sender holds: what to send, to whom."""

    id: int
    kind: str
    channel: str
    address: str | None  # None: the contact was deleted (retention) before the message went
    body: str
    attempts: int
    due_at: dt.datetime
    booking_code: str | None
    claimed_at: dt.datetime


class Outbox:
    """The notification tables of one office in ``store``."""

    def __init__(self, store: Store, office: str) -> None:
        self.store = store
        self.office = office

    # --- contacts ---------------------------------------------------------------------------------

    def add_contact(self, *, channel: str, address: str, language: str, consent_version: str, now: dt.datetime,
                    ticket_id: str | None = None, booking_code: str | None = None) -> ContactRef:
        """Store a contact (replacing the same channel's earlier one for this ticket or booking).

        The same address again (a resent form) is the same contact: its messages are not queued twice."""
        assert (ticket_id is None) != (booking_code is None)
        owner = C.c.ticket_id == ticket_id if ticket_id else C.c.booking_code == booking_code
        with self.store.transaction() as tx:
            same = tx.conn.execute(select(C.c.id, C.c.language).where(
                C.c.office == self.office, owner, C.c.channel == channel, C.c.address == address)).first()
            if same is not None:
                return ContactRef(int(same[0]), channel, same[1])
            tx.conn.execute(delete(C).where(C.c.office == self.office, owner, C.c.channel == channel))
            res = tx.conn.execute(insert(C).values(
                office=self.office, ticket_id=ticket_id, booking_code=booking_code, channel=channel, address=address,
                language=language, consent_version=consent_version, consent_at=now, created_at=now))
            cid = int(res.inserted_primary_key[0]) if res.inserted_primary_key else 0
        return ContactRef(cid, channel, language)

    def contacts_for(self, *, ticket_id: str | None = None, booking_code: str | None = None) -> list[ContactRef]:
        conds = []
        if ticket_id:
            conds.append(C.c.ticket_id == ticket_id)
        if booking_code:
            conds.append(C.c.booking_code == booking_code)
        if not conds:
            return []
        with self.store.reading() as conn:
            rows = conn.execute(select(C.c.id, C.c.channel, C.c.language).where(C.c.office == self.office, or_(*conds))
                                .order_by(C.c.id)).all()
        return [ContactRef(int(r[0]), r[1], r[2]) for r in rows]

    def link_booking(self, booking_code: str, ticket_id: str) -> None:
        """A booked visitor checked in: the booking's contacts are the ticket's from now on."""
        with self.store.transaction() as tx:
            tx.conn.execute(update(C).where(C.c.office == self.office, C.c.booking_code == booking_code)
                            .values(ticket_id=ticket_id))

    def ticket_ids_with_contacts(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        if not wanted:
            return set()
        with self.store.reading() as conn:
            found: set[str] = set()
            for i in range(0, len(wanted), 500):
                found.update(r[0] for r in conn.execute(select(C.c.ticket_id).where(
                    C.c.office == self.office, C.c.ticket_id.in_(wanted[i:i + 500]))).all())
        return found

    # --- the outbox -------------------------------------------------------------------------------

    def enqueue(self, planned: Sequence[Planned], bodies: Sequence[str], now: dt.datetime, *,
                ticket_id: str | None = None, booking_code: str | None = None, cursor: int | None = None) -> int:
        """Queue each planned message once (a second enqueue of the same key does nothing); how many are new.

        ``cursor``: the event seq these messages come from, saved in the same transaction (one fsync)."""
        if not planned and cursor is None:
            return 0
        rows = [{"office": self.office, "dedup_key": p.dedup_key, "contact_id": p.contact.id,
                 "ticket_id": p.ticket_id or ticket_id, "booking_code": booking_code, "kind": p.kind,
                 "channel": p.contact.channel, "body": body, "status": "pending", "attempts": 0, "created_at": now,
                 "due_at": p.due_at, "next_attempt_at": p.due_at} for p, body in zip(planned, bodies, strict=True)]
        new = 0
        with self.store.transaction() as tx:
            if rows:
                ins = (postgresql.insert if tx.conn.dialect.name == "postgresql" else sqlite.insert)(O)
                res = tx.conn.execute(ins.on_conflict_do_nothing(index_elements=[O.c.dedup_key]), rows)
                new = max(0, int(res.rowcount or 0))
            if cursor is not None:
                self._save_cursor(tx.conn, cursor)
        return new

    def claim(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> list[Claimed]:
        """Take up to ``limit`` due messages (and ones whose sender died ``lease`` ago) for sending."""
        stale = now - lease
        due = or_(and_(O.c.status == "pending", O.c.next_attempt_at <= now),
                  and_(O.c.status == "sending", O.c.claimed_at < stale))
        with self.store.reading() as conn:
            rows = conn.execute(
                select(O.c.id, O.c.status, O.c.claimed_at).where(O.c.office == self.office, due)
                .order_by(O.c.next_attempt_at, O.c.id).limit(limit)).all()
        if not rows:
            return []  # the common case: no write transaction at all
        with self.store.transaction() as tx:
            # One statement; RETURNING names exactly the rows this claim changed (another sender's claim of
            # the same moment changes none of them: the condition is re-checked row by row under the write).
            taken = [int(r[0]) for r in tx.conn.execute(
                update(O).where(O.c.id.in_([int(r[0]) for r in rows]), due)
                .values(status="sending", claimed_at=now).returning(O.c.id)).all()]
            if not taken:
                return []
            got = tx.conn.execute(
                select(O.c.id, O.c.kind, O.c.channel, C.c.address, O.c.body, O.c.attempts, O.c.due_at,
                       O.c.booking_code).select_from(O.outerjoin(C, C.c.id == O.c.contact_id))
                .where(O.c.id.in_(taken)).order_by(O.c.id)).all()
            cancelled = self._cancelled_bookings(tx.conn, {r[7] for r in got if r[7] and r[1].startswith("reminder")})
        return [Claimed(int(r[0]), r[1], r[2], None if r[7] in cancelled and r[1].startswith("reminder") else r[3],
                        r[4] or "", int(r[5]), r[6], r[7], now) for r in got]

    def _cancelled_bookings(self, conn: Any, codes: set[str]) -> set[str]:
        """Of ``codes``, the bookings no longer waiting (cancelled, missed or already checked in)."""
        if not codes:
            return set()
        a = schema.appointments
        rows = conn.execute(select(a.c.code).where(a.c.code.in_(list(codes)), a.c.status != "booked")).all()
        return {r[0] for r in rows}

    def finish(self, results: Sequence[tuple[Claimed, str, str | None, dt.datetime | None]], now: dt.datetime) -> None:
        """Record each claimed row's outcome: ``sent``, ``retry`` (at the given time), ``deferred``
        (put back untried: its gateway just failed), ``failed`` or ``cancelled``."""
        if not results:
            return
        with self.store.transaction() as tx:
            for row, outcome, error, retry_at in results:
                tried = outcome not in ("cancelled", "deferred")
                values: dict[str, Any] = {"attempts": row.attempts + tried, "last_error": error, "claimed_at": None}
                if outcome == "sent":
                    values.update(status="sent", sent_at=now)
                elif outcome in ("retry", "deferred"):
                    values.update(status="pending", next_attempt_at=retry_at)
                else:
                    values.update(status=outcome)
                # Only our own claim: a sender that outlived its lease must not overwrite the next one's.
                tx.conn.execute(update(O).where(O.c.id == row.id, O.c.status == "sending",
                                                O.c.claimed_at == row.claimed_at).values(**values))

    def counts(self) -> dict[tuple[str, str], int]:
        """(channel, status) → messages, for /metrics."""
        with self.store.reading() as conn:
            rows = conn.execute(select(O.c.channel, O.c.status, func.count()).where(O.c.office == self.office)
                                .group_by(O.c.channel, O.c.status)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def rows(self) -> list[dict[str, Any]]:
        """Every outbox row of the office (tests, audits)."""
        with self.store.reading() as conn:
            return [dict(r) for r in conn.execute(select(O).where(O.c.office == self.office).order_by(O.c.id))
                    .mappings().all()]

    # --- the event cursor -------------------------------------------------------------------------

    def cursor(self) -> int | None:
        with self.store.reading() as conn:
            v = conn.execute(select(K.c.last_seq).where(K.c.office == self.office)).scalar()
        return None if v is None else int(v)

    def set_cursor(self, seq: int) -> None:
        with self.store.transaction() as tx:
            self._save_cursor(tx.conn, seq)

    def _save_cursor(self, conn: Any, seq: int) -> None:
        pg = conn.dialect.name == "postgresql"
        ins = (postgresql.insert if pg else sqlite.insert)(K)
        conn.execute(ins.values(office=self.office, last_seq=seq).on_conflict_do_update(
            index_elements=[K.c.office],
            set_={"last_seq": func.greatest(K.c.last_seq, seq) if pg else func.max(K.c.last_seq, seq)}))

    # --- retention --------------------------------------------------------------------------------

    def purge(self, now: dt.datetime, *, retain_days: int) -> tuple[int, int]:
        """Delete contacts and blank message texts older than ``retain_days``: (contacts, texts)."""
        cutoff = now - dt.timedelta(days=retain_days)
        with self.store.transaction() as tx:
            gone = tx.conn.execute(delete(C).where(C.c.office == self.office, C.c.created_at < cutoff)).rowcount
            blanked = tx.conn.execute(update(O).where(O.c.office == self.office, O.c.created_at < cutoff,
                                                      O.c.body.isnot(None)).values(body=None, contact_id=None)).rowcount
        return int(gone or 0), int(blanked or 0)
