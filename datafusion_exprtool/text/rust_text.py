"""Rust's text conventions that datafusion's Display / Debug output follows, as pure functions of values.

Float digits (shortest round-trip, Rust's tie-breaking), ``{:?}`` of strings, chrono dates and arrow-rs
decimals: shared by the ScalarValue renderer (scalar.py) and the Arrow-array renderer (nested.py).
"""

from __future__ import annotations

import math
import struct
import unicodedata
from decimal import Decimal

#: ArrowType's decimal arms and the arrow-rs DataType each names
DECIMALS = {
    "DECIMAL32": "Decimal32",
    "DECIMAL64": "Decimal64",
    "DECIMAL128": "Decimal128",
    "DECIMAL256": "Decimal256",
}


def rust_debug_str(s: str) -> str:
    """Rust ``{:?}`` of a str: quotes, escapes and \\u{..} for non-printable characters."""
    parts = ['"']
    for ch in s:
        if ch in _ESC:
            parts.append(_ESC[ch])
        elif ch != " " and unicodedata.category(ch) in _UNPRINTABLE:
            parts.append(f"\\u{{{ord(ch):x}}}")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}


def _f32(x: float) -> float:
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:  # a candidate rounded past f32::MAX: it does not round-trip
        return math.inf


def shortest_digits(x: float, single: bool) -> tuple[str, int]:
    """(digits, exponent) of the shortest decimal that round-trips: value = 0.digits * 10**exponent."""
    if single:
        for p in range(1, 10):
            text = f"{x:.{p - 1}e}"
            if _f32(float(text)) == x:
                break
    else:
        text = repr(x)
    sign, digits, exp = Decimal(text).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    return ds, len(digits) + int(exp)


def _tie_away_from_zero(x: float, ds: str, k: int, single: bool) -> tuple[str, int]:
    """Rust breaks an exact tie between two shortest candidates away from zero (``…312.25`` -> ``…312.3``);
    Python's repr/format pick the even digit. Ties need >= 16 significant digits (f64)."""
    scale = k - len(ds)
    if Decimal(x) - Decimal(int(ds)).scaleb(scale) != Decimal(5).scaleb(scale - 1):
        return ds, k
    up = str(int(ds) + 1)
    value = float(Decimal(int(up)).scaleb(scale))
    if (_f32(value) if single else value) != x:
        return ds, k
    return up.rstrip("0"), k + len(up) - len(ds)


def float_special(x: float, zero: str) -> str | None:
    """NaN, ±inf and ±0 as Rust prints them (``zero``: "0" for Display, "0.0" for arrow's ryu); else None."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return ("-" if math.copysign(1.0, x) < 0 else "") + zero
    return None


def rust_float(x: float, single: bool = False) -> str:
    """Rust ``Display`` of f64/f32: shortest round-trip digits, never an exponent (``1``, ``-0``, ``NaN``)."""
    if not single:  # repr has the same shortest digits; with no exponent only ".0" differs
        r = repr(x)
        if "e" not in r and "n" not in r:
            # a tie (below) needs >= 16 digits and x exact in one more decimal than repr shows
            if len(r) < 16 or not math.ldexp(x, len(r) - r.index(".")).is_integer():
                return r[:-2] if r.endswith(".0") else r
    special = float_special(x, "0")
    if special is not None:
        return special
    sign = "-" if x < 0 else ""
    ds, k = _tie_away_from_zero(abs(x), *shortest_digits(abs(x), single), single)
    if k <= 0:
        return f"{sign}0.{'0' * -k}{ds}"
    if k >= len(ds):
        return sign + ds + "0" * (k - len(ds))
    return f"{sign}{ds[:k]}.{ds[k:]}"


def civil_date(days: int) -> str:
    """chrono NaiveDate Display for days since the epoch (proleptic Gregorian, any year)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y += m <= 2
    year = f"{y:04d}" if 0 <= y <= 9999 else f"{y:+05d}"
    return f"{year}-{m:02d}-{d:02d}"


def format_decimal(unscaled: int, precision: int, scale: int) -> str:
    """arrow-rs ``format_decimal_str``."""
    text = str(unscaled)
    sign, rest = ("-", text[1:]) if text.startswith("-") else ("", text)
    text = text[: min(precision, len(rest)) + len(sign)] if precision > 0 else text
    rest = text[len(sign) :]
    if scale == 0:
        return text
    if scale < 0:
        return text + "0" * -scale
    if len(rest) > scale:
        return f"{text[:-scale]}.{text[-scale:]}"
    return f"{sign}0.{rest.rjust(scale, '0')}"
