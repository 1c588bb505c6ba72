"""Reading a configuration file that may be hostile, in bounded time and memory.

A YAML parser left alone waits forever on a FIFO, reads /dev/zero without end,
expands a 400-byte alias bomb into gigabytes and recurses through 5,000 nested
lists. A consumer's configuration is a few dozen keys nested two levels deep,
so everything far beyond that is refused before it is composed, with its line:

- a regular file only, opened without blocking, of at most :data:`MAX_BYTES`;
- UTF-8 text without control characters (YAML allows none but tab and newline);
- nesting at most :data:`MAX_DEPTH` deep and at most :data:`MAX_NODES` values
  once aliases and merge keys are expanded, counted on the event stream.

Errors are :class:`Problem` (message and line); ``config.read_yaml`` names the file.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from hueyd.daemon.files import FileProblem, read_regular

#: a configuration is a few kB; 64 KiB leaves room for long comments and environments,
#: and parses in about 15 ms (libyaml) or 0.3 s (PyYAML's pure-Python parser)
MAX_BYTES = 64 * 1024
#: a configuration nests 2 levels (logging.level, environment); composing recurses
#: about 3 Python frames per level, so 32 stays far below Python's recursion limit
MAX_DEPTH = 32
#: values after expanding aliases: a configuration holds tens (an environment perhaps a
#: few hundred); an alias bomb reaches billions in 400 bytes
MAX_NODES = 10_000
#: what YAML 1.1 (PyYAML's reader) refuses: C0 controls but tab, LF and CR; DEL, C1 controls
#: but NEL; surrogates; U+FFFE and U+FFFF
NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                           "\U00010000-\U0010ffff]")
#: libyaml when PyYAML was built with it (Debian's and PyPI's are): 25 times faster
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Problem(Exception):
    """What is wrong with the file, and on which line (1-based) when known."""

    def __init__(self, message: str, line: int | None = None, key: str | None = None) -> None:
        super().__init__(message, line, key)
        self.message, self.line, self.key = message, line, key


def read_text(path: str) -> str:
    """The file's text: a regular file of at most MAX_BYTES, UTF-8, no control characters."""
    try:
        data = read_regular(path, MAX_BYTES)
    except FileProblem as exc:
        raise Problem(str(exc)) from None
    if len(data) > MAX_BYTES:
        raise Problem(f"larger than {MAX_BYTES // 1024} KiB: not a hueyd configuration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    bad = NOT_PRINTABLE.search(text)
    if bad:
        raise Problem(f"control character U+{ord(bad.group()):04X} (only tab and newline "
                      "may appear)", text.count("\n", 0, bad.start()) + 1)
    return text


def parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's root node (for line numbers) and its value."""
    _check_shape(text)
    with _loading(text) as loader:
        node = loader.get_single_node()
        if node is None:
            return None, None
        try:
            return node, loader.construct_document(node)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - a value the constructor cannot build
            key, line = _failing_entry(node)
            raise Problem(f"invalid value: {_reason(exc)}", line, key) from None


@contextmanager
def _loading(text: str) -> Iterator[Any]:
    """A loader of ``text`` whose YAML errors become :class:`Problem` with their line."""
    loader = LOADER(text)
    try:
        yield loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise Problem(f"invalid YAML: {exc.problem or exc.context}",
                      mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise Problem(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def parse_mapping(text: str) -> tuple[yaml.Node | None, dict]:
    """The root node and the mapping of settings ({} for an empty file)."""
    node, data = parse(text)
    if data is None:
        return node, {}
    if not isinstance(data, dict):
        raise Problem("expected a mapping of settings (key: value) at the top level, got "
                      f"{kind_name(data)}", node.start_mark.line + 1)
    return node, data


def entries(node: yaml.Node | None, data: dict, prefix: str) -> list[tuple[Any, Any, int | None]]:
    """(prefixed key, value, line) for each entry of a mapping, refusing duplicates."""
    lines: dict[str, int] = {}
    for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
        text = str(key_node.value)
        if text in lines:
            raise Problem(f"duplicate key (first on line {lines[text]})",
                          key_node.start_mark.line + 1, (prefix + text)[:60])
        lines[text] = key_node.start_mark.line + 1
    return [((prefix + key if isinstance(key, str) else key), value, lines.get(str(key)))
            for key, value in data.items()]


def kind_name(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)


def _check_shape(text: str) -> None:
    """Refuse deep nesting and alias expansion past the limits, reading only events."""
    sizes: dict[str, int] = {}  # anchor -> values it stands for, once expanded
    open_frames: list[list[Any]] = []  # [values so far, anchor] per open collection
    with _loading(text) as loader:
        while loader.check_event():
            event = loader.get_event()
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.CollectionStartEvent):
                if len(open_frames) >= MAX_DEPTH:
                    raise Problem(f"nested more than {MAX_DEPTH} levels deep", line)
                open_frames.append([1, event.anchor])
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                count, anchor = open_frames.pop()
            elif isinstance(event, yaml.ScalarEvent):
                count, anchor = 1, event.anchor
            elif isinstance(event, yaml.AliasEvent):
                if any(frame[1] == event.anchor for frame in open_frames):
                    raise Problem(f"alias *{event.anchor} refers to a value that "
                                  "contains it", line)
                count, anchor = sizes.get(event.anchor, 1), None  # undefined: composer says
            else:
                continue
            if anchor is not None:
                sizes[anchor] = count
            if open_frames:
                open_frames[-1][0] += count
                count = open_frames[-1][0]
            if count > MAX_NODES:
                raise Problem(f"more than {MAX_NODES} values once aliases are expanded "
                              "(an alias bomb?)", line)


def _failing_entry(root: yaml.Node) -> tuple[str | None, int | None]:
    """The top-level key whose value cannot be constructed, and its line."""
    if not isinstance(root, yaml.MappingNode):
        return None, root.start_mark.line + 1
    for key_node, value_node in root.value:
        try:
            yaml.SafeLoader("").construct_object(value_node, deep=True)
        except Exception:  # noqa: BLE001
            return str(key_node.value)[:60], key_node.start_mark.line + 1
    return None, root.start_mark.line + 1


def _reason(exc: Exception) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
