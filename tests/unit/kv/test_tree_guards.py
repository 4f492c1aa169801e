from __future__ import annotations

from typing import Any

import pytest

from clusterops.errors import UsageError
from clusterops.kv import copymove
from clusterops.kv.model import SecretRef


class _NoWrites:
    """A client on which any request fails the test: the guards must refuse before one is made."""

    settings: Any = None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was called")


def test_a_listed_source_name_with_dot_dot_refuses_the_whole_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copymove, "paths_below", lambda *_a, **_k: ["ok", "a/../../prod"])
    monkeypatch.setattr(copymove, "check_not_overlapping", lambda *_a: None)
    c = _NoWrites()
    with pytest.raises(UsageError, match=r"'\.\.' segment.*nothing was written"):
        copymove.plan_copy(c, SecretRef("secret", "src"), c, SecretRef("secret", "dst"))  # type: ignore[arg-type]


def test_a_latest_only_move_needs_the_loss_asked_for() -> None:
    c = _NoWrites()
    with pytest.raises(UsageError, match="destroys the older ones"):
        copymove.plan_copy(c, SecretRef("secret", "a"), c, SecretRef("secret", "b"), move=True)  # type: ignore[arg-type]
