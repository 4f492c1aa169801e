"""The generator of `consul_keys` (tests/data/validate/gen_consul_keys.py) on small Go sources of its shapes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

GEN = Path(__file__).resolve().parents[2] / "data" / "validate" / "gen_consul_keys.py"

CONFIG = """package config

type decodeTarget struct {
	DeprecatedConfig `mapstructure:",squash"`
	Config           `mapstructure:",squash"`
}

type Config struct {
	BindAddr   *string           `mapstructure:"bind_addr"`
	Ports      Ports             `mapstructure:"ports"`
	NodeMeta   map[string]string `mapstructure:"node_meta"`
	Sinks      []Sink            `mapstructure:"sink"`
	Services   []ServiceDefinition `mapstructure:"services" alias:"service"`
	Internal   *string           `mapstructure:"-"`
	RaftBoltDB *consul.RaftBoltDBConfig `mapstructure:"raft_boltdb" json:"-"`
	// a comment
}

type Ports struct {
	HTTP *int `mapstructure:"http"`
	GRPCTLS *int `mapstructure:"grpc_tls"`
}

type Sink struct {
	Path *string `mapstructure:"path"`
}

type ServiceDefinition struct {
	Name *string `mapstructure:"name"`
}
"""
DEPRECATED = """package config

type DeprecatedConfig struct {
	ACLToken *string `mapstructure:"acl_token"`
	StartJoinAddrsLAN []string `mapstructure:"start_join"`
}

func apply() {
	warns = append(warns, deprecationWarning("acl_token", "acl.tokens.default"))
	warns = append(warns, "The 'tls_prefer_server_cipher_suites' field is deprecated and will be ignored.")
}

func deprecationWarning(old, new string) string {
	return fmt.Sprintf("The '%v' field is deprecated. Use the '%v' field instead.", old, new)
}
"""
BUILDER = """
		for _, k := range md.Unused {
			switch {
			case k == "acl_enforce_version_8":
				b.warn("config key %q is deprecated and should be removed", k)
		b.warn("The 'ui' field is deprecated. Use the 'ui_config.enabled' field instead.")
"""
CONSUL = """package consul

type RaftBoltDBConfig struct {
	NoFreelistSync bool
}
"""


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_consul_keys", GEN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture
def release(gen: ModuleType, tmp_path: Path) -> object:
    for rel, text in (
        ("agent/config/config.go", CONFIG),
        ("agent/config/deprecated.go", DEPRECATED),
        ("agent/config/builder.go", BUILDER),
        ("agent/consul/config.go", CONSUL),
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return gen.Release("1.99.0", "h1:x", tmp_path)


def test_key_tree_follows_tags_squash_aliases_and_the_consul_package(gen: ModuleType, release: object) -> None:
    tree, files = gen.key_tree(release)
    assert tree == {
        "acl_token": "str",
        "bind_addr": "str",
        "node_meta": None,
        "ports": {"grpc_tls": "int", "http": "int"},
        "raft_boltdb": {"nofreelistsync": "bool"},  # untagged: mapstructure matches the Go field name
        "service": None,
        "services": None,
        "sink": {"*": "repeatable", "path": "str"},
        "start_join": "list",
    }
    assert files["acl_token"] == "agent/config/deprecated.go"
    assert files["ports.http"] == files["bind_addr"] == "agent/config/config.go"
    assert files["raft_boltdb.nofreelistsync"] == "agent/consul/config.go"


def test_deprecations_in_consuls_words_and_tolerated_keys(gen: ModuleType, release: object) -> None:
    assert gen.deprecations(release) == {
        "acl_token": ("acl.tokens.default", "agent/config/deprecated.go"),
        "tls_prefer_server_cipher_suites": (None, "agent/config/deprecated.go"),
        "ui": ("ui_config.enabled", "agent/config/builder.go"),
    }
    assert gen.tolerated(release) == {"acl_enforce_version_8": "agent/config/builder.go"}


def test_a_type_change_between_lines_stops_the_generator(gen: ModuleType) -> None:
    assert gen.union({"a": {"b": "str"}}, {"a": {"c": "int"}}, "") == {"a": {"b": "str", "c": "int"}}
    with pytest.raises(SystemExit, match=r"a\.b changes type"):
        gen.union({"a": {"b": "str"}}, {"a": {"b": "int"}}, "")


def test_only_the_outermost_of_nested_changes_is_recorded(gen: ModuleType) -> None:
    assert gen._top({"xds", "xds.update_max_per_second", "ports.grpc_tls"}) == ["ports.grpc_tls", "xds"]


def test_the_committed_catalog_is_the_generators_rendering() -> None:
    """The generated module's header is the generator's (the data is regenerated, never edited by hand)."""
    from clusterops.validate import consul_keys

    text = GEN.read_text()
    assert "gen_consul_keys.py" in (consul_keys.__doc__ or "")
    for line, (version, _) in consul_keys.SOURCES.items():
        assert f'"{line}": ("{consul_keys.FIRST[line][1:]}", "{version[1:]}")' in text
