"""The administration pages under ``/admin``: the office's configuration, staff, versions, YAML.

Administrators only (role ``admin``), signed in with their password into an HttpOnly,
SameSite=Strict cookie of their own (path ``/admin``). Every form posts back here; a post from
another origin is refused (the cookie is not sent cross-site either). Every change of the
configuration goes through the site config's own model (``validate_site_data``, what ``cherga
config check`` runs): each problem is shown beside its field in the administrator's language and
nothing is saved while anything is wrong; a good change is stored as a version and goes live at
once (``server.admin.live``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from cherga.broker_bridge.contract import LANGUAGES, PURPOSES
from cherga.server import auth
from cherga.server.admin import forms, live, staff, versions
from cherga.server.admin.i18n import catalog, pick_language, problem_text
from cherga.server.errors import ServiceError, Unauthorized
from cherga.server.siteconfig import ConfigError, Problem, SiteConfig, parse_site_config, validate_site_data
from cherga.server.store import StaffAccount

HERE = Path(__file__).resolve().parent
BASE = "/admin"
TOKEN_COOKIE = "cherga_admin"
LANG_COOKIE = "cherga_lang"
MAX_YAML = 1_000_000  # characters: an office's YAML is a few tens of kilobytes

# Every page twice: under /admin (the server's only office, or the first) and under /admin/office/{office}
# (issue 21: the office the page acts on when the server runs several; the links keep it).
_pages = APIRouter()
templates = Jinja2Templates(directory=str(HERE / "templates"))


# --- plumbing --------------------------------------------------------------------------------------

def _offices(request: Request) -> dict[str, Any]:
    services = getattr(request.app.state, "services", None)
    return services if isinstance(services, dict) else {}


def _path_office(request: Request) -> str | None:
    office = request.path_params.get("office")
    return str(office) if office is not None else None


def _service(request: Request) -> Any:
    """The service of the office in the path (``/admin/office/{office}/...``), else the first office's
    (what the sign-in, the staff pages and a one-office server use: the store is the same)."""
    office = _path_office(request)
    if office is not None:
        found = _offices(request).get(office)
        if found is None:
            raise HTTPException(404, catalog(_lang_of(request, None))["error_not_found"])
        return found
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(503, "the office service is not running")
    return service


def _base(request: Request) -> str:
    """Where this office's pages are: links and redirects stay with the office the page acts on."""
    office = _path_office(request)
    return f"{BASE}/office/{office}" if office is not None else BASE


def _several(request: Request) -> bool:
    return len(_offices(request)) > 1


def _every_office(request: Request, account: StaffAccount) -> bool:
    """May ``account`` manage the server as a whole (staff accounts)? Only with every office here in scope:
    an administrator of some offices would otherwise give themselves the others."""
    return all(account.may_act_on(office) for office in _offices(request))


def _now(request: Request) -> dt.datetime:
    now: dt.datetime = _service(request).now()
    return now


def _lang(request: Request) -> str:
    return _lang_of(request, _service(request))


def _lang_of(request: Request, service: Any) -> str:
    offered = service.config.office.languages if service is not None else ()
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), *offered)


def _staff(request: Request) -> StaffAccount | None:
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    try:
        return auth.account_for_token(_service(request).store, token, _now(request))
    except Unauthorized:
        return None


def _same_origin(request: Request) -> None:
    # Browsers send Origin on every POST: a form posted from another site is refused before it acts.
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, catalog(_lang(request))["error_origin"])


def _admin(request: Request, *, every_office: bool = False) -> StaffAccount | Response:
    """The signed-in administrator allowed on this page, or where to go first (sign in; on a server with
    several offices, which office). ``every_office``: a page for the server as a whole (staff)."""
    account = _staff(request)
    if account is None:
        return RedirectResponse(f"{BASE}/signin", status_code=303)
    if account.role != "admin":
        raise HTTPException(403, catalog(_lang(request))["error_forbidden"])
    if every_office:
        if not _every_office(request, account):
            raise HTTPException(403, catalog(_lang(request))["error_staff_every_office"])
    elif _several(request) and _path_office(request) is None:
        return RedirectResponse(f"{BASE}/offices", status_code=303)  # several offices: which one first
    elif not account.may_act_on(_service(request).office):
        # An administrator of office A on office B of the same server (issue 21): refused, in their language.
        raise HTTPException(403, catalog(_lang(request))["error_office_forbidden"])
    if request.method == "POST":
        _same_origin(request)
    return account


