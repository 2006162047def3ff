"""Self-test of es8_session_check.py against the independent vectors of es8.json (wire-profile §5, §7): builds a
capture directory (ES3 SendData requests and their callbacks) and a minimal world (ECASD private key, CERT.DP.ECDSA)
from the vectors, runs the checker and expects success; then tampers with the receipt, the 3A02 signature and
the first 86 segment in turn and expects each to be refused. So the checker used on real sessions can fail.

usage: es8_session_selftest.py ES8_JSON CHECKER WORK_DIR
"""

import json
import os
import subprocess
import sys

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
<env:Header>{header}</env:Header>
<env:Body><rps3:{element} xmlns:rps3="http://namespaces.gsma.org/esim-messaging/3">{fields}</rps3:{element}></env:Body>
</env:Envelope>"""


def write_capture(directory, eid, exchanges):
    os.makedirs(directory, exist_ok=True)
    n = 0
    for i, (data, answer) in enumerate(exchanges):
        mid = f"urn:uuid:selftest-{i}"
        req = ENVELOPE.format(
            header=f"<wsa:MessageID>{mid}</wsa:MessageID>",
            element="ES3-SendDataRequest",
            fields=f"<Eid>{eid}</Eid><Sd-aid>A0000005591010FFFFFFFF8900001000</Sd-aid><Data>{data}</Data>",
        )
        resp = ENVELOPE.format(
            header=f"<wsa:RelatesTo>{mid}</wsa:RelatesTo>",
            element="ES3-SendDataResponse",
            fields=f"<EuiccResponseData>{answer}</EuiccResponseData>",
        )
        for doc in (req, resp):
            with open(os.path.join(directory, f"1-{n:06}.xml"), "w") as f:
                f.write(doc)
            n += 1


def response_script(rapdus):
    body = bytes([0x80, 0x01, len(rapdus)])
    for r in rapdus:
        body += bytes([0x23, len(r)]) + r
    return (bytes([0xAB]) + ber_len(len(body)) + body).hex().upper()


def ber_len(n):
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82]) + n.to_bytes(2, "big")


def run(checker, capture, world, eid):
    r = subprocess.run([sys.executable, checker, capture, world, eid], capture_output=True, text=True)
    return r.returncode, r.stdout.strip()


def main():
    es8_path, checker, work = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(es8_path) as f:
        v = json.load(f)
    eid = v["eid"]
    ke, t = v["key_establishment"], v["scp03t"]

    world = os.path.join(work, "world")
    os.makedirs(os.path.join(world, "keys"), exist_ok=True)
    os.makedirs(os.path.join(world, "certs"), exist_ok=True)
    ecasd = ec.derive_private_key(int(v["private_scalars"]["ecasd"], 16), ec.SECP256R1())
    with open(os.path.join(world, "keys", "ecasd.key.pem"), "wb") as f:
        f.write(ecasd.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with open(os.path.join(world, "certs", "sm-dp.gp.hex"), "w") as f:
        f.write(v["cert_dp_ecdsa"]["certificate"])
    with open(os.path.join(world, "world.json"), "w") as f:
        json.dump({
            "sm_dp_gp": {"cert": "certs/sm-dp.gp.hex"},
            "euiccs": [{"eid": eid, "ecasd": {"key": "keys/ecasd.key.pem"}}],
        }, f)

    scp03t_answer = response_script([bytes.fromhex(r) for r in t["responses"]])

    def exchanges(receipt_answer=None, data_2=None, scp03t_data=None):
        return [
            (ke["es3_senddata_data_1"], ke["euicc_response_data_1"]),
            (data_2 or ke["es3_senddata_data_2"], receipt_answer or ke["euicc_response_data_2"]),
            (scp03t_data or t["es3_senddata_data"], scp03t_answer),
        ]

    results = {}
    cap = os.path.join(work, "good")
    write_capture(cap, eid, exchanges())
    code, out = run(checker, cap, world, eid)
    if code != 0:
        print(f"the checker refused the vectors: {out}")
        sys.exit(1)
    results["vectors"] = json.loads(out)
    if results["vectors"]["first_segment_head"] != t["profile_bytes"][:16].lower():
        print(f"the first segment decrypted to {results['vectors']['first_segment_head']}, not the vector's package")
        sys.exit(1)

    def flip(hexstr, index_from_end):
        b = bytearray(bytes.fromhex(hexstr))
        b[len(b) - index_from_end] ^= 0x01
        return b.hex().upper()

    bad = {
        # The last receipt byte sits just before 90 00.
        "receipt": exchanges(receipt_answer=flip(ke["euicc_response_data_2"], 3)),
        # The last signature byte is the last byte of the 3A02 STORE DATA (no Le in the vector).
        "signature": exchanges(data_2=flip(ke["es3_senddata_data_2"], 1)),
        # A ciphertext byte of the first 86 segment (the 86 command is the third of the script).
        "segment": exchanges(scp03t_data=tamper_first_86(t["es3_senddata_data"])),
    }
    for name, ex in bad.items():
        cap = os.path.join(work, f"bad-{name}")
        write_capture(cap, eid, ex)
        code, out = run(checker, cap, world, eid)
        if code == 0:
            print(f"the checker accepted a tampered {name}: {out}")
            sys.exit(1)
        results[name] = json.loads(out)["error"]
    print(json.dumps(results))


def tamper_first_86(script_hex):
    b = bytearray(bytes.fromhex(script_hex))
    i = b.find(bytes.fromhex("80E21102"))
    if i < 0:
        raise SystemExit("no first 86 STORE DATA in the vector script")
    # CLA INS P1 P2 Lc 86 81 L, then ciphertext: flip its 3rd byte.
    b[i + 5 + 3 + 2] ^= 0x01
    return b.hex().upper()


if __name__ == "__main__":
    main()
