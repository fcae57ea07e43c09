"""The command runner: every command applied exactly once per command id, and a resend answered alike.

One scaffold for every command kind (issue, check-in, offline ticket, counter actions, hall-manager
actions, booking): look the id up (memory, then the store), run the operation, record the id with its
kind and result in the same transaction, answer a lost unique-key race from the store, remember the
result, and let the operation tell the view and the listeners after the commit.

A resend of an applied command gets its first answer however late, from any process sharing the
store and across restarts. An id that was used by a different kind of command is refused
(``command_id_reused``): its stored answer belongs to something else.

A command whose database stopped answering (a primary gone, a failover under way) is tried again for
a moment under the same command id, which is safe even when the lost commit did happen: the retry
finds the id in the store and answers from it. Past that moment the caller gets ``store_failed``
(503) and resends the same id later; a call without an id is never retried.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from cherga.server.core.tickets import IllegalTransition, Ticket
from cherga.server.errors import Conflict, ServiceError, StaleCounter, StoreFailed
from cherga.server.service.group_commit import GroupCommit
from cherga.server.service.results import CounterView
from cherga.server.store import IntegrityError, TicketRecord, Tx, store_unreachable

T = TypeVar("T")

_COMMAND_CACHE = 20_000
# How long a command is tried again while the database does not answer: long enough for the pool to
# find the promoted standby once PostgreSQL's promotion is done, short enough for a kiosk waiting on it.
_STORE_RETRY_S = 2.0
_STORE_RETRY_PAUSES_S = (0.02, 0.05, 0.1, 0.2, 0.3)  # then the last, until the time is up

log = logging.getLogger("cherga.server.service")
# Results stored before kinds were recorded: each kind of answer tells its family apart.
_LEGACY_FAMILY = {"issue": "ticket", "check_in": "ticket", "offline_ticket": "ticket", "cancel_ticket": "ticket",
                  "send_to_counter": "ticket", "book_appointment": "booking"}


@dataclasses.dataclass
class Applied(Generic[T]):
    """What an operation did: the caller's answer, the result stored for resends, and the work after the commit."""

    answer: T
    result: dict[str, Any]
    after_commit: Callable[[], None]


def _family(kind: str) -> str:
    return _LEGACY_FAMILY.get(kind, "counter")


def _stored_family(result: Mapping[str, Any]) -> str:
    if "code" in result:
        return "booking"
    return "counter" if "counter" in result else "ticket"


