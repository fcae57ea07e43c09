"""Writing a node's bundle into a Raspberry Pi OS image file, without root and without loop mounts.

Owns reading the image's partition table (MBR, or GPT behind a protective MBR), finding the FAT
boot partition, and writing files into it with pyfatfs at the partition's byte offset. After
writing, the FAT32 free-space hint (FSInfo) is recomputed, because pyfatfs leaves it stale and
``fsck.fat`` would complain; then every file is read back and compared.

Which first-boot mechanism an image wants is told by its boot partition: Trixie (and later)
images carry cloud-init's ``user-data``/``meta-data``/``network-config``; Bookworm images do not
and run ``firstrun.sh`` from ``cmdline.txt``.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cherga.provisioning.bundle import BUNDLE_DIR, Bundle, Flavour, hooked_cmdline, unhooked_cmdline

SECTOR = 512
FAT_MBR_TYPES = {0x01: "FAT12", 0x04: "FAT16", 0x06: "FAT16", 0x0B: "FAT32 (CHS)", 0x0C: "FAT32 (LBA)", 0x0E: "FAT16 (LBA)",
                 0xEF: "EFI system"}
GPT_FAT_TYPES = {uuid.UUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"): "basic data",
                 uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"): "EFI system"}
CLOUD_INIT_MARKERS = ("user-data", "meta-data", "network-config")

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class ImageError(ValueError):
    """An image that cannot take a bundle; the message says why in a technician's words."""


@dataclass(frozen=True)
class Partition:
    number: int
    start_lba: int
    sectors: int
    type: str  # "0x0c" for MBR, a GUID for GPT
    fat: bool

    @property
    def offset(self) -> int:
        return self.start_lba * SECTOR

    @property
    def size(self) -> int:
        return self.sectors * SECTOR


def read_partitions(image: Path) -> list[Partition]:
    """The image's partitions; :class:`ImageError` when there is no readable partition table."""
    try:
        size = image.stat().st_size
        with image.open("rb") as f:
            mbr = f.read(SECTOR)
            if len(mbr) < SECTOR or mbr[510:512] != b"\x55\xaa":
                raise ImageError(f"{image}: no partition table (the first sector lacks the 55AA signature): "
                                 "is this a whole-disk Raspberry Pi OS image (.img), not compressed (.xz)?")
            entries = [struct.unpack_from("<B3sB3sII", mbr, 446 + 16 * i) for i in range(4)]
            if any(e[2] == 0xEE for e in entries):
                return _gpt(image, f, size)
    except OSError as exc:
        raise ImageError(f"{image}: cannot read: {exc.strerror}") from exc
    parts = []
    for i, (_status, _chs1, ptype, _chs2, start, count) in enumerate(entries, start=1):
        if ptype == 0 or count == 0:
            continue
        if (start + count) * SECTOR > size:
            raise ImageError(f"{image}: partition {i} ends at byte {(start + count) * SECTOR}, beyond the image's "
                             f"{size} bytes: the image is truncated or its partition table is damaged")
        parts.append(Partition(i, start, count, f"0x{ptype:02x}", ptype in FAT_MBR_TYPES))
    if not parts:
        raise ImageError(f"{image}: the partition table is empty")
    return parts


def _gpt(image: Path, f: object, size: int) -> list[Partition]:
    import io

    assert isinstance(f, io.BufferedReader)
    f.seek(SECTOR)
    header = f.read(92)
    if header[:8] != b"EFI PART":
        raise ImageError(f"{image}: protective MBR but no GPT header at sector 1: the partition table is damaged")
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    parts = []
    f.seek(entries_lba * SECTOR)
    raw = f.read(count * entry_size)
    for i in range(count):
        e = raw[i * entry_size:(i + 1) * entry_size]
        if len(e) < 48:
            break
        type_guid = uuid.UUID(bytes_le=e[:16])
        if type_guid.int == 0:
            continue
        first, last = struct.unpack_from("<QQ", e, 32)
        if (last + 1) * SECTOR > size or last < first:
            raise ImageError(f"{image}: GPT partition {i + 1} lies outside the image: truncated or damaged")
        parts.append(Partition(i + 1, first, last - first + 1, str(type_guid), type_guid in GPT_FAT_TYPES))
    if not parts:
        raise ImageError(f"{image}: the GPT partition table is empty")
    return parts


def _looks_fat(image: Path, part: Partition) -> bool:
    with image.open("rb") as f:
        f.seek(part.offset)
        boot = f.read(SECTOR)
    return boot[510:512] == b"\x55\xaa" and (boot[0x36:0x39] == b"FAT" or boot[0x52:0x57] == b"FAT32")


