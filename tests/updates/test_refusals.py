"""A node installs nothing that the office's keys did not sign, that has expired, or that is older.

Each test has the office server serve something an attacker (or a broken copy) could serve and runs
the real ``cherga update``; the node must refuse with the reason and keep running what it ran:
``current`` still names slot-a, whose program still starts, and no other slot appears.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from cherga.provisioning.updates import UpdateRepo
from tests.updates.conftest import Node, Office, make_bundle, now


def assert_untouched(node: Node) -> None:
    assert node.layout.current() == "slot-a"
    assert node.run_current() == "1.0.0"
    assert node.slots_left() == ["slot-a"], "a refused release must leave no slot behind"
    assert not (node.root / "trial.json").exists()
    assert not list(node.root.glob("downloads/cherga-*")), "no bundle kept from a refused release"


def test_a_signed_newer_release_is_installed_into_the_other_slot_on_trial(office: Office, node: Node) -> None:
    office.release("1.1.0")
    outcome = node.update()
    assert outcome["outcome"] == "installed" and outcome["version"] == "1.1.0" and outcome["exit"] == 0
    assert node.layout.current() == "slot-b"
    assert node.run_current() == "1.1.0"
    assert json.loads((node.root / "trial.json").read_text())["previous"] == "slot-a"
    assert (node.root / "slot-a" / "bin" / "cherga").exists(), "the old slot stays for a fallback"


def test_a_release_signed_by_someone_else_is_refused(office: Office, node: Node, tmp_path: Path) -> None:
    # Whoever took over the office server builds a repository with keys of their own.
    rogue = UpdateRepo(tmp_path / "rogue")
    rogue.init(tmp_path / "rogue-root.pem", now=now())
    rogue.add(make_bundle(tmp_path / "evil.tar.gz", "9.9.9"), "9.9.9", now=now())
    rogue.publish(tmp_path / "rogue-served")
    office.serve(tmp_path / "rogue-served")
    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "bad_signature" and outcome["exit"] == 1
    assert_untouched(node)


def test_signed_metadata_changed_on_the_server_is_refused(office: Office, node: Node) -> None:
    office.release("1.1.0", nodes=["kiosk-2"])
    # The server opens the staged release to every node by editing the signed targets metadata.
    path = office.published / "metadata" / "targets.json"
    md = json.loads(path.read_text())
    record = md["signed"]["targets"]
    assert "releases.json" in record
    md["signed"]["expires"] = "2099-01-01T00:00:00Z"
    path.write_text(json.dumps(md))
    assert node.update()["reason"] == "bad_signature"
    assert_untouched(node)


def test_a_bundle_swapped_on_the_server_is_refused_before_unpacking(office: Office, node: Node, tmp_path: Path) -> None:
    office.release("1.1.0")
    served = office.published / "targets" / "bundles" / "cherga-1.1.0.tar.gz"
    make_bundle(tmp_path / "evil.tar.gz", "1.1.0", "crash")
    shutil.copyfile(tmp_path / "evil.tar.gz", served)
    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "bad_hash"
    assert_untouched(node)


def test_a_release_record_changed_on_the_server_is_refused(office: Office, node: Node) -> None:
    office.release("1.1.0", nodes=["kiosk-2"])
    record = office.published / "targets" / "releases.json"
    data = json.loads(record.read_text())
    data["releases"][0]["nodes"] = None  # "everyone may take it", without the targets key
    record.write_text(json.dumps(data))
    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "bad_hash"
    assert_untouched(node)


def test_expired_metadata_is_refused(office: Office, node: Node) -> None:
    # Signed ten days ago: the timestamp (seven days) has run out. A server frozen on old metadata
    # looks exactly like this to the node.
    office.release("1.1.0", when=now() - dt.timedelta(days=10))
    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "expired"
    assert_untouched(node)


def test_an_older_signed_release_is_not_installed(office: Office, tmp_path: Path) -> None:
    from tests.updates.conftest import make_node

    node = make_node(office, version="2.0.0")
    office.release("1.5.0")
    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "downgrade" and outcome["exit"] == 1
    assert node.layout.current() == "slot-a" and node.run_current() == "2.0.0"
    assert node.slots_left() == ["slot-a"]


def test_old_metadata_replayed_by_the_server_is_refused(office: Office, node: Node, tmp_path: Path) -> None:
    office.release("1.1.0")
    old = tmp_path / "old-copy"
    shutil.copytree(office.published, old)
    office.release("1.2.0")
    assert node.update()["version"] == "1.2.0"
    (node.root / "trial.json").unlink()  # as if 1.2.0 had reported healthy
    # The server goes back to the copy with 1.1.0 (a rollback of the metadata the node has seen).
    office.serve(old)
    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "rollback"
    assert node.layout.current() == "slot-b" and node.run_current() == "1.2.0"


def test_the_repository_refuses_to_sign_an_older_or_repeated_version(office: Office, tmp_path: Path) -> None:
    import pytest

    from cherga.provisioning.updates import UpdateRepoError

    office.release("1.1.0")
    bundle = make_bundle(tmp_path / "b.tar.gz", "1.0.9")
    with pytest.raises(UpdateRepoError, match="not newer than 1.1.0"):
        office.repo.add(bundle, "1.0.9", now=now())
    with pytest.raises(UpdateRepoError, match="exists"):
        office.repo.add(bundle, "1.1.0", now=now())
    with pytest.raises(UpdateRepoError, match="digits and dots"):
        office.repo.add(bundle, "1.2.0-beta", now=now())


def test_a_signed_bundle_that_reaches_outside_its_slot_is_refused(office: Office, node: Node, tmp_path: Path) -> None:
    import io
    import tarfile

    # Signed by the office, yet built wrong (or by a careless script): an entry climbs out of the slot.
    bundle = make_bundle(tmp_path / "ok.tar.gz", "1.1.0")
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(bundle) as src, tarfile.open(evil, "w:gz") as dst:
        for member in src.getmembers():
            f = src.extractfile(member)
            dst.addfile(member, f)
        body = b"owned\n"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(body)
        dst.addfile(info, io.BytesIO(body))
    office.repo.add(evil, "1.1.0", now=now())
    office.repo.publish(office.published)
    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "bad_bundle"
    assert not list(tmp_path.rglob("escaped.txt"))
    assert_untouched(node)


def test_one_update_at_a_time(office: Office, node: Node) -> None:
    import fcntl

    office.release("1.1.0")
    with open(node.root / ".update.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the timer's run, still going
        assert node.update()["outcome"] == "busy"
        assert_untouched(node)
    assert node.update()["outcome"] == "installed"
