"""The notifier of one office: contacts in, the follower and the sender running beside the queue.

:class:`Notifier` is what the web routes and the app call. It owns two daemon threads: the
follower (woken by the service's change listener, which only sets an event, and every ``poll_s``
for changes from other processes) and the sender (every ``poll_s`` and when something was
queued). Retention (``notify.retention_days``) runs in the sender's thread once an hour. Nothing
here runs inside a queue transaction: the queue's only cost is that wake-up.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cherga.broker_bridge.contract import LANGUAGES
from cherga.server.errors import Conflict, Invalid, NotFound
from cherga.server.notify import contacts as contact_rules
from cherga.server.notify import plan, texts
from cherga.server.notify.channels import Channel, channels_from_config
from cherga.server.notify.follower import Follower
from cherga.server.notify.outbox import Outbox
from cherga.server.notify.plan import ContactRef
from cherga.server.notify.sender import GatewayHealth, Sender
from cherga.server.store import Tx

log = logging.getLogger("cherga.server.notify")

_RETENTION_EVERY = dt.timedelta(hours=1)


class Notifier:
    """Notifications for ``service``'s office (see the package docstring)."""

    def __init__(self, service: Any, *, channels: Mapping[str, Channel] | None = None,
                 clock: Callable[[], dt.datetime] | None = None, poll_s: float = 1.0,
                 lease: dt.timedelta = dt.timedelta(minutes=5), near_every_s: float = 2.0,
                 pace_s: float = 0.005) -> None:
        self.service = service
        self.config = service.config
        self.cfg = service.config.notify
        self.clock = clock or service.now
        self.poll_s = poll_s
        self.outbox = Outbox(service.store, service.office)
        self.channels = dict(channels) if channels is not None else channels_from_config(
            self.cfg, subject=self.config.office.names.get(self.config.office.languages[0]))
        # In the threads, "near" is checked at most every 2 s (each check is a forecast under the office lock).
        self.follower = Follower(service, self.outbox, self.clock)
        self._near_every_s = near_every_s
        # pace_s: a pause after each message, so a backlog drained flat out (hundreds a second) does not
        # take the interpreter from the queue's calls (bench/notify.py: p50 of "next" +3 ms without it).
        self.sender = Sender(self.outbox, self.channels, self.cfg, self.clock, lease=lease, pace_s=pace_s)
        self._wake_follower = threading.Event()
        self._wake_sender = threading.Event()
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared by pause(): both threads idle (the bench's "off" windows)
        self._running.set()
        self._threads: list[threading.Thread] = []
        self._purged_at: dt.datetime | None = None

    @property
    def enabled(self) -> list[str]:
        return list(self.channels)

    # --- running ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.follower.start()
        self.follower.near_every_s = self._near_every_s  # pump() (tests, benches) checks on every pass
        self.service.add_listener(self._on_change)
        for name, target in (("cherga-notify-follow", self._follow_loop), ("cherga-notify-send", self._send_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._wake_follower.set()
        self._wake_sender.set()
        for t in self._threads:
            t.join(timeout=15)
        self._threads.clear()

    def pause(self) -> None:
        """Let both threads idle after their current pass (nothing is lost: the log and the outbox wait)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()
        self._wake_follower.set()
        self._wake_sender.set()

    def _on_change(self, _change: Any) -> None:
        self._wake_follower.set()  # all the queue's thread does for notifications

    def _follow_loop(self) -> None:
        # The store may be briefly unavailable; the cursor makes the retry exact.
        self._loop(self._wake_follower, self.follower.run_once, self._wake_sender.set, "following the event log")

    def _send_loop(self) -> None:
        self._loop(self._wake_sender, self.sender.run_once, self.purge_if_due, "a sending pass")

    def _loop(self, wake: threading.Event, step: Callable[[], int], then: Callable[[], object], what: str) -> None:
        """Each time ``wake`` is set (or every ``poll_s``), run ``step`` while it finds work (a count), then ``then``."""
        while not self._stop.is_set():
            wake.wait(self.poll_s)
            wake.clear()
            if not self._running.is_set():
                continue
            try:
                while step() and not self._stop.is_set() and self._running.is_set():
                    pass
                then()
            except Exception:
                log.exception("notify: %s failed; retrying", what)

    def pump(self) -> None:
        """Follow the log and send everything due now, in the caller's thread (tests, benches)."""
        while self.follower.run_once():
            pass
        while self.sender.run_once():
            pass

    def purge_if_due(self) -> tuple[int, int]:
        now = self.clock()
        if self._purged_at is not None and now - self._purged_at < _RETENTION_EVERY:
            return 0, 0
        self._purged_at = now
        gone = self.outbox.purge(now, retain_days=self.cfg.retention_days)
        if any(gone):
            log.info("notify: retention deleted %d contact(s) and %d message text(s)", *gone)
        return gone

    # --- what the routes call ---------------------------------------------------------------------

    def add_ticket_contact(self, token: str, *, channel: str, address: str, consent: bool,
                           language: str | None = None) -> ContactRef:
        """Keep a contact for the ticket with ``token`` (its unguessable link); refused with a reason key."""
        info = self.service.ticket_status(token[:64])
        if info.status in ("cancelled", "no_show"):
            raise Conflict("ticket_closed", f"ticket {info.label} is {info.status}")
        c = contact_rules.normalise(channel, address, enabled=self.enabled, consent=consent)
        ref = self.outbox.add_contact(channel=c.channel, address=c.address, language=language or info.language,
                                      consent_version=texts.CONSENT_VERSION, now=self.clock(),
                                      ticket_id=info.ticket_id)
        if info.status == "waiting":
            self.follower.watch(info.ticket_id)
        self._wake_follower.set()
        return ref

    def add_booking_contact(self, code: str, *, channel: str, address: str, consent: bool,
                            language: str) -> ContactRef:
        """Keep a contact for a booking and queue its confirmation and reminders."""
        with self.service.store.reading() as conn:
            appt = Tx(conn).appointment(self.service.office, code.upper())
        if appt is None:
            raise NotFound("unknown_appointment", f"no appointment with code {code!r}")
        if appt["status"] != "booked":
            raise Conflict("appointment_not_booked", f"appointment {code!r} is {appt['status']}")
        if language not in LANGUAGES:
            raise Invalid("unknown_language", f"language {language!r} is not one of {', '.join(LANGUAGES)}")
        c = contact_rules.normalise(channel, address, enabled=self.enabled, consent=consent)
        now = self.clock()
        ref = self.outbox.add_contact(channel=c.channel, address=c.address, language=language,
                                      consent_version=texts.CONSENT_VERSION, now=now, booking_code=appt["code"])
        planned = plan.booking_messages(ref, code=appt["code"], slot=appt["slot"], service=appt["service"],
                                        tz=self.config.office.tz, now=now)
        self.follower.queue(planned, booking_code=appt["code"])
        self._wake_sender.set()
        return ref

    def documents_ready(self, ticket_id: str) -> tuple[int, int]:
        """Staff say the documents of ``ticket_id`` are ready: each of its contacts is told once.

        Returns (contacts, messages newly queued): marking it twice tells nobody twice."""
        info = self.service.ticket(ticket_id)
        contacts = self.outbox.contacts_for(ticket_id=info.ticket_id)
        now = self.clock()
        n = self.follower.queue([plan.documents_ready_message(c, ticket_id=info.ticket_id, office=self.service.office,
                                                              service=info.service, now=now) for c in contacts],
                                ticket_id=info.ticket_id)
        self._wake_sender.set()
        return len(contacts), n

    # --- visibility ---------------------------------------------------------------------------------

    def health(self) -> list[GatewayHealth]:
        return [self.sender.health[name] for name in self.channels]

    def counts(self) -> dict[tuple[str, str], int]:
        return self.outbox.counts()


def attach_notifications(app: Any, services: Mapping[str, Any], starts: list[Callable[[Any], None]],
                         stops: list[Callable[[Any], None]]) -> None:
    """Give ``app`` a :class:`Notifier` per office (``app.state.notifiers``) and its routes.

    The threads start with the app (``starts``) only where a gateway is configured: an office
    without ``notify:`` runs nothing, and its form says that it sends no notifications.
    """
    from cherga.server.notify.routes import router

    notifiers = {office: Notifier(svc) for office, svc in services.items()}
    app.state.notifiers = notifiers
    app.include_router(router)
    metrics = getattr(app.state, "metrics", None)
    if metrics is not None:
        metrics.registry.register(NotifyCollector(notifiers))

    def start(_app: Any) -> None:
        for n in notifiers.values():
            if n.enabled:
                n.start()

    def stop(_app: Any) -> None:
        for n in notifiers.values():
            n.stop()

    starts.append(start)
    stops.append(stop)


class NotifyCollector:
    """/metrics: notifications per office, channel and state (pending, sending, sent, failed, cancelled),
    read from the outbox at scrape time (every process sees the same numbers), and each gateway's health."""

    def __init__(self, notifiers: Mapping[str, Notifier]) -> None:
        self._notifiers = notifiers

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        messages = GaugeMetricFamily("cherga_notifications", "Notifications in the outbox, per channel and state",
                                     labels=["office", "channel", "state"])
        up = GaugeMetricFamily("cherga_notify_gateway_up", "1 while the gateway's last try worked, 0 while it fails",
                               labels=["office", "channel"])
        for office, n in self._notifiers.items():
            if not n.enabled:
                continue  # no gateway, no outbox to read
            counts = n.counts()
            for channel in n.enabled:
                for state in ("pending", "sending", "sent", "failed", "cancelled"):
                    messages.add_metric([office, channel, state], counts.get((channel, state), 0))
            for h in n.health():
                up.add_metric([office, h.channel], 1 if h.ok else 0)
        yield from (messages, up)
