"""go-sockaddr semantics reproduced over facts (cases from go-sockaddr's source and the reference notes)."""

from __future__ import annotations

import pytest

from clusterops.validate.facts import HostFacts, facts_from_dict
from clusterops.validate.sockaddr import TemplateError, Unsupported, evaluate


def make_host(default: str | None = "eth0") -> HostFacts:
    data = {
        "interfaces": [
            {"name": "lo", "flags": ["up", "loopback"], "addresses": ["127.0.0.1/8", "::1/128"]},
            {"name": "eth0", "flags": ["up", "broadcast"], "addresses": ["10.0.0.5/24", "fd00::5/64", "fe80::1/64"]},
            {"name": "docker0", "flags": ["up"], "addresses": ["172.17.0.1/16"]},
            {"name": "veth0", "flags": ["up"], "addresses": ["203.0.113.9/24", "8.8.8.8/24"]},
            {"name": "eth1", "flags": ["broadcast"], "addresses": ["192.168.9.9/24"]},
        ],
    }
    if default:
        data["default_route"] = default
    return facts_from_dict({"default": data}, "t").default  # type: ignore[return-value]


HOST = make_host()


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("{{ GetPrivateIP }}", "10.0.0.5"),  # default interface first
        ('{{ GetPrivateInterfaces | join "address" " " }}', "10.0.0.5 fd00::5 172.17.0.1"),  # eth1 is down
        ("{{ GetPrivateIPs }}", "172.17.0.1 10.0.0.5 192.168.9.9 fd00::5"),  # no `up` filter, sorted type,size
        ("{{ GetPublicIP }}", "8.8.8.8"),  # 203.0.113/24 is blacklisted
        ('{{ GetInterfaceIP "eth0" }}', "10.0.0.5"),  # unanchored: veth0 matches too, eth0 comes first
        ('{{ GetInterfaceIP "^veth" }}', "8.8.8.8"),
        ('{{ GetInterfaceIPs "eth0" }}', "10.0.0.5 203.0.113.9 8.8.8.8 fd00::5 fe80::1"),
        ('{{ GetAllInterfaces | include "flags" "loopback" | join "address" " " }}', "127.0.0.1 ::1"),
        (
            '{{ GetAllInterfaces | include "name" "^eth" | include "flags" "forwardable|up" | attr "address" }}',
            "10.0.0.5",
        ),
        ('{{ GetAllInterfaces | include "network" "10.0.0.0/16" | attr "address" }}', "10.0.0.5"),
        ('{{ GetAllInterfaces | include "network" "10.0.0.0/25" | attr "address" }}', ""),  # network in network
        (
            '{{ GetAllInterfaces | include "type" "ipv4|ip" | include "name" "docker" | join "address" "," }}',
            "172.17.0.1,172.17.0.1",
        ),  # `|` values evaluated once each: duplicates on include
        (
            '{{ GetAllInterfaces | exclude "type" "ipv4|ipv6" | include "name" "docker" | join "name" "," }}',
            "docker0",
        ),  # exclude keeps one copy per value not matched
        (
            '{{ GetAllInterfaces | include "flags" "down" | unique "name" | join "name" "," }}',
            "lo,eth0,docker0,veth0,eth1",
        ),  # `down` builds an empty mask: matches everything
        (
            '{{ GetAllInterfaces | include "rfc" "1918" | sort "-address" | join "address" " " }}',
            "192.168.9.9 172.17.0.1 10.0.0.5",
        ),
        ('{{ GetAllInterfaces | include "size" "16" | attr "name" }}', "docker0"),
        ('{{ GetDefaultInterfaces | limit 1 | attr "network" }}', "10.0.0.0"),
        ('{{ GetAllInterfaces | offset -1 | attr "string" }}', "192.168.9.9/24"),
        ('{{ GetPrivateInterfaces | math "address" "+5" | attr "address" }}', "10.0.0.10"),
        ('{{ GetPrivateInterfaces | math "network" "-1" | attr "address" }}', "10.0.0.255"),
        ('{{ GetPrivateInterfaces | attr "netmask" }} {{ GetPrivateInterfaces | attr "size" }}', "255.255.255.0 256"),
        (
            '{{ GetPrivateInterfaces | attr "broadcast" }}/{{ GetPrivateInterfaces | attr "mask_bits" }}',
            "10.0.0.255/24",
        ),
        ('{{ GetPrivateInterfaces | attr "type" }} {{ GetPrivateInterfaces | attr "flags" }}', "IPv4 up|broadcast"),
        ('{{ GetPublicInterfaces | exclude "type" "ipv6" | attr "address" }}', "8.8.8.8"),
        ('{{ GetAllInterfaces | unique "name" | join "name" "," }}', "lo,eth0,docker0,veth0,eth1"),
        ("{{- GetPrivateIP -}} ", "10.0.0.5"),
        ("{{/* a comment */}}{{ GetPrivateIP }}", "10.0.0.5"),
        ('{{ GetAllInterfaces | include "name" "nomatch" | attr "address" }}', ""),
        ('{{ . | include "name" "^lo$" | attr "address" }}', "127.0.0.1"),
        ('{{ (GetAllInterfaces | include "name" "eth1") | attr "address" }}', "192.168.9.9"),
    ],
)
def test_evaluate(template: str, expected: str) -> None:
    assert evaluate(template, HOST) == expected


def test_a_list_prints_as_go_structs_never_as_an_address() -> None:
    assert evaluate("{{ GetPrivateInterfaces }}", HOST).startswith("[{10.0.0.5/24 eth0}")


def test_without_default_route() -> None:
    host = make_host(default=None)
    with pytest.raises(TemplateError, match="No default route"):
        evaluate('{{ GetDefaultInterfaces | attr "address" }}', host)
    assert evaluate("{{ GetPrivateIP }}", host) == "172.17.0.1"  # `default` sort ignores it; then type, size


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{{ Foo }}", 'function "Foo" not defined'),
        ('{{ GetAllInterfaces | attr "bogus" }}', "unsupported attribute name"),
        ('{{ GetAllInterfaces | include "colour" "x" }}', "invalid include selector"),
        ('{{ GetAllInterfaces | include "flags" "shiny" }}', "Unknown interface flag"),
        ('{{ GetAllInterfaces | include "rfc" "1" }}', "unsupported RFC 1"),
        ('{{ GetAllInterfaces | sort "colour" }}', "unknown sort type"),
        ('{{ GetAllInterfaces | limit "2" }}', "expected uint"),
        ("{{ GetAllInterfaces | offset 99 }}", "unable to seek past the end"),
        ('{{ GetPrivateIP | attr "address" }}', "unable to obtain attribute"),
        ("{{ GetPrivateIP", "unclosed action"),
        ('{{ GetInterfaceIP "(" }}', "Unable to compile name regexp"),
        ("{{ GetPrivateIP 1 }}", "wrong number of args"),
    ],
)
def test_errors_go_sockaddr_would_raise(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match=None) as err:
        evaluate(template, HOST)
    assert fragment in str(err.value)


@pytest.mark.parametrize("template", ["{{ if true }}x{{ end }}", "{{ $x := 1 }}", '{{ printf "%s" "x" }}'])
def test_constructs_we_do_not_evaluate_are_unsupported_not_guessed(template: str) -> None:
    with pytest.raises(Unsupported):
        evaluate(template, HOST)
