"""A server whose database was replaced re-admits its enrolled nodes with `cherga enrollment readmit`."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from cherga.broker_bridge.bridge import Bridge
from cherga.cli import app
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import sqlite_url
from tests.bridge.conftest import REPO, make_service
from tests.bridge.test_enrollment import PAD_TOKEN, TOKEN, _enroll, _issue, _write_list


def test_nodes_enrolled_before_the_database_was_replaced_are_readmitted_by_the_technician(
        site: SiteConfig, office_id: str, tmp_path: Path) -> None:
    listing = _write_list(tmp_path / "enrollment.json", office_id, {"k1": TOKEN, "pad-c1": PAD_TOKEN})
    config = site.model_copy(update={"enrollment_file": listing})
    old = Bridge(make_service(config, tmp_path / "old.db"), "127.0.0.1", 1, config=config)
    assert _enroll(old, "k1", TOKEN, id="boot-1").status == "applied"

    # The database is replaced: k1 enrolled long ago and will not enroll again.
    fresh_db = tmp_path / "new.db"
    bridge = Bridge(make_service(config, fresh_db), "127.0.0.1", 1, config=config)
    assert _issue(bridge, "k1").reason == "not_enrolled"

    data = yaml.safe_load((REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8"))
    data["office"]["id"] = office_id
    data["enrollment_file"] = str(listing)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["enrollment", "readmit", "k1", "--config", str(site_file),
                                      "--db", sqlite_url(fresh_db)])
    assert result.exit_code == 0, result.output
    assert "k1" in result.output
    assert _issue(bridge, "k1").status == "applied"
    # The node's own enroll request, if it ever resends it, is still answered ok.
    assert _enroll(bridge, "k1", TOKEN, id="boot-1").status == "applied"
    # A node not in the list is refused with a reason.
    result = CliRunner().invoke(app, ["enrollment", "readmit", "ghost", "--config", str(site_file),
                                      "--db", sqlite_url(fresh_db)])
    assert result.exit_code == 1 and "unknown_node" in result.output
