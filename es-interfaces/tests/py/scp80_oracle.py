"""Independent SCP80 encoder (ETSI TS 102 225 / 3GPP TS 31.115, wire-profile §2) written on pycryptodome.

Generates random command packets and PoRs (random keys, algorithms, SPIs, TARs, counters, data) and prints them
as JSON for the Rust cross-check test (es-interfaces/tests/scp80_python.rs). Written from the text of
docs/wire-profile.md §2 and the security-and-transport notes §1, not from the Rust code.

Usage: scp80_oracle.py <seed> <count>
"""

import json
import random
import sys

from Crypto.Cipher import AES, DES3
from Crypto.Hash import CMAC

ALGS = {
    # name: (KIc/KID low nibble, key length, block size)
    "aes128": (0x2, 16, 16),
    "aes192": (0x2, 24, 16),
    "aes256": (0x2, 32, 16),
    "3des2": (0x5, 16, 8),
    "3des3": (0x9, 24, 8),
}


def des3_key(rng, n):
    while True:
        k = bytes(rng.getrandbits(8) for _ in range(n))
        try:
            DES3.adjust_key_parity(k)
            return k
        except ValueError:
            continue


def key(rng, alg):
    n = ALGS[alg][1]
    if alg.startswith("3des"):
        return des3_key(rng, n)
    return bytes(rng.getrandbits(8) for _ in range(n))


def cc(alg, k, data):
    if alg.startswith("aes"):
        return CMAC.new(k, data, ciphermod=AES).digest()[:8]
    padded = data + b"\x00" * (-len(data) % 8)
    return DES3.new(k, DES3.MODE_CBC, iv=b"\x00" * 8).encrypt(padded)[-8:]


def encrypt(alg, k, data):
    if alg.startswith("aes"):
        return AES.new(k, AES.MODE_CBC, iv=b"\x00" * 16).encrypt(data)
    return DES3.new(k, DES3.MODE_CBC, iv=b"\x00" * 8).encrypt(data)


def command(alg, kic_key, kid_key, spi1, spi2, kic, kid, tar, cntr, data):
    cc_len = 8 if spi1 & 0x03 == 0x02 else 0
    ciphered = bool(spi1 & 0x04)
    bs = ALGS[alg][2]
    pad = (-(5 + 1 + cc_len + len(data)) % bs) if ciphered else 0
    chl = 13 + cc_len
    cpl = 1 + chl + len(data) + pad
    head = cpl.to_bytes(2, "big") + bytes([chl, spi1, spi2, kic, kid]) + tar
    body = cntr + bytes([pad])
    tail = data + b"\x00" * pad
    mac = cc(alg, kid_key, head + body + tail) if cc_len else b""
    secured = body + mac + tail
    if ciphered:
        secured = encrypt(alg, kic_key, secured)
    return head + secured


def por(alg, kic_key, kid_key, spi2, tar, cntr, status, data):
    cc_len = 8 if (spi2 >> 2) & 0x03 == 0x02 else 0
    ciphered = bool(spi2 & 0x10)
    bs = ALGS[alg][2]
    pad = (-(5 + 1 + 1 + cc_len + len(data)) % bs) if ciphered else 0
    rhl = 10 + cc_len
    rpl = 1 + rhl + len(data) + pad
    head = rpl.to_bytes(2, "big") + bytes([rhl]) + tar
    body = cntr + bytes([pad, status])
    tail = data + b"\x00" * pad
    mac = cc(alg, kid_key, b"\x02\x71\x00" + head + body + tail) if cc_len else b""
    secured = body + mac + tail
    if ciphered:
        secured = encrypt(alg, kic_key, secured)
    return head + secured


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    commands, pors, tokens = [], [], []
    for i in range(count):
        alg = rng.choice(sorted(ALGS))
        kic_key, kid_key = key(rng, alg), key(rng, alg)
        nibble = ALGS[alg][0]
        kvn = rng.randrange(1, 16)
        kic = (kvn << 4) | nibble
        kid = (kvn << 4) | nibble
        spi1 = (rng.randrange(4) << 3) | rng.choice([0, 4]) | rng.choice([0, 2])
        spi2 = (rng.randrange(2) << 5) | rng.choice([0, 0x10]) | (rng.choice([0, 2]) << 2) | rng.randrange(3)
        tar = bytes(rng.getrandbits(8) for _ in range(3))
        cntr = rng.getrandbits(40).to_bytes(5, "big")
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
        commands.append({
            "alg": alg, "kic_key": kic_key.hex(), "kid_key": kid_key.hex(),
            "spi": bytes([spi1, spi2]).hex(), "kic": kic, "kid": kid, "tar": tar.hex(), "cntr": cntr.hex(),
            "data": data.hex(),
            "packet": command(alg, kic_key, kid_key, spi1, spi2, kic, kid, tar, cntr, data).hex(),
        })
        status = rng.randrange(0, 13)
        rdata = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120)))
        pors.append({
            "alg": alg, "kic_key": kic_key.hex(), "kid_key": kid_key.hex(),
            "spi": bytes([spi1, spi2]).hex(), "kic": kic, "kid": kid, "tar": tar.hex(), "cntr": cntr.hex(),
            "status": status, "data": rdata.hex(),
            "packet": por(alg, kic_key, kid_key, spi2, tar, cntr, status, rdata).hex(),
        })
        if alg.startswith("aes"):
            aid = bytes(rng.getrandbits(8) for _ in range(16))
            tokens.append({
                "key": kid_key.hex(), "aid": aid.hex(),
                "token": CMAC.new(kid_key, b"\x4f\x10" + aid, ciphermod=AES).digest().hex(),
            })
    json.dump({"commands": commands, "pors": pors, "tokens": tokens}, sys.stdout)


if __name__ == "__main__":
    main()
