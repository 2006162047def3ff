//! XSD validation of every message a conformance run exchanges (SGP.02 §5.1: SOAP 1.2 with WS-Addressing
//! headers, bodies as the GSMA SGP.02 v3 XSDs define them), with libxml2's `xmllint --schema` as a child process
//! (Debian's `libxml2-utils`, present on most lab machines) — no Python, no network.
//!
//! Each message is checked as testkit's checker does: the SOAP 1.2 envelope against `import/soap-12.xsd`, each
//! header block on its own against `import/ws-addr.xsd` (a block of another namespace has no schema and is
//! invalid), each body element on its own against the GSMA bodies (`bodies.xsd`: an element they do not declare is
//! invalid), a Fault within its envelope with the `rps:FunctionExecutionStatus` of its detail checked against the
//! GSMA ExecutionStatusType. One `xmllint` process checks all the messages of a case. Without the XSDs or
//! `xmllint` every message is "not validated" with the reason, and the run says so.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use es_interfaces::messages::codec::RPS_NS;
use es_interfaces::soap::{SOAP11_NS, SOAP12_NS};
use es_interfaces::xml::{Document, Element, escape_attribute};
use serde::Serialize;

use super::{Direction, Exchange};

/// Environment variable naming the GSMA XSD directory when `--xsd` is not given.
pub const XSD_DIR_ENV: &str = "RSP_GSMA_XSD_DIR";
/// Environment variable naming the `xmllint` program when `--xmllint` is not given (default: `xmllint` on PATH).
pub const XMLLINT_ENV: &str = "RSP_XMLLINT";

/// Where the GSMA XSDs and the validator are (`rsp conformance run --xsd DIR --xmllint PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XsdConfig {
    /// The GSMA SGP.02 v3 XSD directory (`bodies.xsd`, `import/soap-12.xsd`, `import/ws-addr.xsd`); `None`:
    /// messages are not validated.
    pub dir: Option<PathBuf>,
    /// The `xmllint` program.
    pub xmllint: PathBuf,
}

impl XsdConfig {
    /// `RSP_GSMA_XSD_DIR` and `RSP_XMLLINT` (else `xmllint` on PATH).
    pub fn from_env() -> XsdConfig {
        XsdConfig {
            dir: std::env::var_os(XSD_DIR_ENV).map(PathBuf::from),
            xmllint: std::env::var_os(XMLLINT_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("xmllint")),
        }
    }
}

/// The XSD validation result of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result")]
pub enum XsdResult {
    /// Every part of the message validates.
    #[serde(rename = "valid")]
    Valid,
    /// A part does not validate (or the message is not well-formed XML): the validator's message.
    #[serde(rename = "invalid")]
    Invalid {
        /// Which part and why.
        why: String,
    },
    /// Not checked, and why (no XSDs, no validator, an empty HTTP answer, not XML).
    #[serde(rename = "not validated")]
    NotValidated {
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for XsdResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XsdResult::Valid => f.write_str("valid"),
            XsdResult::Invalid { why } => write!(f, "invalid: {why}"),
            XsdResult::NotValidated { why } => write!(f, "not validated: {why}"),
        }
    }
}

/// How a run's messages fared against the XSDs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct XsdCounts {
    /// Messages that validate.
    pub valid: usize,
    /// Invalid messages of the SUT (each fails its case) and of the suite not meant to be (each makes its case
    /// INCONCLUSIVE).
    pub invalid: usize,
    /// Invalid messages the suite sent on purpose (malformed-body negative cases).
    pub invalid_on_purpose: usize,
    /// Messages not validated.
    pub not_validated: usize,
}

impl XsdCounts {
    /// Counts the messages of `cases`.
    pub fn of<'a>(messages: impl IntoIterator<Item = &'a Exchange>) -> XsdCounts {
        let mut c = XsdCounts::default();
        for m in messages {
            match &m.xsd {
                XsdResult::Valid => c.valid += 1,
                XsdResult::Invalid { .. } if m.malformed_on_purpose => c.invalid_on_purpose += 1,
                XsdResult::Invalid { .. } => c.invalid += 1,
                XsdResult::NotValidated { .. } => c.not_validated += 1,
            }
        }
        c
    }
}

