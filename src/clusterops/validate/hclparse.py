"""HCL1 and JSON config text to a small AST that keeps every item, in order, with its line.

Why not `hcl.loads`: pyhcl's parser builds dicts and loses what the Go servers see. It merges two top-level
`listener "tcp"` blocks into one, keeps only the last of two `retry_join = [...]` lists and drops keys of
repeated blocks (see the validate tests for each case). We keep pyhcl's *lexer* (strings, escapes, heredocs,
comments, numbers: the tokens the Go scanner produces) and parse its tokens with the grammar of Go HCL1
(`hcl/parser/parser.go`): an object list of items, each item one or more keys then `=` value or `{` object,
values are literals, lists (commas required between elements) or objects; commas between items are optional.
The result keeps repeated keys and blocks as separate items, so the config loaders can apply the exact
merge rules of Consul (decoder into a map) and Vault (AST walk).

JSON is parsed by a small position-keeping reader into the same AST (Go's JSON decoders accept the same
grammar as Python's `json`). Errors are `SyntaxProblem(message, line)`; the loaders add the file name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal (string, number, bool; JSON null) at `line`."""

    value: Scalar
    line: int


@dataclass(frozen=True, slots=True)
class Seq:
    """A list `[...]` at `line`."""

    items: tuple[Node, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Item:
    """One `key ... = value` or `key "label" { ... }` item; `keys` holds the key and its labels."""

    keys: tuple[str, ...]
    value: Node
    line: int


@dataclass(frozen=True, slots=True)
class Obj:
    """An object: its items in source order, repeated keys kept."""

    items: tuple[Item, ...]
    line: int


Node = Lit | Seq | Obj


class SyntaxProblem(Exception):
    """The text is not valid HCL1 / JSON. `line` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def parse(text: str, *, json_format: bool = False) -> Obj:
    """Parse a whole file. HCL text whose first non-blank character is `{` is JSON (as Go's hcl.Parse does)."""
    if json_format or text.lstrip().startswith("{"):
        return parse_json(text)
    return _HclParser(text).parse_file()


# -- HCL -----------------------------------------------------------------------------------------

_LEX_LINE = re.compile(r"Line (\d+)")
_lexer_cache: list[Any] = []


@dataclass(slots=True)
class _Tok:
    type: str
    value: Any
    line: int
    pos: int
    end: int


def _lexer() -> Any:
    if not _lexer_cache:
        from hcl.lexer import Lexer

        _lexer_cache.append(Lexer())
    return _lexer_cache[0]


def _tokens(text: str) -> list[_Tok]:
    lexer = _lexer()
    lex = lexer.lex.clone()
    lex.lineno = 1
    lex.input(text)
    out: list[_Tok] = []
    while True:
        try:
            tok = lex.token()
        except ValueError as err:  # pyhcl's lexer reports "Line N, column C, index I: message"
            m = _LEX_LINE.search(str(err))
            msg = str(err).split(": ", 1)[-1]
            line = int(m.group(1)) if m else 0
            start = {"string": "abs_start", "heredoc": "here_start"}
            for word, attr in start.items():  # point at where the unclosed string / heredoc starts
                if f"closing {word}" in msg or (word == "string" and "closing string" in msg):
                    pos = getattr(lex, attr, None)
                    if isinstance(pos, int):
                        line = text.count("\n", 0, pos) + 1
            raise SyntaxProblem(msg, line) from None
        except (IndexError, AttributeError, TypeError) as err:  # defensive: lexer bugs on odd input
            raise SyntaxProblem(f"cannot tokenize: {err}", lex.lineno) from None
        if tok is None:
            break
        out.append(_Tok(tok.type, tok.value, tok.lineno, tok.lexpos, lex.lexpos))
    return _fix_tokens(out, text)


def _fix_tokens(toks: list[_Tok], text: str) -> list[_Tok]:
    """Undo pyhcl lexer splits the Go scanner does not make: `trueish` (BOOL+IDENT), `1e5` (NUMBER EPLUS NUMBER)."""
    fixed: list[_Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.type == "BOOL" and i + 1 < len(toks):
            nxt = toks[i + 1]
            word = "true" if t.value else "false"
            if nxt.type == "IDENTIFIER" and nxt.pos == t.pos + len(word):
                fixed.append(_Tok("IDENTIFIER", word + str(nxt.value), t.line, t.pos, nxt.end))
                i += 2
                continue
        if t.type in ("NUMBER", "FLOAT") and i + 2 < len(toks) and toks[i + 1].type in ("EPLUS", "EMINUS"):
            exp = toks[i + 2]
            if exp.type == "NUMBER":
                raw = text[t.pos : exp.pos] + str(exp.value)
                try:
                    fixed.append(_Tok("FLOAT", float(raw.replace("E", "e")), t.line, t.pos, exp.end))
                    i += 3
                    continue
                except ValueError:
                    pass
        fixed.append(t)
        i += 1
    return fixed


_LITERALS = ("NUMBER", "FLOAT", "BOOL", "STRING")
_NAMES = {
    "LEFTBRACE": "LBRACE",
    "RIGHTBRACE": "RBRACE",
    "LEFTBRACKET": "LBRACK",
    "RIGHTBRACKET": "RBRACK",
    "EQUAL": "ASSIGN",
    "IDENTIFIER": "IDENT",
}


class _HclParser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _next(self) -> _Tok | None:
        tok = self._peek()
        if tok is not None:
            self.i += 1
        return tok

    def _err(self, message: str, tok: _Tok | None) -> SyntaxProblem:
        if tok is None:
            return SyntaxProblem(message, self.toks[-1].line if self.toks else 1)
        return SyntaxProblem(message, tok.line)

    @staticmethod
    def _name(tok: _Tok | None) -> str:
        return "EOF" if tok is None else _NAMES.get(tok.type, tok.type)

    def parse_file(self) -> Obj:
        items = self._object_list(nested=False)
        return Obj(tuple(items), 1)

    def _object_list(self, *, nested: bool) -> list[Item]:
        items: list[Item] = []
        while True:
            tok = self._peek()
            if tok is None:
                if nested:
                    raise self._err("object expected closing RBRACE got: EOF", None)
                return items
            if nested and tok.type == "RIGHTBRACE":
                return items
            items.append(self._object_item())
            nxt = self._peek()
            if nxt is not None and nxt.type == "COMMA":
                self.i += 1

    def _object_item(self) -> Item:
        keys: list[str] = []
        first = self._peek()
        while True:
            tok = self._next()
            if tok is None:
                if keys:
                    raise self._err(f"key '{' '.join(keys)}' expected start of object ('{{') or assignment ('=')", None)
                raise self._err("unexpected end of file", None)
            if tok.type in ("IDENTIFIER", "STRING"):
                keys.append(str(tok.value))
                continue
            if tok.type == "EQUAL":
                if len(keys) > 1:
                    raise self._err("nested object expected: LBRACE got: ASSIGN", tok)
                if not keys:
                    raise self._err("no object keys found!", tok)
                value = self._value()
                return Item(tuple(keys), value, first.line if first else tok.line)
            if tok.type == "LEFTBRACE":
                if not keys:
                    raise self._err("expected: IDENT | STRING got: LBRACE", tok)
                value = self._object_type(tok)
                return Item(tuple(keys), value, first.line if first else tok.line)
            if keys:
                raise self._err(f"key '{' '.join(keys)}' expected start of object ('{{') or assignment ('=')", tok)
            raise self._err(f"expected: IDENT | STRING | ASSIGN | LBRACE got: {self._name(tok)}", tok)

    def _object_type(self, lbrace: _Tok) -> Obj:
        items = self._object_list(nested=True)
        tok = self._next()
        if tok is None or tok.type != "RIGHTBRACE":
            raise self._err(f"object expected closing RBRACE got: {self._name(tok)}", tok)
        return Obj(tuple(items), lbrace.line)

    def _value(self) -> Node:
        tok = self._next()
        if tok is None:
            raise self._err("unexpected end of file: a value is missing", None)
        if tok.type in _LITERALS:
            return Lit(tok.value, tok.line)
        if tok.type == "LEFTBRACE":
            return self._object_type(tok)
        if tok.type == "LEFTBRACKET":
            return self._list(tok)
        raise self._err(f"Unknown token: {self._name(tok)} {tok.value!r}", tok)

    def _list(self, lbrack: _Tok) -> Seq:
        items: list[Node] = []
        need_comma = False
        while True:
            tok = self._next()
            if tok is None:
                raise self._err("error parsing list, expected comma or list end, got: EOF", None)
            if need_comma and tok.type not in ("COMMA", "RIGHTBRACKET"):
                raise self._err(f"error parsing list, expected comma or list end, got: {self._name(tok)}", tok)
            if tok.type in _LITERALS:
                items.append(Lit(tok.value, tok.line))
                need_comma = True
            elif tok.type == "COMMA":
                need_comma = False
            elif tok.type == "LEFTBRACE":
                items.append(self._object_type(tok))
                need_comma = True
            elif tok.type == "LEFTBRACKET":
                items.append(self._list(tok))
            elif tok.type == "RIGHTBRACKET":
                return Seq(tuple(items), lbrack.line)
            else:
                raise self._err(f"unexpected token while parsing list: {self._name(tok)}", tok)


# -- JSON ----------------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")


class _JsonReader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def line(self, pos: int | None = None) -> int:
        return self.s.count("\n", 0, self.i if pos is None else pos) + 1

    def err(self, message: str) -> SyntaxProblem:
        return SyntaxProblem(message, self.line())

    def ws(self) -> None:
        m = _WS.match(self.s, self.i)
        self.i = m.end() if m else self.i

    def value(self, depth: int = 0) -> Node:
        if depth > 200:
            raise self.err("JSON nested too deeply")
        self.ws()
        if self.i >= len(self.s):
            raise self.err("unexpected end of JSON input")
        c = self.s[self.i]
        line = self.line()
        if c == "{":
            return self.obj(depth)
        if c == "[":
            self.i += 1
            items: list[Node] = []
            self.ws()
            if self.s.startswith("]", self.i):
                self.i += 1
                return Seq((), line)
            while True:
                items.append(self.value(depth + 1))
                self.ws()
                if self.s.startswith(",", self.i):
                    self.i += 1
                    continue
                if self.s.startswith("]", self.i):
                    self.i += 1
                    return Seq(tuple(items), line)
                raise self.err("expected ',' or ']' in array")
        if c == '"':
            return Lit(self.string(), line)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return Lit(val, line)
        m = _NUMBER.match(self.s, self.i)
        if m and m.end() > self.i:
            self.i = m.end()
            text = m.group(0)
            return Lit(float(text) if (m.group(1) or m.group(2)) else int(text), line)
        raise self.err(f"invalid character {c!r} looking for beginning of value")

    def string(self) -> str:
        try:
            value, end = json.decoder.scanstring(self.s, self.i + 1, True)  # type: ignore[attr-defined]
        except json.JSONDecodeError as err:
            raise SyntaxProblem(f"invalid JSON string: {err.msg}", err.lineno) from None
        self.i = end
        return str(value)

    def obj(self, depth: int) -> Obj:
        line = self.line()
        self.i += 1
        items: list[Item] = []
        self.ws()
        if self.s.startswith("}", self.i):
            self.i += 1
            return Obj((), line)
        while True:
            self.ws()
            if not self.s.startswith('"', self.i):
                raise self.err("expected a string object key")
            key_line = self.line()
            key = self.string()
            self.ws()
            if not self.s.startswith(":", self.i):
                raise self.err("expected ':' after object key")
            self.i += 1
            items.append(Item((key,), self.value(depth + 1), key_line))
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
                continue
            if self.s.startswith("}", self.i):
                self.i += 1
                return Obj(tuple(items), line)
            raise self.err("expected ',' or '}' after object value")


def parse_json(text: str) -> Obj:
    reader = _JsonReader(text)
    reader.ws()
    if reader.i >= len(text):
        return Obj((), 1)
    node = reader.value()
    reader.ws()
    if reader.i != len(text):
        raise reader.err("invalid character after top-level value")
    if not isinstance(node, Obj):
        raise SyntaxProblem("a config file must hold a JSON object", 1)
    return node


def plain(node: Node) -> Any:
    """The node as plain Python data (for debugging and tests); repeated keys become lists."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Seq):
        return [plain(n) for n in node.items]
    out: dict[str, Any] = {}
    for item in node.items:
        value = plain(item.value)
        for label in reversed(item.keys[1:]):
            value = {label: value}
        out.setdefault(item.keys[0], []).append(value)
    return out
