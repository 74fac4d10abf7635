"""Wording the commands' output shares."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 address`, `2 addresses`, `0 messages`: the count and the noun in agreement. The
    plural is the noun with -es after s, x, ch or sh, else with -s, unless `nouns` is given."""
    if count == 1:
        return f"{count} {noun}"
    if nouns is None:
        nouns = noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{count} {nouns}"
