# Consul server consul-2 of the compose lab: service consul-2 in docker-compose.yml, 172.28.0.12 on network "lab".
# A production-style server config: addresses from go-sockaddr templates, 3 servers, gossip encryption, autopilot.
# The three servers' files differ only in node_name. Checked offline by tests/integration/test_compose.py
# (clusterops validate consul with deploy/compose/facts.yaml, and consul validate 1.14.11 in a network namespace).

datacenter       = "dc1"
node_name        = "consul-2"
server           = true
bootstrap_expect = 3
# A named volume; the image's entrypoint also passes -data-dir=/consul/data.
data_dir             = "/consul/data"
log_level            = "INFO"
disable_update_check = true

# The one address of this container on the compose network (subnet 172.28.0.0/16 in docker-compose.yml).
# A template, not a literal, so that the same line serves every server; it must yield exactly one address,
# otherwise Consul refuses to start ("bind_addr cannot contain multiple addresses").
bind_addr      = "{{ GetPrivateInterfaces | include \"network\" \"172.28.0.0/16\" | attr \"address\" }}"
# Explicit rather than derived from bind_addr: attaching the container to a second network later cannot change
# what this server gossips to the others.
advertise_addr = "{{ GetPrivateInterfaces | include \"network\" \"172.28.0.0/16\" | attr \"address\" }}"

# HTTP, DNS and gRPC listen on loopback (the healthcheck, `docker compose exec consul-2 consul ...`) and on the
# compose network (the published port, other containers). Not 0.0.0.0: ACLs are off in this local lab, so the API
# must not listen on every interface of the container.
client_addr = "127.0.0.1 {{ GetPrivateInterfaces | include \"network\" \"172.28.0.0/16\" | attr \"address\" }}"

# Compose service names, resolved by Docker's embedded DNS on the user-defined network. Every server lists all
# three (joining itself is a no-op), so the files stay identical apart from node_name.
retry_join = ["consul-1", "consul-2", "consul-3"]

# Gossip encryption key, made once with `consul keygen` and committed ON PURPOSE: it only protects this local lab's
# gossip and is the key of no real cluster. A real cluster keeps its key out of git (e.g. a file written by its
# secret store into the config dir at deploy time).
encrypt = "YeKxD+Cj/ijTNPlVSzu2A8RaQTTg5l26Rki1k86CoLQ="

performance {
  raft_multiplier = 1 # production timing (the default 5 is for small development machines)
}

autopilot {
  cleanup_dead_servers      = true
  last_contact_threshold    = "200ms"
  server_stabilization_time = "10s"
  # Never prune dead servers below 3: a lost server must be replaced, not silently shrink the quorum.
  min_quorum                = 3
}

ui_config {
  enabled = true
}
