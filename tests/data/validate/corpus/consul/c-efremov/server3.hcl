"node_name" = "consul-server3"
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
auto_encrypt = {
  allow_tls = true
}
"encrypt" = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
"verify_incoming" = false
"verify_outgoing" = false
"verify_server_hostname" = false
"ca_file" = "/consul/config/certs/consul-agent-ca.pem"
"cert_file" = "/consul/config/certs/dc1-server-consul-0.pem"
"key_file" = "/consul/config/certs/dc1-server-consul-0-key.pem"
