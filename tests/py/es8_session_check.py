"""Independent check of the SM-DP's side of one ES8 session, from the SOAP messages captured during a real
download and the test world's keys (wire-profile §5 key establishment, §7 SCP03t).

Written from ../shared/specs/wire-profile.md with Python `cryptography` only; it shares no code with the
project. It reads every captured envelope (es_runtime::capture: one file per emitted message, in emission
order), keeps the ES3 SendData requests for one EID and the SM-SR's callbacks answering them (wsa:RelatesTo),
and checks:
  1. the STORE DATA 3A02 signature (ECDSA-SHA256 over A6 TLV || 7F49 TLV || 85 10 RC) with CERT.DP.ECDSA's key;
  2. ShS = ECDH(SK.ECASD.ECKA, ephemeral key of 3A02), KeyData = X9.63-KDF-SHA256(ShS, 64, SharedInfo 5C 88 10);
  3. the receipt 86 10 = AES-CMAC(receipt key, A6 TLV || 7F49 TLV);
  4. SCP03t: session keys from host/card challenges, the host cryptogram and C-MAC of 85, and the first 86
     segment decrypted (ICV = AES(S-ENC, counter 1)) and its C-MAC checked.
Prints one JSON line with what was checked; exits 1 with a reason on any mismatch.

usage: es8_session_check.py CAPTURE_DIR WORLD_DIR EID
"""

import json
import os
import sys
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import load_pem_private_key

WSA = "http://www.w3.org/2005/08/addressing"


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


# ---- BER-TLV (definite lengths only, as wire-profile §5/§7 use) ----

