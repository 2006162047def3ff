//! `rsp conformance`: an SGP.11-style conformance suite that plays the peers of a system under test (SUT) — the
//! EUM on ES1 (SGP.02 §5.2), the SM-DP on ES3 (§5.4) and the MNOs on ES4 (§5.5) of an SM-SR, the MNOs on ES2
//! (§5.3) of an SM-DP — from a peers directory (a world of certs::world), runs a catalogue of cases and writes a
//! report ([`report`]).
//!
//! When the SUT is an SM-DP, the suite can also play its SM-SR on ES3 ([`smsr_peer`], `--play-smsr`), with the
//! peers' eUICCs simulated behind it; [`es3_caller::CASES`] check the SM-DP as an ES3 caller through it.
//!
//! The catalogue is data: one table per interface ([`es1::CASES`], [`es2::CASES`], [`es3_caller::CASES`],
//! [`es3::CASES`], [`es4::CASES`], [`es7::CASES`]), each [`Case`] with its id, SGP.02 section, applicability, preconditions, steps, expected
//! result and the function that runs it. Cases run in catalogue order (later cases may rely on the state earlier ones leave, and say so in their
//! preconditions); each gets a [`Verdict`] with a reason and keeps every message exchanged ([`Exchange`]).

pub mod ctx;
pub mod es1;
pub mod es2;
pub mod es3;
pub mod es3_caller;
pub mod es4;
pub mod es5;
pub mod es5_https;
pub mod es7;
pub mod report;
pub mod smsc;
pub mod smsr_es7;
pub mod smsr_peer;
pub mod xsd;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use ctx::{Ctx, Direction, Exchange};
pub use xsd::{XsdConfig, XsdCounts, XsdResult};

/// Errors that stop a run before any case (the peers directory, the callback receiver).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The peers directory could not be loaded.
    #[error("peers directory {path}: {why}")]
    Peers {
        /// The directory.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A peer client or the callback receiver could not start.
    #[error("{0}")]
    Setup(String),
    /// A report file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The verdict of one case (SGP.11 style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Verdict {
    /// The SUT's behaviour contradicts the expected result.
    #[serde(rename = "FAIL")]
    Fail,
    /// The case could not decide (a precondition unmet, a transport error, a case it depends on did not pass).
    #[serde(rename = "INCONCLUSIVE")]
    Inconclusive,
    /// The SUT behaved as expected.
    #[serde(rename = "PASS")]
    Pass,
    /// The case does not apply to this SUT (its role or a feature it needs is absent).
    #[serde(rename = "NOT APPLICABLE")]
    NotApplicable,
}

impl Verdict {
    /// The verdict as printed and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::NotApplicable => "NOT APPLICABLE",
        }
    }
}

/// What a case needs of the SUT to apply (its applicability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Need {
    /// The SUT is an SM-SR (`--sut smsr=…`).
    #[serde(rename = "smsr")]
    Smsr,
    /// The SUT is an SM-DP (`--sut smdp=…`).
    #[serde(rename = "smdp")]
    Smdp,
    /// The SUT reaches the peers' eUICCs over ES5 (SGP.02 §5.6): the asynchronous ES2/ES4 functions complete.
    /// Declared with `--feature es5` (e.g. `rsp serve --simulate` on the peers' world).
    #[serde(rename = "es5")]
    Es5,
    /// The suite plays the SUT's SMSC with the peers' eUICCs behind it (SGP.02 §5.6; wire-profile §2): the SUT's
    /// SM-SR binds its SMPP account to the suite (`--smsc-listen`), so ES5 bytes can be checked. Offered when the
    /// run has an SMSC ([`RunConfig::smsc`]); it offers [`Need::Es5`] too.
    #[serde(rename = "smsc")]
    SuiteSmsc,
    /// The suite plays an SM-SR beside the SUT (`--play-smsr`, [`RunConfig::play_smsr`]). For an SM-DP under
    /// test, the peers' SM-SR on ES3 (SGP.02 §5.4) with the peers' eUICCs simulated behind it ([`smsr_peer`]):
    /// the SUT registers it as the peers' SM-SR's ES3 endpoint, so the SM-DP's ES3 calls can be checked; it
    /// offers [`Need::Es5`] too (the simulated eUICCs take every function). For an SM-SR alone under test, the
    /// peers' second SM-SR on ES7 (§5.7, [`smsr_es7`]): the SUT registers it as an SM-SR with that ES7
    /// endpoint, so the SM-SR change (§3.8) can be run both ways.
    #[serde(rename = "play-smsr")]
    SuiteSmsr,
    /// The SUT reaches one of the peers' eUICCs over HTTPS (SCP81 PSK-TLS, RAM over HTTP; SGP.02 §2.4.4,
    /// wire-profile §3), opening each session with a push SMS through the suite's SMSC: the run names that eUICC
    /// (`--https-euicc`, [`RunConfig::https_euicc`]). Offered with [`Need::SuiteSmsc`].
    #[serde(rename = "https")]
    Https,
}

