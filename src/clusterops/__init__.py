"""clusterops: safe rolling Consul upgrades, address validation and Vault KV v2 management.

The library works without the CLI: import the capability packages (`clusterops.consul`,
`clusterops.lab`, ...) directly. Importing this package is cheap on purpose; it pulls in no
HTTP client, so `clusterops --help` starts fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
