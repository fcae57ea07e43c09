"""The region file: which offices make up the network, where each one is, who serves it, and the
numbering a mobile office keeps for itself. One pydantic model, checked with the office configs it
names, so a broken region stops ``cherga server --region`` with one clear line.

```yaml
region:
  id: kryvyi-rih
  names: {uk: "ЦНАП Кривого Рогу", en: "Kryvyi Rih service centres"}
broker: {host: region.example, port: 8883, tls: true}   # the regional Mosquitto
catalogue: catalogue.yaml        # optional: the services every office takes by id (server.region.downward)
offices:
  - id: kr-central
    config: kr-central.yaml      # relative to this file
    served_by: region            # region: this server runs the office; own: the office runs its own server
    address: {uk: "вул. Соборності, 1", en: "1 Sobornosti St"}
  - id: kr-mobile
    config: kr-mobile.yaml
    served_by: own
    mobile_of: kr-central        # a mobile office: its numbering must not meet its home office's
```
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cherga.broker_bridge.contract import Ident
from cherga.server.siteconfig import ConfigError, Names, NumberRange, SiteConfig, load_site_config


class RegionFileError(Exception):
    """A region file that cannot be used; the message names the file and what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegionInfo(_Strict):
    id: Ident
    names: Names


class RegionBroker(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8883, ge=1, le=65535)
    tls: bool = True


class RegionOffice(_Strict):
    id: Ident
    config: Path = Field(description="the office's site configuration, relative to the region file")
    served_by: Literal["region", "own"] = "own"
    address: Names = Field(description="where citizens find the office, as they would say it")
    map_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    mobile_of: Ident | None = Field(default=None, description="a mobile office: the office it belongs to")


class RegionFile(_Strict):
    region: RegionInfo
    broker: RegionBroker = RegionBroker()
    catalogue: Path | None = Field(
        default=None, description="the shared service catalogue, relative to this file (server.region.downward)")
    offices: list[RegionOffice] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> RegionFile:
        ids = [o.id for o in self.offices]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"office id given twice: {', '.join(twice)}")
        for o in self.offices:
            if o.mobile_of is not None:
                if o.mobile_of not in ids:
                    raise ValueError(f"office {o.id!r}: mobile_of {o.mobile_of!r} is not an office of this region")
                if o.mobile_of == o.id:
                    raise ValueError(f"office {o.id!r}: a mobile office cannot belong to itself")
        return self


@dataclasses.dataclass(frozen=True)
class Region:
    """A checked region: the file, and each office's loaded site configuration by office id."""

    path: Path
    file: RegionFile
    configs: dict[str, SiteConfig]
    config_paths: dict[str, Path]

    def office(self, office_id: str) -> RegionOffice:
        for o in self.file.offices:
            if o.id == office_id:
                return o
        raise KeyError(office_id)

    @property
    def served_here(self) -> list[SiteConfig]:
        """The offices this region server runs itself (``served_by: region``)."""
        return [self.configs[o.id] for o in self.file.offices if o.served_by == "region"]


def _ranges(cfg: SiteConfig) -> list[tuple[str, NumberRange]]:
    n = cfg.numbering
    return [("walk_in", n.walk_in), ("booked", n.booked), ("offline", n.offline)]


def check_mobile_numbering(mobile: SiteConfig, home: SiteConfig) -> list[str]:
    """Why ``mobile``'s tickets could carry a number ``home`` also gives (same prefix, overlapping
    ranges); empty when they never collide. A citizen with "A-012" from the village bus must not meet
    another "A-012" at the home office."""
    home_prefixes = {s.prefix for s in home.services}
    shared = sorted(p for p in {s.prefix for s in mobile.services} if p in home_prefixes)
    problems = []
    if shared:
        for m_name, m_range in _ranges(mobile):
            for h_name, h_range in _ranges(home):
                if m_range.overlaps(h_range):
                    problems.append(
                        f"numbering.{m_name} {m_range.first}-{m_range.last} of {mobile.office.id!r} meets "
                        f"numbering.{h_name} {h_range.first}-{h_range.last} of {home.office.id!r} "
                        f"(shared prefixes {', '.join(shared)})")
    return problems


def load_region(path: str | Path) -> Region:
    """Read and check the region file at ``path`` and every office config it names."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegionFileError(f"{path}: cannot read the region file ({type(exc).__name__}: {exc})") from None
    try:
        file = RegionFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise RegionFileError(f"{path}: {where}: {first['msg']}") from None
    configs: dict[str, SiteConfig] = {}
    paths: dict[str, Path] = {}
    for office in file.offices:
        cfg_path = office.config if office.config.is_absolute() else path.parent / office.config
        try:
            cfg = load_site_config(cfg_path)
        except ConfigError as exc:
            raise RegionFileError(f"{path}: office {office.id!r}: {exc}") from None
        if cfg.office.id != office.id:
            raise RegionFileError(f"{path}: office {office.id!r}: {cfg_path} is the config of office {cfg.office.id!r}")
        configs[office.id] = cfg
        paths[office.id] = cfg_path
    for office in file.offices:
        if office.mobile_of is not None:
            problems = check_mobile_numbering(configs[office.id], configs[office.mobile_of])
            if problems:
                raise RegionFileError(f"{path}: office {office.id!r}: " + "; ".join(problems))
    return Region(path=path, file=file, configs=configs, config_paths=paths)
