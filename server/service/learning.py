"""What the wait predictor learns from the office: planned breaks, calls, pauses, the state after a restart.

An estimate is advice: a predictor's fault is logged and never fails a committed action.
"""

from __future__ import annotations

import datetime as dt
import logging

from cherga.server.core.numbering import office_day
from cherga.server.core.tickets import Ticket
from cherga.server.service.base import ServiceBase

log = logging.getLogger("cherga.server.service")


class Learning(ServiceBase):
    """Extends :class:`ServiceBase` with what the wait predictor is told."""

    def _office_breaks(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        return [b.on(day, self.config.office.tz) for b in self.config.hours.breaks]

    def _plan_breaks(self, now: dt.datetime) -> None:
        """Once a day: the office's breaks (``hours.breaks``) are every front-office counter's planned pauses."""
        day = office_day(now, self.config.office.tz)
        if day == self._breaks_planned:
            return
        self._breaks_planned = day
        for start, end in self._office_breaks(day):
            for c in self.config.counters:
                if not c.back_office:
                    self._feed.planned_break(c.id, start, end)

    def _break_near(self, now: dt.datetime) -> bool:
        """Is a pause now the office's planned break (under way, or starting within 15 minutes)?"""
        return any(start - dt.timedelta(minutes=15) <= now < end
                   for start, end in self._office_breaks(office_day(now, self.config.office.tz)))

    def _learn(self, counter: str, now: dt.datetime, *, called: Ticket | None = None, paused: bool = False) -> None:
        """After a committed counter change, tell the predictor what the simulator tells it at that moment."""
        try:
            self._plan_breaks(now)
            status = self._counters[counter].status
            if called is not None:
                self._feed.called(called, now)
            elif paused:
                self._feed.paused(counter, now, planned=self._break_near(now))
            elif status == "closed":
                self._feed.closed(counter, now)
            elif status == "idle":
                self._feed.idle(counter, now)
        except Exception:  # an estimate is advice: a predictor's fault must not fail a committed action
            log.exception("the wait predictor failed to learn from counter %s", counter)

    def _seed_predictor(self) -> None:
        """After a start or a reload: tell the predictor what the store knows (queues, counters)."""
        try:
            self._plan_breaks(self.now())
            for s in self.config.services:
                self._feed.queue(s.id, self._view.waiting_for(s.id))
            for cid, cv in self._counters.items():
                rec = self._view.get(cv.ticket_id) if cv.ticket_id else None
                if cv.status in ("calling", "serving") and rec is not None:
                    self._feed.called(rec.ticket, rec.ticket.called_at or cv.updated_at)
                elif cv.status == "paused":
                    self._feed.paused(cid, cv.updated_at, planned=self._break_near(cv.updated_at))
                elif cv.status == "idle":
                    self._feed.idle(cid, cv.updated_at)
        except Exception:
            log.exception("the wait predictor could not learn the state after a restart; it starts afresh")
