"""Member roles: the bit flags the Registry contract stores (contracts/src/Roles.sol), and their names."""

from __future__ import annotations

from enum import IntFlag


class Role(IntFlag):
    """Member role bit flags, as in Roles.sol (a contract test checks the two agree)."""

    PROVIDER = 1
    ALGORITHM_PROVIDER = 2
    BUYER = 4
    COMPUTE_NODE = 8
    REGULATOR = 16

    @property
    def label(self) -> str:
        """The role's name in the API and the logs: `provider`, `algorithm_provider`, ..."""
        return (self.name or "").lower()

    @property
    def cli_name(self) -> str:
        """The role's name on the command line: `provider`, `algorithm-provider`, ..."""
        return self.label.replace("_", "-")

    @classmethod
    def parse(cls, name: str) -> Role:
        """A role from its name, snake_case or the CLI's dashed spelling (`compute-node`)."""
        try:
            return cls[name.replace("-", "_").upper()]
        except KeyError:
            known = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown role {name!r} (known: {known})") from None


def role_names(mask: int) -> list[str]:
    """The names of the roles set in `mask`, lowest bit first."""
    return [r.label for r in Role if mask & r]
