//! The reports of a conformance run: `report.json` (the [`RunReport`] as is), `junit.xml` (for CI systems) and
//! `report.html` (one self-contained page: summary, cases with failures first, each case's messages). XML and
//! HTML are escaped with es_interfaces::xml's writer and escaping functions.

use std::path::{Path, PathBuf};

use es_interfaces::xml::{XmlWriter, escape_attribute, escape_text};

use super::{CaseResult, Direction, RunReport, SuiteError, Verdict};

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

/// One self-contained HTML page (no script, no external resource): the SUT and the counts, a table of the cases
/// with failures first, then each case with its preconditions, steps, expected result, verdict and messages.
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
    o.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
         .pass{background:#dff5dd}.fail{background:#f9d6d5}.inconclusive{background:#fcefc7}.na{background:#eee}\
         pre{white-space:pre-wrap;word-break:break-all;background:#f7f7f7;padding:.5em;font-size:85%;max-height:30em;overflow:auto}\
         details{margin:.3em 0 .3em 1em}section{border-top:1px solid #ccc;margin-top:1.5em}</style></head><body>",
    );
    o.push_str(&format!("<h1>{}</h1>", h(&report.suite)));
    o.push_str("<table>");
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
    o.push_str("</table>");
    o.push_str(&format!(
        "<table><tr><th class=\"pass\">PASS</th><th class=\"fail\">FAIL</th><th class=\"inconclusive\">INCONCLUSIVE</th>\
         <th class=\"na\">NOT APPLICABLE</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        s.pass, s.fail, s.inconclusive, s.not_applicable
    ));
    o.push_str("<h2>Cases</h2><table><tr><th>Verdict</th><th>Case</th><th>SGP.02</th><th>Title</th><th>Reason</th></tr>");
    for c in &cases {
        o.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            verdict_class(c.verdict),
            c.verdict.as_str(),
            escape_attribute(&c.id),
            h(&c.id),
            h(&c.section),
            h(&c.title),
            h(&c.reason)
        ));
    }
    o.push_str("</table>");
    for c in &cases {
        o.push_str(&format!(
            "<section id=\"{}\"><h3 class=\"{}\">{} — {}: {}</h3>",
            escape_attribute(&c.id),
            verdict_class(c.verdict),
            h(&c.id),
            c.verdict.as_str(),
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
            "</ol><p><b>Expected</b> {}</p><p><b>Result</b> {}</p>",
            h(&c.expected),
            h(&c.reason)
        ));
        if !c.note.is_empty() {
            o.push_str(&format!("<p><b>Note</b> {}</p>", h(&c.note)));
        }
        o.push_str(&format!(
            "<p>{} message(s), {} ms</p>",
            c.messages.len(),
            c.duration_ms
        ));
        for m in &c.messages {
            let arrow = match m.direction {
                Direction::ToSut => "→ SUT",
                Direction::FromSut => "← SUT",
            };
            let http = m
                .http_status
                .map(|s| format!(" HTTP {s}"))
                .unwrap_or_default();
            o.push_str(&format!(
                "<details><summary>+{} ms {} {} {}{}</summary><p>{} · XSD: {}</p><pre>{}</pre></details>",
                m.at_ms,
                arrow,
                h(&m.peer),
                h(&m.kind),
                h(&http),
                h(&m.url),
                h(&m.xsd),
                h(&m.body)
            ));
        }
        o.push_str("</section>");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{Exchange, Summary};
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
                xsd: "not validated".into(),
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
            xsd_validation: "not validated".into(),
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
