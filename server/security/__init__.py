"""Web and API security of the office server (issue 23): who may sign in and how often, sessions,
who may act where, the audit log, and the HTTP defences every page and route gets.

* :mod:`.context` — the caller's address, the office and the signed-in staff member of the request
  being served (set by the middleware, read by :mod:`cherga.server.auth` and the audit log).
* :mod:`.hashing` — argon2 work on a small pool sized to the CPUs: bounded memory, no stampede.
* :mod:`.throttle` — wrong passwords per account and per address (stored: every process sees a
  lock), wrong PINs per counter.
* :mod:`.sessions` — bearer tokens bound to the issuing office, with absolute and idle expiry.
* :mod:`.acting` — an operator acts only at the counter they are signed in at.
* :mod:`.audit` — the append-only audit log (append, read, retention) and its pages.
* :mod:`.middleware` — security headers and CSP, the Origin check (CSRF), per-address rate limits on
  public routes, and the audit record of every staff request that changes something.

:func:`install` puts the middleware and the audit routes on an app (``server.app.create_app``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["install"]


def install(app: Any) -> None:
    """Add the security middleware and the audit log's routes to ``app``."""
    from cherga.server.security.middleware import SecurityMiddleware
    from cherga.server.security.web import router

    app.include_router(router)
    app.add_middleware(SecurityMiddleware)
