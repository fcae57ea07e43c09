"""Group commit: every mutating call writes in a savepoint of one shared store transaction (the durable
batch) and is acknowledged only after that batch commits; one fsync acknowledges every call that joined it.
Listeners hear of a change after its commit.

A batch whose commit fails (the database went away, a failover under way) answers each of its calls
``store_failed``; the view, which already holds their changes, is rebuilt from the store before the
next batch opens, once the store answers again (docs/region.md, "High availability").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator

from cherga.broker_bridge.contract import HallCall
from cherga.server.errors import StoreFailed
from cherga.server.service.results import Change
from cherga.server.service.sync import Sync
from cherga.server.store import Batch, Tx, store_unreachable

log = logging.getLogger("cherga.server.service")

_GROUP_WAIT_S = 0.002  # longest a commit waits for operations already under way


class GroupCommit(Sync):
    """Extends :class:`Sync` with the durable batch every mutating call writes in, and the listeners."""

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
            self._reload_after_failure()
            self._batch = self.store.open_batch()
        with self._batch.savepoint() as tx:
            yield tx

    def _reload_after_failure(self) -> None:
        """Wait for the batch being committed; if a batch failed, take the store's view of the office.

        Call with the office lock held and no batch open. Not in :meth:`_wait` itself: a batch opened
        meanwhile holds changes not yet committed, which a reload would drop from the view. Raises
        (and stays due) while the store does not answer.
        """
        committing = self._committing
        if committing is not None:
            # One batch at a time per service: the next may not wait on rows the last still holds.
            committing.done.wait()
        if self._needs_reload:
            self._commands.clear()  # an answer remembered from the failed batch was never durable
            self.reload()
            self._needs_reload = False

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
                    if self._needs_reload and self._batch is None:
                        # Before anything reads the view or the remembered answers of the failed batch.
                        self._reload_after_failure()
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
                    self._needs_reload = True  # before done is set: the next batch reloads first
                finally:
                    self._committing = None
                    batch.done.set()
                if batch.error is not None:
                    log.error("commit failed (%s): the queue is reloaded from the store before the next change",
                              batch.error)
                else:
                    for change in batch.notices:
                        self._deliver(change)
        if batch.error is not None:
            raise StoreFailed(unreachable=store_unreachable(batch.error)) from batch.error

    def _committed(self, tx: Tx) -> None:
        """Remember our own events, so the log sync does not re-read them."""
        self._known_seq = max(self._known_seq, tx.last_event_seq)
        if self._shared:
            self._seen.update(tx.event_seqs)
