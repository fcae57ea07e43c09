"""``cherga region provision REGION_FILE OUT``: the regional broker's files and each office's bridge
and uplink credentials (provisioning/region.py). Registered in the ``cherga region`` group."""

from __future__ import annotations

from pathlib import Path

import typer


def provision(
    region_file: Path = typer.Argument(..., help="the region file (offices, the regional broker)"),
    out: Path = typer.Argument(..., help="where to write the files (keeps secrets.yaml and the region CA)"),
    conf_dir: str = typer.Option("/etc/mosquitto/region", help="where the regional broker's files go on its host"),
    office_conf_dir: str = typer.Option("/etc/mosquitto/cherga",
                                        help="where each office's files go on the office broker's host"),
) -> None:
    """Write OUT/region-broker (passwd, acl, mosquitto.conf, TLS files, region-credentials.yaml) and
    OUT/offices/<id> (bridge.conf, uplink.passwd, uplink.acl, uplink-credentials.yaml) for every office
    with its own server (`cherga provision server --region-files OUT/offices/<id>` keeps the uplink's
    users in that office broker's passwd and acl). Passwords are kept in OUT/secrets.yaml: running it again keeps them."""
    from cherga.provisioning.region import uploading_offices, write_region_files
    from cherga.server.region.regionfile import RegionFileError, load_region

    try:
        region = load_region(region_file)
    except RegionFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    files = write_region_files(region, out, conf_dir=conf_dir, office_conf_dir=office_conf_dir)
    typer.echo(f"{files.broker_dir}: the regional broker's files (copy to {conf_dir}, include mosquitto.conf)")
    for office in uploading_offices(region):
        typer.echo(f"{files.office_dirs[office]}: office {office}: bridge.conf into the office broker's conf.d, "
                   "uplink.passwd and uplink.acl into its passwd and acl with `cherga provision server "
                   f"OFFICE.yaml --region-files {files.office_dirs[office]}` (kept from then on), "
                   "uplink-credentials.yaml for `cherga server --uplink`")
