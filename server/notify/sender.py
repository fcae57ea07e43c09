"""The sender: takes due messages from the outbox and hands them to the gateways (I/O; the clock comes in).

One pass (:meth:`Sender.run_once`) claims a batch, sends each message (each gateway in its own thread),
and records every outcome in one short transaction:
sent; tried again later with exponential backoff; failed for good (the gateway refused it, or it
stayed undeliverable past ``notify.give_up_after_min``, with the reason kept in ``last_error``); or
cancelled (the booking it reminds of is gone, or retention deleted the contact first).

When a gateway fails with an error that may pass (down, timing out, 5xx), the batch's other
messages for it are put back without being tried: a dead gateway costs one timeout per pass, not
one per message, and nothing waits behind it on the other channels.

Crash between send and record: the row stays claimed; after ``lease`` another pass takes it again
and sends it again (at-least-once), with the same message id (the SMS ``{id}``, the e-mail
``Message-ID``) so a gateway or a mail client can tell it is the same message.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping

from cherga.server.notify.channels import Channel, DeliveryError
from cherga.server.notify.outbox import Claimed, Outbox
from cherga.server.notify.plan import gave_up, next_attempt
from cherga.server.siteconfig import Notify

log = logging.getLogger("cherga.server.notify")


@dataclasses.dataclass
class GatewayHealth:
    """How one channel's gateway is doing, for the manager's device page and /metrics."""

    channel: str
    ok: bool = True
    failing_since: dt.datetime | None = None
    last_error: str | None = None
    last_sent_at: dt.datetime | None = None


class Sender:
    """Delivers the office's outbox through ``channels`` (``{"sms": SmsHttp(...), ...}``)."""

    def __init__(self, outbox: Outbox, channels: Mapping[str, Channel], cfg: Notify,
                 clock: Callable[[], dt.datetime], *, lease: dt.timedelta = dt.timedelta(minutes=5),
                 batch: int = 50, pace_s: float = 0.0) -> None:
        self.outbox = outbox
        self.channels = dict(channels)
        self.cfg = cfg
        self.clock = clock
        self.lease = lease
        self.batch = batch
        self.pace_s = pace_s
        self.health = {name: GatewayHealth(name) for name in self.channels}
        self.send_seconds: list[float] = []  # per message, for the bench
        self._lock = threading.Lock()  # one pass at a time per sender

    def run_once(self) -> int:
        """One pass over what is due now; the number of messages it handled."""
        with self._lock:
            claimed = self.outbox.claim(self.clock(), limit=self.batch, lease=self.lease)
            if not claimed:
                return 0
            groups: dict[str, list[Claimed]] = {}
            for row in claimed:
                groups.setdefault(row.channel, []).append(row)
            if len(groups) == 1:
                results = self._group(claimed)
            else:
                # Each gateway in its own thread: a slow SMTP server does not hold the SMS back.
                with concurrent.futures.ThreadPoolExecutor(max_workers=len(groups)) as pool:
                    results = [r for part in pool.map(self._group, groups.values()) for r in part]
            self.outbox.finish(results, self.clock())
            for name in groups:
                close = getattr(self.channels.get(name), "close", None)
                if close is not None:
                    close()  # a kept connection (SMTP) is not held open between passes
            return len(claimed)

    def _group(self, rows: list[Claimed]) -> list[tuple[Claimed, str, str | None, dt.datetime | None]]:
        down: dict[str, str] = {}
        out = []
        for row in rows:
            out.append(self._one(row, down))
            if self.pace_s:
                time.sleep(self.pace_s)  # leaves the interpreter to the queue's threads between messages
        return out

    def _one(self, row: Claimed, down: dict[str, str]) -> tuple[Claimed, str, str | None, dt.datetime | None]:
        now = self.clock()
        channel = self.channels.get(row.channel)
        if row.address is None:
            return row, "cancelled", "contact deleted or booking no longer waiting", None
        if channel is None:
            return self._failed(row, now, f"channel {row.channel} is not configured", permanent=True)
        if row.channel in down:
            # Its gateway failed a moment ago in this pass: keep the message for the next try, untried.
            return row, "deferred", down[row.channel], next_attempt(
                max(1, row.attempts), now, first_s=self.cfg.retry_first_s, max_s=self.cfg.retry_max_s)
        start = time.perf_counter()
        try:
            channel.send(row.address, row.body, str(row.id))
        except DeliveryError as exc:
            if not exc.permanent:
                down[row.channel] = str(exc)
            return self._failed(row, now, str(exc), permanent=exc.permanent)
        self.send_seconds.append(time.perf_counter() - start)
        h = self.health[row.channel]
        h.ok, h.failing_since, h.last_sent_at = True, None, now
        return row, "sent", None, None

    def _failed(self, row: Claimed, now: dt.datetime, error: str,
                *, permanent: bool) -> tuple[Claimed, str, str | None, dt.datetime | None]:
        if row.channel in self.health and not permanent:
            h = self.health[row.channel]
            if h.ok:
                h.ok, h.failing_since = False, now
                log.warning("notify: the %s gateway fails: %s", row.channel, error)
            h.last_error = error
        if permanent or gave_up(row.due_at, now, give_up_after_min=self.cfg.give_up_after_min):
            why = error if permanent else f"gave up after {self.cfg.give_up_after_min} min: {error}"
            log.warning("notify: message %s (%s) failed: %s", row.id, row.kind, why)
            return row, "failed", why, None
        return row, "retry", error, next_attempt(row.attempts + 1, now, first_s=self.cfg.retry_first_s,
                                                 max_s=self.cfg.retry_max_s)
