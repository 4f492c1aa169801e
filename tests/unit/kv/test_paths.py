from __future__ import annotations

import pytest

from clusterops.errors import UsageError
from clusterops.kv import paths

# What Go's net/url produces for url.URL{Path: path.Join("/v1/secret/data", name)}.String(), i.e. what
# the `vault`/`bao` CLI sends (checked with go1.26 on this machine).
GO_CLI = {
    "app#old": "app%23old",
    "db?tmp": "db%3Ftmp",
    "50%": "50%25",
    "%41": "%2541",
    "a b": "a%20b",
    "café": "caf%C3%A9",
    "x/y": "x/y",
    "$&+,:;=@": "$&+,:;=@",
    "!*'()[]{}|\\^`\"<>": "%21%2A%27%28%29%5B%5D%7B%7D%7C%5C%5E%60%22%3C%3E",
    "tab\there": "tab%09here",
    "日本": "%E6%97%A5%E6%9C%AC",
    "a+b": "a+b",
    "~_-.": "~_-.",
}


@pytest.mark.parametrize(("name", "wire"), sorted(GO_CLI.items()))
def test_segments_are_encoded_like_the_official_cli(name: str, wire: str) -> None:
    assert paths.encode(name) == wire
    assert paths.api_path("secret", "data", name) == f"/v1/secret/data/{wire}"


def test_api_paths_keep_separators_and_encode_the_mount() -> None:
    assert paths.api_path("secret", "metadata", "team/app#old/") == "/v1/secret/metadata/team/app%23old"
    assert paths.api_path("secret", "metadata", "") == "/v1/secret/metadata"
    assert paths.api_path("team kv/", "data", "a") == "/v1/team%20kv/data/a"
    assert paths.api_path("kv1", "", "a?b") == "/v1/kv1/a%3Fb"
    assert paths.sys_path("sys/internal/ui/mounts", "secret/a#b") == "/v1/sys/internal/ui/mounts/secret/a%23b"


@pytest.mark.parametrize(
    "bad",
    ["../prod-db", "a/../b", "a/..", "./a", "a/./b", "a//b", "%2e%2e/x", "a/%2E%2e", "%2e", "a/%252e%252e/b", "x/%2e/"],
)
def test_traversal_and_empty_segments_are_refused(bad: str) -> None:
    assert paths.bad_segment(bad) is not None
    with pytest.raises(UsageError) as info:
        paths.api_path("secret", "data", bad)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("good", ["a", "/a/", "a/b/", "...", "a..b", ".hidden", "a.", "%41", "x%2fy", "50%", ""])
def test_real_names_pass(good: str) -> None:
    assert paths.bad_segment(good) is None
    assert paths.check(good) == good


def test_a_bad_mount_is_refused_too() -> None:
    with pytest.raises(UsageError, match="mount"):
        paths.api_path("secret/..", "data", "a")
