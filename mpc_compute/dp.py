"""Differential privacy for released aggregates: distributed Laplace noise that no single node knows.

Neighbouring datasets differ by one row added or removed (unbounded DP). A job with `dp_epsilon` = ε > 0
releases, per released statistic s, value_s + b_s * (u_0 + u_1 + u_2), where b_s = Δ_s / ε_s and u_r is
the unit noise node r draws itself (below), shares inside MPC and never sees again in the clear.

Sensitivities (L1, one row added or removed):
- count: 1.
- sum of a column whose values are clipped to the declared [lo, hi] (`dp_bounds`): max(|lo|, |hi|),
  plus 2^-18, since SPU encodes the public bounds with 18 fraction bits and clips to the encoded value.
- mean: released as noisy sum / max(noisy count, 1): post-processing of two released statistics, no
  budget of its own.
- histogram of one column (bins [e_j, e_j+1)): one row moves one bin by 1, so the whole histogram has
  L1 sensitivity 1 and costs one ε_s, whatever its number of bins.
Variance (and anything else not listed) is not released under DP: the program drops it from its outputs.

Split (sequential composition): a job releasing the count, the sum of each of its c columns and h
histograms spends ε = ε_s * (1 + c + h): every statistic gets ε_s = ε / (1 + c + h). `plan` computes it.

Noise: node r draws u_r = g1 - g2 per statistic, g1, g2 ~ Gamma(shape 1/2, scale 1), from numpy's
PCG64 seeded with 256 bits of os.urandom (`node_rng`; a fixed seed only in tests). Gamma shapes add, so:
- any two nodes' draws sum to Gamma(1) - Gamma(1) = Laplace(1). One curious node knows its own u_r; to it
  the release is value + b * u_r + b * Laplace(1), and adding a known constant is post-processing, so
  the release is ε_s-DP against that node (and against the buyer in league with it: it learns the
  output, not the other nodes' noise). Two colluding nodes break ABY3 anyway: they hold the inputs.
  A node that skips or biases its own draw (it sees no data, so its choice is independent of the
  others' noise) still leaves the other two nodes' Laplace(b): it can spoil the accuracy, not the ε_s.
- the buyer sees b * (u_0 + u_1 + u_2) = b * (Gamma(3/2) - Gamma(3/2)), which is Laplace(b) plus the
  independent noise b * u_r of one node, so at least ε_s-DP. Its density is |z| K_1(|z|) / pi for
  b = 1 (K_1 the modified Bessel function), variance 3 b^2 (each u_r has variance 1):
  `released_noise_cdf` integrates it.

How the noise enters MPC: the program has three extra secret inputs `dp_noise/<r>/<length>` (a 1-D
float64 vector, node r's draws for every statistic in the order count, sums, histogram bins). Their
shape lives in the name, so the program hash binds it. `party.run_party` makes node r sample its vector
after the program agreement, secret-share it, keep its share, send the others theirs over the job's
SPU link (TLS when the cluster uses it), and overwrite the plaintext. Providers and buyers supply no
noise, and a supplied `dp_noise/...` input is refused as unexpected.

What DP does NOT cover here:
- fixed-point rounding: the noise is shared on SPU's grid of 2^-18 and scaled by b through truncating
  products, so the released value lives on a grid that depends a little on the exact value (the
  floating-point attack on naive Laplace noise, Mironov 2012, in fixed point). The guarantee above is
  for the continuous mechanism; a receiver rounding the release does not restore it.
- the minimum-cohort (k) refusal and each histogram bin's suppression are decided on the EXACT counts:
  the released bit and the suppression flags are deterministic functions of the data, outside ε.
- the noise scale limit: b * |u| must stay below 2^27 inside the ring (fixed_point's product limit),
  so `plan` refuses any b above MAX_NOISE_SCALE (|u| < 40 but for probability ~e^-38).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NOISE_PREFIX = "dp_noise/"
NOISE_DTYPE = "float64"
WORLD_SIZE = 3
# b * 40 < 2^26 keeps every noise product (and its intermediate) under the ring's 2^27 product limit
MAX_NOISE_SCALE = 2.0**26 / 40
# SPU's encoding error of a public constant (18 fraction bits): the clip bound may exceed the declared one
BOUND_SLACK = 2.0**-18
_CDF_RANGE = 60.0
_NOISE_NAME = re.compile(r"dp_noise/([0-9])/([1-9][0-9]{0,6})")


class DpError(ValueError):
    """A differential-privacy request cannot be met (bounds, ε, noise scale)."""


def noise_input_name(rank: int, length: int) -> str:
    """The program input holding node `rank`'s unit noise vector of `length` draws."""
    return f"{NOISE_PREFIX}{rank}/{length}"


