"""Each node's retained office config (:class:`contract.NodeConfig`), built from the site config.

Pure: site config in, payload out. The bridge publishes one per node of the site's ``nodes:``
registry on ``cherga/v1/{office}/node/{node}/config`` (retained) whenever it starts.
"""

from __future__ import annotations

from typing import Any, cast

from cherga.broker_bridge.contract import (
    BundleInfo,
    CategoryInfo,
    CounterInfo,
    NodeConfig,
    ServiceInfo,
    Texts,
)
from cherga.server.siteconfig import Names, Node, SiteConfig


def _texts(names: Names | None) -> Texts:
    return cast(Texts, names.as_dict()) if names is not None else {}


def offline_range(site: SiteConfig, node_id: str) -> tuple[int, int] | None:
    """A kiosk's share of the office's offline number range: split evenly among the kiosks (by id)
    so two kiosks working without the server never print the same number."""
    kiosks = sorted(n.id for n in site.nodes or [] if n.role == "kiosk")
    if node_id not in kiosks:
        kiosks = sorted([*kiosks, node_id])
    rng = site.numbering.offline
    size = (rng.last - rng.first + 1) // len(kiosks)
    if size < 1:
        return None
    i = kiosks.index(node_id)
    first = rng.first + i * size
    return (first, first + size - 1)


def build_node_config(site: SiteConfig, node: Node) -> NodeConfig:
    office = site.office
    counter = None
    if node.counter:
        c = site.counter(node.counter)
        counter = CounterInfo(
            id=c.id, number=c.number, services=[s.id for s in c.services],
            transfer_targets=[s.id for s in site.services if not s.appointment_only],
        )
    ticket: dict[str, Any] = {"paper_mm": site.ticket.paper_mm, "languages": list(site.ticket.languages)}
    if site.ticket.footer:
        ticket["footer"] = _texts(site.ticket.footer)
    display: dict[str, Any] = {
        "recent_calls": site.display.recent_calls, "blink_s": site.display.blink_s,
        "min_visible_s": site.display.min_visible_s, "layout": site.display.layout,
        "ticker": _texts(site.display.ticker),
    }
    voice: dict[str, Any] = {
        "languages": list(site.voice.languages), "volume": site.voice.volume,
        "quiet_hours": [{"start": r.start, "end": r.end} for r in site.voice.quiet_hours],
    }
    return NodeConfig(
        node=node.id, role=node.role, office=office.id, office_names=_texts(office.names),
        languages=list(office.languages), timezone=office.timezone, public_url=office.public_url,
        services=[ServiceInfo(id=s.id, prefix=s.prefix, names=_texts(s.names), purposes=list(s.purposes),
                              appointment_only=s.appointment_only) for s in site.services],
        bundles=[BundleInfo(id=b.id, names=_texts(b.names), services=list(b.services)) for b in site.bundles],
        categories=[CategoryInfo(id=p.id, names=_texts(p.names)) for p in site.priority_categories],
        counter=counter,
        offline_range=offline_range(site, node.id) if node.role == "kiosk" else None,
        ticket=ticket, display=display, voice=voice,
    )
