"""Copying a customised image onto an SD card, with refusal rules and a read-back hash check.

Owns the one dangerous act of provisioning. The target is only ever the device the technician
named; it is refused when it is (or is part of) the disk this laptop runs from, when one of its
partitions is mounted, when it is a partition rather than a whole disk, when it is too small,
or when it is larger than any SD card should be (unless the technician insists). A regular file
is a valid target too (a copy of the card), which is how the tests exercise the copy path.

:func:`inspect_target` gathers facts from ``/sys`` and ``/proc``; :func:`refusal` decides on
them and is pure, so the rules are unit-tested without any device.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 4 * 1024 * 1024
LARGEST_SD = 512 * 1000**3  # beyond this a "card" is more likely a laptop disk

Progress = Callable[[int, int], None]


class FlashError(RuntimeError):
    """The copy failed or did not read back identical."""


@dataclass(frozen=True)
class TargetInfo:
    path: Path
    kind: str  # "block", "file", "missing", "other"
    size: int = 0
    disk: str | None = None  # kernel name of the whole disk ("sdb", "mmcblk0")
    is_partition: bool = False
    removable: bool | None = None
    model: str = ""
    mounted: list[str] = field(default_factory=list)  # mount points on this disk
    system: bool = False  # holds /, /boot, /usr, /home or swap of this machine
    same_file_as_source: bool = False


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _disk_of(devno: int, sys_root: Path) -> str | None:
    """The whole-disk kernel name owning device number ``devno`` (a partition's parent)."""
    link = sys_root / "dev" / "block" / f"{os.major(devno)}:{os.minor(devno)}"
    try:
        real = link.resolve(strict=True)
    except OSError:
        return None
    if (real / "partition").exists():
        return real.parent.name
    return real.name


def _mounts(mountinfo: Path) -> list[tuple[int, str, str]]:
    """(device number, mount point, source) of each mount."""
    out = []
    for line in _read(mountinfo).splitlines():
        parts = line.split()
        if len(parts) < 10:
            continue
        major, minor = (int(x) for x in parts[2].split(":"))
        sep = parts.index("-")
        out.append((os.makedev(major, minor), parts[4], parts[sep + 2]))
    return out


SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/boot/firmware", "/usr", "/var", "/home")


def inspect_target(path: Path, source: Path | None = None, *, sys_root: Path = Path("/sys"),
                   mountinfo: Path = Path("/proc/self/mountinfo"), swaps: Path = Path("/proc/swaps")) -> TargetInfo:
    """Facts about a target path, without writing anything."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return TargetInfo(path, "missing")
    same = False
    if source is not None:
        try:
            same = os.path.samefile(path, source)
        except OSError:
            same = False
    if stat.S_ISREG(st.st_mode):
        return TargetInfo(path, "file", size=st.st_size, same_file_as_source=same)
    if not stat.S_ISBLK(st.st_mode):
        return TargetInfo(path, "other")
    disk = _disk_of(st.st_rdev, sys_root)
    block = sys_root / "dev" / "block" / f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    is_partition = (block / "partition").exists()
    size = int(_read(block / "size") or 0) * 512
    disk_dir = sys_root / "block" / disk if disk else None
    removable = None
    model = ""
    if disk_dir is not None:
        removable = _read(disk_dir / "removable") == "1"
        model = " ".join(x for x in (_read(disk_dir / "device" / "vendor"), _read(disk_dir / "device" / "model")) if x)
    mounted, system = [], False
    for devno, point, _src in _mounts(mountinfo):
        if disk is not None and _disk_of(devno, sys_root) == disk:
            mounted.append(point)
            system = system or point in SYSTEM_MOUNTS
    for line in _read(swaps).splitlines()[1:]:
        swap_dev = line.split()[0] if line.split() else ""
        try:
            swap_st = Path(swap_dev).stat()
        except OSError:
            continue
        if stat.S_ISBLK(swap_st.st_mode) and _disk_of(swap_st.st_rdev, sys_root) == disk:
            system = True
    return TargetInfo(path, "block", size=size, disk=disk, is_partition=is_partition, removable=removable,
                      model=model, mounted=mounted, system=system, same_file_as_source=same)


def refusal(info: TargetInfo, image_size: int, *, allow_large: bool = False) -> str | None:
    """Why writing to this target must not happen, or ``None`` when it may (after confirmation)."""
    if info.same_file_as_source:
        return f"{info.path} is the source image itself"
    if info.kind == "missing":
        return f"{info.path} does not exist: name the card's device (e.g. /dev/sdb or /dev/mmcblk0) exactly"
    if info.kind == "other":
        return f"{info.path} is neither a block device nor a regular file"
    if info.kind == "file":
        return None
    if info.system:
        return f"{info.path} holds this computer's own system ({', '.join(info.mounted) or 'swap'}): refusing"
    if info.is_partition:
        return f"{info.path} is a partition; name the whole card (e.g. /dev/sdb, not /dev/sdb1)"
    if info.mounted:
        return f"{info.path} has mounted partitions ({', '.join(info.mounted)}): unmount them first"
    if info.size and info.size < image_size:
        return f"{info.path} holds {info.size} bytes, the image needs {image_size}"
    if info.size > LARGEST_SD and not allow_large:
        return (f"{info.path} is {info.size / 1000**3:.0f} GB, larger than an SD card should be; "
                "pass --allow-large if you are sure")
    return None


def describe(info: TargetInfo) -> str:
    if info.kind == "file":
        return f"{info.path} (a file)"
    removable = {True: "removable", False: "fixed", None: "?"}[info.removable]
    return f"{info.path} — {info.model or 'unknown model'}, {info.size / 1000**3:.1f} GB, {removable}"


def write_image(source: Path, target: Path, *, progress: Progress | None = None) -> str:
    """Copy ``source`` onto ``target``, flush it, read it back and compare SHA-256; return the hash."""
    total = source.stat().st_size
    h = hashlib.sha256()
    done = 0
    flags = os.O_WRONLY | (os.O_CREAT | os.O_TRUNC if not target.exists() or target.is_file() else 0)
    fd = os.open(target, flags, 0o644)
    try:
        with source.open("rb") as src:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                done += len(chunk)
                if progress:
                    progress(done, 2 * total)
        os.fsync(fd)
    finally:
        os.close(fd)
    written = h.hexdigest()
    _drop_cache(target)
    back = hashlib.sha256()
    remaining = total
    with target.open("rb") as dst:
        while remaining:
            chunk = dst.read(min(CHUNK, remaining))
            if not chunk:
                raise FlashError(f"{target} ended after {total - remaining} of {total} bytes")
            back.update(chunk)
            remaining -= len(chunk)
            if progress:
                progress(2 * total - remaining, 2 * total)
    if back.hexdigest() != written:
        raise FlashError(f"{target} reads back different from the image (sha256 {back.hexdigest()[:12]} "
                         f"vs {written[:12]}): the card may be failing or fake")
    return written


def _drop_cache(target: Path) -> None:
    """Ask the kernel to forget cached pages, so the read-back comes from the card itself."""
    try:
        fd = os.open(target, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (OSError, AttributeError):
        pass
    finally:
        os.close(fd)
