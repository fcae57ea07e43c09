"""What the live ticket page says about one ticket, in its holder's language: a pure function of facts.

:func:`ticket_view` turns a ticket (its public :class:`~cherga.broker_bridge.contract.TicketInfo`
plus the core :class:`~cherga.server.core.tickets.Ticket` facts the info leaves out: recalls, a
transfer, a postponement, why it ended) into the page's words and flags. No I/O and no clock of
its own: the routes pass ``now`` and whether the visit was rated.

The states a citizen sees (``ViewState.state``), never the internal status words:

``waiting`` · ``postponed`` (sent away for a while, keeps the place) · ``transferred`` (sent on to
another service or counter) · ``calls_stopped`` (still waiting, but the closing rule "stop" has
stopped calls for its service today: it will not be called; the page offers booking) · ``called`` · ``recalled`` · ``serving`` · ``served`` (with the
rating while it is not rated) · ``no_show`` (with what to do now) · ``cancelled``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from cherga.broker_bridge.contract import TicketInfo
from cherga.i18n import Catalog
from cherga.kiosk.i18n import wait_line
from cherga.server.core.tickets import Ticket
from cherga.server.siteconfig import SiteConfig

#: the rating row, best first: the score each button sends (1 = best face, as on the pads)
RATING_SCORES = (1, 2, 3, 4)


@dataclasses.dataclass(frozen=True)
class ViewState:
    """The page's words for one ticket at one moment (all already in the reader's language)."""

    state: str
    label: str
    service: str
    headline: str  # the big line: "Please go to counter 5", "Please wait to be called"
    counter: str | None = None  # the counter number to show large while called or served there
    lines: tuple[str, ...] = ()  # people ahead, the forecast, the appointment time, what to do now
    can_rate: bool = False
    rated: bool = False
    final: bool = False  # nothing will change any more (the live stream may end)
    # Changes exactly when the holder must be alerted again (a new call or a recall): the page chimes on it.
    alert: str = ""
    offer_booking: bool = False  # the page links to the office's booking page (calls stopped for today)


def _counter_number(config: SiteConfig, counter: str | None) -> str | None:
    if not counter:
        return None
    try:
        return config.counter(counter).number
    except KeyError:
        return None


def ticket_view(info: TicketInfo, ticket: Ticket | None, config: SiteConfig, t: Catalog, lang: str,
                now: dt.datetime, *, rated: bool = False, calls_stopped: bool = False) -> ViewState:
    """The words for ``info`` (and the facts of ``ticket``, when known) in ``lang``'s catalog ``t``;
    ``calls_stopped``: the closing rule has stopped calls for the ticket's service today (issue 20)."""
    try:
        service = config.service(info.service).names.get(lang)
    except KeyError:
        service = ""
    tz = config.office.tz
    label = info.label
    counter = info.counter_number or _counter_number(config, info.counter)
    status = info.status
    if status == "waiting" and calls_stopped:
        # No forecast and no place in the queue to speak of: waiting on would be for nothing today.
        return ViewState("calls_stopped", headline=t["calls_stopped_title"], lines=(t["calls_stopped_what_now"],),
                         offer_booking=True, label=label, service=service)
    if status == "waiting":
        lines: list[str] = []
        if info.people_ahead is not None:
            lines.append(t["you_are_next"] if info.people_ahead == 0 else t["people_ahead"].format(n=info.people_ahead))
        lines.append(wait_line(lang, info.wait_min, info.wait_max_min))  # as the kiosk printed it
        if ticket is not None and ticket.appointment_at is not None:
            lines.append(t["appointment_at"].format(time=ticket.appointment_at.astimezone(tz).strftime("%H:%M")))
        called_before = ticket is not None and ticket.first_called_at is not None
        if called_before and ticket is not None and ticket.not_before is not None:
            head = t["postponed_title"]
            if ticket.not_before > now:
                lines.append(t["postponed_until"].format(time=ticket.not_before.astimezone(tz).strftime("%H:%M")))
            return ViewState("postponed", headline=head, lines=tuple(lines), label=label, service=service)
        target = _counter_number(config, ticket.target_counter) if ticket is not None else None
        if target:  # sent to one counter (a transfer, or the hall manager's choice): only that one calls
            lines.insert(0, t["transferred_counter"].format(n=target))
        if called_before:
            if not target:
                lines.insert(0, t["transferred_service"].format(service=service))
            return ViewState("transferred", headline=t["transferred_title"], lines=tuple(lines), label=label, service=service)
        return ViewState("waiting", headline=t["please_wait"], lines=tuple(lines), label=label, service=service)
    if status == "called":
        recalls = ticket.recalls if ticket is not None else 0
        called_at = info.issued_at if ticket is None or ticket.called_at is None else ticket.called_at
        alert = f"{info.ticket_id}:{counter}:{called_at.isoformat()}:{recalls}"
        state = "recalled" if recalls else "called"
        head = t["recalled_title"] if recalls else t["called_title"]
        return ViewState(state, headline=head, counter=counter, lines=(t["go_to_counter"].format(n=counter),),
                         alert=alert, label=label, service=service)
    if status == "serving":
        return ViewState("serving", headline=t["serving_title"].format(n=counter), counter=counter, label=label, service=service)
    if status == "done":
        can_rate = not rated and info.counter is not None
        lines = [t["rate_prompt"]] if can_rate else ([t["rated_thanks"]] if rated else [])
        return ViewState("served", headline=t["served_title"], lines=tuple(lines), can_rate=can_rate, rated=rated,
                         final=not can_rate, label=label, service=service)
    if status == "no_show":
        return ViewState("no_show", headline=t["no_show_title"], lines=(t["no_show_what_now"],), final=True, label=label, service=service)
    # cancelled (the hall manager removed it, the visitor left, or the office day ended)
    why = ticket.reason if ticket is not None else None
    what_now = t["cancelled_day_closed"] if why == "day_closed" else t["cancelled_what_now"]
    return ViewState("cancelled", headline=t["cancelled_title"], lines=(what_now,), final=True, label=label, service=service)
