"""The site inventory: which Raspberry Pis an office has, what each one is and how it joins the network.

One YAML file per office, kept by the technician next to the provisioning state. Validated with
pydantic; :func:`load_inventory` reports each problem as ``file:line: field: message`` (the same
reporting the site configuration uses, :mod:`cherga.yamlerrors`).

Example::

    office: demo
    broker: {host: 192.168.10.2}   # TLS on 8883 with a certificate per node; `tls: false` opts out
    network:                       # the default for every node; a node may override it
      wifi: {ssid: CNAP-Staff, psk: "long passphrase", country: UA}
    nodes:
      - {id: kiosk-1, role: kiosk, hardware: {serial: {printer: /dev/ttyUSB0}}}
      - {id: pad-c1, role: pad, counter: c1, network: {address: 192.168.10.31/24, gateway: 192.168.10.1}}
      - {id: hall-1, role: display, hostname: hall-tv}
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cherga.broker_bridge.contract import IDENT_PATTERN
from cherga.yamlerrors import field_errors, parse_yaml_model, read_text

Ident = Annotated[str, Field(pattern=IDENT_PATTERN, description="lower-case id")]
Role = Literal["kiosk", "display", "pad"]
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Wi-Fi regulatory domains worth naming; any ISO 3166 alpha-2 code is accepted.
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class InventoryError(ValueError):
    """An inventory that cannot be used; the message names the line and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Wifi(_Strict):
    ssid: str = Field(min_length=1, max_length=32)
    psk: str = Field(min_length=8, max_length=63, description="WPA2/WPA3 passphrase, 8..63 characters")
    country: str = Field(default="UA", description="Wi-Fi regulatory country, e.g. UA, KG, KZ")
    hidden: bool = False

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if not _COUNTRY.match(value):
            raise ValueError(f"country {value!r} must be a two-letter code such as UA, KG or KZ")
        return value


