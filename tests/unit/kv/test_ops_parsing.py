from __future__ import annotations

import io
from pathlib import Path

import pytest

from clusterops.errors import ConfigError, UsageError
from clusterops.kv.ops import metadata_fields, parse_data_args, parse_pairs, parse_versions


def test_data_args_like_vault_kv_put(tmp_path: Path) -> None:
    f = tmp_path / "v"
    f.write_text("from-file\n")
    j = tmp_path / "d.json"
    j.write_text('{"a": 1, "b": {"c": 2}}')
    assert parse_data_args(["k=v", f"f=@{f}", "s=-"], io.StringIO("from-stdin\n")) == {
        "k": "v",
        "f": "from-file\n",
        "s": "from-stdin\n",
    }
    assert parse_data_args([f"@{j}"], io.StringIO()) == {"a": 1, "b": {"c": 2}}
    assert parse_data_args(["-"], io.StringIO("x: 1\n")) == {"x": 1}


def test_data_args_errors_never_echo_the_argument(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        parse_data_args(["k=v", "hunter2"], io.StringIO())
    assert "hunter2" not in str(info.value) and "argument 2" in str(info.value)
    with pytest.raises(UsageError, match="once"):
        parse_data_args(["a=-", "b=-"], io.StringIO("x"))
    with pytest.raises(ConfigError):
        parse_data_args([f"@{tmp_path / 'missing'}"], io.StringIO())
    with pytest.raises(ConfigError, match="object"):
        parse_data_args(["-"], io.StringIO("[1, 2]"))


def test_versions_and_pairs() -> None:
    assert parse_versions("1, 2,3") == [1, 2, 3]
    assert parse_versions(None) == []
    with pytest.raises(UsageError):
        parse_versions("1,x")
    with pytest.raises(UsageError):
        parse_versions("0")
    assert parse_pairs(["a=1", "b=x=y"], "--custom-metadata") == {"a": "1", "b": "x=y"}
    with pytest.raises(UsageError):
        parse_pairs(["nope"], "--custom-metadata")


def test_metadata_fields_only_what_is_given() -> None:
    assert metadata_fields(max_versions=3) == {"max_versions": 3}
    assert metadata_fields() == {}
    assert metadata_fields(cas_required=False, custom_metadata={}) == {"cas_required": False, "custom_metadata": {}}
    with pytest.raises(UsageError):
        metadata_fields(max_versions=-1)


def test_file_and_stdin_values_keep_their_bytes_like_bao(tmp_path: Path) -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\r\nAAAA\r\n-----END OPENSSH PRIVATE KEY-----\n\n"
    f = tmp_path / "key"
    f.write_bytes(pem.encode())

    class Bin(io.StringIO):
        def __init__(self, raw: bytes) -> None:
            super().__init__()
            self.buffer = io.BytesIO(raw)

    got = parse_data_args([f"k=@{f}", "s=-"], Bin(pem.encode()))
    assert got == {"k": pem, "s": pem}


def test_binary_input_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "blob"
    f.write_bytes(b"\x00\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        parse_data_args([f"k=@{f}"], io.StringIO())
    assert str(f) in str(info.value)


def test_merge_patch_is_deep_like_the_server() -> None:
    from clusterops.kv.ops import merge_patch

    current = {"a": 1, "nested": {"x": 1, "y": 2}, "gone": "z"}
    assert merge_patch(current, {"nested": {"y": None, "z": 3}, "gone": None, "b": [1]}) == {
        "a": 1,
        "nested": {"x": 1, "z": 3},
        "b": [1],
    }


def test_a_broken_yaml_data_file_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "data.yaml"
    f.write_text("user: app\npassword: [unclosed\nhost: db\n")
    with pytest.raises(ConfigError) as err:
        parse_data_args([f"@{f}"], io.StringIO(""))
    assert err.value.line is not None and f"{f}:{err.value.line}: is neither JSON nor YAML" in str(err.value)
    assert "unclosed" not in str(err.value)  # never the content
