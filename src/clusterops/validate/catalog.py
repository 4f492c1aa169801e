"""The rule catalog of `clusterops validate`: stable ids, never reused.

VC0xx: one Consul server's config. VX0xx: across the Consul servers of one cluster. VV0xx: Vault / OpenBao.
Where a rule mirrors a check of the server itself, its messages reuse the server's wording so that a search
for the server's error finds the rule.
"""

from __future__ import annotations

from clusterops.findings import Rule, Severity, catalog

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

CONSUL_RULES = (
    Rule(
        "VC001",
        E,
        "Config value cannot be decoded the way Consul decodes it",
        "Fix the value's type (a string, number, bool, list or block, as Consul documents the key).",
    ),
    Rule(
        "VC002",
        E,
        "Unknown config key: Consul refuses to start ('invalid config key')",
        "Rename the key (see the closest known key), or pick the Consul release with --consul-version; "
        "--unknown-keys warn downgrades this when validating for a release newer than we know.",
    ),
    Rule(
        "VC003",
        E,
        "bind_addr must resolve to exactly one IP address",
        "Set bind_addr to one IP, or a go-sockaddr template that yields exactly one address on this host.",
    ),
    Rule(
        "VC004",
        E,
        "Advertise address cannot be 0.0.0.0, :: or [::]",
        "Advertise the routable address other nodes use to reach this server.",
    ),
    Rule(
        "VC005",
        E,
        "Binding to ANY without advertise_addr needs exactly one private IPv4 on the host",
        "Set bind_addr and/or advertise_addr (or a template such as "
        '{{ GetPrivateInterfaces | include "network" "10.0.0.0/8" | attr "address" }}).',
    ),
    Rule(
        "VC006",
        W,
        "Advertise address is a loopback address in a multi-server cluster",
        "Other servers cannot reach a loopback address unless they run on this host; advertise a routable one.",
    ),
    Rule(
        "VC007",
        W,
        "Advertise address is not on any interface of the host",
        "Check the address; NAT is legal (then ignore), otherwise the node will flap.",
    ),
    Rule(
        "VC008",
        W,
        "Client API listens on a public or ANY address with ACLs disabled",
        "Bind client_addr / addresses.* to loopback or a private address, or enable ACLs (acl.enabled = true).",
    ),
    Rule(
        "VC009",
        E,
        "Two listeners on the same address and port",
        "Give each listener its own port (ports.*) or address (addresses.*).",
    ),
    Rule(
        "VC010",
        E,
        "'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive",
        "Remove bootstrap; use bootstrap_expect = <number of servers> on every server.",
    ),
    Rule(
        "VC011",
        W,
        "bootstrap_expect is even or below 3",
        "Use an odd number of servers, 3 or more, for failure tolerance.",
    ),
    Rule(
        "VC012",
        W,
        "retry_join entry is malformed",
        "Use an IP, [IPv6], host name, host:port, a go-sockaddr template or 'provider=... key=value' (go-discover).",
    ),
    Rule(
        "VC013",
        W,
        "retry_join names only this node",
        "List the other servers' addresses so that this server can join them.",
    ),
    Rule(
        "VC014",
        E,
        "Address key does not resolve to a usable address",
        "Fix the template or value: one IP (or several for client keys), no unix socket where not allowed.",
    ),
    Rule(
        "VC015",
        INFO,
        "Host facts missing: checks that depend on the host were skipped",
        "Pass --facts FILE (or --live on the target host) to evaluate templates and ANY detection.",
    ),
    Rule(
        "VC016",
        E,
        "bootstrap / bootstrap_expect need server mode and a non-negative count",
        "Set server = true, or remove bootstrap / bootstrap_expect from client agents.",
    ),
    Rule(
        "VC017",
        E,
        "raft_protocol version is not supported by this version of Consul",
        "Remove raft_protocol (Consul 1.x only supports 3).",
    ),
    Rule("VC018", E, "datacenter can only contain lowercase alphanumeric, - or _ characters", "Rename the datacenter."),
    Rule("VC019", E, "encrypt has an invalid key", "Use a key from `consul keygen` (base64 of 16, 24 or 32 bytes)."),
    Rule("VC020", E, "Invalid port", "Use a port between 1 and 65535 (0 or below disables the listener)."),
    Rule("VC021", E, "data_dir cannot be empty", "Set data_dir."),
    Rule(
        "VC022",
        E,
        "Advertise address of the wrong IP family",
        "advertise_addr_ipv4 / *_wan_ipv4 must be IPv4, *_ipv6 must be IPv6.",
    ),
    Rule(
        "VC023",
        INFO,
        "Template cannot be evaluated offline",
        "The evaluator supports go-sockaddr pipelines; check this value on the host with `consul validate`.",
    ),
    Rule("VC024", INFO, "File skipped: extension must be .hcl or .json", "Rename the file if Consul should read it."),
    Rule(
        "VC026",
        W,
        "Deprecated config key",
        "Move the value to the replacement key Consul names; the deprecated key may be removed in a later release.",
    ),
    Rule(
        "VC027",
        W,
        "Unknown config key (downgraded to a warning by --unknown-keys warn)",
        "Consul refuses unknown keys; check the key against the release you deploy.",
    ),
    Rule(
        "VC028",
        E,
        "Consul refuses this setting at start-up (config builder check)",
        "Change the setting as Consul's message says (see clusterops.validate.consul_startup for the checks).",
    ),
    Rule(
        "VC029",
        W,
        "Config key added in a patch release of the target's line: earlier patch releases refuse it",
        "Check that the Consul release you deploy has the key (its changelog), or give --consul-version the "
        "exact release.",
    ),
    Rule(
        "VC025",
        W,
        "client_addr is empty, client services will not be listening for connections",
        "Set client_addr (default 127.0.0.1) to the addresses the HTTP/DNS/gRPC APIs should listen on.",
    ),
)

