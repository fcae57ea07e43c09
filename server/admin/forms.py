"""The administration forms: each section of the site config as fields, and a posted form back to data.

One schema: a form only turns what the administrator typed into the plain data a YAML file would
hold; :func:`cherga.server.siteconfig.validate_site_data` (the model the YAML check uses) decides
what is right. Its problems come back by field path (``services.2.prefix``) and are shown beside
the field of that name; a problem with no field on this page is listed at the top.

A section is one or more top-level keys of the site config. List sections (services, counters...)
show every item and one blank item to add; an item keeps the fields this page does not show (a
service's own hours, its citizen information) from the item it was made from (``__base``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from cherga.broker_bridge.contract import LANGUAGES, PURPOSES
from cherga.server.siteconfig import WEEKDAYS, Loc, Problem

# Field kinds: text (a string, empty = not given), select (one of choices), bool (a checkbox),
# multi (checkboxes), names (a text per language), ranges ("08:00-13:00, 14:00-18:00"), dates
# ("2026-01-01, 2026-01-07"), optional (a service's own hours: empty = the office's),
# days (ranges per weekday), weights (a weight per service, empty = not served), model (a group).
Spec = list[tuple[str, str, Any]]

COUNTRIES = ("UA", "RU", "KG", "KZ", "OTHER")

OFFICE: Spec = [("id", "readonly", None), ("names", "names", None), ("country", "select", COUNTRIES),
                ("timezone", "text", None), ("languages", "multi", "languages"), ("public_url", "text", None),
                ("territorial_office", "text", None)]
SERVICE: Spec = [("id", "text", None), ("prefix", "text", None), ("names", "names", None),
                 ("purposes", "multi", "purposes"), ("daily_cap", "text", None), ("appointment_only", "bool", None),
                 ("target_wait_min", "text", None), ("mean_service_min", "text", None),
                 ("booking_per_slot", "text", None), ("hours", "optional", None)]
BUNDLE: Spec = [("id", "text", None), ("names", "names", None), ("services", "multi", "services")]
COUNTER: Spec = [("id", "text", None), ("number", "text", None), ("names", "names", None),
                 ("services", "weights", None), ("back_office", "bool", None)]
CATEGORY: Spec = [("id", "text", None), ("names", "names", None), ("weight", "text", None)]
HOURS: Spec = [("days", "days", None), ("breaks", "ranges", None), ("holidays", "dates", None)]
NO_SHOW: Spec = [("recalls", "text", None), ("timeout_s", "text", None)]
RANGE: Spec = [("first", "text", None), ("last", "text", None)]
NUMBERING: Spec = [("walk_in", "model", RANGE), ("booked", "model", RANGE), ("offline", "model", RANGE)]
APPOINTMENTS: Spec = [("early_s", "text", None), ("late_grace_s", "text", None), ("call_window_s", "text", None),
                      ("slot_min", "text", None), ("per_slot", "text", None), ("horizon_days", "text", None),
                      ("walk_in_max_wait_min", "text", None)]
CLOSING: Spec = [("waiting_at_close", "select", ("serve_all", "stop")), ("stop_after_min", "text", None),
                 ("warn_walk_ins", "bool", None)]
DISPLAY: Spec = [("recent_calls", "text", None), ("blink_s", "text", None), ("min_visible_s", "text", None),
                 ("ticker", "names", None), ("layout", "select", ("alternate", "side_by_side"))]
VOICE: Spec = [("languages", "multi", "languages"), ("volume", "text", None), ("quiet_hours", "ranges", None)]
TICKET: Spec = [("paper_mm", "select", ("58", "80")), ("footer", "names", None), ("languages", "multi", "languages")]


@dataclasses.dataclass(frozen=True)
class Part:
    """One top-level key of the site config on a section page: a single group, or a list of items."""

    key: str
    spec: Spec
    many: bool = False


SECTIONS: dict[str, list[Part]] = {
    "office": [Part("office", OFFICE)],
    "services": [Part("services", SERVICE, many=True)],
    "bundles": [Part("bundles", BUNDLE, many=True)],
    "counters": [Part("counters", COUNTER, many=True)],
    "categories": [Part("priority_categories", CATEGORY, many=True)],
    "hours": [Part("hours", HOURS)],
    "rules": [Part("no_show", NO_SHOW), Part("numbering", NUMBERING), Part("appointments", APPOINTMENTS),
              Part("closing", CLOSING)],
    "display": [Part("display", DISPLAY), Part("voice", VOICE), Part("ticket", TICKET)],
}
# Which section shows a top-level key (a problem found elsewhere links there).
SECTION_OF = {part.key: slug for slug, parts in SECTIONS.items() for part in parts}


@dataclasses.dataclass
class Field:
    name: str  # the form name and the problem path: "services.0.prefix"
    field: str  # the schema field, for the label: "prefix"
    kind: str
    value: Any = ""
    choices: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    children: list[Field] = dataclasses.field(default_factory=list)  # names, days, weights, model
    errors: list[str] = dataclasses.field(default_factory=list)
    label: str = ""  # the catalog key of the field's label
    text: str = ""  # a label that is no catalog word (a service's name beside its weight)


@dataclasses.dataclass
class Item:
    """One group of fields: a single part, or one item of a list part (``base``: the item it came from)."""

    name: str
    key: str
    fields: list[Field]
    base: str = ""
    new: bool = False
    title: str = ""


@dataclasses.dataclass
class Decoded:
    """A posted section as site-config data, and where each item came from."""

    data: dict[str, Any]
    bases: dict[str, str]
    aliases: dict[Loc, str]  # a problem location -> the form field showing it (counter service weights)


# --- form -> data ----------------------------------------------------------------------------------

def _ranges(text: str) -> list[dict[str, str]]:
    """``"08:00-13:00, 14:00-18:00"`` as time ranges; a part without a dash keeps an empty end, so the
    model says which part is wrong."""
    out = []
    for part in re.split(r"[,;\n]+", text):
        part = part.strip()
        if not part:
            continue
        pieces = re.split(r"\s*[-–—]\s*", part, maxsplit=1)
        start = pieces[0].strip()
        end = pieces[1].strip() if len(pieces) > 1 else ""
        out.append({"start": start, "end": end})
    return out


def _ranges_text(value: Any) -> str:
    if not isinstance(value, list):
        return ""
    return ", ".join(f"{r.get('start', '')}-{r.get('end', '')}" for r in value if isinstance(r, Mapping))


def _decode_group(spec: Spec, path: str, form: Mapping[str, Any], base: Mapping[str, Any],
                  services: list[str], aliases: dict[Loc, str], loc: Loc) -> dict[str, Any]:
    out = dict(base)
    for field, kind, arg in spec:
        name = f"{path}.{field}"
        if kind == "readonly":
            continue
        if kind in ("text", "select"):
            value = str(form.get(name, "")).strip()
            if kind == "select" and value.isdigit() and all(isinstance(a, str) and a.isdigit() for a in arg):
                out[field] = int(value)  # a number chosen from a list (paper width): the model wants the number
            elif value:
                out[field] = value
            else:
                out.pop(field, None)
        elif kind == "bool":
            out[field] = form.get(name) == "1"
        elif kind == "multi":
            chosen = _keep_order([str(v) for v in _getlist(form, name)], base.get(field))
            if chosen or field in base:
                out[field] = chosen
            else:
                out.pop(field, None)  # a new item with nothing ticked takes the default
        elif kind == "names":
            texts = {lang: str(form.get(f"{name}.{lang}", "")).strip() for lang in LANGUAGES}
            texts = {lang: v for lang, v in texts.items() if v}
            if texts:
                out[field] = texts
            else:
                out.pop(field, None)
        elif kind == "ranges":
            out[field] = _ranges(str(form.get(name, "")))
        elif kind == "dates":
            out[field] = [d for d in re.split(r"[\s,;]+", str(form.get(name, ""))) if d]
        elif kind == "days":
            days = {}
            for day in WEEKDAYS:
                ranges = _ranges(str(form.get(f"{name}.{day}", "")))
                if ranges:
                    days[day] = ranges
            out[field] = days
        elif kind == "weights":
            served: list[dict[str, str]] = []
            for sid in _keep_order(services, base.get(field)):
                weight = str(form.get(f"{name}.{sid}", "")).strip()
                if weight:
                    aliases[(*loc, field, len(served))] = f"{name}.{sid}"
                    served.append({"id": sid, "weight": weight})
            out[field] = served
        elif kind == "model":
            out[field] = _decode_group(arg, name, form, _mapping(base.get(field)), services, aliases, (*loc, field))
        elif kind == "optional":
            # A service's own hours: given when any day, break or holiday is filled in, else the office's.
            own = _decode_group(HOURS, name, form, {}, services, aliases, (*loc, field))
            if own.get("days") or own.get("breaks") or own.get("holidays"):
                out[field] = own
            else:
                out.pop(field, None)
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _keep_order(ids: list[str], before: Any) -> list[str]:
    """``ids`` with those the saved list had first, in its order (a bundle's services are visited in
    order; checkboxes post in page order)."""
    saved = [str(x.get("id") if isinstance(x, Mapping) else x) for x in before] if isinstance(before, list) else []
    return [i for i in saved if i in ids] + [i for i in ids if i not in saved]


def _getlist(form: Mapping[str, Any], name: str) -> list[Any]:
    getlist = getattr(form, "getlist", None)
    if callable(getlist):
        return list(getlist(name))
    value = form.get(name)
    return list(value) if isinstance(value, (list, tuple)) else ([] if value is None else [value])


def _has_input(spec: Spec, path: str, form: Mapping[str, Any]) -> bool:
    """Did the administrator type anything into this (new, blank) item?"""
    prefix = f"{path}."
    return any(k.startswith(prefix) and not k.endswith(".__base") and str(v).strip()
               for k, v in _items(form))


def _items(form: Mapping[str, Any]) -> list[tuple[str, Any]]:
    multi = getattr(form, "multi_items", None)
    return list(multi()) if callable(multi) else list(form.items())


def decode(section: str, form: Mapping[str, Any], current: Mapping[str, Any]) -> Decoded:
    """The posted ``section`` merged into ``current`` (the site config as plain data)."""
    data = {k: v for k, v in current.items()}
    bases: dict[str, str] = {}
    aliases: dict[Loc, str] = {}
    for part in SECTIONS[section]:
        services = _service_ids(form, current, section)
        if not part.many:
            data[part.key] = _decode_group(part.spec, part.key, form, _mapping(current.get(part.key)), services,
                                           aliases, (part.key,))
            continue
        old = {str(i.get("id")): i for i in current.get(part.key) or [] if isinstance(i, Mapping)}
        count = int(str(form.get(f"{part.key}.__count", "0")) or 0)
        items: list[dict[str, Any]] = []
        for i in range(min(count, 500)):
            path = f"{part.key}.{i}"
            base_id = str(form.get(f"{path}.__base", ""))
            if form.get(f"{path}.__remove") == "1":
                continue
            if not base_id and not _has_input(part.spec, path, form):
                continue  # the blank "add" item, left blank
            base = old.get(base_id, {})
            n = len(items)
            item = _decode_group(part.spec, path, form, base, services, aliases, (part.key, n))
            # A page shown again is drawn from the decoded data, where the item sits at its saved place
            # (n, after any removed above it): its weight fields are named by that place too.
            if n != i:
                for loc, shown in list(aliases.items()):
                    if loc[:2] == (part.key, n):
                        aliases[loc] = shown.replace(f"{path}.", f"{part.key}.{n}.", 1)
            bases[f"{part.key}.{n}"] = base_id
            items.append(item)
        data[part.key] = items
    return Decoded(data, bases, aliases)


def _service_ids(form: Mapping[str, Any], current: Mapping[str, Any], section: str) -> list[str]:
    return [str(s.get("id")) for s in current.get("services") or [] if isinstance(s, Mapping) and s.get("id")]


# --- data -> fields ----------------------------------------------------------------------------------

def _field(field: str, kind: str, arg: Any, name: str, value: Any, choices: dict[str, list[tuple[str, str]]],
           services: list[tuple[str, str]], label: str = "") -> Field:
    made = _make(field, kind, arg, name, value, choices, services)
    made.label = label or f"f_{field}"
    for child in made.children:
        if kind == "names":
            child.label = f"lang_in_{child.field}"
        elif kind == "days":
            child.label = f"day_{child.field}"
        elif kind == "weights":
            child.text = child.choices[0][1]
    return made


def _make(field: str, kind: str, arg: Any, name: str, value: Any, choices: dict[str, list[tuple[str, str]]],
          services: list[tuple[str, str]]) -> Field:
    if kind in ("text", "readonly"):
        return Field(name, field, kind, "" if value is None else _number(value))
    if kind == "select":
        return Field(name, field, kind, "" if value is None else str(value), choices=[(str(v), str(v)) for v in arg])
    if kind == "bool":
        return Field(name, field, kind, bool(value) and value not in ("0", "false"))
    if kind == "multi":
        options = services if arg == "services" else choices[arg]
        return Field(name, field, kind, [str(v) for v in value] if isinstance(value, list) else [], choices=options)
    if kind == "names":
        texts = value if isinstance(value, Mapping) else {}
        return Field(name, field, kind, children=[Field(f"{name}.{lang}", lang, "text", str(texts.get(lang) or ""))
                                                  for lang in LANGUAGES])
    if kind == "ranges":
        return Field(name, field, kind, _ranges_text(value))
    if kind == "dates":
        return Field(name, field, kind, ", ".join(str(d) for d in value) if isinstance(value, list) else "")
    if kind == "days":
        days = value if isinstance(value, Mapping) else {}
        return Field(name, field, kind, children=[Field(f"{name}.{d}", d, "ranges", _ranges_text(days.get(d)))
                                                  for d in WEEKDAYS])
    if kind == "weights":
        weights = {str(s.get("id") if isinstance(s, Mapping) else s): (s.get("weight", 1) if isinstance(s, Mapping) else 1)
                   for s in (value if isinstance(value, list) else [])}
        return Field(name, field, kind, children=[
            Field(f"{name}.{sid}", sid, "text", "" if sid not in weights else _number(weights[sid]), choices=[(sid, label)])
            for sid, label in services])
    if kind in ("model", "optional"):
        arg = HOURS if kind == "optional" else arg
        sub = value if isinstance(value, Mapping) else {}
        return Field(name, field, kind, children=[
            _field(f, k, a, f"{name}.{f}", sub.get(f), choices, services) for f, k, a in arg])
    raise ValueError(kind)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def build(section: str, data: Mapping[str, Any], bases: Mapping[str, str] | None, *,
          choices: dict[str, list[tuple[str, str]]], services: list[tuple[str, str]],
          blank: bool = True) -> list[Item]:
    """The groups of fields of ``section`` showing ``data`` (the saved config, or what was posted).

    ``bases``: for items of a posted list, the saved item each came from (absent: the items are the
    saved ones, each its own base). ``blank``: add an empty item to each list, to add one.
    """
    out = []
    for part in SECTIONS[section]:
        value = data.get(part.key)
        if not part.many:
            group = value if isinstance(value, Mapping) else {}
            out.append(Item(part.key, part.key, [_field(f, k, a, f"{part.key}.{f}", group.get(f), choices, services,
                                                         f"f_{part.key}_{f}") for f, k, a in part.spec]))
            continue
        items = [v for v in (value if isinstance(value, list) else []) if isinstance(v, Mapping)]
        if blank:
            items = [*items, {}]
        for i, item in enumerate(items):
            path = f"{part.key}.{i}"
            is_new = blank and i == len(items) - 1
            base = "" if is_new else (bases.get(path, "") if bases is not None else str(item.get("id", "")))
            fields = [_field(f, k, a, f"{path}.{f}", item.get(f), choices, services, f"f_{part.key}_{f}")
                      for f, k, a in part.spec]
            out.append(Item(path, part.key, fields, base=base, new=is_new, title=str(item.get("id", ""))))
    return out


def all_fields(items: list[Item]) -> dict[str, Field]:
    found: dict[str, Field] = {}

    def walk(f: Field) -> None:
        found[f.name] = f
        for c in f.children:
            walk(c)

    for item in items:
        for f in item.fields:
            walk(f)
    return found


def place_problems(items: list[Item], problems: list[Problem], aliases: Mapping[Loc, str],
                   message: Any) -> list[tuple[Problem, str]]:
    """Put each problem beside its field (``message(problem)`` is its text in the admin's language);
    the problems with no field on this page are returned, with their text, for the top of the page."""
    fields = all_fields(items)
    item_names = {i.name for i in items}
    elsewhere = []
    for p in problems:
        target = None
        for cut in range(len(p.loc), 0, -1):
            prefix = p.loc[:cut]
            name = aliases.get(prefix) or ".".join(str(x) for x in prefix)
            if name in fields:
                target = fields[name]
                break
            if name in item_names:
                break
        if target is not None:
            target.errors.append(message(p))
        else:
            elsewhere.append((p, message(p)))
    return elsewhere


__all__ = ["PURPOSES", "SECTIONS", "SECTION_OF", "Decoded", "Field", "Item", "build", "decode", "place_problems"]