def find_boot_partition(image: Path) -> Partition:
    """The first FAT partition that holds a FAT file system (Raspberry Pi OS's ``bootfs``)."""
    parts = read_partitions(image)
    for p in parts:
        if p.fat and _looks_fat(image, p):
            return p
    described = ", ".join(f"{p.number}: type {p.type}" for p in parts)
    raise ImageError(f"{image}: no FAT boot partition (partitions {described}); "
                     "a Raspberry Pi OS image starts with a FAT32 'bootfs' partition")


def _open(image: Path, part: Partition, *, read_only: bool = False):  # type: ignore[no-untyped-def]
    from pyfatfs.PyFatFS import PyFatFS

    try:
        return PyFatFS(str(image), offset=part.offset, read_only=read_only)
    except Exception as exc:  # pyfatfs raises a variety of errors on a damaged file system
        raise ImageError(f"{image}: the boot partition's FAT file system cannot be opened: {exc}") from exc


def resolve_path(fs: Any, path: str) -> str:
    """``path`` spelled as the file system already spells it (FAT names are case-insensitive, and
    pyfatfs shows 8.3 names in upper case: ``cmdline.txt`` is ``CMDLINE.TXT`` to it). Components
    that do not exist yet keep the spelling given."""
    current = ""
    exists = True
    for part in [p for p in path.split("/") if p]:
        if exists:
            try:
                names = fs.listdir(current or "/")
            except Exception:  # noqa: BLE001 - pyfatfs raises several kinds for "not a directory"
                names = []
            match = next((n for n in names if n.lower() == part.lower()), None)
            if match is None:
                exists = False
            else:
                part = match
        current = f"{current}/{part}"
    return current or "/"


def detect_flavour(image: Path, part: Partition | None = None) -> Flavour:
    """``cloud-init`` when the boot partition carries cloud-init's seed files, else ``firstrun``."""
    part = part or find_boot_partition(image)
    fs = _open(image, part, read_only=True)
    try:
        names = {n.lower() for n in fs.listdir("/")}
    finally:
        fs.close()
    if any(m in names for m in CLOUD_INIT_MARKERS):
        return "cloud-init"
    if "cmdline.txt" in names:
        return "firstrun"
    raise ImageError(f"{image}: the boot partition has neither cloud-init seed files nor cmdline.txt: "
                     "is this a Raspberry Pi OS image?")


@dataclass(frozen=True)
class _FatScan:
    fsinfo_pos: int | None  # byte position of FAT32's FSInfo sector; None on FAT12/16
    free_clusters: list[int]
    cluster_bytes: int


def _scan_fat(image: Path, part: Partition) -> _FatScan | None:
    """Free clusters from the first FAT (FAT32 only; ``None`` for FAT12/16)."""
    with image.open("rb") as f:
        f.seek(part.offset)
        bpb = f.read(SECTOR)
        bytes_per_sector, sec_per_clus, reserved, nfats = struct.unpack_from("<HBHB", bpb, 11)
        root_entries, total16 = struct.unpack_from("<HH", bpb, 17)
        fatsz16 = struct.unpack_from("<H", bpb, 22)[0]
        total32, fatsz32 = struct.unpack_from("<II", bpb, 32)
        if fatsz16 != 0 or root_entries != 0 or not sec_per_clus:
            return None
        fsinfo_sector = struct.unpack_from("<H", bpb, 48)[0]
        total = total32 or total16
        clusters = (total - reserved - nfats * fatsz32) // sec_per_clus
        f.seek(part.offset + reserved * bytes_per_sector)
        fat = f.read((clusters + 2) * 4)
    if len(fat) < (clusters + 2) * 4:
        raise ImageError(f"{image}: the boot partition's FAT is cut short: the image is truncated")
    entries = struct.unpack_from(f"<{clusters + 2}I", fat)
    free = [i for i in range(2, clusters + 2) if entries[i] & 0x0FFFFFFF == 0]
    return _FatScan(part.offset + fsinfo_sector * bytes_per_sector if fsinfo_sector else None, free,
                    sec_per_clus * bytes_per_sector)


def fix_fsinfo(image: Path, part: Partition) -> None:
    """Recompute FAT32's free-cluster count and next-free hint (pyfatfs does not keep them)."""
    scan = _scan_fat(image, part)
    if scan is None or scan.fsinfo_pos is None:
        return
    with image.open("r+b") as f:
        f.seek(scan.fsinfo_pos)
        info = bytearray(f.read(SECTOR))
        if struct.unpack_from("<I", info, 0)[0] != 0x41615252 or struct.unpack_from("<I", info, 484)[0] != 0x61417272:
            return  # no valid FSInfo to correct
        struct.pack_into("<II", info, 488, len(scan.free_clusters),
                         scan.free_clusters[0] if scan.free_clusters else 0xFFFFFFFF)
        f.seek(scan.fsinfo_pos)
        f.write(info)


