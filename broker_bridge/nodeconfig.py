"""Each node's retained office config (:class:`contract.NodeConfig`), built from the site config.

Pure: site config in, payload out. The bridge publishes one per node of the site's ``nodes:``
registry on ``cherga/v1/{office}/node/{node}/config`` (retained) whenever it starts.

A kiosk's config also carries each service's information for its "what do I need?" screen (issue
18), in the office's languages only; when that would push the message near the contract's payload
limit, the kiosk gets only the documents and where to go, and past that none (logged).
"""

from __future__ import annotations

import logging
from typing import Any, Literal, cast

from cherga.broker_bridge.contract import (
    CONTACT_CHANNELS,
    MAX_PAYLOAD,
    BundleInfo,
    CategoryInfo,
    ContactChannel,
    CounterInfo,
    NodeConfig,
    NotifyOffer,
    ServiceInfo,
    ServiceText,
    Texts,
)
from cherga.server.siteconfig import Names, Node, ServiceDetails, SiteConfig

log = logging.getLogger(__name__)


def _texts(names: Names | None) -> Texts:
    return cast(Texts, names.as_dict()) if names is not None else {}


def _office_texts(names: Names | None, languages: list[str]) -> Texts:
    """A text in the office's languages only: what the kiosk can be asked in (keeps the retained config small)."""
    return cast(Texts, {k: v for k, v in _texts(names).items() if k in languages})


# The kiosk's config is one retained message; service information must not push it past the
# contract's payload limit, so a config that would is sent with less of it (see build_node_config).
INFO_BUDGET = int(MAX_PAYLOAD * 0.9)
InfoDetail = Literal["full", "essential", "none"]


def service_text(info: ServiceDetails | None, languages: list[str],
                 detail: InfoDetail = "full") -> ServiceText | None:
    """What the kiosk's "what do I need?" screen shows about a service (issue 18), or None.

    ``essential``: only the documents and where to go (what a citizen must have in hand)."""
    if info is None or detail == "none":
        return None
    if detail == "essential":
        return ServiceText(documents=[_office_texts(d, languages) for d in info.documents],
                           where=_office_texts(info.where, languages))
    return ServiceText(about=_office_texts(info.about, languages),
                       documents=[_office_texts(d, languages) for d in info.documents],
                       fee=_office_texts(info.fee, languages), duration=_office_texts(info.duration, languages),
                       where=_office_texts(info.where, languages))


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
    """The node's retained config; a kiosk's carries the service information that fits the payload limit."""
    config = _node_config(site, node, "full")
    for detail in ("essential", "none"):
        if node.role != "kiosk" or len(config.to_bytes()) <= INFO_BUDGET:
            break
        log.warning("kiosk %s: service information makes its config %d bytes; sending %s information",
                    node.id, len(config.to_bytes()), detail)
        config = _node_config(site, node, cast(InfoDetail, detail))
    return config


def _node_config(site: SiteConfig, node: Node, detail: InfoDetail) -> NodeConfig:
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
    langs = [str(lang) for lang in office.languages]
    return NodeConfig(
        node=node.id, role=node.role, office=office.id, office_names=_texts(office.names),
        languages=list(office.languages), timezone=office.timezone, public_url=office.public_url,
        services=[ServiceInfo(id=s.id, prefix=s.prefix, names=_texts(s.names), purposes=list(s.purposes),
                              appointment_only=s.appointment_only,
                              # what to bring: only a kiosk shows it (displays and pads need not carry it)
                              info=service_text(s.info, langs, detail) if node.role == "kiosk" else None)
                  for s in site.services],
        bundles=[BundleInfo(id=b.id, names=_texts(b.names), services=list(b.services),
                            about=_office_texts(b.about, langs) if node.role == "kiosk" else {},
                            documents=[_office_texts(d, langs) for d in b.documents] if node.role == "kiosk" else [])
                 for b in site.bundles],
        categories=[CategoryInfo(id=p.id, names=_texts(p.names)) for p in site.priority_categories],
        counter=counter,
        offline_range=offline_range(site, node.id) if node.role == "kiosk" else None,
        ticket=ticket, display=display, voice=voice,
        notify=notify_offer(site) if node.role == "kiosk" else None,
    )


def notify_offer(site: SiteConfig) -> NotifyOffer | None:
    """What the kiosk may offer: the channels with a gateway and the consent as the server stores it
    (``server.notify.texts``, the same words as ``/t/{token}/notify``), or None: no notifications here."""
    cfg = site.notify
    channels: list[ContactChannel] = [ch for ch in CONTACT_CHANNELS if getattr(cfg, ch) is not None]
    if not channels:
        return None
    from cherga.server.notify import texts

    names = site.office.names
    consent = {lang: texts.consent_text(lang, office=names.get(lang) or "", days=cfg.retention_days)
               for lang in site.office.languages}
    return NotifyOffer(channels=channels, retention_days=cfg.retention_days, consent=cast(Texts, consent))
