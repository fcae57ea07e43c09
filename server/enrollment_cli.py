"""``cherga enrollment``: the technician's way back in for enrolled nodes after the server's database
was replaced (they enrolled once and will not again, so the new database would refuse them for ever)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Enrollment of provisioned nodes on the office server.", no_args_is_help=True)


@app.command("readmit")
def readmit(nodes: list[str] = typer.Argument(None, help="node ids; none with --all"),
            all_nodes: bool = typer.Option(False, "--all", help="every node of the enrollment list not revoked"),
            config: Path = typer.Option(..., "--config", "-c", help="the site config (names enrollment_file)"),
            db: str = typer.Option("sqlite:///var/cherga.db", "--db", help="the server's database URL")) -> None:
    """Record nodes as enrolled with the token the enrollment list holds for them."""
    from cherga.server.enrollment import EnrollmentRefused, Enrollments
    from cherga.server.siteconfig import load_site_config
    from cherga.server.store import Store

    if bool(nodes) == all_nodes:
        typer.echo("name the nodes to re-admit, or give --all", err=True)
        raise typer.Exit(2)
    site = load_site_config(config)
    if site.enrollment_file is None:
        typer.echo(f"{config}: no enrollment_file: nodes of this office need no enrollment", err=True)
        raise typer.Exit(1)
    store = Store(db)
    try:
        done = Enrollments(store, site.office.id, site.enrollment_file).readmit(None if all_nodes else list(nodes))
    except EnrollmentRefused as exc:
        typer.echo(f"{exc.key}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    typer.echo(f"re-admitted: {', '.join(done)}" if done else "nothing to do: those nodes are enrolled already")
