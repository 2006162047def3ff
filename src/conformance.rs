//! `rsp conformance`: the CLI of the conformance suite (conformance::suite): the catalogue, a peers directory
//! with what the SUT's operator must register, and runs against an SM-SR and/or an SM-DP with reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certs::world::World;
use conformance::suite::smsc::SmscSetup;
use conformance::suite::{self, Need, RunConfig};

/// The SUT's servers of `--sut smsr=https://…[,smdp=https://…]`.
pub fn parse_sut(s: &str) -> Result<(Option<String>, Option<String>), String> {
    let (mut smsr, mut smdp) = (None, None);
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (role, url) = part
            .split_once('=')
            .ok_or_else(|| format!("--sut {part}: expected ROLE=https://HOST:PORT"))?;
        if !url.starts_with("https://") {
            return Err(format!("--sut {part}: the URL must be https"));
        }
        match role {
            "smsr" => smsr = Some(url.to_string()),
            "smdp" => smdp = Some(url.to_string()),
            r => return Err(format!("--sut: unknown role {r} (smsr, smdp)")),
        }
    }
    if smsr.is_none() && smdp.is_none() {
        return Err("--sut names no server".into());
    }
    Ok((smsr, smdp))
}

/// A feature of `--feature` (applicability of the cases); `smsc` comes with `--smsc-listen` only.
pub fn parse_feature(s: &str) -> Result<Need, String> {
    match s {
        "es5" => Ok(Need::Es5),
        "smsc" => {
            Err("feature smsc: give --smsc-listen HOST:PORT (the suite then plays the SMSC)".into())
        }
        "play-smsr" => Err(
            "feature play-smsr: give --play-smsr HOST:PORT (the suite then plays the SM-SR)".into(),
        ),
        "https" => Err(
            "feature https: give --https-euicc N with --smsc-listen (the SUT reaches eUICC N over HTTPS)".into(),
        ),
        f => Err(format!("unknown feature {f} (es5)")),
    }
}

