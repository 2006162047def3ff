//! `rsp mno`: the MNO's command-line client (SGP.02 §5.3 ES2 at the SM-DP, §5.5 ES4 at the SM-SR). It makes one
//! function call with the MNO's TLS client certificate, waits for the asynchronous result on its own ReplyTo
//! listener (HTTPS, mutual TLS: the endpoint `rsp serve` registers for the MNO) and prints it; the exit code is
//! non-zero when the function ended FAILED or EXPIRED.

use std::path::{Path, PathBuf};
use std::time::Duration;

use es_interfaces::messages::codec::XmlContent;
use es_interfaces::messages::eis::Eis;
use es_interfaces::messages::{es2, es4};
use es_interfaces::soap::Envelope;
use es_interfaces::status::{FunctionExecutionStatus, Status};
use es_interfaces::types::{Eid, Iccid, Oid};
use es_interfaces::wsdl::Service;
use es_runtime::client::SoapClient;
use es_runtime::mno::{
    CallOutcome, CallbackReceiver, OperatorClient, OperatorEndpoints, ReceiverConfig, base,
};

use crate::config::{Config, endpoint_url};

/// Which interface carries a function that both the SM-DP (ES2) and the SM-SR (ES4) offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Interface {
    /// ES2, at the SM-DP (which relays to the SM-SR over ES3).
    Es2,
    /// ES4, at the SM-SR directly.
    Es4,
}

impl Interface {
    fn name(self) -> &'static str {
        match self {
            Interface::Es2 => "ES2",
            Interface::Es4 => "ES4",
        }
    }
}

/// Options of every `rsp mno` command: who calls, where, and how the result comes back.
#[derive(Debug, Clone, clap::Args)]
pub struct CallOptions {
    /// The test world (`rsp pki init` / `rsp serve`): the MNO's certificates, the TLS CA, the SM-SR's OID
    /// (default: the configured PKI directory).
    #[arg(long)]
    pub pki: Option<PathBuf>,
    /// Which of the world's MNOs calls (1 or 2).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub mno: u16,
    /// The MNO's TLS client certificate (PEM) instead of the world's.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// The key of --cert (PKCS#8 PEM).
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// The CA(s) of the servers' TLS certificates, also admitted as the callers of the ReplyTo listener (PEM).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The MNO's OID (wsa:From) instead of the world's.
    #[arg(long)]
    pub mno_oid: Option<String>,
    /// Base URL of the SM-SR (default: the configured public URL, as `rsp serve` prints it).
    #[arg(long)]
    pub smsr_url: Option<String>,
    /// Base URL of the SM-DP (default: the configured public URL, as `rsp serve` prints it).
    #[arg(long)]
    pub smdp_url: Option<String>,
    /// FunctionCallIdentifier (default: a fresh UUID); repeat one to get the recorded result of that call.
    #[arg(long)]
    pub function_call_id: Option<String>,
    /// ValidityPeriod of the call in seconds.
    #[arg(long)]
    pub validity: Option<u64>,
    /// How long to wait for the asynchronous result, seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Address of the ReplyTo listener (default: the MNO's endpoint that `rsp serve` registers).
    #[arg(long)]
    pub listen: Option<String>,
    /// wsa:ReplyTo URL (default: https://<mno.public_host>:<listener port>/es2 or /es4). The servers call back
    /// only to the endpoint registered for the MNO, so a changed one must be registered too.
    #[arg(long)]
    pub reply_to: Option<String>,
    /// TLS server certificate of the ReplyTo listener (PEM; default: the world's MNO server certificate).
    #[arg(long, requires = "listen_key")]
    pub listen_cert: Option<PathBuf>,
    /// The key of --listen-cert (PEM).
    #[arg(long, requires = "listen_cert")]
    pub listen_key: Option<PathBuf>,
    /// Print the answer's SOAP envelope as received instead of a summary.
    #[arg(long)]
    pub xml: bool,
}

