"""``cherga mobile``: run the mobile office kit, print its systemd unit, copy the home office's
bookings onto it before it leaves (issue 21, docs/region.md "The mobile office")."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from pathlib import Path

import typer

from cherga.server.region.mobile import KitError, check_kit, home_config, load_home_bookings
from cherga.server.siteconfig import ConfigError, SiteConfig, load_site_config

app = typer.Typer(help="The mobile office kit (one machine, no network all day).", no_args_is_help=True)

EXIT_REFUSED = 2  # the unit's RestartPreventExitStatus: a restart cannot mend the configuration

_HOME = typer.Option(None, "--home", help="the home office's site config (its numbering is checked against the kit's)")
_REGION = typer.Option(None, "--region", help="the region file naming this office with mobile_of (instead of --home)")


def _checked(config: Path, home: Path | None, region: Path | None) -> tuple[SiteConfig, SiteConfig]:
    """The kit's and its home office's configs, or exit 2 with one line saying what is wrong."""
    try:
        kit = load_site_config(config)
        home_cfg = home_config(kit, home=home, region=region)
        check_kit(kit, home_cfg)
    except ConfigError as exc:
        typer.echo(f"cherga mobile: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except KitError as exc:
        typer.echo(f"cherga mobile: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    return kit, home_cfg


@app.command("check")
def check(config: Path = typer.Option(..., "--config", "-c", help="the mobile office's site config"),
          home: Path | None = _HOME, region: Path | None = _REGION) -> None:
    """Check that the kit's numbering is the range reserved for it (never a number its home office gives)."""
    kit, home_cfg = _checked(config, home, region)
    n = kit.numbering
    typer.echo(f"{config}: OK: office {kit.office.id} (mobile office of {home_cfg.office.id}) numbers walk-ins "
               f"{n.walk_in.first}-{n.walk_in.last}, bookings {n.booked.first}-{n.booked.last}, "
               f"offline {n.offline.first}-{n.offline.last}")


