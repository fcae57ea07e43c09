"""What people see: a ticket's info (with its estimate), a counter's state, the hall board, the load, the
operator's waiting list. Reads only; they run under the office lock on the in-memory view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cherga.broker_bridge.contract import CounterState, HallState, ServiceLoad, TicketInfo
from cherga.server.core.scheduling import choose_next
from cherga.server.core.tickets import Ticket, TicketStatus, issue
from cherga.server.errors import Conflict, NotFound
from cherga.server.service.learning import Learning
from cherga.server.service.results import light_for
from cherga.server.store import TicketRecord


class Views(Learning):
    """Extends :class:`Learning` with the reads (ticket info, counter and hall state, load, lists)."""

    def info(self, rec: TicketRecord | Ticket, now: dt.datetime, *, estimate: bool = True,
             public: bool = False) -> TicketInfo:
        t = rec.ticket if isinstance(rec, TicketRecord) else rec
        ahead = wait = wait_max = None
        if estimate and t.status is TicketStatus.WAITING:
            waiting = self._view.waiting_for(t.service)
            if t.id not in self._view.waiting_by_service.get(t.service, ()):
                waiting.append(t)  # a ticket being issued is not in the view until its commit
            self._plan_breaks(now)
            est = self.predictor.estimate(t, waiting, self._open_counters_for(t.service), now)
            ahead, wait, wait_max = est.people_ahead, est.wait_min, est.wait_max_min
        number = None
        if t.counter:
            number = self.config.counter(t.counter).number if t.counter in self._counters else None
        end = t.called_at if t.called_at and t.status is not TicketStatus.WAITING else now
        return TicketInfo(
            ticket_id=t.id, label=t.label, prefix=t.prefix, number=t.number, service=t.service,
            purpose=t.purpose, status=t.status.value, issued_at=t.issued_at, language=t.language,  # type: ignore[arg-type]
            priority=t.priority, people_ahead=ahead, wait_min=wait, wait_max_min=wait_max, counter=t.counter, counter_number=number,
            status_url=f"{self.config.office.public_url.rstrip('/')}/t/{t.token}", token=t.token,
            waited_s=max(0.0, (end - t.waiting_since).total_seconds()), reason=None if public else t.reason,
            why=None if public or t.why is None else dict(t.why),
            origin=t.origin.value,  # type: ignore[arg-type]
        )

    def _counter_state(self, counter: str, now: dt.datetime) -> CounterState:
        cfg = self.config.counter(counter)
        cv = self._counters[counter]
        ticket = None
        if cv.ticket_id and (rec := self._view.get(cv.ticket_id)) is not None:
            ticket = self.info(rec, now, estimate=False)
        return CounterState(
            office=self.office, counter=counter, number=cfg.number, status=cv.status, ticket=ticket,
            operator=cv.operator, operator_name=self._operator_name(cv.operator),
            waiting=self._view.waiting_count(cfg), pause_reason=cv.pause_reason,
            rateable_ticket=cv.rateable_ticket, updated_at=cv.updated_at, seq=cv.seq,
        )

    def _operator_name(self, username: str | None) -> str | None:
        if username is None:
            return None
        if username not in self._names:
            account = self.store.staff(username)
            self._names[username] = account.display_name if account else username
        return self._names[username]

    def _load(self, now: dt.datetime) -> list[ServiceLoad]:
        out = []
        for s in self.config.services:
            n, mean_ts = self._view.service_stats(s.id)
            avg = max(0.0, (now.timestamp() - mean_ts) / 60) if n else 0.0
            open_ = sum(1 for c in self.config.counters_for(s.id)
                        if self._counters[c.id].status not in ("closed", "paused"))
            out.append(ServiceLoad(service=s.id, names=s.names.as_dict(), waiting=n,  # type: ignore[arg-type]
                                   counters_open=open_, avg_wait_min=round(avg, 1), light=light_for(avg)))
        return out

    def forecasts(self) -> dict[str, tuple[int | None, int | None]]:
        """Per walk-in service, what a ticket taken now would be told: (≈ minutes, at most minutes);
        (None, None) with no counter open or for a service taken by appointment only. For the
        public load page; the probe ticket is never stored and leaves the predictor's queue again."""
        out: dict[str, tuple[int | None, int | None]] = {}
        with self._lock:
            now = self.now()
            self._plan_breaks(now)
            for s in self.config.services:
                if s.appointment_only:
                    out[s.id] = (None, None)
                    continue
                waiting = self._view.waiting_for(s.id)
                probe = issue(ticket_id=f"forecast-{s.id}", token=f"forecast-{s.id}", office=self.office,
                              service=s.id, prefix=s.prefix, purpose=s.purposes[0], number=0, day=now.date(),
                              issued_at=now)
                est = self.predictor.estimate(probe, [*waiting, probe], self._open_counters_for(s.id), now)
                forget = getattr(self.predictor, "observe_queue", None)
                if forget is not None:
                    forget(s.id, waiting)
                out[s.id] = (est.wait_min, est.wait_max_min)
        return out

    def _hall_state(self, now: dt.datetime) -> HallState:
        ticker = self.config.display.ticker.as_dict() if self.config.display.ticker else {}
        return HallState(
            office=self.office, office_names=self.config.office.names.as_dict(),  # type: ignore[arg-type]
            languages=list(self.config.office.languages), calls=list(self._calls)[: self.config.display.recent_calls],
            load=self._load(now), ticker=ticker, updated_at=now, seq=self._hall_seq,  # type: ignore[arg-type]
        )

    def counter_state(self, counter: str) -> CounterState:
        self._counter_cfg(counter)
        with self._lock:
            return self._counter_state(counter, self.now())

    def hall_state(self) -> HallState:
        with self._lock:
            return self._hall_state(self.now())

    def load(self) -> list[ServiceLoad]:
        with self._lock:
            return self._load(self.now())

    def ticket_status(self, token: str) -> TicketInfo:
        """What the QR on a ticket shows: position, estimate, the counter that called it. No personal data."""
        with self._lock:
            now = self.now()
            tid = self._view.by_token.get(token)
            rec = self._view.get(tid) if tid else None
        if rec is None:
            rec = self.store.ticket_by_token(token)
            if rec is None or rec.ticket.office != self.office:
                raise NotFound("unknown_ticket", "no ticket with this token")
        with self._lock:
            return self.info(rec, now, public=True)

    def waiting_list(self, counter: str) -> list[TicketInfo]:
        """The tickets ``counter`` could call, best first (the operator panel's list)."""
        cfg = self._counter_cfg(counter)
        picked: dict[str, tuple[Ticket, str, Mapping[str, Any] | None]] = {}
        with self._lock:
            now = self.now()
            # The same candidates "next" is offered (reserved, booked, each group's head): a few dozen
            # tickets per pick whatever the queue's length, so the office lock is held for milliseconds.
            while len(picked) < 200:
                d = choose_next(cfg, self._view.candidates(cfg, now, exclude=picked), now, self.settings)
                if d is None:
                    break
                picked[d.ticket.id] = (d.ticket, d.reason, d.why)
        # Tickets are immutable: their page rows are built outside the lock.
        return [self.info(t, now, estimate=False).model_copy(
                    update={"reason": reason, "why": None if why is None else dict(why)})
                for t, reason, why in picked.values()]

    def waiting_overview(self, limit: int = 200) -> list[TicketInfo]:
        """The office's waiting tickets, longest wait first, at most ``limit`` (the hall manager's lists).

        One pass over the view: the lock is held only to copy the references (tickets are immutable);
        sorting and the rows are done outside it, so a page never holds up the queue.
        """
        with self._lock:
            now = self.now()
            waiting = [rec.ticket for rec in self._view.active.values() if rec.ticket.status is TicketStatus.WAITING]
        waiting.sort(key=lambda t: (t.waiting_since, t.number, t.id))
        return [self.info(t, now, estimate=False) for t in waiting[:limit]]

    def ticket(self, ticket_id: str) -> TicketInfo:
        with self._lock:
            found = self._view.get(ticket_id)
        rec = found or self.store.ticket(ticket_id)
        if rec is None or rec.ticket.office != self.office:
            raise NotFound("unknown_ticket", f"ticket {ticket_id!r} does not exist")
        with self._lock:
            return self.info(rec, self.now())

    def _live_ticket(self, ticket_id: str) -> TicketRecord:
        """A waiting or called ticket of this office; otherwise why not (unknown, or already finished)."""
        rec = self._view.get(ticket_id)
        if rec is None:
            stored = self.store.ticket(ticket_id)
            if stored is None or stored.ticket.office != self.office:
                raise NotFound("unknown_ticket", f"ticket {ticket_id!r} does not exist")
            raise Conflict("illegal_transition", f"ticket {stored.ticket.label} is {stored.ticket.status.value}")
        return rec

    def waiting_total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._view.waiting_by_service.values())