/// `rsp mno` commands.
#[derive(Debug, clap::Subcommand)]
pub enum MnoCommand {
    /// ES2.DownloadProfile at the SM-DP: download a profile (by ICCID or profile type) onto an eUICC.
    Download {
        /// The eUICC.
        #[arg(long)]
        eid: String,
        /// The SM-SR managing the eUICC (default: the world's SM-SR).
        #[arg(long)]
        smsr_id: Option<String>,
        /// The profile to download.
        #[arg(
            long,
            required_unless_present = "profile_type",
            conflicts_with = "profile_type"
        )]
        iccid: Option<String>,
        /// A profile type: the SM-DP takes a profile of this type from stock.
        #[arg(long)]
        profile_type: Option<String>,
        /// Enable the profile once installed.
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        options: CallOptions,
    },
    /// EnableProfile (ES4 at the SM-SR, or ES2 at the SM-DP).
    Enable(ProfileArgs),
    /// DisableProfile (ES4 at the SM-SR, or ES2 at the SM-DP).
    Disable(ProfileArgs),
    /// DeleteProfile (ES4 at the SM-SR, or ES2 at the SM-DP).
    Delete(ProfileArgs),
    /// GetEIS (ES4 at the SM-SR, or ES2 at the SM-DP): the eUICC's information, summarised (--xml: raw).
    GetEis {
        /// The eUICC.
        #[arg(long)]
        eid: String,
        /// The interface.
        #[arg(long, value_enum, default_value_t = Interface::Es4)]
        interface: Interface,
        /// The SM-SR managing the eUICC, for ES2 (default: the world's SM-SR).
        #[arg(long)]
        smsr_id: Option<String>,
        #[command(flatten)]
        options: CallOptions,
    },
    /// ES4.AuditEIS at the SM-SR: the SM-SR reads the eUICC's state over the air and answers with the EIS.
    Audit {
        /// The eUICC.
        #[arg(long)]
        eid: String,
        /// Profiles to audit (repeatable; none: all of the MNO's).
        #[arg(long)]
        iccid: Vec<String>,
        #[command(flatten)]
        options: CallOptions,
    },
}

/// The target of enable, disable and delete.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// The eUICC.
    #[arg(long)]
    pub eid: String,
    /// The profile.
    #[arg(long)]
    pub iccid: String,
    /// The interface.
    #[arg(long, value_enum, default_value_t = Interface::Es4)]
    pub interface: Interface,
    /// The SM-SR managing the eUICC, for ES2 (default: the world's SM-SR).
    #[arg(long)]
    pub smsr_id: Option<String>,
    #[command(flatten)]
    pub options: CallOptions,
}

