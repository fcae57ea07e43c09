"""Opt-in notifications for citizens (issue 19; ``docs/notifications.md``).

A citizen may leave a phone number, an e-mail or a Telegram chat for one ticket or booking, with
explicit consent. Messages (booking confirmed, reminders, your turn is near, called to window N,
documents ready) leave through a durable outbox; the queue never waits for a gateway.

One module per job, pure parts first:

=============  ================================================================================
``texts``      the words of each message and the consent, in five languages (``locales/``)
``contacts``   what a contact may be: checked before anything is stored (pure)
``plan``       what an event, a booking or a forecast causes, unique keys, backoff (pure)
``outbox``     the tables: contacts, the outbox, the event cursor; retention (I/O)
``channels``   the gateways behind one interface: SMS over HTTP, SMTP, Telegram Bot API (I/O)
``follower``   reads the event log after commit and queues messages
``sender``     delivers the outbox: retries, backoff, giving up, gateway health
``engine``     :class:`Notifier`, the threads and what the routes call
``routes``     ``/t/{token}/notify`` (the form) and the REST endpoints (``router``)
=============  ================================================================================
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # The router pulls in FastAPI and Jinja; importing the package for its pure parts must not.
    if name == "router":
        from cherga.server.notify.routes import router

        return router
    raise AttributeError(name)
