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
        doc=(
            "Consul decodes each file strictly (mapstructure without weak typing): a value of the wrong "
            "type, or a block given twice in one HCL file, stops the agent at start-up."
        ),
    ),
    Rule(
        "VC002",
        E,
        "Unknown config key: Consul refuses to start ('invalid config key')",
        "Rename the key (see the closest known key), or pick the Consul release with --consul-version; "
        "--unknown-keys warn downgrades this when validating for a release newer than we know.",
        doc=(
            "Consul refuses a key it does not know ('invalid config key') and does not start; the key set"
            " is the one of the release chosen with --consul-version."
        ),
    ),
    Rule(
        "VC003",
        E,
        "bind_addr must resolve to exactly one IP address",
        "Set bind_addr to one IP, or a go-sockaddr template that yields exactly one address on this host.",
        doc=(
            "Consul binds RPC and Serf to bind_addr, which must expand to exactly one IP: empty, several "
            "addresses or a unix socket stop the agent."
        ),
    ),
    Rule(
        "VC004",
        E,
        "Advertise address cannot be 0.0.0.0, :: or [::]",
        "Advertise the routable address other nodes use to reach this server.",
        doc=("Other agents connect to the advertise address; Consul refuses 0.0.0.0, :: or [::] there at start-up."),
    ),
    Rule(
        "VC005",
        E,
        "Binding to ANY without advertise_addr needs exactly one private IPv4 on the host",
        "Set bind_addr and/or advertise_addr (or a template such as "
        '{{ GetPrivateInterfaces | include "network" "10.0.0.0/8" | attr "address" }}).',
        doc=(
            "With bind_addr ANY and no advertise_addr, Consul advertises the host's one private IPv4 "
            "(public IPv6 for ::); with none or several it refuses to start. Needs host facts."
        ),
    ),
    Rule(
        "VC006",
        W,
        "Advertise address is a loopback address in a multi-server cluster",
        "Other servers cannot reach a loopback address unless they run on this host; advertise a routable one.",
        doc=(
            "A loopback advertise address reaches only agents on the same host: the other servers of the "
            "cluster cannot reach this one."
        ),
    ),
    Rule(
        "VC007",
        W,
        "Advertise address is not on any interface of the host",
        "Check the address; NAT is legal (then ignore), otherwise the node will flap.",
        doc=(
            "An advertise address on no interface of the host is a typo or a stale address, unless NAT "
            "maps it (then ignore the warning). Needs host facts."
        ),
    ),
    Rule(
        "VC008",
        W,
        "Client API listens on a public or ANY address with ACLs disabled",
        "Bind client_addr / addresses.* to loopback or a private address, or enable ACLs (acl.enabled = true).",
        doc=(
            "The HTTP, HTTPS, gRPC and DNS interfaces answer whoever reaches them: with ACLs off, a "
            "public or ANY address exposes KV and the catalog."
        ),
    ),
    Rule(
        "VC009",
        E,
        "Two listeners on the same address and port",
        "Give each listener its own port (ports.*) or address (addresses.*).",
        doc=(
            "Two listeners (DNS tcp/udp, HTTP, HTTPS, RPC, Serf LAN/WAN) on one address and port: Consul "
            "refuses to start ('already configured for')."
        ),
    ),
    Rule(
        "VC010",
        E,
        "'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive",
        "Remove bootstrap; use bootstrap_expect = <number of servers> on every server.",
        doc=(
            "bootstrap = true and bootstrap_expect > 0 are two ways to bootstrap a cluster; Consul "
            "refuses both together."
        ),
    ),
    Rule(
        "VC011",
        W,
        "bootstrap_expect is even or below 3",
        "Use an odd number of servers, 3 or more, for failure tolerance.",
        doc=(
            "bootstrap_expect = 1 is bootstrap mode (one server); 2 or another even number adds no "
            "failure tolerance. A warning of Consul's builder."
        ),
    ),
    Rule(
        "VC012",
        W,
        "retry_join entry is malformed",
        "Use an IP, [IPv6], host name, host:port, a go-sockaddr template or 'provider=... key=value' (go-discover).",
        doc=(
            "A malformed retry_join entry (bad port, bracket, go-discover setting) is met only when the "
            "agent tries to join, and it never joins through it."
        ),
    ),
    Rule(
        "VC013",
        W,
        "retry_join names only this node",
        "List the other servers' addresses so that this server can join them.",
        doc="A server whose retry_join names only itself never joins the other servers.",
    ),
    Rule(
        "VC014",
        E,
        "Address key does not resolve to a usable address",
        "Fix the template or value: one IP (or several for client keys), no unix socket where not allowed.",
        doc=(
            "An address key (client_addr, addresses.*, advertise_*, serf_*) must expand to usable "
            "addresses: a template error, an invalid IP, several where one is needed or a unix socket "
            "stop the agent."
        ),
    ),
    Rule(
        "VC015",
        INFO,
        "Host facts missing: checks that depend on the host were skipped",
        "Pass --facts FILE (or --live on the target host) to evaluate templates and ANY detection.",
        doc=(
            "Templates, ANY detection and 'advertise address on the host' depend on the target host's "
            "interfaces: without --facts or --live those checks are skipped, not guessed."
        ),
    ),
    Rule(
        "VC016",
        E,
        "bootstrap / bootstrap_expect need server mode and a non-negative count",
        "Set server = true, or remove bootstrap / bootstrap_expect from client agents.",
        doc=(
            "bootstrap and bootstrap_expect are server settings that count servers: Consul refuses them "
            "on a client agent or with a negative count."
        ),
    ),
    Rule(
        "VC017",
        E,
        "raft_protocol version is not supported by this version of Consul",
        "Remove raft_protocol (Consul 1.x only supports 3).",
        doc="Consul 1.x speaks Raft protocol 3 only: another raft_protocol stops the agent.",
    ),
    Rule(
        "VC018",
        E,
        "datacenter can only contain lowercase alphanumeric, - or _ characters",
        "Rename the datacenter.",
        doc=(
            "Consul lowercases the datacenter name and accepts only a-z, 0-9, - and _ in it; another "
            "character stops the agent."
        ),
    ),
    Rule(
        "VC019",
        E,
        "encrypt has an invalid key",
        "Use a key from `consul keygen` (base64 of 16, 24 or 32 bytes).",
        doc=(
            "The gossip key is base64 (Go's padded StdEncoding) of 16, 24 or 32 bytes, as `consul keygen`"
            " prints; Consul refuses another. The value is never shown."
        ),
    ),
    Rule(
        "VC020",
        E,
        "Invalid port",
        "Use a port between 1 and 65535 (0 or below disables the listener).",
        doc="A port above 65535 stops the agent ('invalid port'); 0 or below disables that listener.",
    ),
    Rule(
        "VC021",
        E,
        "data_dir cannot be empty",
        "Set data_dir.",
        doc="Every agent needs a data_dir: an empty one stops it.",
    ),
    Rule(
        "VC022",
        E,
        "Advertise address of the wrong IP family",
        "advertise_addr_ipv4 / *_wan_ipv4 must be IPv4, *_ipv6 must be IPv6.",
        doc=(
            "advertise_addr_ipv4 and *_wan_ipv4 take IPv4 addresses, *_ipv6 IPv6 ones; Consul refuses the other family."
        ),
    ),
    Rule(
        "VC023",
        INFO,
        "Template cannot be evaluated offline",
        "The evaluator supports go-sockaddr pipelines; check this value on the host with `consul validate`.",
        doc=(
            "The template uses a go-sockaddr feature the offline evaluator does not have: Consul "
            "evaluates it on the host, this run did not."
        ),
    ),
    Rule(
        "VC024",
        INFO,
        "File skipped: extension must be .hcl or .json",
        "Rename the file if Consul should read it.",
        doc=(
            "Consul reads only .hcl and .json files of a config directory and skips the others: a file "
            "meant to be read may have the wrong extension."
        ),
    ),
    Rule(
        "VC026",
        W,
        "Deprecated config key",
        "Move the value to the replacement key Consul names; the deprecated key may be removed in a later release.",
        doc=("Consul still reads a deprecated key and names its replacement; a later release may remove it."),
    ),
    Rule(
        "VC027",
        W,
        "Unknown config key (downgraded to a warning by --unknown-keys warn)",
        "Consul refuses unknown keys; check the key against the release you deploy.",
        doc=("VC002 downgraded by --unknown-keys warn, for a release newer than the key sets this tool knows."),
    ),
    Rule(
        "VC028",
        E,
        "Consul refuses this setting at start-up (config builder check)",
        "Change the setting as Consul's message says (see clusterops.validate.consul_startup for the checks).",
        doc=(
            "A start-up refusal of Consul's config builder; each check of "
            "clusterops.validate.consul_startup mirrors one, in Consul's words."
        ),
    ),
    Rule(
        "VC029",
        W,
        "Config key added in a patch release of the target's line: earlier patch releases refuse it",
        "Check that the Consul release you deploy has the key (its changelog), or give --consul-version the "
        "exact release.",
        doc=(
            "The key is in the line's newest patch release but not in its first: a target patch release between "
            "the two may or may not have it (the key sets are read per line, from its first and newest patch)."
        ),
    ),
    Rule(
        "VC025",
        W,
        "client_addr is empty, client services will not be listening for connections",
        "Set client_addr (default 127.0.0.1) to the addresses the HTTP/DNS/gRPC APIs should listen on.",
        doc=(
            "With client_addr empty the DNS, HTTP, HTTPS and gRPC interfaces listen nowhere (a warning of"
            " Consul's builder)."
        ),
    ),
)

