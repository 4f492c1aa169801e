{
  "retry_join" : ["127.0.0.1"],
  "data_dir": "/var/lib/consul",
  "log_level": "INFO",
  "server": true,
  "node_name": "master",
  "addresses": {
    "https": "0.0.0.0"
  },
  "bind_addr": "0.0.0.0",
  "ui": true,
  "bootstrap_expect": 1
}
