"""The hall manager's actions on one waiting ticket: remove it (the visitor left), or send it to one counter.

(The hall manager issues tickets for visitors through :meth:`Issuing.issue_ticket` with ``operator``.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cherga.broker_bridge.contract import TicketInfo
from cherga.server.core import tickets as core
from cherga.server.core.tickets import EventKind
from cherga.server.errors import Conflict
from cherga.server.service.commands import Applied, CommandRunner
from cherga.server.store import Tx


def _ticket_answer(stored: Mapping[str, Any]) -> TicketInfo:
    return TicketInfo.model_validate(stored["ticket"])


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
                tx.save_counter(self.office, cv.row(counter))
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
