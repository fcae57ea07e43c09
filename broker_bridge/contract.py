"""The MQTT contract: every topic and payload Cherga speaks, defined once.

Topics live under ``cherga/v1/{office}/``. :data:`ROUTES` maps each topic pattern to its pydantic
model, direction, retain flag and QoS; ``docs/mqtt-contract.md`` documents the same table and a
test keeps the two in step. Nodes never invent topics: they call :func:`topic`.

Every payload is UTF-8 JSON (no byte-order mark) and carries the contract version ``v`` (the
integer 1; a payload without it is refused); every command carries ``id``, ``node`` and
``ts``; every reply carries the ``id`` it answers. :func:`decode` validates a received message
and raises :class:`ContractError` with a short ``reason`` key and a message for the log.

The vocabulary every side shares is defined here too: the id pattern (:data:`IDENT_PATTERN`),
the languages (:data:`LANGUAGES`) and the visit purposes (:data:`PURPOSES`), and where each
request's answer comes back (:data:`RESPONSE_ROUTE`). The server, the bridge, the nodes and
provisioning import these instead of writing them again.

This module imports nothing from the rest of Cherga, so a node can use it alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

VERSION = 1
ROOT = "cherga/v1"
MAX_PAYLOAD = 64 * 1024

_IDENT_BODY = r"[a-z0-9][a-z0-9_-]{0,39}"
#: an office, node, service, counter or category id: lower case, digits, ``_`` and ``-``; 1–40 long
IDENT_PATTERN = rf"^{_IDENT_BODY}$"
IDENT_RE = re.compile(IDENT_PATTERN)
#: a command id (also the REST ``command_id`` and ``Idempotency-Key``)
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
#: a booking code as typed or scanned at a kiosk
BOOKING_CODE_PATTERN = r"^[A-Za-z0-9-]+$"

Ident = Annotated[str, Field(pattern=IDENT_PATTERN)]
MessageId = Annotated[str, Field(min_length=1, max_length=64, pattern=MESSAGE_ID_PATTERN)]
BookingCode = Annotated[str, Field(min_length=3, max_length=32, pattern=BOOKING_CODE_PATTERN)]
#: the languages Cherga speaks, in the order a language switch shows them
Lang = Literal["uk", "ru", "ky", "kk", "en"]
LANGUAGES: tuple[Lang, ...] = get_args(Lang)
#: why a citizen comes for a service
Purpose = Literal["consult", "submit", "collect"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)

# The longest a counter may postpone a visitor (the panel's field, REST and MQTT all stop here).
MAX_POSTPONE_S = 4 * 3600
Role = Literal["kiosk", "display", "pad", "server"]
Texts = dict[Lang, str]


class ContractError(Exception):
    """A message that breaks the contract. ``reason`` is a stable key; ``message`` explains."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int = VERSION

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class Command(Payload):
    """What a node asks of the server; applied at most once per ``id``."""

    id: MessageId
    node: Ident
    ts: dt.datetime


# --- shared pieces -------------------------------------------------------------------------------

class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str  # stable, translatable: "daily_cap_reached", "service_closed", "queue_empty", ...
    message: str
    # The facts a translated message names (added within v1): not_before_closing's closing "HH:MM",
    # wait_min and slot (the earliest free booking, ISO). Absent when the refusal names none.
    params: dict[str, str | int] | None = None


class TicketInfo(BaseModel):
    """What a citizen may see about a ticket: no personal data."""

    model_config = ConfigDict(extra="forbid")
    ticket_id: str
    label: str  # "A-012"
    prefix: str
    number: int
    service: str
    purpose: str
    status: str
    issued_at: dt.datetime
    language: Lang = "uk"
    priority: str | None = None
    people_ahead: int | None = None
    wait_min: int | None = None  # None: estimate unavailable
    # The forecast's upper bound ("≈ 12 min, at most 25"); added within v1, absent when there is no bound.
    wait_max_min: int | None = None
    counter: str | None = None  # counter id when called
    counter_number: str | None = None  # what the citizen reads
    status_url: str | None = None
    token: str | None = None
    waited_s: float | None = None
    reason: str | None = None  # why the scheduler chose it (operator's view), English, for logs and API clients
    # The same as facts, added within v1: {"rule": "score"|"appointment"|"returns"|"transferred", ...}
    # with ids (service, category) and numbers (minutes, candidates); a page words it in its reader's language.
    why: dict[str, Any] | None = None
    origin: Literal["walk_in", "booked", "offline"] = "walk_in"