CLUSTER_RULES = (
    Rule("VX001", E, "Servers are in different datacenters", "Set the same datacenter on every server."),
    Rule("VX002", E, "bootstrap_expect differs between servers", "Set the same bootstrap_expect on every server."),
    Rule(
        "VX003",
        E,
        "bootstrap_expect is not the number of servers",
        "Set bootstrap_expect to the number of servers in the cluster (validate all of them together).",
    ),
    Rule("VX004", E, "Two servers advertise the same address", "Give every server its own advertise address."),
    Rule("VX005", E, "Two servers have the same node name", "Give every server a unique node_name."),
    Rule(
        "VX006",
        E,
        "Gossip encryption key differs between servers",
        "Use the same encrypt key on every server (or none on all).",
    ),
    Rule(
        "VX007",
        W,
        "Ports differ between servers",
        "Use the same server / serf_lan / serf_wan ports everywhere, or name the port in every retry_join entry.",
    ),
    Rule("VX008", W, "raft_protocol differs between servers", "Set the same raft_protocol on every server."),
    Rule(
        "VX009",
        E,
        "retry_join does not let every server reach the others",
        "List the other servers' advertise addresses (or one shared auto-join) in every server's retry_join.",
    ),
    Rule(
        "VX010",
        W,
        "TLS settings differ between servers",
        "Use the same verify_incoming / verify_outgoing / verify_server_hostname and CA on every server.",
    ),
    Rule("VX011", W, "Even number of servers", "An even number of servers adds no failure tolerance; use 3 or 5."),
    Rule(
        "VX012",
        INFO,
        "retry_join targets that cannot be resolved offline",
        "Host names and cloud auto-join are resolved at run time; they were not checked.",
    ),
    Rule(
        "VX013",
        E,
        "A federated datacenter joins no other datacenter over the WAN",
        "List the other datacenters' servers (their advertise_addr_wan) in retry_join_wan.",
    ),
    Rule(
        "VX014",
        E,
        "Two servers advertise the same WAN address",
        "Give every server its own advertise_addr_wan (or serf_wan port).",
    ),
    Rule(
        "VX015",
        E,
        "Server advertises loopback while the other servers advertise routable addresses",
        "Advertise an address the other servers can reach (loopback works only when all servers share a host).",
    ),
    Rule(
        "VX016",
        E,
        "retry_join names an IP address no validated server advertises",
        "With the whole server set given, every retry_join IP should be another server's advertise address; "
        "fix the address (this server never joins otherwise).",
    ),
)