@app.command("run")
def run(config: Path = typer.Option(..., "--config", "-c", help="the mobile office's site config"),
        home: Path | None = _HOME, region: Path | None = _REGION,
        workdir: Path = typer.Option(Path("/var/lib/cherga"), help="database, broker persistence and logs"),
        node: list[Path] = typer.Option([], "--node", "-n", help="a node config of a role on this machine (repeat)"),
        host: str = typer.Option("0.0.0.0", help="where the pages listen (the operators' tablets)"),
        port: int = typer.Option(8000, help="web port"),
        broker_port: int = typer.Option(1883, help="the kit's Mosquitto (loopback only)"),
        region_bridge: Path | None = typer.Option(
            None, help="the kit's bridge.conf from `cherga region provision`: the day goes up through the "
                       "uplink whenever the regional broker is within reach"),
        uplink_credentials: Path | None = typer.Option(
            None, help="the kit office's uplink-credentials.yaml (from `cherga region provision`)")) -> None:
    """Run the kit: Mosquitto, the server (SQLite + bridge) and the given nodes, each started again when it dies.

    Refuses to start (exit 2, one line) when the kit's numbering could meet its home office's."""
    kit_cfg, _ = _checked(config, home, region)
    from cherga.mobile import Kit, check_nodes, run_kit

    try:
        check_nodes(node, kit_cfg.office.id, broker_port)
    except ValueError as exc:
        typer.echo(f"cherga mobile: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None

    logging.basicConfig(level=os.environ.get("CHERGA_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        kit = Kit(config, workdir, port=port, host=host, broker_port=broker_port, nodes=node,
                  region_bridge=region_bridge, uplink_credentials=uplink_credentials)
    except OSError as exc:
        typer.echo(f"cherga mobile: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except RuntimeError as exc:
        typer.echo(f"cherga mobile: {exc}", err=True)
        raise typer.Exit(1) from None
    run_kit(kit)


@app.command("unit")
def unit(config: Path = typer.Option(Path("/etc/cherga/office.yaml"), "--config", "-c"),
         home: Path | None = _HOME, region: Path | None = _REGION,
         node: list[Path] = typer.Option([], "--node", "-n", help="a node config of a role on this machine (repeat)"),
         region_bridge: Path | None = typer.Option(None, help="the kit's bridge.conf (cherga region provision)"),
         uplink_credentials: Path | None = typer.Option(None, help="the kit office's uplink-credentials.yaml"),
         cherga: str = typer.Option("/opt/cherga/current/bin/cherga", help="the cherga command on the Pi"),
         workdir: str = typer.Option("/var/lib/cherga")) -> None:
    """Print the systemd unit that runs the kit on the Pi (save as /etc/systemd/system/cherga-mobile.service)."""
    from cherga.mobile import unit_file

    if (home is None) == (region is None):
        typer.echo("cherga mobile: give --home FILE or --region FILE (the kit checks its numbering at every start)",
                   err=True)
        raise typer.Exit(EXIT_REFUSED)
    argv = [cherga, "mobile", "run", "--config", str(config)]
    argv += ["--home", str(home)] if home is not None else ["--region", str(region)]
    argv += ["--workdir", workdir]
    for n in node:
        argv += ["--node", str(n)]
    if region_bridge is not None:
        argv += ["--region-bridge", str(region_bridge)]
    if uplink_credentials is not None:
        argv += ["--uplink-credentials", str(uplink_credentials)]
    typer.echo(unit_file(argv, data_dir=workdir), nl=False)


@app.command("load-bookings")
def load_bookings(config: Path = typer.Option(..., "--config", "-c", help="the mobile office's site config"),
                  home: Path | None = _HOME, region: Path | None = _REGION,
                  home_db: str = typer.Option(..., "--home-db",
                                              help="the database holding the home office's bookings (its server's, or the region's)"),
                  db: str = typer.Option("sqlite:///var/lib/cherga/cherga.db", "--db", help="the kit's database"),
                  days: int = typer.Option(1, min=1, max=90, help="how many days from today the kit is out")) -> None:
    """Copy the home office's bookings for the kit's days onto it, before it leaves.

    A citizen who booked at home and comes to the bus instead checks in with the same code; the region's
    conflict report (`cherga region conflicts`) then shows both offices' sides. Running it again copies
    only what is new."""
    kit, home_cfg = _checked(config, home, region)
    from cherga.server.store import Store

    now = dt.datetime.now(dt.UTC)
    start = dt.datetime.combine(now.astimezone(kit.office.tz).date(), dt.time(0), tzinfo=kit.office.tz)
    home_store = Store(home_db, migrate=False)
    kit_store = Store(db)
    try:
        got = load_home_bookings(home_store, kit_store, home=home_cfg, kit=kit, start=start,
                                 end=start + dt.timedelta(days=days), now=now)
    finally:
        home_store.close()
        kit_store.close()
    typer.echo(f"{got.copied} booking(s) of {home_cfg.office.id} copied onto {kit.office.id}"
               + (f", {got.already} already there" if got.already else ""))
    for service, n in sorted(got.skipped.items()):
        typer.echo(f"{n} booking(s) for {service} left at home: the kit does not offer {service}", err=True)


@app.command("conflicts")
def conflicts(db: str = typer.Option(..., "--db", help="the region's database (every office's uploaded log)"),
              since: str | None = typer.Option(None, help="only events from this day on (YYYY-MM-DD, UTC)"),
              as_json: bool = typer.Option(False, "--json", help="one JSON object per conflict")) -> None:
    """Bookings two offices both acted on: booked at home and served at the mobile office, or checked in
    at two offices. One line each (booking code, ticket labels, where and what); exit 1 when there are some."""
    import dataclasses
    import json

    from sqlalchemy import select

    from cherga.server.db import schema
    from cherga.server.region.conflicts import KINDS, find_conflicts
    from cherga.server.store import Store

    e = schema.events
    query = select(e.c.seq, e.c.kind, e.c.office, e.c.ticket_id, e.c.at, e.c.data).where(e.c.kind.in_(KINDS))
    if since is not None:
        try:
            day = dt.date.fromisoformat(since)
        except ValueError:
            typer.echo(f"cherga conflicts: --since {since!r} is not a day (YYYY-MM-DD)", err=True)
            raise typer.Exit(EXIT_REFUSED) from None
        query = query.where(e.c.at >= dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC))
    store = Store(db, migrate=False)
    try:
        with store.reading() as conn:
            rows = [dict(r) for r in conn.execute(query.order_by(e.c.seq)).mappings().all()]
    finally:
        store.close()
    found = find_conflicts(rows)
    for c in found:
        typer.echo(json.dumps(dataclasses.asdict(c), default=str, ensure_ascii=False) if as_json else c.line())
    if not as_json:
        typer.echo(f"{len(found)} booking conflict(s) in {len(rows)} event(s)", err=True)
    raise typer.Exit(1 if found else 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