# --- node lifecycle ------------------------------------------------------------------------------

class NodeStatus(Payload):
    """Retained. The node publishes ``online`` on connect; its last will is ``offline``."""

    node: Ident
    role: Role
    state: Literal["online", "offline"]
    version: str = ""
    address: str | None = None
    ts: dt.datetime | None = None


class Telemetry(Payload):
    node: Ident
    role: Role
    ts: dt.datetime
    uptime_s: float = Field(ge=0)
    cpu_temp_c: float | None = None
    disk_free_mb: float | None = None
    rss_mb: float | None = None
    load_1m: float | None = None
    outbox: int = 0  # messages waiting in the node's outbox
    health: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class NodeAlert(Payload):
    """A fault a person must see to (paper out, board silent). ``active=False`` clears it."""

    node: Ident
    ts: dt.datetime
    kind: Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]
    active: bool = True
    message: str = ""


class ErrorNotice(Payload):
    """Sent to a node whose message was refused: the answer to 'why did nothing happen'."""

    ts: dt.datetime
    id: str | None = None  # the refused message's id, when it had a readable one
    topic: str
    reason: str
    message: str


class ServiceText(BaseModel):
    """What a citizen should know before taking a ticket (issue 18, informing): each text in the
    office's languages. The kiosk's "what do I need?" screen shows it; added within v1."""

    model_config = ConfigDict(extra="forbid")
    about: Texts = Field(default_factory=dict)
    documents: list[Texts] = Field(default_factory=list)
    fee: Texts = Field(default_factory=dict)
    duration: Texts = Field(default_factory=dict)  # time to result
    where: Texts = Field(default_factory=dict)  # floor, room, counters


class ServiceInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Ident
    prefix: str
    names: Texts
    purposes: list[str]
    appointment_only: bool = False
    info: ServiceText | None = None  # optional, added within v1: absent when the office wrote none


class BundleInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Ident
    names: Texts
    services: list[Ident]
    # A life situation explained (optional, added within v1): what it covers, documents beyond its services'.
    about: Texts = Field(default_factory=dict)
    documents: list[Texts] = Field(default_factory=list)


class CategoryInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Ident
    names: Texts


class CounterInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Ident
    number: str
    services: list[Ident]
    transfer_targets: list[Ident] = Field(default_factory=list)  # services a pad's transfer button may send to


class NodeConfig(Payload):
    """Retained per node: everything its role needs to know about the office."""

    node: Ident
    role: Role
    office: Ident
    office_names: Texts
    languages: list[Lang]
    timezone: str
    public_url: str
    services: list[ServiceInfo] = Field(default_factory=list)
    bundles: list[BundleInfo] = Field(default_factory=list)
    categories: list[CategoryInfo] = Field(default_factory=list)
    counter: CounterInfo | None = None  # pads
    offline_range: tuple[int, int] | None = None  # kiosks: numbers to issue while the server is away
    ticket: dict[str, Any] = Field(default_factory=dict)  # paper_mm, footer, languages
    display: dict[str, Any] = Field(default_factory=dict)  # recent_calls, blink_s, ticker, layout
    voice: dict[str, Any] = Field(default_factory=dict)  # languages, volume, quiet_hours
    # A kiosk's offer "tell me when my turn is near" (issue 19): absent where the office sends no
    # notifications (no gateway configured), so the kiosk shows no such screen. Added within v1.
    notify: NotifyOffer | None = None


# --- kiosk ---------------------------------------------------------------------------------------

#: how a citizen may be told (``notify.*`` gateways in the site config)
ContactChannel = Literal["sms", "email", "telegram"]
CONTACT_CHANNELS: tuple[ContactChannel, ...] = get_args(ContactChannel)

_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
_CHAT = re.compile(r"^-?\d{1,20}$")


