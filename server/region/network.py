"""The network's load and "the same service is faster at office X" (issue 21). Pure: readings and the
clock come in, contract models go out; no database, no MQTT, no web.

* :func:`office_reading` turns one office's per-service load (an office served here: its live
  :meth:`OfficeService.load`; an office with its own server: the ``load`` of the newest ``HallState``
  the region heard from it) into a :class:`NetworkOffice` with the region file's names and address,
  whether it is open now (its configured hours) and when the reading was taken.
* :func:`network_load` gathers them into the :class:`NetworkLoad` the region publishes (retained) to
  every office and shows on ``/network``; :func:`others` is one office's copy without itself.
* :func:`faster_at` picks, for each service of one office, another office where a ticket taken now is
  forecast to wait clearly less; :func:`with_faster_at` writes it into the ``hall_state`` load.

The margin (:data:`MIN_SAVING_MIN`, :data:`MAX_RATIO`): another office is named only when its forecast
is at least 15 minutes shorter *and* at most half of ours. A citizen has to travel there: "12 instead
of 20 minutes" is not worth a bus ride and would send people back and forth on every small swing,
while "20 instead of 60" is. Where no desk of the service is open here (no forecast, people would
wait for a desk to open), any open office with a forecast is named. Never named: an office closed
now, a reading older than :data:`STALE_AFTER` (an office whose link is down may be full by now), a
service without a forecast there (taken by appointment only) or with no desk open there now (its
forecast counts on a desk opening later), and the office itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from cherga.broker_bridge.contract import FasterAt, NetworkLoad, NetworkOffice, NetworkService, ServiceLoad
from cherga.server.siteconfig import SiteConfig

MIN_SAVING_MIN = 15  # another office must save at least this many minutes ...
MAX_RATIO = 0.5  # ... and its forecast be at most this share of ours
# A reading older than this is not trusted: an office server republishes its hall state on every
# change, and with its link down the region keeps only the last one it heard.
STALE_AFTER = dt.timedelta(minutes=10)


def open_now(config: SiteConfig, now: dt.datetime) -> bool:
    """Whether any walk-in service of the office is within its opening hours at ``now`` (office time)."""
    local = now.astimezone(config.office.tz)
    return any(config.hours_of(s.id).is_open(local) for s in config.services if not s.appointment_only)


def office_reading(config: SiteConfig, address: Mapping[str, str], load: Iterable[ServiceLoad], *,
                   updated_at: dt.datetime, now: dt.datetime) -> NetworkOffice:
    """One office's line of the network load, from its per-service load (live or its last ``HallState``).

    A service taken by appointment only carries no forecast (nobody can walk in for it); a service
    whose calls have stopped for the day carries none either."""
    appointment_only = {s.id for s in config.services if s.appointment_only}
    services = [NetworkService(service=item.service, names=dict(item.names), waiting=item.waiting,
                               counters_open=item.counters_open,
                               wait_min=None if item.service in appointment_only or item.calls_stopped else item.wait_min,
                               wait_max_min=None if item.service in appointment_only or item.calls_stopped
                               else item.wait_max_min)
                for item in load]
    return NetworkOffice(office=config.office.id, names=config.office.names.as_dict(),  # type: ignore[arg-type]
                         address=dict(address), open_now=open_now(config, now),  # type: ignore[arg-type]
                         services=services, updated_at=updated_at)


def network_load(region: str, offices: Iterable[NetworkOffice], now: dt.datetime) -> NetworkLoad:
    return NetworkLoad(region=region, offices=list(offices), at=now)


def others(load: NetworkLoad, office: str) -> NetworkLoad:
    """The network load one office receives: every office but itself."""
    return load.model_copy(update={"offices": [o for o in load.offices if o.office != office]})


def digest(load: NetworkLoad, office: str, now: dt.datetime, *, per_service: int = 3) -> NetworkLoad:
    """What ``office`` needs of the network to name a faster office: per service, the ``per_service``
    quickest other offices that could be named now (open, heard from lately, a desk open). The whole
    network's load for every office would be ~2 KB an office: 1,000 offices would not fit the
    route's 1 MiB, and :func:`faster_at` on the digest picks the same office as on the whole."""
    keep: dict[str, set[str]] = {}
    for service, ranked in _ranked(load, office, now).items():
        for _, o in ranked[:per_service]:
            keep.setdefault(o.office, set()).add(service)
    offices = [o.model_copy(update={"services": [s for s in o.services if s.service in keep[o.office]]})
               for o in load.offices if o.office in keep]
    return load.model_copy(update={"offices": offices})