class Network(_Strict):
    """How a node joins the office LAN: Wi-Fi when ``wifi`` is given, else wired Ethernet;
    a static ``address`` (with its prefix) when given, else DHCP."""

    wifi: Wifi | None = None
    address: str | None = Field(default=None, description="static address with prefix, e.g. 192.168.10.21/24")
    gateway: str | None = None
    dns: list[str] = Field(default_factory=list)

    @field_validator("address")
    @classmethod
    def _interface(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "/" not in value:
            raise ValueError(f"address {value!r} needs its prefix length, e.g. {value}/24")
        try:
            ipaddress.ip_interface(value)
        except ValueError as exc:
            raise ValueError(f"address {value!r} is not an IP address with prefix") from exc
        return value

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise ValueError(f"gateway {value!r} is not an IP address") from exc
        return value

    @field_validator("dns")
    @classmethod
    def _dns(cls, value: list[str]) -> list[str]:
        for v in value:
            try:
                ipaddress.ip_address(v)
            except ValueError as exc:
                raise ValueError(f"DNS server {v!r} is not an IP address") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Network:
        if self.address is None and (self.gateway or self.dns):
            raise ValueError("gateway and dns are for a static address: give address too, or leave them out for DHCP")
        if self.address and self.gateway:
            net = ipaddress.ip_interface(self.address).network
            if ipaddress.ip_address(self.gateway) not in net:
                raise ValueError(f"gateway {self.gateway} is outside {net}")
        return self

    @property
    def kind(self) -> Literal["wifi", "ethernet"]:
        return "wifi" if self.wifi else "ethernet"

    @property
    def dhcp(self) -> bool:
        return self.address is None


class TlsSettings(_Strict):
    """The broker's TLS listener, on by default (issue 23): nodes reach the broker only through it."""

    port: int = Field(default=8883, ge=1, le=65535)
    require_certificate: bool = Field(default=True, description=(
        "nodes must present a certificate from the site CA, whose name is their user (bound to the node id)"))
    plain_listener: bool = Field(default=False, description=(
        "keep the unencrypted listener open to the hall network as well (default: loopback only, for the "
        "office server beside the broker)"))


class Broker(_Strict):
    host: str = Field(min_length=1, description="the office broker's address as the nodes reach it")
    port: int = Field(default=1883, ge=1, le=65535, description=(
        "the plain MQTT port: on loopback only for the office server while TLS is on; for everyone with tls: false"))
    tls: TlsSettings | None = Field(default_factory=TlsSettings, description=(
        "TLS for the nodes, on unless `tls: false` (plain MQTT: passwords and tokens cross the hall network in clear)"))

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_switch(cls, value: Any) -> Any:
        # Only an explicit `false` turns TLS off: a stray `tls:` (null) must not make a production office plain.
        if value is True:
            return {}
        if value is False:
            return None
        if value is None:
            raise ValueError("tls is empty: leave it out (TLS, the default), give its settings, "
                             "or write `tls: false` for plain MQTT")
        return value

    @property
    def node_port(self) -> int:
        return self.tls.port if self.tls else self.port


class Admin(_Strict):
    """An optional technician login created on every node (key-only SSH)."""

    user: str = Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_keys: list[str] = Field(min_length=1)

    @field_validator("ssh_keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not re.match(r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+", key):
                raise ValueError(f"{key[:30]!r}... is not an OpenSSH public key line")
        return value


class InventoryNode(_Strict):
    id: Ident
    role: Role
    hostname: str | None = Field(default=None, description="default: cherga-<id>")
    counter: Ident | None = Field(default=None, description="pads: the counter this pad drives")
    hardware: dict[str, Any] = Field(default_factory=dict, description="copied into the node config's hardware")
    network: Network | None = Field(default=None, description="default: the inventory's network")

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and not _HOSTNAME.match(value):
            raise ValueError(f"hostname {value!r}: use lower-case letters, digits and '-', at most 63")
        return value

    @model_validator(mode="after")
    def _counter_for_pads(self) -> InventoryNode:
        if self.role == "pad" and not self.counter:
            raise ValueError(f"node {self.id!r}: a pad needs the counter it drives (counter: ...)")
        if self.role != "pad" and self.counter:
            raise ValueError(f"node {self.id!r}: only a pad has a counter")
        return self

    @model_validator(mode="after")
    def _printer_can_work(self) -> InventoryNode:
        """A kiosk's printer settings pass the kiosk's own rule (:func:`kiosk.printer.printer_problems`)."""
        if self.role != "kiosk" or "printer" not in self.hardware:
            return self
        try:
            from cherga.kiosk.printer import printer_problems
        except ImportError:  # no python-escpos here (cherga[kiosk]): the kiosk checks when it starts
            return self
        problems = printer_problems(self.hardware["printer"])
        if problems:
            raise field_errors("InventoryNode", [
                (("hardware", "printer", *([field] if field else [])), f"kiosk {self.id!r}: {message}")
                for field, message in problems
            ], self.hardware["printer"])
        return self

    @property
    def host_name(self) -> str:
        return self.hostname or f"cherga-{self.id}".replace("_", "-")


class Inventory(_Strict):
    """An office's Pi nodes and how they reach the office broker."""

    office: Ident
    broker: Broker
    server_user: str = Field(default="", description="the server's broker user; default: <office>.server")
    server_instances: int = Field(default=1, ge=1, le=16, description=(
        "server processes serving the office (cherga server --instance NAME); each gets a broker user "
        "of its own: <server_user>, then <server_user>-2, -3, ... (the broker ties client ids to users)"))
    network: Network = Field(default_factory=Network, description="default network of every node (DHCP on Ethernet)")
    admin: Admin | None = None
    timezone: str = "Europe/Kyiv"
    nodes: list[InventoryNode] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        for what, values in (("node ids", [n.id for n in self.nodes]), ("hostnames", [n.host_name for n in self.nodes])):
            seen: set[str] = set()
            for v in values:
                if v in seen:
                    raise ValueError(f"{what}: {v!r} appears twice")
                seen.add(v)
        static = [(n.id, ipaddress.ip_interface(a).ip) for n in self.nodes if (a := self.network_of(n).address)]
        taken: dict[Any, str] = {}
        for node_id, ip in static:
            if ip in taken:
                raise ValueError(f"nodes {taken[ip]!r} and {node_id!r} both have the static address {ip}")
            taken[ip] = node_id
        return self

    @property
    def insecure_warning(self) -> str | None:
        """What ``cherga provision`` says loudly when the inventory turns TLS off, else ``None``."""
        if self.broker.tls is not None:
            return None
        return (f"INSECURE: broker.tls is false for office {self.office}: the nodes speak plain MQTT on port "
                f"{self.broker.port}, so their passwords, enrollment tokens and every ticket cross the hall "
                "network in clear and anyone there can pose as a node. Remove `tls: false` (TLS is the default).")

    @property
    def server_username(self) -> str:
        return self.server_user or f"{self.office}.server"

    @property
    def server_usernames(self) -> list[str]:
        """One broker user per server process: the first is :attr:`server_username`."""
        return [self.server_username] + [f"{self.server_username}-{i}" for i in range(2, self.server_instances + 1)]

    def network_of(self, node: InventoryNode) -> Network:
        return node.network or self.network

    def node(self, node_id: str) -> InventoryNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


def parse_inventory(text: str, source: str = "<inventory>") -> Inventory:
    """Validate inventory YAML; raise :class:`InventoryError` naming ``source:line`` and the field."""
    return parse_yaml_model(text, source, Inventory, InventoryError, "office, broker and nodes")


def load_inventory(path: str | Path) -> Inventory:
    return parse_inventory(*read_text(path, InventoryError))


def check_against_site(inventory: Inventory, counters: set[str], office: str) -> list[str]:
    """Problems between the inventory and the office's site configuration (empty when they agree)."""
    problems = []
    if inventory.office != office:
        problems.append(f"inventory is for office {inventory.office!r}, the site configuration for {office!r}")
    for n in inventory.nodes:
        if n.counter and n.counter not in counters:
            problems.append(f"node {n.id!r} drives counter {n.counter!r}, which the site configuration does not have")
    return problems