class ContactProblem(ValueError):
    """Why an address cannot be a contact: ``key`` is ``bad_phone``, ``bad_email`` or ``bad_telegram``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def contact_address(channel: str, address: str) -> str:
    """``address`` as it is kept and sent for ``channel``, or :class:`ContactProblem`.

    One rule for every side: the kiosk checks what was typed before sending, the server
    (``server.notify.contacts``) before storing. A phone is international, ``+`` and 8–15 digits
    (spaces, dashes, brackets and a leading ``00`` are forgiven); an e-mail has a domain with a dot;
    a Telegram chat id is a number (a group's is negative)."""
    value = address.strip()
    if channel == "sms":
        value = re.sub(r"[\s()\-.]", "", value)
        if value.startswith("00"):
            value = "+" + value[2:]
        if not _PHONE.match(value):
            raise ContactProblem("bad_phone", "a phone number in the international form: + and 8 to 15 digits")
    elif channel == "email":
        if len(value) > 254 or not _EMAIL.match(value):
            raise ContactProblem("bad_email", "not an e-mail address")
    elif channel == "telegram":
        if not _CHAT.match(value):
            raise ContactProblem("bad_telegram", "a Telegram chat id is a number")
    else:
        raise ContactProblem("channel_off", f"channel {channel!r} is not one of {', '.join(CONTACT_CHANNELS)}")
    return value


class NotifyOffer(BaseModel):
    """What a kiosk may offer (``NodeConfig.notify``): the channels the office has a gateway for and
    the consent the citizen agrees to, in the office's languages, as the server stores it."""

    model_config = ConfigDict(extra="forbid")
    channels: list[ContactChannel] = Field(min_length=1)
    retention_days: int = Field(ge=1)
    consent: Texts = Field(default_factory=dict)  # "I agree that ... only for ... deleted after N days"


class Contact(BaseModel):
    """A citizen's contact for one ticket (the same fields as REST ``/api/v1/tickets/{token}/contacts``).

    The schema takes any short address and either consent, so a wrong contact never costs the ticket
    it travels with: the server checks it (:func:`contact_address`, consent) and answers
    ``bad_phone``, ``bad_email``, ``bad_telegram``, ``channel_off`` or ``consent_required``,
    storing nothing."""

    model_config = ConfigDict(extra="forbid")
    channel: ContactChannel
    address: str = Field(min_length=1, max_length=254)
    consent: bool  # the citizen ticked the consent (NotifyOffer.consent); false: nothing is stored
    language: Lang | None = None  # the messages' language; default: the ticket's

class IssueTicket(Command):
    service: Ident | None = None
    bundle: Ident | None = None
    purpose: Purpose = "consult"
    priority: Ident | None = None
    language: Lang = "uk"
    # The citizen was told (not_before_closing) that the ticket will likely not be called before
    # the service closes and wants it anyway. Added within v1; sent only when true, so an older
    # server never sees it from a kiosk that was not told.
    after_closing_ok: bool | None = None
    # The kiosk can put the closing question to the citizen (added within v1). Only then does the
    # server answer not_before_closing; a client that cannot ask (an older kiosk, a third-party
    # client) gets its ticket as before, with the forecast printed on it.
    asks_before_closing: bool | None = None
    # A contact for "your turn is near" (issue 19), added within v1. It is kept after the ticket is
    # issued; a refused contact is answered in ``Reply.contact_error`` beside the ticket, never instead.
    contact: Contact | None = None


class LeaveContact(Command):
    """A contact for a ticket already issued (the kiosk asks after printing): ``token`` is the
    ticket's unguessable status token, as for ``/t/{token}/notify``."""

    token: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    contact: Contact


class CheckIn(Command):
    code: BookingCode
    language: Lang = "uk"


class OfflineTicket(Command):
    """A ticket a kiosk issued from its own range while the server was away; taken in at ``issued_at``."""

    service: Ident
    purpose: Purpose = "consult"
    priority: Ident | None = None
    language: Lang = "uk"
    number: int = Field(ge=1, le=999)
    issued_at: dt.datetime
    # The issue request that got no answer in time, if any: its ticket may exist on the server
    # (the request arrived late) or arrive later still. The server keeps only the printed one.
    replaces: MessageId | None = None


class Reply(Payload):
    """The answer to a command, on the sender's response topic."""

    id: MessageId  # the command answered
    status: Literal["ok", "error", "empty"]
    error: ErrorBody | None = None
    ticket: TicketInfo | None = None
    counter: CounterState | None = None
    # IssueTicket.contact refused (consent_required, bad_phone, ...): the ticket stands. Added within v1.
    contact_error: ErrorBody | None = None


# --- counter -------------------------------------------------------------------------------------

class CounterAction(enum.StrEnum):
    NEXT = "next"
    RECALL = "recall"
    START = "start"
    FINISH = "finish"
    NO_SHOW = "no_show"
    TRANSFER = "transfer"
    POSTPONE = "postpone"
    PAUSE = "pause"
    RESUME = "resume"
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    RATE = "rate"


class PauseReason(enum.StrEnum):
    """Why a counter pauses (the panel offers all of them; a pad sends its configured one, else break)."""

    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    PAPERWORK = "paperwork"
    TECHNICAL = "technical"  # a broken printer or computer at the counter


# CounterState.pause_reason of a "closed" counter the hall manager closed: it takes no calls and no
# sign-in until the manager opens it again.
CLOSED_BY_MANAGER = "closed_by_manager"


class CounterCommand(Command):
    """A pad's button. Fields beyond the action are used by the actions that need them."""

    action: CounterAction
    operator: str | None = None
    result: Annotated[str, Field(max_length=40)] | None = None  # finish
    to_service: Ident | None = None  # transfer
    to_counter: Ident | None = None  # transfer
    return_after: bool = False  # transfer
    delay_s: int | None = Field(default=None, ge=0, le=MAX_POSTPONE_S)  # postpone
    pause_reason: PauseReason | None = None  # pause
    pin: Annotated[str, Field(min_length=4, max_length=12, pattern=r"^[0-9]+$")] | None = None  # sign_in
    ticket_id: str | None = None  # rate
    score: int | None = Field(default=None, ge=1, le=10)  # rate (1 = best face)


class CounterState(Payload):
    """Retained: what a counter is doing; pads and counter-top boards draw from it."""

    office: Ident
    counter: Ident
    number: str
    status: Literal["closed", "idle", "calling", "serving", "paused"]
    ticket: TicketInfo | None = None
    operator: str | None = None
    operator_name: str | None = None
    waiting: int = 0  # tickets this counter could call now
    pause_reason: str | None = None  # a PauseReason while paused; CLOSED_BY_MANAGER while closed by the manager
    rateable_ticket: str | None = None  # the last finished ticket a citizen may rate
    updated_at: dt.datetime
    seq: int = 0


# --- hall ----------------------------------------------------------------------------------------

class CallEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str
    label: str
    counter: Ident
    counter_number: str
    service: Ident
    called_at: dt.datetime
    recall: bool = False


class ServiceLoad(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: Ident
    names: Texts
    waiting: int
    counters_open: int
    avg_wait_min: float  # how long those waiting have waited so far (staff's figure; kept for older nodes)
    light: Literal["green", "yellow", "orange", "red"]
    # What a ticket taken now would be told, from the forecast the ticket prints (v1 additions,
    # optional): "≈ wait_min, at most wait_max_min"; absent with no desk open or by appointment only.
    wait_min: int | None = None
    wait_max_min: int | None = None
    # closing.waiting_at_close: stop, past the last call: those waiting will not be called today
    # (the display tells them to book). Optional v1 addition; absent means calls go on.
    calls_stopped: bool | None = None
    # In a network (issue 21, optional v1 addition): another office with the same service and a
    # shorter forecast for a ticket taken now; absent when none is faster by a clear margin.
    faster_at: FasterAt | None = None


class FasterAt(BaseModel):
    """Another office of the network where the same service is forecast to be quicker."""

    model_config = ConfigDict(extra="forbid")
    office: Ident
    names: Texts  # the office's name
    address: Texts
    wait_min: int
    wait_max_min: int | None = None


class HallState(Payload):
    """Retained: everything a hall display needs to draw itself after any restart."""

    office: Ident
    office_names: Texts
    languages: list[Lang]
    calls: list[CallEntry]  # newest first
    load: list[ServiceLoad] = Field(default_factory=list)
    ticker: Texts = Field(default_factory=dict)
    updated_at: dt.datetime
    seq: int = 0


class HallCall(Payload):
    """An event: a counter has just called (or recalled) a ticket. Displays chime and speak it."""

    call_id: str
    ticket_id: str
    label: str
    prefix: str
    number: int
    counter: Ident
    counter_number: str
    service: Ident
    recall: bool = False
    at: dt.datetime


class Enroll(Command):
    """A provisioned node's first word to the server: the one-time token from its SD card.

    The server keeps only the token's SHA-256 (from provisioning's enrollment list), compares in
    constant time, and answers on ``node_enroll_response``. ``id`` is random per card and kept by
    the node until the answer comes, so a resend after a lost reply gets the first answer while a
    cloned card (same token, its own id) is refused as ``token_spent``.
    """

    token: Annotated[str, Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class NodeCredentials(Payload):
    """A node's new TLS client certificate and key from the site CA (``cherga provision tls rotate``).

    Published retained by the office server on the node's own topic, which only that node may read
    (ACL), over the node's already authenticated TLS connection: a node that was off during the
    rotation finds it when it comes back. The node checks that the key fits the certificate and the
    certificate names it, writes both atomically beside its data and reconnects with them; its old
    certificate keeps working until the technician ends the overlap (the CRL then names it).
    """

    node: Ident
    serial: Annotated[str, Field(pattern=r"^[0-9a-f]{1,40}$")]  # the certificate's serial, hex
    cert_pem: Annotated[str, Field(min_length=32, max_length=8192)]
    key_pem: Annotated[str, Field(min_length=32, max_length=8192)]
    issued_at: dt.datetime


class ServerStatus(Payload):
    state: Literal["online", "offline"]
    version: str = ""
    ts: dt.datetime | None = None


# --- the region (issue 21): an office server and its region, over bridged brokers --------------

MAX_REGION_PAYLOAD = 1024 * 1024  # a batch of the event log or an office's whole config


class LoggedEvent(BaseModel):
    """One entry of an office's append-only event log, as the office wrote it."""

    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1)  # the office database's event sequence number (increasing, not always contiguous)
    kind: str = Field(min_length=1, max_length=32)
    ticket_id: str | None = Field(default=None, max_length=40)
    service: str | None = Field(default=None, max_length=40)
    counter: str | None = Field(default=None, max_length=40)
    operator: str | None = Field(default=None, max_length=64)
    at: dt.datetime
    data: dict[str, Any] = Field(default_factory=dict)


class EventBatch(Payload):
    """Office → region: the next events of the office's log, oldest first.

    ``after`` is the ``seq`` of the office's event just before ``events[0]`` (0: the log's start),
    so the region sees a gap even though sequence numbers are not contiguous: it stores a batch only
    when ``after`` is the last ``seq`` it holds for the office (events it holds already are skipped),
    and otherwise answers with the ``seq`` to resend after."""

    office: Ident
    after: int = Field(ge=0)
    events: list[LoggedEvent] = Field(min_length=1, max_length=1000)
    sent_at: dt.datetime


class UploadAck(Payload):
    """Region → office, retained: the office's log is held in order up to ``upto`` (0: nothing yet).
    ``gap`` is true when the last batch did not follow on: the office resends from ``upto``."""

    office: Ident
    upto: int = Field(ge=0)
    gap: bool = False
    at: dt.datetime


class RegionConfigPush(Payload):
    """Region → office, retained: what the region decides for the office (the shared service
    catalogue, staff accounts and the office's configuration), applied in ``version`` order; an
    office that was offline finds the newest retained push when it reconnects."""

    office: Ident
    version: int = Field(ge=1)
    config: dict[str, Any] | None = None  # the office's whole site configuration (SiteConfig as JSON)
    staff: list[dict[str, Any]] | None = None  # staff accounts (password hashes only) for this office
    at: dt.datetime


class NetworkService(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: Ident
    names: Texts
    waiting: int
    counters_open: int
    wait_min: int | None = None  # the forecast for a ticket taken now; None: no desk open, by appointment only
    wait_max_min: int | None = None


class NetworkOffice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    office: Ident
    names: Texts
    address: Texts
    open_now: bool
    services: list[NetworkService]
    updated_at: dt.datetime  # when the region last heard the office's load


class NetworkLoad(Payload):
    """Region → office, retained: the load of every other office of the network, per service, so the
    office can tell its citizens "the same service is faster at office X" (an office never reads
    another office's topics: the region sums them up for it)."""

    region: Ident
    offices: list[NetworkOffice]
    at: dt.datetime


ServiceLoad.model_rebuild()
Reply.model_rebuild()
NodeConfig.model_rebuild()


# --- the topic table -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # relative to cherga/v1/{office}/, with {param} segments
    model: type[Payload]
    # "node": any node, about itself; "server": the office server (its bridge); "region": the regional server
    publisher: Literal["node", "kiosk", "pad", "server", "region"]
    retained: bool
    qos: int
    doc: str
    answer: str | None = None  # a request's route: the route its Reply comes back on
    max_bytes: int = MAX_PAYLOAD

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.pattern)

    def regex(self) -> re.Pattern[str]:
        body = re.sub(r"{(\w+)}", lambda m: f"(?P<{m.group(1)}>{_IDENT_BODY})", self.pattern)
        return re.compile(rf"^{re.escape(ROOT)}/(?P<office>{_IDENT_BODY})/{body}$")


ROUTES: dict[str, Route] = {r.name: r for r in [
    Route("node_status", "node/{node}/status", NodeStatus, "node", True, 1,
          "Node availability: `online` birth message on connect, `offline` as last will and on clean stop."),
    Route("node_telemetry", "node/{node}/telemetry", Telemetry, "node", False, 0,
          "Heartbeat every 30 s: uptime, CPU temperature, disk, memory, outbox size, role health."),
    Route("node_alert", "node/{node}/alert", NodeAlert, "node", False, 1,
          "A fault a person must see to (printer paper out, cover open, LED board silent, display voice missing); active=false clears it."),
    Route("node_config", "node/{node}/config", NodeConfig, "server", True, 1,
          "The node's slice of the site configuration."),
    Route("node_error", "node/{node}/error", ErrorNotice, "server", False, 1,
          "Why a message from this node was refused."),
    Route("node_enroll", "node/{node}/enroll", Enroll, "node", False, 1,
          "A provisioned node's one-time enrollment token, sent when it first connects.",
          answer="node_enroll_response"),
    Route("node_enroll_response", "node/{node}/enroll/response", Reply, "server", False, 1,
          "The answer to an enrollment: ok, or why not (unknown_node, wrong_token, token_spent, revoked)."),
    Route("node_credentials", "node/{node}/credentials", NodeCredentials, "server", True, 1,
          "A new TLS client certificate and key for this node (certificate rotation without a new SD card)."),
    Route("kiosk_issue", "kiosk/{node}/request/issue", IssueTicket, "kiosk", False, 1,
          "Issue a ticket for a service or a life-situation bundle.", answer="kiosk_response"),
    Route("kiosk_checkin", "kiosk/{node}/request/checkin", CheckIn, "kiosk", False, 1,
          "Check in a booked visitor by booking code.", answer="kiosk_response"),
    Route("kiosk_contact", "kiosk/{node}/request/contact", LeaveContact, "kiosk", False, 1,
          "Leave a citizen's contact (with consent) for a ticket already issued: 'your turn is near'.",
          answer="kiosk_response"),
    Route("kiosk_offline", "kiosk/{node}/request/offline", OfflineTicket, "kiosk", False, 1,
          "Hand over a ticket issued while the server was unreachable (from the kiosk's outbox).",
          answer="kiosk_response"),
    Route("kiosk_response", "kiosk/{node}/response", Reply, "server", False, 1,
          "The answer to a kiosk request: ticket details or an error key."),
    Route("counter_command", "counter/{counter}/command", CounterCommand, "pad", False, 1,
          "A counter pad's button: next, recall, start, finish, no_show, transfer, postpone, pause, resume, sign_in, sign_out, rate.",
          answer="counter_response"),
    Route("counter_response", "counter/{counter}/response", Reply, "server", False, 1,
          "The answer to a counter command, with the new counter state."),
    Route("counter_state", "counter/{counter}/state", CounterState, "server", True, 1,
          "What the counter is doing now."),
    Route("hall_state", "hall/state", HallState, "server", True, 1,
          "Everything a hall display draws: recent calls, load per service, ticker."),
    Route("hall_call", "hall/call", HallCall, "server", False, 1,
          "A call or recall just happened: blink, chime and announce it."),
    Route("server_status", "server/status", ServerStatus, "server", True, 1,
          "The bridge's availability (last will offline)."),
    Route("region_events", "region/events", EventBatch, "server", False, 1,
          "The office's event log going up to the region, in order, exactly once (after + events).",
          max_bytes=MAX_REGION_PAYLOAD),
    Route("region_ack", "region/ack", UploadAck, "region", True, 1,
          "How far the region holds the office's log; on a gap, where to resend from.",
          max_bytes=MAX_REGION_PAYLOAD),
    Route("region_network", "region/network", NetworkLoad, "region", True, 1,
          "The other offices' load per service, for 'the same service is faster at office X'.",
          max_bytes=MAX_REGION_PAYLOAD),
    Route("region_config", "region/config", RegionConfigPush, "region", True, 1,
          "The catalogue, staff accounts and configuration the region sets for the office.",
          max_bytes=MAX_REGION_PAYLOAD),
]}

#: where the answer to each request route comes back (request route -> response route)
RESPONSE_ROUTE: dict[str, str] = {r.name: r.answer for r in ROUTES.values() if r.answer is not None}


def topic(route: str, office: str, **params: str) -> str:
    """The concrete topic of ``route`` for ``office``; unknown routes or missing params raise."""
    r = ROUTES[route]
    missing = set(r.params) - params.keys()
    if missing:
        raise KeyError(f"route {route} needs {sorted(missing)}")
    return f"{ROOT}/{office}/" + r.pattern.format(**params)


def subscription(route: str, office: str = "+", **params: str) -> str:
    """A subscription filter for ``route``; params not given become ``+``."""
    r = ROUTES[route]
    values = {p: params.get(p, "+") for p in r.params}
    return f"{ROOT}/{office}/" + r.pattern.format(**values)


@dataclasses.dataclass(frozen=True)
class Decoded:
    route: Route
    office: str
    params: dict[str, str]
    message: Payload


_COMPILED: list[tuple[re.Pattern[str], Route]] = [(r.regex(), r) for r in ROUTES.values()]


def match(topic_name: str) -> tuple[Route, str, dict[str, str]]:
    for rx, route in _COMPILED:
        m = rx.match(topic_name)
        if m:
            groups = m.groupdict()
            office = groups.pop("office")
            return route, office, groups
    raise ContractError("unknown_topic", f"topic {topic_name[:200]!r} is not in the contract")


def decode(topic_name: str, payload: bytes) -> Decoded:
    """Validate a received message against the contract."""
    route, office, params = match(topic_name)
    if len(payload) > route.max_bytes:
        raise ContractError("too_large", f"payload of {len(payload)} bytes exceeds {route.max_bytes}")
    # UTF-8 only: json.loads(bytes) would also take UTF-16/32 and a BOM, which no Cherga side writes.
    if payload.startswith(b"\xef\xbb\xbf"):
        raise ContractError("bad_encoding", "payload starts with a byte-order mark: send UTF-8 JSON without one")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("bad_encoding", f"payload is not UTF-8 (UTF-16 or a BOM?): {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError("bad_json", f"payload is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError("bad_schema", "payload must be a JSON object")
    if "v" not in data:
        raise ContractError("unsupported_version", f"payload has no contract version \"v\" (this side speaks {VERSION})")
    version = data["v"]
    if type(version) is not int or version != VERSION:  # type(): true == 1 in Python, not in the contract
        raise ContractError("unsupported_version", f"contract version {version!r} is not spoken here (this side speaks {VERSION})")
    try:
        message = _validate(route, data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise ContractError("bad_schema", f"{where}: {first['msg']} ({exc.error_count()} problem(s))") from exc
    return Decoded(route, office, params, message)


def _validate(route: Route, data: dict[str, Any]) -> Payload:
    """``route``'s model from ``data``. What a node sends is held to the letter (unknown fields are
    refused); what the server publishes may carry fields added within v1 after a node was built
    (``wait_max_min``), which a node drops instead of refusing the ticket: nodes and the server
    are updated at different times, and a minor addition must not stop an office."""
    try:
        return route.model.model_validate(data)
    except ValidationError as exc:
        problems = exc.errors()
        if route.publisher not in ("server", "region") or any(p["type"] != "extra_forbidden" for p in problems):
            raise
        for p in problems:
            _drop(data, p["loc"])
        return route.model.model_validate(data)


def _drop(data: Any, loc: tuple[int | str, ...]) -> None:
    for step in loc[:-1]:
        data = data[step]
    del data[loc[-1]]


def message_id_of(payload: bytes) -> str | None:
    """Best effort: the ``id`` of a message that failed validation, to address the error notice."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else None
