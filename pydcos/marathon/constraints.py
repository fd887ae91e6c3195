"""Placement constraints: `[field, operator, value?]` on `hostname` or an agent attribute. Pure.

| operator | meaning |
|---|---|
| UNIQUE | at most one instance per value of the field |
| CLUSTER v | only where the field equals v (without v: where the app's first instance is) |
| GROUP_BY n | spread evenly over the field's values (n = how many values to expect) |
| LIKE re / UNLIKE re | only where the field does / does not fully match the regular expression |
| MAX_PER n | at most n instances per value of the field |

>>> placement = Placement("a1", "10.0.0.1", {"rack": "r1"})
>>> accepts([["rack", "LIKE", "r[0-9]"]], placement, [])
True
>>> accepts([["hostname", "UNIQUE"]], placement, [Placement("a1", "10.0.0.1", {})])
False
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an instance runs, or where an offer would put one."""

    agent_id: str
    hostname: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        if name == "hostname":
            return self.hostname
        return self.attributes.get(name)


def problem(constraint: Sequence[str]) -> str | None:
    """What makes a constraint impossible to evaluate, or None."""
    if len(constraint) not in (2, 3):
        return "Each constraint must have either 2 or 3 fields"
    name, operator = constraint[0], constraint[1]
    value = constraint[2] if len(constraint) == 3 else None
    if not name:
        return "Missing field for constraint declaration"
    if operator not in OPERATORS:
        return f"Constraint operator must be one of {', '.join(OPERATORS)}"
    if operator == "UNIQUE" and value is not None:
        return "Value specified but not used"
    if operator in ("LIKE", "UNLIKE"):
        if value is None:
            return "A regular expression value must be provided"
        try:
            re.compile(value)
        except re.error:
            return f"'{value}' is not a valid regular expression"
    if operator in ("MAX_PER", "GROUP_BY") and value is not None:
        if not value.isdigit():
            return "Value was not a valid integer"
        if operator == "MAX_PER" and int(value) < 1:
            return "MAX_PER needs a value of 1 or more"
    if operator == "MAX_PER" and value is None:
        return "Missing value"
    return None


def _accepts_one(constraint: Sequence[str], offer: Placement, placed: Sequence[Placement]) -> bool:
    name, operator = constraint[0], constraint[1]
    value = constraint[2] if len(constraint) == 3 else None
    here = offer.value(name)
    if operator in ("LIKE", "UNLIKE"):
        matched = here is not None and re.fullmatch(value or "", here) is not None
        return matched if operator == "LIKE" else not matched
    if here is None:
        return False
    if operator == "CLUSTER":
        if value:
            return here == value
        return all(p.value(name) == here for p in placed)
    counts = Counter(v for p in placed if (v := p.value(name)) is not None)
    if operator == "UNIQUE":
        return counts[here] == 0
    if operator == "MAX_PER":
        return counts[here] < int(value or "1")
    if operator == "GROUP_BY":
        expected = int(value) if value else 0
        if counts[here] == 0:
            return True
        if len(counts) < expected:
            return False  # values not seen yet come first
        return counts[here] <= min(counts.values())
    return False


def accepts(constraints: Sequence[Sequence[str]], offer: Placement, placed: Sequence[Placement]) -> bool:
    """Would one more instance at `offer` keep every constraint, given the instances `placed`?"""
    return all(_accepts_one(c, offer, placed) for c in constraints)


def first_rejecting(
    constraints: Sequence[Sequence[str]], offer: Placement, placed: Sequence[Placement]
) -> Sequence[str] | None:
    for c in constraints:
        if not _accepts_one(c, offer, placed):
            return c
    return None