def noise_input_names(length: int) -> tuple[str, ...]:
    return tuple(noise_input_name(r, length) for r in range(WORLD_SIZE))


def parse_noise_input(name: str) -> tuple[int, int] | None:
    """(rank, length) if `name` is a node-noise input, else None."""
    m = _NOISE_NAME.fullmatch(name)
    return None if m is None else (int(m.group(1)), int(m.group(2)))


def is_noise_input(name: str) -> bool:
    return name.startswith(NOISE_PREFIX)


def node_rng(seed: int | None = None, rank: int = 0) -> np.random.Generator:
    """A generator seeded from 256 bits of os.urandom; `seed` (tests only) makes it reproducible per rank."""
    if seed is None:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int.from_bytes(os.urandom(32)))))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(rank)])))


def sample_unit_noise(length: int, rng: np.random.Generator) -> np.ndarray:
    """One node's draws: Gamma(1/2, 1) - Gamma(1/2, 1), `length` of them (float64)."""
    return rng.gamma(0.5, 1.0, length) - rng.gamma(0.5, 1.0, length)


@dataclass(frozen=True)
class DpPlan:
    """How a joint_stats job's ε is spent: one ε_s per statistic and each statistic's noise scale b."""

    epsilon: float
    epsilon_per_statistic: float
    count_scale: float
    sum_scales: tuple[float, ...]
    hist_scale: float
    hist_bins: int
    bounds: tuple[tuple[float, float], ...]

    @property
    def noise_length(self) -> int:
        return 1 + len(self.sum_scales) + self.hist_bins

    def describe(self) -> dict:
        return {
            "epsilon": self.epsilon,
            "epsilon_per_statistic": self.epsilon_per_statistic,
            "count_scale": self.count_scale,
            "sum_scales": list(self.sum_scales),
            "hist_scale": self.hist_scale,
        }


def plan(epsilon: float, bounds: Sequence[tuple[float, float]], hist_bins: Sequence[int]) -> DpPlan:
    """The split of ε over the count, a sum per column (bounds[j]) and a histogram per hist_bins entry."""
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise DpError(f"dp_epsilon must be a finite number > 0, got {epsilon!r}")
    parts = 1 + len(bounds) + len(hist_bins)
    eps_s = float(epsilon) / parts
    sum_scales = []
    for j, (lo, hi) in enumerate(bounds):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise DpError(f"dp_bounds for column {j} must be finite with lo < hi, got [{lo}, {hi}]")
        sum_scales.append((max(abs(lo), abs(hi)) + BOUND_SLACK) / eps_s)
    scales = {"count": 1.0 / eps_s, **{f"sum of column {j}": s for j, s in enumerate(sum_scales)}}
    for what, b in scales.items():
        if b > MAX_NOISE_SCALE:
            raise DpError(
                f"noise scale b = {b:.4g} for the {what} exceeds {MAX_NOISE_SCALE:.4g} (the ring's product "
                f"limit): raise dp_epsilon (ε per statistic is {eps_s:.4g}) or narrow dp_bounds"
            )
    return DpPlan(
        epsilon=float(epsilon),
        epsilon_per_statistic=eps_s,
        count_scale=1.0 / eps_s,
        sum_scales=tuple(sum_scales),
        hist_scale=1.0 / eps_s,
        hist_bins=int(sum(hist_bins)),
        bounds=tuple((float(lo), float(hi)) for lo, hi in bounds),
    )


def released_noise_pdf(z: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Density of scale * (Gamma(3/2) - Gamma(3/2)): |z/b| K_1(|z/b|) / (pi b), 1/(pi b) at 0."""
    from scipy.special import k1

    t = np.abs(np.asarray(z, dtype=np.float64)) / scale
    with np.errstate(invalid="ignore"):
        dens = np.where(t > 0, t * k1(np.maximum(t, 1e-300)), 1.0) / (math.pi * scale)
    return dens


def released_noise_cdf(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """CDF of the released noise scale * (u_0 + u_1 + u_2): its density summed on a 1e-3 grid (to 1e-7)."""
    grid = np.linspace(0.0, _CDF_RANGE, int(_CDF_RANGE * 1000) + 1)
    dens = released_noise_pdf(grid)
    half = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) * 0.5 * np.diff(grid))])
    t = np.asarray(x, dtype=np.float64) / scale
    # past 60 the remaining mass is below e^-58: the grid's last value stands for 1/2
    return np.clip(0.5 + np.sign(t) * np.interp(np.abs(t), grid, half), 0.0, 1.0)


def released_noise_variance(scale: float) -> float:
    """Var(b * (u_0 + u_1 + u_2)) = 3 b^2 (each node's u has variance 2 * (1/2) = 1)."""
    return 3.0 * scale * scale
