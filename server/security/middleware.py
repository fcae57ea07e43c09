"""The HTTP defences every route of the office server gets, as one ASGI middleware.

* **Security headers** on every answer: a Content-Security-Policy (scripts and styles only from this
  server; frames, plugins and foreign forms refused), ``X-Frame-Options: DENY``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``, a Permissions-Policy.
  The web kiosk, the hall mirror and the API docs (``STRICT_PAGES``) allow no inline script and no
  inline style at all: their scripts and style sheets are files (server/mirror/static). The other
  pages allow inline styles (style attributes in generated pages and charts), never inline script.
* **CSRF**: staff cookies are ``SameSite=Strict`` (a page of another site never sends them), and
  every state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (else ``Referer``) names
  another origin than the one it was sent to is refused (403 ``cross_site``). That also covers what
  SameSite cannot: another port or host of the same site (a laptop's page at ``http://10.0.0.7:8080``
  posting to the office at ``http://10.0.0.7``), and the public forms that have no cookie at all.
  Requests without either header (scripts, pads, curl) carry no ambient credential a page could
  abuse: they need a bearer token. No token to thread through every form, so no form can forget it.
* **Rate limits** per address on the public routes (token buckets: ``LIMITS``): booking and its
  cancellation, ticket issue, status and load reads, sign-in. One address cannot empty a day's
  booking slots or flood the office; a refusal is 429 with ``Retry-After``, a page in the visitor's
  language for a browser. Loopback is exempt by default (the server's own display or kiosk, benches; a
  reverse proxy on the same box would make every caller loopback: set the variable then):
  ``CHERGA_RATE_LIMIT_EXEMPT`` (comma-separated addresses, ``none`` for no exemption).
* **Audit**: every state-changing request of a signed-in staff member is recorded (who, what, when,
  from where, outcome) unless the route recorded it itself (sign-in).
* The request's :class:`~cherga.server.security.context.RequestContext` (address, office, staff).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from cherga.server.errors import ServiceError
from cherga.server.security import audit, context

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'{inline_style}; img-src 'self' data:; "
           "media-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
           "form-action 'self'; frame-ancestors 'none'")
CSP = _POLICY.format(inline_style=" 'unsafe-inline'")
CSP_STRICT = _POLICY.format(inline_style="")
# Pages with neither inline script nor inline style: the public kiosk and hall screens and the API docs.
STRICT_PAGES = ("/office/*/kiosk", "/office/*/hall", "/docs", "/api/v1/docs")

BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class Bucket:
    """A token bucket: ``capacity`` at once, refilled at ``per_s`` tokens a second."""

    __slots__ = ("tokens", "stamp")

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = capacity
        self.stamp = now


class Limit:
    def __init__(self, name: str, capacity: int, per_s: float, methods: frozenset[str], patterns: tuple[str, ...]):
        self.name, self.capacity, self.per_s, self.methods, self.patterns = name, capacity, per_s, methods, patterns

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and any(fnmatch.fnmatchcase(path, p) for p in self.patterns)


# First match wins. Sized for people, not scripts: a family books a few visits, a kiosk in a browser
# issues a ticket every few seconds at most, a status page refreshes every 15 s.
LIMITS = (
    Limit("booking", 5, 1 / 60, frozenset({"POST"}),
          ("/office/*/book", "/office/*/book/cancel", "/api/v1/offices/*/appointments",
           "/api/v1/offices/*/appointments/*/cancel")),
    Limit("issue", 30, 1 / 3, frozenset({"POST"}), ("/api/v1/offices/*/tickets",)),
    Limit("signin", 20, 1 / 2, frozenset({"POST"}), ("/panel/signin", "/reports/signin", "/api/v1/auth/login")),
    Limit("public", 120, 4.0, frozenset({"GET", "HEAD"}),
          ("/t/*", "/api/v1/tickets/*", "/load/*", "/api/v1/offices/*/load", "/api/v1/offices/*/hall",
           "/api/v1/offices/*/appointments/slots", "/office/*/book", "/office/*/book/*",
           "/network", "/network.json", "/network/*")),
)


class RateLimiter:
    """Per-address token buckets for :data:`LIMITS` (in this process's memory)."""

    def __init__(self, limits: tuple[Limit, ...] = LIMITS, exempt: frozenset[str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        if exempt is None:
            # "testclient" is Starlette's TestClient (no real peer has that address).
            raw = os.environ.get("CHERGA_RATE_LIMIT_EXEMPT", "127.0.0.1,::1,testclient")
            exempt = frozenset() if raw.strip().lower() == "none" else frozenset(
                a.strip() for a in raw.split(",") if a.strip())
        self.exempt = exempt
        self.clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def wait_s(self, method: str, path: str, address: str | None) -> float:
        """0 when the request may pass (and takes a token), else the seconds until it may."""
        if address is None or address in self.exempt:
            return 0.0
        limit = next((lim for lim in self.limits if lim.matches(method, path)), None)
        if limit is None:
            return 0.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get((limit.name, address))
            if bucket is None:
                if len(self._buckets) > 50_000:  # many addresses (a scan): start over rather than grow
                    self._buckets.clear()
                bucket = self._buckets[(limit.name, address)] = Bucket(limit.capacity, now)
            bucket.tokens = min(limit.capacity, bucket.tokens + (now - bucket.stamp) * limit.per_s)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            self.refused += 1
            return (1 - bucket.tokens) / limit.per_s


class RateLimited(ServiceError):
    status = 429

    def __init__(self, seconds: float) -> None:
        wait = max(1, math.ceil(seconds))
        super().__init__("rate_limited", f"too many requests from this address; try again in {wait} s",
                         params={"retry_after_s": wait, "minutes": max(1, math.ceil(wait / 60))})


class CrossSite(ServiceError):
    status = 403

    def __init__(self, origin: str) -> None:
        super().__init__("cross_site", f"a form of another site ({origin}) may not act here")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site_origin(scope: Scope) -> str | None:
    """The foreign origin a state-changing request came from, or ``None`` when it is this server's (or unsaid)."""
    claimed = _header(scope, b"origin")
    if claimed is None:
        referer = _header(scope, b"referer")
        if not referer:
            return None
        claimed = _origin_of(referer) or "null"
    claimed = claimed.strip().lower()
    host = (_header(scope, b"host") or "").lower()
    scheme = str(scope.get("scheme", "http"))
    allowed = {f"{scheme}://{host}"}
    allowed.update(o.strip().lower() for o in os.environ.get("CHERGA_ALLOWED_ORIGINS", "").split(",") if o.strip())
    return None if claimed in allowed else claimed


def _policy_for(path: str) -> bytes:
    strict = any(fnmatch.fnmatchcase(path, p) for p in STRICT_PAGES)
    return (CSP_STRICT if strict else CSP).encode()


# Path segments followed by an office id: the REST API, the citizen pages, the reports.
_OFFICE_SEGMENTS = frozenset({"offices", "office", "reports"})


def office_in_path(path: str, served: tuple[str, ...]) -> str | None:
    """The office a request's path names, when this server runs it (``/api/v1/offices/B/...`` → ``B``)."""
    parts = path.split("/")
    for before, part in zip(parts, parts[1:], strict=False):
        if before in _OFFICE_SEGMENTS and part in served:
            return part
    return None


def _panel_office(scope: Scope, path: str, served: tuple[str, ...]) -> str | None:
    """The operator panel's office on a server that runs several: its ``cherga_office`` cookie."""
    if not path.startswith("/panel"):
        return None
    for part in (_header(scope, b"cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "cherga_office" and value in served:
            return value
    return None


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.limiter = limiter or RateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope["method"])
        path = str(scope["path"])
        client = scope.get("client")
        address = str(client[0]) if client else None
        state = getattr(scope.get("app"), "state", None)
        config = getattr(state, "config", None)
        office = config.office.id if config is not None else None
        services = getattr(state, "services", None)
        served = tuple(services) if isinstance(services, dict) and services else None
        if served is not None and len(served) > 1:  # the audit names the office acted on
            office = office_in_path(path, served) or _panel_office(scope, path, served) or office
        if state is not None:
            state.rate_limiter = self.limiter  # tests and /metrics read it
        policy = _policy_for(path)
        status = {"code": 500}

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in BASE_HEADERS if k not in have)
                if b"content-security-policy" not in have:
                    headers.append((b"content-security-policy", policy))
                message["headers"] = headers
            await send(message)

        if method in UNSAFE:
            foreign = cross_site_origin(scope)
            if foreign is not None:
                await self._refuse(scope, receive, send_secured, CrossSite(foreign))
                return
        wait = self.limiter.wait_s(method, path, address)
        if wait:
            await self._refuse(scope, receive, send_secured, RateLimited(wait))
            return
        ctx = context.RequestContext(address=address, office=office, served=served)
        token = context.opened(ctx)
        try:
            await self.app(scope, receive, send_secured)
        finally:
            context.closed(token)
            if method in UNSAFE and ctx.staff is not None and not ctx.audited and state is not None:
                self._audit(state, ctx, method, path, status["code"])  # queued: no I/O on the event loop

    @staticmethod
    def _audit(state: Any, ctx: context.RequestContext, method: str, path: str, code: int) -> None:
        store = getattr(state, "store", None)
        if store is None:
            return
        clock = getattr(state, "clock", None)
        now = clock() if callable(clock) else dt.datetime.now(dt.UTC)
        signout = path.endswith(("/signout", "/auth/logout"))
        audit.record(store, "sign_out" if signout else f"{method} {path}", at=now, actor=ctx.staff.username,
                     office=ctx.office, address=ctx.address, target=path,
                     outcome="ok" if code < 400 else "refused", data={"status": code}, wait=False)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: ServiceError) -> None:
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        from cherga.server.panel.error_page import error_page, wants_page

        headers = {}
        if "retry_after_s" in exc.params:
            headers["Retry-After"] = str(exc.params["retry_after_s"])
        request = Request(scope, receive)
        response: Any
        if wants_page(request) and getattr(scope.get("app"), "state", None) is not None:
            response = error_page(request, exc.status, exc=exc, headers=headers)
        else:
            response = JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)
        await response(scope, receive, send)

