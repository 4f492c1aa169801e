{
  "data_dir": "/tmp/consul",
  "server": true,
  "advertise_addr": "192.168.99.100",
  "client_addr": "192.168.99.100",
  "bootstrap_expect": 3,
  "retry_join": [
    "consul-agent-1"
  ]
}
