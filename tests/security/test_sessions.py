"""Sessions: a logout counts on every process at once, another office's server refuses a token,
idle sessions end (issue 23)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.server.security import sessions
from tests.security.conftest import login
from tests.server.helpers import Clock

ME = "/api/v1/auth/me"


def test_a_token_logged_out_on_one_process_is_refused_by_another_at_once(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app()) as first, TestClient(make_app()) as second:
        token = login(first, "olena")
        assert second.get(ME, headers=token).status_code == 200  # the second process has seen it in use
        assert first.post("/api/v1/auth/logout", headers=token).status_code == 204
        r = second.get(ME, headers=token)
        assert r.status_code == 401 and r.json()["key"] == "bad_token"


def test_a_token_of_one_offices_server_never_works_on_another_offices_server(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app("demo")) as kyiv, TestClient(make_app("lviv")) as lviv:
        token = login(kyiv, "olena")
        assert kyiv.get(ME, headers=token).status_code == 200
        assert lviv.get(ME, headers=token).status_code == 401
        assert lviv.post("/api/v1/offices/lviv/counters/c1/sign-in", headers=token).status_code == 401


def test_an_idle_session_ends_and_a_used_one_lives_until_its_last_hour(client: TestClient, clock: Clock) -> None:
    idle, busy = login(client, "olena"), login(client, "petro")
    step = sessions.IDLE_TTL.total_seconds() * 0.75
    for _ in range(int(sessions.TOKEN_TTL.total_seconds() // step) - 1):
        clock.advance(step)
        assert client.get(ME, headers=busy).status_code == 200
    assert client.get(ME, headers=idle).status_code == 401  # not used for longer than IDLE_TTL
    clock.advance(sessions.TOKEN_TTL.total_seconds())
    assert client.get(ME, headers=busy).status_code == 401  # past its absolute expiry, however busy


def test_the_panel_cookie_is_refused_after_signing_out_elsewhere(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app()) as first, TestClient(make_app()) as second:
        r = first.post("/panel/signin", data={"username": "maria", "password": "correct-horse-1", "counter": "none"},
                       follow_redirects=False)
        assert r.status_code == 303
        cookie = r.cookies["cherga_panel"]
        second.cookies.set("cherga_panel", cookie, path="/panel")
        assert second.get("/panel/manager", follow_redirects=False).status_code == 200
        first.post("/panel/signout", follow_redirects=False)
        assert second.get("/panel/manager", follow_redirects=False).status_code == 303  # back to sign-in
