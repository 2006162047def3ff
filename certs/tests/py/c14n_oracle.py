"""Exclusive C14N (without comments) by lxml/libxml2, the independent oracle for certs::c14n.

Usage: c14n_oracle.py <cases.json>; each case is {"xml": text, "path": optional XPath to a descendant (with the
namespace map "ns")}. Prints a JSON list of canonical forms (or {"error": ...}).
"""

import json
import sys

from lxml import etree


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = []
    parser = etree.XMLParser(remove_comments=False, resolve_entities=False)
    for case in cases:
        root = etree.fromstring(case["xml"].encode(), parser)
        node = root
        if case.get("path"):
            node = root.xpath(case["path"], namespaces=case.get("ns", {}))[0]
        out.append(etree.tostring(node, method="c14n", exclusive=True, with_comments=False).decode())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
