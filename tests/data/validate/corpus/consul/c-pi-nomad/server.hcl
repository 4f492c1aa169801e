server = true,
ui = true,
bootstrap = true,
data_dir = "/opt/consul/data",
encrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=",
datacenter = "dc1",
client_addr = "0.0.0.0",
log_level = "INFO"
acl = {
  enabled = true,
  default_policy = "allow",
  enable_token_persistence = true
}
