"""A test wallet for the browser: `window.ethereum` (EIP-1193) answered by eth-account in this process.

The page never holds a key, as with a real wallet extension: it calls a function Playwright exposes, and
Python signs. Every request is recorded so tests can assert what the page asked the wallet to sign.
`eth_sendTransaction` is answered as MetaMask does: the wallet fills nonce, gas and fees from the chain RPC,
signs with its key and sends the raw transaction itself (`w3`: the wallet's own connection to the chain).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import Web3

SHIM = """
(() => {
  const listeners = {};
  window.ethereum = {
    isDxTestWallet: true,
    request: async ({ method, params }) => {
      const reply = await window.__dxWallet(method, params === undefined ? null : params);
      if (reply.error) {
        const err = new Error(reply.error.message);
        err.code = reply.error.code;
        throw err;
      }
      return reply.result;
    },
    on: (event, fn) => { (listeners[event] = listeners[event] || []).push(fn); },
    removeListener: (event, fn) => {
      listeners[event] = (listeners[event] || []).filter((f) => f !== fn);
    },
  };
  // Lets a test play the wallet's side of an event (an account switch, a disconnect).
  window.__dxWalletEmit = (event, data) => (listeners[event] || []).forEach((fn) => fn(data));
})();
"""


class WalletRejected(Exception):
    """The wallet refused a request (unknown method, wrong account)."""


@dataclass
class TestWallet:
    account: LocalAccount
    chain_id: int
    w3: Web3 | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def handle(self, method: str, params: Any) -> dict[str, Any]:
        self.calls.append((method, params))
        try:
            return {"result": self._answer(method, params or [])}
        except WalletRejected as exc:
            return {"error": {"code": 4100, "message": str(exc)}}

    def _answer(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.account.address]
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "personal_sign":
            data, address = params[0], params[1]
            self._check(address)
            return self.account.sign_message(encode_defunct(hexstr=data)).signature.to_0x_hex()
        if method == "eth_signTypedData_v4":
            address, payload = params[0], params[1]
            self._check(address)
            typed = json.loads(payload) if isinstance(payload, str) else payload
            return Account.sign_typed_data(self.account.key, full_message=typed).signature.to_0x_hex()
        if method == "eth_sendTransaction":
            return self._send(params[0])
        raise WalletRejected(f"the test wallet does not support {method}")

    def _send(self, asked: dict[str, Any]) -> str:
        if self.w3 is None:
            raise WalletRejected("this test wallet has no chain connection to send transactions through")
        self._check(str(asked.get("from", "")))
        tx: dict[str, Any] = {
            "from": self.account.address,
            "to": Web3.to_checksum_address(asked["to"]),
            "data": asked.get("data", "0x"),
            "value": int(asked.get("value", "0x0"), 16),
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            "gasPrice": self.w3.eth.gas_price,
        }
        try:
            tx["gas"] = int(asked["gas"], 16) if asked.get("gas") else self.w3.eth.estimate_gas(tx)
        except Exception:  # as a real wallet would, send anyway: the chain records the revert
            tx["gas"] = 3_000_000
        signed = self.account.sign_transaction(tx)
        return self.w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()

    def _check(self, address: str) -> None:
        if address.lower() != self.account.address.lower():
            raise WalletRejected(f"{address} is not this wallet's account {self.account.address}")

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]

    def install(self, page: Any) -> None:
        """Expose the signer and inject the EIP-1193 shim before any page script runs."""
        page.expose_function("__dxWallet", self.handle)
        page.add_init_script(SHIM)
