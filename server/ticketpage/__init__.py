"""The citizen's live ticket page behind the QR on every ticket: ``/t/{token}``.

Only the ticket's unguessable token opens it; it shows that one ticket (number, service, people
ahead, the forecast as printed, the call, the rating after service) and nothing about anybody else.
Live through server-sent events, polling when those fail (:mod:`server.ticketpage.routes`); the
words are worked out by :mod:`server.ticketpage.words`.
"""

from cherga.server.ticketpage.routes import router

__all__ = ["router"]
