"""`cherga region provision`: the files a regional administrator copies to the brokers."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cherga.broker_bridge import broker_config
from cherga.cli import app
from tests.region.conftest import REPO

REGION = REPO / "examples" / "region" / "region.yaml"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_provision_writes_the_regional_broker_and_each_office_with_secrets_kept(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["region", "provision", str(REGION), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    # only the offices with their own server bridge and upload; the region runs kr-central itself
    assert sorted(p.name for p in (out / "offices").iterdir()) == ["kr-mobile", "kr-north"]
    secrets = yaml.safe_load((out / "secrets.yaml").read_text())
    passwd = broker_config.parse_password_file((out / "region-broker" / "passwd").read_text())
    assert set(passwd) == {"kryvyi-rih.region", "kryvyi-rih.push", "kr-north.bridge", "kr-mobile.bridge"}
    assert "user kryvyi-rih.push\ntopic readwrite cherga/v1/+/region/config\n" in (out / "region-broker" / "acl").read_text()
    assert broker_config.verify_password(secrets["kr-north.bridge"], passwd["kr-north.bridge"])
    acl = (out / "region-broker" / "acl").read_text()
    assert "user kr-north.bridge\ntopic readwrite cherga/v1/kr-north/#" in acl
    bridge = (out / "offices" / "kr-north" / "bridge.conf").read_text()
    assert f"remote_password {secrets['kr-north.bridge']}" in bridge
    assert "bridge_cafile /etc/mosquitto/cherga/region-ca.crt" in bridge  # the example's broker says tls: true
    # files with a password are for root's eyes only
    for secret in (out / "secrets.yaml", out / "offices" / "kr-north" / "bridge.conf",
                   out / "offices" / "kr-north" / "uplink-credentials.yaml",
                   out / "region-broker" / "region-credentials.yaml", out / "region-broker" / "broker.key"):
        assert _mode(secret) == 0o600, secret
    # running it again (say, after adding an office) keeps every password: no office is cut off
    again = runner.invoke(app, ["region", "provision", str(REGION), str(out)])
    assert again.exit_code == 0, again.output
    assert yaml.safe_load((out / "secrets.yaml").read_text()) == secrets


def test_provision_names_a_broken_region_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "region.yaml"
    bad.write_text("region: {id: x}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["region", "provision", str(bad), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert str(bad) in result.output and not (tmp_path / "out").exists()
