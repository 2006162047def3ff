//! The reports of a conformance run: `report.json` (the [`RunReport`] as is), `junit.xml` (for CI systems) and
//! `report.html` (one self-contained page: summary, cases with failures first, each case's messages). XML and
//! HTML are escaped with es_interfaces::xml's writer and escaping functions.

use std::path::{Path, PathBuf};

use es_interfaces::xml::{XmlWriter, escape_attribute, escape_text};

use super::{
    CaseResult, Direction, Exchange, RunReport, SuiteError, Verdict, XsdCounts, XsdResult,
};

/// The file names written into the report directory.
pub const JSON_FILE: &str = "report.json";
/// JUnit XML.
pub const JUNIT_FILE: &str = "junit.xml";
/// HTML.
pub const HTML_FILE: &str = "report.html";

/// Writes the three reports into `dir` (created); returns their paths.
pub fn write(report: &RunReport, dir: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    std::fs::create_dir_all(dir).map_err(|source| SuiteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| SuiteError::Setup(format!("report JSON: {e}")))?;
    let mut out = Vec::new();
    for (name, text) in [
        (JSON_FILE, json),
        (JUNIT_FILE, junit(report)),
        (HTML_FILE, html(report)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| SuiteError::Io {
            path: path.clone(),
            source,
        })?;
        out.push(path);
    }
    Ok(out)
}

/// The messages of a case as text (JUnit `system-out`).
fn transcript(c: &CaseResult) -> String {
    let mut s = String::new();
    for m in &c.messages {
        let arrow = match m.direction {
            Direction::ToSut => "->",
            Direction::FromSut => "<-",
        };
        let http = m
            .http_status
            .map(|h| format!(" HTTP {h}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "[+{} ms] {arrow} {} {} {}{http} (XSD: {})\n{}\n\n",
            m.at_ms, m.peer, m.kind, m.url, m.xsd, m.body
        ));
    }
    s
}

/// JUnit XML: one `testsuite` per interface; FAIL is a `failure`, INCONCLUSIVE an `error`, NOT APPLICABLE
/// `skipped`; each case's messages go to `system-out`.
pub fn junit(report: &RunReport) -> String {
    let mut w = XmlWriter::new();
    w.declaration();
    w.start("testsuites");
    w.attribute("name", &report.suite);
    w.attribute("tests", &report.cases.len().to_string());
    w.attribute("failures", &report.summary.fail.to_string());
    w.attribute("errors", &report.summary.inconclusive.to_string());
    w.attribute("skipped", &report.summary.not_applicable.to_string());
    w.attribute("time", &format!("{:.3}", report.duration_secs));
    let mut interfaces: Vec<&str> = report.cases.iter().map(|c| c.interface.as_str()).collect();
    interfaces.dedup();
    for interface in interfaces {
        let cases: Vec<&CaseResult> = report
            .cases
            .iter()
            .filter(|c| c.interface == interface)
            .collect();
        let count = |v: Verdict| cases.iter().filter(|c| c.verdict == v).count().to_string();
        w.start("testsuite");
        w.attribute("name", interface);
        w.attribute("tests", &cases.len().to_string());
        w.attribute("failures", &count(Verdict::Fail));
        w.attribute("errors", &count(Verdict::Inconclusive));
        w.attribute("skipped", &count(Verdict::NotApplicable));
        w.attribute("timestamp", &report.started);
        for c in cases {
            w.start("testcase");
            w.attribute("classname", &format!("sgp02.{interface}"));
            w.attribute("name", &format!("{} {}", c.id, c.title));
            w.attribute("time", &format!("{:.3}", c.duration_ms as f64 / 1000.0));
            match c.verdict {
                Verdict::Pass => {}
                Verdict::Fail => {
                    w.start("failure");
                    w.attribute("message", &c.reason);
                    w.attribute("type", "FAIL");
                    w.text(&format!("expected: {}\n{}", c.expected, c.reason));
                    w.end();
                }
                Verdict::Inconclusive => {
                    w.start("error");
                    w.attribute("message", &c.reason);
                    w.attribute("type", "INCONCLUSIVE");
                    w.end();
                }
                Verdict::NotApplicable => {
                    w.start("skipped");
                    w.attribute("message", &format!("NOT APPLICABLE: {}", c.reason));
                    w.end();
                }
            }
            w.leaf("system-out", &transcript(c));
            w.end();
        }
        w.end();
    }
    w.finish()
}

