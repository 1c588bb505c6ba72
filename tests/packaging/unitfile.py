"""Read a systemd unit file the way systemd does: sections of keys that may repeat."""
from __future__ import annotations

import re
from pathlib import Path

Unit = dict[str, dict[str, list[str]]]

_TIME_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "ms": 0.001,
               "h": 3600.0, "hr": 3600.0}


def parse_unit(path: Path) -> Unit:
    """{section: {key: [values in file order]}}; comments, blank lines and line
    continuations handled as in systemd.unit(5)."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path}: key outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def last(unit: Unit, section: str, key: str) -> str:
    """The value in force (the last assignment), failing clearly when the key is absent."""
    values = unit.get(section, {}).get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def seconds(value: str) -> float:
    """A systemd time span ("90", "90s", "1min 30s") in seconds."""
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts and "".join(n + u for n, u in parts) == value.replace(" ", ""), value
    for number, unit in parts:
        total += float(number) * _TIME_UNITS[unit]
    return total
