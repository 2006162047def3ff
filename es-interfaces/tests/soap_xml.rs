//! The XML layer under the SOAP binding: namespace resolution, references, whitespace, spans and
//! `standalone_source` (checked against lxml's exclusive canonicalisation), and the escaping writer.

use std::fs;

use es_interfaces::xml::{Document, Node, XmlErrorKind, XmlWriter, escape_attribute, escape_text};

const RPS: &str = "http://namespaces.gsma.org/esim-messaging/3";

fn signed_envelope() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- a comment -->\n\
<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:rps=\"{RPS}\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:unused=\"urn:unused\" xmlns=\"urn:default\">\n\
 <env:Header xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/>\n\
 <env:Body>\n  <rps:ES1-RegisterEISRequest><rps:Eis>\n   <rps:EumSignedInfo>\
<rps:Eid>89049032123451234512345678901235</rps:Eid>\
<rps:PlatformType xsi:type=\"rps:String100\">ACME &amp; Co &lt;1&gt; caf&#233; &#x2603;<![CDATA[ <raw> ]]></rps:PlatformType>\
<plain attr='a&quot;b'>default-namespace child</plain>\
<inner:Ecasd xmlns:inner=\"{RPS}\"><inner:Aid>A0000005591010FFFFFFFF8900000200</inner:Aid></inner:Ecasd>\
<rps:Empty/>\
</rps:EumSignedInfo>\n  </rps:Eis></rps:ES1-RegisterEISRequest>\n </env:Body>\n</env:Envelope>\n"
    )
}

fn find<'a>(
    el: &'a es_interfaces::xml::Element,
    ns: &str,
    local: &str,
) -> Option<&'a es_interfaces::xml::Element> {
    if el.is(ns, local) {
        return Some(el);
    }
    el.child_elements().find_map(|c| find(c, ns, local))
}

#[test]
fn namespaces_references_and_spans() {
    let src = signed_envelope();
    let doc = Document::parse(src.as_bytes()).unwrap();
    let info = find(doc.root(), RPS, "EumSignedInfo").unwrap();
    assert_eq!(info.line(), 7);
    let pt = find(info, RPS, "PlatformType").unwrap();
    assert_eq!(pt.text(), "ACME & Co <1> café ☃ <raw> ");
    assert_eq!(
        pt.attribute(Some("http://www.w3.org/2001/XMLSchema-instance"), "type"),
        Some("rps:String100")
    );
    let plain = info
        .child_elements()
        .find(|e| e.local_name() == "plain")
        .unwrap();
    assert_eq!(plain.namespace(), Some("urn:default"));
    assert_eq!(plain.attribute(None, "attr"), Some("a\"b"));
    let ecasd = find(info, RPS, "Ecasd").unwrap();
    assert_eq!(ecasd.name().prefix.as_deref(), Some("inner"));
    assert_eq!(ecasd.namespace_declarations().len(), 1);
    // The span is exactly the element's text.
    assert!(info.source_text().starts_with("<rps:EumSignedInfo>"));
    assert!(info.source_text().ends_with("</rps:EumSignedInfo>"));
    assert_eq!(&src[info.span()], info.source_text());
    let empty = find(info, RPS, "Empty").unwrap();
    assert_eq!(empty.source_text(), "<rps:Empty/>");
    // Whitespace-only text is kept as nodes but is not content.
    let body = doc.root().child_elements().nth(1).unwrap();
    assert!(body.children().iter().any(|n| matches!(n, Node::Text(_))));
    assert!(!body.has_non_whitespace_text());
}

