"""Independent read-back of a personalised profile package: asn1tools compiled from the TCA PEDefinitions v3.3.1
module decodes it, and the values are decoded here from their file codings (ETSI TS 102 221 §13.2 EF.ICCID,
3GPP TS 31.102 §4.2.2 EF.IMSI), not by the project's code.

Usage: package_values.py <asn1-dir> <package.der>
Prints JSON: header_iccid, ef_iccid, imsi (digits), and per akaParameter its algorithmID, K and OPc (hex).
"""
import json
import sys

import asn1tools

asn_dir, path = sys.argv[1], sys.argv[2]
spec = asn1tools.compile_files([asn_dir + "/PE_Definitions-3.3.1.asn"], codec="der")
data = open(path, "rb").read()


def swapped_digits(b):
    out = ""
    for x in b:
        out += "%X%X" % (x & 0x0F, x >> 4)
    return out.rstrip("F")


def imsi_digits(ef):
    length = ef[0]
    body = ef[1:1 + length]
    digits = "%X" % (body[0] >> 4)
    for x in body[1:]:
        digits += "%X%X" % (x & 0x0F, x >> 4)
    return digits.rstrip("F")


out = {"aka": []}
offset = 0
while offset < len(data):
    (name, pe), length = spec.decode_with_length("ProfileElement", data[offset:])
    if name == "header":
        out["header_iccid"] = pe["iccid"].hex().upper().rstrip("F")
    elif name == "mf":
        content = [c for (k, c) in pe["ef-iccid"] if k == "fillFileContent"][0]
        out["ef_iccid"] = swapped_digits(content)
    elif name == "usim":
        content = [c for (k, c) in pe["ef-imsi"] if k == "fillFileContent"][0]
        out["imsi"] = imsi_digits(content)
    elif name == "akaParameter":
        kind, algo = pe["algoConfiguration"]
        out["aka"].append({"algorithmID": algo["algorithmID"], "key": algo["key"].hex().upper(),
                           "opc": algo["opc"].hex().upper()})
    offset += length
print(json.dumps(out))
