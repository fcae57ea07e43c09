"""``cherga provision updates``: the technician's commands for signed node updates.

The work is in :mod:`provisioning.updates`; this module owns the wording and the exit codes::

    cherga provision updates init --root-key /media/usb/cherga-root.pem   # once per office
    cherga provision updates add dist/cherga-1.4.0.tar.gz --version 1.4.0 --nodes kiosk-1
    cherga provision updates publish /var/lib/cherga/updates           # (or copy to the server)
    cherga provision updates rollout 1.4.0 --all                        # the rest of the nodes
    cherga provision updates refresh                                   # the server's daily timer
    cherga provision updates rotate-root --root-key OLD.pem --new-root-key NEW.pem [--online]
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import typer

from cherga.provisioning.updates import PASSPHRASE_ENV, ROLES, UpdateRepo, UpdateRepoError

NEW_PASSPHRASE_ENV = "CHERGA_UPDATES_NEW_ROOT_PASSPHRASE"  # the new root key's; default: the old one's

app = typer.Typer(help="Signed updates for the nodes: keys, releases, staged rollout.", no_args_is_help=True)

WORKDIR = typer.Option(Path("updates"), "--workdir", "-w", help="the update repository and its online keys")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def init(workdir: Path = WORKDIR,
         root_key: Path = typer.Option(..., "--root-key", help="where to write the root key: keep it OFF the "
                                       "laptop and the server (a USB stick in a drawer)")) -> None:
    """Create the keys and the first signed metadata; the nodes will trust this root."""
    try:
        UpdateRepo(workdir).init(root_key, now=_now(), passphrase=os.environ.get(PASSPHRASE_ENV) or None)
    except UpdateRepoError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"update repository in {workdir}; root key in {root_key} (store it offline, with a copy)")
    typer.echo(f"every node needs {workdir / 'repository' / 'metadata' / '1.root.json'} as /opt/cherga/tuf/root.json; "
               "cards made with the repository in <state dir>/updates carry it")


@app.command("rotate-root")
def rotate_root(
    workdir: Path = WORKDIR,
    root_key: Path = typer.Option(..., "--root-key", help="the root key the nodes trust now"),
    new_root_key: Path = typer.Option(..., "--new-root-key", help="where to write the new root key (offline)"),
    online: bool = typer.Option(False, "--online", help="also replace the targets, snapshot and timestamp keys "
                                "(the office server may have been taken over)"),
) -> None:
    """Replace the root key: the next root, signed by the old and the new key; nodes follow by themselves."""
    old_pass = os.environ.get(PASSPHRASE_ENV) or None
    new_pass = os.environ.get(NEW_PASSPHRASE_ENV) or old_pass
    try:
        version = UpdateRepo(workdir).rotate_root(root_key, new_root_key, now=_now(), old_passphrase=old_pass,
                                                  new_passphrase=new_pass, online=online)
    except UpdateRepoError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"root version {version} signed by the old and the new root key; new root key in {new_root_key} "
               "(store it offline, with a copy). Publish the repository: each node takes the new root at its "
               f"next update check, also one that checks in months later. {root_key} is no longer needed.")


@app.command()
def add(bundle: Path = typer.Argument(..., help="a .tar.gz bundle, a .whl, or a directory of wheels"),
        version: str = typer.Option(..., "--version", help="e.g. 1.4.0; must be newer than every release"),
        roles: str = typer.Option(",".join(ROLES), "--roles", help="comma-separated roles that may take it"),
        nodes: str | None = typer.Option(None, "--nodes", help="first stage: only these nodes (comma-separated); "
                                         "default every node of the roles"),
        workdir: Path = WORKDIR) -> None:
    """Sign a new release into the repository (publish it afterwards)."""
    try:
        entry = UpdateRepo(workdir).add(bundle, version, now=_now(), roles=_list(roles), nodes=_list(nodes))
    except UpdateRepoError as exc:
        raise _fail(str(exc)) from exc
    who = ", ".join(entry["nodes"]) if entry["nodes"] else "every node"
    typer.echo(f"release {version} signed for {who} ({', '.join(entry['roles'])})")


@app.command()
def rollout(version: str = typer.Argument(...),
            nodes: str | None = typer.Option(None, "--nodes", help="the nodes that may take it now"),
            all_nodes: bool = typer.Option(False, "--all", help="every node of the release's roles"),
            workdir: Path = WORKDIR) -> None:
    """Change a release's stage: more nodes, or all of them."""
    if all_nodes == bool(nodes):
        raise _fail("give either --nodes A,B or --all")
    try:
        entry = UpdateRepo(workdir).rollout(version, now=_now(), nodes=None if all_nodes else _list(nodes))
    except UpdateRepoError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"release {version} now for {', '.join(entry['nodes']) if entry['nodes'] else 'every node'}")


@app.command()
def refresh(workdir: Path = WORKDIR) -> None:
    """Re-sign snapshot and timestamp (before the timestamp expires, nodes refuse it after)."""
    try:
        UpdateRepo(workdir).refresh(now=_now())
    except UpdateRepoError as exc:
        raise _fail(str(exc)) from exc
    typer.echo("timestamp re-signed")


@app.command()
def publish(dest: Path = typer.Argument(..., help="the directory the office server serves at /updates/"),
            workdir: Path = WORKDIR) -> None:
    """Copy the signed repository where the office server serves it."""
    repo = UpdateRepo(workdir)
    if not (repo.metadata_dir / "timestamp.json").exists():
        raise _fail(f"{workdir} has no update repository: run 'cherga provision updates init' first")
    repo.publish(dest)
    typer.echo(f"published to {dest}")


@app.command("list")
def list_releases(workdir: Path = WORKDIR) -> None:
    """The releases and who may take each."""
    for r in UpdateRepo(workdir).releases():
        who = ", ".join(r["nodes"]) if r.get("nodes") else "every node"
        typer.echo(f"{r['version']}\t{','.join(r['roles'])}\t{who}")
