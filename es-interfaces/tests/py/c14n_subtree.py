"""Independent check of Element::standalone_source with lxml (libxml2's Exclusive XML Canonicalization).

usage: c14n_subtree.py <document.xml> <namespace> <local-name> <standalone.xml>

Canonicalises (exclusive C14N 1.0, without comments) the first element named {namespace}local-name inside the
full document, and the root of the standalone text; prints both and exits 1 if they differ.
"""
import sys

from lxml import etree


def main():
    doc_path, ns, local, standalone_path = sys.argv[1:5]
    doc = etree.parse(doc_path)
    found = doc.getroot().iter(etree.QName(ns, local).text)
    element = next(found)
    in_context = etree.tostring(element, method="c14n", exclusive=True)
    alone = etree.tostring(etree.parse(standalone_path).getroot(), method="c14n", exclusive=True)
    print(in_context.decode())
    print(alone.decode())
    sys.exit(0 if in_context == alone else 1)


if __name__ == "__main__":
    main()