/// What one command resolved to: the caller and where results come back.
struct Session {
    client: OperatorClient,
    index: usize,
    smsr_oid: Option<String>,
    tls_ca: PathBuf,
    listener_tls: Option<(PathBuf, PathBuf)>,
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| format!("--{what} {s}: {e}"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl Session {
    /// Resolves credentials and URLs from the options, the world's manifest and the configuration.
    fn open(config: &Config, o: &CallOptions) -> Result<Session, String> {
        let index = usize::from(o.mno.saturating_sub(1));
        let pki = o.pki.clone().unwrap_or_else(|| config.pki_path());
        let manifest_path = pki.join("world.json");
        let manifest: Option<certs::world::Manifest> = if manifest_path.exists() {
            let text = std::fs::read_to_string(&manifest_path)
                .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("{}: {e}", manifest_path.display()))?,
            )
        } else {
            None
        };
        let no_world = |what: &str| {
            format!(
                "{what}: no test world in {} (give --pki, or {what})",
                pki.display()
            )
        };
        let entry = match &manifest {
            Some(m) => Some(m.mnos.get(index).ok_or_else(|| {
                format!(
                    "the world in {} has {} MNO(s), not {}",
                    pki.display(),
                    m.mnos.len(),
                    o.mno
                )
            })?),
            None => None,
        };
        let world_file = |rel: &str| pki.join(rel);
        let (cert, key) = match (&o.cert, &o.key, entry) {
            (Some(c), Some(k), _) => (c.clone(), k.clone()),
            (_, _, Some(e)) => (
                world_file(&e.tls_client.cert),
                world_file(&e.tls_client.key),
            ),
            _ => return Err(no_world("--cert and --key")),
        };
        let tls_ca = match (&o.ca, &manifest) {
            (Some(ca), _) => ca.clone(),
            (None, Some(m)) => world_file(&m.tls_ca.cert),
            (None, None) => return Err(no_world("--ca")),
        };
        let (oid, name) = match (&o.mno_oid, entry) {
            (Some(oid), _) => (oid.clone(), None),
            (None, Some(e)) => (e.entity.oid.clone(), Some(e.entity.name.clone())),
            (None, None) => return Err(no_world("--mno-oid")),
        };
        let listener_tls = match (&o.listen_cert, &o.listen_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            _ => entry
                .and_then(|e| e.tls_server.as_ref())
                .map(|f| (world_file(&f.cert), world_file(&f.key))),
        };
        let client = SoapClient::new(
            &read(&cert)?,
            &read(&key)?,
            &read(&tls_ca)?,
            Duration::from_secs(60),
        )
        .map_err(|e| e.to_string())?;
        let smsr = o.smsr_url.as_deref().unwrap_or(&config.smsr.public_url);
        let smdp = o.smdp_url.as_deref().unwrap_or(&config.smdp.public_url);
        let url = |base: &str, service: Service| {
            format!("{}{}", base.trim_end_matches('/'), service.default_path())
        };
        Ok(Session {
            client: OperatorClient::new(
                client,
                &oid,
                name.as_deref(),
                OperatorEndpoints {
                    es4: url(smsr, Service::Es4SmSr),
                    es2: url(smdp, Service::Es2SmDp),
                    es3: url(smsr, Service::Es3SmSr),
                },
            ),
            index,
            smsr_oid: manifest.map(|m| m.sm_sr.oid),
            tls_ca,
            listener_tls,
        })
    }

    fn smsr_id(&self, given: Option<&str>) -> Result<Oid, String> {
        match given.or(self.smsr_oid.as_deref()) {
            Some(s) => parse("smsr-id", s),
            None => Err("--smsr-id: no test world to take the SM-SR's OID from".into()),
        }
    }

    /// Starts the ReplyTo listener for results of `interface` and sets the client's `wsa:ReplyTo`.
    fn listen(
        &mut self,
        config: &Config,
        o: &CallOptions,
        interface: Interface,
    ) -> Result<CallbackReceiver, String> {
        let (tls_cert, tls_key) = self.listener_tls.clone().ok_or(
            "no TLS server certificate for the ReplyTo listener: give --listen-cert and --listen-key \
             (worlds made before `rsp mno` existed have none; `rsp pki init` makes one per MNO)",
        )?;
        let listen = o
            .listen
            .clone()
            .unwrap_or_else(|| config.mno.listen(self.index));
        let receiver = CallbackReceiver::start(&ReceiverConfig {
            listen: listen.clone(),
            tls_cert,
            tls_key,
            client_ca: self.tls_ca.clone(),
            keep: true,
        })
        .map_err(|e| format!("ReplyTo listener on {listen}: {e}"))?;
        let reply_to = o.reply_to.clone().unwrap_or_else(|| {
            endpoint_url(&config.mno.public_host, receiver.port(), interface.name())
        });
        self.client.set_reply_to(Some(reply_to));
        Ok(receiver)
    }
}

/// A function call: its display name, whether its result may come asynchronously, and how to send it.
struct Call {
    function: String,
    asynchronous: bool,
    interface: Interface,
}

/// Runs an `rsp mno` command; Err (non-zero exit) when the function ended FAILED or EXPIRED, or no result came.
pub fn run(config: &Config, command: MnoCommand) -> Result<(), String> {
    let system = actix_web::rt::System::new();
    system.block_on(run_async(config, command))
}

fn options(command: &MnoCommand) -> &CallOptions {
    match command {
        MnoCommand::Download { options, .. }
        | MnoCommand::GetEis { options, .. }
        | MnoCommand::Audit { options, .. } => options,
        MnoCommand::Enable(p) | MnoCommand::Disable(p) | MnoCommand::Delete(p) => &p.options,
    }
}

fn iccid(s: &str) -> Result<Iccid, String> {
    parse("iccid", s)
}

