"""The site configuration of one office: the single schema every component reads office facts from.

One YAML file per office, validated with pydantic. :func:`load_site_config` reports errors with
the YAML line and the field path, so a technician can fix the file without reading code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cherga.broker_bridge.contract import IDENT_PATTERN, LANGUAGES, PURPOSES, Purpose
from cherga.broker_bridge.contract import Lang as Language
from cherga.yamlerrors import line_index, read_text

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Ident = Annotated[str, Field(pattern=IDENT_PATTERN, description="lower-case id: letters, digits, '-' and '_'")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Strict):
    """A text in each language; at least one must be given."""

    uk: str | None = None
    ru: str | None = None
    ky: str | None = None
    kk: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _one_given(self) -> Names:
        if not any(getattr(self, lang) for lang in LANGUAGES):
            raise _problem("names_empty")
        return self

    def get(self, lang: str, fallbacks: Iterable[str] = ("en", "uk", "ru", "ky", "kk")) -> str:
        """The text in ``lang``, else the first of ``fallbacks`` that is given."""
        for code in (lang, *fallbacks):
            value = getattr(self, code, None)
            if value:
                return str(value)
        raise KeyError(lang)  # unreachable: the validator requires one name

    def as_dict(self) -> dict[str, str]:
        return {lang: v for lang in LANGUAGES if (v := getattr(self, lang))}


def _minutes(value: str, *, end: bool = False) -> int:
    """Minutes since midnight of ``HH:MM``; ``24:00`` is allowed as an end (open until midnight)."""
    if not re.fullmatch(r"\d{2}:\d{2}", value):
        raise _problem("time_format", value=value)
    hours, minutes = int(value[:2]), int(value[3:])
    if end and (hours, minutes) == (24, 0):
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise _problem("time_of_day", value=value)
    return hours * 60 + minutes


class TimeRange(_Strict):
    start: str
    end: str = Field(description="HH:MM, exclusive; 24:00 means until midnight")

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if _minutes(self.start) >= _minutes(self.end, end=True):
            raise _problem("time_order", start=self.start, end=self.end)
        return self

    def contains(self, t: dt.time) -> bool:
        now = t.hour * 60 + t.minute + t.second / 60
        return _minutes(self.start) <= now < _minutes(self.end, end=True)

    def on(self, day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """This range on ``day`` in ``tz`` (an end of 24:00 is the next midnight)."""
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        return (midnight + dt.timedelta(minutes=_minutes(self.start)),
                midnight + dt.timedelta(minutes=_minutes(self.end, end=True)))


class Hours(_Strict):
    """Working hours per weekday (a day left out is closed), the breaks of every working day, and the
    public holidays (dates the office is closed, whatever the weekday)."""

    days: dict[Weekday, list[TimeRange]] = Field(
        default_factory=lambda: {d: [TimeRange(start="08:00", end="20:00")] for d in WEEKDAYS[:5]}
    )
    breaks: list[TimeRange] = Field(default_factory=list)
    holidays: list[dt.date] = Field(default_factory=list, description="closed on these dates (YYYY-MM-DD)")

    def is_open(self, local: dt.datetime) -> bool:
        if self.holidays and local.date() in self.holidays:
            return False
        day = WEEKDAYS[local.weekday()]
        t = local.time()
        if any(b.contains(t) for b in self.breaks):
            return False
        return any(r.contains(t) for r in self.days.get(day, []))

    def slots_on(self, weekday: Weekday, slot_min: int) -> int:
        """How many bookable slots of ``slot_min`` a ``weekday`` has: slots start on the grid from
        midnight and the office is open for the whole slot (as :func:`server.core.booking.day_grid`)."""
        open_minutes = [False] * (24 * 60)
        for r in self.days.get(weekday, []):
            for m in range(_minutes(r.start), _minutes(r.end, end=True)):
                open_minutes[m] = True
        for b in self.breaks:
            for m in range(_minutes(b.start), _minutes(b.end, end=True)):
                open_minutes[m] = False
        return sum(all(open_minutes[k:k + slot_min]) for k in range(0, 24 * 60 - slot_min + 1, slot_min))


class LegalLink(_Strict):
    """A law or regulation a service rests on: its name in each language and where to read it."""

    title: Names
    url: str = Field(pattern=r"^https?://\S+$", description="e.g. https://zakon.rada.gov.ua/laws/show/...")


class ServiceDetails(_Strict):
    """What a citizen should know before coming (issue 18, informing); every field is optional.

    Shown on the service's web page, on the kiosk's "what do I need?" screen, and searched.
    """

    about: Names | None = Field(default=None, description="what the service is, in a sentence or two")
    documents: list[Names] = Field(default_factory=list, description="the documents to bring, one per item")
    fee: Names | None = Field(default=None, description="what it costs ('free', 'UAH 85.00 administrative fee')")
    duration: Names | None = Field(default=None, description="time to result ('on the day', 'up to 20 working days')")
    where: Names | None = Field(default=None, description="where to go in the office ('floor 1, counters 1-3')")
    legal: list[LegalLink] = Field(default_factory=list, description="the legal basis, with links")
    keywords: Names | None = Field(default=None, description="other words citizens use for it, for search")

    def texts(self) -> list[Names]:
        """Every translated text, for the language-coverage check."""
        out = [n for n in (self.about, self.fee, self.duration, self.where) if n is not None]
        return out + list(self.documents) + [link.title for link in self.legal]


class Service(_Strict):
    id: Ident
    prefix: str = Field(pattern=r"^[A-ZА-ЯІЇЄҐ]{1,2}$", description="letters printed before the number")
    names: Names
    purposes: list[Purpose] = Field(default_factory=lambda: list(PURPOSES))
    daily_cap: int | None = Field(default=None, ge=1, description="tickets per day; none means no cap")
    appointment_only: bool = False
    target_wait_min: float = Field(default=15, gt=0)
    mean_service_min: float = Field(default=10, gt=0, description="prior mean service time")
    hours: Hours | None = Field(default=None, description="service's own hours; default: the office's")
    booking_per_slot: int | None = Field(default=None, ge=0, le=100,
                                         description="visitors booked per slot; default appointments.per_slot, 0: none")
    info: ServiceDetails | None = Field(default=None, description="what to bring, fees, where to go (informing)")


class Bundle(_Strict):
    """A life situation (e.g. a newborn) that expands to several services on one ticket choice."""

    id: Ident
    names: Names
    services: list[Ident] = Field(min_length=1)
    about: Names | None = Field(default=None, description="what the life situation covers, in order")
    documents: list[Names] = Field(default_factory=list,
                                   description="documents the situation needs beyond its services' own")


class CounterService(_Strict):
    id: Ident
    weight: float = Field(default=1.0, gt=0, le=100)


class Counter(_Strict):
    id: Ident
    number: str = Field(min_length=1, max_length=6, description="what citizens read: '5', '12A'")
    services: list[CounterService] = Field(default_factory=list)
    back_office: bool = False
    names: Names | None = None

    @field_validator("services", mode="before")
    @classmethod
    def _plain_ids(cls, value: Any) -> Any:
        # A plain id in the list is a service served with weight 1.
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    def weight_for(self, service: str) -> float | None:
        for s in self.services:
            if s.id == service:
                return s.weight
        return None


class PriorityCategory(_Strict):
    id: Ident
    names: Names
    weight: float = Field(default=2.0, ge=1, le=10)


class NoShowRule(_Strict):
    recalls: int = Field(default=2, ge=0, le=10, description="recalls before a ticket becomes a no-show")
    timeout_s: int = Field(default=180, ge=10, description="seconds after the first call")


class NumberRange(_Strict):
    first: int = Field(ge=1, le=999)
    last: int = Field(ge=1, le=999)

    @model_validator(mode="after")
    def _ordered(self) -> NumberRange:
        if self.first > self.last:
            raise _problem("range_empty", first=self.first, last=self.last)
        return self

    def overlaps(self, other: NumberRange) -> bool:
        return self.first <= other.last and other.first <= self.last


class Numbering(_Strict):
    walk_in: NumberRange = NumberRange(first=1, last=699)
    booked: NumberRange = NumberRange(first=700, last=899)
    offline: NumberRange = NumberRange(first=900, last=999)

    @model_validator(mode="after")
    def _disjoint(self) -> Numbering:
        # Each overlap is reported at the later range, so the admin page shows it beside that field.
        pairs = [("walk_in", "booked"), ("walk_in", "offline"), ("booked", "offline")]
        problems = [Problem((b,), "ranges_overlap", {"a": a, "b": b}, PROBLEMS["ranges_overlap"].format(a=a, b=b))
                    for a, b in pairs if getattr(self, a).overlaps(getattr(self, b))]
        if problems:
            raise problems_error(problems)
        return self


class Appointments(_Strict):
    early_s: int = Field(default=600, ge=0, description="how early a booked visitor may check in")
    late_grace_s: int = Field(default=600, ge=0, description="later than this, the visitor becomes a walk-in")
    call_window_s: int = Field(default=300, ge=0, description="a checked-in visitor is called from slot minus this")
    slot_min: int = Field(default=15, ge=5, le=240, description="length of a bookable slot; slots start on this grid")
    per_slot: int = Field(default=1, ge=0, le=100,
                          description="visitors one service takes per slot (a service may override it); 0: no booking")
    horizon_days: int = Field(default=14, ge=1, le=90, description="how many days ahead a slot may be booked")
    walk_in_max_wait_min: int | None = Field(
        default=30, ge=1, le=600,
        description="a due booked visitor is not called before a walk-in who has waited this long at the desk "
                    "(walk-ins then go first, by the priority rule); none: due bookings always go first")


class Closing(_Strict):
    """What closing time means for the queue.

    ``waiting_at_close``: ``serve_all`` calls everybody who holds a ticket at closing; ``stop``
    makes no calls from ``stop_after_min`` minutes after closing (the visitors left are told to
    book). ``warn_walk_ins``: the kiosk tells a walk-in before printing when the forecast says they
    will not be seen before closing, and offers the earliest free booking instead.
    """

    waiting_at_close: Literal["serve_all", "stop"] = "serve_all"
    stop_after_min: int = Field(default=0, ge=0, le=240, description="with stop: last call this long after closing")
    # On since the kiosk's question ("closes at HH:MM; earliest booking; take a ticket anyway?") was
    # tried through the real bridge (tests/hil/test_closing.py, issue 20).
    warn_walk_ins: bool = True


class Display(_Strict):
    recent_calls: int = Field(default=4, ge=1, le=12)
    blink_s: float = Field(default=6.0, ge=0)
    min_visible_s: float = Field(default=7.0, ge=0)
    ticker: Names | None = None
    layout: Literal["alternate", "side_by_side"] = "alternate"


class Voice(_Strict):
    languages: list[Language] = Field(default_factory=lambda: list[Language](["uk"]))
    volume: float = Field(default=0.8, ge=0, le=1)
    quiet_hours: list[TimeRange] = Field(default_factory=list)


class Ticket(_Strict):
    paper_mm: Literal[58, 80] = 80
    footer: Names | None = None
    languages: list[Language] = Field(default_factory=list, description="printed side by side; default: chosen")


class SmsGateway(_Strict):
    """An SMS gateway over HTTP (every country's differ): ``{to}``, ``{text}`` and ``{id}`` in ``url`` and
    ``body`` are replaced by the number, the message and the outbox id (escaped for JSON or a form body)."""

    url: str = Field(pattern=r"^https?://", description="e.g. https://sms.example/api/send?to={to}")
    method: Literal["POST", "GET"] = "POST"
    content_type: Literal["application/json", "application/x-www-form-urlencoded"] = "application/json"
    body: str = Field(default='{"to": "{to}", "text": "{text}", "id": "{id}"}', description="POST body template")
    auth_header: str = "Authorization"
    auth_env: str | None = Field(default=None, description="environment variable holding the header's value")
    timeout_s: float = Field(default=10, gt=0, le=120)


class EmailGateway(_Strict):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    timeout_s: float = Field(default=10, gt=0, le=120)


class TelegramGateway(_Strict):
    base_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")
    token_env: str = Field(default="CHERGA_TELEGRAM_TOKEN", description="environment variable holding the bot token")
    timeout_s: float = Field(default=10, gt=0, le=120)


class Notify(_Strict):
    """Opt-in notifications (server.notify, docs/notifications.md): a channel is on when its gateway is set."""

    near_people: int = Field(default=3, ge=0, le=100, description="'your turn is near' at this many people ahead")
    near_minutes: int = Field(default=10, ge=0, le=240, description="... or when the forecast is at most this")
    retention_days: int = Field(default=30, ge=1, le=365, description="contacts and message texts are deleted after")
    give_up_after_min: int = Field(default=60, ge=1, le=7 * 24 * 60, description="a message not delivered by then fails")
    retry_first_s: float = Field(default=5, gt=0, le=3600)
    retry_max_s: float = Field(default=300, gt=0, le=86400)
    sms: SmsGateway | None = None
    email: EmailGateway | None = None
    telegram: TelegramGateway | None = None

    @property
    def channels(self) -> list[str]:
        return [c for c in ("sms", "email", "telegram") if getattr(self, c) is not None]


class Office(_Strict):
    id: Ident
    country: Literal["UA", "RU", "KG", "KZ", "OTHER"] = "UA"
    timezone: str = "Europe/Kyiv"
    names: Names
    languages: list[Language] = Field(default_factory=lambda: list[Language](["uk", "en"]), min_length=1)
    public_url: str = "http://127.0.0.1:8000"
    territorial_office: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _problem("unknown_timezone", value=value) from exc
        return value

    @model_validator(mode="after")
    def _ukrainian_for_ua(self) -> Office:
        if self.country == "UA":
            if "uk" not in self.languages:
                raise _problem("ua_needs_uk")
            if not self.names.uk:
                raise _problem("ua_needs_uk_name")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Node(_Strict):
    """A Raspberry Pi node of the office: its id, its role and, for a counter pad, its counter.

    The MQTT bridge refuses messages from node ids that are not listed here, and a pad may only
    command its own counter.
    """

    id: Ident
    role: Literal["kiosk", "display", "pad"]
    counter: Ident | None = Field(default=None, description="pads: the counter this pad drives")

    @model_validator(mode="after")
    def _counter_for_pads(self) -> Node:
        if self.role == "pad" and not self.counter:
            raise ValueError(f"node {self.id!r}: a pad needs the counter it drives (counter: ...)")
        if self.role != "pad" and self.counter:
            raise ValueError(f"node {self.id!r}: only a pad has a counter")
        return self


class SiteConfig(_Strict):
    """Everything one office is: services, counters, categories, hours and rules."""

    office: Office
    services: list[Service] = Field(min_length=1)
    bundles: list[Bundle] = Field(default_factory=list)
    counters: list[Counter] = Field(min_length=1)
    priority_categories: list[PriorityCategory] = Field(default_factory=list)
    hours: Hours = Field(default_factory=Hours)
    no_show: NoShowRule = NoShowRule()
    numbering: Numbering = Numbering()
    appointments: Appointments = Appointments()
    closing: Closing = Closing()
    display: Display = Display()
    voice: Voice = Voice()
    ticket: Ticket = Ticket()
    notify: Notify = Notify()
    backoffice_seed: int = 0
    nodes: list[Node] | None = Field(
        default=None, description="the office's Pi nodes; when absent the MQTT bridge accepts any node id (development)"
    )
    enrollment_file: Path | None = Field(
        default=None,
        description="the enrollment list `cherga provision` writes (enrollment.json; relative to this file): "
                    "nodes it names must enroll with their card's token before they are served, revoked ones are "
                    "refused; nodes it does not name are served as without it",
    )

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> SiteConfig:
        # Every cross-field problem at once, each at its own field (so at its own YAML line).
        complete = bool((info.context or {}).get(COMPLETE_LANGUAGES))
        problems = cross_problems(self.model_dump(), complete_languages=complete)
        problems += self._booked_range_problems()
        if problems:
            raise problems_error(problems)
        return self

    def _booked_range_problems(self) -> list[Problem]:
        # A booked visitor is never refused a number: the booked range holds a day's full bookings.
        rng = self.numbering.booked
        size = rng.last - rng.first + 1
        out = []
        for i, s in enumerate(self.services):
            need = self.bookings_per_day(s.id)
            if need > size:
                params = {"service": s.id, "need": need, "first": rng.first, "last": rng.last, "size": size,
                          "suggest_last": rng.first + need - 1}
                out.append(Problem(("services", i, "booking_per_slot"), "booked_range_small", params,
                                   PROBLEMS["booked_range_small"].format(**params)))
        return out

    @model_validator(mode="after")
    def _information_in_every_language(self) -> SiteConfig:
        # A citizen who chose Kyrgyz must not be told what to bring in Ukrainian: what a service's
        # page and the kiosk's "what do I need?" screen say is given in each language the office offers.
        langs = list(self.office.languages)
        for s in self.services:
            for text in s.info.texts() if s.info else []:
                missing = [lang for lang in langs if not getattr(text, lang)]
                if missing:
                    raise ValueError(f"service {s.id!r}: information {next(iter(text.as_dict().values()))!r} "
                                     f"lacks {', '.join(missing)} (the office offers {', '.join(langs)})")
        for b in self.bundles:
            for text in [*([b.about] if b.about else []), *b.documents]:
                missing = [lang for lang in langs if not getattr(text, lang)]
                if missing:
                    raise ValueError(f"bundle {b.id!r}: {next(iter(text.as_dict().values()))!r} "
                                     f"lacks {', '.join(missing)} (the office offers {', '.join(langs)})")
        return self

    # Lookups used everywhere; kept here so there is one way to ask.
    def service(self, service_id: str) -> Service:
        for s in self.services:
            if s.id == service_id:
                return s
        raise KeyError(service_id)

    def counter(self, counter_id: str) -> Counter:
        for c in self.counters:
            if c.id == counter_id:
                return c
        raise KeyError(counter_id)

    def category(self, category_id: str) -> PriorityCategory:
        for p in self.priority_categories:
            if p.id == category_id:
                return p
        raise KeyError(category_id)

    def node(self, node_id: str) -> Node:
        for n in self.nodes or []:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def counters_for(self, service_id: str) -> list[Counter]:
        return [c for c in self.counters if c.weight_for(service_id) is not None]

    def hours_of(self, service_id: str) -> Hours:
        """The service's own hours, else the office's; the office's public holidays close every service."""
        own = self.service(service_id).hours
        if own is None:
            return self.hours
        if self.hours.holidays and not set(self.hours.holidays) <= set(own.holidays):
            return own.model_copy(update={"holidays": sorted({*own.holidays, *self.hours.holidays})})
        return own

    def service_open(self, service_id: str, local: dt.datetime) -> bool:
        return self.hours_of(service_id).is_open(local)

    def booking_capacity(self, service_id: str) -> int:
        """Visitors one slot of the service takes (0: the service takes no bookings)."""
        own = self.service(service_id).booking_per_slot
        return self.appointments.per_slot if own is None else own

    def bookings_per_day(self, service_id: str) -> int:
        """The most visitors the service can have booked on one day (its busiest weekday's slots ×
        visitors per slot): the booked number range must hold this many."""
        capacity = self.booking_capacity(service_id)
        if capacity <= 0:
            return 0
        hours = self.hours_of(service_id)
        return capacity * max(hours.slots_on(d, self.appointments.slot_min) for d in WEEKDAYS)


# --- problems: every one at once, each at its field --------------------------------------------------

COMPLETE_LANGUAGES = "complete_languages"
"""Validation context key: when true, every name must be given in every language the office offers
(``cherga config check`` and the administration pages ask for it; a server still starts without)."""

Loc = tuple[str | int, ...]

# The English of each problem Cherga's own checks find (the admin pages say the same in the admin's
# language from their catalogs, by key, with the same parameters).
PROBLEMS: dict[str, str] = {
    "names_empty": "give the name in at least one language (uk, ru, ky, kk, en)",
    "time_format": "time {value!r} must look like HH:MM",
    "time_of_day": "time {value!r} is not a time of day",
    "time_order": "{start}–{end}: the start must be before the end",
    "range_empty": "range {first}..{last} is empty",
    "ranges_overlap": "number ranges {a} and {b} overlap",
    "duplicate_id": "{what}: {value!r} appears twice",
    "duplicate_prefix": "prefix {value!r} is already used by service {other!r}: two citizens would hold the same number",
    "duplicate_number": "counter number {value!r} is already used by counter {other!r}",
    "unknown_service": "{owner} {owner_id!r} names unknown service {value!r}",
    "unknown_counter": "node {owner_id!r} drives unknown counter {value!r}",
    "not_served": "service {value!r} is served by no counter",
    "name_missing": "no {lang} text, but the office offers {lang} (office.languages)",
    "unknown_timezone": "unknown time zone {value!r}",
    "ua_needs_uk": "a Ukrainian office must offer Ukrainian (uk) in languages",
    "ua_needs_uk_name": "a Ukrainian office needs its name in Ukrainian (names.uk)",
    "booked_range_small": (
        "service {service!r} takes up to {need} bookings a day, but numbering.booked {first}..{last} holds "
        "{size} numbers: make the booked range at least {need} numbers (e.g. booked: {{first: {first}, last: "
        "{suggest_last}}}), or book fewer visitors per slot"),
}


class Problem(NamedTuple):
    """One thing wrong with a site config: where (field path), what (key + parameters), in English."""

    loc: Loc
    key: str
    params: dict[str, Any]
    message: str

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.loc) or "(top level)"