/// `rsp conformance list`: the catalogue, one case a line (or JSON).
pub fn list(json: bool) -> Result<(), String> {
    let all = suite::catalogue();
    if json {
        let v: Vec<serde_json::Value> = all
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id, "interface": c.interface, "section": c.section, "title": c.title,
                    "needs": c.needs.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
                    "preconditions": c.preconditions, "steps": c.steps, "expected": c.expected, "note": c.note,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    for c in &all {
        let needs: Vec<&str> = c.needs.iter().map(|n| n.as_str()).collect();
        println!(
            "{:<32} {:<18} [{}] {}\n{:<32} expected: {}",
            c.id,
            c.section,
            needs.join(","),
            c.title,
            "",
            c.expected
        );
    }
    let mut per: Vec<(&str, usize)> = Vec::new();
    for c in &all {
        match per.iter_mut().find(|(i, _)| *i == c.interface) {
            Some((_, n)) => *n += 1,
            None => per.push((c.interface, 1)),
        }
    }
    let per: Vec<String> = per.iter().map(|(i, n)| format!("{i} {n}")).collect();
    println!("{} cases: {}", all.len(), per.join(", "));
    Ok(())
}

/// `rsp conformance init`: a peers directory (a new world, or the one already there) and what the SUT's operator
/// must register for the suite's peers.
pub fn init(
    peers: &Path,
    euiccs: usize,
    callback: &str,
    smsc: Option<&str>,
    play_smsr: Option<&str>,
) -> Result<(), String> {
    let world = if peers.join("world.json").exists() {
        World::load(peers).map_err(|e| format!("{}: {e}", peers.display()))?
    } else {
        crate::setup::init_world(peers, euiccs.max(3), None).map_err(|e| e.to_string())?
    };
    print!("{}", registration_text(&world, callback));
    if let Some(smsc) = smsc {
        print!("{}", smsc_text(smsc));
    }
    if let Some(listen) = play_smsr {
        print!("{}", play_smsr_text(&world, listen));
        print!("{}", play_smsr2_text(&world, listen));
    }
    Ok(())
}

/// What the SUT's operator registers for the peers of `world`, with the MNOs' callback receiver at `callback`
/// (`host:port`).
pub fn registration_text(world: &World, callback: &str) -> String {
    let f = |rel: &str| world.dir.join(rel).display().to_string();
    let m = &world.manifest;
    let mut s = format!(
        "Peers directory {}\n\nThe SUT's operator registers:\n\
         - TLS: trust {} for the peers' client certificates; the SUT's server certificate must be issued by\n  \
         it too (the suite trusts no other CA yet).\n\
         - EUM {} ({}): TLS client certificate {}, EUM certificate {} (verifies EIS signatures).\n",
        world.dir.display(),
        f(&m.tls_ca.cert),
        m.eum.oid,
        m.eum.name,
        f(&m.eum_tls_client.cert),
        f(&m.eum_files.cert),
    );
    for (i, mno) in m.mnos.iter().enumerate() {
        s.push_str(&format!(
            "- MNO {} {} ({}): TLS client certificate {}, ES4 endpoint https://{callback}/es4\n  \
             (rsp: rsp entity set-endpoint --oid {} --interface ES4 --url https://{callback}/es4)\n",
            i + 1,
            mno.entity.oid,
            mno.entity.name,
            f(&mno.tls_client.cert),
            mno.entity.oid,
        ));
        s.push_str(&format!(
            "  and at an SM-DP its ES2 endpoint https://{callback}/es2\n  \
             (rsp: rsp entity set-endpoint --oid {} --interface ES2 --url https://{callback}/es2)\n",
            mno.entity.oid,
        ));
    }
    s.push_str(&smdp_registration_text(world));
    s.push_str(&format!(
        "- SM-DP {} ({}): TLS client certificate {}, ES3 endpoint https://{callback}/es3 (ES3 callbacks and\n  \
         notifications; rsp: rsp entity set-endpoint --oid {} --interface ES3 --url https://{callback}/es3)\n",
        m.sm_dp.oid,
        m.sm_dp.name,
        f(&m.sm_dp_tls_client.cert),
        m.sm_dp.oid,
    ));
    s.push_str(&format!(
        "- The eUICCs, EIS documents under {}:\n",
        world.dir.join("eis").display()
    ));
    for (i, e) in world.euiccs.iter().enumerate() {
        let what = if i + 1 == world.euiccs.len() {
            "leave UNREGISTERED (ES1-RegisterEIS-01/02 register it)"
        } else if i == 1 {
            "register (its issuance profiles as the EIS says); reachable over ES5 for --feature es5;\n    \
             the ES2 cases use it: a profile of MNO 1 and one of MNO 2 on it downloaded by the SM-DP (Smdp-id)"
        } else {
            "register (its issuance profiles as the EIS says); reachable over ES5 for --feature es5"
        };
        s.push_str(&format!("  eUICC {} {}: {what}\n", i + 1, e.eid));
        if i == 0 {
            s.push_str(&format!(
                "    with --feature es5, the ES3 cases download a profile onto it with IMSI {} (ES3-Download-01) and\n    \
                 enable it: the network must attach that IMSI as MSISDN {} (the suite's SMSC does)\n",
                suite::es3::DOWNLOAD_IMSI,
                suite::es3::DOWNLOAD_MSISDN,
            ));
        }
    }
    s.push_str(&format!(
        "\nThen: rsp conformance run --sut smsr=https://HOST:PORT[,smdp=https://HOST:PORT] --peers {} \
         --callback-listen {callback} [--feature es5 | --smsc-listen HOST:PORT] [--play-smsr HOST:PORT] \
         --report DIR\n",
        world.dir.display()
    ));
    s
}

/// What an SM-DP under test registers besides the MNOs (SGP.02 §5.3, §5.4): the peers' SM-SR it reaches the
/// eUICCs through, and MNO 1's profile type for the ES2 DownloadProfile cases (conformance::suite::es2).
fn smdp_registration_text(world: &World) -> String {
    let f = |rel: &str| world.dir.join(rel).display().to_string();
    let m = &world.manifest;
    let mut s = format!(
        "- At an SM-DP, the SM-SR {} ({}): TLS client certificate {}, and as its ES3 endpoint the ES3 service of\n  \
         the SM-SR that holds the peers' eUICCs under that identity (the SUT's SM-SR, or `rsp serve --simulate` on\n  \
         the peers).\n",
        m.sm_sr.oid,
        m.sm_sr.name,
        f(&m.sm_sr_tls_client.cert),
    );
    if let Some(mno) = m.mnos.first() {
        let memory = conformance::issuance::profiles_at_issuance(world, 1)
            .map(|p| conformance::issuance::remaining_memory_at_issuance(&p) / 4)
            .unwrap_or(0);
        s.push_str(&format!(
            "- At an SM-DP, MNO 1's profile type {ty} with at least {n} records in stock (the ES2 cases download\n  \
             to eUICC 2); (rsp: rsp profile-type add --mno {oid} --name {ty} --sample-template --required-memory \
             {memory};\n  rsp order generate --rows {n} -o {ty}.csv; rsp order import --mno {oid} --profile-type \
             {ty} {ty}.csv)\n",
            ty = suite::es2::PROFILE_TYPE,
            n = suite::es2::STOCK_NEEDED,
            oid = mno.entity.oid,
        ));
    }
    s
}

/// What the SUT's operator configures for the ES5 cases, the suite's SMSC at `listen` (`host:port`;
/// SGP.02 §5.6, wire-profile §2).
pub fn smsc_text(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "2775"));
    format!(
        "\nFor the ES5 cases (--smsc-listen {listen}): the suite plays the SMSC with the peers' eUICCs behind it.\n\
         - Point the SM-SR's SMPP account at it (rsp: es5.smpp.enabled = true, es5.smpp.host = \"{host}\",\n  \
         es5.smpp.port = {port}; RSP_ES5__SMPP__HOST / RSP_ES5__SMPP__PORT), with the system_id and password\n  \
         given to the run as --smsc-system-id / --smsc-password (default smsr / smsr, rsp's defaults).\n\
         - Register the eUICCs freshly for the run: the simulated eUICCs start from their issuance state\n  \
         (profiles, SCP80 counters as issued) in every run.\n"
    )
}

