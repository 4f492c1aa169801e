{
  "datacenter": "dc1",
  "server": true,
  "ui": true,
  "client_addr": "0.0.0.0",
  "bind_addr": "0.0.0.0",
  "data_dir": "/usr/local/consul",
  "bootstrap_expect": 3,
  "retry_join": [
    "10.170.13.11",
    "10.170.13.12",
    "10.170.13.13"
  ]
}
