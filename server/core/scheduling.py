"""Which ticket a counter gets next, and why.

The policy, in order:

1. a ticket reserved for this counter (a transfer to it, or a visitor returning to it), the one
   waiting longest first;
2. a checked-in booked visitor whose slot is due (slot minus ``call_window_s`` has passed),
   earliest slot first — unless a walk-in this counter may call has waited ``walk_in_bound_s``
   or longer: then rule 3 picks among the walk-ins (the walk-in bound);
3. otherwise the highest *score* among the waiting tickets of the counter's services::

       score = waited_seconds × class_weight × service_weight(counter)

   where ``class_weight`` is the priority category's weight (1 for everybody else); equal scores
   go to the earlier issue.

Remaining ties go to the smaller number, then the smaller ticket id (numbers repeat across
services), so the choice never depends on the order the caller lists the queue in: the wait
predictor's replay (:mod:`server.core.prediction`) takes tickets in the same order, and
``tests/core/test_replay_matches_policy.py`` checks it does.

With ``PolicySettings.preference_cap_s`` set, the service weight only counts for the first
``cap`` seconds of the wait (:func:`weighted_wait`); scores still grow with the wait inside a
:func:`group_key` group, so :func:`queue_key` order is unchanged.

**Starvation bound.** Among tickets chosen by rule 3 a priority class ages like everybody
else, it just ages faster. So when a ticket X is chosen over a waiting ticket Y that the same
counter could serve, ``wait(Y) ≤ W × wait(X)`` where ``W`` is the largest ratio of combined
weights at that counter (``max_class_weight × max_service_weight / min_service_weight``). No
ticket waits longer than ``W`` times the wait of a ticket called before it: nobody starves.
:func:`starvation_bound` computes ``W`` for a counter.

**Walk-in bound.** Due bookings go first, but with ``PolicySettings.walk_in_bound_s`` set a counter
never calls a booked visitor while a walk-in it may call has waited that long: no walk-in waits
past the bound *behind bookings* (it may still wait behind reserved tickets, and among walk-ins
the starvation bound holds). The office sets it as ``appointments.walk_in_max_wait_min``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from cherga.server.core.tickets import Ticket, TicketStatus
from cherga.server.siteconfig import Counter, SiteConfig


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    ticket: Ticket
    reason: str  # short English text for the event log and API clients
    rule: str  # "reserved" | "appointment" | "score"
    # The same reason as facts, for a page to word in its reader's language (see :func:`why_facts`):
    # ``{"rule": ..., **params}`` with ids (service, priority category), never names.
    why: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PolicySettings:
    class_weights: Mapping[str, float]
    call_window_s: float = 300.0
    # None: a counter's service weight multiplies the whole wait. A number of seconds: the service
    # weight only counts for the first ``preference_cap_s`` of the wait (see :func:`weighted_wait`).
    preference_cap_s: float | None = None
    # None: due bookings always go first. A number of seconds: a due booking waits while a walk-in the
    # counter may call has waited this long (see choose_next's rule 2).
    walk_in_bound_s: float | None = None


def walk_in_bound_s(config: SiteConfig) -> float | None:
    """The office's walk-in bound in seconds (``appointments.walk_in_max_wait_min``; None: none)."""
    minutes = config.appointments.walk_in_max_wait_min
    return None if minutes is None else 60.0 * minutes


def eligible(ticket: Ticket, counter: Counter, now: dt.datetime) -> bool:
    """May ``counter`` call ``ticket`` at ``now``?"""
    if ticket.status is not TicketStatus.WAITING:
        return False
    if ticket.not_before is not None and now < ticket.not_before:
        return False
    if ticket.target_counter is not None:
        return ticket.target_counter == counter.id
    return counter.weight_for(ticket.service) is not None


def class_weight(ticket: Ticket, settings: PolicySettings) -> float:
    """The ticket's priority-category weight (1 for a visitor without a category)."""
    return settings.class_weights.get(ticket.priority, 1.0) if ticket.priority else 1.0


def weighted_wait(waited_s: float, class_w: float, service_w: float, settings: PolicySettings) -> float:
    """The score of a wait: ``waited × class × service`` weight, or with ``preference_cap_s`` set,
    ``class × (waited + (service − 1) × min(waited, cap))``: a counter's preference for its main
    service is worth at most ``(service − 1) × cap`` seconds, so a long-waiting ticket of a
    secondary service is not held back behind fresh tickets of the main one."""
    cap = settings.preference_cap_s
    if cap is None:
        return waited_s * class_w * service_w
    return class_w * (waited_s + (service_w - 1.0) * min(waited_s, cap))


