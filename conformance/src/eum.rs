//! The EUM of the test world (SGP.02 §3.9, §5.2): builds each test eUICC's EIS from the world's identities and
//! the issuance fixture, signs `EumSignedInfo` with the EUM key, encrypts the ISD-R key values under the EUM
//! transport key, and registers EISs at an SM-SR over ES1 with the EUM's TLS client certificate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certs::ecc::{Curve, PrivateKey};
use certs::gp_cert::GpCertificateBody;
use certs::world::{EuiccIdentity, World};
use certs::x509::{X509Certificate, X509Params, X509Profile};
use es_interfaces::messages::codec::{BodyElement, RPS_NS, RPS_PREFIX, XmlContent};
use es_interfaces::messages::common::{BaseRequest, Pol2, Pol2Rule, SubscriptionAddress};
use es_interfaces::messages::eis::{
    Eis, EuiccCapabilities, EumSignature, EumSignedInfo, GpCertificate, Key, KeyComponent, Keyset,
    KeysetItem, ProfileInfo, SecurityDomain,
};
use es_interfaces::messages::es1::{RegisterEisRequest, RegisterEisResponse};
use es_interfaces::soap::{self, OutgoingHeaders, QuerySeparator, SoapVersion, action};
use es_interfaces::types::{
    Aid, HexBinary, HexBinary16, KeyIndex, KeyTypeCoding, KeyValue, KeysetUsage, KeysetVersion,
    Oid, Pol2RuleAction, Pol2RuleQualification, ProfileState, SdRole, XsDateTime,
};
use es_interfaces::wire_profile;
use es_interfaces::xml::{Document, XmlWriter};
use es_runtime::client::{SoapClient, SoapVersion as ClientVersion};
use time::OffsetDateTime;

use crate::issuance::{self, IssuedProfile};

/// Errors of the EUM test client.
#[derive(Debug, thiserror::Error)]
pub enum EumError {
    /// The world lacks something the EIS needs, or a value does not fit its EIS type.
    #[error("cannot build the EIS: {0}")]
    Build(String),
    /// Signing failed.
    #[error("cannot sign the EIS: {0}")]
    Sign(#[from] certs::xmldsig::SignatureError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The SOAP call failed or its answer could not be read.
    #[error("ES1 call: {0}")]
    Call(String),
}

fn build_err(e: impl std::fmt::Display) -> EumError {
    EumError::Build(e.to_string())
}

/// Key type of AES keys in a GP key set (GP Card Spec §11.1.8).
const KEY_TYPE_AES: u8 = 0x88;
/// Key type of a TLS pre-shared key (GP Amendment B; notes §2.1).
const KEY_TYPE_PSK_TLS: u8 = 0x85;
/// Key set version of the ECASD certificate (GP: CERT.ECASD.ECKA under KVN 0x73) [P].
const ECASD_CERT_KVN: u8 = 0x73;

fn sd_id(n: u8) -> Result<HexBinary16, EumError> {
    HexBinary16::from_bytes(&[n]).map_err(build_err)
}

/// A key of the ISD-R, its value encrypted under the EUM transport key (SGP.02 EIS `KeyComponents/@value`).
fn transport_key(
    world: &World,
    index: u8,
    key_type: u8,
    clear: &[u8],
) -> Result<KeysetItem, EumError> {
    let encrypted = world
        .eum_transport_key
        .encrypt_key_value(clear)
        .map_err(build_err)?;
    let kcv = certs::kdf::kcv_aes(clear).map_err(build_err)?;
    Ok(KeysetItem::Key(Key {
        kcv: HexBinary::from_bytes(&kcv).map_err(build_err)?,
        index: KeyIndex::new(index).map_err(build_err)?,
        components: vec![KeyComponent {
            key_type: KeyTypeCoding(key_type),
            value: KeyValue::new(encrypted),
        }],
    }))
}

fn profile_info(p: &IssuedProfile) -> Result<ProfileInfo, EumError> {
    Ok(ProfileInfo {
        iccid: p.iccid.parse().map_err(build_err)?,
        isd_p_aid: Aid::from_bytes(&p.isd_p_aid).map_err(build_err)?,
        mno_id: p.mno_oid.parse().map_err(build_err)?,
        fallback_attribute: p.fallback,
        subscription_address: SubscriptionAddress {
            imsi: Some(p.imsi.parse().map_err(build_err)?),
            msisdn: Some(p.msisdn.parse().map_err(build_err)?),
        },
        state: match p.state {
            issuance::ProfileState::Enabled => ProfileState::Enabled,
            issuance::ProfileState::Disabled => ProfileState::Disabled,
            issuance::ProfileState::Created => ProfileState::Created,
        },
        smdp_id: None,
        profile_type: Some(p.profile_type.parse().map_err(build_err)?),
        allocated_memory: u64::from(p.allocated_memory),
        free_memory: None,
        pol2: Pol2 {
            rules: p
                .pol2
                .iter()
                .map(|r| {
                    Ok(Pol2Rule {
                        subject: "PROFILE".parse().map_err(build_err)?,
                        action: match r.action {
                            issuance::Pol2Action::Enable => Pol2RuleAction::Enable,
                            issuance::Pol2Action::Disable => Pol2RuleAction::Disable,
                            issuance::Pol2Action::Delete => Pol2RuleAction::Delete,
                        },
                        qualification: match r.qualification {
                            issuance::Pol2Qualification::NotAllowed => {
                                Pol2RuleQualification::NotAllowed
                            }
                            issuance::Pol2Qualification::AutoDelete => {
                                Pol2RuleQualification::AutoDelete
                            }
                        },
                    })
                })
                .collect::<Result<Vec<_>, EumError>>()?,
        },
    })
}

/// `EumSignedInfo` as standalone XML, as the EUM signs it (SGP.02 §5.1.1.3.1).
pub fn standalone_eum_signed_info(si: &EumSignedInfo) -> String {
    let mut w = XmlWriter::new();
    w.start(&format!("{RPS_PREFIX}:EumSignedInfo"));
    w.attribute(&format!("xmlns:{RPS_PREFIX}"), RPS_NS);
    si.write_attributes(&mut w);
    si.write_content(&mut w);
    w.end();
    w.finish()
}

/// The EUM that issued an eUICC's CERT.ECASD.ECKA and signs its EIS (SGP.02 §2.3.2, §5.1.1.3).
#[derive(Debug, Clone, Copy)]
pub struct EisSigner<'a> {
    /// The EUM's OID (`EumSignedInfo/Eum-Id`, the ECASD certificate's `CA-id` in the EIS).
    pub oid: &'a str,
    /// The EUM's key (signs `EumSignedInfo`).
    pub key: &'a PrivateKey,
    /// The EUM's X.509 certificate.
    pub cert: &'a X509Certificate,
}