/// What an SM-DP's operator registers when the suite plays the peers' SM-SR at `listen` (`host:port`; SGP.02
/// §5.4, conformance::suite::smsr_peer).
pub fn play_smsr_text(world: &World, listen: &str) -> String {
    let m = &world.manifest;
    format!(
        "\nFor an SM-DP under test with --play-smsr {listen}: the suite plays the peers' SM-SR {oid} on ES3, with the\n\
         peers' eUICCs simulated behind it (at their issuance state in every run; eUICC 2's profiles 2 and 3\n\
         count as downloaded by the SM-DP). Register it as that SM-SR's ES3 endpoint instead of a real SM-SR:\n\
         - rsp: rsp entity set-endpoint --oid {oid} --interface ES3 --url https://{listen}/esim-messaging/3/ES3/ES3SmSrService\n\
         - its TLS server certificate is {cert} (the peers' TLS CA); the SM-DP's TLS client certificate must be\n  \
         issued by that CA too, and its wsa:From must carry its OID (EntityId).\n",
        oid = m.sm_sr.oid,
        cert = world.dir.join(&m.sm_sr_tls_server.cert).display(),
    )
}

/// What an SM-SR's operator registers when the suite plays the peers' SM-SR 2 on ES7 at `listen` (`host:port`;
/// SGP.02 §3.8, §5.7, conformance::suite::smsr_es7): the other SM-SR of the SM-SR change cases.
pub fn play_smsr2_text(world: &World, listen: &str) -> String {
    let Some(sr) = world.smsr(2) else {
        return format!(
            "\nFor an SM-SR under test with --play-smsr {listen}: this peers directory has no SM-SR 2 (an older \
             world); the ES7 SM-SR change cases need one (a new peers directory).\n"
        );
    };
    let f = |rel: &str| world.dir.join(rel).display().to_string();
    let url = format!(
        "https://{listen}{}",
        es_interfaces::wsdl::Service::Es7SmSr.default_path()
    );
    format!(
        "\nFor an SM-SR under test with --play-smsr {listen}: the suite plays the peers' SM-SR 2 {oid} ({name}) on ES7\n\
         (SM-SR change, SGP.02 §3.8; the hand-over cases also need --smsc-listen: the suite's SMSC holds the cards).\n\
         Register it at the SM-SR as an entity of role SM-SR with its ES7 endpoint:\n\
         - rsp: rsp entity add --server smsr --oid {oid} --role sm-sr --name \"{name}\" --endpoint ES7={url} \\\n    \
         --tls-cert {cert}\n\
         - (already registered, e.g. by `rsp serve` from a world with two SM-SRs: rsp entity set-endpoint --oid {oid} \
         --interface ES7 --url {url})\n\
         - its TLS server certificate is {server} (the peers' TLS CA); its CERT.SR.ECDSA is {gp}.\n\
         - The SM-SR needs its own CERT.SR.ECDSA and SK.SR.ECDSA (rsp: smsr.sr_ecdsa_certificate / sr_ecdsa_key, \
         default the\n  world's SM-SR 1) and its MSISDN (es5.smsr_msisdn) to take an eUICC back.\n",
        oid = sr.entity.oid,
        name = sr.entity.name,
        cert = f(&sr.tls_client_files.cert),
        server = f(&sr.tls_server_files.cert),
        gp = f(&sr.gp_files.cert),
    )
}

