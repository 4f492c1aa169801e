"""The local lab: real Consul servers on 127.0.0.N and an OpenBao dev server, for demos and tests."""