impl Need {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Smsr => "smsr",
            Need::Smdp => "smdp",
            Need::Es5 => "es5",
            Need::SuiteSmsc => "smsc",
            Need::SuiteSmsr => "play-smsr",
            Need::Https => "https",
        }
    }
}

/// Why a case did not pass (the `Err` of a case function).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The SUT's behaviour contradicts the expected result.
    Fail(String),
    /// The case could not decide.
    Inconclusive(String),
}

/// What a case function returns: a note on success, or a [`Finding`].
pub type CaseOutcome = Result<String, Finding>;

/// A case's future.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseOutcome> + 'a>>;

/// A case's function.
pub type CaseFn = for<'a> fn(&'a Ctx) -> CaseFuture<'a>;

/// One case of the catalogue.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable identifier, e.g. `ES4-GetEIS-01`.
    pub id: &'static str,
    /// The interface (`ES1`, `ES4`).
    pub interface: &'static str,
    /// The SGP.02 section of the function or rule checked.
    pub section: &'static str,
    /// One line: what is checked.
    pub title: &'static str,
    /// What the SUT must offer for the case to apply.
    pub needs: &'static [Need],
    /// State the case expects before it runs.
    pub preconditions: &'static str,
    /// What the suite does.
    pub steps: &'static [&'static str],
    /// The expected result (status codes as SGP.02 §5.1.6.4 numbers them).
    pub expected: &'static str,
    /// Where the project's servers and SGP.02 differ or SGP.02 leaves room, said plainly (empty if nothing).
    pub note: &'static str,
    /// Runs it.
    pub run: CaseFn,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("id", &self.id).finish()
    }
}

/// The whole catalogue in run order: ES1, ES2, ES3 (the SM-DP as caller, then the SM-SR as provider), ES4,
/// ES7, then ES5.
pub fn catalogue() -> Vec<&'static Case> {
    es1::CASES
        .iter()
        .chain(es2::CASES.iter())
        .chain(es3_caller::CASES.iter())
        .chain(es3::CASES.iter())
        .chain(es4::CASES.iter())
        .chain(es7::CASES.iter())
        .chain(es5::CASES.iter())
        .collect()
}

/// Whether `id` matches `pattern`: comma-separated globs where `*` matches any run of characters (`ES4-*`,
/// `*-GetEIS-*,ES1-RegisterEIS-02`), case-insensitive.
pub fn matches(pattern: &str, id: &str) -> bool {
    pattern
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| glob(&p.to_ascii_lowercase(), &id.to_ascii_lowercase()))
}

fn glob(p: &str, s: &str) -> bool {
    match p.split_once('*') {
        None => p == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The peers directory (a world: `rsp conformance init`).
    pub peers: PathBuf,
    /// Base URL of the SUT's SM-SR (its ES1/ES4 services at the WSDL default paths), if it is one.
    pub smsr_url: Option<String>,
    /// Base URL of the SUT's SM-DP (its ES2 service at the WSDL default path), if it is one.
    pub smdp_url: Option<String>,
    /// Where the MNOs' callback receiver listens (`host:port`); the SUT must have `https://<that>/es4`
    /// registered as each MNO's ES4 endpoint (SM-SR) and `https://<that>/es2` as its ES2 endpoint (SM-DP), and
    /// `https://<that>/es3` as the SM-DP's ES3 endpoint (the same receiver takes the ES3 callbacks).
    pub callback_listen: String,
    /// Features the SUT declares (beyond its role).
    pub features: Vec<Need>,
    /// Which cases ([`matches()`]); all when `None`.
    pub cases: Option<String>,
    /// How long to wait for a callback or notification.
    pub callback_timeout: Duration,
    /// The GSMA XSDs and the validator every message is checked with.
    pub xsd: XsdConfig,
    /// The suite plays the SUT's SMSC here ([`Need::SuiteSmsc`]): the SUT's SM-SR must bind its SMPP account to it.
    pub smsc: Option<smsc::SmscSetup>,
    /// The suite plays an SM-SR here (`host:port`, [`Need::SuiteSmsr`]): the SUT's SM-DP must have
    /// `https://<that>/esim-messaging/3/ES3/ES3SmSrService` as the peers' SM-SR's ES3 endpoint; an SM-SR alone
    /// under test must have `https://<that>/esim-messaging/3/ES7/ES7SmSrService` as the ES7 endpoint of the
    /// peers' SM-SR 2.
    pub play_smsr: Option<String>,
    /// The peers' eUICC (index from 0) the SUT reaches over HTTPS, its sessions opened by push SMS through the
    /// suite's SMSC ([`Need::Https`], wire-profile §3): the SUT's SM-SR has its admin server on and HTTPS as that
    /// eUICC's channel.
    pub https_euicc: Option<usize>,
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Interface.
    pub interface: String,
    /// SGP.02 section.
    pub section: String,
    /// Title.
    pub title: String,
    /// Preconditions.
    pub preconditions: String,
    /// Steps.
    pub steps: Vec<String>,
    /// Expected result.
    pub expected: String,
    /// Note on SGP.02 vs the project's SM-SR.
    pub note: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Why (for PASS, what was seen).
    pub reason: String,
    /// Milliseconds the case took.
    pub duration_ms: u64,
    /// Every message exchanged, in order.
    pub messages: Vec<Exchange>,
}

/// Verdict counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// PASS.
    pub pass: usize,
    /// FAIL.
    pub fail: usize,
    /// INCONCLUSIVE.
    pub inconclusive: usize,
    /// NOT APPLICABLE.
    pub not_applicable: usize,
}

