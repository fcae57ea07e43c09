"""``cherga staff``: staff accounts in an office server's store — add, list, change the role, reset a
password or PIN, lock and unlock (the same rules as the administration pages: ``server.admin.staff``),
and the demo accounts."""

from __future__ import annotations

import typer

app = typer.Typer(help="Staff accounts of the office server.", no_args_is_help=True)

DbOption = typer.Option("sqlite:///var/cherga.db", "--db", help="the server's database URL")


@app.command("add")
def add(username: str, role: str = typer.Option("operator", help="operator, hall_manager or admin"),
        password: str | None = typer.Option(None, help="for the REST API and panel (8+ characters)"),
        pin: str | None = typer.Option(None, help="4–12 digits, for signing in at a counter pad"),
        name: str | None = typer.Option(None, help="the name shown on the counter and in reports"),
        office: list[str] | None = typer.Option(
            None, "--office",
            help="an office the account is for (repeat or 'a,b'); none: every office (a regional administrator)"),
        db: str = DbOption) -> None:
    """Create or replace a staff account."""
    from cherga.server import auth
    from cherga.server.errors import ServiceError
    from cherga.server.store import Store

    store = Store(db)
    try:
        offices = auth.parse_offices(" ".join(office)) if office else None
        account = auth.create_account(store, username=username, role=role, password=password, pin=pin,
                                      display_name=name, offices=offices)
    except ServiceError as exc:
        typer.echo(f"{exc.key}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    typer.echo(f"{account.username}: {account.role} ({account.display_name}), {_scope(account.offices)}")


def _scope(offices: tuple[str, ...] | None) -> str:
    return "every office" if offices is None else "office " + ", ".join(offices)


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


def _run(what: str, fn: object, db: str, *args: object) -> None:
    from cherga.server.errors import ServiceError
    from cherga.server.store import Store

    store = Store(db)
    try:
        fn(store, *args)  # type: ignore[operator]
    except ServiceError as exc:
        typer.echo(f"{exc.key}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    typer.echo(what)


@app.command("list")
def list_accounts(db: str = DbOption) -> None:
    """Every account: username, role, active or locked, whether it has a password and a PIN, its offices."""
    from cherga.server.store import Store

    store = Store(db)
    try:
        accounts = store.all_staff()
    finally:
        store.close()
    for a in accounts:
        typer.echo(f"{a.username}\t{a.role}\t{'active' if a.active else 'locked'}\t"
                   f"{'password' if a.password_hash else '-'}\t{'pin' if a.pin_hash else '-'}\t{a.display_name}\t"
                   f"{'*' if a.offices is None else ','.join(a.offices)}")


@app.command("role")
def role(username: str, new_role: str = typer.Argument(..., help="operator, hall_manager or admin"),
         db: str = DbOption) -> None:
    """Change an account's role (its open sessions end)."""
    from cherga.server.admin import staff

    _run(f"{username}: role {new_role}", staff.set_role, db, username, new_role)


@app.command("offices")
def offices(username: str, new_offices: str = typer.Argument(
        ..., help="office ids, 'a,b'; '*' or 'all': every office (a regional administrator)"),
        db: str = DbOption) -> None:
    """Change the offices an account is for (at once, on every server on this database)."""
    from cherga.server import auth
    from cherga.server.admin import staff
    from cherga.server.errors import ServiceError

    try:
        scope = auth.parse_offices(new_offices)
    except ServiceError as exc:
        typer.echo(f"{exc.key}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    _run(f"{username}: {_scope(scope)}", staff.set_offices, db, username, scope)


@app.command("password")
def password(username: str, new_password: str = typer.Option(..., prompt=True, hide_input=True,
                                                              confirmation_prompt=True),
             db: str = DbOption) -> None:
    """Reset an account's password (its open sessions end)."""
    from cherga.server.admin import staff

    _run(f"{username}: password reset", staff.set_password, db, username, new_password)


@app.command("pin")
def pin(username: str, new_pin: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
        db: str = DbOption) -> None:
    """Reset an account's counter-pad PIN."""
    from cherga.server.admin import staff

    _run(f"{username}: PIN reset", staff.set_pin, db, username, new_pin)


@app.command("lock")
def lock(username: str, db: str = DbOption) -> None:
    """Lock an account: it signs in nowhere and its open sessions end."""
    from cherga.server.admin import staff

    _run(f"{username}: locked", staff.set_active, db, username, False)


@app.command("unlock")
def unlock(username: str, db: str = DbOption) -> None:
    """Unlock an account."""
    from cherga.server.admin import staff

    _run(f"{username}: unlocked", staff.set_active, db, username, True)
