"""Sign-in throttling per account, per address and per counter; the same work for unknown names;
bounded argon2 work (issue 23)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import CounterAction
from cherga.server import auth
from cherga.server.errors import ServiceError
from cherga.server.security import hashing, throttle
from cherga.server.store import Store
from tests.security.conftest import PASSWORD, new_id
from tests.server.helpers import Clock

LOGIN = "/api/v1/auth/login"


def _wrong(client: TestClient, user: str, times: int) -> list[int]:
    return [client.post(LOGIN, json={"username": user, "password": f"wrong-{i}-pass"}).status_code
            for i in range(times)]


def test_wrong_passwords_lock_the_account_and_then_the_right_password_is_refused_too(client: TestClient) -> None:
    codes = _wrong(client, "olena", throttle.USER_FREE + 3)
    assert codes[:throttle.USER_FREE] == [401] * throttle.USER_FREE
    assert 429 in codes  # locked before the last wrong try
    r = client.post(LOGIN, json={"username": "olena", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["key"] == "too_many_attempts"
    assert int(r.headers["Retry-After"]) >= 30


def test_the_lock_ends_after_its_time_and_grows_with_each_new_failure(client: TestClient, clock: Clock) -> None:
    _wrong(client, "olena", throttle.USER_FREE + 1)  # the first lock: 30 s
    first = client.post(LOGIN, json={"username": "olena", "password": PASSWORD})
    assert first.status_code == 429
    clock.advance(31)
    _wrong(client, "olena", 1)  # one more failure: a longer lock
    second = client.post(LOGIN, json={"username": "olena", "password": PASSWORD})
    assert second.status_code == 429 and int(second.headers["Retry-After"]) > int(first.headers["Retry-After"])
    clock.advance(throttle.MAX_LOCK.total_seconds() + 1)
    assert client.post(LOGIN, json={"username": "olena", "password": PASSWORD}).status_code == 200
    # A good sign-in forgets the account's failures: the next wrong password is not locked at once.
    assert _wrong(client, "olena", 1) == [401]


def test_one_address_guessing_many_names_is_locked_for_every_name(client: TestClient) -> None:
    codes = [client.post(LOGIN, json={"username": f"guess{i}", "password": "wrong-pass"}).status_code
             for i in range(throttle.ADDR_FREE + 2)]
    assert codes[-1] == 429
    # The address is locked: even a real account with its right password is refused from there.
    assert client.post(LOGIN, json={"username": "petro", "password": PASSWORD}).status_code == 429


def test_a_lock_is_seen_by_every_server_process_on_the_database(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app()) as first, TestClient(make_app()) as second:
        _wrong(first, "olena", throttle.USER_FREE + 1)
        assert second.post(LOGIN, json={"username": "olena", "password": PASSWORD}).status_code == 429


def test_an_unknown_name_costs_the_same_argon2_work_and_gets_the_same_answer(client: TestClient) -> None:
    before = hashing.stats["runs"]
    known = client.post(LOGIN, json={"username": "olena", "password": "wrong-password"})
    after_known = hashing.stats["runs"]
    unknown = client.post(LOGIN, json={"username": "nobody-here", "password": "wrong-password"})
    after_unknown = hashing.stats["runs"]
    assert after_known - before == 1 and after_unknown - after_known == 1
    assert known.status_code == unknown.status_code == 401 and known.json() == unknown.json()


def test_a_locked_person_reads_why_in_their_language_on_the_panel_and_the_reports(client: TestClient) -> None:
    _wrong(client, "olena", throttle.USER_FREE + 1)
    panel = client.post("/panel/signin", data={"username": "olena", "password": PASSWORD, "counter": "c1",
                                               "lang": "ky"})
    assert panel.status_code == 429 and "бөгөттөлдү" in panel.text and "cherga_panel" not in panel.cookies
    reports = client.post("/reports/signin?lang=uk", data={"username": "olena", "password": PASSWORD})
    assert reports.status_code == 429 and "вхід заблоковано" in reports.text


def test_wrong_pins_at_a_pad_lock_pin_sign_in_at_that_counter_only(app: FastAPI, store: Store) -> None:
    svc = app.state.service

    def pin_sign_in(counter: str, pin: str) -> str:
        try:
            svc.counter_action(command_id=new_id(), counter=counter, action=CounterAction.SIGN_IN,
                               source=f"pad:{counter}", pin=pin)
        except ServiceError as exc:
            return exc.key
        return "ok"

    answers = [pin_sign_in("c3", f"90{i:02d}") for i in range(throttle.PIN_FREE + 1)]
    assert answers[:throttle.PIN_FREE] == ["bad_pin"] * throttle.PIN_FREE
    assert pin_sign_in("c3", "4711") == "too_many_attempts"  # olena's right PIN, refused while locked
    assert svc.counter_state("c3").operator is None
    assert pin_sign_in("c4", "4711") == "ok"  # another counter's pad is not locked


def test_forty_parallel_sign_ins_hash_on_a_pool_no_bigger_than_the_cpus(store: Store, clock: Clock) -> None:
    import threading

    seen: set[str] = set()
    original = auth.verify_secret

    def spy(hashed: str | None, secret: str) -> bool:
        seen.add(threading.current_thread().name)
        return original(hashed, secret)

    auth.verify_secret = spy  # type: ignore[assignment]  # records which threads hash; the work is real
    try:
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                auth.login(store, f"user{i}", "wrong-password", clock(), address=f"10.0.0.{i}")
            except ServiceError:
                pass
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        auth.verify_secret = original  # type: ignore[assignment]
    assert not errors
    assert seen and all(name.startswith("cherga-argon2") for name in seen) and len(seen) <= hashing.WORKERS


@pytest.mark.parametrize("free", [throttle.USER_FREE])
def test_lock_times_grow_and_stop_at_the_ceiling(free: int) -> None:
    waits = [throttle.lock_seconds(n, free) for n in range(free, free + 12)]
    assert waits[0] == 0 and waits[1] == 30 and waits[2] == 60 and waits[-1] == throttle.MAX_LOCK.total_seconds()
    assert waits == sorted(waits)


def test_locks_and_sessions_work_the_same_on_both_databases(any_store: Store, clock: Clock) -> None:
    from cherga.server.security import sessions

    auth.create_account(any_store, username="olena", role="operator", password=PASSWORD, now=clock())
    for _ in range(throttle.USER_FREE):
        assert throttle.failed(any_store, "olena", "10.1.1.1", clock()) is None
    until = throttle.failed(any_store, "olena", "10.1.1.1", clock())
    assert until is not None and (until - clock()).total_seconds() == 30
    with pytest.raises(throttle.TooManyAttempts):
        auth.login(any_store, "olena", PASSWORD, clock(), address="10.9.9.9")  # the account is locked
    throttle.succeeded(any_store, "olena")
    token, _, _ = auth.login(any_store, "olena", PASSWORD, clock(), address="10.9.9.9", office="demo")
    assert sessions.lookup(any_store, token, clock(), "demo") is not None
    assert sessions.lookup(any_store, token, clock(), "lviv") is None
