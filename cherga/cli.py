"""The ``cherga`` command. Each sub-command imports its role lazily, so a counter Pi without
FastAPI or pygame can still run ``cherga node``."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Cherga: queue management for public service centres.", no_args_is_help=True)
config_app = typer.Typer(help="Site configuration tools.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(path: Path) -> None:
    """Validate a site configuration file; errors name the line and the field."""
    from cherga.server.siteconfig import ConfigError, load_site_config

    try:
        cfg = load_site_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{path}: OK — office {cfg.office.id}: {len(cfg.services)} services, {len(cfg.counters)} counters, "
               f"languages {', '.join(cfg.office.languages)}")


@app.command()
def server(
    config: Path = typer.Option(..., "--config", "-c", help="site configuration YAML"),
    db: str = typer.Option("sqlite:///var/cherga.db", help="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://..."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    mqtt: str | None = typer.Option(None, help="broker as HOST:PORT; the bridge runs inside the server"),
) -> None:
    """Run the office server (REST API, pages, and the MQTT bridge when --mqtt is given)."""
    from cherga.server.app import run_server

    run_server(config=config, db_url=db, host=host, port=port, mqtt=mqtt)


@app.command()
def office(
    config: Path = typer.Option(Path("examples/demo-office.yaml"), "--config", "-c"),
    port: int = typer.Option(8000, help="web port of the server"),
    workdir: Path = typer.Option(Path("var/office"), help="where the database, logs and artefacts go"),
    visitors_per_min: float = typer.Option(2.0, help="simulated arrivals per minute (0: none)"),
) -> None:
    """A whole office on one machine: broker, server, kiosk, hall display, two counters, simulated visitors."""
    from cherga.office import run_demo_office

    run_demo_office(config=config, port=port, workdir=workdir, visitors_per_min=visitors_per_min)


@app.command()
def node(config: Path = typer.Option(..., "--config", "-c", help="node configuration YAML")) -> None:
    """Run this Raspberry Pi's role (kiosk, display or pad) from its node config."""
    from cherga.firmware_host.launcher import run_node

    raise typer.Exit(run_node(config))


try:  # the server's staff accounts
    from cherga.server.staff_cli import app as staff_app

    app.add_typer(staff_app, name="staff", help="Staff accounts of the office server.")
except ImportError:  # pragma: no cover - a node without the server extra
    pass


try:  # provisioning brings its own sub-commands
    from cherga.provisioning.cli import app as provision_app

    app.add_typer(provision_app, name="provision", help="Site inventory to ready SD cards.")
except ImportError:  # pragma: no cover - only while provisioning is absent
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
