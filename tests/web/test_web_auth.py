"""Auth: a bind other than loopback is refused without a credential (settings, config and the
CLI); with a token or basic auth configured every request needs one (the page, the API, the live
stream, the crops), compared as configured; writes need a credential and then work."""
from __future__ import annotations

import base64
import subprocess
import sys

import httpx
import pytest

from alprd.config import ConfigError, parse_config
from alprd.web.settings import Credentials, WebError, check_bind, credentials
from conftest import Server, settings_for


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_a_non_loopback_bind_needs_a_credential(bind):
    with pytest.raises(WebError, match="not loopback"):
        check_bind(bind, Credentials())
    check_bind(bind, Credentials(token="t0ken"))
    check_bind(bind, Credentials(username="op", password="pw"))
    with pytest.raises(ConfigError, match="not loopback"):
        parse_config({"cameras": [{"id": "a", "url": "x.mp4"}], "web": {"bind": bind}})


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"])
def test_loopback_binds_are_open_to_reads(bind):
    check_bind(bind, Credentials())


def test_credentials_come_from_the_environment_or_a_file(tmp_path, monkeypatch):
    from alprd.config import WebConfig

    monkeypatch.setenv("ALPRD_WEB_TOKEN", "s3cret")
    assert credentials(WebConfig(token_env="ALPRD_WEB_TOKEN")).token == "s3cret"
    (tmp_path / "pw").write_text("hunter2\n")
    c = credentials(WebConfig(username="op", password_file=str(tmp_path / "pw")))
    assert (c.username, c.password) == ("op", "hunter2")
    with pytest.raises(WebError, match="ALPRD_NOT_SET is not set"):
        credentials(WebConfig(token_env="ALPRD_NOT_SET"))
    (tmp_path / "empty").write_text("")
    with pytest.raises(WebError, match="empty"):
        credentials(WebConfig(token_file=str(tmp_path / "empty")))


def test_alprd_web_refuses_an_open_bind_in_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cameras: [{id: a, url: x.mp4}]\nstorage: {state_dir: %s}\n" % tmp_path)
    r = subprocess.run([sys.executable, "-m", "alprd", "web", "-c", str(cfg), "--bind", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("alprd web: web.bind 0.0.0.0 is not loopback")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


@pytest.fixture(scope="module")
def guarded(history):
    s = Server(settings_for(history.state_dir, history.url,
                            creds=Credentials(token="t0ken-x", username="op", password="pässword")))
    yield s
    s.close()


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/events", "/api/cameras", "/openapi.json",
                                  "/api/lists", "/api/live"])
def test_every_route_needs_the_credential(guarded, path):
    r = httpx.get(guarded.url + path, timeout=60)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    for bad in ("Bearer wrong", "Bearer", "Bearer t0ken-", _basic("op", "password"), _basic("other", "pässword"),
                "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest t0ken-x"):
        assert httpx.get(guarded.url + path, headers={"Authorization": bad}, timeout=60).status_code == 401, bad


def test_the_right_credential_is_let_in(guarded, history):
    for good in ("Bearer t0ken-x", _basic("op", "pässword"), _basic("anyone", "t0ken-x")):
        r = httpx.get(guarded.url + "/api/events", headers={"Authorization": good}, timeout=60)
        assert r.status_code == 200 and len(r.json()["events"]) == 12
    ev = history.finals[0]
    assert httpx.get(f"{guarded.url}/api/events/{ev.event_id}/crop", timeout=60).status_code == 401
    assert httpx.get(f"{guarded.url}/api/events/{ev.event_id}/crop",
                     headers={"Authorization": "Bearer t0ken-x"}, timeout=60).status_code == 200


def test_writes_with_a_credential(guarded, history):
    from alprd.parking.lists import create_list
    from alprd.sinks.db_url import make_engine

    engine = make_engine(history.url)
    create_list(engine, "staff", "allow")
    engine.dispose()
    auth = {"Authorization": "Bearer t0ken-x"}
    r = httpx.post(guarded.url + "/api/lists/staff/entries", json={"plate": "粤b12345", "label": "Li"}, timeout=60)
    assert r.status_code == 401
    r = httpx.post(guarded.url + "/api/lists/staff/entries", json={"plate": "粤b12345", "label": "Li"},
                   headers=auth, timeout=60)
    assert r.status_code == 201 and r.json()["plate"] == "粤B12345"
    lists = httpx.get(guarded.url + "/api/lists", headers=auth, timeout=60).json()["lists"]
    assert [(x["name"], [e["plate"] for e in x["entries"]]) for x in lists] == [("staff", ["粤B12345"])]
    assert httpx.post(guarded.url + "/api/lists/nope/entries", json={"plate": "A1"}, headers=auth,
                      timeout=60).status_code == 404
    assert httpx.post(guarded.url + "/api/lists/staff/entries", json={"plate": ""}, headers=auth,
                      timeout=60).status_code == 422
    assert httpx.delete(guarded.url + "/api/lists/staff/entries/粤B12345", headers=auth, timeout=60).status_code == 200
    r = httpx.delete(guarded.url + "/api/lists/staff/entries/粤B12345", headers=auth, timeout=60)
    assert r.status_code == 400 and "has no plate" in r.json()["detail"]
