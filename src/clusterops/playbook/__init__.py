"""Playbooks: YAML runbooks that chain checks, gates, upgrades, validation and KV changes."""
