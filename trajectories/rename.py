"""Service renaming, an SFT augmentation: a run whose incident is in one application service is
also shown with that service under a name no world has, wherever the name appears (the alert,
tool calls and results, the thoughts, the Diagnosis). Otherwise the names of the services that
break in training are a shortcut: on held-out-targets the model named the caller it had seen fail
(checkout) for a callee it never had (payment). A renamed row can be answered only from the
evidence, as a held-out target must be."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from opsagent.sandbox.shop import PROFILES
from opsagent.trajectories.splits import HELD_OUT_TARGETS

# Names of no service in any world, nor of a held-out target.
NAMES = ("inventory", "shipping", "pricing", "ledger", "wishlist", "loyalty", "quotes", "invoices",
         "reviews", "coupons")
# The shop's own application services (not its databases, the ingress or the cluster's parts).
RENAMABLE = frozenset(p.name for p in PROFILES.values()
                      if p.namespace == "shop" and p.log_style in ("go", "java", "python")) - HELD_OUT_TARGETS


def _word(name: str) -> re.Pattern[str]:
    """`name` as a word in any of its spellings (checkout, Checkout, CHECKOUT): a pod's
    `checkout-7d9f`, an image's `shop/checkout:1.2`, an env var's `CHECKOUT_URL`, not `checkouts`."""
    forms = "|".join(re.escape(f) for f in {name, name.capitalize(), name.upper()})
    return re.compile(rf"(?<![A-Za-z0-9])(?:{forms})(?![A-Za-z0-9])")


def _each_string(value: Any, fn: Callable[[str], str]) -> Any:
    """`value` (messages, tools) with `fn` applied to every string in it, keys included."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {_each_string(k, fn): _each_string(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_each_string(v, fn) for v in value]
    return value


def rename_service(messages: list[dict[str, Any]], tools: list[dict[str, Any]], target: str,
                   seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str] | None:
    """The conversation and tools with `target` renamed (a name drawn by `seed` among those the
    run never mentions), and the new name; None when `target` is not an application service."""
    if target not in RENAMABLE:
        return None
    texts: list[str] = []
    _each_string([messages, tools], lambda s: texts.append(s) or s)
    text = "\n".join(texts)
    free = [n for n in NAMES if not re.search(rf"(?<![a-z0-9]){n}(?![a-z0-9])", text, re.IGNORECASE)]
    if not free:
        return None
    new = random.Random(seed).choice(free)
    pattern = _word(target)

    def spelled(m: re.Match[str]) -> str:
        old = m.group(0)
        return new.upper() if old.isupper() else new.capitalize() if old[0].isupper() else new

    def swap(s: str) -> str:
        return pattern.sub(spelled, s)

    return _each_string(messages, swap), _each_string(tools, swap), new
