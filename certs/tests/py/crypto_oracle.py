"""Independent oracle for the certs crate, on Python `cryptography` only.

Usage: crypto_oracle.py <ops.json>
The file holds a JSON list of operations; the script prints a JSON list of results in the same order.
Hex strings are upper or lower case. Nothing here is derived from the Rust code: it calls `cryptography`.

Operations:
  {"op": "public", "curve": c, "scalar": hex}                       -> {"point": hex (SEC1 uncompressed)}
  {"op": "sign", "curve": c, "scalar": hex, "msg": hex}             -> {"rs": hex (r||s), "der": hex}
  {"op": "verify", "curve": c, "point": hex, "msg": hex, "rs": hex} -> {"ok": bool}
  {"op": "verify_der", "curve": c, "point": hex, "msg": hex, "der": hex} -> {"ok": bool}
  {"op": "ecdh", "curve": c, "scalar": hex, "peer": hex}            -> {"shared": hex}
  {"op": "x963", "z": hex, "shared_info": hex, "length": n}         -> {"out": hex}
  {"op": "aes_cbc_zero_iv", "key": hex, "data": hex, "decrypt": bool} -> {"out": hex}
  {"op": "aes_gcm_open", "key": hex, "nonce": hex, "ct": hex, "aad": hex} -> {"pt": hex}
  {"op": "x509", "cert": pem, "issuer": pem}                         -> {"ok": bool, "ski": hex, "aki": hex,
                                                                         "key_usage": [...], "ca": bool, "curve": name}
  {"op": "ca_without_cert_sign", "issuer_cert": pem, "issuer_key": pem, "subject_scalar": hex}
                                                                     -> {"pem": certificate PEM}
  {"op": "pkcs8", "pem": pem}                                        -> {"curve": name, "scalar": hex}
curve c is "P-256" or "brainpoolP256r1".
"""

import datetime
import json
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.x509.oid import NameOID

CURVES = {"P-256": ec.SECP256R1(), "brainpoolP256r1": ec.BrainpoolP256R1()}
NAMES = {"secp256r1": "P-256", "brainpoolP256r1": "brainpoolP256r1"}


def b(h):
    return bytes.fromhex(h)


def priv(curve, scalar):
    return ec.derive_private_key(int.from_bytes(b(scalar), "big"), CURVES[curve])


def pub(curve, point):
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[curve], b(point))


def point_of(key):
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    ).hex()


def ext(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def run(op):
    kind = op["op"]
    if kind == "public":
        return {"point": point_of(priv(op["curve"], op["scalar"]).public_key())}
    if kind == "sign":
        der = priv(op["curve"], op["scalar"]).sign(b(op["msg"]), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return {"rs": (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex(), "der": der.hex()}
    if kind in ("verify", "verify_der"):
        if kind == "verify":
            rs = b(op["rs"])
            if len(rs) != 64:
                return {"ok": False}
            der = encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"))
        else:
            der = b(op["der"])
        try:
            pub(op["curve"], op["point"]).verify(der, b(op["msg"]), ec.ECDSA(hashes.SHA256()))
            return {"ok": True}
        except InvalidSignature:
            return {"ok": False}
    if kind == "ecdh":
        shared = priv(op["curve"], op["scalar"]).exchange(ec.ECDH(), pub(op["curve"], op["peer"]))
        return {"shared": shared.hex()}
    if kind == "x963":
        kdf = X963KDF(algorithm=hashes.SHA256(), length=op["length"], sharedinfo=b(op["shared_info"]))
        return {"out": kdf.derive(b(op["z"])).hex()}
    if kind == "aes_cbc_zero_iv":
        c = Cipher(algorithms.AES(b(op["key"])), modes.CBC(bytes(16)))
        t = c.decryptor() if op["decrypt"] else c.encryptor()
        return {"out": (t.update(b(op["data"])) + t.finalize()).hex()}
    if kind == "aes_gcm_open":
        return {"pt": AESGCM(b(op["key"])).decrypt(b(op["nonce"]), b(op["ct"]), b(op["aad"])).hex()}
    if kind == "x509":
        cert = x509.load_pem_x509_certificate(op["cert"].encode())
        issuer = x509.load_pem_x509_certificate(op["issuer"].encode())
        try:
            cert.verify_directly_issued_by(issuer)
            ok = True
        except (InvalidSignature, ValueError, TypeError):
            ok = False
        ski = ext(cert, x509.SubjectKeyIdentifier)
        aki = ext(cert, x509.AuthorityKeyIdentifier)
        ku = ext(cert, x509.KeyUsage)
        bc = ext(cert, x509.BasicConstraints)
        usages = []
        if ku is not None:
            for name in ("digital_signature", "key_agreement", "key_cert_sign", "crl_sign"):
                if getattr(ku, name):
                    usages.append(name)
        return {
            "ok": ok,
            "ski": ski.digest.hex() if ski else None,
            "aki": aki.key_identifier.hex() if aki and aki.key_identifier else None,
            "key_usage": usages,
            "ca": bool(bc and bc.ca),
            "curve": NAMES.get(cert.public_key().curve.name, cert.public_key().curve.name),
            "point": point_of(cert.public_key()),
            "sha1_of_point": _sha1(point_of(cert.public_key())),
        }
    if kind == "ca_without_cert_sign":
        issuer = x509.load_pem_x509_certificate(op["issuer_cert"].encode())
        issuer_key = serialization.load_pem_private_key(op["issuer_key"].encode(), password=None)
        subject_key = priv("P-256", op["subject_scalar"]).public_key()
        now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EUM without keyCertSign")]))
            .issuer_name(issuer.subject)
            .public_key(subject_key)
            .serial_number(4242)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650 * 3))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier(b(_sha1(point_of(subject_key)))), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier(
                    ext(issuer, x509.SubjectKeyIdentifier).digest, None, None
                ),
                critical=False,
            )
            .sign(issuer_key, hashes.SHA256())
        )
        return {"pem": cert.public_bytes(serialization.Encoding.PEM).decode()}
    if kind == "pkcs8":
        key = serialization.load_pem_private_key(op["pem"].encode(), password=None)
        return {
            "curve": NAMES.get(key.curve.name, key.curve.name),
            "scalar": key.private_numbers().private_value.to_bytes(32, "big").hex(),
        }
    raise SystemExit(f"unknown op {kind}")


def _sha1(point_hex):
    h = hashes.Hash(hashes.SHA1())
    h.update(b(point_hex))
    return h.finalize().hex()


def main():
    with open(sys.argv[1]) as f:
        ops = json.load(f)
    print(json.dumps([run(op) for op in ops]))


if __name__ == "__main__":
    main()
