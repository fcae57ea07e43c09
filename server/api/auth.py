"""Staff sign-in: a password gives a bearer token for the counter endpoints.

Throttled per account and per address (429 with ``Retry-After`` while locked, the right password
included), bounded in argon2 work (503 with ``Retry-After`` when too many sign in at once); the
token is bound to this server's office and expires when idle (``server.security``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from cherga.server import auth
from cherga.server.api.deps import StaffDep, StoreDep, _bearer
from cherga.server.api.models import ErrorResponse, LoginRequest, LoginResponse, Me
from cherga.server.errors import Forbidden, ServiceError

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse,
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 429: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
             summary="Exchange a staff password for a bearer token")
def login(body: LoginRequest, store: StoreDep, request: Request) -> LoginResponse | JSONResponse:
    try:
        token, account, expires = auth.login(store, body.username, body.password, request.app.state.clock())
    except ServiceError as exc:
        if exc.status not in (429, 503):
            raise
        return JSONResponse(exc.as_dict(), status_code=exc.status,
                            headers={"Retry-After": str(exc.params.get("retry_after_s", 1))})
    offices = list(getattr(request.app.state, "services", None) or [])
    region = getattr(request.app.state, "region", None)
    # A manager of an office with its own server (the region file lists it) reads the network reports on
    # the region server (issue 21); nothing else here is for them (the panel and REST check the office).
    remote_manager = (region is not None and account.role in ("hall_manager", "admin")
                      and any(account.may_act_on(o.id) for o in region.file.offices))
    if offices and not remote_manager and not any(account.may_act_on(o) for o in offices):
        auth.forget_token(store, token)  # the account is for offices this server does not run (issue 21)
        raise Forbidden("office_forbidden", f"account {account.username!r} is for none of the offices here: "
                        f"{', '.join(offices)}")
    return LoginResponse(token=token, username=account.username, role=account.role,
                         display_name=account.display_name, expires_at=expires)


@router.get("/me", response_model=Me, responses={401: {"model": ErrorResponse}}, summary="Who the token is")
def me(account: StaffDep) -> Me:
    return Me(username=account.username, role=account.role, display_name=account.display_name,
              offices=None if account.offices is None else list(account.offices))


@router.post("/logout", status_code=204, responses={401: {"model": ErrorResponse}},
             summary="Revoke the token (every server process refuses it at once)")
def logout(account: StaffDep, store: StoreDep,
           credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    if credentials is not None:
        auth.forget_token(store, credentials.credentials)
