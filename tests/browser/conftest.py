"""Browser fixtures: Debian's headless Chromium driven by Playwright, and a console-only HTTP server."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from playwright.sync_api import sync_playwright
from sqlalchemy import Engine
from web3 import Web3

from contracts import Ledger, deploy
from contracts.tx import TxSender
from dx_core.roles import Role
from exchange_api.db import make_engine
from exchange_api.web import make_console_router
from tests.browser.a11y import a11y_problems
from tests.browser.wallet import TestWallet
from tests.fixtures.api import ApiServer, free_port, start_api_server

CHROMIUM = "/usr/bin/chromium"
# A page a test serves through interception (route.fulfill) has no address space, and Chromium's local network
# access checks would then block its calls to the loopback chain RPC: the tests turn those checks off.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessRespectPreflightResults,"
                 "BlockInsecurePrivateNetworkRequests"]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


class ThreadServer:
    """A uvicorn server on a free port in a background thread (for the console's static assets only)."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console test server did not start within 20 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One headless Chromium for the session (Debian's package; Playwright's download does not work here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def console_only_url() -> Iterator[str]:
    """The console's shell and assets served alone (no API behind it)."""
    app = FastAPI()
    app.include_router(make_console_router())
    with ThreadServer(app) as server:
        yield server.url


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def node_bin() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: Debian's nodejs runs the JS unit tests (node --test)")
    return node


@dataclass
class ConsoleStack:
    """The real API process (console mounted) on the session chain, with the suite's own deployment and
    database so that no other suite's members, listings or checkpoints show up (or are disturbed)."""

    server: ApiServer
    engine: Engine
    ledger: Ledger
    w3: Web3
    operator: LocalAccount

    @property
    def url(self) -> str:
        return self.server.url

    def fund(self, address: str, wei: int = 10**20) -> None:
        self.ledger.sender.send(self.operator, address, b"", wei, "transfer")


@pytest.fixture(scope="session")
def console_database_url(tmp_path_factory, postgres_cluster) -> str:  # type: ignore[no-untyped-def]
    """The console suite's own database (SQLite file, or PostgreSQL in CI's second pass)."""
    if postgres_cluster is not None:
        return postgres_cluster.create_database()
    return f"sqlite:///{tmp_path_factory.mktemp('console-db') / 'exchange.db'}"


@pytest.fixture(scope="session")
def console_stack(  # type: ignore[no-untyped-def]
    tmp_path_factory, console_database_url, chain, w3, dev_accounts
) -> Iterator[ConsoleStack]:

    operator, relayer = Account.create(), Account.create()
    sender = TxSender(w3)
    for account, eth in ((operator, 3000), (relayer, 100)):
        sender.send(dev_accounts[0], account.address, b"", eth * 10**18, "transfer")
    deployment = deploy(w3, operator)
    data_dir = tmp_path_factory.mktemp("console-stack")
    deployment_file = deployment.save(data_dir / "deployment.json")
    # The exchange's own app factory (it mounts the console), as a real uvicorn process.
    server = start_api_server(data_dir, console_database_url, rpc_url=chain.rpc_url,
                              deployment_file=deployment_file, relayer_key=relayer.key.to_0x_hex())
    engine = make_engine(console_database_url)
    try:
        yield ConsoleStack(server, engine, Ledger(w3, deployment), w3, operator)
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def page_for(chromium, console_stack, request):  # type: ignore[no-untyped-def]
    """`page_for(account)`: a fresh browser context whose test wallet holds `account`.

    At teardown each page's last state is saved as screenshots/last-<test>-<n>.png, for failures.
    """
    contexts = []

    def make(account: LocalAccount | None = None, width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
        context = chromium.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(45_000)  # generous: CI shares two cores with other suites
        wallet = None
        if account is not None:
            wallet = TestWallet(account, console_stack.w3.eth.chain_id, console_stack.w3)
            wallet.install(page)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors  # type: ignore[attr-defined]
        # Everything the page sends, so tests can show that no key ever leaves the wallet.
        sent: list[str] = []
        page.on("request", lambda req: sent.append(f"{req.url} {req.post_data or ''}"))
        page.sent = sent  # type: ignore[attr-defined]
        return page, wallet

    yield make
    for n, context in enumerate(contexts):
        for page in context.pages:
            try:
                shoot(page, f"last-{request.node.name}-{n}")
            except Exception:
                pass  # a page that cannot be drawn must not hide the test's own result
        context.close()


def shoot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a full-page screenshot to test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class Cast:
    """The members the browser scenarios act as, admitted on the session chain's Registry."""

    seller: LocalAccount
    algo_owner: LocalAccount
    buyer: LocalAccount
    regulator: LocalAccount
    nodes: list[LocalAccount]


@pytest.fixture(scope="session")
def cast(console_stack) -> Cast:  # type: ignore[no-untyped-def]
    """Fresh funded accounts admitted on the suite's Registry, and its compute cluster."""
    reg = console_stack.ledger.registry
    c = Cast(seller=Account.create(), algo_owner=Account.create(), buyer=Account.create(),
             regulator=Account.create(), nodes=[Account.create() for _ in range(3)])
    wanted = [(c.seller, Role.PROVIDER), (c.algo_owner, Role.ALGORITHM_PROVIDER), (c.buyer, Role.BUYER),
              (c.regulator, Role.REGULATOR), *((n, Role.COMPUTE_NODE) for n in c.nodes)]
    for account, role in wanted:
        console_stack.fund(account.address)
        reg.admit(console_stack.operator, account.address, role, os.urandom(32), "")
    reg.register_cluster(console_stack.operator, [n.address for n in c.nodes], "",
                         Web3.keccak(text="spu-config"), 10**14)
    return c


def wait_for(what: str, check, timeout: float = 45.0, every: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll `check()` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def check_page(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Screenshot the page, then fail on any accessibility problem it has (see tests/browser/a11y.py)."""
    path = shoot(page, name)
    problems = a11y_problems(page)
    assert problems == [], f"accessibility problems on {name}: {problems}"
    return path
