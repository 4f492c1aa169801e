datacenter = "dc1"
data_dir = "/opt/consul"
encrypt = "AAAAAAAAAAAAAAAAAAAAAA=="



ca_file = "/etc/consul.d/certs/consul-agent-ca.pem"
cert_file = "/etc/consul.d/certs/dc1-server-consul-0.pem"
key_file = "/etc/consul.d/certs/dc1-server-consul-0-key.pem"
verify_incoming = true
verify_outgoing = true
verify_server_hostname = true
