"""Kubernetes resource quantities ("500m", "1.5", "512Mi", "2G") to numbers and back, through the
kubernetes client's own parser and formatter; the errors read as the apiserver words them."""

from __future__ import annotations

from decimal import Decimal

from kubernetes.utils.quantity import format_quantity, parse_quantity

_BINARY = (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def parse(quantity: str | int | float) -> float:
    """Raises ValueError with the quantity in the message when it is not one."""
    try:
        value = parse_quantity(quantity)
    except ValueError:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {quantity!r}") from None
    if value < 0:
        raise ValueError(f"quantities must be non-negative: {quantity!r}")
    return float(value)


def cpu(value: float) -> str:
    """Whole cores as "2", anything else in millicores ("500m", "1500m")."""
    if value >= 1 and value == int(value):
        return format_quantity(Decimal(int(value)), "")
    return format_quantity(Decimal(repr(value)), "m", quantize=Decimal(1))


def memory(value: float) -> str:
    """The largest binary suffix that divides the bytes exactly, else plain bytes."""
    for suffix, unit in _BINARY:
        if value >= unit and value % unit == 0:
            return format_quantity(Decimal(int(value)), suffix)
    return format_quantity(Decimal(int(value)), "")
