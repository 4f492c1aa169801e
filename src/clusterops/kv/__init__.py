"""Vault / OpenBao KV v2: version management, trees, redacted diffs, backup and declarative sync.

Modules: `client` (the hvac adapter), `model` (typed results), `ops` (`vault kv` parity), `history`,
`diff` and `redact` (keyed-hash redaction), `tree` (list, copy, move, delete, search), `replay` and
`backup` (export / import with history), `desired`, `sync` and `journal` (plan, apply, undo), `pool`
(bounded concurrency). Only `client` imports hvac.
"""

from __future__ import annotations

from clusterops.kv.model import MountInfo, SecretMetadata, SecretRef, SecretVersion, Subkeys, VersionInfo, WriteResult

__all__ = ["MountInfo", "SecretMetadata", "SecretRef", "SecretVersion", "Subkeys", "VersionInfo", "WriteResult"]
