"""The office's update root key is replaced without touching a node (issue 23).

``cherga provision updates rotate-root`` signs root version 2 with the old root key and the new one;
a node whose card carries root version 1 follows the chain at its next ``cherga update`` and then
checks releases against the new keys. A root version 2 signed only by a stranger (a taken-over
office server) is refused, and the node keeps trusting version 1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tuf.api.metadata import Metadata, Root

from cherga.provisioning.updates import UpdateRepo
from tests.updates.conftest import CHERGA, REPO, Node, Office, make_bundle, now


def _trusted_root(node: Node) -> Root:
    """The root metadata the node trusts now (python-tuf keeps it in the node's metadata cache)."""
    md: Metadata[Root] = Metadata.from_file(str(node.root / "tuf" / "metadata" / "root.json"))
    return md.signed


def test_a_node_with_the_old_root_follows_a_rotated_root_and_takes_a_release_signed_by_the_new_keys(
        office: Office, node: Node, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    done = subprocess.run([CHERGA, "provision", "updates", "rotate-root", "--workdir", str(office.repo.workdir),
                           "--root-key", str(usb / "root.pem"), "--new-root-key", str(usb / "root-2.pem"),
                           "--online"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "root version 2" in done.stdout and (usb / "root-2.pem").stat().st_mode & 0o777 == 0o600
    v2 = json.loads((office.repo.metadata_dir / "2.root.json").read_text())
    assert len(v2["signatures"]) == 2  # the old key's link and the new key's own
    # A release after the rotation: signed by the new online keys only.
    office.release("1.1.0")
    anchor: Metadata[Root] = Metadata.from_file(str(node.root / "tuf" / "root.json"))
    assert anchor.signed.version == 1  # what the node's card carries

    outcome = node.update()
    assert outcome["outcome"] == "installed" and outcome["version"] == "1.1.0", outcome
    assert node.run_current() == "1.1.0"
    trusted = _trusted_root(node)
    assert trusted.version == 2
    old_key = Metadata[Root].from_file(str(office.repo.metadata_dir / "1.root.json")).signed.roles["root"].keyids
    assert not set(old_key) & set(trusted.roles["root"].keyids), "the node still trusts the old root key"


def test_the_old_root_key_cannot_sign_again_after_the_rotation(office: Office, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    office.repo.rotate_root(usb / "root.pem", usb / "root-2.pem", now=now())
    try:
        office.repo.rotate_root(usb / "root.pem", usb / "root-3.pem", now=now())
    except ValueError as exc:
        assert "not the root key the nodes trust" in str(exc)
    else:
        raise AssertionError("the retired root key signed a root")
    assert not (usb / "root-3.pem").exists() and not (office.repo.metadata_dir / "3.root.json").exists()


def test_a_root_signed_only_by_a_stranger_is_refused_and_the_node_keeps_its_root(
        office: Office, node: Node, tmp_path: Path) -> None:
    # Whoever took over the office server publishes "root version 2" naming their own keys, and a
    # release signed by them.
    rogue = UpdateRepo(tmp_path / "rogue")
    rogue.init(tmp_path / "rogue-root.pem", now=now())
    rogue.add(make_bundle(tmp_path / "evil.tar.gz", "9.9.9"), "9.9.9", now=now())
    rogue.publish(tmp_path / "rogue-served")
    assert node.update()["outcome"] == "up_to_date"  # the node has met the office's root version 1
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import CryptoSigner

    stranger = CryptoSigner(serialization.load_pem_private_key(  # type: ignore[arg-type]
        (tmp_path / "rogue-root.pem").read_bytes(), password=None))
    md: Metadata[Root] = Metadata.from_file(str(rogue.metadata_dir / "root.json"))
    md.signed.version = 2
    md.signatures.clear()
    md.sign(stranger)
    served = tmp_path / "rogue-served" / "metadata"
    (served / "1.root.json").unlink()
    md.to_file(str(served / "2.root.json"))
    md.to_file(str(served / "root.json"))
    office.serve(tmp_path / "rogue-served")

    outcome = node.update()
    assert outcome["outcome"] == "refused" and outcome["reason"] == "bad_signature" and outcome["exit"] == 1, outcome
    assert node.layout.current() == "slot-a" and node.run_current() == "1.0.0"
    assert _trusted_root(node).version == 1