async fn run_async(config: &Config, command: MnoCommand) -> Result<(), String> {
    let o = options(&command).clone();
    let mut session = Session::open(config, &o)?;
    let fci = o
        .function_call_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let b = base(&fci, o.validity);
    let (call, interface) = match &command {
        MnoCommand::Download { .. } => ("DownloadProfile", Interface::Es2),
        MnoCommand::Enable(p) => ("EnableProfile", p.interface),
        MnoCommand::Disable(p) => ("DisableProfile", p.interface),
        MnoCommand::Delete(p) => ("DeleteProfile", p.interface),
        MnoCommand::GetEis { interface, .. } => ("GetEIS", *interface),
        MnoCommand::Audit { .. } => ("AuditEIS", Interface::Es4),
    };
    let call = Call {
        function: format!("{}.{call}", interface.name()),
        asynchronous: call != "GetEIS",
        interface,
    };
    let receiver = if call.asynchronous {
        Some(session.listen(config, &o, call.interface)?)
    } else {
        None
    };
    let c = &session.client;
    let sent = match command {
        MnoCommand::Download {
            eid,
            smsr_id,
            iccid: i,
            profile_type,
            enable,
            ..
        } => {
            c.es2(&es2::DownloadProfileRequest {
                base: b,
                eid: parse::<Eid>("eid", &eid)?,
                smsr_id: session.smsr_id(smsr_id.as_deref())?,
                profile_type,
                iccid: i.as_deref().map(iccid).transpose()?,
                enable_profile: enable,
            })
            .await
        }
        MnoCommand::Enable(p) => {
            let (eid, i) = (parse::<Eid>("eid", &p.eid)?, iccid(&p.iccid)?);
            match p.interface {
                Interface::Es4 => {
                    c.es4(&es4::EnableProfileRequest {
                        base: b,
                        eid,
                        iccid: i,
                    })
                    .await
                }
                Interface::Es2 => {
                    c.es2(&es2::EnableProfileRequest {
                        base: b,
                        eid,
                        smsr_id: session.smsr_id(p.smsr_id.as_deref())?,
                        iccid: i,
                    })
                    .await
                }
            }
        }
        MnoCommand::Disable(p) => {
            let (eid, i) = (parse::<Eid>("eid", &p.eid)?, iccid(&p.iccid)?);
            match p.interface {
                Interface::Es4 => {
                    c.es4(&es4::DisableProfileRequest {
                        base: b,
                        eid,
                        iccid: i,
                    })
                    .await
                }
                Interface::Es2 => {
                    c.es2(&es2::DisableProfileRequest {
                        base: b,
                        eid,
                        smsr_id: session.smsr_id(p.smsr_id.as_deref())?,
                        iccid: i,
                    })
                    .await
                }
            }
        }
        MnoCommand::Delete(p) => {
            let (eid, i) = (parse::<Eid>("eid", &p.eid)?, iccid(&p.iccid)?);
            match p.interface {
                Interface::Es4 => {
                    c.es4(&es4::DeleteProfileRequest {
                        base: b,
                        eid,
                        iccid: i,
                    })
                    .await
                }
                Interface::Es2 => {
                    c.es2(&es2::DeleteProfileRequest {
                        base: b,
                        eid,
                        iccid: i,
                        smsr_id: session.smsr_id(p.smsr_id.as_deref())?,
                    })
                    .await
                }
            }
        }
        MnoCommand::GetEis {
            eid,
            interface,
            smsr_id,
            ..
        } => {
            let eid = parse::<Eid>("eid", &eid)?;
            match interface {
                Interface::Es4 => c.es4(&es4::GetEisRequest { base: b, eid }).await,
                Interface::Es2 => {
                    c.es2(&es2::GetEisRequest {
                        base: b,
                        eid,
                        smsr_id: session.smsr_id(smsr_id.as_deref())?,
                    })
                    .await
                }
            }
        }
        MnoCommand::Audit { eid, iccid: i, .. } => {
            c.es4(&es4::AuditEisRequest {
                base: b,
                eid: parse::<Eid>("eid", &eid)?,
                iccids: i.iter().map(|s| iccid(s)).collect::<Result<_, _>>()?,
            })
            .await
        }
    };
    let outcome = sent.map_err(|e| format!("{}: {e}", call.function))?;
    let answer = result(&call, &fci, &outcome, receiver.as_ref(), o.timeout).await;
    if let Some(r) = receiver {
        r.stop().await;
    }
    let envelope = answer?;
    report(&call, &fci, &envelope, o.xml)
}

