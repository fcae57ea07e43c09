"""Dependencies shared by the routers: the office's service, the caller's staff account (checked
against the office the route acts on)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cherga.broker_bridge.contract import MESSAGE_ID_PATTERN
from cherga.server import auth
from cherga.server.errors import NotFound, Unauthorized
from cherga.server.service import OfficeService
from cherga.server.store import StaffAccount, Store

_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/login")

OfficeId = Annotated[str, Path(max_length=40, description="office id from the site configuration")]


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_service(request: Request, office: OfficeId) -> OfficeService:
    services: dict[str, OfficeService] = request.app.state.services
    svc = services.get(office)
    if svc is None:
        raise NotFound("unknown_office", f"office {office!r} does not exist here")
    return svc


def optional_account(request: Request,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> StaffAccount | None:
    if credentials is None:
        return None
    store: Store = request.app.state.store
    svc_clock = request.app.state.clock
    return auth.account_for_token(store, credentials.credentials, svc_clock())


def staff_account(request: Request, account: Annotated[StaffAccount | None, Depends(optional_account)]) -> StaffAccount:
    """The caller's account; on a route of one office (``/offices/{office}/...``) only if it is for that office.

    One check for every office route (issue 21): a manager of office A gets 403 ``office_forbidden``
    on office B of the same server; an account for every office (a regional administrator) passes.
    """
    if account is None:
        raise Unauthorized("token_required", "this needs a staff bearer token (POST /api/v1/auth/login)")
    office = request.path_params.get("office")
    if office is not None:
        auth.require_office(account, str(office))
    return account


def idempotency_key(idempotency_key: Annotated[str | None, Header(max_length=64, pattern=MESSAGE_ID_PATTERN)] = None
                    ) -> str | None:
    return idempotency_key


ServiceDep = Annotated[OfficeService, Depends(get_service)]
StoreDep = Annotated[Store, Depends(get_store)]
StaffDep = Annotated[StaffAccount, Depends(staff_account)]
MaybeStaffDep = Annotated[StaffAccount | None, Depends(optional_account)]
IdemDep = Annotated[str | None, Depends(idempotency_key)]
