"""Real wheels for a node role, made from this test environment instead of downloaded.

``cherga provision`` expects the technician to gather wheels with ``pip wheel``/``pip download``
(docs/provisioning.md, step 2). Tests must not need the internet, so :func:`wheelhouse` builds the
same set from what is installed here: the Cherga wheel from the checkout (its metadata from the
installed distribution, so ``Requires-Dist`` and the ``cherga`` script are the real ones), and each
dependency of ``cherga[<extra>]`` (plus ``pip``) zipped back from its installed files. They are for
this machine's platform (x86_64), which is what a first boot tested here installs.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import os
import re
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_line(arcname: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [arcname, f"sha256={digest}", str(len(data))]


def _write_wheel(path: Path, files: dict[str, bytes], dist_info: str) -> Path:
    rows = [_record_line(a, d) for a, d in sorted(files.items())]
    record = io.StringIO()
    csv.writer(record, lineterminator="\n").writerows([*rows, [f"{dist_info}/RECORD", "", ""]])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for arcname, data in sorted(files.items()):
            z.writestr(arcname, data)
        z.writestr(f"{dist_info}/RECORD", record.getvalue())
    return path


def _dependencies(extra: str) -> list[md.Distribution]:
    """The installed distributions ``cherga[extra]`` needs, transitively."""
    seen: dict[str, md.Distribution] = {}
    todo = [(req, extra) for req in md.distribution("cherga").requires or []]
    while todo:
        text, wanted_extra = todo.pop()
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": wanted_extra}):
            continue
        key = _norm(req.name)
        if key in seen or key == "cherga":
            continue
        dist = md.distribution(req.name)
        seen[key] = dist
        for sub in dist.requires or []:
            todo.extend((sub, e) for e in ("", *sorted(req.extras)))
    return list(seen.values())


def _rezip(dist: md.Distribution, dest: Path) -> Path:
    files: dict[str, bytes] = {}
    dist_info = ""
    for rel in dist.files or []:
        name = str(rel)
        if name.startswith("..") or "__pycache__" in name or name.endswith((".pyc", "/RECORD", "INSTALLER",
                                                                          "direct_url.json")):
            continue  # console scripts are made again by pip; caches and install records are not content
        if name.endswith(".dist-info/METADATA"):
            dist_info = name.rsplit("/", 1)[0]
        files[name] = Path(str(dist.locate_file(rel))).read_bytes()
    wheel_meta = files.get(f"{dist_info}/WHEEL", b"").decode()
    tags = re.findall(r"^Tag: (\S+)$", wheel_meta, flags=re.M)
    if not dist_info or not tags:
        raise RuntimeError(f"{dist.metadata['Name']}: installed without wheel metadata; cannot rebuild its wheel")
    # A wheel tagged py2.py3 lists "py2-none-any" first; the file name must carry one this Python takes.
    tag = next((t for t in tags if t.split("-")[0].startswith(("py3", "cp3"))), tags[0])
    return _write_wheel(dest / f"{_norm(dist.metadata['Name'])}-{dist.version}-{tag}.whl", files, dist_info)


def _cherga_wheel(dest: Path) -> Path:
    dist = md.distribution("cherga")
    version = dist.version
    dist_info = f"cherga-{version}.dist-info"
    files: dict[str, bytes] = {}
    # cherga/ links to the design's folders; the wheel carries the real files under cherga/.
    for root, dirs, names in os.walk(REPO / "cherga", followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            p = Path(root) / name
            if p.suffix != ".pyc":
                files[p.relative_to(REPO).as_posix()] = p.read_bytes()
    files[f"{dist_info}/METADATA"] = (dist.read_text("PKG-INFO") or dist.read_text("METADATA") or "").encode()
    files[f"{dist_info}/entry_points.txt"] = (dist.read_text("entry_points.txt") or "").encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: cherga-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    return _write_wheel(dest / f"cherga-{version}-py3-none-any.whl", files, dist_info)


def wheelhouse(dest: Path, extra: str) -> list[Path]:
    """Wheels for ``cherga[extra]`` and ``pip`` in ``dest``; returns their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    wheels = [_cherga_wheel(dest), _rezip(md.distribution("pip"), dest)]
    wheels += [_rezip(d, dest) for d in _dependencies(extra)]
    return sorted(wheels)