/// The validator of a run: a work directory with the wrapper schema, and `xmllint`; or why there is none.
#[derive(Debug)]
pub struct Validator {
    state: State,
}

#[derive(Debug)]
enum State {
    Ready {
        work: WorkDir,
        xmllint: PathBuf,
        xsd_dir: PathBuf,
        batches: AtomicU64,
    },
    Off(String),
}

/// The validator's temporary directory, removed when dropped (also when preparing it fails half-way).
#[derive(Debug)]
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The wrapper schema: the GSMA bodies (in their namespace), SOAP 1.2 and WS-Addressing, and a global
/// declaration of FunctionExecutionStatus (a local element in the bundle), so that the status in a Fault's
/// detail is checked. `xml.xsd` is imported first from the work directory: soap-12.xsd would fetch it from
/// w3.org, and the run uses no network.
const WRAPPER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:rps="RPS" targetNamespace="RPS"
  elementFormDefault="qualified">
  <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="xml.xsd"/>
  <xs:import namespace="http://www.w3.org/2003/05/soap-envelope" schemaLocation="DIR/import/soap-12.xsd"/>
  <xs:import namespace="http://www.w3.org/2005/08/addressing" schemaLocation="DIR/import/ws-addr.xsd"/>
  <xs:include schemaLocation="DIR/bodies.xsd"/>
  <xs:element name="FunctionExecutionStatus" type="rps:ExecutionStatusType"/>
</xs:schema>
"#;

/// The attributes of the XML namespace (XML 1.0 §2.10, §2.12; XML Base; xml:id), as W3C's xml.xsd declares them.
const XML_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.w3.org/XML/1998/namespace">
  <xs:attribute name="lang">
    <xs:simpleType>
      <xs:union memberTypes="xs:language">
        <xs:simpleType><xs:restriction base="xs:string"><xs:enumeration value=""/></xs:restriction></xs:simpleType>
      </xs:union>
    </xs:simpleType>
  </xs:attribute>
  <xs:attribute name="space">
    <xs:simpleType>
      <xs:restriction base="xs:NCName">
        <xs:enumeration value="default"/><xs:enumeration value="preserve"/>
      </xs:restriction>
    </xs:simpleType>
  </xs:attribute>
  <xs:attribute name="base" type="xs:anyURI"/>
  <xs:attribute name="id" type="xs:ID"/>
</xs:schema>
"#;

/// A document the compiled schema must accept: proves the XSDs compile and `xmllint` validates.
const PROBE: &str = r#"<rps:FunctionExecutionStatus xmlns:rps="http://namespaces.gsma.org/esim-messaging/3"><rps:Status>EXECUTED_SUCCESS</rps:Status></rps:FunctionExecutionStatus>"#;

/// One document handed to xmllint: a message's part.
struct Part {
    message: usize,
    what: String,
    file: String,
}

impl Validator {
    /// Prepares the validator: checks the XSD directory, writes the wrapper schema into a fresh temporary
    /// directory and has `xmllint` validate a probe with it. Never fails: without the XSDs or xmllint the
    /// validator is off, with the reason.
    pub async fn new(cfg: &XsdConfig) -> Validator {
        match Self::prepare(cfg).await {
            Ok(state) => Validator { state },
            Err(why) => Validator {
                state: State::Off(why),
            },
        }
    }