def _context(request: Request, account: StaffAccount | None, **extra: Any) -> dict[str, Any]:
    service = _service(request)
    lang = _lang(request)
    t = catalog(lang)
    config: SiteConfig = service.config
    offered = [code for code in config.office.languages if code in LANGUAGES]
    langs = offered + [code for code in LANGUAGES if code not in offered]
    several = _several(request)
    return {"request": request, "lang": lang, "t": t, "base": _base(request), "staff": account,
            "offices_link": f"{BASE}/offices" if several and account is not None else None,
            "staff_link": account is not None and _every_office(request, account),
            "office_chosen": not several or _path_office(request) is not None,
            "languages": [(code, catalog(code)["lang_name"]) for code in langs],
            "office_name": config.office.names.get(lang) if not several or _path_office(request) else None,
            "sections": list(forms.SECTIONS),
            "flash": None, "title": t["admin"], "region_managed": _region_version(service), **extra}


def _office_state(request: Request) -> Any:
    """What a save acts on: this page's office's service, bridge (its nodes) and config file."""
    from cherga.server.region.apply import office_state

    return office_state(request.app.state, _service(request).office)


def _region_version(service: Any) -> int | None:
    """The region's config version in force when the region manages this office (issue 21), else None."""
    from cherga.server.region.apply import applied

    found = applied(service.store, service.office)
    return found.version if found else None


def _page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.query_params.get("lang") == ctx["lang"]:
        response.set_cookie(LANG_COOKIE, ctx["lang"], max_age=365 * 86400, samesite="strict")
    return response


def _choices(config: SiteConfig, lang: str) -> tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str]]]:
    t = catalog(lang)
    choices: dict[str, list[tuple[str, str]]] = {"languages": [(code, catalog(code)["lang_name"]) for code in LANGUAGES],
               "purposes": [(p, t[f"purpose_{p}"]) for p in PURPOSES]}
    services = [(s.id, s.names.get(lang)) for s in config.services]
    return choices, services


# --- sign in / out -----------------------------------------------------------------------------------

@_pages.get("", include_in_schema=False)
@_pages.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    found = _admin(request)
    if isinstance(found, Response):
        return found
    return RedirectResponse(f"{_base(request)}/section/office", status_code=303)


@_pages.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request) -> Response:
    return _page(request, "signin.html", _context(request, None, error=None, username=""))


@_pages.post("/signin")
def signin(request: Request, username: str = Form(""), password: str = Form(""), lang: str = Form("")) -> Response:
    _same_origin(request)
    service = _service(request)
    lang = pick_language(lang or None, _lang(request))
    t = catalog(lang)
    username = username.strip().lower()
    try:
        token, account, expires = auth.login(service.store, username, password, _now(request))
    except ServiceError as exc:
        status = exc.status if exc.status in (429, 503) else 401
        ctx = _context(request, None, error=t["error_too_many"] if status == 429 else t["error_bad_credentials"],
                       username=username)
        ctx.update(lang=lang, t=t)
        return _page(request, "signin.html", ctx, status)
    refusal = None
    if account.role != "admin":
        refusal = t["error_not_admin"]
    elif not account.may_act_on(service.office) if _path_office(request) or not _several(request) \
            else not any(account.may_act_on(o) for o in _offices(request)):
        refusal = t["error_office_forbidden"]  # an administrator of other offices (issue 21)
    if refusal is not None:
        auth.forget_token(service.store, token)
        ctx = _context(request, None, error=refusal, username=username)
        ctx.update(lang=lang, t=t)
        return _page(request, "signin.html", ctx, 403)
    target = f"{BASE}/offices" if _several(request) and _path_office(request) is None else f"{_base(request)}/section/office"
    response = RedirectResponse(target, status_code=303)
    max_age = max(60, int((expires - _now(request)).total_seconds()))
    response.set_cookie(TOKEN_COOKIE, token, max_age=max_age, httponly=True, samesite="strict", path=BASE)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict")
    return response