/// What is wrong with an eUICC's CERT.ECASD.ECKA, for the eligibility failures of profile download
/// (SGP.02 §3.1.1 and §2.3.2: the SM-DP checks CI → EUM → ECASD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcasdFault {
    /// Issued by the world's EUM two years ago and expired yesterday.
    Expired,
    /// Issued by a second EUM, "RSP Test EUM 2" (OID `<arc>.8`), whose certificate the world's CI signed but
    /// which is not among the EUMs the SM-DP trusts.
    UnknownEum,
}

/// The OID of the second EUM of [`EcasdFault::UnknownEum`] (the world's arc, entity 8).
pub fn second_eum_oid(world: &World) -> String {
    format!("{}.8", world.manifest.oid_arc)
}

/// The signed EIS of the world's eUICC `index` with its CERT.ECASD.ECKA re-issued over the same key pair (so
/// the card is unchanged) as `fault` says, signed by the EUM that issued that certificate (SGP.02 §5.1.1.3).
/// The SM-SR's ES1 refuses such an EIS (it checks the chain at registration): it stands for an eUICC
/// registered while its certificate was valid, or by an EUM that SM-SR knows.
pub fn build_faulty_eis(
    world: &World,
    index: usize,
    now: OffsetDateTime,
    fault: EcasdFault,
) -> Result<Eis, EumError> {
    let euicc = euicc_of(world, index)?;
    let today = now.date();
    let second;
    let (issuer_key, issuer_cert, oid, effective, expiry) = match fault {
        EcasdFault::Expired => (
            &world.eum.key,
            &world.eum.cert,
            world.manifest.eum.oid.clone(),
            today - time::Duration::days(730),
            today - time::Duration::days(1),
        ),
        EcasdFault::UnknownEum => {
            let key = PrivateKey::generate(Curve::P256, &mut rand::rng());
            let mut serial: [u8; 16] = rand::random();
            serial[0] = (serial[0] & 0x7F) | 0x01;
            let oid = second_eum_oid(world);
            let cert = certs::x509::issue(
                &X509Params {
                    common_name: "RSP Test EUM 2".into(),
                    organization: "RSP test PKI".into(),
                    entity_oid: Some(oid.clone()),
                    serial: serial.to_vec(),
                    not_before: now - time::Duration::hours(1),
                    not_after: now + time::Duration::days(365 * 25),
                    profile: X509Profile::Eum,
                },
                key.public_key(),
                &world.ci.cert,
                &world.ci.key,
            )
            .map_err(build_err)?;
            second = (key, cert);
            (
                &second.0,
                &second.1,
                oid,
                today,
                today + time::Duration::days(365 * 20),
            )
        }
    };
    let ski = issuer_cert
        .subject_key_id()
        .ok_or_else(|| EumError::Build("the EUM certificate has no SubjectKeyIdentifier".into()))?
        .to_vec();
    let body = euicc.ecasd.cert.body();
    let ecasd = GpCertificateBody {
        serial_number: body.serial_number.clone(),
        ca_id: ski.clone(),
        subject_id: body.subject_id.clone(),
        key_usage: body.key_usage,
        effective_date: effective,
        expiration_date: expiry,
        entity_type: body.entity_type,
        authority_key_id: ski,
        public_key: body.public_key.clone(),
    }
    .sign(issuer_key);
    build_eis_signed(
        world,
        index,
        now,
        &ecasd.encode(),
        &EisSigner {
            oid: &oid,
            key: issuer_key,
            cert: issuer_cert,
        },
        false,
    )
}

