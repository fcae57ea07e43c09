"""``cherga provision``: a technician's commands from a site inventory to ready SD cards.

Owns the conversation with the technician (rich progress bars, confirmation before touching a
card). The work itself lives in :mod:`provisioning.bundle`, :mod:`provisioning.image` and
:mod:`provisioning.sdcard`; credentials in :mod:`provisioning.state`.

Typical session::

    cherga provision check office.yaml
    cherga provision image office.yaml kiosk-1 --image raspios.img --output kiosk-1.img --wheels wheels/
    cherga provision flash kiosk-1.img --device /dev/sdb
    cherga provision server office.yaml          # copy <state>/server/ to the broker host
    cherga provision revoke office.yaml kiosk-1  # a lost or stolen Pi
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cherga.provisioning import bundle as bundle_mod
from cherga.provisioning import image as image_mod
from cherga.provisioning import sdcard, updates_cli
from cherga.provisioning import wheels as wheels_mod
from cherga.provisioning.inventory import (
    Inventory,
    InventoryError,
    InventoryNode,
    check_against_site,
    load_inventory,
)
from cherga.provisioning.state import SiteState, StateError
from cherga.provisioning.tls import SiteCA, certificate_serial

app = typer.Typer(help="Site inventory to ready SD cards.", no_args_is_help=True)
app.add_typer(updates_cli.app, name="updates")  # signed node updates: keys, releases, rollout
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def _inventory(path: Path) -> Inventory:
    try:
        inv = load_inventory(path)
    except InventoryError as exc:
        raise _fail(str(exc)) from exc
    if inv.insecure_warning:  # every command says it, so no card or broker file is made plain unnoticed
        err.print(f"[bold red reverse] {inv.insecure_warning} [/]", highlight=False)
    return inv


def _state_dir(inventory_path: Path, inv: Inventory, state_dir: Path | None) -> Path:
    return state_dir or inventory_path.resolve().parent / f"{inv.office}-provisioning"


def _state(directory: Path, inv: Inventory) -> SiteState:
    try:
        return SiteState.load(directory, inv.office)
    except StateError as exc:
        raise _fail(str(exc)) from exc


def _ca(directory: Path, inv: Inventory) -> SiteCA | None:
    return SiteCA(directory / "ca", inv.office) if inv.broker.tls else None


def _node(inv: Inventory, node_id: str) -> InventoryNode:
    try:
        return inv.node(node_id)
    except KeyError as exc:
        raise _fail(f"node {node_id!r} is not in the inventory (nodes: {', '.join(n.id for n in inv.nodes)})") from exc


def _wheels(directory: Path | None) -> list[Path]:
    if directory is None:
        err.print("[yellow]warning:[/] no --wheels: the node will need the internet to install Cherga")
        return []
    wheels = sorted(directory.glob("*.whl"))
    if not any(w.name.startswith("cherga-") for w in wheels):
        raise _fail(f"{directory} holds no cherga-*.whl: build it with `pip wheel --no-deps -w {directory} .`")
    return wheels


@contextmanager
def _bar(description: str, total: int) -> Iterator[tuple[Progress, TaskID]]:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console, transient=False) as progress:
        yield progress, progress.add_task(description, total=total)


def _guard_plain_cards(inv: Inventory, state: SiteState, directory: Path) -> None:
    """Refuse to close the hall's plain port under cards that still speak plain MQTT.

    An office provisioned before TLS became the default (or with ``tls: false``) has cards that
    connect to port ``broker.port`` without TLS; broker files written now would open that port on
    loopback only and shut every one of those nodes out (``NodeSecrets.card``: the kind of the last
    card made for the node). The technician decides: keep the port open while the cards are made
    again, or stay plain. Called before a command changes the state.
    """
    if inv.broker.tls is None or inv.broker.tls.plain_listener:
        return
    plain = [s.node for s in state.active() if s.card == "plain"]
    if plain:
        raise _fail(
            f"{len(plain)} card(s) of office {inv.office} ({', '.join(plain[:5])}{', ...' if len(plain) > 5 else ''}) "
            f"were made for plain MQTT on port {inv.broker.port}; TLS (now the default) would close that port to "
            "them. Write `tls: {plain_listener: true}` under broker in the inventory to keep it open while you "
            "make their cards again (then remove it), or `tls: false` to stay plain (insecure).")


def write_server_files(inv: Inventory, state: SiteState, directory: Path, *,
                       mosquitto_dir: str = "/etc/mosquitto") -> Path:
    """(Re)write ``<state>/server/``; the broker host needs these after any node change.

    The region's users of this office (``<state>/region/``, imported with ``server --region-files``)
    go into ``passwd`` and ``acl`` every time, so a node change never cuts the uplink off; users whose
    password did not change keep their hash, so a rerun writes the same ``passwd``.
    """
    from cherga.broker_bridge.broker_config import parse_password_file
    from cherga.provisioning.region import merge_region_users, office_region_users

    _guard_plain_cards(inv, state, directory)
    out = directory / "server"
    old_passwd = out / "passwd"
    previous = parse_password_file(old_passwd.read_text(encoding="utf-8")) if old_passwd.is_file() else None
    try:
        files = bundle_mod.server_files(inv, state, ca=_ca(directory, inv), conf_dir=f"{mosquitto_dir}/cherga",
                                        include_dir=f"{mosquitto_dir}/conf.d", previous_passwd=previous)
        region_users = office_region_users(directory, inv.office)
        if region_users is not None:
            passwd, acl = merge_region_users(files["passwd"].decode(), files["acl"].decode(), region_users)
            files["passwd"], files["acl"] = passwd.encode(), acl.encode()
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    for rel, data in files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        if rel in ("passwd", "server-credentials.yaml") or rel.endswith(".key"):
            p.chmod(0o600)
        elif rel == "install.sh":
            p.chmod(0o755)
    return out


def _build(inv: Inventory, state: SiteState, directory: Path, node: InventoryNode, wheels: list[Path], *,
           rotate: bool, reinstate: bool) -> bundle_mod.Bundle:
    _guard_plain_cards(inv, state, directory)  # before anything is issued
    try:
        secrets = state.ensure(node.id, rotate=rotate, reinstate=reinstate)
    except StateError as exc:
        raise _fail(str(exc)) from exc
    # The update trust anchor, when the office's update repository lives in the state directory
    # (cherga provision updates init --workdir <state dir>/updates): the node then takes signed updates.
    anchor = directory / "updates" / "repository" / "metadata" / "1.root.json"
    b = bundle_mod.build_bundle(inv, node, secrets, ca=_ca(directory, inv), wheels=wheels,
                                update_root=anchor.read_bytes() if anchor.is_file() else None)
    if "tls/node.crt" in b.files:  # revoking the node (or rotating its credentials) revokes this certificate
        state.record_certificate(node.id, certificate_serial(b.files["tls/node.crt"]))
    state.nodes[node.id].card = "tls" if "tls/node.crt" in b.files else "plain"
    return b


@app.command()
def check(
    inventory: Path = typer.Argument(..., help="site inventory YAML"),
    site_config: Path | None = typer.Option(None, "--site-config", help="also check pads' counters against it"),
) -> None:
    """Validate a site inventory; errors name the line and the field."""
    inv = _inventory(inventory)
    if site_config is not None:
        from cherga.server.siteconfig import ConfigError, load_site_config

        try:
            site = load_site_config(site_config)
        except ConfigError as exc:
            raise _fail(str(exc)) from exc
        problems = check_against_site(inv, {c.id for c in site.counters}, site.office.id)
        if problems:
            raise _fail("\n".join(problems))
    roles = {r: sum(1 for n in inv.nodes if n.role == r) for r in ("kiosk", "display", "pad")}
    console.print(f"{inventory}: OK — office {inv.office}: " + ", ".join(f"{v} {k}" for k, v in roles.items() if v)
                  + f"; broker {inv.broker.host}:{inv.broker.node_port}" + (" (TLS)" if inv.broker.tls else " (PLAIN)"))


@app.command()
def wheels(
    output: Path = typer.Argument(Path("wheels"), help="the wheelhouse folder to fill"),
    source: Path = typer.Option(Path("."), "--source", help="a Cherga checkout (its wheel goes in too)"),
    python: list[str] = typer.Option(list(wheels_mod.DEFAULT_PYTHONS), "--python",
                                     help="Raspberry Pi OS Python: 3.11 (Bookworm), 3.13 (Trixie); repeat for both"),
    extras: str = typer.Option(",".join(wheels_mod.DEFAULT_EXTRAS), "--extras", help="Cherga extras to gather"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the pip commands, run nothing"),
) -> None:
    """Gather Cherga and every dependency as arm64 wheels (needs the internet; once per Cherga version)."""
    import shlex
    import subprocess
    import sys

    try:
        cmds = wheels_mod.commands(output, source.resolve(), pythons=python,
                                   extras=[e for e in extras.split(",") if e], pip=(sys.executable, "-m", "pip"))
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    for cmd in cmds:
        console.print(shlex.join(cmd), highlight=False, markup=False)
        if not dry_run and subprocess.run(cmd).returncode != 0:
            raise _fail(f"pip failed: {shlex.join(cmd)}")
    if not dry_run:
        console.print(f"{len(list(output.glob('*.whl')))} wheels in {output}: give it to `image --wheels {output}`")


@app.command()
def server(
    inventory: Path = typer.Argument(..., help="site inventory YAML"),
    state_dir: Path | None = typer.Option(None, "--state-dir", help="default: <office>-provisioning beside the inventory"),
    mosquitto_dir: str = typer.Option("/etc/mosquitto", "--mosquitto-dir",
                                      help="Mosquitto's folder on the broker host (holds conf.d/)"),
    region_files: Path | None = typer.Option(
        None, "--region-files", help="OUT/offices/<office> of `cherga region provision`: its uplink.passwd and "
        "uplink.acl are kept in <state>/region and go into passwd and acl from now on"),
) -> None:
    """Issue credentials for every node and write the broker's mosquitto.conf, passwd, acl (and TLS files)."""
    from cherga.provisioning.region import RegionUsersError, import_office_region_files

    inv = _inventory(inventory)
    directory = _state_dir(inventory, inv, state_dir)
    state = _state(directory, inv)
    if region_files is not None:
        try:
            kept = import_office_region_files(region_files, directory, inv.office)
        except (RegionUsersError, OSError) as exc:
            raise _fail(str(exc)) from exc
        console.print(f"the region's users of office {inv.office} kept in {kept}")
    for node in inv.nodes:
        if node.id not in state.revoked:
            state.ensure(node.id)
    state.save()
    out = write_server_files(inv, state, directory, mosquitto_dir=mosquitto_dir)
    console.print(f"broker files for {len(state.active())} node(s) in {out}: copy the folder to the broker host "
                  "and run `sudo sh install.sh` there")


