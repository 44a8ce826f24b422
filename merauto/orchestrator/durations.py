"""Durations as people write them on a command line: ``3h``, ``90m``, ``1h30m``, ``45s`` or plain seconds."""

from __future__ import annotations

import re

from merauto.errors import MerautoError

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_duration(text: str, option: str) -> float:
    """Seconds in ``text``; a :class:`MerautoError` naming ``option`` if it is not a positive duration.

    >>> parse_duration("1h30m", "--time-budget"), parse_duration("90", "--time-budget")
    (5400.0, 90.0)
    """
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise MerautoError(
                f"{option} {text!r} is not a duration", f"write seconds or a duration such as {option} 3h, 90m, 1h30m or 45s"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0 or seconds == float("inf"):
        raise MerautoError(f"{option} {text!r}: must be a positive duration", f"pass e.g. {option} 3h, or omit it for no limit")
    return seconds