VAULT_RULES = (
    Rule("VV001", E, "Listener type must be specified and supported", 'Use listener "tcp" { ... }.'),
    Rule("VV002", E, "Listener address is invalid", 'Use host:port, e.g. address = "0.0.0.0:8200".'),
    Rule("VV003", E, "Listener cluster_address is invalid", 'Use host:port, e.g. cluster_address = "0.0.0.0:8201".'),
    Rule("VV004", E, "api_addr is not set", "Set api_addr to this node's URL, e.g. https://10.0.0.11:8200."),
    Rule("VV005", E, "api_addr is not a URL with a scheme", "Use https://host:port (or http:// without TLS)."),
    Rule(
        "VV006",
        E,
        "api_addr is ANY, or loopback while other nodes use routable addresses",
        "Other nodes redirect clients there; use this node's routable address (loopback works only when every "
        "node shares the host).",
    ),
    Rule(
        "VV007",
        E,
        "cluster_addr is not a valid https URL",
        "Use https://<this node's address>:<cluster port> (Vault always speaks https there).",
    ),
    Rule(
        "VV008",
        E,
        "cluster_addr port does not match any listener's cluster_address port",
        "Point cluster_addr at the port of a cluster_address listener (default: API port + 1), not the API "
        "or load balancer port.",
    ),
    Rule(
        "VV009",
        E,
        "cluster_addr is not unique across nodes",
        "Each node advertises its own cluster_addr; a shared (load balancer) address breaks forwarding.",
    ),
    Rule(
        "VV010",
        E,
        "Several listeners: api_addr and cluster_addr must both be set",
        "With more than one listener Vault cannot pick one; set both explicitly.",
    ),
    Rule("VV011", E, "raft node_id is not unique across nodes", "Give every node its own node_id."),
    Rule(
        "VV012",
        W,
        "raft retry_join leader_api_addr is not another node's api_addr",
        "List the other nodes' api_addr values in retry_join (not this node's own, not an unknown address).",
    ),
    Rule(
        "VV013",
        E,
        "Cluster address must be set when using raft storage",
        "Set cluster_addr (or VAULT_CLUSTER_ADDR / BAO_CLUSTER_ADDR).",
    ),
    Rule("VV014", E, "A storage backend must be specified", 'Add a storage block, e.g. storage "raft" { ... }.'),
    Rule("VV015", E, "raft storage: 'path' must be set", "Set path (or VAULT_RAFT_PATH)."),
    Rule(
        "VV016",
        E,
        "The same address is used for both API and cluster addresses",
        "The cluster port is separate from the API port (default API port + 1).",
    ),
    Rule(
        "VV017",
        E,
        "raft retry_join entry is invalid",
        "Give either leader_api_addr (a http(s):// URL) or auto_join, and auto_join_scheme http or https.",
    ),
    Rule(
        "VV018",
        W,
        "TLS listener without certificate or key (Vault refuses to start; OpenBao 2.x starts)",
        "Set tls_cert_file and tls_key_file, or tls_disable = true.",
    ),
    Rule(
        "VV019",
        E,
        "Disable clustering cannot be set to true when Raft is the storage type",
        "Remove disable_clustering.",
    ),
    Rule("VV020", E, "Two listeners on the same address and port", "Give each listener its own port."),
    Rule(
        "VV021",
        INFO,
        "Host facts missing or template not evaluable: address checks skipped",
        "Pass --facts FILE (or --live on the target host).",
    ),
    Rule("VV022", E, "Only one storage block is permitted", "Keep one storage block per file."),
    Rule(
        "VV023", W, "cluster_addr does not use https", "Vault always speaks https on the cluster port; write https://."
    ),
    Rule(
        "VV024",
        W,
        "cluster_addr is ANY, or loopback while other nodes use routable addresses",
        "Standbys forward requests there; use this node's routable address (loopback works only when every "
        "node shares the host).",
    ),
    Rule(
        "VV025",
        E,
        "Storage or service_registration type the target does not have",
        "OpenBao removed consul, etcd, s3, ... storage (and file in 2.7) and consul service registration; "
        "use raft (integrated storage) or postgresql, or validate with --target vault.",
    ),
    Rule(
        "VV026",
        W,
        "Deprecated storage type on the target",
        "Migrate with `bao operator migrate` to raft before upgrading to OpenBao 2.7.",
    ),
    Rule(
        "VV027",
        E,
        "raft retry_join leader_api_addr scheme does not match the target listener's TLS",
        "Write https:// for a TLS listener and http:// for one with tls_disable = true.",
        doc="https://openbao.org/docs/configuration/storage/raft/#retry_join-stanza",
    ),
)

ALL_RULES = CONSUL_RULES + CLUSTER_RULES + VAULT_RULES
RULES = catalog(ALL_RULES)
