"""Consul: cluster state snapshots, health rules, gates and rolling upgrades."""