fn h(s: &str) -> String {
    escape_text(s).into_owned()
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
        Verdict::NotApplicable => "na",
    }
}

/// The CSS class and short label of a message's XSD result.
fn xsd_badge(m: &Exchange) -> (&'static str, &'static str) {
    match (&m.xsd, m.malformed_on_purpose) {
        (XsdResult::Valid, _) => ("x-valid", "XSD valid"),
        (XsdResult::Invalid { .. }, true) => ("x-purpose", "XSD invalid, on purpose"),
        (XsdResult::Invalid { .. }, false) => ("x-invalid", "XSD INVALID"),
        (XsdResult::NotValidated { .. }, _) => ("x-none", "not validated"),
    }
}

/// `n valid · n invalid …` of some messages, empty parts left out.
fn xsd_line(c: &XsdCounts) -> String {
    let parts: Vec<String> = [
        (c.valid, "valid"),
        (c.invalid, "invalid"),
        (c.invalid_on_purpose, "invalid on purpose"),
        (c.not_validated, "not validated"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "no message".into()
    } else {
        parts.join(" · ")
    }
}

const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2733;background:#f4f6f8}\
main{max-width:1180px;margin:0 auto;padding:1.2em 1.5em 3em}\
h1{font-size:1.6em;margin:.2em 0 .6em}h2{font-size:1.25em;margin:1.6em 0 .5em}h3{font-size:1.05em;margin:0}\
table{border-collapse:collapse;width:100%;background:#fff}\
td,th{border-bottom:1px solid #e3e7eb;padding:.35em .6em;text-align:left;vertical-align:top}\
th{font-weight:600;color:#4a5866;background:#f9fafb}\
.meta th{width:11em}.meta,.cases,.tl{border:1px solid #dde2e7;border-radius:6px}\
.cards{display:flex;gap:.8em;margin:1em 0}\
.card{flex:1;border-radius:6px;padding:.6em .9em;background:#fff;border:1px solid #dde2e7;border-left-width:6px}\
.card b{display:block;font-size:1.8em;line-height:1.1}.card span{color:#4a5866;font-size:.9em}\
.card.pass{border-left-color:#2e9e44}.card.fail{border-left-color:#d1342f}\
.card.inconclusive{border-left-color:#d99a00}.card.na{border-left-color:#9aa5b1}.card.xsd{border-left-color:#3b6fd1}\
.v{display:inline-block;min-width:6.5em;text-align:center;border-radius:3px;padding:0 .4em;font-weight:600;font-size:.85em;color:#fff}\
.v.pass{background:#2e9e44}.v.fail{background:#d1342f}.v.inconclusive{background:#c78c00}.v.na{background:#8a96a3}\
tr.fail td{background:#fdf0ef}tr.inconclusive td{background:#fdf8e8}\
.x{display:inline-block;border-radius:3px;padding:0 .4em;font-size:.8em;white-space:nowrap}\
.x-valid{background:#e2f4e5;color:#1e6e2f}.x-invalid{background:#d1342f;color:#fff;font-weight:600}\
.x-purpose{background:#fcefc7;color:#7a5600}.x-none{background:#e8ebee;color:#4a5866}\
a{color:#2359b5;text-decoration:none}a:hover{text-decoration:underline}\
section{background:#fff;border:1px solid #dde2e7;border-left:6px solid #9aa5b1;border-radius:6px;margin:1em 0;padding:.8em 1em}\
section.pass{border-left-color:#2e9e44}section.fail{border-left-color:#d1342f}section.inconclusive{border-left-color:#d99a00}\
section p{margin:.35em 0}section ol{margin:.3em 0 .5em;padding-left:1.6em}\
.result{padding:.3em .6em;border-radius:4px;background:#f4f6f8}.fail .result{background:#fdf0ef}\
.tl{margin-top:.5em}.tl td{font-size:.92em}.tl .t{white-space:nowrap;color:#4a5866;width:4.5em;text-align:right}\
.dir{white-space:nowrap;font-weight:600}.to{color:#2359b5}.from{color:#7a3fb0}\
.why{color:#a1221e;font-size:.9em;margin-top:.2em}.why.purpose{color:#7a5600}\
details summary{cursor:pointer;color:#4a5866;font-size:.9em}\
pre{white-space:pre-wrap;word-break:break-all;background:#f4f6f8;border-radius:4px;padding:.5em;font-size:12px;max-height:24em;overflow:auto;margin:.3em 0}\
.muted{color:#6b7885}.cases td:nth-child(2){white-space:nowrap}";

/// One self-contained HTML page (no script, no external resource): the SUT, the verdict and XSD counts, a table
/// of the cases with failures first, then each case with its preconditions, steps, expected result, verdict and
/// the timeline of its messages, each with its XSD result (the message itself folded under it).
pub fn html(report: &RunReport) -> String {
    let mut cases: Vec<&CaseResult> = report.cases.iter().collect();
    cases.sort_by_key(|c| c.verdict);
    let s = &report.summary;
    let mut o = String::new();
    o.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    );
    o.push_str(&format!("<title>{} report</title>", h(&report.suite)));
    o.push_str(&format!("<style>{CSS}</style></head><body><main>"));
    o.push_str(&format!("<h1>{}</h1>", h(&report.suite)));
    o.push_str("<table class=\"meta\">");
    for (k, v) in [
        (
            "SM-SR under test",
            report.sut_smsr.clone().unwrap_or_else(|| "—".into()),
        ),
        (
            "SM-DP under test",
            report.sut_smdp.clone().unwrap_or_else(|| "—".into()),
        ),
        (
            "Features declared",
            report
                .features
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "Cases selected",
            report.cases_pattern.clone().unwrap_or_else(|| "all".into()),
        ),
        ("Started", report.started.clone()),
        ("Duration", format!("{:.1} s", report.duration_secs)),
        ("XSD validation", report.xsd_validation.clone()),
    ] {
        o.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", h(k), h(&v)));
    }
    o.push_str("</table><div class=\"cards\" id=\"summary\">");
    for (class, n, label) in [
        ("pass", s.pass, "PASS"),
        ("fail", s.fail, "FAIL"),
        ("inconclusive", s.inconclusive, "INCONCLUSIVE"),
        ("na", s.not_applicable, "NOT APPLICABLE"),
    ] {
        o.push_str(&format!(
            "<div class=\"card {class}\"><b>{n}</b><span>{label}</span></div>"
        ));
    }
    let x = &report.xsd;
    o.push_str(&format!(
        "<div class=\"card xsd\"><b>{}/{}</b><span>messages XSD-valid<br>{}</span></div></div>",
        x.valid,
        x.valid + x.invalid + x.invalid_on_purpose + x.not_validated,
        h(&xsd_line(x))
    ));
    o.push_str(
        "<h2>Cases</h2><table class=\"cases\"><tr><th>Verdict</th><th>Case</th><th>SGP.02</th><th>Title</th>\
         <th>Result</th><th>Messages</th></tr>",
    );
    for c in &cases {
        o.push_str(&format!(
            "<tr class=\"{cls}\"><td><span class=\"v {cls}\">{}</span></td><td><a href=\"#{}\">{}</a></td>\
             <td>{}</td><td>{}</td><td>{}</td><td class=\"muted\">{}</td></tr>",
            c.verdict.as_str(),
            escape_attribute(&c.id),
            h(&c.id),
            h(&c.section),
            h(&c.title),
            h(&c.reason),
            h(&xsd_line(&XsdCounts::of(&c.messages))),
            cls = verdict_class(c.verdict),
        ));
    }
    o.push_str("</table><h2>Case details</h2>");
    for c in &cases {
        let cls = verdict_class(c.verdict);
        o.push_str(&format!(
            "<section class=\"{cls}\" id=\"{}\"><h3><span class=\"v {cls}\">{}</span> {} — {}</h3>",
            escape_attribute(&c.id),
            c.verdict.as_str(),
            h(&c.id),
            h(&c.title)
        ));
        o.push_str(&format!(
            "<p><b>SGP.02</b> {} · <b>Preconditions</b> {}</p><ol>",
            h(&c.section),
            h(&c.preconditions)
        ));
        for step in &c.steps {
            o.push_str(&format!("<li>{}</li>", h(step)));
        }
        o.push_str(&format!(
            "</ol><p><b>Expected</b> {}</p><p class=\"result\"><b>Result</b> {}</p>",
            h(&c.expected),
            h(&c.reason)
        ));
        if !c.note.is_empty() {
            o.push_str(&format!(
                "<p class=\"muted\"><b>Note</b> {}</p>",
                h(&c.note)
            ));
        }
        if c.messages.is_empty() {
            o.push_str(&format!(
                "<p class=\"muted\">No message ({} ms).</p></section>",
                c.duration_ms
            ));
            continue;
        }
        o.push_str(
            "<table class=\"tl\"><tr><th class=\"t\">+ms</th><th>Direction</th><th>Message</th><th>XSD</th></tr>",
        );
        for m in &c.messages {
            let (dir_class, arrow) = match m.direction {
                Direction::ToSut => ("to", "→ SUT"),
                Direction::FromSut => ("from", "← SUT"),
            };
            let http = m
                .http_status
                .map(|s| format!(" · HTTP {s}"))
                .unwrap_or_default();
            let (xclass, xlabel) = xsd_badge(m);
            let why = match &m.xsd {
                XsdResult::Valid => String::new(),
                XsdResult::Invalid { why } | XsdResult::NotValidated { why } => format!(
                    "<div class=\"why{}\">{}</div>",
                    if m.malformed_on_purpose || xclass == "x-none" {
                        " purpose"
                    } else {
                        ""
                    },
                    h(why)
                ),
            };
            o.push_str(&format!(
                "<tr><td class=\"t\">{}</td><td class=\"dir {dir_class}\">{arrow}<br><span class=\"muted\">{}</span></td>\
                 <td><b>{}</b>{}<details><summary>{}</summary><pre>{}</pre></details></td>\
                 <td><span class=\"x {xclass}\">{xlabel}</span>{why}</td></tr>",
                m.at_ms,
                h(&m.peer),
                h(&m.kind),
                h(&http),
                h(&m.url),
                h(&m.body)
            ));
        }
        o.push_str(&format!(
            "</table><p class=\"muted\">{} message(s), {} ms</p></section>",
            c.messages.len(),
            c.duration_ms
        ));
    }
    o.push_str("</main></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Summary;
    use es_interfaces::xml::Document;

    fn sample() -> RunReport {
        let case = |id: &str, verdict, reason: &str| CaseResult {
            id: id.into(),
            interface: "ES4".into(),
            section: "§5.5.1".into(),
            title: "a <title> & more".into(),
            preconditions: "none".into(),
            steps: vec!["step \"one\"".into()],
            expected: "x < y".into(),
            note: String::new(),
            verdict,
            reason: reason.into(),
            duration_ms: 5,
            messages: vec![Exchange {
                at_ms: 1,
                direction: Direction::ToSut,
                peer: "MNO 1".into(),
                kind: "ES4-GetEISRequest".into(),
                url: "https://h/x?a=1&b=2".into(),
                http_status: None,
                body: "<env:Envelope>]]></env:Envelope>\u{1}".into(),
                xsd: XsdResult::Invalid {
                    why: "body rps:ES4-GetEISRequest: line 1: Element 'rps:Eid': not <valid>"
                        .into(),
                },
                malformed_on_purpose: false,
            }],
        };
        RunReport {
            suite: "rsp conformance test".into(),
            started: "2026-12-06T00:00:00Z".into(),
            duration_secs: 1.0,
            sut_smsr: Some("https://h".into()),
            sut_smdp: None,
            features: vec![],
            cases_pattern: None,
            xsd_validation: "checked".into(),
            xsd: XsdCounts {
                invalid: 3,
                ..XsdCounts::default()
            },
            summary: Summary {
                pass: 1,
                fail: 1,
                inconclusive: 0,
                not_applicable: 1,
            },
            cases: vec![
                case("ES4-A-01", Verdict::Pass, "ok"),
                case("ES4-A-02", Verdict::Fail, "expected <a>, got \"b\" & c"),
                case("ES4-A-03", Verdict::NotApplicable, "no es5"),
            ],
        }
    }

    #[test]
    fn junit_is_well_formed_and_counts() {
        let x = junit(&sample());
        let doc = Document::parse(x.as_bytes()).expect("well-formed JUnit XML");
        assert_eq!(doc.root().local_name(), "testsuites");
        assert_eq!(doc.root().attribute(None, "failures"), Some("1"));
        assert!(x.contains("<failure message=\"expected &lt;a&gt;, got &quot;b&quot; &amp; c\""));
    }

    #[test]
    fn html_escapes_and_puts_failures_first() {
        let page = html(&sample());
        assert!(!page.contains("<env:Envelope>"));
        assert!(page.contains("&lt;env:Envelope&gt;"));
        assert!(page.contains("a &lt;title&gt; &amp; more"));
        let fail = page.find("ES4-A-02").expect("fail row");
        let pass = page.find("ES4-A-01").expect("pass row");
        assert!(fail < pass, "failures first");
    }
}
