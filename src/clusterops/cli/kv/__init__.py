"""`clusterops kv`: Vault / OpenBao KV v2 versions, trees, redacted diffs, backup and declarative sync.

The app and its shared options live in `_app`; importing the command modules registers their
commands on it, in the order `clusterops kv --help` lists them.
"""

from importlib import import_module

from clusterops.cli.kv._app import app

for _module in ("secrets", "history", "tree", "backup", "sync", "policy"):
    import_module(f"clusterops.cli.kv.{_module}")

__all__ = ["app"]
