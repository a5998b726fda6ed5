"""The console router: shell on every page path, assets with the right types, nothing outside static/."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dx_core.settings import get_settings
from exchange_api.web import STATIC_DIR, make_console_router
from exchange_api.web.router import StaticPathError, resolve_static

pytestmark = pytest.mark.browser


@pytest.fixture
def client(monkeypatch, tmp_path) -> TestClient:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DX_RPC_URL", "http://127.0.0.1:8545")
    monkeypatch.setenv("DX_DEPLOYMENT_FILE", str(tmp_path / "deployment.json"))
    (tmp_path / "deployment.json").write_text('{"addresses": {"Notary": "0x' + "11" * 20 + '"}}')

    get_settings.cache_clear()
    app = FastAPI()
    app.include_router(make_console_router())
    yield TestClient(app)
    get_settings.cache_clear()


@pytest.mark.parametrize("path", ["../router.py", "../../dx_core/settings.py", "/etc/passwd",
                                  "pages/../../shell.html", "", "pages"])
def test_static_paths_cannot_leave_the_static_directory(path: str) -> None:
    with pytest.raises(StaticPathError):
        resolve_static(path)


def test_encoded_traversal_is_refused_over_http(client: TestClient) -> None:
    for raw in ("/console/static/%2e%2e/router.py", "/console/static/..%2frouter.py"):
        resp = client.get(raw)
        assert "make_console_router" not in resp.text
        assert resp.status_code in (404, 200) and (resp.status_code == 404 or "<main" in resp.text)


def test_pages_get_the_shell_with_chain_config_and_a_strict_csp(client: TestClient) -> None:
    for path in ("/console/", "/console/audit/jobs/7", "/console/datasets/3"):
        resp = client.get(path)
        assert resp.status_code == 200 and 'id="main"' in resp.text
        assert 'data-rpc-url="http://127.0.0.1:8545"' in resp.text
        assert 'data-notary="0x' + "11" * 20 + '"' in resp.text
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self' http://127.0.0.1:8545" in csp
        assert "unsafe-inline" not in csp
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"


def test_assets_are_served_with_their_types_and_no_external_urls(client: TestClient) -> None:
    js = client.get("/console/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/console/static/console.css").headers["content-type"].startswith("text/css")
    assert client.get("/console/static/nope.js").status_code == 404
    for asset in STATIC_DIR.rglob("*"):
        if asset.suffix in (".js", ".css", ".html"):
            text = asset.read_text()
            local = text.replace("http://www.w3.org/2000/svg", "")  # a namespace name, not a fetch
            assert "https://" not in local and "http://" not in local, asset


def test_contract_abis_are_served_for_the_pages_decoders(client: TestClient) -> None:
    resp = client.get("/console/abi/ComputeJobs.json")
    assert resp.status_code == 200
    assert any(x.get("type") == "event" and x.get("name") == "JobRequested" for x in resp.json())
    assert "content-security-policy" in resp.headers
    missing = client.get("/console/abi/Nope.json")
    assert missing.status_code == 404 and "ComputeJobs" in missing.text


def test_the_csp_lets_a_user_chosen_rpc_through_but_no_foreign_script(client: TestClient) -> None:
    csp = client.get("/console/audit").headers["content-security-policy"]
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    # The regulator's own RPC may live anywhere; scripts still come only from this origin.
    assert connect.endswith("http: https:")
    assert "script-src 'self';" in csp
