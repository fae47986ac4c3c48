"""The glob patterns of policy sets: ``*`` any run of characters (even none), ``?`` exactly one."""

from __future__ import annotations

from collections.abc import Iterable


def glob_match(pattern: str, text: str) -> bool:
    """True if ``pattern`` matches the whole of ``text``; every other character is literal."""
    p = t = 0
    star_p, star_t = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            # Remember the star and first let it match nothing; widen it on a later mismatch.
            star_p, star_t = p, t
            p += 1
        elif p < len(pattern) and pattern[p] in ("?", text[t]):
            p, t = p + 1, t + 1
        elif star_p >= 0:
            star_t += 1
            p, t = star_p + 1, star_t
        else:
            return False
    return all(c == "*" for c in pattern[p:])


def first_match(names: Iterable[str], patterns: Iterable[str]) -> tuple[str, str] | None:
    """The first ``(name, pattern)`` pair that matches, patterns taken in order."""
    names = tuple(names)
    for pattern in patterns:
        for name in names:
            if glob_match(pattern, name):
                return name, pattern
    return None
