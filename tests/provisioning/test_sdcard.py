"""Writing a card: only the named device, never this computer's disk, and verified by reading back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cherga.provisioning.cli import app
from cherga.provisioning.sdcard import (
    LARGEST_SD,
    FlashError,
    TargetInfo,
    inspect_target,
    refusal,
    write_image,
)
from tests.provisioning.conftest import build_image, mtype

runner = CliRunner()
GB = 1000**3
CARD = TargetInfo(Path("/dev/sdb"), "block", size=32 * GB, disk="sdb", removable=True, model="Generic SD")


def test_an_unmounted_sd_card_may_be_written() -> None:
    assert refusal(CARD, 3 * GB) is None


@pytest.mark.parametrize(("info", "why"), [
    (TargetInfo(Path("/dev/sda"), "block", size=256 * GB, disk="sda", mounted=["/", "/home"], system=True),
     "this computer's own system"),
    (TargetInfo(Path("/dev/nvme0n1"), "block", size=256 * GB, disk="nvme0n1", system=True), "own system"),
    (TargetInfo(Path("/dev/sdb1"), "block", size=32 * GB, disk="sdb", is_partition=True), "is a partition"),
    (TargetInfo(Path("/dev/sdb"), "block", size=32 * GB, disk="sdb", mounted=["/media/tech/bootfs"]), "unmount"),
    (TargetInfo(Path("/dev/sdb"), "block", size=2 * GB, disk="sdb"), "the image needs"),
    (TargetInfo(Path("/dev/sdc"), "block", size=2000 * GB, disk="sdc"), "--allow-large"),
    (TargetInfo(Path("/dev/sdx"), "missing"), "does not exist"),
    (TargetInfo(Path("/dev/null"), "other"), "neither a block device"),
    (TargetInfo(Path("card.img"), "file", same_file_as_source=True), "source image itself"),
])
def test_dangerous_targets_are_refused_with_a_reason(info: TargetInfo, why: str) -> None:
    reason = refusal(info, 3 * GB)
    assert reason is not None and why in reason


def test_a_large_disk_is_accepted_only_when_the_technician_insists() -> None:
    big = TargetInfo(Path("/dev/sdc"), "block", size=LARGEST_SD + GB, disk="sdc")
    assert refusal(big, GB) is not None and refusal(big, GB, allow_large=True) is None


def test_real_paths_are_classified(tmp_path: Path) -> None:
    assert inspect_target(Path("/dev/null")).kind == "other"
    assert inspect_target(tmp_path / "nope").kind == "missing"
    f = tmp_path / "x.img"
    f.write_bytes(b"1")
    assert inspect_target(f, f).same_file_as_source


def test_image_is_copied_and_verified_by_hash(tmp_path: Path) -> None:
    img = build_image(tmp_path / "card.img")
    target = tmp_path / "copy.img"
    seen: list[tuple[int, int]] = []
    digest = write_image(img, target, progress=lambda d, t: seen.append((d, t)))
    assert digest == hashlib.sha256(img.read_bytes()).hexdigest() == hashlib.sha256(target.read_bytes()).hexdigest()
    assert seen[-1][0] == seen[-1][1]  # the bar ends full: written, then read back


def test_a_card_that_reads_back_short_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = tmp_path / "a.img"
    img.write_bytes(b"x" * 10_000)
    target = tmp_path / "t.img"
    import cherga.provisioning.sdcard as sd

    real_open = Path.open

    def short_read(self: Path, mode: str = "r", *a: object, **k: object):  # type: ignore[no-untyped-def]
        if self == target and mode == "rb":
            self.write_bytes(b"x" * 5000)  # a fake card that silently lost half the data
        return real_open(self, mode, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(sd.Path, "open", short_read)
    with pytest.raises(FlashError, match="ended after 5000"):
        write_image(img, target)


def test_flash_command_asks_before_writing_and_verifies(tmp_path: Path) -> None:
    img = build_image(tmp_path / "card.img")
    target = tmp_path / "sdcard.bin"  # a file stands in for the card: it must exist, like a device
    target.write_bytes(b"")
    declined = runner.invoke(app, ["flash", str(img), "--device", str(target)], input="n\n")
    assert declined.exit_code == 1 and "will be erased" in declined.output and target.stat().st_size == 0
    done = runner.invoke(app, ["flash", str(img), "--device", str(target)], input="y\n")
    assert done.exit_code == 0, done.output
    assert "written and verified" in done.output
    assert mtype(target, "config.txt").startswith("[all]")


def test_flash_command_refuses_the_source_and_a_missing_device(tmp_path: Path) -> None:
    img = build_image(tmp_path / "card.img")
    same = runner.invoke(app, ["flash", str(img), "--device", str(img), "--yes"])
    assert same.exit_code == 1 and "source image itself" in same.output
    missing = runner.invoke(app, ["flash", str(img), "--device", "/dev/sdzz", "--yes"])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    no_device = runner.invoke(app, ["flash", str(img), "--yes"])
    assert no_device.exit_code != 0  # there is no default device