@app.command()
def bundle(
    inventory: Path = typer.Argument(..., help="site inventory YAML"),
    nodes: list[str] = typer.Argument(None, help="node ids; none: every node"),
    state_dir: Path | None = typer.Option(None, "--state-dir"),
    wheels: Path | None = typer.Option(None, "--wheels", help="folder of wheels: cherga-*.whl and its dependencies"),
    rotate: bool = typer.Option(False, "--rotate", help="issue fresh credentials and token"),
    reinstate: bool = typer.Option(False, "--reinstate", help="give a revoked node fresh credentials"),
) -> None:
    """Write per-node bundles into <state>/bundles/<node>/ (for a card prepared by other means)."""
    inv = _inventory(inventory)
    directory = _state_dir(inventory, inv, state_dir)
    state = _state(directory, inv)
    wheel_files = _wheels(wheels)
    for node_id in nodes or [n.id for n in inv.nodes]:
        node = _node(inv, node_id)
        b = _build(inv, state, directory, node, wheel_files, rotate=rotate, reinstate=reinstate)
        target = directory / "bundles" / node.id
        if target.exists():
            shutil.rmtree(target)
        b.write_to(target)
        console.print(f"{node.id}: bundle in {target}")
    state.save()
    write_server_files(inv, state, directory)


