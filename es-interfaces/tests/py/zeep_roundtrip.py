"""Drive Python zeep (an independent SOAP client) against our generated WSDLs.

usage: zeep_roundtrip.py <spec.json>

spec.json: {"wsdl": path, "from": uri,
            "requests": [{"operation": name, "body": xml, "out": path}],
            "replies":  [{"operation": name, "envelope": xml, "out": path}]}

requests: zeep parses our encoded input body element into Python values (element.parse), then builds a
request envelope from those values with client.create_message and writes it to "out" for the Rust decoders.
zeep applies zeep.wsa.WsAddressingPlugin by itself to every operation whose input has a wsam:Action (our WSDLs
declare one for each), adding wsa:Action, MessageID and To; registering the plugin again would add every header
twice (which our parser rightly refuses). We add wsa:From, as an SGP.02 caller does.
replies: zeep processes our encoded response envelope with the binding's process_reply and renders the
resulting Python value back to XML (written to "out"), so the Rust side can compare it with what it sent.
Prints one JSON line per reply with a few fields read from the Python value.
"""
import json
import sys

from lxml import etree
import zeep

RPS = "http://namespaces.gsma.org/esim-messaging/3"
WSA = "http://www.w3.org/2005/08/addressing"


class Reply:
    """The parts of a requests.Response that zeep's process_reply reads."""

    def __init__(self, content):
        self.status_code = 200
        self.content = content
        self.headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
        self.encoding = "utf-8"


def summary(value):
    out = {}
    status = getattr(value, "FunctionExecutionStatus", None)
    if status is not None:
        out["Status"] = status.Status
    eis = getattr(value, "Eis", None) if "Eis" in value else None
    if eis is not None:
        out["Eid"] = eis.EumSignedInfo.Eid
        out["Profiles"] = [p.Iccid for p in eis.ProfileInfo]
    return out


def main():
    spec = json.load(open(sys.argv[1]))
    client = zeep.Client(spec["wsdl"])
    service = client.service
    binding = service._binding
    for case in spec["requests"]:
        body = etree.fromstring(case["body"].encode())
        element = client.get_element(etree.QName(body).text)
        value = element.parse(body, client.wsdl.types)
        kwargs = {name: value[name] for name in value}
        frm = etree.Element(etree.QName(WSA, "From"))
        etree.SubElement(frm, etree.QName(WSA, "Address")).text = spec["from"]
        envelope = client.create_message(service, case["operation"], _soapheaders=[frm], **kwargs)
        with open(case["out"], "wb") as f:
            f.write(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))
    for case in spec["replies"]:
        operation = binding.get(case["operation"])
        value = binding.process_reply(client, operation, Reply(case["envelope"].encode()))
        out_element = client.get_element(etree.QName(RPS, case["element"]).text)
        holder = etree.Element("holder")
        out_element.render(holder, value)
        with open(case["out"], "wb") as f:
            f.write(etree.tostring(holder[0]))
        print(json.dumps({"operation": case["operation"], **summary(value)}))


if __name__ == "__main__":
    main()
