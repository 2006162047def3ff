"""Validate SOAP body elements against the GSMA SGP.02 v3 XSDs (bodies.xsd wrapper).

usage: xsd_validate.py <xsd-dir> <file>...   Each file holds one body element (or a whole SOAP envelope,
whose Body child, or Fault detail, is validated). Prints one line per failure; exit 1 if any failed.
"""
import sys
import xmlschema
from lxml import etree

SOAP_NS = {"http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/"}
RPS = "http://namespaces.gsma.org/esim-messaging/3"


def bodies(doc):
    root = doc.getroot()
    if etree.QName(root).namespace in SOAP_NS:
        for child in root:
            if etree.QName(child).localname == "Body":
                for el in child:
                    if etree.QName(el).namespace == RPS:
                        yield el
    else:
        yield root


def main():
    xsd_dir, files = sys.argv[1], sys.argv[2:]
    schema = xmlschema.XMLSchema(f"{xsd_dir}/bodies.xsd")
    failed = 0
    checked = 0
    for f in files:
        doc = etree.parse(f)
        for el in bodies(doc):
            checked += 1
            errors = list(schema.iter_errors(etree.tostring(el).decode()))
            if errors:
                failed += 1
                print(f"{f}: {etree.QName(el).localname}: {errors[0].reason} at {errors[0].path}")
    print(f"checked {checked} body element(s) in {len(files)} file(s), {failed} invalid")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