    async fn prepare(cfg: &XsdConfig) -> Result<State, String> {
        let Some(dir) = &cfg.dir else {
            return Err(format!(
                "no GSMA XSD directory (--xsd DIR or {XSD_DIR_ENV})"
            ));
        };
        for f in ["bodies.xsd", "import/soap-12.xsd", "import/ws-addr.xsd"] {
            if !dir.join(f).is_file() {
                return Err(format!("the XSD directory {} has no {f}", dir.display()));
            }
        }
        let xsd_dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let work = std::env::temp_dir().join(format!(
            "rsp-conformance-xsd-{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        ));
        let state = State::Ready {
            work: WorkDir(work.clone()),
            xmllint: cfg.xmllint.clone(),
            xsd_dir: xsd_dir.clone(),
            batches: AtomicU64::new(0),
        };
        // From here on, dropping `state` (on an error below) removes the work directory.
        let write = |name: &str, text: &str| {
            std::fs::write(work.join(name), text)
                .map_err(|e| format!("{}: {e}", work.join(name).display()))
        };
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let dir_text = escape_attribute(&xsd_dir.to_string_lossy()).into_owned();
        write(
            "all.xsd",
            &WRAPPER.replace("RPS", RPS_NS).replace("DIR", &dir_text),
        )?;
        write("xml.xsd", XML_XSD)?;
        write("probe.xml", PROBE)?;
        let out = xmllint(&cfg.xmllint, &work, &["probe.xml".to_string()])
            .await
            .map_err(|e| {
                format!(
                    "cannot run {} ({e}): install libxml2-utils, or name it with --xmllint / {XMLLINT_ENV}",
                    cfg.xmllint.display()
                )
            })?;
        if !out.contains("probe.xml validates") {
            return Err(format!(
                "xmllint cannot validate with the XSDs of {}: {}",
                xsd_dir.display(),
                out.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
            ));
        }
        Ok(state)
    }

    /// What the run did about XSD validation (for the report).
    pub fn describe(&self) -> String {
        match &self.state {
            State::Ready {
                xmllint, xsd_dir, ..
            } => format!(
                "every message checked with {} --schema against the GSMA SGP.02 v3 XSDs of {} (envelope: \
                 soap-12.xsd; header blocks: ws-addr.xsd; body elements: bodies.xsd)",
                xmllint.display(),
                xsd_dir.display()
            ),
            State::Off(why) => format!("not validated: {why}"),
        }
    }

    /// Whether messages are validated.
    pub fn is_on(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// Sets the `xsd` result of each message (one xmllint process for all of them).
    pub async fn check(&self, messages: &mut [Exchange]) {
        let (work, program, batches) = match &self.state {
            State::Off(why) => {
                for m in messages.iter_mut() {
                    m.xsd = XsdResult::NotValidated { why: why.clone() };
                }
                return;
            }
            State::Ready {
                work,
                xmllint,
                batches,
                ..
            } => (&work.0, xmllint, batches),
        };
        let batch = format!("b{}", batches.fetch_add(1, Ordering::Relaxed));
        let dir = work.join(&batch);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            let why = format!("{}: {e}", dir.display());
            for m in messages.iter_mut() {
                m.xsd = XsdResult::NotValidated { why: why.clone() };
            }
            return;
        }
        let mut parts = Vec::new();
        for (i, m) in messages.iter_mut().enumerate() {
            match split(&m.body) {
                Err(result) => m.xsd = result,
                Ok(docs) => {
                    m.xsd = XsdResult::Valid;
                    let mut mine = Vec::new();
                    for (j, (what, text)) in docs.into_iter().enumerate() {
                        let file = format!("{batch}/m{i}-{j}.xml");
                        if let Err(e) = std::fs::write(work.join(&file), text) {
                            m.xsd = XsdResult::NotValidated {
                                why: format!("{file}: {e}"),
                            };
                            mine.clear();
                            break;
                        }
                        mine.push(Part {
                            message: i,
                            what,
                            file,
                        });
                    }
                    parts.extend(mine);
                }
            }
        }
        if !parts.is_empty() {
            let files: Vec<String> = parts.iter().map(|p| p.file.clone()).collect();
            match xmllint(program, work, &files).await {
                Err(e) => {
                    for p in &parts {
                        messages[p.message].xsd = XsdResult::NotValidated {
                            why: format!("xmllint: {e}"),
                        };
                    }
                }
                Ok(out) => apply(&out, &parts, messages),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Runs `xmllint --nonet --noout --schema all.xsd FILES` in `work`; returns what it printed (stderr then
/// stdout: the per-file verdicts and errors).
async fn xmllint(program: &Path, work: &Path, files: &[String]) -> std::io::Result<String> {
    let out = tokio::process::Command::new(program)
        .args(["--nonet", "--noout", "--schema", "all.xsd"])
        .args(files)
        .current_dir(work)
        .kill_on_drop(true)
        .output()
        .await?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    ))
}

/// Why a message of an SGP.02 v4 function (es_interfaces::messages::es4v4, e.g. ES4.SetFallBackAttribute,
/// v4 §5.5.21) is not validated: no v4 XSD is public and the v3 XSDs do not declare its elements.
pub const V4_FUNCTION: &str =
    "an SGP.02 v4 function: no v4 XSD is public and the v3 XSDs do not declare it";

/// The documents to validate for one message, each with what it is; or the result when there is nothing to
/// hand to xmllint.
fn split(body: &str) -> Result<Vec<(String, String)>, XsdResult> {
    let text = body.trim();
    if text.is_empty() {
        return Err(XsdResult::NotValidated {
            why: "no content (nothing to validate)".into(),
        });
    }
    if !text.starts_with('<') {
        return Err(XsdResult::NotValidated {
            why: "not an XML message".into(),
        });
    }
    let doc = Document::parse(text.as_bytes()).map_err(|e| XsdResult::Invalid {
        why: format!("not well-formed XML: {e}"),
    })?;
    let root = doc.root();
    let version = root
        .namespace()
        .filter(|ns| *ns == SOAP12_NS || *ns == SOAP11_NS);
    let Some(version) = version.filter(|_| root.local_name() == "Envelope") else {
        return Ok(vec![(qname(root), text.to_string())]);
    };
    let mut docs = Vec::new();
    if version == SOAP12_NS {
        docs.push(("envelope".to_string(), text.to_string()));
    }
    if let Some(header) = root.child(version, "Header") {
        for block in header.child_elements() {
            docs.push((
                format!("header {}", qname(block)),
                block.standalone_source(),
            ));
        }
    }
    let body_el = root.child(version, "Body");
    let children: Vec<&Element> = body_el.iter().flat_map(|b| b.child_elements()).collect();
    if children.is_empty() {
        return Err(XsdResult::Invalid {
            why: "the SOAP Body is empty or missing".into(),
        });
    }
    for el in children {
        if el.is(version, "Fault") {
            // Checked within its envelope (its Code's QName values use the envelope's prefixes).
            if version == SOAP11_NS {
                return Err(XsdResult::NotValidated {
                    why: "a SOAP 1.1 Fault (the XSDs cover SOAP 1.2 only)".into(),
                });
            }
            continue;
        }
        if es_interfaces::messages::es4v4::actions(el.local_name()).is_some() {
            return Err(XsdResult::NotValidated {
                why: V4_FUNCTION.into(),
            });
        }
        docs.push((format!("body {}", qname(el)), el.standalone_source()));
    }
    Ok(docs)
}

fn qname(e: &Element) -> String {
    e.name().qualified()
}

/// Reads xmllint's output: `FILE validates`, `FILE fails to validate` and the `FILE:LINE: …` errors before.
fn apply(out: &str, parts: &[Part], messages: &mut [Exchange]) {
    for p in parts {
        let prefix = format!("{}:", p.file);
        let errors: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(tidy)
            .collect();
        let validates = out.lines().any(|l| l == format!("{} validates", p.file));
        let fails = out
            .lines()
            .any(|l| l == format!("{} fails to validate", p.file));
        let m = &mut messages[p.message];
        if validates && errors.is_empty() {
            continue;
        }
        if !validates && !fails && errors.is_empty() {
            if matches!(m.xsd, XsdResult::Valid) {
                m.xsd = XsdResult::NotValidated {
                    why: format!(
                        "xmllint said nothing of the {}: {}",
                        p.what,
                        out.lines().last().unwrap_or("")
                    ),
                };
            }
            continue;
        }
        let mut why = format!(
            "{}: {}",
            p.what,
            errors
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
        if errors.len() > 3 {
            why.push_str(&format!(" (and {} more)", errors.len() - 3));
        }
        m.xsd = match &m.xsd {
            XsdResult::Invalid { why: before } => XsdResult::Invalid {
                why: format!("{before} | {why}"),
            },
            _ => XsdResult::Invalid { why },
        };
    }
}

/// `12: element Eid: Schemas validity error : Element '{ns}Eid': …` → `line 12: Element 'rps:Eid': …`.
fn tidy(line: &str) -> String {
    let (num, rest) = line.split_once(':').unwrap_or(("", line));
    let rest = rest
        .split_once("error : ")
        .map(|(_, r)| r)
        .unwrap_or(rest)
        .trim();
    let rest = rest.replace(&format!("{{{RPS_NS}}}"), "rps:");
    let rest = rest.replace(&format!("{{{SOAP12_NS}}}"), "env:");
    let rest = rest.replace("{http://www.w3.org/2005/08/addressing}", "wsa:");
    if num.trim().chars().all(|c| c.is_ascii_digit()) && !num.trim().is_empty() {
        format!("line {}: {rest}", num.trim())
    } else {
        rest
    }
}

/// Whether a message's invalidity decides its case: an invalid message of the SUT fails the case; one of the
/// suite not sent malformed on purpose makes it INCONCLUSIVE (the suite's own defect).
pub fn blame(m: &Exchange) -> Option<Direction> {
    match (&m.xsd, m.malformed_on_purpose) {
        (XsdResult::Invalid { .. }, false) => Some(m.direction),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::ctx::exchange;

    const ENV: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"
  xmlns:rps="http://namespaces.gsma.org/esim-messaging/3">
<env:Header>HEADER</env:Header><env:Body>BODY</env:Body></env:Envelope>"#;

    const HEADER: &str = r#"<wsa:To env:mustUnderstand="true">https://smsr.example/ES4</wsa:To>
<wsa:MessageID>//1.3.6.1.4.1.99999.5/urn:uuid:1</wsa:MessageID>
<wsa:Action env:mustUnderstand="true">http://gsma.com/ES4/PlatformManagement/ES4-GetEISRequest</wsa:Action>"#;

    const BODY: &str = r#"<rps:ES4-GetEISRequest><rps:FunctionCallIdentifier>x</rps:FunctionCallIdentifier>
<rps:Eid>89049032123451234512345678901235</rps:Eid></rps:ES4-GetEISRequest>"#;

    fn envelope(header: &str, body: &str) -> String {
        ENV.replace("HEADER", header).replace("BODY", body)
    }

    fn fault(status: &str) -> String {
        format!(
            r#"<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>
<env:Reason><env:Text xml:lang="en">refused</env:Text></env:Reason>
<env:Detail><rps:FunctionExecutionStatus><rps:Status>{status}</rps:Status></rps:FunctionExecutionStatus></env:Detail>
</env:Fault>"#
        )
    }

    fn message(body: String) -> Exchange {
        exchange(
            0,
            Direction::FromSut,
            "MNO 1",
            "HTTP answer",
            "https://h",
            Some(200),
            body,
        )
    }

    async fn validator() -> Option<Validator> {
        let dir = testkit::gsma_xsd_dir()?;
        let v = Validator::new(&XsdConfig {
            dir: Some(dir),
            xmllint: testkit::xmllint(),
        })
        .await;
        assert!(v.is_on(), "{}", v.describe());
        Some(v)
    }

    async fn results(v: &Validator, bodies: Vec<String>) -> Vec<XsdResult> {
        let mut messages: Vec<Exchange> = bodies.into_iter().map(message).collect();
        v.check(&mut messages).await;
        messages.into_iter().map(|m| m.xsd).collect()
    }

    #[tokio::test]
    async fn valid_messages_are_valid_and_invalid_ones_are_marked_invalid_with_the_reason() {
        let Some(v) = validator().await else {
            eprintln!("SKIPPED: GSMA XSDs absent");
            return;
        };
        let bare = format!(
            "<rps:ES4-GetEISRequest xmlns:rps=\"{RPS_NS}\"><rps:FunctionCallIdentifier>x</rps:FunctionCallIdentifier>\
             <rps:Eid>89049032123451234512345678901235</rps:Eid></rps:ES4-GetEISRequest>"
        );
        let got = results(
            &v,
            vec![
                envelope(HEADER, BODY),
                envelope(HEADER, &fault("FAILED")),
                bare,
            ],
        )
        .await;
        assert_eq!(got, vec![XsdResult::Valid; 3]);

        let cases = [
            (
                envelope(HEADER, &BODY.replace("901235<", "90123<")),
                "body rps:ES4-GetEISRequest: line 2: Element 'rps:Eid'",
            ),
            (
                envelope(HEADER, &BODY.replace("<rps:Eid>", "<rps:Bogus/><rps:Eid>")),
                "Element 'rps:Bogus': This element is not expected",
            ),
            (
                envelope(HEADER, "<rps:ES4-NoSuchRequest/>"),
                "No matching global declaration",
            ),
            (
                envelope(
                    &format!("{HEADER}<x:Trace xmlns:x=\"urn:example\">1</x:Trace>"),
                    BODY,
                ),
                "header x:Trace",
            ),
            (
                envelope(
                    &HEADER.replace("<wsa:MessageID>", "<wsa:MessageID><b/>"),
                    BODY,
                ),
                "header wsa:MessageID",
            ),
            (envelope(HEADER, &fault("Maybe")), "envelope: "),
            (envelope(HEADER, ""), "the SOAP Body is empty"),
            (
                envelope(HEADER, BODY)[..200].to_string(),
                "not well-formed XML",
            ),
        ];
        let got = results(&v, cases.iter().map(|(b, _)| b.clone()).collect()).await;
        for ((body, want), result) in cases.iter().zip(&got) {
            match result {
                XsdResult::Invalid { why } => {
                    assert!(why.contains(want), "{want} not in: {why}\n{body}")
                }
                other => panic!("expected invalid ({want}), got {other}\n{body}"),
            }
        }

        let v4 = envelope(
            HEADER,
            &BODY.replace("ES4-GetEISRequest", "ES4-SetFallBackAttributeRequest"),
        );
        let got = results(&v, vec![String::new(), "HTTP 400: no".into(), v4.clone()]).await;
        assert_eq!(
            got[2],
            XsdResult::NotValidated {
                why: V4_FUNCTION.into()
            },
            "{v4}"
        );
        assert!(
            matches!(&got[0], XsdResult::NotValidated { why } if why.contains("no content")),
            "{}",
            got[0]
        );
        assert!(
            matches!(&got[1], XsdResult::NotValidated { why } if why.contains("not an XML message")),
            "{}",
            got[1]
        );
    }

    #[tokio::test]
    async fn without_the_xsds_or_xmllint_messages_are_not_validated_saying_why() {
        let no_dir = Validator::new(&XsdConfig {
            dir: None,
            xmllint: "xmllint".into(),
        })
        .await;
        assert!(!no_dir.is_on());
        assert!(
            no_dir.describe().contains("RSP_GSMA_XSD_DIR"),
            "{}",
            no_dir.describe()
        );
        let got = results(&no_dir, vec![envelope(HEADER, BODY)]).await;
        assert!(
            matches!(&got[0], XsdResult::NotValidated { why } if why.contains("no GSMA XSD directory")),
            "{}",
            got[0]
        );
        let Some(dir) = testkit::gsma_xsd_dir() else {
            return;
        };
        let no_tool = Validator::new(&XsdConfig {
            dir: Some(dir.clone()),
            xmllint: "/nonexistent/xmllint".into(),
        })
        .await;
        assert!(
            no_tool
                .describe()
                .contains("cannot run /nonexistent/xmllint"),
            "{}",
            no_tool.describe()
        );
        let wrong_dir = Validator::new(&XsdConfig {
            dir: Some(dir.join("import")),
            xmllint: testkit::xmllint(),
        })
        .await;
        assert!(
            wrong_dir.describe().contains("has no bodies.xsd"),
            "{}",
            wrong_dir.describe()
        );
    }

    #[test]
    fn counts_tell_on_purpose_from_defects() {
        let mut a = message("<x/>".into());
        a.xsd = XsdResult::Valid;
        let mut b = a.clone();
        b.xsd = XsdResult::Invalid { why: "w".into() };
        let mut c = b.clone();
        c.malformed_on_purpose = true;
        let mut d = a.clone();
        d.xsd = XsdResult::NotValidated { why: "w".into() };
        assert_eq!(
            XsdCounts::of([&a, &b, &c, &d, &a]),
            XsdCounts {
                valid: 2,
                invalid: 1,
                invalid_on_purpose: 1,
                not_validated: 1
            }
        );
        assert_eq!(blame(&b), Some(Direction::FromSut));
        assert_eq!(blame(&c), None);
        assert_eq!(blame(&a), None);
    }
}
