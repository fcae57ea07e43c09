"""The ``cherga`` command. Each sub-command imports its role lazily, so a counter Pi without
FastAPI or pygame can still run ``cherga node``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from cherga.extras import EXIT_MISSING_EXTRA, missing_extra_message, missing_for

app = typer.Typer(help="Cherga: queue management for public service centres.", no_args_is_help=True)
config_app = typer.Typer(help="Site configuration tools.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def require_extra(extra: str, what: str) -> None:
    """Stop with the extra to install when this machine lacks what ``what`` needs (a pad has no FastAPI)."""
    missing = missing_for(extra)
    if missing:
        typer.echo(missing_extra_message(what, extra, missing), err=True)
        raise typer.Exit(EXIT_MISSING_EXTRA)


def _add_group(name: str, module: str, extra: str, help_text: str) -> None:
    """Add a sub-command group, or, where its extra is absent, a command that says which extra to install."""
    if not missing_for(extra):
        import importlib

        app.add_typer(importlib.import_module(module).app, name=name, help=help_text)
        return

    @app.command(name, help=f"{help_text} (needs the '{extra}' extra)", add_help_option=False,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def unavailable(ctx: typer.Context) -> None:
        require_extra(extra, f"cherga {name}")


@config_app.command("check")
def config_check(path: Path) -> None:
    """Validate a site configuration file: every problem at once, one line each, ``file:line: field: problem``."""
    from cherga.server.siteconfig import ConfigError, load_site_config

    try:
        # The check asks for every name in every language the office offers (the admin pages do too).
        cfg = load_site_config(path, complete_languages=True)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        if len(exc.problems) > 1:
            typer.echo(f"{path}: {len(exc.problems)} problems", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{path}: OK — office {cfg.office.id}: {len(cfg.services)} services, {len(cfg.counters)} counters, "
               f"languages {', '.join(cfg.office.languages)}")


@config_app.command("export")
def config_export(office: str = typer.Option(..., "--office", help="the office id"),
                  db: str = typer.Option("sqlite:///var/cherga.db", "--db", help="the server's database URL"),
                  out: Path | None = typer.Option(None, "--out", "-o", help="write here instead of printing")) -> None:
    """Print the office's current configuration (its latest saved version) as YAML."""
    require_extra("server", "cherga config export")
    from cherga.server.admin.versions import latest
    from cherga.server.store import Store

    store = Store(db)
    try:
        found = latest(store, office)
    finally:
        store.close()
    if found is None:
        typer.echo(f"office {office!r} has no saved configuration version in {db}: its YAML file is the configuration",
                   err=True)
        raise typer.Exit(1)
    if out is None:
        typer.echo(found.yaml, nl=False)
    else:
        out.write_text(found.yaml, encoding="utf-8")
        typer.echo(f"{out}: version {found.version} of office {office}", err=True)


@config_app.command("import")
def config_import(path: Path,
                  db: str = typer.Option("sqlite:///var/cherga.db", "--db", help="the server's database URL"),
                  by: str = typer.Option("cli", "--by", help="who imports (kept with the version)"),
                  comment: str = typer.Option("", "--comment", help="why (kept with the version)")) -> None:
    """Check a YAML file and store it as the office's next configuration version (the administration
    page's versions list can then make it live; nothing is stored when the file has a problem)."""
    require_extra("server", "cherga config import")
    import datetime as dt

    from cherga.server.admin.versions import save_version
    from cherga.server.siteconfig import ConfigError, parse_site_config
    from cherga.server.store import Store

    try:
        text = path.read_text(encoding="utf-8")
        cfg = parse_site_config(text, str(path), complete_languages=True)
    except OSError as exc:
        typer.echo(f"{path}: cannot read: {exc.strerror}", err=True)
        raise typer.Exit(1) from exc
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    store = Store(db)
    try:
        saved = save_version(store, cfg.office.id, text, author=by, comment=comment or f"imported from {path.name}",
                             at=dt.datetime.now(dt.UTC))
    finally:
        store.close()
    typer.echo(f"{path}: stored as version {saved.version} of office {cfg.office.id}")


