# OpenBao (Vault API) server vault-1 of the compose lab: service vault-1 in docker-compose.yml, 172.28.0.21.
# api_addr and cluster_addr are NOT in this file: docker-compose.yml sets VAULT_API_ADDR and VAULT_CLUSTER_ADDR,
# which override the config file (OpenBao reads BAO_* first, then falls back to VAULT_*). clusterops validate
# reads them from deploy/compose/facts.yaml (`env`), which tests/integration/test_compose.py keeps equal to the
# compose file's environment.

ui           = true
cluster_name = "compose-lab"

# Integrated storage, one node. More nodes would add retry_join { leader_api_addr = "http://vault-1:8200" }.
storage "raft" {
  path    = "/openbao/file" # a named volume in docker-compose.yml
  node_id = "vault-1"
}

listener "tcp" {
  # The container's one address on the compose network (172.28.0.0/16), as a go-sockaddr template.
  address         = "{{ GetPrivateInterfaces | include \"network\" \"172.28.0.0/16\" | attr \"address\" }}:8200"
  cluster_address = "{{ GetPrivateInterfaces | include \"network\" \"172.28.0.0/16\" | attr \"address\" }}:8201"
  # Plain HTTP for a local lab only: a real server sets tls_cert_file / tls_key_file and https:// addresses.
  tls_disable = true
}