CLUSTER_RULES = (
    Rule(
        "VX001",
        E,
        "Servers are in different datacenters",
        "Set the same datacenter on every server.",
        doc=(
            "The servers of one cluster share a datacenter; one in another datacenter is a WAN peer, not "
            "a member of this cluster."
        ),
    ),
    Rule(
        "VX002",
        E,
        "bootstrap_expect differs between servers",
        "Set the same bootstrap_expect on every server.",
        doc=(
            "Each server waits for bootstrap_expect servers before electing a leader: differing values "
            "can bootstrap two clusters, or none."
        ),
    ),
    Rule(
        "VX003",
        E,
        "bootstrap_expect is not the number of servers",
        "Set bootstrap_expect to the number of servers in the cluster (validate all of them together).",
        doc=(
            "With every server given, bootstrap_expect is their number: a larger value never bootstraps, "
            "a smaller one may bootstrap before all have joined."
        ),
    ),
    Rule(
        "VX004",
        E,
        "Two servers advertise the same address",
        "Give every server its own advertise address.",
        doc=("Raft and Serf identify peers by address: two servers advertising one address and port collide."),
    ),
    Rule(
        "VX005",
        E,
        "Two servers have the same node name",
        "Give every server a unique node_name.",
        doc=(
            "Node names identify members in Serf and the catalog: a second server with the same name "
            "conflicts with the first."
        ),
    ),
    Rule(
        "VX006",
        E,
        "Gossip encryption key differs between servers",
        "Use the same encrypt key on every server (or none on all).",
        doc=("Gossip is encrypted with a shared key: a server with another key, or none, cannot talk to the others."),
    ),
    Rule(
        "VX007",
        W,
        "Ports differ between servers",
        "Use the same server / serf_lan / serf_wan ports everywhere, or name the port in every retry_join entry.",
        doc=(
            "retry_join entries without a port use the server's own port: servers on different server / "
            "serf ports miss each other."
        ),
    ),
    Rule(
        "VX008",
        W,
        "raft_protocol differs between servers",
        "Set the same raft_protocol on every server.",
        doc="Servers of one cluster should speak one Raft protocol.",
    ),
    Rule(
        "VX009",
        E,
        "retry_join does not let every server reach the others",
        "List the other servers' advertise addresses (or one shared auto-join) in every server's retry_join.",
        doc=(
            "Following every server's retry_join, some servers never reach the others: they form a "
            "separate cluster, or none."
        ),
    ),
    Rule(
        "VX010",
        W,
        "TLS settings differ between servers",
        "Use the same verify_incoming / verify_outgoing / verify_server_hostname and CA on every server.",
        doc=(
            "Servers verify each other's certificates: differing verify_* settings or CA make RPC between"
            " them fail in one direction."
        ),
    ),
    Rule(
        "VX011",
        W,
        "Even number of servers",
        "An even number of servers adds no failure tolerance; use 3 or 5.",
        doc=("An even number of servers has the failure tolerance of one server fewer, and a larger quorum."),
    ),
    Rule(
        "VX012",
        INFO,
        "retry_join targets that cannot be resolved offline",
        "Host names and cloud auto-join are resolved at run time; they were not checked.",
        doc=(
            "Host names and cloud auto-join (go-discover) are resolved at run time: those targets were "
            "not matched to the servers given."
        ),
    ),
    Rule(
        "VX013",
        E,
        "A federated datacenter joins no other datacenter over the WAN",
        "List the other datacenters' servers (their advertise_addr_wan) in retry_join_wan.",
        doc=(
            "Datacenters federate through the WAN pool: a datacenter whose servers name no other "
            "datacenter's WAN address (and that none names) stays alone."
        ),
    ),
    Rule(
        "VX014",
        E,
        "Two servers advertise the same WAN address",
        "Give every server its own advertise_addr_wan (or serf_wan port).",
        doc="Two servers advertising one WAN address and serf_wan port collide in the WAN pool.",
    ),
    Rule(
        "VX015",
        E,
        "Server advertises loopback while the other servers advertise routable addresses",
        "Advertise an address the other servers can reach (loopback works only when all servers share a host).",
        doc=(
            "Servers that advertise routable addresses cannot reach one that advertises loopback "
            "(loopback works only when every server shares the host)."
        ),
    ),
    Rule(
        "VX016",
        E,
        "retry_join names an IP address no validated server advertises",
        "With the whole server set given, every retry_join IP should be another server's advertise address; "
        "fix the address (this server never joins otherwise).",
        doc=(
            "With the whole server set given, a retry_join IP that no server advertises is a typo or a "
            "stale address: this server never joins through it."
        ),
    ),
)