@dataclass
class ImageReport:
    image: Path
    partition: Partition
    flavour: Flavour
    files: dict[str, str]  # path on the boot partition -> sha256

    @property
    def total(self) -> int:
        return len(self.files)


def write_bundle(
    image: Path,
    bundle: Bundle,
    boot: dict[str, bytes],
    *,
    flavour: Flavour,
    progress: Progress | None = None,
) -> ImageReport:
    """Write ``bundle`` under ``/cherga/`` and ``boot`` at the partition's root, then read all back."""
    part = find_boot_partition(image)
    wanted: dict[str, bytes] = {f"/{BUNDLE_DIR}/{rel}": data for rel, data in bundle.files.items()}
    wanted.update({f"/{name}": data for name, data in boot.items()})
    total = sum(len(v) for v in wanted.values())
    free = _free_bytes(image, part)
    if free is not None and total > free:
        raise ImageError(f"{image}: the bundle needs {total} bytes, the boot partition has {free} free")
    fs = _open(image, part)
    done = 0
    try:
        old = resolve_path(fs, f"/{BUNDLE_DIR}")
        if fs.exists(old):
            fs.removetree(old)  # a re-provisioned card must not keep an old node's files
        cmdline = resolve_path(fs, "/cmdline.txt")
        if flavour == "firstrun":
            if not fs.exists(cmdline):
                raise ImageError(f"{image}: no cmdline.txt on the boot partition; cannot hook firstrun.sh")
            wanted["/cmdline.txt"] = hooked_cmdline(fs.readbytes(cmdline).decode()).encode()
        else:
            # A card provisioned before with firstrun keeps its hook and script: take them out, or
            # both mechanisms would run the first boot.
            if fs.exists(cmdline):
                text = fs.readbytes(cmdline).decode()
                if " systemd.run" in text:
                    wanted["/cmdline.txt"] = unhooked_cmdline(text).encode()
            stale = resolve_path(fs, "/firstrun.sh")
            if fs.exists(stale):
                fs.remove(stale)
        total = sum(len(v) for v in wanted.values())  # now with a rewritten cmdline.txt, if any
        for path, data in sorted(wanted.items()):
            real = resolve_path(fs, path)
            parent = real.rsplit("/", 1)[0] or "/"
            fs.makedirs(parent, recreate=True)
            if fs.exists(real):
                fs.remove(real)  # pyfatfs corrupts cluster chains when overwriting a multi-cluster file in place
            fs.writebytes(real, data)
            done += len(data)
            if progress:
                progress(done, total)
    finally:
        fs.close()
    fix_fsinfo(image, part)
    files = verify_files(image, wanted, part)
    return ImageReport(image, part, flavour, files)


def verify_files(image: Path, wanted: dict[str, bytes], part: Partition | None = None) -> dict[str, str]:
    """Read every file back from the image; :class:`ImageError` on the first mismatch."""
    part = part or find_boot_partition(image)
    fs = _open(image, part, read_only=True)
    out = {}
    try:
        for path, data in sorted(wanted.items()):
            real = resolve_path(fs, path)
            if not fs.exists(real):
                raise ImageError(f"{image}: {path} is missing after writing")
            back = fs.readbytes(real)
            if back != data:
                raise ImageError(f"{image}: {path} reads back different from what was written")
            out[path] = hashlib.sha256(back).hexdigest()
    finally:
        fs.close()
    return out


def read_file(image: Path, path: str) -> bytes:
    part = find_boot_partition(image)
    fs = _open(image, part, read_only=True)
    try:
        return bytes(fs.readbytes(resolve_path(fs, path)))
    finally:
        fs.close()


def _free_bytes(image: Path, part: Partition) -> int | None:
    scan = _scan_fat(image, part)
    return None if scan is None else len(scan.free_clusters) * scan.cluster_bytes


Mode = Literal["auto", "cloud-init", "firstrun"]


def resolve_flavour(image: Path, mode: Mode) -> Flavour:
    """``mode`` itself when the technician forced it, else what the image's boot partition tells."""
    return detect_flavour(image) if mode == "auto" else mode


def flavour_warning(image: Path, forced: Flavour) -> str | None:
    """Why a forced mechanism may not run on this image (``None`` when it agrees with the image)."""
    try:
        detected = detect_flavour(image)
    except ImageError as exc:
        return str(exc)
    if detected == forced:
        return None
    if forced == "cloud-init":
        return (f"{image}: the boot partition carries no cloud-init seed files (a Bookworm image?); "
                "cloud-init user-data is only read where cloud-init is installed (Trixie and later)")
    return (f"{image}: the boot partition carries cloud-init seed files (a Trixie image?); firstrun.sh is "
            "hooked into cmdline.txt as forced, and the image's own cloud-init seed is left as it is")
