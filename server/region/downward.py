"""The region's side of the downward configuration (issue 21): what the region decides for each office
it does not run itself, built from the region file, versioned in the region's database and published
retained on ``cherga/v1/<office>/region/config`` (contract route ``region_config``).

A push (:class:`~cherga.broker_bridge.contract.RegionConfigPush`) carries two things:

* ``config``: the office's whole site configuration as the region file names it, with the shared
  service catalogue merged in (:func:`merge_catalogue`), less what belongs to the office's own
  machine (``nodes``, ``enrollment_file``: its Pi nodes are provisioned at the office and stay hers).
* ``staff``: the accounts that may act at the office: regional accounts (no office list) and the
  accounts scoped to it, from the region's ``staff`` table, with their argon2 hashes (a plain
  password or PIN never exists on this side to send).

The version (``region_config_pushes``) grows by one only when the content changes (a SHA-256 of the
config and staff decides), so running the push again without a change republishes the same
version, which the office ignores. Offices ``served_by: region`` run inside the region server on
the region's database and get nothing here. docs/region.md, "Downward: configuration and staff".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import uuid
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import MAX_REGION_PAYLOAD, RegionConfigPush
from cherga.server.db import schema
from cherga.server.region.regionfile import Region
from cherga.server.siteconfig import Service, SiteConfig, validate_site_data
from cherga.server.store import Store, offices_of

log = logging.getLogger(__name__)

#: what an office's own entry for a catalogue service keeps: when it serves it and how much of it
OFFICE_SERVICE_FIELDS = ("hours", "daily_cap", "booking_per_slot")
#: what of the site configuration belongs to the office's own machine and never goes down
OFFICE_MACHINE_FIELDS = ("nodes", "enrollment_file")


class DownwardError(Exception):
    """The region's configuration cannot be pushed; the message names the file or office and what to fix."""


class Catalogue(BaseModel):
    """The shared service catalogue: the services of the network, defined once.

    ```yaml
    services:
      - id: passport
        prefix: П
        names: {uk: "Паспорт", en: "Passport"}
        info: {...}
    ```
    """

    model_config = ConfigDict(extra="forbid")
    services: list[Service] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        ids = [s.id for s in self.services]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"service id given twice: {', '.join(twice)}")
        return self

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)


def load_catalogue(region: Region) -> Catalogue | None:
    """The region file's ``catalogue:`` (relative to the region file), checked; ``None`` without one."""
    name = region.file.catalogue
    if name is None:
        return None
    path = name if name.is_absolute() else region.path.parent / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DownwardError(f"{path}: cannot read the catalogue ({type(exc).__name__}: {exc})") from None
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise DownwardError(f"{path}: {where}: {first['msg']}") from None


def merge_catalogue(config: SiteConfig, catalogue: Catalogue | None) -> SiteConfig:
    """``config`` with each service the catalogue defines (same id) taken from the catalogue: its
    names, prefix, purposes, times and information are the network's; the office keeps the fields
    of :data:`OFFICE_SERVICE_FIELDS` it sets itself. Services the catalogue lacks stay the office's
    own, and the catalogue adds no service the office does not list (an office offers what it has
    counters for). Raises :class:`DownwardError` when the merged config does not hold together."""
    if catalogue is None:
        return config
    services = []
    for own in config.services:
        shared = catalogue.service(own.id)
        if shared is None:
            services.append(own.model_dump(exclude_unset=True))
            continue
        merged = shared.model_dump(exclude_unset=True)
        for name in OFFICE_SERVICE_FIELDS:
            merged.pop(name, None)
            if name in own.model_fields_set:
                merged[name] = getattr(own, name).model_dump() if isinstance(getattr(own, name), BaseModel) \
                    else getattr(own, name)
        services.append(merged)
    data = config.model_dump(exclude_unset=True)
    data["services"] = services
    result, problems = validate_site_data(data)
    if result is None:
        raise DownwardError(f"office {config.office.id!r} with the catalogue: "
                            + "; ".join(f"{'.'.join(str(p) for p in pr.loc)}: {pr.message}" for pr in problems))
    return result


def staff_for(store: Store, office: str) -> list[dict[str, Any]]:
    """The accounts that may act at ``office`` (regional ones and those scoped to it), hashes only,
    as the push carries them (locked accounts too: the office locks them as well)."""
    s = schema.staff
    with store.reading() as conn:
        rows = conn.execute(select(s).order_by(s.c.username)).mappings().all()
    out = []
    for r in rows:
        offices = offices_of(r["offices"])
        if offices is not None and office not in offices:
            continue
        out.append({"username": r["username"], "display_name": r["display_name"], "role": r["role"],
                    "password_hash": r["password_hash"], "pin_hash": r["pin_hash"], "pin_tag": r["pin_tag"],
                    "active": bool(r["active"]), "offices": list(offices) if offices is not None else None})
    return out


