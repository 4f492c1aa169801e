"""Keyed-hash redaction: equal values are recognisable without being revealed.

A value becomes `hmac:` + the first 16 hex digits of HMAC-SHA256(key, canonical JSON of the value).
The key is random for each run (nothing that outlives the run can be brute-forced back to a value),
or comes from CLUSTEROPS_REDACT_KEY when hashes must be compared across runs. The key itself is
never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

ENV_KEY = "CLUSTEROPS_REDACT_KEY"


class Redactor:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self.key_from_env = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Redactor:
        env = os.environ if env is None else env
        raw = env.get(ENV_KEY)
        if raw:
            r = cls(raw.encode("utf-8"))
            r.key_from_env = True
            return r
        return cls()

    def __repr__(self) -> str:
        return "Redactor(key=<hidden>)"

    def digest(self, value: Any) -> str:
        blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return "hmac:" + hmac.new(self._key, blob, hashlib.sha256).hexdigest()[:16]

    def digest_map(self, data: Mapping[str, Any] | None) -> dict[str, str]:
        return {k: self.digest(v) for k, v in (data or {}).items()}