fn euicc_of(world: &World, index: usize) -> Result<&EuiccIdentity, EumError> {
    world
        .euiccs
        .get(index)
        .ok_or_else(|| EumError::Build(format!("the world has no eUICC {index}")))
}

/// The signed EIS of the world's eUICC `index`, as the EUM registers it (SGP.02 §5.1.1.3), SMS only.
pub fn build_eis(world: &World, index: usize, now: OffsetDateTime) -> Result<Eis, EumError> {
    build_eis_with(world, index, now, false)
}

/// [`build_eis`] with the capability `HttpSupport` (HTTP version 1.1.0) set when `http_support`: the eUICC
/// takes ES5 over HTTPS (SCP81, wire-profile §3).
pub fn build_eis_with(
    world: &World,
    index: usize,
    now: OffsetDateTime,
    http_support: bool,
) -> Result<Eis, EumError> {
    let euicc = euicc_of(world, index)?;
    build_eis_signed(
        world,
        index,
        now,
        &euicc.ecasd.cert.encode(),
        &EisSigner {
            oid: &world.manifest.eum.oid,
            key: &world.eum.key,
            cert: &world.eum.cert,
        },
        http_support,
    )
}

/// The EIS of the world's eUICC `index` carrying `ecasd_cert` as CERT.ECASD.ECKA, signed by `signer`, with
/// `HttpSupport` as `http_support` says (SGP.02 §5.1.1.3).
fn build_eis_signed(
    world: &World,
    index: usize,
    now: OffsetDateTime,
    ecasd_cert: &[u8],
    signer: &EisSigner<'_>,
    http_support: bool,
) -> Result<Eis, EumError> {
    let euicc = euicc_of(world, index)?;
    let profiles = issuance::profiles_at_issuance(world, index).map_err(build_err)?;
    let ecasd = SecurityDomain {
        aid: Aid::from_bytes(&wire_profile::ECASD_AID).map_err(build_err)?,
        tar: Vec::new(),
        sin: sd_id(0x02)?,
        sdin: sd_id(0x02)?,
        role: SdRole::Ecasd,
        keysets: vec![Keyset {
            version: KeysetVersion::new(ECASD_CERT_KVN).map_err(build_err)?,
            keyset_type: Some(KeysetUsage::Ca),
            cntr: None,
            items: vec![KeysetItem::Certificate(GpCertificate {
                index: KeyIndex::new(1).map_err(build_err)?,
                ca_id: signer.oid.parse::<Oid>().map_err(build_err)?,
                value: HexBinary::from_bytes(ecasd_cert).map_err(build_err)?,
            })],
        }],
    };
    let eum_signed_info = EumSignedInfo {
        eid: euicc.eid.parse().map_err(build_err)?,
        eum_id: signer.oid.parse().map_err(build_err)?,
        production_date: XsDateTime::utc(now),
        platform_type: "rsp-simulated-euicc".parse().map_err(build_err)?,
        platform_version: "1.0.0".parse().map_err(build_err)?,
        isd_p_loadfile_aid: Aid::from_bytes(&wire_profile::ISD_P_LOAD_FILE_AID)
            .map_err(build_err)?,
        isd_p_module_aid: Aid::from_bytes(&wire_profile::ISD_P_MODULE_AID).map_err(build_err)?,
        ecasd,
        euicc_capabilities: EuiccCapabilities {
            cattp_support: false,
            cattp_version: None,
            http_support,
            http_version: if http_support {
                Some("1.1.0".parse().map_err(build_err)?)
            } else {
                None
            },
            secure_packet_version: "9.2.0".parse().map_err(build_err)?,
            remote_provisioning_version: "3.2.0".parse().map_err(build_err)?,
        },
    };
    let signature = certs::xmldsig::sign_eum_signed_info(
        &standalone_eum_signed_info(&eum_signed_info),
        signer.key,
        signer.cert,
    )?;
    let content = certs::xmldsig::signature_content(&signature)?;
    let eum_signature = EumSignature::from_children_xml(None, &content).map_err(build_err)?;
    let scp80 = &euicc.scp80;
    let isd_r = SecurityDomain {
        aid: Aid::from_bytes(&wire_profile::ISD_R_AID).map_err(build_err)?,
        tar: Vec::new(),
        sin: sd_id(0x01)?,
        sdin: sd_id(0x01)?,
        role: SdRole::IsdR,
        keysets: vec![
            Keyset {
                version: KeysetVersion::new(scp80.kvn).map_err(build_err)?,
                keyset_type: Some(KeysetUsage::Scp80),
                cntr: Some(0),
                items: vec![
                    transport_key(world, 1, KEY_TYPE_AES, scp80.kic.expose())?,
                    transport_key(world, 2, KEY_TYPE_AES, scp80.kid.expose())?,
                    transport_key(world, 3, KEY_TYPE_AES, scp80.kik.expose())?,
                ],
            },
            Keyset {
                version: KeysetVersion::new(euicc.scp81_kvn).map_err(build_err)?,
                keyset_type: Some(KeysetUsage::Scp81),
                cntr: None,
                items: vec![transport_key(
                    world,
                    1,
                    KEY_TYPE_PSK_TLS,
                    euicc.scp81_psk.expose(),
                )?],
            },
        ],
    };
    Ok(Eis {
        eum_signed_info,
        eum_signature,
        remaining_memory: u64::from(issuance::remaining_memory_at_issuance(&profiles)),
        available_memory_for_profiles: u64::from(issuance::AVAILABLE_MEMORY_FOR_PROFILES),
        last_audit_date: None,
        smsr_id: world.manifest.sm_sr.oid.parse().map_err(build_err)?,
        profile_info: profiles
            .iter()
            .map(profile_info)
            .collect::<Result<_, _>>()?,
        isd_r,
        audit_trail: None,
        additional_properties: None,
    })
}

