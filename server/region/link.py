"""How ``cherga server`` joins a region (issue 21): the start/stop hooks of the office uplinks
(``--uplink``) and of the regional intake (``--region FILE --mqtt-region HOST:PORT``).

* Office side, ``--uplink HOST:PORT`` (the office's own broker, usually ``127.0.0.1:1883``): one
  :class:`~server.region.uplink.Uplink` per office the server runs, as the broker user in
  ``--uplink-credentials`` (the ``uplink-credentials.yaml`` from ``cherga region provision``; a
  directory of ``<office>.yaml`` for several offices).
* Region side, ``--mqtt-region HOST:PORT`` (the regional broker): one
  :class:`~server.region.intake.Intake` for the region file's offices with their own server, as the
  region user in ``CHERGA_REGION_CREDENTIALS`` (``region-credentials.yaml``: ``username``,
  ``password`` and, with TLS, ``ca_file`` relative to it). ``app.state.region_link`` is the intake
  (``hall_states()`` for the network pages); its counts join ``/metrics``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI

from cherga.broker_bridge.client import TlsSettings
from cherga.server.region.regionfile import Region
from cherga.server.siteconfig import SiteConfig

log = logging.getLogger(__name__)

Hook = Callable[[FastAPI], None]


def host_port(value: str, flag: str, default_port: int = 1883) -> tuple[str, int]:
    host, _, port_s = value.rpartition(":")
    if not host:
        host, port_s = port_s, str(default_port)
    try:
        return host, int(port_s)
    except ValueError:
        raise SystemExit(f"cherga server: {flag} must be HOST:PORT, not {value!r}") from None


def read_credentials(path: Path) -> tuple[str, str, TlsSettings | None]:
    """``username``, ``password`` and the optional ``ca_file`` (relative to the file) of a credentials YAML;
    a broken file stops the server with one line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        ca = data.get("ca_file")
        tls = TlsSettings(str(path.parent / ca)) if ca else None
        return str(data["username"]), str(data["password"]), tls
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise SystemExit(f"cherga server: {path}: not a credentials file with username and password "
                         f"({type(exc).__name__}: {exc})") from None


def region_offices(path: Path, already: Sequence[tuple[Path, SiteConfig]]) -> tuple[Region, list[tuple[Path, SiteConfig]]]:
    """The region file at ``path`` and its ``served_by: region`` offices (path, config) to serve, beside
    those ``-c`` gave; a broken region, an office given twice or nothing to serve stops with one line."""
    from cherga.server.region.regionfile import RegionFileError, load_region

    try:
        region = load_region(path)
    except RegionFileError as exc:
        raise SystemExit(f"cherga server: {exc}") from None
    given = {cfg.office.id: p for p, cfg in already}
    served = []
    for cfg in region.served_here:
        if cfg.office.id in given:
            raise SystemExit(f"cherga server: office {cfg.office.id!r} is in both {given[cfg.office.id]} and {path}")
        served.append((region.config_paths[cfg.office.id], cfg))
    if not served and not already:
        raise SystemExit(f"cherga server: {path} has no office served_by: region, and no -c was given")
    return region, served


def uplink_hooks(configs: Sequence[SiteConfig], uplink: str, credentials: Path | None) -> tuple[Hook, Hook]:
    """Start/stop hooks of one uplink per office in ``configs`` to the office broker at ``uplink``."""
    host, port = host_port(uplink, "--uplink")
    creds: dict[str, tuple[str | None, str | None]] = {}
    for cfg in configs:
        office = cfg.office.id
        path = credentials / f"{office}.yaml" if credentials is not None and credentials.is_dir() else credentials
        if path is None:
            creds[office] = (None, None)
        else:
            user, password, _ = read_credentials(path)
            creds[office] = (user, password)
    running: dict[str, Any] = {}

    def start(app: FastAPI) -> None:
        from cherga.server.region.uplink import Uplink

        for cfg in configs:
            office = cfg.office.id
            user, password = creds[office]
            running[office] = Uplink(app.state.store, office, host, port, username=user, password=password).start()
            log.info("uplink: office %s sends its event log to the region through %s:%s", office, host, port)
        app.state.uplinks = dict(running)

    def stop(app: FastAPI) -> None:
        for office in list(running):
            running.pop(office).stop()

    return start, stop


def intake_hooks(region: Region, mqtt_region: str) -> tuple[Hook, Hook]:
    """Start/stop hooks of the regional intake on the broker at ``mqtt_region``."""
    from cherga.provisioning.region import uploading_offices

    host, port = host_port(mqtt_region, "--mqtt-region", region.file.broker.port)
    user = password = None
    tls: TlsSettings | None = None
    path = os.environ.get("CHERGA_REGION_CREDENTIALS")
    if path:
        user, password, tls = read_credentials(Path(path))
    offices = uploading_offices(region)
    holder: dict[str, Any] = {}

    def start(app: FastAPI) -> None:
        from cherga.server.region.intake import Intake, IntakeCollector

        intake = Intake(app.state.store, offices, host, port, username=user, password=password, tls=tls).start()
        holder["intake"] = intake
        app.state.region_link = intake
        app.state.metrics.registry.register(IntakeCollector(lambda: holder.get("intake")))
        log.info("region intake: %d offices upload through %s:%s", len(offices), host, port)

    def stop(app: FastAPI) -> None:
        intake = holder.pop("intake", None)
        if intake is not None:
            intake.stop()

    return start, stop