/// A whole run: what was tested and every case's result.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The suite and its version.
    pub suite: String,
    /// Start (RFC 3339, UTC).
    pub started: String,
    /// Seconds the run took.
    pub duration_secs: f64,
    /// The SUT's SM-SR base URL.
    pub sut_smsr: Option<String>,
    /// The SUT's SM-DP base URL.
    pub sut_smdp: Option<String>,
    /// Features declared.
    pub features: Vec<Need>,
    /// The case selection.
    pub cases_pattern: Option<String>,
    /// XSD validation of the messages: what was done.
    pub xsd_validation: String,
    /// How the messages fared against the XSDs.
    pub xsd: XsdCounts,
    /// Verdict counts.
    pub summary: Summary,
    /// Per case, in run order.
    pub cases: Vec<CaseResult>,
}

impl RunReport {
    /// True when no case failed or was inconclusive.
    pub fn all_passed(&self) -> bool {
        self.summary.fail == 0 && self.summary.inconclusive == 0
    }
}

/// Runs the selected cases against the SUT (inside a tokio runtime / actix system: the callback receiver is an
/// actix server).
pub async fn run(cfg: &RunConfig) -> Result<RunReport, SuiteError> {
    let started = time::OffsetDateTime::now_utc();
    let t0 = Instant::now();
    let mut ctx = Ctx::new(cfg)?;
    if let Some(setup) = &cfg.smsc {
        ctx.start_smsc(setup).await?;
    }
    let validator = xsd::Validator::new(&cfg.xsd).await;
    if !validator.is_on() {
        tracing::warn!("conformance run: {}", validator.describe());
    }
    let mut results = Vec::new();
    for case in catalogue() {
        if let Some(p) = &cfg.cases
            && !matches(p, case.id)
        {
            continue;
        }
        let missing: Vec<&str> = case
            .needs
            .iter()
            .filter(|n| !ctx.offers(**n))
            .map(|n| n.as_str())
            .collect();
        ctx.begin_case();
        let t = Instant::now();
        let (verdict, reason) = if missing.is_empty() {
            match (case.run)(&ctx).await {
                Ok(note) => (Verdict::Pass, note),
                Err(Finding::Fail(why)) => (Verdict::Fail, why),
                Err(Finding::Inconclusive(why)) => (Verdict::Inconclusive, why),
            }
        } else {
            (
                Verdict::NotApplicable,
                format!("the SUT does not offer: {}", missing.join(", ")),
            )
        };
        let mut messages = ctx.end_case();
        validator.check(&mut messages).await;
        let (verdict, reason) = xsd_verdict(verdict, reason, &messages);
        if verdict == Verdict::Pass {
            ctx.passed(case.id);
        }
        tracing::info!(case = case.id, verdict = verdict.as_str(), %reason, "conformance case");
        results.push(CaseResult {
            id: case.id.into(),
            interface: case.interface.into(),
            section: case.section.into(),
            title: case.title.into(),
            preconditions: case.preconditions.into(),
            steps: case.steps.iter().map(|s| s.to_string()).collect(),
            expected: case.expected.into(),
            note: case.note.into(),
            verdict,
            reason,
            duration_ms: t.elapsed().as_millis() as u64,
            messages,
        });
    }
    ctx.stop().await;
    let mut summary = Summary::default();
    for r in &results {
        match r.verdict {
            Verdict::Pass => summary.pass += 1,
            Verdict::Fail => summary.fail += 1,
            Verdict::Inconclusive => summary.inconclusive += 1,
            Verdict::NotApplicable => summary.not_applicable += 1,
        }
    }
    Ok(RunReport {
        suite: format!("rsp conformance {}", env!("CARGO_PKG_VERSION")),
        started: started
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        duration_secs: t0.elapsed().as_secs_f64(),
        sut_smsr: cfg.smsr_url.clone(),
        sut_smdp: cfg.smdp_url.clone(),
        features: cfg.features.clone(),
        cases_pattern: cfg.cases.clone(),
        xsd_validation: validator.describe(),
        xsd: XsdCounts::of(results.iter().flat_map(|r| &r.messages)),
        summary,
        cases: results,
    })
}

