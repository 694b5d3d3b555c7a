"""InfluxDB line protocol and InfluxQL quoting: pure functions, no I/O.

Line protocol (InfluxDB 1.x, also accepted by 2.x and 3.x)::

    <measurement>[,<tag>=<value>...] <field>=<value>[,<field>=<value>...] <timestamp>

Escaping rules (from the InfluxDB line protocol reference):

* measurement: comma and space are escaped with a backslash;
* tag keys, tag values and field keys: comma, equals sign and space;
* string field values: double quote and backslash, inside double quotes.

A reading is one point: measurement = signal name, tags ``home``, ``device`` and ``unit`` (omitted when the
unit is empty, because line protocol has no empty tag values), one float field ``value``, time in ns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from hub.models import Reading

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware datetime, exact (no float rounding)."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp must be timezone-aware, got {ts!r}")
    return ((ts - EPOCH) // _ONE_US) * 1000


def from_ns(ns: int) -> datetime:
    """The aware UTC datetime of `ns` nanoseconds since the epoch (truncated to microseconds)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def _check_text(what: str, text: str) -> None:
    if not text:
        raise ValueError(f"line protocol {what} must not be empty")
    if "\n" in text or "\r" in text:
        raise ValueError(f"line protocol {what} must not contain a line break: {text!r}")
    # A trailing backslash would escape the separator that follows it and shift every later token.
    if text.endswith("\\"):
        raise ValueError(f"line protocol {what} must not end with a backslash: {text!r}")


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas and spaces)."""
    _check_text("measurement", name)
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs and spaces)."""
    _check_text("tag or field key/value", text)
    return text.translate(_KEY_ESCAPES)


def escape_string_field(text: str) -> str:
    """Quote a string field value: backslash and double quote are escaped, the result is in double quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_float(value: float) -> str:
    """A float field value; NaN and infinities have no line protocol form and raise ValueError."""
    if not math.isfinite(value):
        raise ValueError(f"line protocol cannot carry the non-finite value {value!r}")
    return repr(float(value))


def format_field(value: float | int | bool | str) -> str:
    """Format one field value by its Python type (bool → t/f, int → 12i, str → quoted, float → repr)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, str):
        return escape_string_field(value)
    return format_float(value)


def format_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | bool | str],
    ts_ns: int | None = None,
) -> str:
    """One line of line protocol (without the newline); tags are sorted by key as InfluxDB prefers."""
    if not fields:
        raise ValueError(f"a line protocol point needs at least one field (measurement {measurement!r})")
    head = escape_measurement(measurement)
    for key in sorted(tags):
        head += f",{escape_key(key)}={escape_key(tags[key])}"
    body = ",".join(f"{escape_key(k)}={format_field(v)}" for k, v in fields.items())
    return f"{head} {body}" if ts_ns is None else f"{head} {body} {ts_ns}"


def _series_key(reading: Reading) -> str:
    """The escaped ``measurement,tags value=`` prefix of a reading's series, tags in key order (device,
    home, unit) as `format_line` sorts them; built directly, since a fresh hub meets every series once."""
    prefix = (
        f"{escape_measurement(str(reading.signal))}"
        f",device={escape_key(reading.device)},home={escape_key(reading.home)}"
    )
    if reading.unit:
        prefix += f",unit={escape_key(reading.unit)}"
    return prefix + " value="


def encode_readings(
    readings: Iterable[Reading], cache: dict[tuple[str, str, str, str], str] | None = None
) -> bytes:
    """The line protocol body (UTF-8, newline-terminated lines, ns precision) for `readings`.

    `cache` maps (signal, home, device, unit) to its escaped prefix so that a long-lived writer escapes each
    series once; pass the same dict on every call (it grows by one entry per series).
    """
    prefixes = {} if cache is None else cache
    lines: list[str] = []
    append = lines.append
    isfinite = math.isfinite
    # The readings of one message share one datetime object: its nanoseconds are worked out once.
    last_ts: datetime | None = None
    ns = 0
    for r in readings:
        key = (r.signal, r.home, r.device, r.unit)
        prefix = prefixes.get(key)
        if prefix is None:
            prefix = prefixes[key] = _series_key(r)
        value = r.value
        if not isfinite(value):
            raise ValueError(f"reading {r!r} has a non-finite value; line protocol cannot carry it")
        ts = r.ts
        if ts is not last_ts:
            ns = ((ts - EPOCH) // _ONE_US) * 1000
            last_ts = ts
        append(f"{prefix}{value if type(value) is float else float(value)!r} {ns}")
    lines.append("")
    return "\n".join(lines).encode()


def quote_identifier(name: str) -> str:
    """An InfluxQL double-quoted identifier (database, measurement, tag key)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(text: str) -> str:
    """An InfluxQL single-quoted string literal (for tag values in WHERE)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def count_lines(body: bytes) -> int:
    """How many points a line protocol body holds (non-empty, non-comment lines)."""
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def measurements_clause(names: Sequence[str], database: str, retention_policy: str | None) -> str:
    """The FROM list of InfluxQL for `names`, qualified with the retention policy when one is set."""
    if retention_policy is None:
        return ",".join(quote_identifier(n) for n in names)
    prefix = f"{quote_identifier(database)}.{quote_identifier(retention_policy)}."
    return ",".join(prefix + quote_identifier(n) for n in names)
