"""``cherga region push``: publish the region's configuration and staff to its offices (retained).

Run on the region server after editing the region file, an office's config, the catalogue or a
staff account; an office that is offline takes the newest push when its bridge reconnects.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import typer

app = typer.Typer(help="The network of offices (issue 21).", no_args_is_help=True)


@app.command("push")
def push(
    region_file: Path = typer.Argument(..., help="the region file (offices, catalogue)"),
    mqtt: str = typer.Option(..., "--mqtt", help="the regional broker as HOST:PORT"),
    db: str = typer.Option("sqlite:///var/cherga.db", "--db", help="the region's database URL (staff, push versions)"),
    office: list[str] = typer.Option([], "--office", help="push only to this office (repeat); default every "
                                     "office with its own server"),
) -> None:
    """Publish each office's configuration (with the catalogue) and staff accounts, retained, with a version
    that grows only when the content changed. The broker user: CHERGA_REGION_CREDENTIALS (the
    region-credentials.yaml of `cherga region provision`, with the region CA for TLS), else
    CHERGA_MQTT_USER / CHERGA_MQTT_PASSWORD."""
    from cherga.server.region.downward import DownwardError, push_region
    from cherga.server.region.regionfile import RegionFileError, load_region
    from cherga.server.store import Store

    host, _, port_s = mqtt.rpartition(":")
    if not host or not port_s.isdigit():
        typer.echo(f"--mqtt must be HOST:PORT, not {mqtt!r}", err=True)
        raise typer.Exit(2)
    try:
        region = load_region(region_file)
    except RegionFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    username, password = os.environ.get("CHERGA_MQTT_USER"), os.environ.get("CHERGA_MQTT_PASSWORD")
    ca_file = None
    if os.environ.get("CHERGA_REGION_CREDENTIALS"):
        from cherga.server.region.link import read_credentials

        try:
            username, password, tls = read_credentials(Path(os.environ["CHERGA_REGION_CREDENTIALS"]))
        except SystemExit as exc:
            typer.echo(str(exc).replace("cherga server:", "cherga region push:"), err=True)
            raise typer.Exit(1) from None
        ca_file = tls.ca_file if tls else None
    store = Store(db)
    try:
        done = push_region(region, store, host, int(port_s), now=dt.datetime.now(dt.UTC), username=username,
                           password=password, ca_file=ca_file, offices=office or None)
    except DownwardError as exc:
        typer.echo(f"cherga region push: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    for p in done:
        typer.echo(f"{p.push.office}: version {p.push.version}" + ("" if p.changed else " (unchanged)")
                   + f", {len(p.push.staff or [])} staff accounts")


# `cherga region provision`: the regional broker's files and the office bridges (provisioning/region_cli.py).
def _provision_command() -> None:
    from cherga.provisioning.region_cli import provision

    app.command("provision")(provision)


_provision_command()


# `cherga region conflicts`: bookings two offices both acted on (the mobile office's report, docs/region.md).
def _conflicts_command() -> None:
    from cherga.server.region.mobile_cli import conflicts

    app.command("conflicts")(conflicts)


_conflicts_command()