/// The verdict once the case's messages are checked against the XSDs (SGP.02 §5.1: messages conform to the GSMA
/// schemas): an invalid message of the SUT fails the case; an invalid message of the suite that the case did not
/// make malformed on purpose makes it INCONCLUSIVE (the suite's defect, not the SUT's).
fn xsd_verdict(verdict: Verdict, reason: String, messages: &[Exchange]) -> (Verdict, String) {
    let blamed = |d: Direction| {
        messages
            .iter()
            .filter(|m| xsd::blame(m) == Some(d))
            .map(|m| format!("{} at +{} ms ({})", m.kind, m.at_ms, m.xsd))
            .collect::<Vec<_>>()
    };
    let sut = blamed(Direction::FromSut);
    if !sut.is_empty() {
        let why = format!(
            "the SUT's message does not validate against the GSMA XSDs: {}",
            sut.join("; ")
        );
        return match verdict {
            Verdict::Pass | Verdict::Inconclusive => (Verdict::Fail, why),
            _ => (verdict, format!("{reason}; {why}")),
        };
    }
    let suite = blamed(Direction::ToSut);
    if !suite.is_empty() && matches!(verdict, Verdict::Pass | Verdict::Fail) {
        return (
            Verdict::Inconclusive,
            format!(
                "the suite's own message does not validate against the GSMA XSDs (a defect of the suite): {} — \
                 the case would have said: {} {reason}",
                suite.join("; "),
                verdict.as_str()
            ),
        );
    }
    (verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_select_cases() {
        assert!(matches("ES4-*", "ES4-GetEIS-01"));
        assert!(matches("es1-registereis-02", "ES1-RegisterEIS-02"));
        assert!(matches("*-GetEIS-*,ES1-*", "ES4-GetEIS-03"));
        assert!(!matches("ES4-*", "ES1-RegisterEIS-01"));
        assert!(matches("*", "anything"));
        assert!(!matches("ES4-GetEIS", "ES4-GetEIS-01"));
    }

    #[test]
    fn an_invalid_sut_message_fails_the_case_and_an_invalid_suite_message_makes_it_inconclusive() {
        let msg = |direction, xsd, on_purpose| Exchange {
            xsd,
            malformed_on_purpose: on_purpose,
            ..ctx::exchange(
                3,
                direction,
                "MNO 1",
                "HTTP answer",
                "https://h",
                None,
                "<x/>".into(),
            )
        };
        let invalid = || XsdResult::Invalid {
            why: "body rps:X: bad".into(),
        };
        let pass = |messages: &[Exchange]| xsd_verdict(Verdict::Pass, "ok".into(), messages);
        let all_valid = [
            msg(Direction::ToSut, XsdResult::Valid, false),
            msg(Direction::FromSut, XsdResult::Valid, false),
        ];
        assert_eq!(pass(&all_valid), (Verdict::Pass, "ok".to_string()));
        let on_purpose = [
            msg(Direction::ToSut, invalid(), true),
            msg(Direction::FromSut, XsdResult::Valid, false),
        ];
        assert_eq!(pass(&on_purpose), (Verdict::Pass, "ok".to_string()));
        let (v, why) = pass(&[
            msg(Direction::ToSut, XsdResult::Valid, false),
            msg(Direction::FromSut, invalid(), false),
        ]);
        assert_eq!(v, Verdict::Fail);
        assert!(
            why.contains("the SUT's message does not validate") && why.contains("body rps:X: bad"),
            "{why}"
        );
        let (v, why) = pass(&[msg(Direction::ToSut, invalid(), false)]);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(why.contains("a defect of the suite"), "{why}");
        let not_validated = [msg(
            Direction::FromSut,
            XsdResult::NotValidated {
                why: "no xmllint".into(),
            },
            false,
        )];
        assert_eq!(pass(&not_validated), (Verdict::Pass, "ok".to_string()));
    }

    #[test]
    fn catalogue_ids_are_unique_and_well_formed() {
        let all = catalogue();
        let mut ids: Vec<&str> = all.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "duplicate case ids");
        for c in all {
            assert!(c.id.starts_with(c.interface), "{}", c.id);
            assert!(c.section.starts_with('§'), "{}", c.id);
            assert!(!c.steps.is_empty() && !c.expected.is_empty(), "{}", c.id);
            assert!(
                c.needs.contains(&Need::Smsr) || c.needs.contains(&Need::Smdp),
                "{}",
                c.id
            );
        }
    }
}