@_pages.post("/signout")
def signout(request: Request) -> Response:
    _same_origin(request)
    token = request.cookies.get(TOKEN_COOKIE)
    if token:
        auth.forget_token(_service(request).store, token)
    response = RedirectResponse(f"{BASE}/signin", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path=BASE)
    return response


@_pages.get("/offices", response_class=HTMLResponse)
def offices_page(request: Request) -> Response:
    """Which office to administer, on a server that runs several (issue 21): those the account may act on."""
    account = _staff(request)
    if account is None:
        return RedirectResponse(f"{BASE}/signin", status_code=303)
    lang = _lang(request)
    t = catalog(lang)
    if account.role != "admin":
        raise HTTPException(403, t["error_forbidden"])
    mine = [(oid, str(svc.config.office.names.get(lang))) for oid, svc in _offices(request).items()
            if account.may_act_on(oid)]
    if len(mine) == 1 and not _several(request):
        return RedirectResponse(f"{BASE}/section/office", status_code=303)
    if len(mine) == 1:
        return RedirectResponse(f"{BASE}/office/{mine[0][0]}/section/office", status_code=303)
    ctx = _context(request, account, offices=mine, title=t["choose_office"])
    return _page(request, "offices.html", ctx)


@_pages.get("/static/admin.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "admin.css", media_type="text/css")


# --- configuration sections --------------------------------------------------------------------------

def _section_page(request: Request, account: StaffAccount, section: str, data: dict[str, Any],
                  bases: dict[str, str] | None, problems: list[Problem], aliases: dict[Any, str],
                  comment: str = "", status: int = 200, saved: int | None = None) -> Response:
    service = _service(request)
    lang = _lang(request)
    t = catalog(lang)
    choices, services = _choices(service.config, lang)
    items = forms.build(section, data, bases, choices=choices, services=services)
    elsewhere = forms.place_problems(items, problems, aliases, lambda p: problem_text(lang, p))
    others = [(forms.SECTION_OF.get(str(p.loc[0]), "") if p.loc else "", text) for p, text in elsewhere]
    counts: dict[str, int] = {}
    for item in items:
        if item.name != item.key:  # an item of a list: the form says how many it posts
            counts[item.key] = counts.get(item.key, 0) + 1
    ctx = _context(request, account, section=section, items=items, others=others, comment=comment, counts=counts,
                   error_count=len(problems), title=t[f"section_{section}"],
                   flash=None if saved is None else (t["saved_version"].format(version=saved) if saved else t["no_changes"]))
    return _page(request, "section.html", ctx, status)


@_pages.get("/section/{section}", response_class=HTMLResponse)
def section_page(request: Request, section: str) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    if section not in forms.SECTIONS:
        raise HTTPException(404, catalog(_lang(request))["error_not_found"])
    saved = request.query_params.get("saved")
    data = _service(request).config.model_dump(mode="json")
    return _section_page(request, account, section, data, None, [], {},
                         saved=int(saved) if saved and saved.isdigit() else None)


@_pages.post("/section/{section}")
async def section_save(request: Request, section: str) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    if section not in forms.SECTIONS:
        raise HTTPException(404, catalog(_lang(request))["error_not_found"])
    service = _service(request)
    form = await request.form()
    comment = str(form.get("__comment", "")).strip()[:500]
    current = service.config.model_dump(mode="json")
    decoded = forms.decode(section, form, current)
    config, problems = validate_site_data(decoded.data, complete_languages=True)
    # What would strand a visitor first: removing a service with tickets also breaks its counters.
    problems = live.change_problems(service, decoded.data, _lang(request)) + problems
    if config is None or problems:
        # Nothing saved: the page again, with what was typed and every problem beside its field.
        return _section_page(request, account, section, decoded.data, decoded.bases, problems, decoded.aliases,
                             comment=comment, status=422)
    if config == service.config:
        return RedirectResponse(f"{_base(request)}/section/{section}?saved=0", status_code=303)  # nothing changed
    saved = live.save_and_apply(_office_state(request), config, author=account.username, comment=comment)
    return RedirectResponse(f"{_base(request)}/section/{section}?saved={saved.version}", status_code=303)


# --- versions, export, import ------------------------------------------------------------------------

@_pages.get("/versions", response_class=HTMLResponse)
def versions_page(request: Request) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    service = _service(request)
    live.ensure_baseline(_office_state(request), _now(request))
    found = versions.versions(service.store, service.office)
    restored = request.query_params.get("restored")
    t = catalog(_lang(request))
    ctx = _context(request, account, versions=found, loaded=live.LOADED, title=t["versions"],
                   flash=t["restored_version"].format(version=restored) if restored and restored.isdigit() else None,
                   local=lambda at: at.astimezone(service.config.office.tz).strftime("%Y-%m-%d %H:%M"))
    return _page(request, "versions.html", ctx)


@_pages.get("/versions/{number}", response_class=HTMLResponse)
def version_page(request: Request, number: int) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    service = _service(request)
    t = catalog(_lang(request))
    found = versions.version(service.store, service.office, number)
    if found is None:
        raise HTTPException(404, t["error_not_found"])
    before = versions.version(service.store, service.office, number - 1)
    ctx = _context(request, account, version=found, diff=versions.diff(before, found), loaded=live.LOADED,
                   title=t["version_n"].format(version=number),
                   local=lambda at: at.astimezone(service.config.office.tz).strftime("%Y-%m-%d %H:%M"))
    return _page(request, "version.html", ctx)


@_pages.post("/versions/{number}/restore")
def restore(request: Request, number: int) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    service = _service(request)
    lang = _lang(request)
    t = catalog(lang)
    found = versions.version(service.store, service.office, number)
    if found is None:
        raise HTTPException(404, t["error_not_found"])
    try:
        config = parse_site_config(found.yaml, f"version {number}")
    except ConfigError as exc:
        return _import_page(request, account, found.yaml, [p for _, p in exc.problems], 422)
    problems = live.change_problems(service, config, _lang(request))
    if problems:
        return _import_page(request, account, found.yaml, problems, 409)
    saved = live.save_and_apply(_office_state(request), config, author=account.username,
                                comment=t["restored_from"].format(version=number), text=found.yaml)
    return RedirectResponse(f"{_base(request)}/versions?restored={saved.version}", status_code=303)


@_pages.get("/export.yaml")
def export(request: Request) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    service = _service(request)
    found = versions.latest(service.store, service.office)
    text = found.yaml if found is not None else versions.config_yaml(service.config)
    return Response(text, media_type="application/yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{service.office}.yaml"'})


def _import_page(request: Request, account: StaffAccount, text: str, problems: list[Problem],
                 status: int = 200, lines: list[int | None] | None = None) -> Response:
    lang = _lang(request)
    shown = [(lines[i] if lines else None, p.field, problem_text(lang, p)) for i, p in enumerate(problems)]
    ctx = _context(request, account, text=text, problems=shown, title=catalog(lang)["import"])
    return _page(request, "import.html", ctx, status)


@_pages.get("/import", response_class=HTMLResponse)
def import_page(request: Request) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    return _import_page(request, account, "", [])


@_pages.post("/import")
async def import_yaml(request: Request) -> Response:
    account = _admin(request)
    if isinstance(account, Response):
        return account
    form = await request.form()
    upload = form.get("file")
    text = str(form.get("yaml", ""))
    if upload is not None and not isinstance(upload, str):
        raw = await upload.read(MAX_YAML + 1)
        if raw:
            text = raw.decode("utf-8", errors="replace")
    text = text[:MAX_YAML]
    comment = str(form.get("__comment", "")).strip()[:500] or catalog(_lang(request))["imported"]
    try:
        config = parse_site_config(text, "import", complete_languages=True)
    except ConfigError as exc:
        if not exc.problems:  # not YAML at all
            return _import_page(request, account, text, [Problem((), "not_yaml", {}, str(exc))], 422)
        return _import_page(request, account, text, [p for _, p in exc.problems], 422,
                            lines=[line for line, _ in exc.problems])
    problems = live.change_problems(_service(request), config, _lang(request))
    if problems:
        return _import_page(request, account, text, problems, 409)
    saved = live.save_and_apply(_office_state(request), config, author=account.username, comment=comment, text=text)
    return RedirectResponse(f"{_base(request)}/versions?restored={saved.version}", status_code=303)


# --- staff -------------------------------------------------------------------------------------------

def _staff_page(request: Request, account: StaffAccount, *, errors: dict[str, str] | None = None,
                form: dict[str, str] | None = None, flash: str | None = None, status: int = 200) -> Response:
    service = _service(request)
    t = catalog(_lang(request))
    lang = _lang(request)
    services = getattr(request.app.state, "services", None) or {}
    # The office scope (issue 21) is offered only where there is a choice: a server that runs several offices.
    offices = [(oid, str(svc.config.office.names.get(lang))) for oid, svc in services.items()] \
        if len(services) > 1 else []
    ctx = _context(request, account, accounts=service.store.all_staff(), roles=auth.ROLES, errors=errors or {},
                   form=form or {}, flash=flash, title=t["section_staff"], offices=offices,
                   office_names=dict(offices))
    return _page(request, "staff.html", ctx, status)


@_pages.get("/staff", response_class=HTMLResponse)
def staff_page(request: Request) -> Response:
    account = _admin(request, every_office=True)
    if isinstance(account, Response):
        return account
    done = request.query_params.get("done")
    t = catalog(_lang(request))
    return _staff_page(request, account, flash=t[f"staff_done_{done}"] if done in STAFF_DONE else None)


STAFF_DONE = ("added", "role", "password", "pin", "lock", "unlock", "offices")


def _offices_ticked(request: Request, raw: list[str]) -> tuple[str, ...] | None:
    """The offices ticked on the form, of those this server runs; none ticked: every office."""
    served = getattr(request.app.state, "services", None) or {}
    ticked = tuple(o for o in dict.fromkeys(raw) if o in served)
    return ticked or None
# Which field of which form a refusal belongs beside.
_FIELD_OF = {"bad_username": "username", "account_exists": "username", "bad_role": "role",
             "weak_password": "password", "bad_pin": "pin", "no_secret": "password", "unknown_account": "username"}


@_pages.post("/staff/add")
async def staff_add(request: Request) -> Response:
    account = _admin(request, every_office=True)
    if isinstance(account, Response):
        return account
    posted = await request.form()
    form = {k: str(v) for k, v in posted.items()}
    t = catalog(_lang(request))
    try:
        staff.add(_service(request).store, username=form.get("username", "").strip().lower(),
                  role=form.get("role", ""), display_name=form.get("display_name", "").strip(),
                  password=form.get("password") or None, pin=form.get("pin", "").strip() or None, now=_now(request),
                  offices=_offices_ticked(request, [str(v) for v in posted.getlist("offices")]))
    except ServiceError as exc:
        errors = {f"add.{_FIELD_OF.get(exc.key, 'username')}": t[f"staff_error_{exc.key}"]}
        form.pop("password", None)  # never sent back into a page
        return _staff_page(request, account, errors=errors, form=form, status=422)
    return RedirectResponse(f"{_base(request)}/staff?done=added", status_code=303)


@_pages.post("/staff/{username}/{action}")
async def staff_change(request: Request, username: str, action: str) -> Response:
    account = _admin(request, every_office=True)
    if isinstance(account, Response):
        return account
    store = _service(request).store
    posted = await request.form()
    form = {k: str(v) for k, v in posted.items()}
    t = catalog(_lang(request))
    if action in ("lock", "role") and username == account.username:
        # An administrator never locks themselves out, nor demotes themselves, from this page.
        errors = {f"{username}.{action}": t["staff_error_self"]}
        return _staff_page(request, account, errors=errors, status=409)
    try:
        if action == "role":
            staff.set_role(store, username, form.get("role", ""))
        elif action == "password":
            staff.set_password(store, username, form.get("password", ""))
        elif action == "pin":
            staff.set_pin(store, username, form.get("pin", "").strip())
        elif action in ("lock", "unlock"):
            staff.set_active(store, username, action == "unlock")
        elif action == "offices":
            staff.set_offices(store, username, _offices_ticked(request, [str(v) for v in posted.getlist("offices")]))
        else:
            raise HTTPException(404, t["error_not_found"])
    except ServiceError as exc:
        errors = {f"{username}.{action}": t[f"staff_error_{exc.key}"]}
        return _staff_page(request, account, errors=errors, status=exc.status if exc.status != 404 else 404)
    return RedirectResponse(f"{_base(request)}/staff?done={action}", status_code=303)


router = APIRouter(tags=["admin"], include_in_schema=False)
router.include_router(_pages, prefix=BASE)
router.include_router(_pages, prefix=BASE + "/office/{office}")