@app.command()
def image(
    inventory: Path = typer.Argument(..., help="site inventory YAML"),
    node_id: str = typer.Argument(..., metavar="NODE"),
    image_path: Path = typer.Option(..., "--image", help="Raspberry Pi OS .img (uncompressed)"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write a customised copy here; default: in place"),
    flavour: str = typer.Option("auto", help="auto, cloud-init (Trixie and later) or firstrun (Bookworm)"),
    state_dir: Path | None = typer.Option(None, "--state-dir"),
    wheels: Path | None = typer.Option(None, "--wheels"),
    rotate: bool = typer.Option(False, "--rotate"),
    reinstate: bool = typer.Option(False, "--reinstate"),
) -> None:
    """Write a node's bundle into an image's boot partition (no root, no loop mount) and verify it."""
    if flavour not in ("auto", "cloud-init", "firstrun"):
        raise _fail(f"--flavour {flavour!r}: use auto, cloud-init or firstrun")
    inv = _inventory(inventory)
    node = _node(inv, node_id)
    directory = _state_dir(inventory, inv, state_dir)
    state = _state(directory, inv)
    wheel_files = _wheels(wheels)
    target = image_path
    try:
        image_mod.find_boot_partition(image_path)  # refuse a bad image before copying gigabytes
        if output is not None:
            if output.exists() and output.resolve() == image_path.resolve():
                raise _fail("--output is the source image itself; leave --output out to change the image in place")
            with _bar("copying image", image_path.stat().st_size) as (progress, task):
                _copy(image_path, output, lambda done, _t: progress.update(task, completed=done))
            target = output
        mode = image_mod.resolve_flavour(target, flavour)  # type: ignore[arg-type]
        if flavour != "auto" and (warning := image_mod.flavour_warning(target, mode)):
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
        b = _build(inv, state, directory, node, wheel_files, rotate=rotate, reinstate=reinstate)
        secrets = state.nodes[node.id]
        boot = bundle_mod.boot_files(inv, node, mode, instance=secrets.token_sha256[:8])
        total = b.size + sum(len(v) for v in boot.values())
        with _bar(f"writing {node.id} ({mode})", total) as (progress, task):
            report = image_mod.write_bundle(target, b, boot, flavour=mode,
                                            progress=lambda done, t: progress.update(task, completed=done, total=t))
    except image_mod.ImageError as exc:
        raise _fail(str(exc)) from exc
    state.save()
    out = write_server_files(inv, state, directory)
    console.print(f"{target}: {report.total} files written and read back on partition {report.partition.number} "
                  f"({mode}); node {node.id} is {node.host_name}. Broker files updated in {out}.")


def _copy(source: Path, dest: Path, progress: sdcard.Progress) -> None:
    total = source.stat().st_size
    done = 0
    with source.open("rb") as src, dest.open("wb") as dst:
        while chunk := src.read(sdcard.CHUNK):
            if chunk.count(0) == len(chunk):
                dst.seek(len(chunk), 1)  # keep the copy sparse where the image is empty
            else:
                dst.write(chunk)
            done += len(chunk)
            progress(done, total)
        dst.truncate(total)


@app.command()
def flash(
    image_path: Path = typer.Argument(..., metavar="IMAGE"),
    device: Path = typer.Option(..., "--device", help="the SD card, named exactly: /dev/sdX or /dev/mmcblkN"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
    allow_large: bool = typer.Option(False, "--allow-large", help="accept a target larger than 512 GB"),
) -> None:
    """Write an image to an SD card, then read it back and compare hashes."""
    try:
        image_mod.find_boot_partition(image_path)
    except image_mod.ImageError as exc:
        raise _fail(str(exc)) from exc
    size = image_path.stat().st_size
    info = sdcard.inspect_target(device, image_path)
    reason = sdcard.refusal(info, size, allow_large=allow_large)
    if reason:
        raise _fail(reason)
    console.print(f"target: {sdcard.describe(info)}")
    if not yes and not typer.confirm(f"Everything on {device} will be erased. Write {image_path.name}?", default=False):
        raise typer.Exit(1)
    try:
        with _bar("writing + verifying", 2 * size) as (progress, task):
            digest = sdcard.write_image(image_path, device,
                                        progress=lambda done, _t: progress.update(task, completed=done))
    except (sdcard.FlashError, OSError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{device}: written and verified, sha256 {digest}")


@app.command()
def revoke(
    inventory: Path = typer.Argument(..., help="site inventory YAML"),
    node_id: str = typer.Argument(..., metavar="NODE"),
    state_dir: Path | None = typer.Option(None, "--state-dir"),
) -> None:
    """Take a node's broker access away (lost, stolen or replaced Pi); rewrites the broker files."""
    inv = _inventory(inventory)
    directory = _state_dir(inventory, inv, state_dir)
    state = _state(directory, inv)
    _guard_plain_cards(inv, state, directory)  # before the state changes: the broker files must follow
    try:
        state.revoke(node_id)
    except StateError as exc:
        raise _fail(str(exc)) from exc
    state.save()
    out = write_server_files(inv, state, directory)
    console.print(f"{node_id}: revoked. Copy {out} to the broker host and reload Mosquitto "
                  "(`systemctl reload mosquitto`) to shut it out.")


# --- certificate rotation without a new card (issue 23) -------------------------------------------

tls_app = typer.Typer(help="Node certificates: rotate them without a new SD card.", no_args_is_help=True)
app.add_typer(tls_app, name="tls")
ROTATION_DIR = "rotation"  # in <state>/server/: the node_credentials messages `tls push` publishes


def _tls_ca(directory: Path, inv: Inventory) -> SiteCA:
    ca = _ca(directory, inv)
    if ca is None:
        raise _fail("the inventory turns TLS off (broker.tls: false): there are no certificates to rotate")
    return ca


@tls_app.command("rotate")
def tls_rotate(
    inventory: Path = typer.Argument(..., help="site inventory YAML"),
    nodes: list[str] = typer.Argument(None, help="node ids; with --all: every node with credentials"),
    all_nodes: bool = typer.Option(False, "--all", help="every node that holds credentials and is not revoked"),
    overlap_days: float = typer.Option(14.0, "--overlap-days", min=0,
                                       help="how long the old certificates keep working (nodes that are off fetch later)"),
    state_dir: Path | None = typer.Option(None, "--state-dir"),
) -> None:
    """Issue new node certificates from the site CA (and a new broker certificate); nodes fetch theirs over MQTT."""
    import datetime as dt

    from cherga.broker_bridge.contract import NodeCredentials

    if bool(nodes) == all_nodes:
        raise _fail("name the nodes, or give --all")
    inv = _inventory(inventory)
    directory = _state_dir(inventory, inv, state_dir)
    state = _state(directory, inv)
    _guard_plain_cards(inv, state, directory)
    ca = _tls_ca(directory, inv)
    targets = [s.node for s in state.active()] if all_nodes else nodes
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(days=overlap_days)
    out = directory / "server" / ROTATION_DIR
    out.mkdir(parents=True, exist_ok=True)
    for node_id in targets:
        _node(inv, node_id)
        secrets = state.nodes.get(node_id)
        if secrets is None or node_id in state.revoked:
            raise _fail(f"node {node_id!r} holds no credentials (never provisioned, or revoked): make its card instead")
        issued = ca.issue(secrets.username)
        state.rotate_certificate(node_id, issued.serial, until=until)
        message = NodeCredentials(node=node_id, serial=issued.serial, cert_pem=issued.cert_pem.decode(),
                                  key_pem=issued.key_pem.decode(), issued_at=now.replace(microsecond=0))
        path = out / f"{node_id}.json"
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds the node's new private key
        with os.fdopen(fd, "wb") as f:
            f.write(message.to_bytes())
        console.print(f"{node_id}: new certificate {issued.serial}")
    state.save()
    server_dir = write_server_files(inv, state, directory)
    console.print(f"The old certificates work until {until:%Y-%m-%d %H:%M} UTC. Copy {server_dir} to the broker host, "
                  "run `sudo sh install.sh` there (the broker's new certificate), then, in that folder, "
                  "`cherga provision tls push .`: each node takes its new certificate and reconnects. "
                  "After the overlap: `cherga provision tls retire`.", highlight=False)


@tls_app.command("push")
def tls_push(
    server_dir: Path = typer.Argument(..., help="the copied <state>/server folder (with rotation/ and server-credentials.yaml)"),
    mqtt_address: str = typer.Option("127.0.0.1:1883", "--mqtt", help="the broker's plain loopback listener"),
    clear: bool = typer.Option(False, "--clear", help="remove the published certificates (after the overlap)"),
) -> None:
    """On the broker host: publish each rotated certificate, retained, to its node's own topic."""
    import json

    import paho.mqtt.client as mqtt
    import yaml

    from cherga.broker_bridge import contract

    try:
        creds = yaml.safe_load((server_dir / "server-credentials.yaml").read_text(encoding="utf-8"))
        office = json.loads((server_dir / "enrollment.json").read_text(encoding="utf-8"))["office"]
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise _fail(f"{server_dir} is not a provisioning server folder ({exc})") from exc
    files = sorted((server_dir / ROTATION_DIR).glob("*.json"))
    if not files:
        raise _fail(f"nothing to push: {server_dir / ROTATION_DIR} holds no certificates (run `tls rotate` first)")
    host, _, port = mqtt_address.rpartition(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=str(creds["username"]), protocol=mqtt.MQTTv311)
    client.username_pw_set(str(creds["username"]), str(creds["password"]))
    try:
        client.connect(host or "127.0.0.1", int(port))
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot reach the broker at {mqtt_address}: {exc}") from exc
    client.loop_start()
    try:
        for path in files:
            payload = path.read_bytes()
            try:
                message = contract.NodeCredentials.model_validate_json(payload)
            except ValueError as exc:
                raise _fail(f"{path}: not a node_credentials message ({exc})") from exc
            topic = contract.topic("node_credentials", office, node=message.node)
            info = client.publish(topic, b"" if clear else payload, qos=1, retain=True)
            info.wait_for_publish(10)
            if not info.is_published():
                raise _fail(f"the broker did not take {topic}")
            if clear:
                path.unlink()
            console.print(f"{message.node}: {'cleared' if clear else 'published'} ({message.serial})")
    finally:
        client.disconnect()
        client.loop_stop()


@tls_app.command("retire")
def tls_retire(
    inventory: Path = typer.Argument(..., help="site inventory YAML"),
    state_dir: Path | None = typer.Option(None, "--state-dir"),
) -> None:
    """End the overlap now: the replaced certificates go on the CRL; rewrites the broker files."""
    import datetime as dt

    inv = _inventory(inventory)
    directory = _state_dir(inventory, inv, state_dir)
    state = _state(directory, inv)
    _guard_plain_cards(inv, state, directory)
    _tls_ca(directory, inv)
    ended = state.end_overlap(dt.datetime.now(dt.UTC))
    state.save()
    out = write_server_files(inv, state, directory)
    console.print(f"{len(ended)} replaced certificate(s) retired now, {len(state.retiring)} on the revocation list in "
                  f"all. Copy {out} to the broker host and reload Mosquitto (`systemctl reload mosquitto`), then, in that folder, "
                  "`cherga provision tls push . --clear`.", highlight=False)
