"""The printed Consul policies (their effect is proven on a real server in test_tls_acl.py)."""

from __future__ import annotations

import pytest

from clusterops.consul import policy
from clusterops.errors import UsageError


def test_read_commands_need_operator_read_and_node_read_only() -> None:
    for command in ("status", "check", "gate"):
        assert [r.permission for r in policy.rules_for(command)] == ["operator:read", "node:read"]
    hcl = policy.render("status")
    assert 'operator = "read"' in hcl and 'node_prefix "" {' in hcl
    assert "write" not in hcl


def test_removal_needs_operator_write_and_snapshot_acl_write() -> None:
    assert 'operator = "write"' in policy.render("remove-stale-peers")
    assert 'acl = "write"' in policy.render("snapshot")


def test_unknown_command_is_a_usage_error_listing_the_commands() -> None:
    with pytest.raises(UsageError, match="commands: status, check"):
        policy.render("nope")
