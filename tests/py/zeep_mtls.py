"""Python zeep, an independent SOAP client, against a running SM-SR over mutual TLS.

usage: zeep_mtls.py <spec.json>
spec: {"ca", "eum_cert", "eum_key", "mno_cert", "mno_key", "es1_wsdl", "es4_wsdl", "eis_file", "eid", "iccids"}

zeep loads the WSDLs served at <service>?wsdl, calls ES1.RegisterEIS as the EUM and ES4.GetEIS as the MNO, and
parses the answers. The EUM signature covers EumSignedInfo exactly as signed (exclusive C14N keeps prefixes), so the
transport puts the signed EIS document, as written by the EUM, into the request zeep built.
Prints one JSON object with what zeep parsed.
"""
import json
import re
import sys
import uuid

import requests
from lxml import etree
from zeep import Client, Plugin, xsd
from zeep.transports import Transport

RPS = "http://namespaces.gsma.org/esim-messaging/3"
WSA = "http://www.w3.org/2005/08/addressing"


class WsaHeaders(Plugin):
    """SGP.02 Annex B and the GSMA WSDL bindings: every request carries wsa:To, wsa:From, wsa:MessageID and
    wsa:Action (the server refuses a request without them); zeep writes none of them by itself."""

    def __init__(self, sender):
        self.sender = sender

    def egress(self, envelope, http_headers, operation, binding_options):
        ns = envelope.tag[1:].split("}")[0]
        header = envelope.find(f"{{{ns}}}Header")
        if header is None:
            header = etree.Element(f"{{{ns}}}Header")
            envelope.insert(0, header)

        def add(name, text):
            el = header.find(f"{{{WSA}}}{name}")
            if el is None:
                el = etree.SubElement(header, f"{{{WSA}}}{name}")
            if text is not None and not (el.text or "").strip():
                el.text = text
            return el

        add("To", binding_options["address"])
        sender = add("From", None)
        if sender.find(f"{{{WSA}}}Address") is None:
            etree.SubElement(sender, f"{{{WSA}}}Address").text = self.sender
        add("MessageID", "urn:uuid:" + str(uuid.uuid4()))
        add("Action", getattr(operation, "soapaction", None) or operation.name)
        return envelope, http_headers


class SignedEisTransport(Transport):
    """Sends the signed EIS document byte for byte: inserting it as an lxml element would let libxml2 reconcile
    its namespace prefix with zeep's (rps → ns0), which changes the canonical form the EUM signed."""

    def __init__(self, eis_text, **kwargs):
        super().__init__(**kwargs)
        self.eis_text = eis_text

    def post_xml(self, address, envelope, headers):
        message = etree.tostring(envelope, encoding="unicode")
        close = re.search(r"</([A-Za-z0-9_.-]+:)?ES1-RegisterEISRequest>", message)
        if close:
            message = message[: close.start()] + self.eis_text + message[close.start():]
        return self.post(address, message.encode("utf-8"), headers)


def client(wsdl, cert, key, ca, eis_text=None):
    session = requests.Session()
    # REQUESTS_CA_BUNDLE and friends would replace our CA: trust only what the test gives.
    session.trust_env = False
    session.cert = (cert, key)
    session.verify = ca
    transport = SignedEisTransport(eis_text, session=session) if eis_text else Transport(session=session)
    return Client(wsdl, transport=transport, plugins=[WsaHeaders("https://zeep.invalid/" + wsdl.rsplit("/", 1)[-1])])


def main():
    spec = json.load(open(sys.argv[1]))
    eis_text = open(spec["eis_file"], encoding="utf-8").read()
    eis_text = re.sub(r"^<\?xml[^>]*\?>", "", eis_text).strip()

    es1 = client(spec["es1_wsdl"], spec["eum_cert"], spec["eum_key"], spec["ca"], eis_text)
    # zeep reads an empty <pol2/> as absent and then refuses to render it, so zeep renders no Eis and the
    # transport adds the signed document.
    reg = es1.service["ES1-RegisterEIS"](FunctionCallIdentifier="zeep-register-1", Eis=xsd.SkipValue)

    es4 = client(spec["es4_wsdl"], spec["mno_cert"], spec["mno_key"], spec["ca"])
    got = es4.service["ES4-GetEIS"](FunctionCallIdentifier="zeep-get-1", Eid=spec["eid"])
    print(json.dumps({
        "register_status": reg["FunctionExecutionStatus"]["Status"] if reg is not None else None,
        "register_detail": str(reg["FunctionExecutionStatus"]["StatusCodeData"]) if reg is not None else None,
        "get_status": got["FunctionExecutionStatus"]["Status"],
        "eid": got["Eis"]["EumSignedInfo"]["Eid"] if got["Eis"] is not None else None,
        "iccids": [p["Iccid"] for p in got["Eis"]["ProfileInfo"]] if got["Eis"] is not None else [],
    }))


if __name__ == "__main__":
    main()
