"""Staff sign-in: a password gives a bearer token for the counter endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from cherga.server import auth
from cherga.server.api.deps import StaffDep, StoreDep, _bearer
from cherga.server.api.models import ErrorResponse, LoginRequest, LoginResponse, Me

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse, responses={401: {"model": ErrorResponse}},
             summary="Exchange a staff password for a bearer token")
def login(body: LoginRequest, store: StoreDep, request: Request) -> LoginResponse:
    token, account, expires = auth.login(store, body.username, body.password, request.app.state.clock())
    return LoginResponse(token=token, username=account.username, role=account.role,
                         display_name=account.display_name, expires_at=expires)


@router.get("/me", response_model=Me, responses={401: {"model": ErrorResponse}}, summary="Who the token is")
def me(account: StaffDep) -> Me:
    return Me(username=account.username, role=account.role, display_name=account.display_name)


@router.post("/logout", status_code=204, responses={401: {"model": ErrorResponse}}, summary="Revoke the token")
def logout(account: StaffDep, store: StoreDep,
           credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    if credentials is not None:
        auth.forget_token(store, credentials.credentials)
