"""The mobile office's own rules: it starts only with the numbering reserved for it, and it carries
a copy of its home office's bookings so that a citizen who booked at home and turns up at the bus
is checked in under the home booking code (which the region then reports as a conflict, see
:mod:`cherga.server.region.conflicts`).

A mobile office is an ordinary office (its own site config, its own SQLite) that is offline all day;
its day reaches the region through the same uplink as any office with its own server, once it is
back within reach of the regional broker. Nothing here talks to the network.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from cherga.server.region.regionfile import RegionFileError, check_mobile_numbering, load_region
from cherga.server.siteconfig import ConfigError, SiteConfig, load_site_config
from cherga.server.store import Store

#: ``appointments.source`` of a booking copied from the home office: ``home:<office id>``.
HOME_SOURCE = "home:"


class KitError(Exception):
    """The kit must not start (or copy) like this; the message is one line saying what to fix."""


def home_office_of(source: str | None) -> str | None:
    """The home office a copied booking came from (its ``appointments.source``), else ``None``."""
    if source and source.startswith(HOME_SOURCE):
        return source[len(HOME_SOURCE):] or None
    return None


def home_config(kit: SiteConfig, *, home: Path | None = None, region: Path | None = None) -> SiteConfig:
    """The home office's config, from ``home`` (its site config) or ``region`` (the region file, where the
    kit's office must be listed with ``mobile_of``). Raises :class:`KitError` with one line otherwise."""
    if (home is None) == (region is None):
        raise KitError("give the home office's config (--home FILE) or the region file (--region FILE), one of them")
    if home is not None:
        try:
            return load_site_config(home)
        except ConfigError as exc:
            raise KitError(f"home office config: {exc}") from None
    assert region is not None
    try:
        reg = load_region(region)
    except RegionFileError as exc:
        raise KitError(str(exc)) from None
    try:
        entry = reg.office(kit.office.id)
    except KeyError:
        raise KitError(f"{region}: office {kit.office.id!r} is not in the region file") from None
    if entry.mobile_of is None:
        raise KitError(f"{region}: office {kit.office.id!r} is not a mobile office (no mobile_of)")
    return reg.configs[entry.mobile_of]


def check_kit(kit: SiteConfig, home: SiteConfig) -> None:
    """Refuse a kit whose numbering could hand out a number its home office also gives the same day.

    The region file's check looks at the region's copy of the kit's config; this one looks at the
    config the kit is about to run with, which is the one that prints tickets."""
    if kit.office.id == home.office.id:
        raise KitError(f"the mobile office needs its own office id, not its home office's {home.office.id!r}")
    problems = check_mobile_numbering(kit, home)
    if problems:
        raise KitError(f"office {kit.office.id!r} is not on its reserved numbering: {problems[0]}"
                       + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))


@dataclasses.dataclass(frozen=True)
class LoadedBookings:
    copied: int  # new on the kit
    already: int  # copied by an earlier run (a second run changes nothing)
    skipped: dict[str, int]  # service the kit does not offer -> bookings left at home


def load_home_bookings(home_store: Store, kit_store: Store, *, home: SiteConfig, kit: SiteConfig,
                       start: dt.datetime, end: dt.datetime, now: dt.datetime) -> LoadedBookings:
    """Copy the home office's bookings still to come with a slot in ``[start, end)`` onto the kit.

    The copy keeps the booking code and slot, is owned by the kit's office, has no seat (it takes no
    place of the kit's own slots) and says where it came from (``source: home:<office>``). The home
    office keeps its booking: the kit cannot tell home that the citizen came, so the region's conflict
    report does, once both logs are uploaded. Bookings for a service the kit does not offer stay at home.
    """
    kit_services = {s.id for s in kit.services}
    copied = already = 0
    skipped: dict[str, int] = {}
    rows = [a for a in home_store.appointments_between(home.office.id, start, end) if a["status"] == "booked"]
    with kit_store.transaction() as tx:
        for a in rows:
            if a["service"] not in kit_services:
                skipped[a["service"]] = skipped.get(a["service"], 0) + 1
                continue
            if tx.appointment(kit.office.id, a["code"]) is not None:
                already += 1
                continue
            tx.insert_appointment(code=a["code"], office=kit.office.id, service=a["service"], slot=a["slot"],
                                  source=HOME_SOURCE + home.office.id, at=now, seat=None)
            copied += 1
    return LoadedBookings(copied, already, skipped)
