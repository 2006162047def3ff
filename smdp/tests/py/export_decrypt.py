"""Decrypts the SECRETS column of an SM-DP output file with the MNO's private key, using only the `cryptography`
package, following the scheme documented in smdp/src/warehouse/ecies.rs: ECDH on P-256 with the ephemeral key of
SECRETS_EPK, ANSI X9.63 KDF (SHA-256, SharedInfo = b"rsp-order-export-v1" || E || Q, 32 bytes), AES-256-GCM with
the 12-byte nonce at the start of each base64 cell and the row's ICCID as associated data.

Usage: export_decrypt.py <mno-key.pem> <output.csv>
Prints JSON: {ICCID: {secret fields}} for every row.
"""
import base64
import csv
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

key_path, csv_path = sys.argv[1], sys.argv[2]
key = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)
q = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

out = {}
aes = {}
with open(csv_path, newline="") as f:
    for row in csv.DictReader(f):
        epk_hex = row["SECRETS_EPK"]
        if epk_hex not in aes:
            e = bytes.fromhex(epk_hex)
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), e)
            z = key.exchange(ec.ECDH(), peer)
            k = X963KDF(algorithm=hashes.SHA256(), length=32,
                        sharedinfo=b"rsp-order-export-v1" + e + q).derive(z)
            aes[epk_hex] = AESGCM(k)
        cell = base64.b64decode(row["SECRETS"])
        clear = aes[epk_hex].decrypt(cell[:12], cell[12:], row["ICCID"].encode())
        out[row["ICCID"]] = json.loads(clear)
print(json.dumps(out))