/// The options of `rsp conformance run`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// `--sut`.
    pub sut: String,
    /// `--peers`.
    pub peers: PathBuf,
    /// `--cases`.
    pub cases: Option<String>,
    /// `--report`.
    pub report: Option<PathBuf>,
    /// `--callback-listen`.
    pub callback_listen: String,
    /// `--feature`.
    pub features: Vec<String>,
    /// `--callback-timeout-secs`.
    pub callback_timeout_secs: u64,
    /// `--xsd` (default `RSP_GSMA_XSD_DIR`).
    pub xsd: Option<PathBuf>,
    /// `--xmllint` (default `RSP_XMLLINT`, else `xmllint`).
    pub xmllint: PathBuf,
    /// `--smsc-listen`.
    pub smsc_listen: Option<String>,
    /// `--smsc-system-id`.
    pub smsc_system_id: String,
    /// `--smsc-password`.
    pub smsc_password: String,
    /// `--play-smsr`.
    pub play_smsr: Option<String>,
    /// `--https-euicc` (from 1).
    pub https_euicc: Option<usize>,
}

/// `rsp conformance run`: runs the suite, prints one line per case, writes the reports; fails when a case
/// failed or was inconclusive.
pub fn run(args: RunArgs) -> Result<(), String> {
    let (smsr_url, smdp_url) = parse_sut(&args.sut)?;
    let features = args
        .features
        .iter()
        .map(|f| parse_feature(f))
        .collect::<Result<Vec<_>, _>>()?;
    let https_euicc = match args.https_euicc {
        None => None,
        Some(0) => return Err("--https-euicc counts the peers' eUICCs from 1".into()),
        Some(_) if args.smsc_listen.is_none() => {
            return Err(
                "--https-euicc needs --smsc-listen: the push SMS that open the sessions go through the suite's SMSC"
                    .into(),
            );
        }
        Some(n) => Some(n - 1),
    };
    let cfg = RunConfig {
        peers: args.peers,
        smsr_url,
        smdp_url,
        callback_listen: args.callback_listen,
        features,
        cases: args.cases,
        callback_timeout: Duration::from_secs(args.callback_timeout_secs),
        xsd: suite::XsdConfig {
            dir: args.xsd,
            xmllint: args.xmllint,
        },
        smsc: args.smsc_listen.map(|listen| SmscSetup {
            listen,
            system_id: args.smsc_system_id,
            password: args.smsc_password,
        }),
        play_smsr: args.play_smsr,
        https_euicc,
    };
    let system = actix_web::rt::System::new();
    let report = system
        .block_on(suite::run(&cfg))
        .map_err(|e| e.to_string())?;
    for c in &report.cases {
        println!("{:<14} {:<32} {}", c.verdict.as_str(), c.id, c.reason);
    }
    let s = &report.summary;
    println!(
        "PASS {} · FAIL {} · INCONCLUSIVE {} · NOT APPLICABLE {}",
        s.pass, s.fail, s.inconclusive, s.not_applicable
    );
    let x = &report.xsd;
    println!(
        "XSD: {} valid · {} invalid · {} invalid on purpose · {} not validated — {}",
        x.valid, x.invalid, x.invalid_on_purpose, x.not_validated, report.xsd_validation
    );
    if let Some(dir) = &args.report {
        for p in suite::report::write(&report, dir).map_err(|e| e.to_string())? {
            println!("report: {}", p.display());
        }
    }
    if report.all_passed() {
        Ok(())
    } else {
        Err(format!(
            "{} case(s) failed, {} inconclusive",
            s.fail, s.inconclusive
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sut_and_features_parse() {
        assert_eq!(
            parse_sut("smsr=https://a:1,smdp=https://b:2"),
            Ok((Some("https://a:1".into()), Some("https://b:2".into())))
        );
        assert_eq!(
            parse_sut("smsr=https://a:1"),
            Ok((Some("https://a:1".into()), None))
        );
        assert!(parse_sut("smsr=http://a:1").is_err());
        assert!(parse_sut("es9=https://a:1").is_err());
        assert!(parse_sut("https://a:1").is_err());
        assert!(parse_sut("").is_err());
        assert_eq!(parse_feature("es5"), Ok(Need::Es5));
        assert!(parse_feature("https").is_err());
        assert!(parse_feature("smsc").is_err_and(|e| e.contains("--smsc-listen")));
        let text = smsc_text("192.0.2.7:2776");
        assert!(text.contains("es5.smpp.host = \"192.0.2.7\""), "{text}");
        assert!(text.contains("es5.smpp.port = 2776"), "{text}");
    }
}