def office_config(region: Region, office: str, catalogue: Catalogue | None) -> dict[str, Any]:
    """The site configuration the region sends ``office``, as the push's JSON."""
    merged = merge_catalogue(region.configs[office], catalogue)
    data: dict[str, Any] = merged.model_dump(mode="json", exclude_defaults=True)
    for name in OFFICE_MACHINE_FIELDS:
        data.pop(name, None)
    return data


def digest(config: dict[str, Any] | None, staff: list[dict[str, Any]] | None) -> str:
    """The content's fingerprint: the same config and staff give the same digest, whatever the order of keys."""
    text = json.dumps({"config": config, "staff": staff}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def next_version(store: Store, office: str, content_digest: str, at: dt.datetime) -> tuple[int, bool]:
    """The version for ``office``'s content: the stored one when the content is unchanged, else one more
    (``(version, changed)``). One transaction; the increment happens in the UPDATE itself, so two region
    processes pushing at once never hand two contents the same number."""
    t = schema.region_config_pushes
    with store.transaction() as tx:
        conn = tx.conn
        conn.execute(_insert(conn)(t).values(office=office, version=0, digest="", pushed_at=at)
                     .on_conflict_do_nothing(index_elements=[t.c.office]))
        bumped = conn.execute(update(t).where((t.c.office == office) & (t.c.digest != content_digest))
                              .values(version=t.c.version + 1, digest=content_digest, pushed_at=at)).rowcount
        version = int(conn.execute(select(t.c.version).where(t.c.office == office)).scalar_one())
    return version, bool(bumped)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One office's push, ready to publish."""

    push: RegionConfigPush
    changed: bool  # a new version (False: the same content as the last push, republished as it was)

    @property
    def topic(self) -> str:
        return contract.topic("region_config", self.push.office)

    def payload(self) -> bytes:
        return self.push.to_bytes()


def prepare(region: Region, store: Store, now: dt.datetime, offices: list[str] | None = None) -> list[Prepared]:
    """Every push of the region's own-server offices (or of ``offices``), each checked, with its version.

    Everything is checked before any version moves: a broken catalogue or office stops the whole push
    with one :class:`DownwardError` and the region database is left as it was."""
    catalogue = load_catalogue(region)
    own = [o.id for o in region.file.offices if o.served_by == "own"]
    wanted = own if offices is None else offices
    unknown = [o for o in wanted if o not in own]
    if unknown:
        raise DownwardError(f"{region.path}: not an office with its own server in this region: {', '.join(unknown)}")
    contents = []
    for office in wanted:
        config = office_config(region, office, catalogue)
        staff = staff_for(store, office)
        probe = RegionConfigPush(office=office, version=1, config=config, staff=staff, at=now)
        size = len(probe.to_bytes())
        if size > MAX_REGION_PAYLOAD:
            raise DownwardError(f"office {office!r}: the push is {size} bytes, more than {MAX_REGION_PAYLOAD}")
        contents.append((office, config, staff))
    out = []
    for office, config, staff in contents:
        version, changed = next_version(store, office, digest(config, staff), now)
        out.append(Prepared(RegionConfigPush(office=office, version=version, config=config, staff=staff, at=now),
                            changed))
    return out


def publish(prepared: list[Prepared], host: str, port: int, *, username: str | None = None,
            password: str | None = None, ca_file: str | None = None, timeout: float = 10.0) -> None:
    """Publish each push retained (QoS 1) on the regional broker and wait for the broker to take each:
    an office offline now finds the newest when its bridge reconnects. ``ca_file``: the region CA, for a
    regional broker that speaks TLS (``cherga region provision`` makes it so by default)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cherga-region-push-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)
    if ca_file:
        client.tls_set(ca_certs=ca_file)
    try:
        client.connect(host, port, keepalive=15)
    except OSError as exc:
        raise DownwardError(f"regional broker {host}:{port} not reachable ({exc})") from None
    client.loop_start()
    try:
        for p in prepared:
            info = client.publish(p.topic, p.payload(), qos=1, retain=True)
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise DownwardError(f"the regional broker {host}:{port} did not take the push for {p.push.office!r}")
            log.info("region config: office %s version %s%s", p.push.office, p.push.version,
                     "" if p.changed else " (unchanged, republished)")
    finally:
        client.disconnect()
        client.loop_stop()


def push_region(region: Region, store: Store, host: str, port: int, *, now: dt.datetime,
                username: str | None = None, password: str | None = None, ca_file: str | None = None,
                offices: list[str] | None = None) -> list[Prepared]:
    """Prepare and publish the region's pushes (``cherga region push``)."""
    prepared = prepare(region, store, now, offices)
    publish(prepared, host, port, username=username, password=password, ca_file=ca_file)
    return prepared
