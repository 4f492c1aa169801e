"""HCL1/JSON parsing: nothing pyhcl loses is lost here, and errors carry the line."""

from __future__ import annotations

import hcl
import pytest

from clusterops.validate.hclparse import Lit, Obj, Seq, SyntaxProblem, parse, plain

TWO_LISTENERS = """
listener "tcp" {
  address = "10.0.0.1:8200"
}
listener "tcp" {
  address     = "127.0.0.1:8300"
  tls_disable = true
}
"""


def test_pyhcl_merges_two_listener_blocks_but_we_keep_both() -> None:
    merged = hcl.loads(TWO_LISTENERS)
    assert merged["listener"]["tcp"]["address"] == "127.0.0.1:8300"  # the pitfall: the first listener is gone
    items = parse(TWO_LISTENERS).items
    assert [i.keys for i in items] == [("listener", "tcp"), ("listener", "tcp")]
    assert [plain(i.value)["address"] for i in items] == [["10.0.0.1:8200"], ["127.0.0.1:8300"]]
    assert [i.line for i in items] == [2, 5]


def test_pyhcl_keeps_only_the_last_repeated_list_but_we_keep_every_item() -> None:
    text = 'retry_join = ["a"]\nretry_join = ["b", "c"]\n'
    assert hcl.loads(text)["retry_join"] == ["b", "c"]
    items = parse(text).items
    values = [v.value for i in items if isinstance(i.value, Seq) for v in i.value.items if isinstance(v, Lit)]
    assert values == ["a", "b", "c"]


def test_pyhcl_drops_keys_of_repeated_blocks_but_we_keep_them() -> None:
    text = 'service { name = "a"\n port = 1 }\nservice { name = "b"\n port = 2 }\n'
    assert "name" not in hcl.loads(text)["service"][1]
    assert [plain(i.value)["name"] for i in parse(text).items] == [["a"], ["b"]]


def test_mixed_listener_types_keep_their_order() -> None:
    text = 'listener "unix" { address = "/run/v.sock" }\nlistener "tcp" { address = "0.0.0.0:8200" }\n'
    assert [i.keys[1] for i in parse(text).items] == ["unix", "tcp"]


HCL_FORMS = """
# comment
// comment
/* multi
   line */
a = 1, b = 2.5
c = true
d = "esc \\"q\\""
e = <<DOC
heredoc
DOC
f { g = [1, 2,] }
h = { i = "j" }
trueish = 1e3
"""


def test_hcl_forms_go_accepts() -> None:
    data = plain(parse(HCL_FORMS))
    assert data["a"] == [1] and data["b"] == [2.5] and data["c"] == [True]
    assert data["d"] == ['esc "q"'] and data["e"] == ["heredoc"]
    assert data["f"] == [{"g": [[1, 2]]}] and data["h"] == [{"i": ["j"]}]
    assert data["trueish"] == [1000.0]


def test_json_keeps_lines_and_duplicates() -> None:
    obj = parse(
        '{\n  "bind_addr": "10.0.0.1",\n  "ports": {"http": 1},\n  "bind_addr": "10.0.0.2"\n}', json_format=True
    )
    assert [(i.keys[0], i.line) for i in obj.items] == [("bind_addr", 2), ("ports", 3), ("bind_addr", 4)]
    assert isinstance(obj.items[1].value, Obj)


def test_hcl_file_starting_with_brace_is_json() -> None:
    assert plain(parse('{"a": [1]}')) == {"a": [[1]]}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a = 1\nb = \n", 2, "value is missing"),
        ("a b = 1", 1, "nested object expected"),
        ("a = [1 2]", 1, "expected comma or list end"),
        ("x {\n  y = 1\n", 2, "RBRACE"),
        ('a = "open\n', 1, "EOF before closing string quote"),
        ("}", 1, "expected: IDENT"),
        ("a = foo", 1, "Unknown token"),
        ("a = 1\n\n@", 3, "Illegal character"),
    ],
)
def test_hcl_syntax_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(SyntaxProblem) as err:
        parse(text)
    assert err.value.line == line
    assert fragment in err.value.message


@pytest.mark.parametrize(
    ("text", "line"),
    [('{\n "a": }', 2), ('{"a": 1,\n\n}', 3), ('{"a": "x\n"}', 1), ("[1]", 1), ('{"a": 1} x', 1)],
)
def test_json_syntax_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(SyntaxProblem) as err:
        parse(text, json_format=True)
    assert err.value.line == line
