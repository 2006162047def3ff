"""An SM-SR side for the eUICC simulator written independently on pycryptodome, from docs/wire-profile.md §2 and
§4 and the key derivation documented in conformance/src/euicc/keys.rs ("rsp-sim/v1"), not from the Rust code.

Subcommands (keys derived from <seed> <index>; AES-128; KVN 1; TAR 000001):
  command <seed> <index> <counter> <op>...   prints the TP-UD (hex) of one SMS carrying the expanded script
                                             AA { 22 <C-APDU> ... }; ops: enable:<aid hex>, confirm:<sequence>
  open <seed> <index> <tp_ud hex>...         opens each single-SMS PoR (UDH 02 71 00) or notification
                                             (UDH 02 70 00, SPI 16 00) and prints one JSON object per line
"""

import hashlib
import json
import sys

from Crypto.Cipher import AES
from Crypto.Hash import CMAC


def derive(label, seed, index):
    data = b"rsp-sim/v1/" + label.encode() + b"\0" + seed.to_bytes(8, "big") + index.to_bytes(8, "big")
    return hashlib.sha256(data).digest()[:16]


def eid(index):
    first30 = "890499990010000000" + f"{index + 1:012d}"
    return first30 + f"{98 - int(first30 + '00') % 97:02d}"


def cmac8(key, data):
    return CMAC.new(key, ciphermod=AES).update(data).digest()[:8]


def cbc(key, data, decrypt=False):
    c = AES.new(key, AES.MODE_CBC, iv=bytes(16))
    return c.decrypt(data) if decrypt else c.encrypt(data)


def tlv(tag, value):
    assert len(value) < 128
    return bytes([tag, len(value)]) + value


def store_data_dgi(p1, dgi, value):
    data = dgi.to_bytes(2, "big") + bytes([len(value)]) + value
    return bytes([0x80, 0xE2, p1, 0x00, len(data)]) + data


def apdu(op):
    name, arg = op.split(":")
    if name == "enable":
        return store_data_dgi(0x88, 0x3A03, tlv(0x4F, bytes.fromhex(arg)))
    if name == "confirm":
        return store_data_dgi(0x89, 0x3A08, tlv(0x4E, int(arg).to_bytes(2, "big")))
    raise ValueError(op)


def command(seed, index, counter, ops):
    kic, kid = derive("scp80-kic", seed, index), derive("scp80-kid", seed, index)
    script = tlv(0xAA, b"".join(tlv(0x22, apdu(op)) for op in ops))
    pad = (-(5 + 1 + 8 + len(script))) % 16
    header = bytes([0x15, 0x16, 0x39, 0x12, 0x12, 0x00, 0x00, 0x01])
    cntr = counter.to_bytes(5, "big") + bytes([pad])
    cpl = (len(header) + 14 + len(script) + pad).to_bytes(2, "big")
    cc = cmac8(kid, cpl + header + cntr + script + bytes(pad))
    packet = cpl + header + cbc(kic, cntr + cc + script + bytes(pad))
    tp_ud = bytes([0x02, 0x70, 0x00]) + packet
    assert len(tp_ud) <= 140
    print(tp_ud.hex())


def parse_tlvs(data):
    out = []
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            tag = (tag << 8) | data[i]
            i += 1
        n = data[i]
        i += 1
        if n == 0x81:
            n = data[i]
            i += 1
        out.append((tag, data[i : i + n]))
        i += n
    return out


def open_sms(seed, index, tp_ud):
    kic, kid = derive("scp80-kic", seed, index), derive("scp80-kid", seed, index)
    udh, body = tp_ud[:3], tp_ud[3:]
    if udh == bytes([0x02, 0x71, 0x00]):
        rpl, rhl, tar = body[:2], body[2], body[3:6]
        assert int.from_bytes(rpl, "big") == len(body) - 2 and rhl == 18
        clear = cbc(kic, body[6:], decrypt=True)
        cntr, pcntr, status, cc, rest = clear[:5], clear[5], clear[6], clear[7:15], clear[15:]
        assert cc == cmac8(kid, udh + body[:6] + clear[:7] + rest), "PoR CC"
        data = rest[: len(rest) - pcntr]
        r_apdus = []
        if data:
            [(tag, inner)] = parse_tlvs(data)
            assert tag == 0xAB
            r_apdus = [v.hex() for t, v in parse_tlvs(inner) if t == 0x23]
        return {
            "kind": "por",
            "tar": tar.hex(),
            "counter": int.from_bytes(cntr, "big"),
            "status": status,
            "r_apdus": r_apdus,
        }
    assert udh == bytes([0x02, 0x70, 0x00])
    cpl, header = body[:2], body[2:10]
    assert int.from_bytes(cpl, "big") == len(body) - 2 and header[0] == 0x15
    clear = cbc(kic, body[10:], decrypt=True)
    cntr, pcntr, cc, rest = clear[:5], clear[5], clear[6:14], clear[14:]
    assert cc == cmac8(kid, cpl + header + clear[:6] + rest), "notification CC"
    [(tag, inner)] = parse_tlvs(rest[: len(rest) - pcntr])
    assert tag == 0xE1
    e1 = dict(parse_tlvs(inner))
    return {
        "kind": "notification",
        "spi": header[1:3].hex(),
        "kic": header[3],
        "tar": header[5:8].hex(),
        "counter": int.from_bytes(cntr, "big"),
        "eid_ok": e1[0x4C].hex() == eid(index),
        "type": e1[0x4D][0],
        "aid": e1[0x4F].hex().upper(),
        "sequence": int.from_bytes(e1[0x4E], "big"),
    }


def main():
    cmd, seed, index = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if cmd == "command":
        command(seed, index, int(sys.argv[4]), sys.argv[5:])
    elif cmd == "open":
        for h in sys.argv[4:]:
            print(json.dumps(open_sms(seed, index, bytes.fromhex(h))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
