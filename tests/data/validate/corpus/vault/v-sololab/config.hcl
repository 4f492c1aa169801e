storage "raft" {
  path = "/vault/data"
  node_id = "vault"
}

api_addr = "12.0.0.1:8200"

cluster_addr = "http://127.0.0.1:8201"
