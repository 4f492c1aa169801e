"node_name" = "consul-server1"
"datacenter" = "dc1"
"domain" = "consul"
"server" = true
"ui" = true
"data_dir" = "/consul/data"
"retry_join" = ["consul-server2", "consul-server3"]
"addresses" = {
  "http" = "0.0.0.0"
}
"acl" = {
  "enabled" = true
  "default_policy" = "deny"
  "down_policy" = "extend-cache"
  "enable_token_persistence" = true
  "tokens" = {
    "master" = "00000000-0000-0000-0000-000000000000"
    "agent" = "00000000-0000-0000-0000-000000000000"
  }

}
"service" = {
  "id" = "redis"
  "name" = "redis"
  "tags" = ["primary"]
  "address" = "11.11.11.13"
  "port" = 6379
  "enable_tag_override" = false
  "check" = {
    "id" = "redis"
    "name" = "Consul REDIS"
    "tcp" = "11.11.11.13:6379"
    "interval" = "10s"
    "timeout" = "1s"
  }
}
auto_encrypt = {
  allow_tls = true
}
"encrypt" = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
"verify_incoming" = true
"verify_outgoing" = true
"verify_server_hostname" = true
"ca_file" = "/consul/config/certs/consul-agent-ca.pem"
"cert_file" = "/consul/config/certs/dc1-server-consul-0.pem"
"key_file" = "/consul/config/certs/dc1-server-consul-0-key.pem"
