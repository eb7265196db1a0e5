"""A small subset of Ironclad's record `filter` formulas.

Supported: `Equals`, `NotEqual`, `Contains`, `IsEmpty`, `IsNotEmpty`, `GreaterThan`, `GreaterThanOrEqual`,
`LessThan`, `LessThanOrEqual`, `And`, `Or`, `Not`. Property ids in `[ ]`, literals in single quotes (or bare
numbers). Double-quoted literals are rejected, the way they "fail silently" live we answer 400 instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ironclad_simulator.clock import parse_iso
from ironclad_simulator.records import address_to_string
from ironclad_simulator.state import Record

Predicate = Callable[[Record], bool]
TOKEN_RE = re.compile(
    r"\s*(?:(?P<name>[A-Za-z]+)|(?P<prop>\[[^\]]+\])|(?P<str>'(?:[^'\\]|\\.)*')"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),]))"
)
FIELD_ALIASES = {"name": "name", "type": "type", "ironcladId": "ironcladId", "recordType": "type"}


class FilterError(ValueError):
    pass


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"invalid filter near {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _scalar(rec: Record, prop: str) -> Any:
    if prop in FIELD_ALIASES:
        return {"name": rec.name, "type": rec.type, "ironcladId": rec.ironclad_id}[FIELD_ALIASES[prop]]
    v = rec.properties.get(prop)
    if isinstance(v, dict):
        if "amount" in v:
            return v["amount"]
        if "recordId" in v:
            return v["recordId"]
        return address_to_string(v)
    return v


def _as_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


def _compare(a: Any, b: str) -> int | None:
    try:
        if isinstance(a, int | float) and not isinstance(a, bool):
            fb = float(b)
            return (a > fb) - (a < fb)
        if isinstance(a, str):
            try:
                ta, tb = parse_iso(a), parse_iso(b)
                return (ta > tb) - (ta < tb)
            except ValueError:
                return (a > b) - (a < b)
    except ValueError:
        return None
    return None


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, kind: str | None = None, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise FilterError("invalid filter expression")
        self.i += 1
        return tok

    def arg(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise FilterError("invalid filter expression")
        if tok[0] == "prop":
            self.i += 1
            return ("prop", tok[1][1:-1].strip())
        if tok[0] == "str":
            self.i += 1
            return ("lit", tok[1][1:-1].replace("\\'", "'"))
        if tok[0] == "num":
            self.i += 1
            return ("lit", tok[1])
        return ("expr", self.expr())

    def expr(self) -> Predicate:
        fn = self.take("name")[1]
        self.take("punct", "(")
        args: list[Any] = []
        if self.peek() != ("punct", ")"):
            args.append(self.arg())
            while self.peek() == ("punct", ","):
                self.i += 1
                args.append(self.arg())
        self.take("punct", ")")
        return _build(fn, args)


def _build(fn: str, args: list[Any]) -> Predicate:
    if fn in ("And", "Or"):
        preds = [a[1] for a in args if a[0] == "expr"]
        if len(preds) != len(args) or not preds:
            raise FilterError(f"{fn} takes filter expressions")
        if fn == "And":
            return lambda r: all(p(r) for p in preds)
        return lambda r: any(p(r) for p in preds)
    if fn == "Not":
        if len(args) != 1 or args[0][0] != "expr":
            raise FilterError("Not takes one filter expression")
        inner: Predicate = args[0][1]
        return lambda r: not inner(r)
    if fn in ("IsEmpty", "IsNotEmpty"):
        if len(args) != 1 or args[0][0] != "prop":
            raise FilterError(f"{fn} takes one property")
        prop = args[0][1]
        if fn == "IsEmpty":
            return lambda r: _scalar(r, prop) in (None, "", [])
        return lambda r: _scalar(r, prop) not in (None, "", [])
    if len(args) != 2 or args[0][0] != "prop" or args[1][0] != "lit":
        raise FilterError(f"{fn} takes a [property] and a 'value'")
    prop, lit = args[0][1], args[1][1]
    if fn == "Equals":
        return lambda r: (v := _scalar(r, prop)) is not None and _as_str(v) == lit
    if fn == "NotEqual":
        return lambda r: (v := _scalar(r, prop)) is None or _as_str(v) != lit
    if fn == "Contains":
        low = lit.lower()
        return lambda r: (v := _scalar(r, prop)) is not None and low in _as_str(v).lower()
    ops: dict[str, Callable[[int], bool]] = {
        "GreaterThan": lambda c: c > 0,
        "GreaterThanOrEqual": lambda c: c >= 0,
        "LessThan": lambda c: c < 0,
        "LessThanOrEqual": lambda c: c <= 0,
    }
    if fn in ops:
        op = ops[fn]

        def cmp(r: Record) -> bool:
            v = _scalar(r, prop)
            if v is None:
                return False
            c = _compare(v, lit)
            return c is not None and op(c)

        return cmp
    raise FilterError(f"unsupported filter function {fn}")


def parse_filter(text: str) -> Predicate:
    if '"' in text:
        raise FilterError("filter values must be single-quoted")
    parser = _Parser(_tokenize(text))
    pred = parser.expr()
    if parser.peek() is not None:
        raise FilterError("invalid filter expression")
    return pred
