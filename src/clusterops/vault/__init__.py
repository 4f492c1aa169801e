"""Vault / OpenBao clusters on integrated storage (raft): state, checks, stale peers, snapshots."""
