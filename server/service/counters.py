"""A counter's buttons (pads, the operator panel, the REST API): next, recall, start, finish, no-show,
transfer, postpone, pause, resume, sign in and out, rate. One handler per action, all run by
:meth:`Counters.counter_action` through the command runner.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Mapping
from typing import Any

from cherga.broker_bridge.contract import (
    CLOSED_BY_MANAGER,
    MAX_POSTPONE_S,
    CallEntry,
    CounterAction,
    HallCall,
    PauseReason,
)
from cherga.server import auth
from cherga.server.core import tickets as core
from cherga.server.core.backoffice import assign_registrar
from cherga.server.core.scheduling import choose_next
from cherga.server.core.tickets import EventKind, TicketStatus
from cherga.server.errors import Conflict, Invalid, NotFound, ServiceError, StaleCounter
from cherga.server.security import acting, throttle
from cherga.server.service.commands import Applied, CommandRunner
from cherga.server.service.results import ActionResult, CounterView
from cherga.server.siteconfig import Counter
from cherga.server.store import TicketRecord, Tx

DEFAULT_POSTPONE_S = 300
_NEXT_RETRIES = 200
_STALE_RETRIES = 20  # presses of one counter through several processes: each retry starts from the stored row


def _action_answer(stored: Mapping[str, Any]) -> ActionResult:
    return ActionResult.from_json(stored)


class Counters(CommandRunner):
    """Extends :class:`CommandRunner` with the counter buttons (one ``_do_<action>`` handler each)."""

    def counter_action(self, *, command_id: str, counter: str, action: CounterAction, source: str,
                       operator: str | None = None, result: str | None = None, to_service: str | None = None,
                       to_counter: str | None = None, return_after: bool = False, delay_s: int | None = None,
                       pause_reason: str | None = None, pin: str | None = None, ticket_id: str | None = None,
                       score: int | None = None, authenticated: bool = False,
                       refuse_if_new: ServiceError | None = None, return_visitor: bool = False) -> ActionResult:
        """Apply a counter's button. ``authenticated``: the caller already proved ``operator``
        (a REST bearer token); otherwise signing in needs the operator's PIN. ``refuse_if_new``: see
        :meth:`CommandRunner._run_command` (a press that arrives too late is refused unless already applied).
        ``return_visitor`` (sign_out): a visitor still called or served goes back to the queue, keeping their
        place and bound to no counter, instead of refusing the sign-out.

        A press that finds the counter changed by another server process (a pad heard by two bridges,
        REST behind a load balancer) starts again from the stored counter. A wrong PIN is counted
        (shared by every process) after its transaction has rolled back."""
        try:
            return self._counter_action_retrying(
                command_id=command_id, counter=counter, action=action, source=source, operator=operator,
                result=result, to_service=to_service, to_counter=to_counter, return_after=return_after,
                delay_s=delay_s, pause_reason=pause_reason, pin=pin, ticket_id=ticket_id, score=score,
                authenticated=authenticated, refuse_if_new=refuse_if_new, return_visitor=return_visitor)
        except throttle.WrongPin as exc:
            throttle.pins.failed(self.store, exc.where, exc.at)
            raise

    def _counter_action_retrying(self, **kw: Any) -> ActionResult:
        for attempt in range(_STALE_RETRIES):
            try:
                return self._counter_action_once(**kw)
            except StaleCounter:
                if attempt == _STALE_RETRIES - 1:
                    raise
                self.stats["stale_counter_retries"] += 1
        raise AssertionError("unreachable")  # pragma: no cover

    def _counter_action_once(self, *, command_id: str, counter: str, action: CounterAction, source: str,
                             operator: str | None, result: str | None, to_service: str | None,
                             to_counter: str | None, return_after: bool, delay_s: int | None,
                             pause_reason: str | None, pin: str | None, ticket_id: str | None,
                             score: int | None, authenticated: bool, refuse_if_new: ServiceError | None,
                             return_visitor: bool) -> ActionResult:
        cfg = self._counter_cfg(counter)
        try:
            action = CounterAction(action)
        except ValueError:
            raise Invalid("unknown_action", f"unknown counter action {action!r}") from None
        before: list[CounterView] = []  # the counter as it was, while the operation is under way
        originals: dict[str, TicketRecord | None] = {}
        others_before: dict[str, CounterView] = {}  # sign_in: the counters the person leaves (one person, one counter)

        def operation(tx: Tx, now: dt.datetime) -> Applied[ActionResult]:
            cv = self._counters[counter]
            before.append(dataclasses.replace(cv))
            if action is CounterAction.SIGN_IN:
                others_before.update({cid: dataclasses.replace(o) for cid, o in self._counters.items()
                                      if cid != counter and o.operator is not None})
            touched: list[TicketRecord] = []
            services_touched: set[str] = set()
            # Who acts is who is signed in here. A pad's ``operator`` field is only a claim (any pad can
            # write "admin"): only a caller that proved the name (REST token, panel session) may give it.
            op = (operator if authenticated else None) or cv.operator
            if authenticated and operator is not None:  # REST and panel: only at one's own counter (issue 23)
                acting.check(self.store, counter=counter, holder=cv.operator, actor=operator, action=action,
                             closed_by_manager=cv.status == "closed" and cv.pause_reason == CLOSED_BY_MANAGER)
            handler = getattr(self, f"_do_{action.value}")
            try:
                status, call = handler(
                    tx, cfg, cv, now, op, touched, services_touched,
                    operator=operator, result=result, to_service=to_service, to_counter=to_counter,
                    return_after=return_after, delay_s=delay_s, pause_reason=pause_reason, pin=pin,
                    ticket_id=ticket_id, score=score, authenticated=authenticated, return_visitor=return_visitor)
            except Conflict as exc:
                if exc.key != "ticket_changed":
                    raise
                # This counter's ticket was changed by another process (it pressed here, or a manager
                # cancelled): our view of the counter is stale; start again from the stored one.
                raise StaleCounter(counter) from exc
            cv.seq += 1
            cv.updated_at = now
            self._save_counter(tx, counter, cv)
            for rec in touched:
                originals.setdefault(rec.ticket.id, self._view.get(rec.ticket.id))
                self._view.put(rec)  # provisional: undone if this operation fails
            ticket = None
            if touched and status == "ok":
                main = touched[0]
                ticket = self.info(main, now, estimate=main.ticket.status is TicketStatus.WAITING)
            outcome = ActionResult(status, self._counter_state(counter, now), ticket, call)

            left = [cid for cid, o in others_before.items() if self._counters[cid].operator != o.operator]

            def after_commit() -> None:
                self._learn(counter, now, called=touched[0].ticket if call is not None and not call.recall else None,
                            paused=action is CounterAction.PAUSE)
                for cid in left:
                    self._learn(cid, now)
                self.stats[f"action_{action.value}"] += 1
                if call is not None:
                    self._calls.appendleft(CallEntry(call_id=call.call_id, label=call.label, counter=counter,
                                                     counter_number=cfg.number, service=call.service,
                                                     called_at=now, recall=call.recall))
                affected = [counter, *self._affected_counters(services_touched)]
                extra = [rec.ticket.target_counter for rec in touched if rec.ticket.target_counter]
                self._notify([*affected, *extra, *left], now, hall=True, call=call)

            return Applied(outcome, outcome.to_json(), after_commit)

        def undo() -> None:
            if before:
                self._counters[counter] = before[0]
            self._counters.update(others_before)
            self._restore(originals)

        return self._run_command(command_id, f"counter_{action.value}@{counter}", operation, _action_answer, undo=undo,
                                 refuse_if_new=refuse_if_new)

    def _current(self, cv: CounterView, *allowed: TicketStatus) -> TicketRecord:
        rec = self._view.get(cv.ticket_id) if cv.ticket_id else None
        if rec is None:
            raise Conflict("no_current_ticket", "this counter has no ticket called")
        if allowed and rec.ticket.status not in allowed:
            raise Conflict("illegal_transition",
                           f"ticket {rec.ticket.label} is {rec.ticket.status.value}")
        return rec

    def _close_current(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
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

    def _do_next(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                 touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        if cv.status == "closed" and cv.pause_reason == CLOSED_BY_MANAGER:
            raise Conflict("counter_closed_by_manager", f"the hall manager closed counter {cfg.number}",
                           params={"counter": cfg.id})
        if cv.status == "paused":
            self._event(tx, EventKind.COUNTER_RESUMED, None, now, counter=cfg.id, operator=op, reason="next pressed")
            cv.pause_reason = None
        self._close_current(tx, cfg, cv, now, op, touched, services)
        if op and cv.operator is None:
            cv.operator = op
        # closing.waiting_at_close: stop (issue 20): past a service's last call nobody of it is called.
        stopped = {s.id for s in cfg.services if self._calls_stopped(s.id, now)}
        if stopped and len(stopped) == len(cfg.services):
            cv.status = "idle"
            if touched:  # this press finished the last visitor: that much is done, nobody is called
                return "empty", None
            raise Conflict("calls_stopped", f"no more calls today at counter {cfg.number} (the office's closing rule)",
                           params={"counter": cfg.id, **self._last_call_params(cfg)})
        refreshed = False
        self._sync_from_log()
        lost: set[str] = set()  # tickets another process took (or holds) during this press
        for _ in range(_NEXT_RETRIES):
            offered = self._view.candidates(cfg, now, lost)
            if stopped:
                offered = [t for t in offered if t.service not in stopped]
            decision = choose_next(cfg, offered, now, self.settings)
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
                                 reason=decision.reason, why=decision.why)
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

    def _do_recall(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
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

    def _do_start(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                  touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv)
        started = self._apply(core.start, rec.ticket, now=now)
        touched.insert(0, self._write(tx, rec, started))
        self._event(tx, EventKind.STARTED, started, now, counter=cfg.id, operator=op,
                    waited_s=round((now - rec.ticket.waiting_since).total_seconds(), 3))
        cv.status = "serving"
        return "ok", None

    def _do_finish(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                   touched: list[TicketRecord], services: set[str], *, result: str | None = None,
                   **kw: Any) -> tuple[str, HallCall | None]:
        self._current(cv, TicketStatus.CALLED, TicketStatus.SERVING)
        self._close_current(tx, cfg, cv, now, op, touched, services, result=result)
        cv.status = "idle"
        return "ok", None

    def _do_no_show(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                    touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv)
        gone = self._apply(core.no_show, rec.ticket, now=now)
        touched.insert(0, self._write(tx, rec, gone))
        self._event(tx, EventKind.NO_SHOW, gone, now, counter=cfg.id, operator=op, rule="operator",
                    recalls=rec.ticket.recalls)
        cv.ticket_id = None
        cv.status = "idle"
        return "ok", None

    def _do_transfer(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
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
            raise Conflict("counter_does_not_serve", f"counter {target_cfg.id!r} does not serve {service!r}",
                           params={"counter": target_cfg.id, "service": service})
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

    def _do_postpone(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                     touched: list[TicketRecord], services: set[str], *, delay_s: int | None = None,
                     **kw: Any) -> tuple[str, HallCall | None]:
        rec = self._current(cv)
        delay = DEFAULT_POSTPONE_S if delay_s is None else delay_s
        if delay < 0 or delay > MAX_POSTPONE_S:
            raise Invalid("bad_delay", f"delay_s must be between 0 and {MAX_POSTPONE_S}")
        later = self._apply(core.postpone, rec.ticket, now=now, delay=dt.timedelta(seconds=delay))
        touched.insert(0, self._write(tx, rec, later))
        self._event(tx, EventKind.POSTPONED, later, now, counter=cfg.id, operator=op, delay_s=delay,
                    not_before=later.not_before.isoformat() if later.not_before else None)
        cv.ticket_id = None
        cv.status = "idle"
        return "ok", None

    def _do_pause(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                  touched: list[TicketRecord], services: set[str], *, pause_reason: str | None = None,
                  **kw: Any) -> tuple[str, HallCall | None]:
        if cv.ticket_id and self._view.get(cv.ticket_id) is not None:
            raise Conflict("ticket_in_progress", "finish, transfer or postpone the current ticket before a pause")
        if cv.status == "paused":
            raise Conflict("already_paused", "the counter is already paused")
        try:
            reason = PauseReason(pause_reason or PauseReason.BREAK)
        except ValueError:
            raise Invalid("bad_pause_reason", f"unknown pause reason {pause_reason!r}") from None
        cv.status = "paused"
        cv.pause_reason = reason.value
        self._event(tx, EventKind.COUNTER_PAUSED, None, now, counter=cfg.id, operator=op, reason=cv.pause_reason)
        return "ok", None

    def _do_resume(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                   touched: list[TicketRecord], services: set[str], **kw: Any) -> tuple[str, HallCall | None]:
        if cv.status != "paused":
            raise Conflict("not_paused", "the counter is not paused")
        self._event(tx, EventKind.COUNTER_RESUMED, None, now, counter=cfg.id, operator=op,
                    reason=cv.pause_reason, paused_s=round((now - cv.updated_at).total_seconds(), 3))
        cv.status = "idle"
        cv.pause_reason = None
        return "ok", None

    def _do_sign_in(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                    touched: list[TicketRecord], services: set[str], *, operator: str | None = None,
                    pin: str | None = None, authenticated: bool = False, **kw: Any) -> tuple[str, HallCall | None]:
        account = auth.verify_sign_in(self.store, operator=operator, pin=pin, authenticated=authenticated,
                                      where=f"{self.office}/{cfg.id}", now=now, tx=tx)
        auth.require_office(account, self.office)  # every door: a pad's PIN too (issue 21)
        if cv.status == "closed" and cv.pause_reason == CLOSED_BY_MANAGER:
            raise Conflict("counter_closed_by_manager", f"the hall manager closed counter {cfg.number}",
                           params={"counter": cfg.id})
        if cv.operator and cv.operator != account.username:
            holder = self._operator_name(cv.operator) or cv.operator
            raise Conflict("counter_taken", f"counter {cfg.number} is held by {holder}; they sign out first",
                           params={"counter": cfg.id, "operator": holder})
        # One person, one counter: signing in here signs them out of any other counter (every door
        # comes through here: pad, panel, REST).
        for other_id, other in self._counters.items():
            if other_id == cfg.id or other.operator != account.username:
                continue
            other_cfg = self.config.counter(other_id)
            if other.ticket_id and self._view.get(other.ticket_id) is not None:
                raise Conflict("busy_at_other_counter",
                               f"{account.username} has a visitor at counter {other_cfg.number}; finish there first",
                               params={"counter": other_id})
            self._event(tx, EventKind.OPERATOR_SIGNED_OUT, None, now, counter=other_id, operator=account.username,
                        reason="moved", to_counter=cfg.id)
            other.operator, other.status, other.pause_reason = None, "closed", None
            other.seq += 1
            other.updated_at = now
            self._save_counter(tx, other_id, other)
        self._names[account.username] = account.display_name
        cv.operator = account.username
        if cv.status == "closed":
            cv.status = "idle"
        self._event(tx, EventKind.OPERATOR_SIGNED_IN, None, now, counter=cfg.id, operator=account.username,
                    role=account.role)
        return "ok", None

    def _do_sign_out(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
                     touched: list[TicketRecord], services: set[str], *, return_visitor: bool = False,
                     **kw: Any) -> tuple[str, HallCall | None]:
        if cv.operator is None:
            raise Conflict("not_signed_in", "nobody is signed in at this counter")
        rec = self._view.get(cv.ticket_id) if cv.ticket_id else None
        if rec is not None and rec.ticket.status in (TicketStatus.CALLED, TicketStatus.SERVING):
            if not return_visitor:
                raise Conflict("ticket_in_progress",
                               "finish, transfer or postpone the current ticket before signing out",
                               params={"ticket": rec.ticket.label, "counter": cfg.id})
            # Back to the queue at once, keeping their place, for any counter (this one is closing).
            back = self._apply(core.postpone, rec.ticket, now=now, delay=dt.timedelta(0), keep_counter=False)
            touched.insert(0, self._write(tx, rec, back))
            self._event(tx, EventKind.POSTPONED, back, now, counter=cfg.id, operator=op, delay_s=0,
                        not_before=now.isoformat(), reason="operator_signed_out")
            services.add(back.service)
        cv.ticket_id = None
        self._event(tx, EventKind.OPERATOR_SIGNED_OUT, None, now, counter=cfg.id, operator=cv.operator)
        cv.operator = None
        cv.status = "closed"
        cv.pause_reason = None
        return "ok", None

    def _do_rate(self, tx: Tx, cfg: Counter, cv: CounterView, now: dt.datetime, op: str | None,
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
            raise Conflict("not_rateable", f"ticket {rec.ticket.label} was not finished at this counter",
                           params={"ticket": rec.ticket.label})
        if tx.rated(tid):
            raise Conflict("already_rated", f"ticket {rec.ticket.label} was already rated")
        tx.insert_rating(ticket_id=tid, office=self.office, service=rec.ticket.service, counter=cfg.id,
                         operator=rec.ticket.operator, score=score, at=now)
        self._event(tx, EventKind.RATED, rec.ticket, now, counter=cfg.id, operator=rec.ticket.operator, score=score)
        if cv.rateable_ticket == tid:
            cv.rateable_ticket = None
        return "ok", None