def _ranked(load: NetworkLoad, exclude: str, now: dt.datetime) -> dict[str, list[tuple[tuple[int, str], NetworkOffice]]]:
    ranked: dict[str, list[tuple[tuple[int, str], NetworkOffice]]] = {}
    for office in load.offices:
        if office.office == exclude or not usable(office, now):
            continue
        for s in office.services:
            if s.wait_min is not None and s.counters_open > 0:
                ranked.setdefault(s.service, []).append(((s.wait_min, office.office), office))
    for rows in ranked.values():
        rows.sort(key=lambda r: r[0])
    return ranked


def usable(office: NetworkOffice, now: dt.datetime) -> bool:
    """Whether the office may be recommended at all: open now, and heard from recently."""
    return office.open_now and abs(now - office.updated_at) <= STALE_AFTER


def clearly_faster(theirs: int, ours: int | None) -> bool:
    """Whether a forecast of ``theirs`` minutes is worth the trip from a forecast of ``ours`` (module docstring)."""
    if ours is None:
        return True
    return theirs <= ours - MIN_SAVING_MIN and theirs <= ours * MAX_RATIO


@dataclasses.dataclass(frozen=True)
class _Candidate:
    wait_min: int
    office: NetworkOffice
    service: NetworkService


def _best_by_service(network: NetworkLoad, exclude: str, now: dt.datetime) -> dict[str, _Candidate]:
    best: dict[str, _Candidate] = {}
    for office in network.offices:
        if office.office == exclude or not usable(office, now):
            continue
        for s in office.services:
            if s.wait_min is None or s.counters_open == 0:
                continue  # no forecast, or nobody at a desk there now: the forecast counts on one opening
            held = best.get(s.service)
            if held is None or (s.wait_min, office.office) < (held.wait_min, held.office.office):
                best[s.service] = _Candidate(s.wait_min, office, s)
    return best


def faster_at(office: str, own: Sequence[ServiceLoad], network: NetworkLoad | None, now: dt.datetime, *,
              appointment_only: Iterable[str] = ()) -> dict[str, FasterAt]:
    """Per service of ``office``, the other office to name on its kiosk and load page, if any.

    ``own``: the office's per-service load; a service not taken by walk-in here (``appointment_only``)
    or whose calls stopped gets nothing (it has its own message: "book an appointment")."""
    if network is None:
        return {}
    skip = set(appointment_only)
    best = _best_by_service(network, office, now)
    out: dict[str, FasterAt] = {}
    for item in own:
        found = best.get(item.service)
        if found is None or item.service in skip or item.calls_stopped:
            continue
        ours = item.wait_min
        if ours is None and item.counters_open > 0:
            continue  # desks open but no forecast: not a walk-in service here now
        if clearly_faster(found.wait_min, ours):
            out[item.service] = FasterAt(office=found.office.office, names=dict(found.office.names),
                                         address=dict(found.office.address), wait_min=found.wait_min,
                                         wait_max_min=found.service.wait_max_min)
    return out


def with_faster_at(office: str, own: Sequence[ServiceLoad], network: NetworkLoad | None, now: dt.datetime, *,
                   appointment_only: Iterable[str] = ()) -> list[ServiceLoad]:
    """``own`` with each service's ``faster_at`` set (or cleared) from ``network``."""
    found = faster_at(office, own, network, now, appointment_only=appointment_only)
    return [item.model_copy(update={"faster_at": found.get(item.service)}) for item in own]