VAULT_RULES = (
    Rule(
        "VV001",
        E,
        "Listener type must be specified and supported",
        'Use listener "tcp" { ... }.',
        doc=("The server has tcp and unix listeners: a listener without a type, or of another type, stops it."),
    ),
    Rule(
        "VV002",
        E,
        "Listener address is invalid",
        'Use host:port, e.g. address = "0.0.0.0:8200".',
        doc=(
            "A tcp listener's address is host:port (or a go-sockaddr template giving one address); the "
            "server does not start otherwise."
        ),
    ),
    Rule(
        "VV003",
        E,
        "Listener cluster_address is invalid",
        'Use host:port, e.g. cluster_address = "0.0.0.0:8201".',
        doc="A listener's cluster_address is host:port; the server cannot resolve it otherwise.",
    ),
    Rule(
        "VV004",
        E,
        "api_addr is not set",
        "Set api_addr to this node's URL, e.g. https://10.0.0.11:8200.",
        doc=(
            "With HA storage (raft, consul, ...) the server redirects clients to api_addr: it must be "
            "set, in the config or as VAULT_API_ADDR / BAO_API_ADDR."
        ),
    ),
    Rule(
        "VV005",
        E,
        "api_addr is not a URL with a scheme",
        "Use https://host:port (or http:// without TLS).",
        doc=(
            "api_addr is a URL (https://host:port) that clients are redirected to: a bare host:port, or a"
            " template that matches no address, gives them nothing to follow."
        ),
    ),
    Rule(
        "VV006",
        E,
        "api_addr is ANY, or loopback while other nodes use routable addresses",
        "Other nodes redirect clients there; use this node's routable address (loopback works only when every "
        "node shares the host).",
        doc=(
            "Standbys redirect clients to the active node's api_addr: ANY is no address, and loopback "
            "reaches only the same host while the other nodes are elsewhere."
        ),
    ),
    Rule(
        "VV007",
        E,
        "cluster_addr is not a valid https URL",
        "Use https://<this node's address>:<cluster port> (Vault always speaks https there).",
        doc=(
            "cluster_addr is the URL other nodes use for forwarding and raft: it must parse as a URL with"
            " a host and a valid port."
        ),
    ),
    Rule(
        "VV008",
        E,
        "cluster_addr port does not match any listener's cluster_address port",
        "Point cluster_addr at the port of a cluster_address listener (default: API port + 1), not the API "
        "or load balancer port.",
        doc=(
            "cluster_addr must point at a cluster listener of this node (cluster_address, default API "
            "port + 1); the API or a load balancer port breaks forwarding and raft."
        ),
    ),
    Rule(
        "VV009",
        E,
        "cluster_addr is not unique across nodes",
        "Each node advertises its own cluster_addr; a shared (load balancer) address breaks forwarding.",
        doc=(
            "Each node advertises its own cluster_addr: one shared by two nodes (a load balancer) breaks "
            "request forwarding."
        ),
    ),
    Rule(
        "VV010",
        E,
        "Several listeners: api_addr and cluster_addr must both be set",
        "With more than one listener Vault cannot pick one; set both explicitly.",
        doc=(
            "With several listeners the server cannot tell which one to advertise: api_addr and "
            "cluster_addr must both be set."
        ),
    ),
    Rule(
        "VV011",
        E,
        "raft node_id is not unique across nodes",
        "Give every node its own node_id.",
        doc="Raft identifies nodes by node_id: two nodes with one ID conflict in the raft configuration.",
    ),
    Rule(
        "VV012",
        W,
        "raft retry_join leader_api_addr is not another node's api_addr",
        "List the other nodes' api_addr values in retry_join (not this node's own, not an unknown address).",
        doc=(
            "A retry_join leader_api_addr should be another node's api_addr: one that names no validated "
            "node, or this node itself, never leads to a join."
        ),
    ),
    Rule(
        "VV013",
        E,
        "Cluster address must be set when using raft storage",
        "Set cluster_addr (or VAULT_CLUSTER_ADDR / BAO_CLUSTER_ADDR).",
        doc=(
            "Raft storage needs cluster_addr (or VAULT_CLUSTER_ADDR / BAO_CLUSTER_ADDR): the server "
            "refuses to start without it."
        ),
    ),
    Rule(
        "VV014",
        E,
        "A storage backend must be specified",
        'Add a storage block, e.g. storage "raft" { ... }.',
        doc="The server refuses to start without a storage block.",
    ),
    Rule(
        "VV015",
        E,
        "raft storage: 'path' must be set",
        "Set path (or VAULT_RAFT_PATH).",
        doc=("Raft storage keeps its data in path (or VAULT_RAFT_PATH): the server does not start without it."),
    ),
    Rule(
        "VV016",
        E,
        "The same address is used for both API and cluster addresses",
        "The cluster port is separate from the API port (default API port + 1).",
        doc="The cluster port is separate from the API port: the server refuses one address for both.",
    ),
    Rule(
        "VV017",
        E,
        "raft retry_join entry is invalid",
        "Give either leader_api_addr (a http(s):// URL) or auto_join, and auto_join_scheme http or https.",
        doc=(
            "Each raft retry_join block needs leader_api_addr (an http(s) URL) or auto_join, not both, "
            "and auto_join_scheme http or https."
        ),
    ),
    Rule(
        "VV018",
        W,
        "TLS listener without certificate or key (Vault refuses to start; OpenBao 2.x starts)",
        "Set tls_cert_file and tls_key_file, or tls_disable = true.",
        doc=(
            "A tcp listener without tls_disable needs tls_cert_file and tls_key_file: Vault refuses to "
            "start without them, OpenBao 2.x starts."
        ),
    ),
    Rule(
        "VV019",
        E,
        "Disable clustering cannot be set to true when Raft is the storage type",
        "Remove disable_clustering.",
        doc=(
            "Raft storage brings its own HA and clustering: disable_clustering = true or an ha_storage "
            "block are refused with it."
        ),
    ),
    Rule(
        "VV020",
        E,
        "Two listeners on the same address and port",
        "Give each listener its own port.",
        doc="Two listeners on one address and port cannot both bind.",
    ),
    Rule(
        "VV021",
        INFO,
        "Host facts missing or template not evaluable: address checks skipped",
        "Pass --facts FILE (or --live on the target host).",
        doc=(
            "Templates depend on the target host's interfaces: without --facts or --live (or for a "
            "feature the evaluator lacks) those checks are skipped, not guessed."
        ),
    ),
    Rule(
        "VV022",
        E,
        "Only one storage block is permitted",
        "Keep one storage block per file.",
        doc="One storage block per file: the server refuses a second.",
    ),
    Rule(
        "VV023",
        W,
        "cluster_addr does not use https",
        "Vault always speaks https on the cluster port; write https://.",
        doc=(
            "Vault always speaks https on the cluster port, whatever scheme cluster_addr names: write "
            "https:// so the address reads as it is used."
        ),
    ),
    Rule(
        "VV024",
        W,
        "cluster_addr is ANY, or loopback while other nodes use routable addresses",
        "Standbys forward requests there; use this node's routable address (loopback works only when every "
        "node shares the host).",
        doc=(
            "Standbys forward requests to the active node's cluster_addr: ANY is no address, and loopback"
            " reaches only the same host while the other nodes are elsewhere."
        ),
    ),
    Rule(
        "VV025",
        E,
        "Storage or service_registration type the target does not have",
        "OpenBao removed consul, etcd, s3, ... storage (and file in 2.7) and consul service registration; "
        "use raft (integrated storage) or postgresql, or validate with --target vault.",
        doc=(
            "OpenBao removed consul, etcd, zookeeper, dynamodb, mysql, s3 and gcs storage in 2.0, file "
            "storage in 2.7 and consul service registration: it refuses them ('unknown storage type'), "
            "checked on bao 2.6.2 and 2.7.2."
        ),
    ),
    Rule(
        "VV026",
        W,
        "Deprecated storage type on the target",
        "Migrate with `bao operator migrate` to raft before upgrading to OpenBao 2.7.",
        doc="OpenBao 2.6 deprecates file storage and 2.7 removes it: migrate to raft before that upgrade.",
    ),
    Rule(
        "VV027",
        E,
        "raft retry_join leader_api_addr scheme does not match the target listener's TLS",
        "Write https:// for a TLS listener and http:// for one with tls_disable = true.",
        doc=(
            "A leader_api_addr whose scheme does not match the target listener's TLS never joins: bao "
            "2.7.2 logs 'failed to get raft challenge' every 2 s. "
            "https://openbao.org/docs/configuration/storage/raft/#retry_join-stanza"
        ),
    ),
)

ALL_RULES = CONSUL_RULES + CLUSTER_RULES + VAULT_RULES
RULES = catalog(ALL_RULES)
