"""`vault upgrade --apply` holds a local flock per inventory: a second run on this host is refused
before it reads or touches anything (the Consul session lock does not apply to Vault)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.consul.lock import Holder, LocalLock, LockHeld
from clusterops.consul.upgrade.execute import UpgradeOptions
from clusterops.vault.upgrade import VaultPlanOptions, apply_vault_upgrade


def test_a_second_run_on_the_same_inventory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    inventory = tmp_path / "vault.yaml"
    # nothing listens on port 9 of this address: a run that got past the lock would fail to connect
    inventory.write_text("servers:\n  - {name: v1, address: 'http://127.0.0.1:9'}\n")
    held = LocalLock(tmp_path / "state", f"vault upgrade of {inventory.resolve()}")
    held.acquire(Holder.me("vault upgrade --to 2.7.2 --apply", "run-1"))
    try:
        with pytest.raises(LockHeld, match=r"locked on this host by `vault upgrade --to 2.7.2 --apply` run run-1"):
            apply_vault_upgrade(
                str(inventory), "2.7.2", plan_options=VaultPlanOptions(), options=UpgradeOptions("2.7.2"),
                state_dir=tmp_path / "state",
            )  # fmt: skip
    finally:
        held.release()
