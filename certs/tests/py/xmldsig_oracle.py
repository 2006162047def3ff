"""Independent signer and verifier of the EIS EUM signature, with signxml (pinned in testkit requirements).

Usage: xmldsig_oracle.py <ops.json>; prints a JSON list of results.
  {"op": "verify", "eis": xml, "cert": pem}
      finds rps:EumSignedInfo and the signature (rps:EumSignature, whose ds children are moved into a
      ds:Signature, or a ds:Signature) anywhere in the document and verifies with signxml's XMLVerifier; the
      Reference URI urn:x-sgp02:eis:EumSignedInfo is resolved by `uri_resolver` to the EumSignedInfo element.
      -> {"ok": bool, "error": str|null, "signed": canonical bytes signxml says were signed}
  {"op": "sign", "eum_signed_info": xml, "key": pem, "cert": pem}
      detached signature by signxml's XMLSigner (ecdsa-sha256, exc-c14n, sha256) with the same URN
      -> {"signature": ds:Signature xml}
"""

import json
import sys

from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
    methods,
)
from signxml.exceptions import InvalidInput, InvalidSignature

RPS = "http://namespaces.gsma.org/esim-messaging/3"
DS = "http://www.w3.org/2000/09/xmldsig#"
URN = "urn:x-sgp02:eis:EumSignedInfo"


def verify(op):
    doc = etree.fromstring(op["eis"].encode())
    signed_info = doc if etree.QName(doc).localname == "EumSignedInfo" else doc.find(f".//{{{RPS}}}EumSignedInfo")
    sig = doc.find(f".//{{{RPS}}}EumSignature")
    if sig is not None:
        ds_sig = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
        for child in sig:
            ds_sig.append(etree.fromstring(etree.tostring(child)))
        sig = ds_sig
    else:
        sig = doc.find(f".//{{{DS}}}Signature")
    sig = etree.fromstring(etree.tostring(sig))

    def resolver(uri):
        if uri != URN:
            raise InvalidInput(f"unexpected reference {uri}")
        return signed_info

    config = SignatureConfiguration(
        require_x509=True,
        expect_references=1,
        signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    )
    try:
        result = XMLVerifier().verify(sig, x509_cert=op["cert"], uri_resolver=resolver, expect_config=config)
        return {"ok": True, "error": None, "signed": result.signed_data.decode()}
    except (InvalidSignature, InvalidInput) as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "signed": None}


def sign(op):
    el = etree.fromstring(op["eum_signed_info"].encode())
    signer = XMLSigner(
        method=methods.detached,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    sig = signer.sign(el, key=op["key"].encode(), cert=op["cert"], reference_uri=URN)
    return {"signature": etree.tostring(sig).decode()}


def main():
    with open(sys.argv[1]) as f:
        ops = json.load(f)
    print(json.dumps([verify(op) if op["op"] == "verify" else sign(op) for op in ops]))


if __name__ == "__main__":
    main()
