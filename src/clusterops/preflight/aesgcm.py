"""AES-GCM in pure Python, for the host probe's gossip pings (memberlist encrypts its packets with it).

The probe runs on the servers' hosts with whatever `python3` they have, so it cannot rely on a third-party
library; it seals and opens a handful of packets of a few hundred bytes, where speed does not matter. This
module is stdlib-only (Python >= 3.7) and self-contained on purpose: `clusterops.preflight.ship` sends its source
ahead of
the probe's. tests/unit/preflight checks it against PyCA `cryptography` and NIST's GCM test vectors.
"""

from __future__ import annotations

_SBOX: list[int] = []


def _sbox() -> list[int]:
    if _SBOX:
        return _SBOX
    # The AES S-box from the multiplicative inverse in GF(2^8) and the affine map (FIPS-197, 5.1.1).
    p = q = 1
    box = [0] * 256
    while True:
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ _rotl8(q, 1) ^ _rotl8(q, 2) ^ _rotl8(q, 3) ^ _rotl8(q, 4)
        box[p] = x ^ 0x63
        if p == 1:
            break
    box[0] = 0x63
    _SBOX.extend(box)
    return _SBOX


def _rotl8(x: int, n: int) -> int:
    return ((x << n) | (x >> (8 - n))) & 0xFF


def _xtime(a: int) -> int:
    return ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1


def _expand_key(key: bytes) -> list[list[int]]:
    if len(key) not in (16, 24, 32):
        raise ValueError("an AES key is 16, 24 or 32 bytes")
    sbox = _sbox()
    nk = len(key) // 4
    rounds = nk + 6
    words = [list(key[4 * i : 4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        temp = list(words[i - 1])
        if i % nk == 0:
            temp = [sbox[b] for b in temp[1:] + temp[:1]]
            temp[0] ^= rcon
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            temp = [sbox[b] for b in temp]
        words.append([words[i - nk][j] ^ temp[j] for j in range(4)])
    return [[b for w in words[4 * r : 4 * r + 4] for b in w] for r in range(rounds + 1)]


def _encrypt_block(round_keys: list[list[int]], block: bytes) -> bytes:
    sbox = _sbox()
    s = [block[j] ^ round_keys[0][j] for j in range(16)]
    last = len(round_keys) - 1
    for r in range(1, last + 1):
        s = [sbox[b] for b in s]
        # ShiftRows on the column-major state
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]
        if r != last:
            mixed = []
            for c in range(4):
                a = s[4 * c : 4 * c + 4]
                t = a[0] ^ a[1] ^ a[2] ^ a[3]
                mixed += [a[i] ^ t ^ _xtime(a[i] ^ a[(i + 1) % 4]) for i in range(4)]
            s = mixed
        s = [s[j] ^ round_keys[r][j] for j in range(16)]
    return bytes(s)


def _gf_mult(x: int, y: int) -> int:
    r = 0xE1 << 120
    z = 0
    for i in range(127, -1, -1):
        if (y >> i) & 1:
            z ^= x
        x = (x >> 1) ^ r if x & 1 else x >> 1
    return z


def _ghash(h: int, aad: bytes, ciphertext: bytes) -> int:
    y = 0
    for data in (aad, ciphertext):
        for i in range(0, len(data), 16):
            chunk = data[i : i + 16].ljust(16, b"\0")
            y = _gf_mult(y ^ int.from_bytes(chunk, "big"), h)
    lengths = (len(aad) * 8).to_bytes(8, "big") + (len(ciphertext) * 8).to_bytes(8, "big")
    return _gf_mult(y ^ int.from_bytes(lengths, "big"), h)


def _ctr(round_keys: list[list[int]], counter: bytes, data: bytes) -> bytes:
    out = bytearray()
    prefix, count = counter[:12], int.from_bytes(counter[12:], "big")
    for i in range(0, len(data), 16):
        count = (count + 1) & 0xFFFFFFFF
        stream = _encrypt_block(round_keys, prefix + count.to_bytes(4, "big"))
        chunk = data[i : i + 16]
        out += bytes(chunk[j] ^ stream[j] for j in range(len(chunk)))
    return bytes(out)


def seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Ciphertext followed by the 16-byte tag, as Go's `cipher.NewGCM(...).Seal` (12-byte nonce)."""
    if len(nonce) != 12:
        raise ValueError("the nonce is 12 bytes")
    keys = _expand_key(key)
    h = int.from_bytes(_encrypt_block(keys, b"\0" * 16), "big")
    j0 = nonce + b"\0\0\0\1"
    ciphertext = _ctr(keys, j0, plaintext)
    tag = _ghash(h, aad, ciphertext) ^ int.from_bytes(_encrypt_block(keys, j0), "big")
    return ciphertext + tag.to_bytes(16, "big")


def open_(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """The plaintext, or ValueError when the tag does not match (wrong key or a damaged packet)."""
    if len(nonce) != 12 or len(sealed) < 16:
        raise ValueError("not a GCM message")
    keys = _expand_key(key)
    h = int.from_bytes(_encrypt_block(keys, b"\0" * 16), "big")
    j0 = nonce + b"\0\0\0\1"
    ciphertext, tag = sealed[:-16], sealed[-16:]
    expected = _ghash(h, aad, ciphertext) ^ int.from_bytes(_encrypt_block(keys, j0), "big")
    if expected.to_bytes(16, "big") != tag:
        raise ValueError("authentication failed")
    return _ctr(keys, j0, ciphertext)
