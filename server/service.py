"""The service layer: the one place that applies actions (see ``docs/service-layer.md``).

The REST API, the MQTT bridge, the operator panel and the HIL harness all call
:class:`OfficeService`. Each mutating call runs under the office lock: it asks the pure core
what to do, writes the change (ticket rows, the append-only event log, the command id) in one
store transaction, commits it durably, then updates the in-memory view and tells listeners.

Several server processes may share one database: "next" is a compare-and-set on the ticket's
version (retried on a lost race), numbers come from an atomic upsert, and the view is refreshed
from the store when a race is lost or when :meth:`OfficeService.sweep` sees foreign events.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

from cherga.broker_bridge.contract import (
    CallEntry,
    CounterAction,
    CounterState,
    HallCall,
    HallState,
    ServiceLoad,
    TicketInfo,
)
from cherga.server import auth
from cherga.server.core import booking
from cherga.server.core import tickets as core
from cherga.server.core.backoffice import assign_registrar
from cherga.server.core.numbering import NumbersExhausted, office_day
from cherga.server.core.prediction import PredictorFeed, WaitPredictor, default_predictor
from cherga.server.core.scheduling import PolicySettings, choose_next
from cherga.server.core.tickets import CheckIn, EventKind, IllegalTransition, Origin, Ticket, TicketStatus
from cherga.server.errors import Conflict, Invalid, NotFound, ServiceError
from cherga.server.siteconfig import LANGUAGES, Counter, SiteConfig
from cherga.server.store import Batch, CounterRow, IntegrityError, Store, TicketRecord, Tx
from cherga.server.view import WaitingView

log = logging.getLogger(__name__)

CounterStatus = Literal["closed", "idle", "calling", "serving", "paused"]
DEFAULT_POSTPONE_S = 300
_NEXT_RETRIES = 200
_COMMAND_CACHE = 20_000
_LOG_WINDOW = 500
_GROUP_WAIT_S = 0.002  # longest a commit waits for operations already under way


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class ActionResult:
    status: Literal["ok", "empty"]  # "empty": next on an empty queue (not an error)
    counter: CounterState
    ticket: TicketInfo | None
    hall_call: HallCall | None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "counter": self.counter.model_dump(mode="json"),
            "ticket": self.ticket.model_dump(mode="json") if self.ticket else None,
            "hall_call": self.hall_call.model_dump(mode="json") if self.hall_call else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActionResult:
        return cls(
            status=data["status"],
            counter=CounterState.model_validate(data["counter"]),
            ticket=TicketInfo.model_validate(data["ticket"]) if data.get("ticket") else None,
            hall_call=HallCall.model_validate(data["hall_call"]) if data.get("hall_call") else None,
        )


@dataclasses.dataclass(frozen=True)
class Change:
    """What listeners (the MQTT bridge) publish after a commit."""

    counter_states: list[CounterState]
    hall_state: HallState | None
    hall_call: HallCall | None


@dataclasses.dataclass
class _CounterView:
    status: CounterStatus = "closed"
    operator: str | None = None
    pause_reason: str | None = None
    ticket_id: str | None = None
    rateable_ticket: str | None = None
    seq: int = 0
    updated_at: dt.datetime = dataclasses.field(default_factory=utc_now)

    def row(self, counter: str) -> CounterRow:
        return CounterRow(counter, self.status, self.operator, self.pause_reason, self.ticket_id,
                          self.rateable_ticket, self.seq, self.updated_at)


BOOKING_SWEEP_EVERY = dt.timedelta(seconds=30)  # how often the sweeper looks for booked visitors who did not come


def light_for(minutes: float) -> Literal["green", "yellow", "orange", "red"]:
    """The public traffic light: green under 10 min, yellow to 20, orange to 30, red beyond."""
    if minutes < 10:
        return "green"
    if minutes <= 20:
        return "yellow"
    if minutes <= 30:
        return "orange"
    return "red"


def _make_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone
    raw = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


class OfficeService:
    """One office's queue: applies actions through the core, durably, exactly once per command id."""

    def __init__(self, config: SiteConfig, store: Store, *, clock: Callable[[], dt.datetime] = utc_now,
                 predictor: WaitPredictor | None = None) -> None:
        self.config = config
        self.store = store
        self.office = config.office.id
        self._clock = clock
        self.settings = PolicySettings(
            class_weights={p.id: p.weight for p in config.priority_categories},
            call_window_s=float(config.appointments.call_window_s),
        )
        # The predictor bench/schedule_quality.py measures, fed through the simulator's own feed.
        self.predictor: WaitPredictor = predictor or default_predictor(
            {s.id: s.mean_service_min * 60 for s in config.services}, self.settings)
        self._feed = PredictorFeed([self.predictor])
        self._bookings_swept_at: dt.datetime | None = None
        self._breaks_planned: dt.date | None = None  # the day whose office breaks the predictor knows
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Change], None]] = []
        self._view = WaitingView()
        self._counters: dict[str, _CounterView] = {c.id: _CounterView() for c in config.counters}
        self._calls: collections.deque[CallEntry] = collections.deque(maxlen=max(12, config.display.recent_calls))
        self._hall_seq = 0
        self._commands: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._known_seq = 0
        self._shared = False  # set once another process is seen writing to the same office
        self._last_refresh = 0.0
        self._seen: set[int] = set()  # event seqs already applied to the view (shared store only)
        self._high_seq = 0
        self._last_wide = 0.0
        self._names: dict[str, str] = {}
        self._batch: Batch | None = None  # the open group-commit transaction
        self._commit_lock = threading.Lock()
        self._committing: Batch | None = None
        self._inflight = 0  # mutating calls entered but not yet through their operation
        self._inflight_lock = threading.Lock()
        self.stats: collections.Counter[str] = collections.Counter()  # for /metrics
        self.reload()

    # --- start-up and refresh ------------------------------------------------------------------------

    def reload(self) -> None:
        """Rebuild the in-memory view (open tickets, counters, recent calls) from the store."""
        with self._lock:
            self._known_seq = self.store.max_event_seq(self.office)
            self._view.clear()
            for rec in self.store.active_tickets(self.office):
                self._view.put(rec)
            for row in self.store.counter_rows(self.office):
                if row.counter in self._counters:
                    self._counters[row.counter] = _CounterView(
                        row.status, row.operator, row.pause_reason, row.ticket_id,  # type: ignore[arg-type]
                        row.rateable_ticket, row.seq, row.updated_at)
            self._calls.clear()
            for e in reversed(self.store.recent_calls(self.office, self._calls.maxlen or 12)):
                d = e["data"]
                if "call_id" in d:
                    self._calls.appendleft(CallEntry(
                        call_id=d["call_id"], label=d["label"], counter=e["counter"],
                        counter_number=d["counter_number"], service=e["service"], called_at=e["at"],
                        recall=e["kind"] == EventKind.RECALLED))
            self._seed_predictor()

    # --- the wait predictor --------------------------------------------------------------------------

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

    # --- helpers -------------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        self._listeners.append(listener)

    def now(self) -> dt.datetime:
        return self._clock()

    def _counter_cfg(self, counter: str) -> Counter:
        try:
            return self.config.counter(counter)
        except KeyError:
            raise NotFound("unknown_counter", f"counter {counter!r} does not exist in office {self.office!r}") from None

    def _check_service(self, service: str) -> None:
        try:
            self.config.service(service)
        except KeyError:
            raise NotFound("unknown_service", f"service {service!r} does not exist in office {self.office!r}") from None

    def _check_language(self, language: str) -> None:
        if language not in LANGUAGES:
            raise Invalid("unknown_language", f"language {language!r} is not one of {', '.join(LANGUAGES)}")

    def _open_counters_for(self, service: str) -> list[Counter]:
        serving = self.config.counters_for(service)
        open_ = [c for c in serving if self._counters[c.id].status not in ("closed", "paused")]
        # Before anybody signs in, estimate as if the front-office counters were open.
        return open_ or [c for c in serving if not c.back_office] or serving

    def _remember(self, command_id: str, result: dict[str, Any]) -> None:
        self._commands[command_id] = result
        if len(self._commands) > _COMMAND_CACHE:
            self._commands.popitem(last=False)

    def _prior(self, tx: Tx | None, command_id: str) -> dict[str, Any] | None:
        if command_id in self._commands:
            return self._commands[command_id]
        return tx.command_result(self.office, command_id) if tx is not None else None

    def _stored_result(self, command_id: str) -> dict[str, Any]:
        with self._op() as tx:
            prior = tx.command_result(self.office, command_id)
        if prior is None:  # pragma: no cover - an integrity error on anything else
            raise Conflict("store_conflict", "the store refused the change; try again")
        return prior

    def info(self, rec: TicketRecord | Ticket, now: dt.datetime, *, estimate: bool = True,
             public: bool = False) -> TicketInfo:
        t = rec.ticket if isinstance(rec, TicketRecord) else rec
        ahead = wait = None
        if estimate and t.status is TicketStatus.WAITING:
            waiting = self._view.waiting_for(t.service)
            if t.id not in self._view.waiting_by_service.get(t.service, ()):
                waiting.append(t)  # a ticket being issued is not in the view until its commit
            self._plan_breaks(now)
            est = self.predictor.estimate(t, waiting, self._open_counters_for(t.service), now)
            ahead, wait = est.people_ahead, est.wait_min
        number = None
        if t.counter:
            number = self.config.counter(t.counter).number if t.counter in self._counters else None
        end = t.called_at if t.called_at and t.status is not TicketStatus.WAITING else now
        return TicketInfo(
            ticket_id=t.id, label=t.label, prefix=t.prefix, number=t.number, service=t.service,
            purpose=t.purpose, status=t.status.value, issued_at=t.issued_at, language=t.language,  # type: ignore[arg-type]
            priority=t.priority, people_ahead=ahead, wait_min=wait, counter=t.counter, counter_number=number,
            status_url=f"{self.config.office.public_url.rstrip('/')}/t/{t.token}", token=t.token,
            waited_s=max(0.0, (end - t.waiting_since).total_seconds()), reason=None if public else t.reason,
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

    def _hall_state(self, now: dt.datetime) -> HallState:
        ticker = self.config.display.ticker.as_dict() if self.config.display.ticker else {}
        return HallState(
            office=self.office, office_names=self.config.office.names.as_dict(),  # type: ignore[arg-type]
            languages=list(self.config.office.languages), calls=list(self._calls)[: self.config.display.recent_calls],
            load=self._load(now), ticker=ticker, updated_at=now, seq=self._hall_seq,  # type: ignore[arg-type]
        )

    def _notify(self, counters: Iterable[str], now: dt.datetime, *, hall: bool, call: HallCall | None) -> None:
        """Build the change now (the view as this operation left it); deliver it after the commit."""
        if not self._listeners:
            return
        if hall:
            self._hall_seq += 1
        change = Change([self._counter_state(c, now) for c in dict.fromkeys(counters)],
                        self._hall_state(now) if hall else None, call)
        if self._batch is not None:
            self._batch.notices.append(change)
        else:
            self._deliver(change)

    def _deliver(self, change: Change) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a listener's failure must not undo or block a committed change
                log.exception("listener %r failed", listener)

    # --- group commit ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _op(self) -> Iterator[Tx]:
        """One operation's writes: a savepoint in the open batch (opened here if there is none).

        Call with the office lock held. Nothing is acknowledged before :meth:`_mutation` has
        waited for the batch's commit.
        """
        if self._batch is None:
            committing = self._committing
            if committing is not None:
                # One batch at a time per service: the next may not wait on rows the last still holds.
                committing.done.wait()
            self._batch = self.store.open_batch()
        with self._batch.savepoint() as tx:
            yield tx

    @contextlib.contextmanager
    def _mutation(self) -> Iterator[None]:
        """The office lock for a mutating call; on the way out, wait until its batch is durable.

        Operations that arrive while a batch commits (an fsync) queue on the lock and then share
        the next batch: one fsync acknowledges all of them (group commit).
        """
        with self._inflight_lock:
            self._inflight += 1
        batch: Batch | None = None
        try:
            with self._lock:
                try:
                    yield
                finally:
                    with self._inflight_lock:
                        self._inflight -= 1
                    # A repeated command answered from the cache may belong to the batch being committed.
                    batch = self._batch or self._committing
        finally:
            # Also after a refused operation: its savepoint is gone, but the batch it opened (or joined)
            # must still be committed, or it would hold the database's write lock.
            if batch is not None:
                self._wait(batch)

    def _wait(self, batch: Batch) -> None:
        with self._commit_lock:
            if not batch.done.is_set():
                # Let the operations already on their way join this batch: one fsync for all of them.
                deadline = time.monotonic() + _GROUP_WAIT_S
                while self._inflight and time.monotonic() < deadline and self._batch is batch:
                    time.sleep(0.0001)
                with self._lock:
                    if self._batch is batch:
                        self._batch = None  # later operations open the next batch
                    self._committing = batch
                try:
                    batch.commit()
                    self.stats["commits"] += 1
                    self.stats["committed_operations"] += batch.ops
                except BaseException as exc:
                    batch.error = exc
                finally:
                    self._committing = None
                    batch.done.set()
                if batch.error is not None:
                    log.error("commit failed (%s): reloading the queue from the store", batch.error)
                    with self._lock:
                        self._commands.clear()
                        self.reload()
                else:
                    for change in batch.notices:
                        self._deliver(change)
        if batch.error is not None:
            raise ServiceError("store_failed", "the database did not take the change; try again",
                               503) from batch.error

    def _affected_counters(self, services: Iterable[str]) -> list[str]:
        ids: dict[str, None] = {}
        for s in services:
            for c in self.config.counters_for(s):
                ids[c.id] = None
        return list(ids)

    def _event(self, tx: Tx, kind: EventKind, t: Ticket | None, now: dt.datetime, *, counter: str | None = None,
               operator: str | None = None, service: str | None = None, **data: Any) -> None:
        tx.append_event(kind.value, office=self.office, at=now, ticket_id=t.id if t else None,
                        service=service or (t.service if t else None), counter=counter, operator=operator,
                        data={k: v for k, v in data.items() if v is not None})

    # --- kiosk / hall manager ------------------------------------------------------------------------

    def issue_ticket(self, *, command_id: str, source: str, service: str | None = None, bundle: str | None = None,
                     purpose: str = "consult", priority: str | None = None, language: str = "uk",
                     appointment_code: str | None = None, operator: str | None = None) -> TicketInfo:
        """Issue a walk-in ticket (or check a booked visitor in when ``appointment_code`` is given).

        ``operator``: a hall manager issuing on a visitor's behalf (kept in the event log).
        """
        if appointment_code:
            return self.check_in(command_id=command_id, source=source, code=appointment_code, language=language)
        with self._mutation():
            if (prior := self._prior(None, command_id)) is not None:
                return TicketInfo.model_validate(prior["ticket"])
            now = self.now()
            plan = self._plan(service, bundle)
            first = plan[0]
            svc = self.config.service(first)
            if purpose not in svc.purposes:
                raise Invalid("purpose_not_offered", f"service {first!r} offers {', '.join(svc.purposes)}, not {purpose!r}")
            if priority is not None:
                try:
                    self.config.category(priority)
                except KeyError:
                    raise NotFound("unknown_category", f"priority category {priority!r} does not exist") from None
            self._check_language(language)
            if svc.appointment_only:
                raise Conflict("appointment_only", f"service {first!r} is by appointment only")
            if not self.config.service_open(first, now.astimezone(self.config.office.tz)):
                raise Conflict("service_closed", f"service {first!r} is closed now")
            day = office_day(now, self.config.office.tz)
            try:
                with self._op() as tx:
                    # A repeat the cache does not know fails on the commands table's key below and is
                    # answered from the store then: no extra read on the hot path.
                    if self._shared and (prior := tx.command_result(self.office, command_id)) is not None:
                        return TicketInfo.model_validate(prior["ticket"])
                    if svc.daily_cap is not None and tx.count_issued(self.office, first, day) >= svc.daily_cap:
                        raise Conflict("daily_cap_reached", f"no more tickets today for {first!r} (cap {svc.daily_cap})")
                    number = self._draw(tx, first, day, "walk_in")
                    ticket = Ticket(id=uuid.uuid4().hex, office=self.office, service=first, purpose=purpose,
                                    prefix=svc.prefix, number=number, day=day, issued_at=now,
                                    token=secrets.token_urlsafe(18), language=language, priority=priority)
                    rec = TicketRecord(ticket, first, tuple(plan[1:]), 1, source)
                    tx.insert_ticket(rec)
                    info = self.info(rec, now)
                    self._event(tx, EventKind.ISSUED, ticket, now, operator=operator, number=number,
                                label=ticket.label, origin=ticket.origin.value, purpose=purpose, priority=priority,
                                language=language, source=source, bundle=bundle, plan=list(plan[1:]) or None,
                                people_ahead=info.people_ahead, wait_min=info.wait_min)
                    result = {"ticket": info.model_dump(mode="json")}
                    tx.record_command(self.office, command_id, result, now)
            except IntegrityError:
                return TicketInfo.model_validate(self._stored_result(command_id)["ticket"])
            self._issued(tx, rec, command_id, result, first, now)
            return info

    def _plan(self, service: str | None, bundle: str | None) -> list[str]:
        if service and bundle:
            raise Invalid("service_or_bundle", "give a service or a bundle, not both")
        if bundle:
            for b in self.config.bundles:
                if b.id == bundle:
                    return list(b.services)
            raise NotFound("unknown_bundle", f"bundle {bundle!r} does not exist in office {self.office!r}")
        if not service:
            raise Invalid("service_required", "give a service (or a bundle)")
        self._check_service(service)
        return [service]

    def _draw(self, tx: Tx, service: str, day: dt.date, range_name: str) -> int:
        number_range = getattr(self.config.numbering, range_name)
        try:
            return tx.draw_number(self.office, service, day, range_name, number_range)
        except NumbersExhausted as exc:
            raise Conflict("numbers_exhausted", str(exc)) from None

    def check_in(self, *, command_id: str, source: str, code: str, language: str = "uk") -> TicketInfo:
        """A booked visitor arrives: on time keeps the slot, too late becomes a walk-in."""
        self._check_language(language)
        with self._mutation():
            if (prior := self._prior(None, command_id)) is not None:
                return TicketInfo.model_validate(prior["ticket"])
            now = self.now()
            try:
                with self._op() as tx:
                    if (prior := tx.command_result(self.office, command_id)) is not None:
                        return TicketInfo.model_validate(prior["ticket"])
                    appt = tx.appointment(self.office, code.upper())
                    if appt is None:
                        raise NotFound("unknown_appointment", f"no appointment with code {code!r}")
                    if appt["status"] not in ("booked", "missed"):
                        raise Conflict("already_checked_in", f"appointment {code!r} was already used")
                    svc = self.config.service(appt["service"])
                    verdict = core.check_in(slot=appt["slot"], now=now, early_s=self.config.appointments.early_s,
                                            late_grace_s=self.config.appointments.late_grace_s)
                    if verdict is CheckIn.TOO_EARLY:
                        raise Conflict("too_early", f"check-in opens {self.config.appointments.early_s // 60} min before the slot")
                    on_time = verdict is CheckIn.ON_TIME
                    day = office_day(now, self.config.office.tz)
                    number = self._draw(tx, svc.id, day, "booked" if on_time else "walk_in")
                    ticket = Ticket(id=uuid.uuid4().hex, office=self.office, service=svc.id,
                                    purpose=svc.purposes[0], prefix=svc.prefix, number=number, day=day,
                                    issued_at=now, token=secrets.token_urlsafe(18), language=language,
                                    origin=Origin.BOOKED if on_time else Origin.WALK_IN,
                                    appointment_at=appt["slot"] if on_time else None)
                    rec = TicketRecord(ticket, svc.id, (), 1, source)
                    tx.insert_ticket(rec)
                    tx.mark_checked_in(appt["code"], ticket.id)
                    info = self.info(rec, now)
                    self._event(tx, EventKind.ISSUED, ticket, now, number=number, label=ticket.label,
                                origin=ticket.origin.value, source=source, appointment=appt["code"],
                                check_in=verdict.value, slot=appt["slot"].isoformat(), language=language)
                    result = {"ticket": info.model_dump(mode="json")}
                    tx.record_command(self.office, command_id, result, now)
            except IntegrityError:
                return TicketInfo.model_validate(self._stored_result(command_id)["ticket"])
            self._issued(tx, rec, command_id, result, svc.id, now)
            return info

    def _issued(self, tx: Tx, rec: TicketRecord, command_id: str, result: dict[str, Any], service: str,
                now: dt.datetime) -> None:
        """After a new ticket's commit: the view, the command cache, the counts and the listeners learn of it."""
        self._committed(tx)
        self._view.put(rec)
        self._remember(command_id, result)
        self.stats["issued"] += 1
        self._notify(self._affected_counters([service]), now, hall=True, call=None)

    def take_offline_ticket(self, *, command_id: str, source: str, service: str, purpose: str,
                            priority: str | None, language: str, number: int, issued_at: dt.datetime,
                            replaces: str | None = None) -> TicketInfo:
        """Take in a ticket a kiosk printed from its offline range; it queues from ``issued_at``.

        ``replaces`` is the command id of the kiosk's issue request that got no answer in time. The
        citizen holds the printed offline ticket, so only that one may stay: a ticket the late
        request already issued is cancelled (if still waiting), and a request that arrives later
        still answers with this ticket instead of issuing another.
        """
        self._check_service(service)
        self._check_language(language)
        rng = self.config.numbering.offline
        if not rng.first <= number <= rng.last:
            raise Invalid("number_out_of_range", f"offline numbers are {rng.first}..{rng.last}, not {number}")
        if issued_at.tzinfo is None:
            raise Invalid("naive_time", "issued_at needs a time zone")
        if priority is not None:
            try:
                self.config.category(priority)
            except KeyError:
                raise NotFound("unknown_category", f"priority category {priority!r} does not exist") from None
        with self._mutation():
            if (prior := self._prior(None, command_id)) is not None:
                return TicketInfo.model_validate(prior["ticket"])
            now = self.now()
            issued_at = min(issued_at, now)
            svc = self.config.service(service)
            day = office_day(issued_at, self.config.office.tz)
            try:
                with self._op() as tx:
                    if (prior := tx.command_result(self.office, command_id)) is not None:
                        return TicketInfo.model_validate(prior["ticket"])
                    if tx.number_taken(self.office, service, day, number):
                        raise Conflict("number_taken", f"{svc.prefix}-{number:03d} already exists today")
                    ticket = Ticket(id=uuid.uuid4().hex, office=self.office, service=service, purpose=purpose,
                                    prefix=svc.prefix, number=number, day=day, issued_at=issued_at,
                                    token=secrets.token_urlsafe(18), language=language, priority=priority,
                                    origin=Origin.OFFLINE)
                    rec = TicketRecord(ticket, service, (), 1, source)
                    tx.insert_ticket(rec)
                    info = self.info(rec, now)
                    self._event(tx, EventKind.ISSUED, ticket, now, number=number, label=ticket.label,
                                origin="offline", source=source, issued_at=issued_at.isoformat(), priority=priority)
                    result = {"ticket": info.model_dump(mode="json")}
                    tx.record_command(self.office, command_id, result, now)
                    replaced = self._replace_online_twin(tx, replaces, ticket, result, now, source)
            except IntegrityError:
                return TicketInfo.model_validate(self._stored_result(command_id)["ticket"])
            self._committed(tx)
            self._view.put(rec)
            self._remember(command_id, result)
            self.stats["issued"] += 1
            self.stats["issued_offline"] += 1
            if replaced is not None:
                self._view.put(replaced)
            elif replaces is not None:
                self._remember(replaces, result)
            self._notify(self._affected_counters([service]), now, hall=True, call=None)
            return info

    def _replace_online_twin(self, tx: Tx, replaces: str | None, offline: Ticket, result: dict[str, Any],
                             now: dt.datetime, source: str) -> Any:
        """Keep one ticket per citizen when a kiosk fell back to offline numbering (see take_offline_ticket)."""
        if replaces is None:
            return None
        earlier = tx.command_result(self.office, replaces)
        if earlier is None:
            tx.record_command(self.office, replaces, result, now)
            return None
        twin = self._view.get(str(earlier.get("ticket", {}).get("ticket_id")))
        if twin is None or twin.ticket.status is not TicketStatus.WAITING:
            log.warning("offline ticket %s replaces a request whose ticket is no longer waiting", offline.label)
            return None
        gone = self._write(tx, twin, self._apply(core.cancel, twin.ticket, now=now, reason="replaced_by_offline"))
        self._event(tx, EventKind.CANCELLED, twin.ticket, now, source=source, reason="replaced_by_offline",
                    replaced_by=offline.id)
        return gone

    def free_slots(self, service: str, day: dt.date) -> list[booking.Slot]:
        """The slots of ``day`` (office calendar) a visitor may still book for ``service``."""
        self._check_service(service)
        appts, tz, now = self.config.appointments, self.config.office.tz, self.now()
        today = office_day(now, tz)
        capacity = self.config.booking_capacity(service)
        if capacity <= 0 or not today <= day <= today + dt.timedelta(days=appts.horizon_days):
            return []
        grid = booking.day_grid(self.config.hours_of(service), day, tz, appts.slot_min)
        if not grid:
            return []
        taken = self.store.appointments_taken(self.office, service, grid[0],
                                              grid[-1] + dt.timedelta(minutes=appts.slot_min))
        return booking.free_slots(grid, taken, capacity, now)

    def book_appointment(self, *, service: str, slot: dt.datetime, source: str, command_id: str | None = None) -> str:
        """Book a free ``slot`` for ``service``; returns the code the visitor checks in with.

        The slot must be on the office's grid, in opening hours, within the booking horizon and not
        full. With ``command_id`` a resent request returns the first booking's code.
        """
        self._check_service(service)
        appts, tz = self.config.appointments, self.config.office.tz
        with self._mutation():
            if command_id is not None and (prior := self._prior(None, command_id)) is not None:
                return str(prior["code"])
            now = self.now()
            code = _make_code()
            with self._op() as tx:
                taken = 0
                if slot.tzinfo is not None:
                    taken = tx.appointments_taken(self.office, service, slot, slot + dt.timedelta(seconds=1)).get(slot, 0)
                try:
                    booking.check_slot(slot, hours=self.config.hours_of(service), tz=tz,
                                       slot_min=appts.slot_min, capacity=self.config.booking_capacity(service),
                                       taken=taken, now=now, horizon_days=appts.horizon_days)
                except booking.SlotRefused as exc:
                    error = Conflict if exc.reason in ("slot_full", "booking_closed") else Invalid
                    raise error(exc.reason, exc.message) from None
                tx.insert_appointment(code=code, office=self.office, service=service, slot=slot, source=source, at=now)
                if command_id is not None:
                    tx.record_command(self.office, command_id, {"code": code}, now)
            if command_id is not None:
                self._remember(command_id, {"code": code})
        return code

    def appointments_on(self, day: dt.date) -> list[dict[str, Any]]:
        """The day's bookings (office calendar) for the hall manager: slot, service, code and where each
        stands: ``booked`` (still to come), ``checked_in``, ``cancelled`` or ``missed`` (past the grace)."""
        tz = self.config.office.tz
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        now = self.now()
        grace = dt.timedelta(seconds=self.config.appointments.late_grace_s)
        out = []
        for a in self.store.appointments_between(self.office, start, start + dt.timedelta(days=1)):
            status = a["status"]
            if status == "booked" and now > a["slot"] + grace:
                status = "missed"
            out.append({"code": a["code"], "service": a["service"], "slot": a["slot"].astimezone(tz),
                        "status": status, "ticket_id": a["ticket_id"]})
        return out

    def cancel_appointment(self, *, code: str, source: str) -> None:
        """The visitor cannot come: the slot is free for someone else."""
        with self._mutation(), self._op() as tx:
            appt = tx.appointment(self.office, code.upper())
            if appt is None:
                raise NotFound("unknown_appointment", f"no appointment with code {code!r}")
            if not tx.cancel_appointment(self.office, appt["code"]):
                raise Conflict("appointment_not_booked", f"appointment {code!r} is {appt['status']}")
        log.info("appointment %s cancelled by %s", appt["code"], source)

    # --- counters ------------------------------------------------------------------------------------

    def counter_action(self, *, command_id: str, counter: str, action: CounterAction, source: str,
                       operator: str | None = None, result: str | None = None, to_service: str | None = None,
                       to_counter: str | None = None, return_after: bool = False, delay_s: int | None = None,
                       pause_reason: str | None = None, pin: str | None = None, ticket_id: str | None = None,
                       score: int | None = None, authenticated: bool = False) -> ActionResult:
        """Apply a counter's button. ``authenticated``: the caller already proved ``operator``
        (a REST bearer token); otherwise signing in needs the operator's PIN."""
        cfg = self._counter_cfg(counter)
        try:
            action = CounterAction(action)
        except ValueError:
            raise Invalid("unknown_action", f"unknown counter action {action!r}") from None
        with self._mutation():
            if (prior := self._prior(None, command_id)) is not None:
                return ActionResult.from_json(prior)
            now = self.now()
            cv = self._counters[counter]
            before = dataclasses.replace(cv)
            touched: list[TicketRecord] = []
            call: HallCall | None = None
            services_touched: set[str] = set()
            status: Literal["ok", "empty"] = "ok"
            originals: dict[str, TicketRecord | None] = {}
            try:
                with self._op() as tx:
                    if self._shared and (prior := tx.command_result(self.office, command_id)) is not None:
                        return ActionResult.from_json(prior)
                    op = operator or cv.operator
                    handler = getattr(self, f"_do_{action.value}")
                    status, call = handler(
                        tx, cfg, cv, now, op, touched, services_touched,
                        operator=operator, result=result, to_service=to_service, to_counter=to_counter,
                        return_after=return_after, delay_s=delay_s, pause_reason=pause_reason, pin=pin,
                        ticket_id=ticket_id, score=score, authenticated=authenticated)
                    cv.seq += 1
                    cv.updated_at = now
                    tx.save_counter(self.office, cv.row(counter))
                    for rec in touched:
                        originals.setdefault(rec.ticket.id, self._view.get(rec.ticket.id))
                        self._view.put(rec)  # provisional: undone below if this operation fails
                    state = self._counter_state(counter, now)
                    ticket = None
                    if touched and status == "ok":
                        main = touched[0]
                        ticket = self.info(main, now, estimate=main.ticket.status is TicketStatus.WAITING)
                    outcome = ActionResult(status, state, ticket, call)
                    tx.record_command(self.office, command_id, outcome.to_json(), now)
            except IntegrityError:
                self._counters[counter] = before
                self._restore(originals)
                return ActionResult.from_json(self._stored_result(command_id))
            except BaseException:
                self._counters[counter] = before
                self._restore(originals)
                raise
            self._committed(tx)
            self._learn(counter, now, called=touched[0].ticket if call is not None and not call.recall else None,
                        paused=action is CounterAction.PAUSE)
            self._remember(command_id, outcome.to_json())
            self.stats[f"action_{action.value}"] += 1
            if call is not None:
                self._calls.appendleft(CallEntry(call_id=call.call_id, label=call.label, counter=counter,
                                                 counter_number=cfg.number, service=call.service,
                                                 called_at=now, recall=call.recall))
            affected = [counter, *self._affected_counters(services_touched)]
            extra = [rec.ticket.target_counter for rec in touched if rec.ticket.target_counter]
            self._notify([*affected, *extra], now, hall=True, call=call)
            return outcome

    def _restore(self, originals: Mapping[str, TicketRecord | None]) -> None:
        """After a rolled-back operation, put the touched tickets back as they were before it."""
        for tid, rec in originals.items():
            if rec is None:
                self._view.remove(tid)
            else:
                self._view.put(rec)

    def _current(self, cv: _CounterView, *allowed: TicketStatus) -> TicketRecord:
        rec = self._view.get(cv.ticket_id) if cv.ticket_id else None
        if rec is None:
            raise Conflict("no_current_ticket", "this counter has no ticket called")
        if allowed and rec.ticket.status not in allowed:
            raise Conflict("illegal_transition",
                           f"ticket {rec.ticket.label} is {rec.ticket.status.value}")
        return rec

    def _write(self, tx: Tx, rec: TicketRecord, new: Ticket, **changes: Any) -> TicketRecord:
        """Compare-and-set ``new`` over ``rec``; a lost race is a conflict (the view is refreshed)."""
        out = dataclasses.replace(rec, ticket=new, version=rec.version + 1, **changes)
        if not tx.update_ticket(out, expected_version=rec.version):
            fresh = tx.ticket(rec.ticket.id)
            if fresh is not None:
                self._view.put(fresh)
            raise Conflict("ticket_changed", f"ticket {rec.ticket.label} was changed elsewhere; try again")
        return out

    def _apply(self, fn: Callable[..., Ticket], ticket: Ticket, **kwargs: Any) -> Ticket:
        try:
            return fn(ticket, **kwargs)
        except IllegalTransition as exc:
            raise Conflict(exc.reason, exc.message) from None

    def _close_current(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                       touched: list[TicketRecord], services: set[str], result: str | None = None) -> None:
        """Finish whatever the counter has called or is serving (next, finish)."""
        rec = self._view.get(cv.ticket_id) if cv.ticket_id else None
        cv.ticket_id = None
        if rec is None or rec.ticket.status not in (TicketStatus.CALLED, TicketStatus.SERVING):
            return
        t = rec.ticket
        started = t.started_at or now
        if rec.plan:
            # A bundle: this part is done, the visitor queues for the next service of the plan.
            nxt = self._apply(core.transfer, t, now=now, to_service=rec.plan[0])
            new = self._write(tx, rec, dataclasses.replace(nxt, started_at=None, result=result),
                              plan=rec.plan[1:])
            self._event(tx, EventKind.FINISHED, t, now, counter=cfg.id, operator=op, result=result,
                        service_s=(now - started).total_seconds(), next_service=rec.plan[0])
            self._event(tx, EventKind.TRANSFERRED, new.ticket, now, counter=cfg.id, operator=op,
                        from_service=t.service, to_service=rec.plan[0], bundle=True)
            services.add(rec.plan[0])
        else:
            done = self._apply(core.finish, t, now=now, result=result)
            new = self._write(tx, rec, done)
            self._event(tx, EventKind.FINISHED, t, now, counter=cfg.id, operator=op, result=result,
                        service_s=(now - started).total_seconds())
            if done.status is TicketStatus.WAITING:  # returns to the counter that transferred it
                self._event(tx, EventKind.RETURNED, done, now, counter=cfg.id, operator=op,
                            to_counter=done.target_counter, to_service=done.service)
                services.add(done.service)
            else:
                cv.rateable_ticket = t.id
        if t.started_at is not None:
            self._feed.finished(t.service, (now - t.started_at).total_seconds())
        touched.append(new)

    def _do_next(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                 touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        if cv.status == "paused":
            self._event(tx, EventKind.COUNTER_RESUMED, None, now, counter=cfg.id, operator=op, reason="next pressed")
            cv.pause_reason = None
        self._close_current(tx, cfg, cv, now, op, touched, services)
        if op and cv.operator is None:
            cv.operator = op
        refreshed = False
        self._sync_from_log()
        lost: set[str] = set()  # tickets another process took (or holds) during this press
        for _ in range(_NEXT_RETRIES):
            decision = choose_next(cfg, self._view.candidates(cfg, now, lost), now, self.settings)
            if decision is None:
                if not refreshed and time.monotonic() - self._last_refresh > 0.2 and self._foreign_changes():
                    # Another process may have issued tickets this view has not seen yet.
                    self._refresh_from_store()
                    refreshed = True
                    continue
                cv.status = "idle"
                return "empty", None
            rec = self._view.active[decision.ticket.id]
            called = self._apply(core.call, decision.ticket, counter=cfg.id, now=now, operator=op,
                                 reason=decision.reason)
            new = dataclasses.replace(rec, ticket=called, version=rec.version + 1)
            if tx.update_ticket(new, expected_version=rec.version):
                break
            # Lost the race to another process: pass that ticket over, learn what else changed, choose again.
            self._become_shared()
            lost.add(rec.ticket.id)
            if len(lost) % 8 == 1:
                self._sync_from_log()
            self.stats["next_retries"] += 1
        else:
            raise Conflict("busy", "too many counters raced for the same tickets; press again")
        cv.status = "calling"
        cv.ticket_id = called.id
        touched.insert(0, new)
        services.add(called.service)
        call_id = uuid.uuid4().hex[:16]
        self._event(tx, EventKind.CALLED, called, now, counter=cfg.id, operator=op, reason=decision.reason,
                    rule=decision.rule, call_id=call_id, label=called.label, counter_number=cfg.number,
                    waited_s=round((now - called.waiting_since).total_seconds(), 3))
        return "ok", HallCall(call_id=call_id, ticket_id=called.id, label=called.label, prefix=called.prefix,
                              number=called.number, counter=cfg.id, counter_number=cfg.number,
                              service=called.service, recall=False, at=now)

    def _committed(self, tx: Tx) -> None:
        """Remember our own events, so the log sync does not re-read them."""
        self._known_seq = max(self._known_seq, tx.last_event_seq)
        if self._shared:
            self._seen.update(tx.event_seqs)

    def _sync_from_log(self) -> None:
        """Shared store only: re-read the tickets other processes touched since we last looked.

        The window starts a little before the highest sequence seen, because on PostgreSQL a
        sequence number taken earlier may commit later.
        """
        if not self._shared:
            return
        after = self._high_seq
        if time.monotonic() - self._last_wide > 0.5:
            # Now and then look back a little: on PostgreSQL a lower sequence may commit later.
            self._last_wide = time.monotonic()
            after = max(0, self._high_seq - _LOG_WINDOW)
        rows = self.store.recent_event_tickets(self.office, after)
        ids = {tid for seq, tid in rows if seq not in self._seen and tid}
        for seq, _ in rows:
            self._seen.add(seq)
            self._high_seq = max(self._high_seq, seq)
        if len(self._seen) > 4 * _LOG_WINDOW:
            floor = self._high_seq - 2 * _LOG_WINDOW
            self._seen = {s for s in self._seen if s > floor}
        if ids:
            for rec in self.store.tickets_by_id(sorted(ids)):
                known = self._view.get(rec.ticket.id)
                if known is None or known.version < rec.version:
                    self._view.put(rec)
                elif known.version == rec.version and rec.ticket.status.is_final:
                    self._view.remove(rec.ticket.id)

    def _become_shared(self) -> None:
        if not self._shared:
            log.info("office %s: another process writes to this store; following its event log", self.office)
            self._shared = True
            self._high_seq = self._known_seq

    def _foreign_changes(self) -> bool:
        """Has another process written to this office? Once seen, the view refreshes on every sweep."""
        if self._shared:
            return True
        if self.store.max_event_seq(self.office) > self._known_seq:
            self._become_shared()
        return self._shared

    def _refresh_from_store(self) -> None:
        """Merge what other processes committed: newer ticket versions, newer counter rows, recent calls."""
        self._last_refresh = time.monotonic()
        stored = {rec.ticket.id: rec for rec in self.store.active_tickets(self.office)}
        for tid, mine in list(self._view.active.items()):
            if tid not in stored:
                fresh = self.store.ticket(tid)
                if fresh is not None and fresh.version > mine.version:
                    self._view.put(fresh)
        for rec in stored.values():
            known = self._view.get(rec.ticket.id)
            if known is None or known.version < rec.version:
                self._view.put(rec)
        for row in self.store.counter_rows(self.office):
            cv = self._counters.get(row.counter)
            if cv is not None and row.seq > cv.seq:
                self._counters[row.counter] = _CounterView(
                    row.status, row.operator, row.pause_reason, row.ticket_id,  # type: ignore[arg-type]
                    row.rateable_ticket, row.seq, row.updated_at)
        self._known_seq = max(self._known_seq, self.store.max_event_seq(self.office))

    def _do_recall(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                   touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv, TicketStatus.CALLED)
        t = rec.ticket
        if core.recalls_exhausted(t, max_recalls=self.config.no_show.recalls):
            gone = self._apply(core.no_show, t, now=now)
            touched.insert(0, self._write(tx, rec, gone))
            self._event(tx, EventKind.NO_SHOW, t, now, counter=cfg.id, operator=op, rule="recalls", recalls=t.recalls)
            cv.ticket_id = None
            cv.status = "idle"
            return "ok", None
        again = self._apply(core.recall, t, now=now)
        touched.insert(0, self._write(tx, rec, again))
        call_id = uuid.uuid4().hex[:16]
        self._event(tx, EventKind.RECALLED, again, now, counter=cfg.id, operator=op, recalls=again.recalls,
                    call_id=call_id, label=t.label, counter_number=cfg.number)
        return "ok", HallCall(call_id=call_id, ticket_id=t.id, label=t.label, prefix=t.prefix, number=t.number,
                              counter=cfg.id, counter_number=cfg.number, service=t.service, recall=True, at=now)

    def _do_start(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                  touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv)
        started = self._apply(core.start, rec.ticket, now=now)
        touched.insert(0, self._write(tx, rec, started))
        self._event(tx, EventKind.STARTED, started, now, counter=cfg.id, operator=op,
                    waited_s=round((now - rec.ticket.waiting_since).total_seconds(), 3))
        cv.status = "serving"
        return "ok", None

    def _do_finish(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                   touched: list[TicketRecord], services: set[str], *, result: str | None = None,
                   **kw: Any) -> tuple[str, HallCall | None]:
        self._current(cv, TicketStatus.CALLED, TicketStatus.SERVING)
        self._close_current(tx, cfg, cv, now, op, touched, services, result=result)
        cv.status = "idle"
        return "ok", None

    def _do_no_show(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                    touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv)
        gone = self._apply(core.no_show, rec.ticket, now=now)
        touched.insert(0, self._write(tx, rec, gone))
        self._event(tx, EventKind.NO_SHOW, gone, now, counter=cfg.id, operator=op, rule="operator",
                    recalls=rec.ticket.recalls)
        cv.ticket_id = None
        cv.status = "idle"
        return "ok", None

    def _do_transfer(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                     touched: list[TicketRecord], services: set[str], *, to_service: str | None = None,
                     to_counter: str | None = None, return_after: bool = False, **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv)
        if to_service is None and to_counter is None:
            raise Invalid("transfer_target_required", "a transfer needs to_service or to_counter")
        if to_service is not None:
            self._check_service(to_service)
        target_cfg = self._counter_cfg(to_counter) if to_counter else None
        service = to_service or rec.ticket.service
        if target_cfg is not None and target_cfg.weight_for(service) is None:
            raise Conflict("counter_does_not_serve", f"counter {target_cfg.id!r} does not serve {service!r}")
        assignment = None
        if target_cfg is None and not cfg.back_office:
            desks = [c for c in self.config.counters_for(service) if c.back_office]
            if desks:
                # A front-office hand-over to the back office: a free registrar, drawn reproducibly.
                free = [c.id for c in desks if self._counters[c.id].status == "idle"]
                open_ = [c.id for c in desks if self._counters[c.id].status not in ("closed", "paused")]
                pool = free or open_ or [c.id for c in desks]
                assignment = assign_registrar(rec.ticket.id, pool, self.config.backoffice_seed)
                to_counter = assignment.registrar
        moved = self._apply(core.transfer, rec.ticket, now=now, to_service=to_service, to_counter=to_counter,
                            return_after=return_after)
        touched.insert(0, self._write(tx, rec, moved))
        backoffice = None
        if assignment is not None:
            backoffice = {"seed": assignment.seed, "candidates": list(assignment.candidates),
                          "choice": assignment.registrar, "office_seed": self.config.backoffice_seed}
        self._event(tx, EventKind.TRANSFERRED, moved, now, counter=cfg.id, operator=op,
                    from_service=rec.ticket.service, to_service=moved.service, to_counter=to_counter,
                    return_after=return_after, backoffice=backoffice)
        if assignment is not None:
            self._event(tx, EventKind.BACKOFFICE_ASSIGNED, moved, now, counter=assignment.registrar, operator=op,
                        seed=assignment.seed, candidates=list(assignment.candidates), choice=assignment.registrar,
                        from_counter=cfg.id)
        if rec.ticket.started_at is not None:
            self._feed.finished(rec.ticket.service, (now - rec.ticket.started_at).total_seconds())
        services.add(moved.service)
        cv.ticket_id = None
        cv.status = "idle"
        return "ok", None

    def _do_postpone(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                     touched: list[TicketRecord], services: set[str], *, delay_s: int | None = None,
                     **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv)
        delay = DEFAULT_POSTPONE_S if delay_s is None else delay_s
        if delay < 0 or delay > 4 * 3600:
            raise Invalid("bad_delay", "delay_s must be between 0 and 14400")
        later = self._apply(core.postpone, rec.ticket, now=now, delay=dt.timedelta(seconds=delay))
        touched.insert(0, self._write(tx, rec, later))
        self._event(tx, EventKind.POSTPONED, later, now, counter=cfg.id, operator=op, delay_s=delay,
                    not_before=later.not_before.isoformat() if later.not_before else None)
        cv.ticket_id = None
        cv.status = "idle"
        return "ok", None

    def _do_pause(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                  touched: list[TicketRecord], services: set[str], *, pause_reason: str | None = None,
                  **kw: Any) -> tuple[str, HallCall | None]:
        if cv.ticket_id and self._view.get(cv.ticket_id) is not None:
            raise Conflict("ticket_in_progress", "finish, transfer or postpone the current ticket before a pause")
        if cv.status == "paused":
            raise Conflict("already_paused", "the counter is already paused")
        cv.status = "paused"
        cv.pause_reason = pause_reason or "break"
        self._event(tx, EventKind.COUNTER_PAUSED, None, now, counter=cfg.id, operator=op, reason=cv.pause_reason)
        return "ok", None

    def _do_resume(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                   touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        if cv.status != "paused":
            raise Conflict("not_paused", "the counter is not paused")
        self._event(tx, EventKind.COUNTER_RESUMED, None, now, counter=cfg.id, operator=op,
                    reason=cv.pause_reason, paused_s=round((now - cv.updated_at).total_seconds(), 3))
        cv.status = "idle"
        cv.pause_reason = None
        return "ok", None

    def _do_sign_in(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                    touched: list[TicketRecord], services: set[str], *, operator: str | None = None,
                    pin: str | None = None, authenticated: bool = False, **kw: Any) -> tuple[str, HallCall | None]:
        account = auth.verify_sign_in(self.store, operator=operator, pin=pin, authenticated=authenticated)
        if cv.operator and cv.operator != account.username:
            self._event(tx, EventKind.OPERATOR_SIGNED_OUT, None, now, counter=cfg.id, operator=cv.operator,
                        reason="replaced")
        self._names[account.username] = account.display_name
        cv.operator = account.username
        if cv.status == "closed":
            cv.status = "idle"
        self._event(tx, EventKind.OPERATOR_SIGNED_IN, None, now, counter=cfg.id, operator=account.username,
                    role=account.role)
        return "ok", None

    def _do_sign_out(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                     touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        if cv.operator is None:
            raise Conflict("not_signed_in", "nobody is signed in at this counter")
        if cv.ticket_id and self._view.get(cv.ticket_id) is not None:
            raise Conflict("ticket_in_progress", "finish, transfer or postpone the current ticket before signing out")
        self._event(tx, EventKind.OPERATOR_SIGNED_OUT, None, now, counter=cfg.id, operator=cv.operator)
        cv.operator = None
        cv.status = "closed"
        cv.pause_reason = None
        return "ok", None

    def _do_rate(self, tx: Tx, cfg: Counter, cv: _CounterView, now: dt.datetime, op: str | None,
                 touched: list[TicketRecord], services: set[str], *, ticket_id: str | None = None,
                 score: int | None = None, **kw: Any) -> tuple[str, HallCall | None]:
        if score is None or not 1 <= score <= 10:
            raise Invalid("bad_score", "score must be 1..10")
        tid = ticket_id or cv.rateable_ticket
        if tid is None:
            raise Conflict("nothing_to_rate", "no finished visit at this counter to rate")
        rec = tx.ticket(tid)
        if rec is None or rec.ticket.office != self.office:
            raise NotFound("unknown_ticket", f"ticket {tid!r} does not exist")
        if rec.ticket.status is not TicketStatus.DONE or rec.ticket.counter != cfg.id:
            raise Conflict("not_rateable", f"ticket {rec.ticket.label} was not finished at this counter")
        if tx.rated(tid):
            raise Conflict("already_rated", f"ticket {rec.ticket.label} was already rated")
        tx.insert_rating(ticket_id=tid, office=self.office, service=rec.ticket.service, counter=cfg.id,
                         operator=rec.ticket.operator, score=score, at=now)
        self._event(tx, EventKind.RATED, rec.ticket, now, counter=cfg.id, operator=rec.ticket.operator, score=score)
        if cv.rateable_ticket == tid:
            cv.rateable_ticket = None
        return "ok", None

    # --- periodic ------------------------------------------------------------------------------------

    def sweep(self) -> None:
        """No-show timeouts, yesterday's leftovers, and a refresh when other processes wrote."""
        with self._mutation():
            if self._foreign_changes():
                self._refresh_from_store()
            now = self.now()
            today = office_day(now, self.config.office.tz)
            timeout = self.config.no_show.timeout_s
            for rec in list(self._view.active.values()):
                t = rec.ticket
                if core.due_for_no_show(t, now=now, timeout_s=timeout):
                    self._sweep_one(rec, now, "timeout")
                elif t.day < today and t.status is TicketStatus.WAITING:
                    self._sweep_one(rec, now, "day_closed")
            self._sweep_bookings(now)

    def _sweep_bookings(self, now: dt.datetime) -> None:
        """Bookings whose late grace ran out with nobody checked in: marked missed and logged (reports count them)."""
        if self._bookings_swept_at is not None and now - self._bookings_swept_at < BOOKING_SWEEP_EVERY:
            return
        self._bookings_swept_at = now
        due = self.store.booked_before(self.office, now - dt.timedelta(seconds=self.config.appointments.late_grace_s))
        if not due:
            return  # the common case: no transaction, no fsync
        with self._op() as tx:
            for appt in due:
                if tx.mark_missed(appt["code"]):
                    self._event(tx, EventKind.BOOKING_MISSED, None, now, service=appt["service"],
                                code=appt["code"], slot=appt["slot"].isoformat())
        self._committed(tx)
        log.info("%d booked visitor(s) did not come", len(due))

    def _sweep_one(self, rec: TicketRecord, now: dt.datetime, why: str) -> None:
        t = rec.ticket
        counter = t.counter if why == "timeout" else None
        try:
            with self._op() as tx:
                if why == "timeout":
                    new = self._write(tx, rec, self._apply(core.no_show, t, now=now))
                    self._event(tx, EventKind.NO_SHOW, t, now, counter=counter, operator=t.operator, rule="timeout",
                                recalls=t.recalls)
                else:
                    new = self._write(tx, rec, self._apply(core.cancel, t, now=now, reason="day_closed"))
                    self._event(tx, EventKind.CANCELLED, t, now, reason="day_closed")
                if counter and self._counters[counter].ticket_id == t.id:
                    cv = self._counters[counter]
                    cv.ticket_id = None
                    cv.status = "idle"
                    cv.seq += 1
                    cv.updated_at = now
                    tx.save_counter(self.office, cv.row(counter))
        except ServiceError:
            log.info("sweep skipped %s: changed meanwhile", t.label)
            return
        self._committed(tx)
        self._view.put(new)
        if counter:
            self._learn(counter, now)
        self._notify([c for c in [counter, *self._affected_counters([t.service])] if c], now, hall=True, call=None)

    # --- reads ---------------------------------------------------------------------------------------

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
        with self._lock:
            now = self.now()
            out: list[TicketInfo] = []
            pool = {t.id: t for s in cfg.services for t in self._view.waiting_for(s.id)}
            rest = list(pool.values())
            reserved = [rec.ticket for rec in self._view.active.values()
                        if rec.ticket.status is TicketStatus.WAITING and rec.ticket.target_counter == cfg.id]
            rest.extend(t for t in reserved if t.id not in pool)
            while rest and len(out) < 200:
                d = choose_next(cfg, rest, now, self.settings)
                if d is None:
                    break
                out.append(self.info(d.ticket, now, estimate=False).model_copy(update={"reason": d.reason}))
                rest = [t for t in rest if t.id != d.ticket.id]
            return out

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

    def cancel_ticket(self, *, command_id: str, ticket_id: str, source: str, operator: str | None = None) -> TicketInfo:
        """A visitor leaves (or the hall manager removes a ticket): waiting or called → cancelled."""
        with self._mutation():
            if (prior := self._prior(None, command_id)) is not None:
                return TicketInfo.model_validate(prior["ticket"])
            rec = self._live_ticket(ticket_id)
            now = self.now()
            try:
                with self._op() as tx:
                    gone = self._write(tx, rec, self._apply(core.cancel, rec.ticket, now=now, reason="cancelled"))
                    self._event(tx, EventKind.CANCELLED, rec.ticket, now, counter=rec.ticket.counter,
                                operator=operator, source=source)
                    counter = rec.ticket.counter
                    if counter and self._counters[counter].ticket_id == ticket_id:
                        cv = self._counters[counter]
                        cv.ticket_id, cv.status, cv.seq, cv.updated_at = None, "idle", cv.seq + 1, now
                        tx.save_counter(self.office, cv.row(counter))
                    info = self.info(gone, now, estimate=False)
                    result = {"ticket": info.model_dump(mode="json")}
                    tx.record_command(self.office, command_id, result, now)
            except IntegrityError:
                return TicketInfo.model_validate(self._stored_result(command_id)["ticket"])
            self._committed(tx)
            self._view.put(gone)
            if rec.ticket.counter:
                self._learn(rec.ticket.counter, now)
            self._remember(command_id, result)
            self._notify([c for c in [rec.ticket.counter, *self._affected_counters([rec.ticket.service])] if c],
                         now, hall=True, call=None)
            return info

    def send_to_counter(self, *, command_id: str, ticket_id: str, to_counter: str, source: str,
                        operator: str | None = None) -> TicketInfo:
        """The hall manager sends a waiting ticket to one counter (a specialist, a desk with the right forms).

        Only that counter may call it from now on; it keeps its place in time, so it is not pushed back.
        """
        with self._mutation():
            if (prior := self._prior(None, command_id)) is not None:
                return TicketInfo.model_validate(prior["ticket"])
            target = self._counter_cfg(to_counter)
            rec = self._live_ticket(ticket_id)
            if target.weight_for(rec.ticket.service) is None:
                raise Conflict("counter_does_not_serve", f"counter {target.id!r} does not serve {rec.ticket.service!r}")
            now = self.now()
            try:
                with self._op() as tx:
                    sent = self._write(tx, rec, self._apply(core.reserve, rec.ticket, to_counter=target.id))
                    self._event(tx, EventKind.RESERVED, sent.ticket, now, counter=target.id, operator=operator,
                                source=source, from_counter=rec.ticket.target_counter)
                    info = self.info(sent, now)
                    result = {"ticket": info.model_dump(mode="json")}
                    tx.record_command(self.office, command_id, result, now)
            except IntegrityError:
                return TicketInfo.model_validate(self._stored_result(command_id)["ticket"])
            self._committed(tx)
            self._view.put(sent)
            self._remember(command_id, result)
            self._notify(self._affected_counters([rec.ticket.service]), now, hall=True, call=None)
            return info

    def waiting_total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._view.waiting_by_service.values())