/// The envelope holding the function's result: the synchronous answer, or the callback relating to the call.
async fn result(
    call: &Call,
    fci: &str,
    outcome: &CallOutcome,
    receiver: Option<&CallbackReceiver>,
    timeout: u64,
) -> Result<String, String> {
    match (outcome.http_status, receiver) {
        (202, Some(r)) => r
            .wait_for_callback(&outcome.message_id, Duration::from_secs(timeout))
            .await
            .map(|m| m.envelope)
            .ok_or_else(|| {
                format!(
                    "{}: accepted, but no result arrived within {timeout} s (FunctionCallIdentifier {fci}: \
                     repeat the call with --function-call-id {fci} to get the recorded result)",
                    call.function
                )
            }),
        (202, None) => Err(format!(
            "{}: accepted without a result (HTTP 202)",
            call.function
        )),
        (200, _) => Ok(outcome.envelope.clone()),
        (status, _) => {
            let fault = Envelope::parse(outcome.envelope.as_bytes())
                .ok()
                .and_then(|e| e.fault());
            match fault {
                Some(f) => {
                    let detail = f
                        .status
                        .as_ref()
                        .map(|s| format!(" ({})", status_line(s)))
                        .unwrap_or_default();
                    Err(format!(
                        "{}: HTTP {status}, SOAP Fault {}: {}{detail}",
                        call.function, f.code_text, f.reason
                    ))
                }
                None => Err(format!(
                    "{}: HTTP {status}: {}",
                    call.function,
                    outcome.envelope.trim()
                )),
            }
        }
    }
}

fn status_line(s: &FunctionExecutionStatus) -> String {
    let mut line = s.status.as_str().to_string();
    if let Some(d) = &s.status_code_data {
        line.push_str(&format!(" {}/{}", d.subject.code(), d.reason.code()));
    }
    line
}

/// Prints the result and maps its status to the exit: FAILED and EXPIRED are errors.
fn report(call: &Call, fci: &str, envelope: &str, xml: bool) -> Result<(), String> {
    let env = Envelope::parse(envelope.as_bytes())
        .map_err(|e| format!("{}: the answer is not SOAP: {e}", call.function))?;
    let body = env.body();
    if let Some(f) = env.fault() {
        return Err(format!(
            "{}: SOAP Fault {}: {}",
            call.function, f.code_text, f.reason
        ));
    }
    let status = body
        .child_elements()
        .find(|c| c.local_name() == "FunctionExecutionStatus")
        .and_then(|el| FunctionExecutionStatus::decode_element(el, "FunctionExecutionStatus").ok())
        .ok_or_else(|| {
            format!(
                "{}: {} carries no FunctionExecutionStatus",
                call.function,
                body.local_name()
            )
        })?;
    if xml {
        println!("{envelope}");
    } else {
        println!("function: {}", call.function);
        println!("function call identifier: {fci}");
        println!("status: {}", status.status);
        if let Some(d) = &status.status_code_data {
            let labelled = |code: &str, label: Option<&str>| match label {
                Some(l) => format!("{code} ({l})"),
                None => code.to_string(),
            };
            println!("subject: {}", labelled(d.subject.code(), d.subject.label()));
            println!("reason: {}", labelled(d.reason.code(), d.reason.label()));
            if let Some(id) = &d.subject_identifier {
                println!("subject identifier: {id}");
            }
            if let Some(m) = &d.message {
                println!("message: {m}");
            }
        }
        for el in body.child_elements() {
            match el.local_name() {
                "FunctionExecutionStatus" => {}
                "Eis" => match Eis::decode_element(el, "Eis") {
                    Ok(eis) => print_eis(&eis),
                    Err(e) => println!("Eis: not readable ({e}); --xml prints it"),
                },
                name => println!("{name}: {}", el.text().trim()),
            }
        }
    }
    match status.status {
        Status::ExecutedSuccess | Status::ExecutedWithWarning => Ok(()),
        Status::Failed | Status::Expired => {
            Err(format!("{} ended {}", call.function, status_line(&status)))
        }
    }
}

