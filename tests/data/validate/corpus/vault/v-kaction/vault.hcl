storage "file"{
    path = "/vault/data"
}
listener "tcp" {
    address= "0.0.0.0:8200"
    tls_cert_file= "/vault/config/tls/vault.crt"
    tls_key_file= "/vault/config/tls/vault.key"
}
