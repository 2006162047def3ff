"""Independent check of the new ISD-R key set of SM-SR change (wire-profile §5b), written from
../shared/specs/wire-profile.md with Python `cryptography` only; it shares no code with the project.

Reads a JSON file: a list of cases, each with
  cert_sr        CERT.SR.ECDSA (7F21 ...) hex: the signer's public key is its 7F49 { B0, F0 }
  ecasd_scalar   SK.ECASD.ECKA private scalar hex, ecasd_curve "00" (P-256) or "03" (brainpoolP256r1)
  rc             the eUICC's random challenge hex (85 10 RC of 3A01)
  store_data     the 3A02 C-APDU hex: 80 E2 89 01 Lc 3A02 L { A6 .., 7F49 .., 5F37 40 r||s }
  response       the eUICC's answer data hex: 86 10 <receipt>
For each case it checks
  1. the APDU header 80 E2 89 01, the DGI 3A02 and its length (one byte up to 254, else FF + two bytes);
  2. the CRT: 90 02 03 00, 95 01 10, 80 01 88, 81 01 10, 82 01 01, 83 01 <KVN 01..0F>, 91 05 <counter>;
  3. 5F37 = ECDSA-SHA256 over A6 TLV || 7F49 TLV || 85 10 RC with CERT.SR.ECDSA's key;
  4. ShS = ECDH(SK.ECASD.ECKA, 7F49 B0), KeyData = X9.63-KDF-SHA256(ShS, 64, SharedInfo 10 88 10)
     = receipt key || KIc || KID || KIK;
  5. the receipt 86 10 = AES-CMAC(receipt key, A6 TLV || 7F49 TLV).
Prints one JSON list: per case {"ok": true, "kvn", "counter", "kic", "kid", "kik", "receipt"} or
{"ok": false, "error"}.

usage: isdr_key_set_check.py CASES_JSON
"""

import json
import sys

from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

CURVES = {"00": ec.SECP256R1(), "03": ec.BrainpoolP256R1()}


class Refused(Exception):
    pass


def read_len(b, i):
    first = b[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 3:
        raise Refused(f"length byte {first:#x}")
    return int.from_bytes(b[i + 1:i + 1 + n], "big"), i + 1 + n


def read_tag(b, i):
    start = i
    i += 1
    if b[start] & 0x1F == 0x1F:
        while b[i] & 0x80:
            i += 1
        i += 1
    return b[start:i], i


def tlvs(b):
    """[(tag hex, value, whole TLV)] of a concatenation of BER-TLVs."""
    out, i = [], 0
    while i < len(b):
        start = i
        tag, i = read_tag(b, i)
        n, i = read_len(b, i)
        if i + n > len(b):
            raise Refused("TLV overruns its container")
        out.append((tag.hex().upper(), b[i:i + n], b[start:i + n]))
        i += n
    return out


def one(b, tag):
    for t, v, whole in tlvs(b):
        if t == tag:
            return v, whole
    raise Refused(f"tag {tag} not found")


def signer_key(cert_hex):
    body, _ = one(bytes.fromhex(cert_hex), "7F21")
    pk, _ = one(body, "7F49")
    point, _ = one(pk, "B0")
    ref, _ = one(pk, "F0")
    curve = CURVES.get(ref.hex())
    if curve is None:
        raise Refused(f"CERT.SR.ECDSA curve {ref.hex()}")
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


def check(case):
    apdu = bytes.fromhex(case["store_data"])
    if apdu[:4] != bytes.fromhex("80E28901"):
        raise Refused(f"header {apdu[:4].hex()}, not 80E28901")
    lc = apdu[4]
    data = apdu[5:5 + lc]
    if len(data) != lc or len(apdu) not in (5 + lc, 6 + lc):
        raise Refused("Lc does not match the data")
    if data[:2] != b"\x3A\x02":
        raise Refused(f"DGI {data[:2].hex()}")
    if data[2] == 0xFF:
        n, start = int.from_bytes(data[3:5], "big"), 5
    else:
        n, start = data[2], 3
    value = data[start:]
    if n != len(value):
        raise Refused("DGI length does not match")
    items = tlvs(value)
    if [t for t, _, _ in items] != ["A6", "7F49", "5F37"]:
        raise Refused(f"3A02 holds {[t for t, _, _ in items]}")
    (_, crt, a6), (_, pk, epk), (_, sig, _) = items

    fields = [(t, v) for t, v, _ in tlvs(crt)]
    tags = [t for t, _ in fields]
    if tags != ["90", "95", "80", "81", "82", "83", "91"]:
        raise Refused(f"CRT tags {tags}")
    f = dict(fields)
    expected = {"90": "0300", "95": "10", "80": "88", "81": "10", "82": "01"}
    for t, v in expected.items():
        if f[t].hex() != v:
            raise Refused(f"CRT {t} = {f[t].hex()}, not {v}")
    if len(f["83"]) != 1 or not 1 <= f["83"][0] <= 0x0F:
        raise Refused(f"KVN {f['83'].hex()}")
    if len(f["91"]) != 5:
        raise Refused("initial counter is not 5 bytes")

    rc = bytes.fromhex(case["rc"])
    if len(sig) != 64:
        raise Refused("signature is not 64 bytes")
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        signer_key(case["cert_sr"]).verify(der, a6 + epk + b"\x85\x10" + rc, ec.ECDSA(hashes.SHA256()))
    except Refused:
        raise
    except Exception:
        raise Refused("the 3A02 signature does not verify with CERT.SR.ECDSA")

    curve = CURVES[case["ecasd_curve"]]
    point, _ = one(pk, "B0")
    ref, _ = one(pk, "F0")
    if ref.hex() != case["ecasd_curve"]:
        raise Refused(f"7F49 F0 {ref.hex()} is not the ECASD's curve")
    ecasd = ec.derive_private_key(int(case["ecasd_scalar"], 16), curve)
    shs = ecasd.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, point))
    key_data = X963KDF(algorithm=hashes.SHA256(), length=64, sharedinfo=b"\x10\x88\x10").derive(shs)
    receipt_key = key_data[:16]

    r, _ = one(bytes.fromhex(case["response"]), "86")
    c = cmac.CMAC(algorithms.AES(receipt_key))
    c.update(a6 + epk)
    if r != c.finalize():
        raise Refused("the receipt does not match AES-CMAC(receipt key, A6 || 7F49)")
    return {
        "ok": True,
        "kvn": f["83"][0],
        "counter": int.from_bytes(f["91"], "big"),
        "kic": key_data[16:32].hex(),
        "kid": key_data[32:48].hex(),
        "kik": key_data[48:64].hex(),
        "receipt": r.hex(),
    }


def main():
    with open(sys.argv[1]) as fh:
        cases = json.load(fh)
    out = []
    for case in cases:
        try:
            out.append(check(case))
        except Refused as e:
            out.append({"ok": False, "error": str(e)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
