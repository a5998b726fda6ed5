"""Expected failures of the CLI: each carries a one-line message and what the user can do about it."""

from __future__ import annotations


class DxError(Exception):
    """An expected failure, shown as one red line plus a hint, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, "message": self.message, "hint": self.hint}


class InputError(DxError):
    """A bad argument, file or value given on the command line."""

    exit_code = 2


class ConfigError(DxError):
    """Settings or local state (data dir, deployment file, keystore) that cannot be used."""


class StackError(DxError):
    """A local service that is not running, does not start, or does not become healthy."""

    exit_code = 3


class RemoteError(DxError):
    """The exchange API, the chain or a compute node refused or failed a request."""

    exit_code = 5


class VerificationError(DxError):
    """An audit check that failed: the trail does not verify."""

    exit_code = 6