class CommandRunner(GroupCommit):
    """Extends :class:`GroupCommit` with the exactly-once command runner and compare-and-set ticket writes."""

    def _run_command(self, command_id: str | None, kind: str, operation: Callable[[Tx, dt.datetime], Applied[T]],
                     answer_of: Callable[[Mapping[str, Any]], T], *, undo: Callable[[], None] | None = None,
                     refuse_if_new: ServiceError | None = None) -> T:
        """Apply ``operation`` once for ``command_id`` (``None``: a call without an id, applied every time).

        ``answer_of`` rebuilds the answer from a stored result; ``undo`` puts back what the operation
        changed in memory when its transaction is rolled back. ``refuse_if_new`` refuses a command
        not applied before (the bridge's late button presses) but still answers a resend.

        A database that does not answer is waited for a moment (see the module's docstring), then
        the call is refused with :class:`StoreFailed`.
        """
        deadline = time.monotonic() + _STORE_RETRY_S
        for attempt in itertools.count():
            try:
                return self._run_command_once(command_id, kind, operation, answer_of, undo=undo,
                                              refuse_if_new=refuse_if_new)
            except StoreFailed as exc:
                failure, cause = exc, exc.__cause__ or exc
            except Exception as exc:
                if not store_unreachable(exc):
                    raise
                failure, cause = StoreFailed(unreachable=True), exc
            pause = _STORE_RETRY_PAUSES_S[min(attempt, len(_STORE_RETRY_PAUSES_S) - 1)]
            if command_id is None or not failure.unreachable or time.monotonic() + pause > deadline:
                log.warning("%s %s refused: the database did not take it (%s)", kind, command_id or "", cause)
                raise failure from cause
            self.stats["store_retries"] += 1
            time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_command_once(self, command_id: str | None, kind: str,
                          operation: Callable[[Tx, dt.datetime], Applied[T]],
                          answer_of: Callable[[Mapping[str, Any]], T], *, undo: Callable[[], None] | None,
                          refuse_if_new: ServiceError | None) -> T:
        with self._mutation():
            if command_id is not None and (prior := self._commands.get(command_id)) is not None:
                return answer_of(self._same_kind(command_id, kind, prior))
            now = self.now()
            try:
                with self._op() as tx:
                    if command_id is not None and (prior := tx.command_result(self.office, command_id)) is not None:
                        answer = answer_of(self._same_kind(command_id, kind, prior))
                        self._remember(command_id, prior)  # a pad that resends once may resend again
                        return answer
                    if refuse_if_new is not None:
                        raise refuse_if_new
                    applied = operation(tx, now)
                    stored = {"kind": kind, **applied.result}
                    if command_id is not None:
                        tx.record_command(self.office, command_id, stored, now)
            except StaleCounter as exc:
                # Another process pressed this counter since we last saw it: ours is rolled back; take
                # the stored counter so that a retry starts from what is really there.
                if undo is not None:
                    undo()
                self._take_stored_counter(exc.counter)
                raise
            except IntegrityError:
                # Another process recorded this id meanwhile: ours is rolled back, theirs answers.
                if undo is not None:
                    undo()
                assert command_id is not None  # only the commands table's key can clash here
                return answer_of(self._same_kind(command_id, kind, self._stored_result(command_id)))
            except BaseException:
                if undo is not None:
                    undo()
                raise
            self._committed(tx)
            applied.after_commit()
            if command_id is not None:
                self._remember(command_id, stored)
            return applied.answer

    def _same_kind(self, command_id: str, kind: str, prior: Mapping[str, Any]) -> Mapping[str, Any]:
        """``prior`` if it answered a command of ``kind``; a reused id is refused, never answered with another's result."""
        stored_kind = prior.get("kind")
        same = stored_kind == kind if stored_kind is not None else _stored_family(prior) == _family(kind)
        if not same:
            raise Conflict("command_id_reused", f"command id {command_id!r} was already used for "
                           f"{stored_kind or 'another kind of command'}, not {kind}; send a new id")
        return prior

    def _remember(self, command_id: str, result: dict[str, Any]) -> None:
        self._commands[command_id] = result
        if len(self._commands) > _COMMAND_CACHE:
            self._commands.popitem(last=False)

    def _stored_result(self, command_id: str) -> dict[str, Any]:
        with self._op() as tx:
            prior = tx.command_result(self.office, command_id)
        if prior is None:  # pragma: no cover - an integrity error on anything else
            raise Conflict("store_conflict", "the store refused the change; try again")
        return prior

    # --- counter and ticket writes shared by the commands ------------------------------------------

    def _save_counter(self, tx: Tx, counter: str, cv: CounterView) -> None:
        """Write the counter's new state; a newer stored row (another process's press) refuses it."""
        if not tx.save_counter(self.office, cv.row(counter)):
            raise StaleCounter(counter)

    def _take_stored_counter(self, counter: str) -> None:
        """Replace this process's view of ``counter`` (and the tickets it names) with the stored ones."""
        self._become_shared()
        row = next((r for r in self.store.counter_rows(self.office) if r.counter == counter), None)
        if row is None or counter not in self._counters:
            return
        old = self._counters[counter]
        self._counters[counter] = CounterView.of(row)
        ids = sorted({i for i in (row.ticket_id, row.rateable_ticket, old.ticket_id, old.rateable_ticket) if i})
        self._take_newer(self.store.tickets_by_id(ids))

    # --- ticket writes shared by the commands ------------------------------------------------------

    def _write(self, tx: Tx, rec: TicketRecord, new: Ticket, **changes: Any) -> TicketRecord:
        """Compare-and-set ``new`` over ``rec``; a lost race is a conflict (the view is refreshed)."""
        out = dataclasses.replace(rec, ticket=new, version=rec.version + 1, **changes)
        if not tx.update_ticket(out, expected_version=rec.version):
            fresh = tx.ticket(rec.ticket.id)
            if fresh is not None:
                self._view.put(fresh)
            raise Conflict("ticket_changed", f"ticket {rec.ticket.label} was changed elsewhere; try again",
                           params={"ticket": rec.ticket.label})
        return out

    def _apply(self, fn: Callable[..., Ticket], ticket: Ticket, **kwargs: Any) -> Ticket:
        try:
            return fn(ticket, **kwargs)
        except IllegalTransition as exc:
            raise Conflict(exc.reason, exc.message, params=exc.params) from None

    def _restore(self, originals: Mapping[str, TicketRecord | None]) -> None:
        """After a rolled-back operation, put the touched tickets back as they were before it."""
        for tid, rec in originals.items():
            if rec is None:
                self._view.remove(tid)
            else:
                self._view.put(rec)
