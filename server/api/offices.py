"""Offices: what they offer, the public live load feed, the hall picture, appointments, the device monitor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from cherga.broker_bridge.contract import HallState, ServiceLoad
from cherga.server import auth
from cherga.server.api.deps import IdemDep, ServiceDep, StaffDep
from cherga.server.api.models import (
    BookingRow,
    BookRequest,
    BookResponse,
    DeviceAlert,
    DeviceRow,
    Devices,
    ErrorResponse,
    FreeSlot,
    GatewayRow,
    OfficeSummary,
)
from cherga.server.dates import Day
from cherga.server.service import OfficeService

router = APIRouter(tags=["offices"])


@router.get("/offices", response_model=list[OfficeSummary], summary="The offices this server runs")
def offices(request: Request) -> list[OfficeSummary]:
    services: dict[str, OfficeService] = request.app.state.services
    return [OfficeSummary(id=s.office, names=s.config.office.names.as_dict(), languages=list(s.config.office.languages),
                          services=[x.id for x in s.config.services], counters=[c.id for c in s.config.counters])
            for s in services.values()]


@router.get("/offices/{office}/load", response_model=list[ServiceLoad], responses={404: {"model": ErrorResponse}},
            summary="Public live load per service with a traffic light")
def load(svc: ServiceDep) -> list[ServiceLoad]:
    """Waiting, counters open and the average wait of those waiting per service. The light:
    green under 10 min, yellow 10–20, orange 20–30, red over 30."""
    return svc.load()


@router.get("/offices/{office}/hall", response_model=HallState, responses={404: {"model": ErrorResponse}},
            summary="What the hall display shows: recent calls, load, ticker")
def hall(svc: ServiceDep) -> HallState:
    return svc.hall_state()


@router.post("/offices/{office}/appointments", status_code=201, response_model=BookResponse,
             responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
             summary="Book an appointment; the code checks the visitor in at the kiosk")
def book(body: BookRequest, svc: ServiceDep, key: IdemDep) -> BookResponse:
    """Refused with the reason when the time is not a free slot (``slot_full``, ``not_a_slot``, ...)."""
    code = svc.book_appointment(service=body.service, slot=body.slot, source="rest",
                                command_id=body.command_id or key)
    return BookResponse(code=code, service=body.service, slot=body.slot)


@router.get("/offices/{office}/appointments/slots", response_model=list[FreeSlot],
            responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
            summary="The free appointment slots of a service on a day")
def free_slots(svc: ServiceDep, service: Annotated[str, Query(max_length=40)], day: Day) -> list[FreeSlot]:
    return [FreeSlot(start=s.start, free=s.free) for s in svc.free_slots(service, day)]


@router.get("/offices/{office}/appointments", response_model=list[BookingRow],
            responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
                       422: {"model": ErrorResponse}},
            summary="A day's bookings and where each stands (hall manager)")
def day_bookings(svc: ServiceDep, account: StaffDep, day: Day) -> list[BookingRow]:
    auth.require_role(account, "hall_manager")
    return [BookingRow.model_validate(a) for a in svc.appointments_on(day)]


@router.post("/offices/{office}/appointments/{code}/cancel", status_code=204,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
             summary="Cancel a booking by its code; the slot is free again")
def cancel_booking(svc: ServiceDep, code: Annotated[str, Path(min_length=4, max_length=32)]) -> None:
    svc.cancel_appointment(code=code, source="rest")


def _bridge_of(request: Request, office: str | None) -> object | None:
    """The office's MQTT bridge (one per office on a server that runs several), or ``None``."""
    state = request.app.state
    bridges = getattr(state, "bridges", None) or {}
    if office is not None and office in bridges:
        return bridges[office]
    first = state.config.office.id
    return getattr(state, "bridge", None) if office in (None, first) else None


def device_report(request: Request, office: str | None = None) -> Devices:
    """The device monitor as the API and the hall manager's page show it (``office``: default the first)."""
    bridge: Any = _bridge_of(request, office)
    gateways = _gateways(request, office)
    if bridge is None:
        return Devices(bridge=False, nodes=[], alerts=[], gateways=gateways)
    rows = [DeviceRow(node=n["node"], role=n["role"], state=n["state"], address=n["address"], version=n["version"],
                      last_heartbeat=n["last_heartbeat"]) for n in bridge.node_overview().values()]
    alerts = [DeviceAlert(node=a.node, kind=a.kind, since=a.ts, message=a.message) for a in bridge.active_alerts()]
    return Devices(bridge=True, nodes=rows, alerts=alerts, gateways=gateways)


def _gateways(request: Request, office: str | None = None) -> list[GatewayRow]:
    """The notification gateways (server.notify) of the office: a failing one shows beside the devices."""
    rows = []
    notifiers = getattr(request.app.state, "notifiers", None) or {}
    for key, notifier in notifiers.items():
        if office is not None and key != office:
            continue
        counts = notifier.counts()
        rows += [GatewayRow(channel=h.channel, ok=h.ok, failing_since=h.failing_since, last_error=h.last_error,
                            pending=counts.get((h.channel, "pending"), 0) + counts.get((h.channel, "sending"), 0),
                            failed=counts.get((h.channel, "failed"), 0))
                 for h in notifier.health()]
    return rows


@router.get("/offices/{office}/devices", response_model=Devices,
            responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
            summary="Kiosks, displays and pads: online or not, and the faults someone must see to")
def devices(request: Request, svc: ServiceDep, account: StaffDep) -> Devices:
    auth.require_role(account, "hall_manager")
    return device_report(request, svc.office)