/// The EIS as a standalone XML document (`rps:Eis`), the form `rsp pki init` writes and `rsp euicc register`
/// reads.
pub fn eis_document(eis: &Eis) -> String {
    let mut w = XmlWriter::new();
    w.declaration();
    w.start(&format!("{RPS_PREFIX}:Eis"));
    w.attribute(&format!("xmlns:{RPS_PREFIX}"), RPS_NS);
    eis.write_attributes(&mut w);
    eis.write_content(&mut w);
    w.end();
    w.finish()
}

/// Reads an EIS document written by [`eis_document`] (or by any EUM, in the GSMA namespace).
pub fn read_eis_document(path: &Path) -> Result<Eis, EumError> {
    let text = std::fs::read(path).map_err(|source| EumError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc = Document::parse(&text).map_err(build_err)?;
    Eis::decode_element(doc.root(), "Eis").map_err(build_err)
}

/// Where the EIS document of an eUICC lives in a world directory.
pub fn eis_document_path(world_dir: &Path, eid: &str) -> PathBuf {
    world_dir.join("eis").join(format!("{eid}.xml"))
}

/// Writes the signed EIS of every eUICC of the world to `<world>/eis/<EID>.xml`; returns the paths.
pub fn write_eis_documents(world: &World, now: OffsetDateTime) -> Result<Vec<PathBuf>, EumError> {
    let dir = world.dir.join("eis");
    std::fs::create_dir_all(&dir).map_err(|source| EumError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut out = Vec::with_capacity(world.euiccs.len());
    for (i, e) in world.euiccs.iter().enumerate() {
        let path = eis_document_path(&world.dir, &e.eid);
        let eis = build_eis(world, i, now)?;
        std::fs::write(&path, eis_document(&eis)).map_err(|source| EumError::Io {
            path: path.clone(),
            source,
        })?;
        out.push(path);
    }
    Ok(out)
}

/// The EUM's ES1 client (SGP.02 §5.2): calls ES1.RegisterEIS at an SM-SR with the EUM's TLS client
/// certificate.
pub struct Es1Client {
    client: SoapClient,
    url: String,
    from: String,
    eum_oid: String,
}

/// The outcome of one registration: the HTTP status and the decoded response.
#[derive(Debug)]
pub struct Registration {
    /// HTTP status of the answer.
    pub http_status: u16,
    /// The response (FunctionExecutionStatus and processing times).
    pub response: RegisterEisResponse,
}

impl Es1Client {
    /// A client for the world's EUM calling the SM-SR whose ES listener is at `smsr_base_url`.
    pub fn new(world: &World, smsr_base_url: &str) -> Result<Self, EumError> {
        let read = |rel: &str| {
            let path = world.dir.join(rel);
            std::fs::read(&path).map_err(|source| EumError::Io { path, source })
        };
        let m = &world.manifest;
        let client = SoapClient::new(
            &read(&m.eum_tls_client.cert)?,
            &read(&m.eum_tls_client.key)?,
            &read(&m.tls_ca.cert)?,
            Duration::from_secs(30),
        )
        .map_err(|e| EumError::Call(e.to_string()))?;
        let path = es_interfaces::wsdl::Service::Es1SmSr.default_path();
        Ok(Es1Client {
            client,
            url: format!("{}{path}", smsr_base_url.trim_end_matches('/')),
            from: soap::entity_address(
                "https://eum.test.invalid/es1",
                &m.eum.oid,
                Some(&m.eum.name),
                QuerySeparator::Ampersand,
            ),
            eum_oid: m.eum.oid.clone(),
        })
    }

    /// The request envelope registering `eis` with this FunctionCallIdentifier.
    pub fn envelope(&self, eis: &Eis, function_call_id: &str) -> String {
        let req = RegisterEisRequest {
            base: BaseRequest::new(function_call_id),
            eis: eis.clone(),
        };
        let headers = OutgoingHeaders {
            to: self.url.clone(),
            from: Some(self.from.clone()),
            reply_to: None,
            message_id: soap::message_id(
                &format!(
                    "//{}/urn:uuid:{}",
                    self.eum_oid,
                    uuid_like(function_call_id)
                ),
                None,
                None,
                Some(&XsDateTime::utc(OffsetDateTime::now_utc())),
                QuerySeparator::Ampersand,
            ),
            action: action::ES1_REGISTER_EIS.request.to_string(),
            relates_to: None,
        };
        soap::envelope(SoapVersion::V1_2, &headers, |w| req.write_body(w))
    }

    /// Sends a prepared envelope and decodes the answer.
    pub async fn send(&self, envelope: String) -> Result<Registration, EumError> {
        let reply = self
            .client
            .post(
                &self.url,
                ClientVersion::V12,
                action::ES1_REGISTER_EIS.request,
                envelope,
            )
            .await
            .map_err(|e| EumError::Call(e.to_string()))?;
        let env = soap::Envelope::parse(reply.body.as_bytes())
            .map_err(|e| EumError::Call(format!("HTTP {}: {e}", reply.status)))?;
        if let Some(fault) = env.fault() {
            return Err(EumError::Call(format!(
                "HTTP {}: SOAP fault: {fault:?}",
                reply.status
            )));
        }
        let response = RegisterEisResponse::decode_body(env.body())
            .map_err(|e| EumError::Call(format!("HTTP {}: {e}", reply.status)))?;
        Ok(Registration {
            http_status: reply.status,
            response,
        })
    }

    /// Registers `eis` (ES1.RegisterEIS).
    pub async fn register(
        &self,
        eis: &Eis,
        function_call_id: &str,
    ) -> Result<Registration, EumError> {
        self.send(self.envelope(eis, function_call_id)).await
    }
}

/// A message-id suffix derived from the function call identifier (unique per call).
fn uuid_like(function_call_id: &str) -> String {
    function_call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
