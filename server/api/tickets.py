"""Tickets: issue (kiosk, web, hall manager), the public status behind the QR, cancel, offline hand-over."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response

from cherga.broker_bridge.contract import MESSAGE_ID_PATTERN, TicketInfo
from cherga.server import auth
from cherga.server.api.deps import IdemDep, MaybeStaffDep, OfficeId, ServiceDep, StaffDep, get_service
from cherga.server.api.models import (
    CancelRequest,
    ErrorResponse,
    IssueRequest,
    OfflineTicketRequest,
    SendToCounterRequest,
)
from cherga.server.errors import NotFound
from cherga.server.service import OfficeService

router = APIRouter(tags=["tickets"])

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "unknown office, service, bundle, category or appointment"},
    409: {"model": ErrorResponse, "description": "daily_cap_reached, service_closed, appointment_only, not_before_closing (params: service, closing, wait_min, slot), ..."},
    422: {"model": ErrorResponse, "description": "bad input: the field and the reason"},
}


@router.post("/offices/{office}/tickets", status_code=201, response_model=None,
             responses={201: {"model": TicketInfo, "description": "the ticket"}, **_ERRORS}, summary="Issue a ticket")
def issue_ticket(body: IssueRequest, request: Request, office: OfficeId, account: MaybeStaffDep,
                 key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=64,
                                                   pattern=MESSAGE_ID_PATTERN)] = None) -> Response:
    """A walk-in ticket for a service or a bundle, or a booked visitor's check-in (``appointment_code``).

    With a staff bearer token (a hall manager) the ticket is issued on a visitor's behalf and the
    log names the staff member. Repeating ``command_id`` (or the ``Idempotency-Key`` header)
    returns the first ticket and issues nothing new.
    """
    # The hot path of the kiosks: the office looked up inline and the answer serialised once.
    svc = get_service(request, office)
    if account is not None:
        auth.require_office(account, office)  # on a visitor's behalf only at an office the account is for
    command_id = body.command_id or key or f"rest:{uuid.uuid4().hex}"
    source = f"staff:{account.username}" if account else "rest"
    info = svc.issue_ticket(command_id=command_id, source=source, service=body.service, bundle=body.bundle,
                            purpose=body.purpose, priority=body.priority, language=body.language,
                            appointment_code=body.appointment_code,
                            operator=account.username if account else None,
                            after_closing_ok=body.after_closing_ok, asks_before_closing=body.asks_before_closing)
    return Response(info.model_dump_json(), status_code=201, media_type="application/json")


@router.post("/offices/{office}/tickets/offline", status_code=201, response_model=TicketInfo, responses=_ERRORS,
             summary="Hand over a ticket a kiosk issued while offline")
def offline_ticket(body: OfflineTicketRequest, svc: ServiceDep, account: StaffDep) -> TicketInfo:
    return svc.take_offline_ticket(command_id=body.command_id, source=f"staff:{account.username}",
                                   service=body.service, purpose=body.purpose, priority=body.priority,
                                   language=body.language, number=body.number, issued_at=body.issued_at,
                                   replaces=body.replaces)


@router.post("/offices/{office}/tickets/{ticket_id}/cancel", response_model=TicketInfo, responses=_ERRORS,
             summary="Cancel a waiting or called ticket (hall manager)")
def cancel_ticket(ticket_id: Annotated[str, Path(max_length=40)], svc: ServiceDep, account: StaffDep,
                  key: IdemDep, body: CancelRequest | None = None) -> TicketInfo:
    auth.require_role(account, "hall_manager")
    command_id = (body.command_id if body else None) or key or f"rest:{uuid.uuid4().hex}"
    return svc.cancel_ticket(command_id=command_id, ticket_id=ticket_id, source=f"staff:{account.username}",
                             operator=account.username)


@router.post("/offices/{office}/tickets/{ticket_id}/send", response_model=TicketInfo, responses=_ERRORS,
             summary="Send a waiting ticket to one counter (hall manager)")
def send_to_counter(ticket_id: Annotated[str, Path(max_length=40)], body: SendToCounterRequest, svc: ServiceDep,
                    account: StaffDep, key: IdemDep) -> TicketInfo:
    """Only ``to_counter`` may call the ticket from now on; it keeps its place in time."""
    auth.require_role(account, "hall_manager")
    command_id = body.command_id or key or f"rest:{uuid.uuid4().hex}"
    return svc.send_to_counter(command_id=command_id, ticket_id=ticket_id, to_counter=body.to_counter,
                               source=f"staff:{account.username}", operator=account.username)


@router.get("/tickets/{token}", response_model=TicketInfo, responses={404: {"model": ErrorResponse}},
            summary="A ticket's live status (the QR on the ticket)")
def ticket_status(token: Annotated[str, Path(min_length=8, max_length=64)], request: Request) -> TicketInfo | JSONResponse:
    """Position, estimated wait, and the window that called it. Holds no personal data."""
    services: dict[str, OfficeService] = request.app.state.services
    for svc in services.values():
        try:
            info = svc.ticket_status(token)
        except NotFound:
            continue
        return info.model_copy(update={"reason": None})
    raise NotFound("unknown_ticket", "no ticket with this token")
