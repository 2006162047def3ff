"""Validate SOAP messages against the GSMA SGP.02 v3 XSDs and the schemas they import.

usage: xsd_validate.py <xsd-dir> <file>...   Each file holds a whole SOAP envelope or one body element.

For a SOAP 1.2 envelope: the envelope itself against soap-12.xsd; every header block in the WS-Addressing
namespace against ws-addr.xsd (a header block of any other namespace has no schema here and fails); the body's
GSMA element against the GSMA bodies (bodies.xsd); a Fault against soap-12.xsd and the
rps:FunctionExecutionStatus of its detail against the GSMA ExecutionStatusType. A SOAP 1.1 envelope has its body
and fault detail checked the same way. A file with nothing to check fails, and so does a run that checked
nothing. Prints one line per failure and a summary; exit 1 if anything failed.
"""
import os
import sys
import tempfile

import xmlschema
from lxml import etree

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
RPS = "http://namespaces.gsma.org/esim-messaging/3"

# The GSMA bodies plus a global declaration of FunctionExecutionStatus (a local element in the bundle), so that
# the status carried in a Fault's detail can be validated on its own.
WRAPPER = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:rps="{rps}" targetNamespace="{rps}"
  elementFormDefault="qualified">
  <xs:include schemaLocation="{bodies}"/>
  <xs:element name="FunctionExecutionStatus" type="rps:ExecutionStatusType"/>
</xs:schema>
"""


def ns(el):
    return etree.QName(el).namespace


def local(el):
    return etree.QName(el).localname


class Checker:
    def __init__(self, xsd_dir):
        work = tempfile.mkdtemp(prefix="xsd-")
        wrapper = os.path.join(work, "all.xsd")
        with open(wrapper, "w") as f:
            f.write(WRAPPER.format(rps=RPS, bodies=os.path.abspath(os.path.join(xsd_dir, "bodies.xsd"))))
        self.gsma = xmlschema.XMLSchema(wrapper)
        self.soap12 = xmlschema.XMLSchema(os.path.join(xsd_dir, "import", "soap-12.xsd"))
        self.wsa = xmlschema.XMLSchema(os.path.join(xsd_dir, "import", "ws-addr.xsd"))
        self.checked = 0
        self.failed = 0

    def check(self, schema, el, where, what):
        self.checked += 1
        errors = list(schema.iter_errors(etree.tostring(el).decode()))
        if errors:
            self.fail(where, f"{what}: {errors[0].reason} at {errors[0].path}")

    def fail(self, where, why):
        self.failed += 1
        print(f"{where}: {why}")

    def envelope(self, root, where):
        version = ns(root)
        if version == SOAP12:
            self.check(self.soap12, root, where, "Envelope")
        children = list(root)
        header = next((c for c in children if local(c) == "Header" and ns(c) == version), None)
        body = next((c for c in children if local(c) == "Body" and ns(c) == version), None)
        if header is not None:
            for block in header:
                if not isinstance(block.tag, str):
                    continue
                if ns(block) == WSA:
                    self.check(self.wsa, block, where, f"header wsa:{local(block)}")
                else:
                    self.fail(where, f"header block {block.tag} has no schema to check it against")
        if body is None or len(body) == 0:
            self.fail(where, "no Body content to check")
            return
        for el in body:
            if not isinstance(el.tag, str):
                continue
            if ns(el) == RPS:
                self.check(self.gsma, el, where, local(el))
            elif ns(el) == version and local(el) == "Fault":
                self.fault(el, where)
            else:
                self.fail(where, f"body element {el.tag} has no schema to check it against")

    def fault(self, fault, where):
        # The envelope check (SOAP 1.2) covered the Fault's structure; its GSMA detail is checked here.
        statuses = [
            d
            for d in fault.iter("{%s}FunctionExecutionStatus" % RPS)
        ]
        if not statuses:
            self.checked += 1
            return
        for status in statuses:
            self.check(self.gsma, status, where, "Fault detail rps:FunctionExecutionStatus")


def main():
    xsd_dir, files = sys.argv[1], sys.argv[2:]
    c = Checker(xsd_dir)
    for f in files:
        root = etree.parse(f).getroot()
        if ns(root) in (SOAP12, SOAP11) and local(root) == "Envelope":
            c.envelope(root, f)
        elif ns(root) == RPS:
            c.check(c.gsma, root, f, local(root))
        else:
            c.fail(f, f"{root.tag} is neither a SOAP envelope nor a GSMA element")
    print(f"checked {c.checked} element(s) in {len(files)} file(s), {c.failed} invalid")
    if c.checked == 0:
        print("nothing was checked")
        sys.exit(1)
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
