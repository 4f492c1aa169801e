"""Integration tests: every test here is marked `integration`; the OpenBao fixtures of
`kv_helpers` (bao, root, client, cli, namespace, second_bao) are registered for every module."""

import pytest

from tests.integration.kv_helpers import bao, cli, client, namespace, root, second_bao

__all__ = ["bao", "cli", "client", "namespace", "root", "second_bao"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
