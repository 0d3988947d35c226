"""Kubernetes resource quantities ("500m", "1.5", "512Mi", "2G") to numbers and back."""

from __future__ import annotations

import re

_SUFFIX = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}
_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def parse(quantity: str | int | float) -> float:
    """Raises ValueError with the quantity in the message when it is not one."""
    if isinstance(quantity, int | float):
        if quantity < 0:
            raise ValueError(f"quantities must be non-negative: {quantity!r}")
        return float(quantity)
    m = _RE.match(str(quantity).strip())
    if not m:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {quantity!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


def cpu(value: float) -> str:
    return f"{round(value * 1000)}m" if value < 1 or value != int(value) else str(int(value))


def memory(value: float) -> str:
    for suffix in ("Gi", "Mi", "Ki"):
        unit = _SUFFIX[suffix]
        if value >= unit and value % unit == 0:
            return f"{int(value // unit)}{suffix}"
    return str(int(value))