def read_len(b, i):
    first = b[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 3:
        fail(f"unsupported length byte {first:#x} at {i}")
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
    """[(tag bytes, value bytes, whole TLV bytes)] of a concatenation of TLVs."""
    out, i = [], 0
    while i < len(b):
        start = i
        tag, i = read_tag(b, i)
        n, i = read_len(b, i)
        out.append((tag, b[i:i + n], b[start:i + n]))
        i += n
    if i != len(b):
        fail("TLV overruns its container")
    return out


def one(b, tag_hex):
    for t, v, whole in tlvs(b):
        if t.hex().upper() == tag_hex:
            return v, whole
    fail(f"tag {tag_hex} not found")


def dgi(data, expected):
    """The value of a DGI `<2-byte tag> <length: 1 byte up to 254, else FF + 2 bytes> <value>` (wire-profile)."""
    if data[:2] != expected:
        fail(f"DGI {data[:2].hex()} where {expected.hex()} was expected")
    if data[2] == 0xFF:
        n, start = int.from_bytes(data[3:5], "big"), 5
    else:
        n, start = data[2], 3
    if start + n != len(data):
        fail("DGI length does not match the command data")
    return data[start:]


def command_script(data):
    """C-APDUs of `AA L { 22 L <C-APDU> … }`."""
    (tag, value, _), = tlvs(data)
    if tag != b"\xAA":
        fail(f"command script tag {tag.hex()}")
    return [v for t, v, _ in tlvs(value) if t == b"\x22"]


def response_script(data):
    """R-APDUs of `AB L { 80 01 n, 23 L <R-APDU> … }`."""
    (tag, value, _), = tlvs(data)
    if tag != b"\xAB":
        fail(f"response script tag {tag.hex()}")
    return [v for t, v, _ in tlvs(value) if t == b"\x23"]


def apdu_data(c):
    """The data field of a short C-APDU (CLA INS P1 P2 Lc data [Le])."""
    if len(c) < 5:
        return b""
    lc = c[4]
    return c[5:5 + lc]


# ---- captured messages ----

def local(tag):
    return tag.rsplit("}", 1)[-1]


def text_of(el, name):
    for c in el.iter():
        if local(c.tag) == name:
            return (c.text or "").strip()
    return None


def captured(capture_dir, eid):
    """[(C-APDUs, R-APDUs)] of the ES3 SendData requests for `eid` that got a callback, in emission order."""
    requests, answers = [], {}
    for name in sorted(os.listdir(capture_dir), key=lambda n: int(n.rsplit("-", 1)[-1].split(".")[0])):
        root = ET.parse(os.path.join(capture_dir, name)).getroot()
        body = next((c for c in root if local(c.tag) == "Body"), None)
        header = next((c for c in root if local(c.tag) == "Header"), None)
        if body is None or len(body) == 0:
            continue
        element = body[0]
        kind = local(element.tag)
        if kind == "ES3-SendDataRequest" and text_of(element, "Eid") == eid:
            mid = header.find(f"{{{WSA}}}MessageID").text.strip()
            requests.append((mid, bytes.fromhex(text_of(element, "Data"))))
        elif kind == "ES3-SendDataResponse" and header is not None:
            rel = header.find(f"{{{WSA}}}RelatesTo")
            data = text_of(element, "EuiccResponseData")
            if rel is not None and data:
                answers[rel.text.strip()] = bytes.fromhex(data)
    out = []
    for mid, data in requests:
        if mid in answers:
            out.append((command_script(data), response_script(answers[mid])))
    return out


# ---- crypto helpers ----

def aes_cmac(key, data):
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def scp03_kdf(key, constant, length_bits, context):
    """GP Amendment D §4.1.5: NIST SP 800-108 counter mode with AES-CMAC."""
    out = b""
    i = 1
    while len(out) * 8 < length_bits:
        label = bytes(11) + bytes([constant]) + b"\x00" + length_bits.to_bytes(2, "big") + bytes([i])
        out += aes_cmac(key, label + context)
        i += 1
    return out[: length_bits // 8]


CURVES = {"00": ec.SECP256R1(), "03": ec.BrainpoolP256R1()}


def gp_public_key(cert_hex):
    body, _ = one(bytes.fromhex(cert_hex), "7F21")
    pk, _ = one(body, "7F49")
    point, _ = one(pk, "B0")
    curve_ref, _ = one(pk, "F0")
    curve = CURVES.get(curve_ref.hex())
    if curve is None:
        fail(f"curve reference {curve_ref.hex()}")
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


def main():
    capture_dir, world_dir, eid = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(os.path.join(world_dir, "world.json")) as f:
        world = json.load(f)
    entry = next((e for e in world["euiccs"] if e["eid"] == eid), None)
    if entry is None:
        fail(f"EID {eid} not in the world")
    with open(os.path.join(world_dir, entry["ecasd"]["key"]), "rb") as f:
        ecasd_key = load_pem_private_key(f.read(), None)
    with open(os.path.join(world_dir, world["sm_dp_gp"]["cert"])) as f:
        dp_public = gp_public_key(f.read().strip())

    pairs = [(c, r) for cs, rs in captured(capture_dir, eid) for c, r in zip(cs, rs)]
    if not pairs:
        fail("no SendData exchange for this EID in the capture")

    def find(prefix):
        for c, r in pairs:
            if apdu_data(c).startswith(prefix):
                return c, r
        fail(f"no STORE DATA starting {prefix.hex()}")

    # 1. 3A01 -> random challenge; 3A02 signature.
    _, r1 = find(b"\x3A\x01")
    rc, _ = one(r1[:-2], "85")
    if r1[-2:] != b"\x90\x00" or len(rc) != 16:
        fail("3A01 answer is not 85 10 RC 9000")
    c2, r2 = find(b"\x3A\x02")
    dgi_value = dgi(apdu_data(c2), b"\x3A\x02")
    _, a6 = one(dgi_value, "A6")
    epk_value, epk = one(dgi_value, "7F49")
    sig, _ = one(dgi_value, "5F37")
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        dp_public.verify(der, a6 + epk + b"\x85\x10" + rc, ec.ECDSA(hashes.SHA256()))
    except Exception:
        fail("the 3A02 signature does not verify with CERT.DP.ECDSA")

    # 2. Shared secret and key derivation.
    point, _ = one(epk_value, "B0")
    eph = ec.EllipticCurvePublicKey.from_encoded_point(ecasd_key.curve, point)
    shs = ecasd_key.exchange(ec.ECDH(), eph)
    key_data = X963KDF(algorithm=hashes.SHA256(), length=64, sharedinfo=b"\x5C\x88\x10").derive(shs)
    receipt_key, k_enc, k_mac = key_data[:16], key_data[16:32], key_data[32:48]

    # 3. Receipt.
    receipt, _ = one(r2[:-2], "86")
    if receipt != aes_cmac(receipt_key, a6 + epk):
        fail("the receipt does not match AES-CMAC(receipt key, A6 || 7F49)")

    # 4. SCP03t.
    c84, r84 = find(b"\x84")
    v84, _ = one(apdu_data(c84), "84")
    host_challenge = v84[2:10]
    iu = r84[:-2]
    card_challenge, card_cryptogram = iu[13:21], iu[21:29]
    ctx = host_challenge + card_challenge
    s_enc = scp03_kdf(k_enc, 0x04, 128, ctx)
    s_mac = scp03_kdf(k_mac, 0x06, 128, ctx)
    if scp03_kdf(s_mac, 0x00, 64, ctx) != card_cryptogram:
        fail("card cryptogram does not verify")
    c85, _ = find(b"\x85")
    v85, whole85 = one(apdu_data(c85), "85")
    if v85[1:9] != scp03_kdf(s_mac, 0x01, 64, ctx):
        fail("host cryptogram does not verify")
    mac85 = aes_cmac(s_mac, bytes(16) + whole85[:2] + v85[:-8])
    if mac85[:8] != v85[-8:]:
        fail("C-MAC of 85 does not verify")
    c86, _ = find(b"\x86")
    v86, whole86 = one(apdu_data(c86), "86")
    head = whole86[: len(whole86) - len(v86)]
    mac86 = aes_cmac(s_mac, mac85 + head + v86[:-8])
    if mac86[:8] != v86[-8:]:
        fail("C-MAC of the first 86 does not verify")
    icv = Cipher(algorithms.AES(s_enc), modes.ECB()).encryptor().update((1).to_bytes(16, "big"))
    plain = Cipher(algorithms.AES(s_enc), modes.CBC(icv)).decryptor().update(v86[:-8])
    end = plain.rstrip(b"\x00")
    if not end.endswith(b"\x80"):
        fail("first segment padding is not 80 00..")
    segment = end[:-1]
    print(json.dumps({
        "ok": True,
        "signature": "verified",
        "receipt": receipt.hex(),
        "first_segment_len": len(segment),
        "first_segment_head": segment[:8].hex(),
    }))


if __name__ == "__main__":
    main()
