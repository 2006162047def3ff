"""Independent decoder for profile packages: asn1tools compiled from the TCA PEDefinitions v3.3.1 module.

Usage: saip_decode.py <asn1-dir> <package.der>
Prints JSON: the elements (name, identification, offset), the values personalisation writes, and, for every
element except akaParameter (asn1tools cannot re-encode sqnInit), whether asn1tools re-encodes it to the same bytes.
"""
import json
import sys

import asn1tools

asn_dir, path = sys.argv[1], sys.argv[2]
spec = asn1tools.compile_files([asn_dir + "/PE_Definitions-3.3.1.asn"], codec="der")
data = open(path, "rb").read()

out = {"elements": [], "pins": [], "puks": [], "aka": [], "sd_keys": [], "reencode_mismatch": []}
offset = 0
while offset < len(data):
    value, length = spec.decode_with_length("ProfileElement", data[offset:])
    name, pe = value
    ident = None
    for k, v in pe.items():
        if k.endswith("-header") or k.endswith("-Header"):
            ident = v["identification"]
    out["elements"].append({"name": name, "identification": ident, "offset": offset})
    if name != "akaParameter":
        again = spec.encode("ProfileElement", value)
        if again != data[offset:offset + length]:
            out["reencode_mismatch"].append(name)
    if name == "header":
        out["header_iccid"] = pe["iccid"].hex().upper()
        out["mandatory_services"] = sorted(pe["eUICC-Mandatory-services"].keys())
    elif name == "mf":
        out["ef_iccid"] = [c.hex().upper() for (k, c) in pe["ef-iccid"] if k == "fillFileContent"]
    elif name == "usim":
        out["ef_imsi"] = [c.hex().upper() for (k, c) in pe["ef-imsi"] if k == "fillFileContent"]
        out["ef_acc"] = [c.hex().upper() for (k, c) in pe["ef-acc"] if k == "fillFileContent"]
    elif name == "opt-usim":
        out["ef_msisdn"] = [c.hex().upper() for (k, c) in pe.get("ef-msisdn", []) if k == "fillFileContent"]
    elif name == "pinCodes" and pe["pinCodes"][0] == "pinconfig":
        for p in pe["pinCodes"][1]:
            out["pins"].append([p["keyReference"], p["pinValue"].hex().upper()])
    elif name == "pukCodes":
        for p in pe["pukCodes"]:
            out["puks"].append([p["keyReference"], p["pukValue"].hex().upper()])
    elif name == "akaParameter":
        kind, algo = pe["algoConfiguration"]
        out["aka"].append({"algorithmID": algo["algorithmID"], "key": algo["key"].hex().upper(),
                           "opc": algo["opc"].hex().upper()})
    elif name == "securityDomain":
        for k in pe.get("keyList", []):
            out["sd_keys"].append([k["keyVersionNumber"].hex().upper(), k["keyIdentifier"].hex().upper(),
                                   k["keyComponents"][0]["keyData"].hex().upper()])
    offset += length
print(json.dumps(out))
