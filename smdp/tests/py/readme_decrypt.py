"""Opens the SECRETS of an SM-DP output file, written from README.md "Decrypting an output file" alone (not from
the Rust sources): ECDH on P-256, the X9.63 KDF computed by hand with hashlib, AES-256-GCM.

Usage: readme_decrypt.py <mno-key.pem> <output.csv>
Prints JSON: {ICCID: {field: value}} for every row.
"""
import base64
import csv
import hashlib
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

key_path, csv_path = sys.argv[1], sys.argv[2]
d = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)
# Step 1: uncompressed SEC1 point, 04 || X || Y.
q = d.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
assert len(q) == 65 and q[0] == 4

result = {}
with open(csv_path, newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        e = bytes.fromhex(row["SECRETS_EPK"])
        assert len(e) == 65 and e[0] == 4
        # Step 2: Z = X coordinate of d*E.
        z = d.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), e))
        # Step 3: one X9.63 block, SharedInfo = label || E || Q.
        shared_info = b"rsp-order-export-v1" + e + q
        assert len(shared_info) == 149
        key = hashlib.sha256(z + (1).to_bytes(4, "big") + shared_info).digest()
        # Step 4: base64 of nonce(12) || ciphertext || tag(16).
        cell = base64.b64decode(row["SECRETS"], validate=True)
        nonce, sealed = cell[:12], cell[12:]
        assert nonce[:4] == b"\0\0\0\0"
        # Step 5: AES-256-GCM, associated data = the ICCID as written.
        clear = AESGCM(key).decrypt(nonce, sealed, row["ICCID"].encode("ascii"))
        # Step 6: a JSON object of strings.
        fields = json.loads(clear.decode("utf-8"))
        assert all(isinstance(v, str) for v in fields.values())
        result[row["ICCID"]] = {"row": int.from_bytes(nonce[4:], "big"), **fields}
print(json.dumps(result))
