
bind_addr = "{{ GetInterfaceIP \"tailscale0\" }}"
client_addr = "127.0.0.1 {{ GetInterfaceIP \"eth0\" }} {{ GetInterfaceIP \"tailscale0\" }}"


datacenter = "homelab"
domain = "consul"

bootstrap_expect = 3
server = true
ui = true

data_dir = "/opt/consul"
log_level = "INFO"

retry_join = [
    "100.64.0.3",
    "100.64.0.4",
]

connect {
  enabled = true
}

telemetry {
  disable_hostname = true
  prometheus_retention_time = "10s"
}
