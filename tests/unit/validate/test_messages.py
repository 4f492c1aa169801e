"""Messages in the servers' words: Go's base64 error offsets, null values, directories that hold no config."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.errors import ConfigError
from clusterops.validate.consul_rules import go_base64_error
from clusterops.validate.load import load_consul
from clusterops.validate.run import validate_consul


# offsets observed with the real `consul validate` (1.14.11): "encrypt has invalid key: illegal base64 data at input
# byte N"
@pytest.mark.parametrize(
    ("key", "offset"),
    [
        ("not base64!", 3),
        ("abc", 0),
        ("abcd=", 4),
        ("YWJj", None),
        ("pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s", 40),
        ("pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", None),
    ],
)
def test_gossip_key_errors_use_gos_offsets(key: str, offset: int | None) -> None:
    assert go_base64_error(key) == offset


def test_bad_gossip_key_message_is_consuls_and_hides_the_value(tmp_path: Path) -> None:
    p = tmp_path / "a.hcl"
    p.write_text('server = true\ndata_dir = "/d"\nbind_addr = "10.0.0.1"\nencrypt = "not base64!"\n')
    (hit,) = [f for f in validate_consul([str(p)]).findings if f.rule_id == "VC019"]
    assert hit.message == "encrypt has invalid key: illegal base64 data at input byte 3 (value not shown)"


def test_json_null_leaves_a_key_unset_as_consul_does(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text('{"server": true, "data_dir": "/d", "bind_addr": null, "advertise_addr": "10.0.0.1"}')
    node = load_consul(p)
    assert node.problems == () and not node.has("bind_addr")
    report = validate_consul([str(p)])
    assert not any("None" in f.message or "<nil>" in f.message for f in report.findings)


def test_a_directory_without_config_files_says_how_many_files_were_read(tmp_path: Path) -> None:
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        ConfigError, match=r"0 of 1 file\(s\) end in .hcl or .json; it holds 2 sub-directories \(s1, s2\)"
    ):
        load_consul(tmp_path)
