"""``cherga staff``: create staff accounts (and the demo accounts) in an office server's store."""

from __future__ import annotations

import typer

app = typer.Typer(help="Staff accounts of the office server.", no_args_is_help=True)

DbOption = typer.Option("sqlite:///var/cherga.db", "--db", help="the server's database URL")


@app.command("add")
def add(username: str, role: str = typer.Option("operator", help="operator, hall_manager or admin"),
        password: str | None = typer.Option(None, help="for the REST API and panel (8+ characters)"),
        pin: str | None = typer.Option(None, help="4–12 digits, for signing in at a counter pad"),
        name: str | None = typer.Option(None, help="the name shown on the counter and in reports"),
        db: str = DbOption) -> None:
    """Create or replace a staff account."""
    from cherga.server import auth
    from cherga.server.errors import ServiceError
    from cherga.server.store import Store

    store = Store(db)
    try:
        account = auth.create_account(store, username=username, role=role, password=password, pin=pin,
                                      display_name=name)
    except ServiceError as exc:
        typer.echo(f"{exc.key}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    typer.echo(f"{account.username}: {account.role} ({account.display_name})")


@app.command("demo")
def demo(db: str = DbOption) -> None:
    """Create the demo accounts (admin, manager, olena, petro) that do not exist yet."""
    from cherga.server.accounts import DEMO_ACCOUNTS, ensure_demo_accounts
    from cherga.server.store import Store

    store = Store(db)
    try:
        ensure_demo_accounts(store)
    finally:
        store.close()
    for a in DEMO_ACCOUNTS:
        typer.echo(f"{a.username}: {a.role}, password {a.password}" + (f", PIN {a.pin}" if a.pin else ""))
