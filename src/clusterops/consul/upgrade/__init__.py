"""Rolling Consul server upgrades: a pure plan, node drivers, a journal and the executor."""