#[test]
fn standalone_source_canonicalises_like_the_subtree_in_context() {
    let src = signed_envelope();
    let doc = Document::parse(src.as_bytes()).unwrap();
    let info = find(doc.root(), RPS, "EumSignedInfo").unwrap();
    let alone = info.standalone_source();
    assert!(alone.starts_with(&format!(
        "<rps:EumSignedInfo xmlns=\"urn:default\" xmlns:rps=\"{RPS}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
    )), "{alone}");
    assert!(!alone.contains("urn:unused"));
    assert!(!alone.contains("xmldsig"));
    // It parses on its own into the same structure.
    let reparsed = Document::parse(alone.as_bytes()).unwrap();
    assert_eq!(
        reparsed.root().child_elements().collect::<Vec<_>>(),
        info.child_elements().collect::<Vec<_>>()
    );

    // lxml (libxml2) exclusive C14N of the subtree in its document equals that of our standalone text.
    let dir = testkit::tempdir_in_tools("c14n");
    let (full, part) = (dir.join("doc.xml"), dir.join("standalone.xml"));
    fs::write(&full, &src).unwrap();
    fs::write(&part, &alone).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/c14n_subtree.py");
    let out = testkit::run_python(
        &script,
        &[
            full.to_str().unwrap(),
            RPS,
            "EumSignedInfo",
            part.to_str().unwrap(),
        ],
    );
    assert!(out.contains("caf\u{e9}"), "{out}");
    // A subtree that declares everything itself is returned unchanged.
    let ecasd = find(info, RPS, "Ecasd").unwrap();
    assert_eq!(ecasd.standalone_source(), ecasd.source_text());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn structural_errors() {
    let err = |s: &str| Document::parse(s.as_bytes()).unwrap_err().kind;
    assert_eq!(err(""), XmlErrorKind::NoRootElement);
    assert_eq!(err("<a/><b/>"), XmlErrorKind::ContentOutsideRoot);
    assert_eq!(err("<a/>text"), XmlErrorKind::ContentOutsideRoot);
    assert_eq!(
        err("<a x='1' x='2'/>"),
        XmlErrorKind::DuplicateAttribute("x".into())
    );
    assert_eq!(
        err("<a xmlns:p='urn:1' xmlns:p='urn:2'/>"),
        XmlErrorKind::DuplicateAttribute("xmlns:p".into())
    );
    assert!(matches!(
        err("<a xmlns:p='urn:1' xmlns:q='urn:1' p:x='1' q:x='2'/>"),
        XmlErrorKind::DuplicateAttribute(_)
    ));
    assert_eq!(
        err("<a>&#0;</a>"),
        XmlErrorKind::InvalidCharacterReference("#0".into())
    );
    assert_eq!(err("<a>\u{1}</a>"), XmlErrorKind::InvalidCharacter(1));
    assert_eq!(
        err("<?xml version='1.0' encoding='ISO-8859-1'?><a/>"),
        XmlErrorKind::UnsupportedEncoding("ISO-8859-1".into())
    );
    assert!(matches!(
        err("<a xmlns:xml='urn:x'/>"),
        XmlErrorKind::InvalidNamespaceDeclaration(_)
    ));
    // A byte order mark is accepted.
    assert!(Document::parse(b"\xEF\xBB\xBF<a/>").is_ok());
}

#[test]
fn writer_escapes_and_reads_back() {
    let nasty = "a&b<c>d\"e'f\r\ng\tü\u{1}]]>";
    let mut w = XmlWriter::new();
    w.start("x:root");
    w.attribute("xmlns:x", "urn:x");
    w.attribute("v", nasty);
    w.leaf("x:t", nasty);
    w.start("x:empty");
    w.end();
    let xml = w.finish();
    assert!(xml.ends_with("<x:empty/></x:root>"));
    let doc = Document::parse(xml.as_bytes()).unwrap();
    let expected = nasty.replace('\u{1}', "\u{FFFD}");
    assert_eq!(doc.root().attribute(None, "v"), Some(expected.as_str()));
    assert_eq!(doc.root().child("urn:x", "t").unwrap().text(), expected);
    assert_eq!(escape_text("plain"), "plain");
    assert_eq!(escape_attribute("\t\n"), "&#9;&#10;");
}
