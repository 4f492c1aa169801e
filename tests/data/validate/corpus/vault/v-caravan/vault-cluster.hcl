storage "raft" {
  path    = "/var/lib/vault/storage"
  node_id = "node-1"
  retry_join {
    leader_api_addr = "http://10.77.0.3:8200"
  }
  retry_join {
    leader_api_addr = "http://10.77.0.4:8200"
  }
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_disable     = true
}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname = true
}

log_level = "Debug"

ui = true
disable_mlock = true
cluster_addr  = "http://10.77.0.2:8201"
api_addr      = "http://10.77.0.2:8200"
