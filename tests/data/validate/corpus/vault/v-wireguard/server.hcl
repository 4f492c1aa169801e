api_addr     = "https://vault.example.com"
cluster_addr = "http://127.0.0.1:8201"

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = "true"
}

ui = true
storage "dynamodb" {
  ha_enabled = "true"
  table      = "vault"
  region     = "us-east-1"
}
seal "awskms" {
  kms_key_id = "arn:aws:kms:us-east-1:000000000000:key/example"
}
cluster_name = "vault.example.com"
