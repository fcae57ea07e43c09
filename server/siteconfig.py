"""The site configuration of one office: the single schema every component reads office facts from.

One YAML file per office, validated with pydantic. :func:`load_site_config` reports errors with
the YAML line and the field path, so a technician can fix the file without reading code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cherga.broker_bridge.contract import IDENT_PATTERN, LANGUAGES, PURPOSES, Purpose
from cherga.broker_bridge.contract import Lang as Language
from cherga.yamlerrors import parse_yaml_model, read_text

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
            raise ValueError("give the name in at least one language (uk, ru, ky, kk, en)")
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
        raise ValueError(f"time {value!r} must look like HH:MM")
    hours, minutes = int(value[:2]), int(value[3:])
    if end and (hours, minutes) == (24, 0):
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise ValueError(f"time {value!r} is not a time of day")
    return hours * 60 + minutes


class TimeRange(_Strict):
    start: str
    end: str = Field(description="HH:MM, exclusive; 24:00 means until midnight")

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if _minutes(self.start) >= _minutes(self.end, end=True):
            raise ValueError(f"{self.start}–{self.end}: the start must be before the end")
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
    """Working hours per weekday (a day left out is closed) and the breaks of every working day."""

    days: dict[Weekday, list[TimeRange]] = Field(
        default_factory=lambda: {d: [TimeRange(start="08:00", end="20:00")] for d in WEEKDAYS[:5]}
    )
    breaks: list[TimeRange] = Field(default_factory=list)

    def is_open(self, local: dt.datetime) -> bool:
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
            raise ValueError(f"range {self.first}..{self.last} is empty")
        return self

    def overlaps(self, other: NumberRange) -> bool:
        return self.first <= other.last and other.first <= self.last


class Numbering(_Strict):
    walk_in: NumberRange = NumberRange(first=1, last=699)
    booked: NumberRange = NumberRange(first=700, last=899)
    offline: NumberRange = NumberRange(first=900, last=999)

    @model_validator(mode="after")
    def _disjoint(self) -> Numbering:
        pairs = [("walk_in", "booked"), ("walk_in", "offline"), ("booked", "offline")]
        for a, b in pairs:
            if getattr(self, a).overlaps(getattr(self, b)):
                raise ValueError(f"number ranges {a} and {b} overlap")
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
    # Off until the kiosk screen offers "book instead / take a ticket anyway" (issue 20): refusing
    # before that would show a citizen only "could not issue a ticket".
    warn_walk_ins: bool = False


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
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _ukrainian_for_ua(self) -> Office:
        if self.country == "UA":
            if "uk" not in self.languages:
                raise ValueError("a Ukrainian office must offer Ukrainian (uk) in languages")
            if not self.names.uk:
                raise ValueError("a Ukrainian office needs its name in Ukrainian (names.uk)")
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
    def _references(self) -> SiteConfig:
        service_ids = [s.id for s in self.services]
        _unique("services", service_ids)
        _unique("counters", [c.id for c in self.counters])
        _unique("counter numbers", [c.number for c in self.counters])
        _unique("priority_categories", [p.id for p in self.priority_categories])
        _unique("bundles", [b.id for b in self.bundles])
        known = set(service_ids)
        for c in self.counters:
            for cs in c.services:
                if cs.id not in known:
                    raise ValueError(f"counter {c.id!r} serves unknown service {cs.id!r}")
        for b in self.bundles:
            for sid in b.services:
                if sid not in known:
                    raise ValueError(f"bundle {b.id!r} names unknown service {sid!r}")
        if self.nodes is not None:
            _unique("nodes", [n.id for n in self.nodes])
            counter_ids = {c.id for c in self.counters}
            for n in self.nodes:
                if n.counter is not None and n.counter not in counter_ids:
                    raise ValueError(f"node {n.id!r} drives unknown counter {n.counter!r}")
        for s in self.services:
            if not s.appointment_only and not any(c.weight_for(s.id) for c in self.counters):
                raise ValueError(f"service {s.id!r} is served by no counter")
        return self

    @model_validator(mode="after")
    def _booked_range_holds_the_bookings(self) -> SiteConfig:
        # A booked visitor is never refused a number: the booked range holds a day's full bookings.
        rng = self.numbering.booked
        size = rng.last - rng.first + 1
        for s in self.services:
            need = self.bookings_per_day(s.id)
            if need > size:
                raise ValueError(
                    f"service {s.id!r} takes up to {need} bookings a day, but numbering.booked "
                    f"{rng.first}..{rng.last} holds {size} numbers: make the booked range at least {need} "
                    f"numbers (e.g. booked: {{first: {rng.first}, last: {rng.first + need - 1}}}), or book "
                    "fewer visitors per slot")
        return self

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
        """The service's own hours, else the office's."""
        return self.service(service_id).hours or self.hours

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


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{what}: {i!r} appears twice")
        seen.add(i)


class ConfigError(ValueError):
    """A site configuration that cannot be used; the message names the line and the field."""


def parse_site_config(text: str, source: str = "<config>") -> SiteConfig:
    """Validate YAML text; raise :class:`ConfigError` naming ``source:line`` and the field."""
    return parse_yaml_model(text, source, SiteConfig, ConfigError, "office, services and counters")


def load_site_config(path: str | Path) -> SiteConfig:
    config = parse_site_config(*read_text(path, ConfigError))
    if config.enrollment_file is not None and not config.enrollment_file.is_absolute():
        # Relative to the site config file, so the two can travel together.
        config = config.model_copy(update={"enrollment_file": Path(path).resolve().parent / config.enrollment_file})
    return config
