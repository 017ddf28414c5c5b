"""Footprint statistics: a G-test of a parcel's size-class counts against a profile, p-value.

The KP Working Group of Diamond Experts compares a parcel's size-frequency distribution with
the known production profile of the area it claims to come from. Here that comparison is a
likelihood-ratio (G) goodness-of-fit test: G = 2 Σ O ln(O / E), with E the parcel's stones
spread over the profile's class shares; G follows a chi-square law with (classes - 1) degrees
of freedom when the parcel is drawn from the profile. Classes whose expected count is under
MIN_EXPECTED are pooled with their neighbour first, so the chi-square approximation holds.
Pure maths: no I/O, no imports of the application.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class GTest:
    statistic: float
    dof: int
    p_value: float
    stones: int
    classes: int  # after pooling


def chi2_sf(x: float, dof: int) -> float:
    """P(X ≥ x) for X ~ chi-square(dof): the regularized upper incomplete gamma Q(dof/2, x/2)."""
    if dof <= 0:
        return 1.0
    if x <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    gln = math.lgamma(a)
    if x < a + 1.0:
        # series for P(a, x), Q = 1 - P
        term = 1.0 / a
        total = term
        ap = a
        for _ in range(1000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - gln))
    # continued fraction for Q(a, x) (modified Lentz)
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - gln) * h)


def pooled(observed: Sequence[float], expected: Sequence[float]) -> tuple[list[float], list[float]]:
    """Merge adjacent classes (in the given order) until each expected count is ≥ MIN_EXPECTED."""
    obs_out: list[float] = []
    exp_out: list[float] = []
    o_acc = e_acc = 0.0
    for o, e in zip(observed, expected, strict=True):
        o_acc += o
        e_acc += e
        if e_acc >= MIN_EXPECTED:
            obs_out.append(o_acc)
            exp_out.append(e_acc)
            o_acc = e_acc = 0.0
    if e_acc > 0 or o_acc > 0:
        if exp_out:
            obs_out[-1] += o_acc
            exp_out[-1] += e_acc
        else:
            obs_out.append(o_acc)
            exp_out.append(e_acc)
    return obs_out, exp_out


def g_test(
    counts: Mapping[str, int],
    shares: Mapping[str, float],
    order: Sequence[str],
    reference_stones: int | None = None,
) -> GTest:
    """G-test of `counts` (stones per class) against the profile's class `shares`.

    `order` lists the classes from smallest to largest stones, so pooling merges neighbours.
    With `reference_stones` (the profile's own sample size) it is the two-sample test of
    homogeneity, which allows for the profile's own sampling noise; without it the profile's
    shares are taken as exact. A class the profile has never seen gets a tiny share (1e-6).
    """
    if reference_stones is not None and reference_stones > 0:
        return _homogeneity(counts, shares, order, reference_stones)
    names = list(order) + sorted(k for k in set(counts) | set(shares) if k not in order)
    n = sum(counts.get(k, 0) for k in names)
    total_share = sum(max(shares.get(k, 0.0), 0.0) for k in names)
    if n == 0 or total_share <= 0:
        return GTest(0.0, 0, 1.0, n, 0)
    probs = [max(shares.get(k, 0.0) / total_share, 1e-6) for k in names]
    norm = sum(probs)
    expected = [n * p / norm for p in probs]
    observed = [float(counts.get(k, 0)) for k in names]
    obs, exp = pooled(observed, expected)
    g = 2.0 * sum(o * math.log(o / e) for o, e in zip(obs, exp, strict=True) if o > 0)
    dof = len(obs) - 1
    return GTest(g, dof, chi2_sf(g, dof), n, len(obs))


def mixture(
    profiles: Sequence[tuple[Mapping[str, float], float]],
) -> dict[str, float]:
    """Class shares of a blend of profiles, each (shares, weight)."""
    out: dict[str, float] = {}
    total = sum(w for _, w in profiles)
    if total <= 0:
        return out
    for shares, weight in profiles:
        s = sum(shares.values())
        if s <= 0:
            continue
        for k, v in shares.items():
            out[k] = out.get(k, 0.0) + (v / s) * (weight / total)
    return out


def _homogeneity(
    counts: Mapping[str, int], shares: Mapping[str, float], order: Sequence[str], m: int
) -> GTest:
    names = list(order) + sorted(k for k in set(counts) | set(shares) if k not in order)
    total_share = sum(max(shares.get(k, 0.0), 0.0) for k in names)
    n = sum(counts.get(k, 0) for k in names)
    if n == 0 or total_share <= 0:
        return GTest(0.0, 0, 1.0, n, 0)
    a = [float(counts.get(k, 0)) for k in names]
    b = [m * max(shares.get(k, 0.0), 0.0) / total_share for k in names]
    col_tot = [x + y for x, y in zip(a, b, strict=True)]
    grand = n + float(m)
    # expected counts of the parcel row; pool neighbours until both rows expect >= MIN_EXPECTED
    ea = [c * n / grand for c in col_tot]
    eb = [c * m / grand for c in col_tot]
    pa: list[float] = []
    pb: list[float] = []
    qa: list[float] = []
    qb: list[float] = []
    acc = [0.0, 0.0, 0.0, 0.0]
    for x, y, ex, ey in zip(a, b, ea, eb, strict=True):
        acc = [acc[0] + x, acc[1] + y, acc[2] + ex, acc[3] + ey]
        if min(acc[2], acc[3]) >= MIN_EXPECTED:
            pa.append(acc[0])
            pb.append(acc[1])
            qa.append(acc[2])
            qb.append(acc[3])
            acc = [0.0, 0.0, 0.0, 0.0]
    if any(acc):
        if pa:
            pa[-1] += acc[0]
            pb[-1] += acc[1]
            qa[-1] += acc[2]
            qb[-1] += acc[3]
        else:
            pa, pb, qa, qb = [acc[0]], [acc[1]], [acc[2]], [acc[3]]
    g = 0.0
    for obs, exp in ((pa, qa), (pb, qb)):
        g += 2.0 * sum(o * math.log(o / e) for o, e in zip(obs, exp, strict=True) if o > 0)
    dof = len(pa) - 1
    return GTest(g, dof, chi2_sf(g, dof), n, len(pa))