def score(ticket: Ticket, counter: Counter, now: dt.datetime, settings: PolicySettings) -> float:
    waited = max(0.0, (now - ticket.waiting_since).total_seconds())
    return weighted_wait(waited, class_weight(ticket, settings), counter.weight_for(ticket.service) or 1.0, settings)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def choose_next(counter: Counter, waiting: Iterable[Ticket], now: dt.datetime,
                settings: PolicySettings) -> Decision | None:
    """The ticket ``counter`` should call now, or ``None`` when it has nobody to call."""
    candidates = [t for t in waiting if eligible(t, counter, now)]
    if not candidates:
        return None

    reserved = [t for t in candidates if t.target_counter == counter.id]
    if reserved:
        t = min(reserved, key=lambda t: (t.waiting_since, t.number, t.id))
        returning = t.return_to is None and t.started_at is not None
        why = "returns to this counter" if returning else "transferred to this counter"
        return Decision(t, f"{t.label}: {why}", "reserved", {"rule": "returns" if returning else "transferred"})

    window = dt.timedelta(seconds=settings.call_window_s)
    due = [t for t in candidates if t.appointment_at is not None and t.appointment_at - window <= now]
    bound = settings.walk_in_bound_s
    if due and bound is not None and any(t.appointment_at is None and (now - t.waiting_since).total_seconds() >= bound
                                         for t in candidates):
        due = []  # a walk-in reached the bound: the walk-ins go first (rule 3)
        held_bookings = True
    else:
        held_bookings = False
    if due:
        t = min(due, key=lambda t: (t.appointment_at, t.number, t.id))
        assert t.appointment_at is not None
        return Decision(t, f"{t.label}: appointment at {t.appointment_at.strftime('%H:%M')}", "appointment",
                        {"rule": "appointment", "at": t.appointment_at.isoformat()})

    # Booked visitors not yet due wait for their slot instead of competing by score.
    walk_ins = [t for t in candidates if t.appointment_at is None]
    if not walk_ins:
        return None
    best = min(walk_ins, key=lambda t: (-score(t, counter, now, settings), t.issued_at, t.number, t.id))
    waited = (now - best.waiting_since).total_seconds()
    parts = [f"waited {_minutes(waited)}"]
    facts: dict[str, Any] = {"rule": "score", "minutes": round(waited / 60), "candidates": len(walk_ins)}
    if best.priority:
        class_w = settings.class_weights.get(best.priority, 1.0)
        parts.append(f"priority {best.priority} ×{class_w:g}")
        facts.update(category=best.priority, category_weight=class_w)
    weight = counter.weight_for(best.service) or 1.0
    if weight != 1.0:
        parts.append(f"service {best.service} ×{weight:g} here")
        facts.update(service=best.service, service_weight=weight)
    parts.append(f"longest weighted wait of {len(walk_ins)}")
    if held_bookings:
        parts.append(f"walk-ins first: one waited {_minutes(bound or 0.0)} behind due bookings")
        facts["walk_in_bound_min"] = round((bound or 0.0) / 60)
    return Decision(best, f"{best.label}: " + ", ".join(parts), "score", facts)


def starvation_bound(counter: Counter, settings: PolicySettings) -> float:
    """``W``: no ticket waits more than ``W`` × the wait of a ticket this counter calls before it."""
    weights = [s.weight for s in counter.services] or [1.0]
    max_class = max([1.0, *settings.class_weights.values()])
    if settings.preference_cap_s is not None:
        # weighted_wait lies between min(1, w) × waited and max(1, w) × waited (× class weight)
        return max_class * max(1.0, *weights) / min(1.0, *weights)
    return max_class * max(weights) / min(weights)


def group_key(ticket: Ticket) -> tuple[str, str | None]:
    """Walk-ins of one group compete only by :func:`queue_key` (same service, same class weight)."""
    return (ticket.service, ticket.priority)


def queue_key(ticket: Ticket) -> tuple[float, float, int]:
    """Within a :func:`group_key` group, :func:`choose_next` prefers the smallest key.

    ``score`` grows with the wait and both weights are equal inside a group; ties go to the
    earlier issue, then the smaller number. A caller that keeps each group sorted by this key may
    offer :func:`choose_next` only the first eligible walk-in of each group (plus every reserved
    and booked ticket) and get the same decision; ``tests/core`` checks that equivalence, so a
    change to :func:`score` that breaks it fails there.
    """
    since = ticket.waiting_since
    since_s = since.timestamp()
    # One timestamp for a ticket never re-queued (the wait predictor builds this for every ticket).
    issued_s = since_s if since is ticket.issued_at else ticket.issued_at.timestamp()
    return (since_s, issued_s, ticket.number)