def _problem(key: str, **params: Any) -> PydanticCustomError:
    """A validator's problem as pydantic's error, keyed, so the admin pages can translate it."""
    # The message is already formatted: pydantic only fills "{name}" for names in the parameters.
    return PydanticCustomError(key, PROBLEMS[key].format(**params), params)


def problems_error(problems: list[Problem]) -> ValidationError:
    """Several problems as one pydantic error, each at its own location (raised in a validator)."""
    return ValidationError.from_exception_data("SiteConfig", [
        InitErrorDetails(type=PydanticCustomError(p.key, p.message, p.params), loc=p.loc, input=None)
        for p in problems
    ])


def _id_of(item: Any) -> Any:
    # A counter's services list holds plain ids or {id, weight} mappings (in raw YAML and dumped).
    return item.get("id") if isinstance(item, Mapping) else item


def _items(data: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def cross_problems(data: Mapping[str, Any], *, complete_languages: bool = False) -> list[Problem]:
    """The checks across fields (unique ids and prefixes, references, languages) on plain data.

    Works on a validated config's dump and on raw YAML alike, so ``cherga config check`` reports
    these beside the field errors of a file that does not validate yet.
    """
    out: list[Problem] = []

    def add(loc: Loc, key: str, **params: Any) -> None:
        out.append(Problem(loc, key, params, PROBLEMS[key].format(**params)))

    def unique(section: str, field: str, key: str, what: str) -> None:
        seen: dict[Any, Any] = {}
        for i, item in _items(data, section):
            value = item.get(field)
            if value is None or isinstance(value, (list, dict)):
                continue
            if value in seen:
                add((section, i, field), key, what=what, value=value, other=seen[value])
            else:
                seen[value] = item.get("id")

    unique("services", "id", "duplicate_id", "services")
    unique("services", "prefix", "duplicate_prefix", "services")
    unique("counters", "id", "duplicate_id", "counters")
    unique("counters", "number", "duplicate_number", "counters")
    unique("priority_categories", "id", "duplicate_id", "priority_categories")
    unique("bundles", "id", "duplicate_id", "bundles")
    unique("nodes", "id", "duplicate_id", "nodes")

    services = [(i, s) for i, s in _items(data, "services")]
    known = {s.get("id") for _, s in services}
    served: set[Any] = set()
    for i, c in _items(data, "counters"):
        for j, ref in enumerate(c.get("services") or [] if isinstance(c.get("services"), list) else []):
            sid = _id_of(ref)
            served.add(sid)
            if isinstance(sid, str) and sid not in known:
                add(("counters", i, "services", j), "unknown_service", owner="counter", owner_id=c.get("id"), value=sid)
    for i, b in _items(data, "bundles"):
        bundle_services = b.get("services")
        for j, sid in enumerate(bundle_services if isinstance(bundle_services, list) else []):
            if isinstance(sid, str) and sid not in known:
                add(("bundles", i, "services", j), "unknown_service", owner="bundle", owner_id=b.get("id"), value=sid)
    counter_ids = {c.get("id") for _, c in _items(data, "counters")}
    if isinstance(data.get("counters"), list):
        for i, n in _items(data, "nodes"):
            if isinstance(n.get("counter"), str) and n["counter"] not in counter_ids:
                add(("nodes", i, "counter"), "unknown_counter", owner_id=n.get("id"), value=n["counter"])
        for i, s in services:
            if not s.get("appointment_only") and isinstance(s.get("id"), str) and s["id"] not in served:
                add(("services", i, "id"), "not_served", value=s["id"])

    if complete_languages:
        found = data.get("office")
        office: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        langs = office.get("languages", ["uk", "en"])
        langs = [lang for lang in langs if lang in LANGUAGES] if isinstance(langs, list) else []
        texts: list[tuple[Loc, Any]] = [(("office", "names"), office.get("names"))]
        for section in ("services", "bundles", "priority_categories", "counters"):
            texts += [((section, i, "names"), item.get("names")) for i, item in _items(data, section)]
        # The display ticker and the ticket footer may stay silent in a language (the board then
        # shows no ticker rather than another language's), so they are not required here.
        for loc, names in texts:
            if not isinstance(names, Mapping):
                continue  # absent where optional; absent where required is the field's own error
            for lang in langs:
                if not names.get(lang):
                    add((*loc, lang), "name_missing", lang=lang)
    return out


def _problems_of(exc: ValidationError) -> list[Problem]:
    return [Problem(tuple(e["loc"]), e["type"], dict(e.get("ctx") or {}), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()]


def validate_site_data(data: Any, *, complete_languages: bool = False) -> tuple[SiteConfig | None, list[Problem]]:
    """Validate plain data as a :class:`SiteConfig`: the config, or every problem found.

    When the fields do not validate, the cross-field checks still run on the plain data, so one
    pass names every duplicate prefix and unknown reference beside the field errors.
    """
    if not isinstance(data, Mapping):
        return None, [Problem((), "not_a_mapping", {}, "the file must be a mapping with office, services and counters")]
    try:
        return SiteConfig.model_validate(data, context={COMPLETE_LANGUAGES: complete_languages}), []
    except ValidationError as exc:
        problems = _problems_of(exc)
    if not any(p.key in PROBLEMS and p.key not in _FIELD_KEYS for p in problems):
        # The model's own cross checks did not run (a field failed first): run them on the plain data.
        seen = {(p.loc, p.key) for p in problems}
        problems += [p for p in cross_problems(data, complete_languages=complete_languages)
                     if (p.loc, p.key) not in seen]
    return None, problems


# Problems a single field's own validator reports (the others are the model's cross checks).
_FIELD_KEYS = {"names_empty", "time_format", "time_of_day", "time_order", "range_empty", "ranges_overlap",
               "unknown_timezone", "ua_needs_uk", "ua_needs_uk_name"}


class ConfigError(ValueError):
    """A site configuration that cannot be used; the message names the line and the field of every problem."""

    def __init__(self, message: str, problems: list[tuple[int | None, Problem]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def _line_of(lines: dict[tuple[Any, ...], int], loc: Loc) -> int | None:
    return next((lines[loc[:cut]] for cut in range(len(loc), -1, -1) if loc[:cut] in lines), None)


def parse_site_config(text: str, source: str = "<config>", *, complete_languages: bool = False) -> SiteConfig:
    """Validate YAML text; raise :class:`ConfigError` naming ``source:line: field: problem`` for every
    problem at once, sorted by line (a stable order: the same file gives the same report)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    config, problems = validate_site_data(data, complete_languages=complete_languages)
    if config is not None:
        return config
    lines = line_index(text)
    placed = sorted(((_line_of(lines, p.loc), p) for p in problems), key=lambda lp: (lp[0] or 0, lp[1].field))
    message = "\n".join(f"{source}:{line}: {p.field}: {p.message}" if line else f"{source}: {p.field}: {p.message}"
                        for line, p in placed)
    raise ConfigError(message, placed)


def load_site_config(path: str | Path, *, complete_languages: bool = False) -> SiteConfig:
    """The site config of ``path``; ``complete_languages``: also require every name in every office language."""
    config = parse_site_config(*read_text(path, ConfigError), complete_languages=complete_languages)
    if config.enrollment_file is not None and not config.enrollment_file.is_absolute():
        # Relative to the site config file, so the two can travel together.
        config = config.model_copy(update={"enrollment_file": Path(path).resolve().parent / config.enrollment_file})
    return config