@app.command()
def server(
    config: list[Path] = typer.Option(
        [], "--config", "-c",
        help="site configuration YAML, or a directory of them; repeat for several offices on one server"),
    db: str = typer.Option("sqlite:///var/cherga.db", help="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://..."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    mqtt: str | None = typer.Option(None, help="broker as HOST:PORT; the bridge runs inside the server"),
    instance: str | None = typer.Option(
        None, envvar="CHERGA_INSTANCE",
        help="this process's name when several server processes serve the office (its own MQTT client id; "
             "node commands are shared among the instances)"),
    tls_cert: Path | None = typer.Option(None, help="the office's HTTPS certificate (PEM); serves HTTPS with HSTS"),
    tls_key: Path | None = typer.Option(None, help="the key of --tls-cert (PEM)"),
    from_region: bool = typer.Option(
        False, "--from-region",
        help="apply the configuration and staff accounts the region pushes (the office broker is bridged to the "
             "region; docs/region.md)"),
    region_config_credentials: Path | None = typer.Option(
        None, help="with --from-region: config-credentials.yaml from `cherga region provision` (a directory of "
                   "<office>.yaml for several offices)"),
    region: Path | None = typer.Option(
        None, help="a region file: serve its offices served_by: region (as with -c); see --mqtt-region"),
    mqtt_region: str | None = typer.Option(
        None, help="the regional broker as HOST:PORT: store the event logs the offices upload (with --region; "
                   "credentials: CHERGA_REGION_CREDENTIALS=region-credentials.yaml)"),
    uplink: str | None = typer.Option(
        None, help="the office broker as HOST:PORT: send each office's event log up to the region through it"),
    uplink_credentials: Path | None = typer.Option(
        None, help="uplink-credentials.yaml from `cherga region provision` (a directory of <office>.yaml for "
                   "several offices)"),
) -> None:
    """Run the office server (REST API, pages, and the MQTT bridge when --mqtt is given).

    Several offices on one server: repeat -c, or give a directory; each office keeps its own
    numbering, queues, nodes (a bridge each) and staff scope (docs/server.md).
    """
    require_extra("server", "cherga server")
    from cherga.server.app import run_server

    if instance:
        os.environ["CHERGA_INSTANCE"] = instance

    if mqtt_region and region is None:
        raise typer.BadParameter("--mqtt-region needs --region FILE (it says which offices upload)")
    run_server(config=config, db_url=db, host=host, port=port, mqtt=mqtt, tls_cert=tls_cert, tls_key=tls_key,
               from_region=from_region, region=region, mqtt_region=mqtt_region, uplink=uplink,
               uplink_credentials=uplink_credentials, region_config_credentials=region_config_credentials)


@app.command()
def office(
    config: Path = typer.Option(Path("examples/demo-office.yaml"), "--config", "-c"),
    port: int = typer.Option(8000, help="web port of the server"),
    workdir: Path = typer.Option(Path("var/office"), help="where the database, logs and artefacts go"),
    visitors_per_min: float = typer.Option(2.0, help="simulated arrivals per minute (0: none)"),
) -> None:
    """A whole office on one machine: broker, server, kiosk, hall display, two counters, simulated visitors."""
    for extra in ("server", "kiosk", "display", "pad"):
        require_extra(extra, "cherga office")
    from cherga.office import run_demo_office

    run_demo_office(config=config, port=port, workdir=workdir, visitors_per_min=visitors_per_min)


@app.command()
def node(config: Path = typer.Option(..., "--config", "-c", help="node configuration YAML")) -> None:
    """Run this Raspberry Pi's role (kiosk, display or pad) from its node config."""
    from cherga.firmware_host.launcher import run_node

    raise typer.Exit(run_node(config))


@app.command()
def update(
    config: Path = typer.Option(..., "--config", "-c", help="node configuration YAML (node id and role)"),
    root: Path = typer.Option(Path("/opt/cherga"), help="the A/B directory: slot-a, slot-b, current, tuf/root.json"),
    server: str | None = typer.Option(None, help="the office server's update URL; default http://BROKER-HOST:8000/updates/"),
    trial_min: float = typer.Option(10.0, help="minutes the new version has to report healthy before it is rolled back"),
    restart: str | None = typer.Option(None, help="command that restarts the role after a switch, e.g. "
                                       "'systemctl restart cherga-kiosk'"),
) -> None:
    """Install the newest signed release this node may take into the other slot and switch to it on trial."""
    import shlex

    from cherga.firmware_host.config import NodeConfigError, load_node_config

    require_extra("node", "cherga update")
    try:
        cfg = load_node_config(config)
    except NodeConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    from cherga.firmware_host.updater.client import main_update

    url = server or f"http://{cfg.broker.host}:8000/updates/"
    raise typer.Exit(main_update(node=cfg.node, role=cfg.role, root=root, server=url, trial_s=trial_min * 60,
                                 restart=shlex.split(restart) if restart else None))


# A node process (`cherga node`, all day on a kiosk, display or pad Pi) never runs the office tools;
# importing them where their extras are installed cost the kiosk ~12 MB of its 80 MB.
if sys.argv[1:2] not in (["node"], ["update"]):
    _add_group("staff", "cherga.server.staff_cli", "server", "Staff accounts of the office server.")
    _add_group("enrollment", "cherga.server.enrollment_cli", "server", "Re-admit enrolled nodes after a database change.")
    _add_group("provision", "cherga.provisioning.cli", "provisioning", "Site inventory to ready SD cards.")
    _add_group("region", "cherga.server.region.push_cli", "server", "The network of offices: push the region's config.")
    _add_group("mobile", "cherga.server.region.mobile_cli", "server",
               "The mobile office kit: run it, its systemd unit, the home bookings, the region's conflict report.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
