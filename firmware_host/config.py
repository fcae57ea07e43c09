"""The node's own configuration file: who this Pi is and how it reaches the broker.

One YAML file per node (written by provisioning, read by ``cherga node --config FILE``). It holds
only what the node needs before it can talk to the server: node id, role, office, broker address
and credentials, optional TLS, where to keep data, and role-specific hardware options. Everything
about the office itself (services, counters, languages) arrives over MQTT as the retained
:class:`broker_bridge.contract.NodeConfig` ("office config"); do not confuse the two.

:func:`load_node_config` reports errors with the YAML line and the field path, like the site
configuration does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cherga.broker_bridge.contract import Ident
from cherga.yamlerrors import field_errors, parse_yaml_model, read_text

RoleName = Literal["kiosk", "display", "pad"]


class NodeConfigError(ValueError):
    """A node configuration file that cannot be used; the message names the line and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsOptions(_Strict):
    """TLS to the broker. ``ca_file`` verifies the broker; cert/key authenticate the node (optional)."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = Field(default=False, description="skip host-name check (lab use only)")


class BrokerOptions(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    password_file: Path | None = Field(default=None, description="read the password from this file instead")
    tls: TlsOptions | None = None
    keepalive_s: int = Field(default=15, ge=5, le=600, description="MQTT keepalive; the last will fires ~1.5x after")

    def resolved_password(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password


class HardwareOptions(BaseModel):
    """Common hardware choices plus any role-specific options (extra keys are kept for the role).

    A role reads its own options with ``config.hardware.option("paper_mm", 80)`` or validates them
    with its own model: ``KioskHardware.model_validate(config.hardware.role_options())``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    pin_factory: str | None = Field(default=None, description="gpiozero pin factory; none: auto (lgpio on a Pi 5)")
    audio_device: str | None = Field(default=None, description="ALSA device for sound, e.g. 'hw:1,0'; none: default")
    serial: dict[str, str] = Field(
        default_factory=dict,
        description="logical name -> port: '/dev/ttyUSB0', 'usb:0403:6001' (VID:PID), 'auto', or 'VIRTUAL'",
    )

    def role_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def option(self, name: str, default: Any = None) -> Any:
        return (self.model_extra or {}).get(name, default)


class NodeConfig(_Strict):
    """Everything in a node's configuration file."""

    node: Ident
    role: RoleName
    office: Ident
    counter: Ident | None = Field(default=None, description="pads: the counter this pad drives")
    broker: BrokerOptions = BrokerOptions()
    data_dir: Path = Path("/var/lib/cherga")
    heartbeat_s: float = Field(default=30.0, gt=0, le=3600)
    outbox_ttl_s: int = Field(default=24 * 3600, ge=60, description="how long a waiting command is kept")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    timezone: str | None = Field(default=None, description="the office's IANA time zone (Europe/Kyiv); the node "
                                 "refuses to start when this machine has no data for it")
    hardware: HardwareOptions = HardwareOptions()

    @model_validator(mode="after")
    def _pad_has_counter(self) -> NodeConfig:
        if self.role == "pad" and not self.counter:
            raise ValueError("a pad needs the counter it drives (counter: ...)")
        if self.role != "pad" and self.counter:
            raise ValueError("only a pad has a counter")
        return self

    @model_validator(mode="after")
    def _printer_can_work(self) -> NodeConfig:
        """A kiosk's ``hardware.printer`` passes the kiosk's own rule before the node starts.

        Imported lazily: only a kiosk has python-escpos (without it the launcher names the extra).
        """
        printer = self.hardware.option("printer")
        if self.role != "kiosk" or printer is None:
            return self
        try:
            from cherga.kiosk.printer import printer_problems
        except ImportError:
            return self
        problems = printer_problems(printer)
        if problems:
            raise field_errors("NodeConfig", [
                (("hardware", "printer", *([field] if field else [])), message) for field, message in problems
            ], printer)
        return self

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite"


def parse_node_config(text: str, source: str = "<node config>", *, base_dir: Path | None = None) -> NodeConfig:
    """Validate YAML text; raise :class:`NodeConfigError` naming ``source:line`` and the field.

    Relative paths (data_dir, TLS files, password_file) are taken relative to ``base_dir``.
    """
    cfg = parse_yaml_model(text, source, NodeConfig, NodeConfigError, "node, role, office and broker")
    return _resolve_paths(cfg, base_dir) if base_dir else cfg


def load_node_config(path: str | Path) -> NodeConfig:
    text, source = read_text(path, NodeConfigError)
    return parse_node_config(text, source, base_dir=Path(path).resolve().parent)


def _resolve_paths(cfg: NodeConfig, base: Path) -> NodeConfig:
    def rel(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    broker = cfg.broker
    tls = broker.tls
    if tls is not None:
        tls = tls.model_copy(update={k: v for k, v in {
            "ca_file": rel(tls.ca_file), "cert_file": rel(tls.cert_file), "key_file": rel(tls.key_file)}.items() if v})
    updates: dict[str, Any] = {"tls": tls}
    if (pw := rel(broker.password_file)) is not None:
        updates["password_file"] = pw
    broker = broker.model_copy(update=updates)
    data_dir = rel(cfg.data_dir) or cfg.data_dir
    return cfg.model_copy(update={"broker": broker, "data_dir": data_dir})