/// A readable summary of an EIS (SGP.02 §5.1.1.3): the eUICC, its memory and its profiles.
fn print_eis(eis: &Eis) {
    let info = &eis.eum_signed_info;
    println!("eUICC: {}", info.eid);
    println!("  EUM: {}", info.eum_id);
    println!(
        "  platform: {} {}",
        info.platform_type, info.platform_version
    );
    println!("  SM-SR: {}", eis.smsr_id);
    println!(
        "  memory: {} bytes remaining, {} bytes available for profiles",
        eis.remaining_memory, eis.available_memory_for_profiles
    );
    if let Some(d) = &eis.last_audit_date {
        println!("  last audit: {d}");
    }
    println!("  profiles: {}", eis.profile_info.len());
    println!(
        "    {:<20} {:<9} {:<24} {:<8} {:<24} {:<16} {:<15}",
        "ICCID", "STATE", "MNO", "FALLBACK", "TYPE", "IMSI", "MSISDN"
    );
    for p in &eis.profile_info {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        println!(
            "    {:<20} {:<9} {:<24} {:<8} {:<24} {:<16} {:<15}",
            p.iccid.to_string(),
            p.state.as_str(),
            p.mno_id.to_string(),
            if p.fallback_attribute { "yes" } else { "no" },
            opt(p.profile_type.as_ref().map(|t| t.to_string())),
            opt(p.subscription_address.imsi.as_ref().map(|v| v.to_string())),
            opt(p
                .subscription_address
                .msisdn
                .as_ref()
                .map(|v| v.to_string())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use es_interfaces::messages::common::BaseResponse;
    use es_interfaces::soap::{OutgoingHeaders, SoapVersion, envelope_for};
    use es_interfaces::status::{Reason, StatusCodeData};

    fn call() -> Call {
        Call {
            function: "ES4.EnableProfile".into(),
            asynchronous: true,
            interface: Interface::Es4,
        }
    }

    fn callback(status: FunctionExecutionStatus) -> String {
        let headers = OutgoingHeaders {
            to: "https://localhost:8601/es4".into(),
            from: None,
            reply_to: None,
            message_id: "urn:uuid:2".into(),
            action: "callback".into(),
            relates_to: Some("urn:uuid:1".into()),
        };
        envelope_for(
            SoapVersion::V1_2,
            &headers,
            &es4::EnableProfileResponse {
                base: BaseResponse::with_status(status),
                euicc_response_data: None,
            },
        )
    }

    #[test]
    fn failed_and_expired_end_in_an_error_naming_the_code() {
        let failed = FunctionExecutionStatus::failed(StatusCodeData::new(
            "8.1.1".parse().unwrap(),
            Reason::UNKNOWN,
            Some("unknown EID".into()),
        ));
        let err = report(&call(), "f1", &callback(failed), false).unwrap_err();
        assert_eq!(err, "ES4.EnableProfile ended FAILED 8.1.1/3.9");
        let err = report(
            &call(),
            "f1",
            &callback(FunctionExecutionStatus::expired(None)),
            true,
        )
        .unwrap_err();
        assert!(err.starts_with("ES4.EnableProfile ended EXPIRED"), "{err}");
        report(
            &call(),
            "f1",
            &callback(FunctionExecutionStatus::success()),
            false,
        )
        .unwrap();
    }

    #[test]
    fn an_answer_without_a_status_is_an_error() {
        let err = report(&call(), "f1", "not xml", false).unwrap_err();
        assert!(err.contains("not SOAP"), "{err}");
        let no_status = callback(FunctionExecutionStatus::success())
            .replace("FunctionExecutionStatus", "SomethingElse");
        let err = report(&call(), "f1", &no_status, false).unwrap_err();
        assert!(err.contains("carries no FunctionExecutionStatus"), "{err}");
    }
}
