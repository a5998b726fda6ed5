"""The algorithm contract: roles, public-parameter validation, deterministic compilation and hashing."""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from mpc_compute import spu_runtime

ALLOWED_DTYPES = ("float32", "float64", "int32", "int64")


class AlgorithmError(ValueError):
    """An algorithm was asked for with inputs or public parameters it does not accept."""


class UnknownAlgorithm(AlgorithmError):
    pass


class InvalidInputs(AlgorithmError):
    pass


class InvalidParams(AlgorithmError):
    pass


@dataclass(frozen=True)
class InputSpec:
    """A program input as the public knows it: name, shape, dtype (never its values)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def of(cls, spec: InputSpec | Sequence[Any]) -> InputSpec:
        if isinstance(spec, InputSpec):
            return spec
        name, shape, dtype = spec
        dtype_name = np.dtype(dtype).name
        if dtype_name not in ALLOWED_DTYPES:
            raise InvalidInputs(f"input {name!r}: dtype {dtype_name} not supported (use {ALLOWED_DTYPES})")
        return cls(str(name), tuple(int(d) for d in shape), dtype_name)


USES = ("aggregate", "feature", "join_key", "query", "model")


@dataclass(frozen=True)
class Role:
    """Who supplies an input and how the program uses it.

    `kind`: data (a dataset listing), query (a dataset listing the buyer owns) or model (the job's own
    algorithm listing's secret). `many` allows name_0, name_1, ... `use` is what a data-use policy
    checks each column against: `aggregate` (only inside released aggregates), `feature` (per-row values
    enter a score or a lookup answer), `join_key` (matched on, never released), `query` (the buyer's IDs),
    `model`.
    """

    name: str
    kind: str
    many: bool
    description: str
    optional: bool = False
    use: str = "aggregate"

    def __post_init__(self) -> None:
        if self.kind not in ("data", "query", "model") or self.use not in USES:
            raise ValueError(f"role {self.name!r}: kind {self.kind!r} / use {self.use!r} not known")


@dataclass(frozen=True)
class Build:
    """What an algorithm's builder returns: the jax function (positional inputs in spec order).

    `node_inputs`: secret inputs the compute nodes make themselves (differential-privacy noise, see
    mpc_compute/dp.py), passed to fn after the job's inputs; nobody outside the nodes supplies them.
    """

    fn: Callable[..., tuple[Any, ...]]
    output_names: tuple[str, ...]
    node_inputs: tuple[InputSpec, ...] = ()
    # outputs fn returns after output_names that the nodes keep and never seal to the receiver (the
    # cohort membership the differencing guard checks later jobs against: mpc_compute/guard.py)
    kept_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompiledProgram:
    """An SPU executable plus the runtime config it must run under; program_hash identifies both."""

    algorithm: str
    version: str
    executable: bytes
    config: bytes
    program_hash: bytes
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    kept_outputs: tuple[str, ...] = ()
    # (shape, dtype name) of each output, output_names then kept_outputs
    output_avals: tuple[tuple[tuple[int, ...], str], ...] = ()

    def verify(self) -> None:
        actual = spu_runtime.program_digest(self.executable, self.config)
        if actual != self.program_hash:
            raise AlgorithmError(
                f"program {self.algorithm}: executable and config hash to {actual.hex()[:16]}..., "
                f"not the stated {self.program_hash.hex()[:16]}..."
            )


@dataclass(frozen=True)
class Algorithm:
    """A versioned, documented program of the library. Public parameters are validated by `check_params`.

    code_hash = sha256("<name>@<version>\\0" + the source text of the algorithm's module): it changes
    whenever the program text changes, independent of shapes. What actually runs for a job is named by
    the program hash of its compiled IR.
    """

    name: str
    version: str
    description: str
    roles: tuple[Role, ...]
    outputs: tuple[str, ...]
    result_receiver: str
    params_doc: dict[str, str]
    check_params: Callable[[list[InputSpec], dict[str, Any]], dict[str, Any]]
    build: Callable[[list[InputSpec], dict[str, Any]], Build]
    module: ModuleType = field(repr=False)
    # the public parameter that floors every released group size (min_cohort, ...), if the algorithm has one
    group_floor_param: str | None = None
    # the differencing guard's names (mpc_compute/guard.py): the kept per-row cohort membership, the
    # release flag it gates and the flag that says the guard refused; None: the algorithm has no cohort
    cohort_output: str | None = None
    release_output: str | None = None
    guard_output: str | None = None
    # whether a job with given public parameters tells its receiver which of its IDs a table lacks
    # (each such table's policy must allow it: rule reveal-absence); None: never
    reveals_absence: Callable[[dict[str, Any]], bool] | None = None
    field_type: str = spu_runtime.DEFAULT_FIELD
    fxp_bits: int = spu_runtime.DEFAULT_FXP_BITS

    @property
    def code_hash(self) -> bytes:
        source = inspect.getsource(self.module)
        return hashlib.sha256(f"{self.name}@{self.version}\0".encode() + source.encode()).digest()

    @classmethod
    def from_module(cls, module: ModuleType) -> Algorithm:
        """An algorithm module declares NAME, VERSION, DESCRIPTION, ROLES, OUTPUTS, RECEIVER, PARAMS_DOC,
        check_params and build."""
        return cls(
            name=module.NAME,
            version=module.VERSION,
            description=module.DESCRIPTION,
            roles=module.ROLES,
            outputs=module.OUTPUTS,
            result_receiver=module.RECEIVER,
            params_doc=module.PARAMS_DOC,
            check_params=module.check_params,
            build=module.build,
            module=module,
            group_floor_param=getattr(module, "GROUP_FLOOR_PARAM", None),
            cohort_output=getattr(module, "COHORT_OUTPUT", None),
            release_output=getattr(module, "RELEASE_OUTPUT", None),
            guard_output=getattr(module, "GUARD_OUTPUT", None),
            reveals_absence=getattr(module, "reveals_absence", None),
        )

    def config(self):
        return spu_runtime.runtime_config(self.field_type, self.fxp_bits)

    def check_inputs(self, specs: list[InputSpec]) -> dict[str, list[InputSpec]]:
        """Group specs by role; names are `<role>` or, for roles with many providers, `<role>_<k>`."""
        grouped: dict[str, list[InputSpec]] = {r.name: [] for r in self.roles}
        seen: set[str] = set()
        for spec in specs:
            if spec.name in seen:
                raise InvalidInputs(f"{self.name}: input name {spec.name!r} given twice")
            seen.add(spec.name)
            role = next((r for r in self.roles if _matches(r, spec.name)), None)
            if role is None:
                expected = ", ".join(f"{r.name}_<k>" if r.many else r.name for r in self.roles)
                raise InvalidInputs(f"{self.name}: input {spec.name!r} fits no role (expected {expected})")
            grouped[role.name].append(spec)
        for role in self.roles:
            if not grouped[role.name] and not role.optional:
                raise InvalidInputs(f"{self.name}: no input for role {role.name!r} ({role.description})")
            if role.many:
                grouped[role.name].sort(key=lambda s: int(s.name.rsplit("_", 1)[1]))
        return grouped


def role_for(algorithm: Algorithm, input_name: str) -> Role | None:
    """The role an input name fills (`data_3` -> the `data` role), or None."""
    return next((r for r in algorithm.roles if _matches(r, input_name)), None)


def _matches(role: Role, name: str) -> bool:
    if role.many:
        return re.fullmatch(rf"{re.escape(role.name)}_(0|[1-9][0-9]{{0,3}})", name) is not None
    return name == role.name


def require(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidParams(message)


def only_keys(params: dict[str, Any], allowed: set[str], algorithm: str) -> None:
    unknown = sorted(set(params) - allowed)
    require(not unknown, f"{algorithm}: unknown parameters {unknown} (allowed: {sorted(allowed)})")
