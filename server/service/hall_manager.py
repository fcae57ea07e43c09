"""The hall manager's actions: remove a ticket (the visitor left), send a waiting ticket to one counter,
close a counter (its operator is signed out, it takes no calls and no sign-in) and open it again.

(The hall manager issues tickets for visitors through :meth:`Issuing.issue_ticket` with ``operator``.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cherga.broker_bridge.contract import CLOSED_BY_MANAGER, CounterState, TicketInfo
from cherga.server.core import tickets as core
from cherga.server.core.tickets import EventKind
from cherga.server.errors import Conflict
from cherga.server.service.commands import Applied, CommandRunner
from cherga.server.service.results import CounterView
from cherga.server.store import Tx


def _ticket_answer(stored: Mapping[str, Any]) -> TicketInfo:
    return TicketInfo.model_validate(stored["ticket"])


def _counter_answer(stored: Mapping[str, Any]) -> CounterState:
    return CounterState.model_validate(stored["counter"])


class HallManager(CommandRunner):
    """Extends :class:`CommandRunner` with the hall manager's actions on a waiting ticket."""

    def cancel_ticket(self, *, command_id: str, ticket_id: str, source: str, operator: str | None = None) -> TicketInfo:
        """A visitor leaves (or the hall manager removes a ticket): waiting or called → cancelled."""

        def operation(tx: Tx, now: dt.datetime) -> Applied[TicketInfo]:
            rec = self._live_ticket(ticket_id)
            gone = self._write(tx, rec, self._apply(core.cancel, rec.ticket, now=now, reason="cancelled"))
            self._event(tx, EventKind.CANCELLED, rec.ticket, now, counter=rec.ticket.counter,
                        operator=operator, source=source)
            counter = rec.ticket.counter
            if counter and self._counters[counter].ticket_id == ticket_id:
                cv = self._counters[counter]
                cv.ticket_id, cv.status, cv.seq, cv.updated_at = None, "idle", cv.seq + 1, now
                self._save_counter(tx, counter, cv)
            info = self.info(gone, now, estimate=False)

            def after_commit() -> None:
                self._view.put(gone)
                if counter:
                    self._learn(counter, now)
                self._notify([c for c in [counter, *self._affected_counters([rec.ticket.service])] if c],
                             now, hall=True, call=None)

            return Applied(info, {"ticket": info.model_dump(mode="json")}, after_commit)

        return self._run_command(command_id, "cancel_ticket", operation, _ticket_answer)

    def send_to_counter(self, *, command_id: str, ticket_id: str, to_counter: str, source: str,
                        operator: str | None = None) -> TicketInfo:
        """The hall manager sends a waiting ticket to one counter (a specialist, a desk with the right forms).

        Only that counter may call it from now on; it keeps its place in time, so it is not pushed back.
        """

        def operation(tx: Tx, now: dt.datetime) -> Applied[TicketInfo]:
            target = self._counter_cfg(to_counter)
            rec = self._live_ticket(ticket_id)
            if target.weight_for(rec.ticket.service) is None:
                raise Conflict("counter_does_not_serve", f"counter {target.id!r} does not serve {rec.ticket.service!r}",
                               params={"counter": target.id, "service": rec.ticket.service})
            sent = self._write(tx, rec, self._apply(core.reserve, rec.ticket, to_counter=target.id))
            self._event(tx, EventKind.RESERVED, sent.ticket, now, counter=target.id, operator=operator,
                        source=source, from_counter=rec.ticket.target_counter)
            info = self.info(sent, now)

            def after_commit() -> None:
                self._view.put(sent)
                self._notify(self._affected_counters([rec.ticket.service]), now, hall=True, call=None)

            return Applied(info, {"ticket": info.model_dump(mode="json")}, after_commit)

        return self._run_command(command_id, "send_to_counter", operation, _ticket_answer)

    def close_counter(self, *, command_id: str, counter: str, source: str, operator: str | None = None) -> CounterState:
        """The hall manager closes a counter: whoever is signed in there is signed out, and until it is opened
        again it calls nobody and nobody signs in. Refused while a visitor is called or served there."""
        return self._set_closed(command_id, counter, source, operator, closed=True)

    def open_counter(self, *, command_id: str, counter: str, source: str, operator: str | None = None) -> CounterState:
        """The hall manager opens a counter closed with :meth:`close_counter`: an operator may sign in again."""
        return self._set_closed(command_id, counter, source, operator, closed=False)

    def _set_closed(self, command_id: str, counter: str, source: str, operator: str | None, *,
                    closed: bool) -> CounterState:
        cfg = self._counter_cfg(counter)
        before: list[CounterView] = []

        def operation(tx: Tx, now: dt.datetime) -> Applied[CounterState]:
            cv = self._counters[counter]
            before.append(CounterView.of(cv.row(counter)))
            was_closed = cv.status == "closed" and cv.pause_reason == CLOSED_BY_MANAGER
            if closed:
                if cv.ticket_id and self._view.get(cv.ticket_id) is not None:
                    raise Conflict("ticket_in_progress",
                                   f"counter {cfg.number} has a visitor; finish, transfer or postpone first",
                                   params={"counter": cfg.id})
                if cv.operator is not None:
                    self._event(tx, EventKind.OPERATOR_SIGNED_OUT, None, now, counter=counter, operator=cv.operator,
                                reason=CLOSED_BY_MANAGER, by=operator, source=source)
                cv.operator, cv.status, cv.pause_reason = None, "closed", CLOSED_BY_MANAGER
            elif was_closed:
                cv.pause_reason = None
            if closed != was_closed:
                # An event of its own (beside the operator's sign-out), so reports can count closings and
                # openings; ``operator`` is the hall manager who did it.
                self._event(tx, EventKind.COUNTER_CLOSED if closed else EventKind.COUNTER_OPENED, None, now,
                            counter=counter, operator=operator, source=source)
            cv.seq += 1
            cv.updated_at = now
            self._save_counter(tx, counter, cv)
            state = self._counter_state(counter, now)

            def after_commit() -> None:
                self._learn(counter, now)
                self._notify([counter], now, hall=True, call=None)

            return Applied(state, {"counter": state.model_dump(mode="json")}, after_commit)

        def undo() -> None:
            if before:
                self._counters[counter] = before[0]

        kind = f"{'close' if closed else 'open'}_counter@{counter}"
        return self._run_command(command_id, kind, operation, _counter_answer, undo=undo)
