"""Request and response bodies of the REST API (what the OpenAPI schema publishes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cherga.broker_bridge.contract import (
    IDENT_PATTERN,
    MAX_POSTPONE_S,
    BookingCode,
    CounterState,
    HallCall,
    Lang,
    Purpose,
    TicketInfo,
)
from cherga.broker_bridge.contract import MessageId as CommandId
from cherga.server.dates import Moment

Ident = Annotated[str, Field(pattern=IDENT_PATTERN, max_length=40)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IssueRequest(_Body):
    """Issue a ticket: a service (or a life-situation bundle), or a booked visitor's code."""

    service: Ident | None = None
    bundle: Ident | None = None
    purpose: Purpose = "consult"
    priority: Ident | None = Field(default=None, description="priority category id, e.g. disability")
    language: Lang = "uk"
    appointment_code: BookingCode | None = None
    command_id: CommandId | None = Field(default=None, description="repeat it to get the same ticket, never a second")
    after_closing_ok: bool = Field(default=False, description="issue even when the forecast says the visitor will "
                                   "not be seen before the service closes (the 409 not_before_closing was shown)")
    asks_before_closing: bool = Field(default=False, description="the client can ask the visitor: answer 409 "
                                      "not_before_closing (closing.warn_walk_ins) instead of issuing a ticket "
                                      "the forecast says will not be called before the service closes")


class OfflineTicketRequest(_Body):
    service: Ident
    purpose: Purpose = "consult"
    priority: Ident | None = None
    language: Lang = "uk"
    number: int = Field(ge=1, le=999)
    issued_at: Moment
    command_id: CommandId
    replaces: CommandId | None = Field(default=None, description="the issue request that got no answer in time, "
                                       "if any: the server keeps only the printed ticket")


class CancelRequest(_Body):
    command_id: CommandId | None = None


class SendToCounterRequest(_Body):
    to_counter: Ident
    command_id: CommandId | None = None


class BookRequest(_Body):
    service: Ident
    slot: Moment = Field(description="the appointment time, with a time zone: a start from the free slots")
    command_id: CommandId | None = Field(default=None, description="repeat it to get the same booking back")


class BookResponse(BaseModel):
    code: str
    service: str
    slot: dt.datetime


class FreeSlot(BaseModel):
    start: dt.datetime
    free: int = Field(description="places left in this slot")


class ActionRequest(_Body):
    """Optional body of the counter actions that need nothing else."""

    command_id: CommandId | None = None


class FinishRequest(ActionRequest):
    result: Annotated[str, Field(max_length=40)] | None = None


class TransferRequest(ActionRequest):
    to_service: Ident | None = None
    to_counter: Ident | None = None
    return_after: bool = False


class PostponeRequest(ActionRequest):
    delay_s: int | None = Field(default=None, ge=0, le=MAX_POSTPONE_S)


class PauseRequest(ActionRequest):
    reason: Annotated[str, Field(max_length=80)] | None = None


class RateRequest(ActionRequest):
    score: int = Field(ge=1, le=10)
    ticket_id: Annotated[str, Field(max_length=40)] | None = None


class ActionResponse(BaseModel):
    status: Literal["ok", "empty"] = Field(description='"empty": next found nobody waiting (not an error)')
    message: str | None = None
    counter: CounterState
    ticket: TicketInfo | None = None
    hall_call: HallCall | None = None


class LoginRequest(_Body):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class LoginResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    username: str
    role: str
    display_name: str
    expires_at: dt.datetime


class Me(BaseModel):
    username: str
    role: str
    display_name: str
    offices: list[str] | None = Field(None, description="the offices the account may act on; null: every office")


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorResponse(BaseModel):
    key: str = Field(description="stable reason key a kiosk or pad translates")
    message: str
    errors: list[FieldError] | None = None
    params: dict[str, str | int] | None = Field(default=None, description="the facts the message names, e.g. "
                                                "not_before_closing: service, closing (HH:MM), wait_min, slot (ISO)")


class OfficeSummary(BaseModel):
    id: str
    names: dict[str, str]
    languages: list[str]
    services: list[str]
    counters: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    offices: list[str]
    database: str


class DeviceRow(BaseModel):
    node: str
    role: str | None
    state: str = Field(description="online, offline, unknown (never heard from), awaiting enrollment, revoked")
    address: str | None = None
    version: str | None = None
    last_heartbeat: dt.datetime | None = None


class DeviceAlert(BaseModel):
    node: str
    kind: str = Field(description="e.g. printer_paper_out, printer_cover_open, led_board_silent")
    since: dt.datetime
    message: str


class GatewayRow(BaseModel):
    """A notification gateway (server.notify): whether its last try worked, and since when it fails."""

    channel: Literal["sms", "email", "telegram"]
    ok: bool
    failing_since: dt.datetime | None = None
    last_error: str | None = None
    pending: int = Field(default=0, description="messages waiting to go through it")
    failed: int = Field(default=0, description="messages it could not deliver (given up)")


class Devices(BaseModel):
    bridge: bool = Field(description="false: the server runs without MQTT, nodes are not monitored")
    nodes: list[DeviceRow]
    alerts: list[DeviceAlert]
    gateways: list[GatewayRow] = Field(default_factory=list, description="notification gateways configured here")


class BookingRow(BaseModel):
    code: str
    service: str
    slot: dt.datetime
    status: Literal["booked", "checked_in", "cancelled", "missed"]
    ticket_id: str | None = None
