"""Mass balance and stone conservation of one transformation: the rules and their tolerances."""

from __future__ import annotations

from decimal import Decimal

CARAT = Decimal("0.001")
# The finest step of a diamond scale: outputs may exceed inputs by this much, no more.
SCALE_RESOLUTION = Decimal("0.001")
# Losses above the larger of these need a reason (weighing and cleaning losses are normal).
LOSS_SHARE = Decimal("0.005")
LOSS_FLOOR = Decimal("0.02")


def loss_tolerance(inputs: Decimal) -> Decimal:
    """max(0.5 % of the input, 0.02 ct): a loss up to this needs no reason."""
    return max((inputs * LOSS_SHARE).quantize(CARAT), LOSS_FLOOR)


def carats_problem(inputs: Decimal, outputs: Decimal, reason: str | None) -> tuple[str, str] | None:
    """(field, why) when outputs outweigh inputs, or a loss beyond tolerance has no reason."""
    if outputs > inputs + SCALE_RESOLUTION:
        return (
            "outputs",
            f"outputs weigh {outputs} ct, more than the {inputs} ct that went in "
            f"(scale resolution {SCALE_RESOLUTION} ct)",
        )
    loss = inputs - outputs
    if loss > loss_tolerance(inputs) and not (reason and reason.strip()):
        return (
            "reason",
            f"a loss of {loss} ct is above the tolerance of {loss_tolerance(inputs)} ct "
            "(max 0.5 %, 0.02 ct); give the reason",
        )
    return None


def stones_problem(
    inputs: int, outputs: int, breakage_declared: bool, reason: str | None
) -> tuple[str, str] | None:
    """(field, why) when stone counts change without declared, reasoned breakage."""
    if inputs == outputs:
        return None
    if not breakage_declared:
        return (
            "outputs",
            f"outputs hold {outputs} stones, inputs {inputs}; stone counts are conserved "
            "unless breakage_declared is true",
        )
    if not (reason and reason.strip()):
        return ("reason", "declared breakage needs a reason")
    return None
