//! A complete test PKI written to a directory (DESIGN §2 `rsp pki init`; SGP.02 §2.3.2 for the PKI roles): the
//! CI, one EUM with its ES1 transport key, a TLS CA separate from the CI with server and client certificates for
//! every ES interface peer, CERT.DP.ECDSA, two SM-SRs (each with CERT.SR.ECDSA and its TLS server and client
//! certificates, for the SM-SR change of SGP.02 §3.8), an eUICC-owner API token, a master key ring, and N eUICC
//! identities (EID, ECASD key and CERT.ECASD.ECKA, ISD-R SCP80 key set, SCP81 PSK, MSISDN), listed in
//! `world.json`.
//!
//! Entity identifiers live under the arc `1.3.6.1.4.1.99999` (an unassigned private-enterprise number used for
//! test data, as in testdata/vectors/es8.json): `.1` SM-DP, `.2` SM-SR (SM-SR 1), `.3` EUM, `.4` CI, `.5` MNO 1,
//! `.6` MNO 2, `.7` eUICC owner, `.8` SM-SR 2.
//!
//! EIDs follow the SGP.29 layout `89 | country 049 | issuer 999 | issuer-specific 0010000000 | 12-digit serial |
//! 2 check digits`, the check digits per ISO/IEC 7064 MOD 97-10 (the 32-digit number mod 97 equals 1), which the
//! vector EID of es8.json satisfies.
//!
//! Everything is deterministic given `WorldOptions::seed` and `now` (key generation from ChaCha20, RFC 6979
//! signatures); without a seed the generator draws a 256-bit seed from the operating system.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use crate::chain::{self, ChainError};
use crate::ecc::{Curve, EcError, PrivateKey, PublicKey};
use crate::gp_cert::{EntityType, GpCertificate, GpCertificateBody};
use crate::keystore::{self, CERTS_DIR, KEYS_DIR, KeyStoreError, SoftwareKeyStore};
use crate::secrets::{MasterKeyring, SealError, Secret, TransportError, TransportKey};
use crate::x509::{X509Certificate, X509Error, X509Params, X509Profile, issue, issue_self_signed};

/// Private-enterprise arc of the test entities.
pub const OID_ARC: &str = "1.3.6.1.4.1.99999";
/// Manifest file name.
pub const MANIFEST: &str = "world.json";
/// Master key ring file name (mode 0600).
pub const MASTER_KEY_FILE: &str = "master.keys";
/// ISD-R AID (SGP.02 Annex H; wire-profile §1).
pub const ISD_R_AID: &str = "A0000005591010FFFFFFFF8900000100";
/// ECASD AID (SGP.02 Annex H; wire-profile §1).
pub const ECASD_AID: &str = "A0000005591010FFFFFFFF8900000200";

/// Errors generating or loading a world; name the file or identity concerned.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// A file cannot be written or read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        reason: String,
    },
    /// The output directory already holds a world.
    #[error("{0} already contains a world.json; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    /// The manifest does not parse or lacks an entry.
    #[error("world manifest: {0}")]
    Manifest(String),
    /// Creating or reading an X.509 certificate failed.
    #[error("{label}: {source}")]
    X509 {
        /// Which certificate.
        label: String,
        /// The cause.
        source: X509Error,
    },
    /// A key or certificate file is invalid.
    #[error("{label}: {reason}")]
    Invalid {
        /// Which item.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// A generated certificate fails its chain check.
    #[error("{label}: {source}")]
    Chain {
        /// Which certificate.
        label: String,
        /// The chain error.
        source: ChainError,
    },
    /// The key store cannot be loaded.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// The master key ring cannot be read.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The transport key file is invalid.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldOptions {
    /// Number of eUICC identities.
    pub euiccs: usize,
    /// The time the world is generated at: validity periods start at it.
    pub now: OffsetDateTime,
    /// Seed for a reproducible world (tests); `None` draws one from the operating system.
    pub seed: Option<u64>,
    /// Curve of the ECASD keys (GP key parameter reference in CERT.ECASD.ECKA).
    pub ecasd_curve: Curve,
}

impl WorldOptions {
    /// `euiccs` eUICCs at `now`, random, ECASD keys on P-256.
    pub fn new(euiccs: usize, now: OffsetDateTime) -> Self {
        WorldOptions {
            euiccs,
            now,
            seed: None,
            ecasd_curve: Curve::P256,
        }
    }
}

/// A private key and its X.509 certificate, with their files (manifest entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCertFiles {
    /// Key label and `keys/<label>.key.pem`.
    pub label: String,
    /// PKCS#8 PEM private key file (0600).
    pub key: String,
    /// Certificate file (`.pem` X.509 or `.gp.hex` GP).
    pub cert: String,
}

/// An entity of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityEntry {
    /// Entity identifier (OID).
    pub oid: String,
    /// Display name.
    pub name: String,
}

/// The manifest `world.json`: every file and identity of the world, paths relative to its directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// Generation time (RFC 3339).
    pub generated_at: String,
    /// The seed, when the world was generated reproducibly.
    pub seed: Option<u64>,
    /// The OID arc of the entities.
    pub oid_arc: String,
    /// Master key ring file.
    pub master_key_file: String,
    /// CI.
    pub ci: EntityEntry,
    /// CI key and X.509 root certificate.
    pub ci_files: KeyCertFiles,
    /// EUM.
    pub eum: EntityEntry,
    /// EUM key and X.509 certificate (signs CERT.ECASD.ECKA and EIS).
    pub eum_files: KeyCertFiles,
    /// EUM AES-128 transport key for ES1 key values (hex, 0600).
    pub eum_transport_key_file: String,
    /// EUM TLS client certificate (ES1).
    pub eum_tls_client: KeyCertFiles,
    /// TLS CA (separate from the CI).
    pub tls_ca: KeyCertFiles,
    /// SM-DP.
    pub sm_dp: EntityEntry,
    /// CERT.DP.ECDSA and SK.DP.ECDSA.
    pub sm_dp_gp: KeyCertFiles,
    /// SM-DP TLS server (ES2, ES3 callbacks).
    pub sm_dp_tls_server: KeyCertFiles,
    /// SM-DP TLS client (ES3).
    pub sm_dp_tls_client: KeyCertFiles,
    /// SM-SR.
    pub sm_sr: EntityEntry,
    /// CERT.SR.ECDSA and SK.SR.ECDSA.
    pub sm_sr_gp: KeyCertFiles,
    /// SM-SR TLS server (ES1, ES3, ES4, ES7).
    pub sm_sr_tls_server: KeyCertFiles,
    /// SM-SR TLS client (callbacks, ES7).
    pub sm_sr_tls_client: KeyCertFiles,
    /// The second SM-SR (SGP.02 §3.8 SM-SR change); absent in worlds generated before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_sr2: Option<SmsrEntry>,
    /// MNOs with their TLS client certificates (ES2/ES4).
    pub mnos: Vec<MnoEntry>,
    /// eUICC owner.
    pub euicc_owner: EntityEntry,
    /// eUICC owner REST API token file (0600).
    pub euicc_owner_token_file: String,
    /// eUICC identities.
    pub euiccs: Vec<EuiccEntry>,
    /// Every file of the world.
    pub files: Vec<String>,
}

/// An SM-SR entry of the manifest beyond the first (SGP.02 §3.8): identity, CERT.SR.ECDSA and TLS certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsrEntry {
    /// Identity.
    pub entity: EntityEntry,
    /// CERT.SR.ECDSA and SK.SR.ECDSA.
    pub gp: KeyCertFiles,
    /// TLS server (ES1, ES3, ES4, ES7), for `localhost`.
    pub tls_server: KeyCertFiles,
    /// TLS client (callbacks, ES7).
    pub tls_client: KeyCertFiles,
}

/// An MNO entry of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MnoEntry {
    /// Identity.
    pub entity: EntityEntry,
    /// TLS client certificate (ES2/ES4).
    pub tls_client: KeyCertFiles,
    /// TLS server certificate of the MNO's ReplyTo and notification endpoint (`rsp mno`), for `localhost`;
    /// absent in worlds generated before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server: Option<KeyCertFiles>,
}

/// An eUICC entry of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EuiccEntry {
    /// EID, 32 decimal digits.
    pub eid: String,
    /// MSISDN of the bootstrap profile.
    pub msisdn: String,
    /// ECASD curve name.
    pub ecasd_curve: String,
    /// SK.ECASD.ECKA and CERT.ECASD.ECKA.
    pub ecasd: KeyCertFiles,
    /// ISD-R AID.
    pub isd_r_aid: String,
    /// ISD-R SCP80 key version (01).
    pub scp80_kvn: u8,
    /// SCP81 PSK key version (40).
    pub scp81_kvn: u8,
    /// JSON file (0600) with the ISD-R KIc/KID/KIK and the PSK, hex.
    pub secrets_file: String,
}

/// The ISD-R keys of one eUICC, as the EUM would put them in the EIS (SGP.02 §5.1.1; wire-profile §1–§3).
#[derive(Debug, Serialize, Deserialize)]
struct EuiccSecretsFile {
    scp80_kic: String,
    scp80_kid: String,
    scp80_kik: String,
    scp81_psk: String,
}

/// A private key with its X.509 certificate.
#[derive(Debug)]
pub struct X509Identity {
    /// Key label in the key store.
    pub label: String,
    /// The private key.
    pub key: PrivateKey,
    /// The certificate.
    pub cert: X509Certificate,
}

/// A private key with its GP certificate.
#[derive(Debug)]
pub struct GpIdentity {
    /// Key label in the key store.
    pub label: String,
    /// The private key.
    pub key: PrivateKey,
    /// The certificate.
    pub cert: GpCertificate,
}

/// An SCP80 key set of the ISD-R (ETSI TS 102 225; wire-profile §2): AES-128 KIc, KID, KIK under one KVN.
#[derive(Debug)]
pub struct Scp80KeySet {
    /// Key version number (01).
    pub kvn: u8,
    /// Ciphering key (key id 1).
    pub kic: Secret,
    /// Integrity key (key id 2).
    pub kid: Secret,
    /// Key-encryption key (key id 3).
    pub kik: Secret,
}

/// One test eUICC.
#[derive(Debug)]
pub struct EuiccIdentity {
    /// EID, 32 digits.
    pub eid: String,
    /// MSISDN.
    pub msisdn: String,
    /// SK.ECASD.ECKA and CERT.ECASD.ECKA.
    pub ecasd: GpIdentity,
    /// ISD-R SCP80 key set.
    pub scp80: Scp80KeySet,
    /// SCP81 PSK key version (40).
    pub scp81_kvn: u8,
    /// SCP81 PSK (16 bytes).
    pub scp81_psk: Secret,
}

/// The keys of an SM-SR beyond the first, loaded (SGP.02 §3.8).
#[derive(Debug)]
pub struct SmsrKeys {
    /// CERT.SR.ECDSA and SK.SR.ECDSA.
    pub gp: GpIdentity,
    /// TLS server.
    pub tls_server: X509Identity,
    /// TLS client.
    pub tls_client: X509Identity,
}

/// One SM-SR of the world, whichever it is (SGP.02 §3.8: the SM-SRs of an SM-SR change): see [`World::smsr`].
#[derive(Debug, Clone, Copy)]
pub struct SmsrIdentityRef<'a> {
    /// Its number in the world (1 or 2).
    pub number: u8,
    /// Entity identifier (OID) and name.
    pub entity: &'a EntityEntry,
    /// CERT.SR.ECDSA and SK.SR.ECDSA.
    pub gp: &'a GpIdentity,
    /// Their files.
    pub gp_files: &'a KeyCertFiles,
    /// TLS server identity.
    pub tls_server: &'a X509Identity,
    /// Its files.
    pub tls_server_files: &'a KeyCertFiles,
    /// TLS client identity.
    pub tls_client: &'a X509Identity,
    /// Its files.
    pub tls_client_files: &'a KeyCertFiles,
}

/// What is wrong with a CERT.SR.ECDSA of [`World::issue_faulty_cert_sr`] (SGP.02 §2.3.2): the certificate of an
/// SM-SR that the current SM-SR and the ISD-R must refuse in an SM-SR change (§3.8, ES7.AuthenticateSMSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertSrFault {
    /// Issued by a CI generated for the occasion, not the world's: its CA id (`42`), AKI (`C9`) and signature
    /// are that CI's.
    ForeignCi,
    /// Issued by the world's CI, effective two years before `now`, expired the day before.
    Expired,
}

/// A loaded world.
#[derive(Debug)]
pub struct World {
    /// Its directory.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// CI root.
    pub ci: X509Identity,
    /// EUM certificate and key.
    pub eum: X509Identity,
    /// EUM ES1 transport key.
    pub eum_transport_key: TransportKey,
    /// EUM TLS client.
    pub eum_tls_client: X509Identity,
    /// TLS CA.
    pub tls_ca: X509Identity,
    /// CERT.DP.ECDSA.
    pub sm_dp_gp: GpIdentity,
    /// SM-DP TLS server.
    pub sm_dp_tls_server: X509Identity,
    /// SM-DP TLS client.
    pub sm_dp_tls_client: X509Identity,
    /// CERT.SR.ECDSA.
    pub sm_sr_gp: GpIdentity,
    /// SM-SR TLS server.
    pub sm_sr_tls_server: X509Identity,
    /// SM-SR TLS client.
    pub sm_sr_tls_client: X509Identity,
    /// The second SM-SR, when the manifest lists it.
    pub sm_sr2: Option<SmsrKeys>,
    /// MNO TLS clients, in manifest order.
    pub mno_tls_clients: Vec<X509Identity>,
    /// The MNOs' TLS server identities (their callback endpoints), for those the manifest lists.
    pub mno_tls_servers: Vec<X509Identity>,
    /// eUICC owner API token.
    pub euicc_owner_token: Secret,
    /// Master key ring.
    pub master: MasterKeyring,
    /// eUICCs, in manifest order.
    pub euiccs: Vec<EuiccIdentity>,
}

/// Appends the ISO/IEC 7064 MOD 97-10 check digits to the first 30 digits of an EID (SGP.02 §2.2.2 / SGP.29).
pub fn eid_with_check_digits(first_30: &str) -> Option<String> {
    if first_30.len() != 30 || !first_30.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rem = mod97(&format!("{first_30}00"));
    Some(format!("{first_30}{:02}", 98 - rem))
}

/// Whether an EID is 32 digits whose value mod 97 is 1 (ISO/IEC 7064 MOD 97-10, SGP.29).
pub fn eid_is_valid(eid: &str) -> bool {
    eid.len() == 32 && eid.bytes().all(|b| b.is_ascii_digit()) && mod97(eid) == 1
}

fn mod97(digits: &str) -> u32 {
    digits
        .bytes()
        .fold(0u32, |acc, d| (acc * 10 + u32::from(d - b'0')) % 97)
}

fn io(path: &Path, e: impl std::fmt::Display) -> WorldError {
    WorldError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

struct Writer {
    dir: PathBuf,
    files: Vec<String>,
}

impl Writer {
    fn write(&mut self, rel: &str, bytes: &[u8], private: bool) -> Result<(), WorldError> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(if private { 0o600 } else { 0o644 });
        }
        let mut f = opts.open(&path).map_err(|e| io(&path, e))?;
        f.write_all(bytes).map_err(|e| io(&path, e))?;
        self.files.push(rel.to_string());
        Ok(())
    }

    fn key(&mut self, label: &str, key: &PrivateKey) -> Result<String, WorldError> {
        let rel = format!("{KEYS_DIR}/{label}.key.pem");
        let pem = key.to_pkcs8_pem().map_err(|e| WorldError::Invalid {
            label: label.into(),
            reason: e.to_string(),
        })?;
        self.write(&rel, pem.as_bytes(), true)?;
        Ok(rel)
    }

    fn x509(&mut self, id: &X509Identity) -> Result<KeyCertFiles, WorldError> {
        let key = self.key(&id.label, &id.key)?;
        let cert = format!("{CERTS_DIR}/{}.pem", id.label);
        self.write(&cert, id.cert.to_pem().as_bytes(), false)?;
        Ok(KeyCertFiles {
            label: id.label.clone(),
            key,
            cert,
        })
    }

    fn gp(&mut self, id: &GpIdentity) -> Result<KeyCertFiles, WorldError> {
        let key = self.key(&id.label, &id.key)?;
        let cert = format!("{CERTS_DIR}/{}.gp.hex", id.label);
        self.write(
            &cert,
            format!("{}\n", hex::encode_upper(id.cert.encode())).as_bytes(),
            false,
        )?;
        Ok(KeyCertFiles {
            label: id.label.clone(),
            key,
            cert,
        })
    }
}

fn entity(n: u32, name: &str) -> EntityEntry {
    EntityEntry {
        oid: format!("{OID_ARC}.{n}"),
        name: name.to_string(),
    }
}

fn secret(rng: &mut ChaCha20Rng, len: usize) -> Secret {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    Secret::new(v)
}

/// A generator seeded with 256 bits from the operating system (via the thread RNG).
fn os_rng() -> ChaCha20Rng {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(&mut *seed);
    ChaCha20Rng::from_seed(*seed)
}

struct Gen {
    rng: ChaCha20Rng,
    now: OffsetDateTime,
}

impl Gen {
    fn serial(&mut self) -> Vec<u8> {
        let mut s = [0u8; 16];
        self.rng.fill_bytes(&mut s);
        s[0] = (s[0] & 0x7F) | 0x01;
        s.to_vec()
    }

    fn params(
        &mut self,
        cn: &str,
        oid: Option<&str>,
        years: i64,
        profile: X509Profile,
    ) -> X509Params {
        X509Params {
            common_name: cn.to_string(),
            organization: "RSP test PKI".to_string(),
            entity_oid: oid.map(str::to_string),
            serial: self.serial(),
            not_before: self.now - Duration::hours(1),
            not_after: self.now + Duration::days(365 * years),
            profile,
        }
    }

    fn root(&mut self, label: &str, params: X509Params) -> Result<X509Identity, WorldError> {
        let key = PrivateKey::generate(Curve::P256, &mut self.rng);
        let cert = issue_self_signed(&params, &key).map_err(|source| WorldError::X509 {
            label: label.into(),
            source,
        })?;
        Ok(X509Identity {
            label: label.into(),
            key,
            cert,
        })
    }

    fn leaf(
        &mut self,
        label: &str,
        params: X509Params,
        issuer: &X509Identity,
    ) -> Result<X509Identity, WorldError> {
        let key = PrivateKey::generate(Curve::P256, &mut self.rng);
        let cert =
            issue(&params, key.public_key(), &issuer.cert, &issuer.key).map_err(|source| {
                WorldError::X509 {
                    label: label.into(),
                    source,
                }
            })?;
        Ok(X509Identity {
            label: label.into(),
            key,
            cert,
        })
    }

    fn gp(
        &mut self,
        label: &str,
        curve: Curve,
        entity_type: EntityType,
        subject_id: Vec<u8>,
        years: i32,
        issuer: &X509Identity,
    ) -> Result<GpIdentity, WorldError> {
        let key = PrivateKey::generate(curve, &mut self.rng);
        let effective = self.now.date();
        let year = effective.year() + years;
        // 29 February has no anniversary in a common year: expire on the 28th.
        let expiry = effective
            .replace_year(year)
            .or_else(|_| effective.replace_day(28).and_then(|d| d.replace_year(year)))
            .map_err(|e| WorldError::Invalid {
                label: label.into(),
                reason: format!("expiration date: {e}"),
            })?;
        let cert = self.gp_cert(
            issuer,
            entity_type,
            subject_id,
            key.public_key(),
            (effective, expiry),
        )?;
        Ok(GpIdentity {
            label: label.into(),
            key,
            cert,
        })
    }

    /// A GP certificate over `public_key` issued by `issuer` and valid over `validity` (effective, expiration
    /// date), with a fresh serial number (wire-profile §6).
    fn gp_cert(
        &mut self,
        issuer: &X509Identity,
        entity_type: EntityType,
        subject_id: Vec<u8>,
        public_key: &PublicKey,
        validity: (Date, Date),
    ) -> Result<GpCertificate, WorldError> {
        let ski = issuer
            .cert
            .subject_key_id()
            .ok_or_else(|| WorldError::Invalid {
                label: issuer.label.clone(),
                reason: "issuer certificate has no SubjectKeyIdentifier".into(),
            })?
            .to_vec();
        let mut serial = [0u8; 8];
        self.rng.fill_bytes(&mut serial);
        Ok(GpCertificateBody {
            serial_number: serial.to_vec(),
            ca_id: ski.clone(),
            subject_id,
            key_usage: entity_type.expected_key_usage(),
            effective_date: validity.0,
            expiration_date: validity.1,
            entity_type,
            authority_key_id: ski,
            public_key: public_key.clone(),
        }
        .sign(&issuer.key))
    }
}

fn tls_server(dns: &str) -> X509Profile {
    X509Profile::TlsServer {
        dns_names: vec![dns.to_string(), "localhost".to_string()],
        ip_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    }
}

/// Generates a world into `out_dir` (created if absent; must not already hold a world) and returns it loaded.
pub fn generate(out_dir: &Path, opts: &WorldOptions) -> Result<World, WorldError> {
    if out_dir.join(MANIFEST).exists() {
        return Err(WorldError::AlreadyExists(out_dir.to_path_buf()));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    // Seeded: reproducible. Unseeded: a full 256-bit seed from the operating system (via the thread RNG).
    let rng = match opts.seed {
        Some(seed) => ChaCha20Rng::seed_from_u64(seed),
        None => os_rng(),
    };
    let mut g = Gen { rng, now: opts.now };
    let mut w = Writer {
        dir: out_dir.to_path_buf(),
        files: Vec::new(),
    };
    let ci_e = entity(4, "RSP Test CI");
    let eum_e = entity(3, "RSP Test EUM");
    let dp_e = entity(1, "RSP Test SM-DP");
    let sr_e = entity(2, "RSP Test SM-SR");
    let owner_e = entity(7, "RSP Test eUICC Owner");
    let mno_e = [entity(5, "RSP Test MNO 1"), entity(6, "RSP Test MNO 2")];

    let p = g.params(&ci_e.name, Some(&ci_e.oid), 30, X509Profile::CiRoot);
    let ci = g.root("ci", p)?;
    let p = g.params(&eum_e.name, Some(&eum_e.oid), 25, X509Profile::Eum);
    let eum = g.leaf("eum", p, &ci)?;
    let p = g.params("RSP Test TLS CA", None, 20, X509Profile::TlsCa);
    let tls_ca = g.root("tls-ca", p)?;
    let tls = |g: &mut Gen, label: &str, cn: &str, oid: &str, profile| {
        let p = g.params(cn, Some(oid), 5, profile);
        g.leaf(label, p, &tls_ca)
    };
    let eum_tls = tls(
        &mut g,
        "tls-eum-client",
        "eum.rsp.test",
        &eum_e.oid,
        X509Profile::TlsClient,
    )?;
    let dp_srv = tls(
        &mut g,
        "tls-smdp-server",
        "smdp.rsp.test",
        &dp_e.oid,
        tls_server("smdp.rsp.test"),
    )?;
    let dp_cli = tls(
        &mut g,
        "tls-smdp-client",
        "smdp.rsp.test",
        &dp_e.oid,
        X509Profile::TlsClient,
    )?;
    let sr_srv = tls(
        &mut g,
        "tls-smsr-server",
        "smsr.rsp.test",
        &sr_e.oid,
        tls_server("smsr.rsp.test"),
    )?;
    let sr_cli = tls(
        &mut g,
        "tls-smsr-client",
        "smsr.rsp.test",
        &sr_e.oid,
        X509Profile::TlsClient,
    )?;
    let mut mno_ids = Vec::new();
    for (i, m) in mno_e.iter().enumerate() {
        let label = format!("tls-mno{}-client", i + 1);
        mno_ids.push(tls(
            &mut g,
            &label,
            &format!("mno{}.rsp.test", i + 1),
            &m.oid,
            X509Profile::TlsClient,
        )?);
    }
    let dp_gp = g.gp(
        "sm-dp",
        Curve::P256,
        EntityType::SmDp,
        dp_e.oid.as_bytes().to_vec(),
        5,
        &ci,
    )?;
    let sr_gp = g.gp(
        "sm-sr",
        Curve::P256,
        EntityType::SmSr,
        sr_e.oid.as_bytes().to_vec(),
        5,
        &ci,
    )?;

    let transport = secret(&mut g.rng, 16);
    let token = hex::encode(secret(&mut g.rng, 32).expose());
    let mut master_key = zeroize::Zeroizing::new([0u8; 32]);
    g.rng.fill_bytes(&mut *master_key);
    let master_text = zeroize::Zeroizing::new(format!("m1:{}\n", hex::encode(*master_key)));

    w.write(MASTER_KEY_FILE, master_text.as_bytes(), true)?;
    let ci_files = w.x509(&ci)?;
    let eum_files = w.x509(&eum)?;
    let eum_transport_key_file = "secrets/eum-transport.key".to_string();
    w.write(
        &eum_transport_key_file,
        format!("{}\n", hex::encode_upper(transport.expose())).as_bytes(),
        true,
    )?;
    let tls_ca_files = w.x509(&tls_ca)?;
    let euicc_owner_token_file = "secrets/euicc-owner.token".to_string();
    w.write(
        &euicc_owner_token_file,
        format!("{token}\n").as_bytes(),
        true,
    )?;

    let mut euiccs = Vec::with_capacity(opts.euiccs);
    for i in 0..opts.euiccs {
        let eid = eid_with_check_digits(&format!("890499990010000000{:012}", i + 1)).ok_or_else(
            || WorldError::Invalid {
                label: format!("eUICC {i}"),
                reason: "EID serial out of range".into(),
            },
        )?;
        let msisdn = format!("4917099{:06}", i + 1);
        let eid_bytes = hex::decode(&eid).map_err(|e| WorldError::Invalid {
            label: eid.clone(),
            reason: e.to_string(),
        })?;
        let ecasd = g.gp(
            &format!("ecasd-{eid}"),
            opts.ecasd_curve,
            EntityType::Ecasd,
            eid_bytes,
            20,
            &eum,
        )?;
        let ecasd_files = w.gp(&ecasd)?;
        let secrets = EuiccSecretsFile {
            scp80_kic: hex::encode_upper(secret(&mut g.rng, 16).expose()),
            scp80_kid: hex::encode_upper(secret(&mut g.rng, 16).expose()),
            scp80_kik: hex::encode_upper(secret(&mut g.rng, 16).expose()),
            scp81_psk: hex::encode_upper(secret(&mut g.rng, 16).expose()),
        };
        let secrets_file = format!("secrets/euicc-{eid}.json");
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(&secrets).map_err(|e| WorldError::Manifest(e.to_string()))?,
        );
        w.write(&secrets_file, &json, true)?;
        euiccs.push(EuiccEntry {
            eid,
            msisdn,
            ecasd_curve: opts.ecasd_curve.name().to_string(),
            ecasd: ecasd_files,
            isd_r_aid: ISD_R_AID.to_string(),
            scp80_kvn: 0x01,
            scp81_kvn: 0x40,
            secrets_file,
        });
    }

    // Drawn last, so that a seeded world keeps every other key it had before these existed.
    let mut mno_servers = Vec::new();
    for (i, m) in mno_e.iter().enumerate() {
        let host = format!("mno{}.rsp.test", i + 1);
        let label = format!("tls-mno{}-server", i + 1);
        mno_servers.push(tls(&mut g, &label, &host, &m.oid, tls_server(&host))?);
    }
    let sr2_e = entity(8, "RSP Test SM-SR 2");
    let sr2 = SmsrKeys {
        tls_server: tls(
            &mut g,
            "tls-smsr2-server",
            "smsr2.rsp.test",
            &sr2_e.oid,
            tls_server("smsr2.rsp.test"),
        )?,
        tls_client: tls(
            &mut g,
            "tls-smsr2-client",
            "smsr2.rsp.test",
            &sr2_e.oid,
            X509Profile::TlsClient,
        )?,
        gp: g.gp(
            "sm-sr2",
            Curve::P256,
            EntityType::SmSr,
            sr2_e.oid.as_bytes().to_vec(),
            5,
            &ci,
        )?,
    };

    let mut manifest = Manifest {
        version: 1,
        generated_at: opts
            .now
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| WorldError::Manifest(e.to_string()))?,
        seed: opts.seed,
        oid_arc: OID_ARC.to_string(),
        master_key_file: MASTER_KEY_FILE.to_string(),
        ci: ci_e,
        ci_files,
        eum: eum_e,
        eum_files,
        eum_transport_key_file,
        eum_tls_client: w.x509(&eum_tls)?,
        tls_ca: tls_ca_files,
        sm_dp: dp_e,
        sm_dp_gp: w.gp(&dp_gp)?,
        sm_dp_tls_server: w.x509(&dp_srv)?,
        sm_dp_tls_client: w.x509(&dp_cli)?,
        sm_sr: sr_e,
        sm_sr_gp: w.gp(&sr_gp)?,
        sm_sr_tls_server: w.x509(&sr_srv)?,
        sm_sr_tls_client: w.x509(&sr_cli)?,
        sm_sr2: Some(SmsrEntry {
            entity: sr2_e,
            gp: w.gp(&sr2.gp)?,
            tls_server: w.x509(&sr2.tls_server)?,
            tls_client: w.x509(&sr2.tls_client)?,
        }),
        mnos: mno_e
            .into_iter()
            .zip(mno_ids.iter().zip(&mno_servers))
            .map(|(entity, (id, server))| {
                Ok(MnoEntry {
                    entity,
                    tls_client: w.x509(id)?,
                    tls_server: Some(w.x509(server)?),
                })
            })
            .collect::<Result<_, WorldError>>()?,
        euicc_owner: owner_e,
        euicc_owner_token_file,
        euiccs,
        files: Vec::new(),
    };
    manifest.files = w.files.clone();
    manifest.files.push(MANIFEST.to_string());
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| WorldError::Manifest(e.to_string()))?;
    w.write(MANIFEST, &json, false)?;
    World::load(out_dir)
}

fn read_private(dir: &Path, rel: &str) -> Result<zeroize::Zeroizing<String>, WorldError> {
    let path = dir.join(rel);
    keystore::check_private_file_mode(&path)?;
    Ok(zeroize::Zeroizing::new(
        std::fs::read_to_string(&path).map_err(|e| io(&path, e))?,
    ))
}

fn load_key(dir: &Path, f: &KeyCertFiles) -> Result<PrivateKey, WorldError> {
    let pem = read_private(dir, &f.key)?;
    PrivateKey::from_pkcs8_pem(&pem).map_err(|e: EcError| WorldError::Invalid {
        label: f.label.clone(),
        reason: e.to_string(),
    })
}

fn load_x509(dir: &Path, f: &KeyCertFiles) -> Result<X509Identity, WorldError> {
    let key = load_key(dir, f)?;
    let path = dir.join(&f.cert);
    let pem = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let cert = X509Certificate::from_pem(&pem).map_err(|source| WorldError::X509 {
        label: f.label.clone(),
        source,
    })?;
    if cert.public_key() != key.public_key() {
        return Err(WorldError::Invalid {
            label: f.label.clone(),
            reason: "certificate and private key do not match".into(),
        });
    }
    Ok(X509Identity {
        label: f.label.clone(),
        key,
        cert,
    })
}

fn load_gp(dir: &Path, f: &KeyCertFiles) -> Result<GpIdentity, WorldError> {
    let key = load_key(dir, f)?;
    let path = dir.join(&f.cert);
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let cert = keystore::read_gp_hex(&text).map_err(|reason| WorldError::Invalid {
        label: f.label.clone(),
        reason,
    })?;
    if &cert.body().public_key != key.public_key() {
        return Err(WorldError::Invalid {
            label: f.label.clone(),
            reason: "certificate and private key do not match".into(),
        });
    }
    Ok(GpIdentity {
        label: f.label.clone(),
        key,
        cert,
    })
}

fn hex_secret(label: &str, text: &str) -> Result<Secret, WorldError> {
    hex::decode(text.trim())
        .map(Secret::new)
        .map_err(|_| WorldError::Invalid {
            label: label.to_string(),
            reason: "not hex".into(),
        })
}

impl World {
    /// Loads a world written by [`generate`], checking that every key matches its certificate.
    pub fn load(dir: &Path) -> Result<World, WorldError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| WorldError::Manifest(e.to_string()))?;
        if m.version != 1 {
            return Err(WorldError::Manifest(format!(
                "unsupported version {}",
                m.version
            )));
        }
        let master_text = read_private(dir, &m.master_key_file)?;
        let master = MasterKeyring::parse(&master_text, &m.master_key_file)?;
        let transport = TransportKey::new(hex_secret(
            "EUM transport key",
            &read_private(dir, &m.eum_transport_key_file)?,
        )?)?;
        let token = Secret::new(
            read_private(dir, &m.euicc_owner_token_file)?
                .trim()
                .as_bytes()
                .to_vec(),
        );
        let mut euiccs = Vec::with_capacity(m.euiccs.len());
        for e in &m.euiccs {
            let s: EuiccSecretsFile = serde_json::from_str(&read_private(dir, &e.secrets_file)?)
                .map_err(|err| WorldError::Manifest(format!("{}: {err}", e.secrets_file)))?;
            euiccs.push(EuiccIdentity {
                eid: e.eid.clone(),
                msisdn: e.msisdn.clone(),
                ecasd: load_gp(dir, &e.ecasd)?,
                scp80: Scp80KeySet {
                    kvn: e.scp80_kvn,
                    kic: hex_secret(&e.secrets_file, &s.scp80_kic)?,
                    kid: hex_secret(&e.secrets_file, &s.scp80_kid)?,
                    kik: hex_secret(&e.secrets_file, &s.scp80_kik)?,
                },
                scp81_kvn: e.scp81_kvn,
                scp81_psk: hex_secret(&e.secrets_file, &s.scp81_psk)?,
            });
        }
        Ok(World {
            dir: dir.to_path_buf(),
            ci: load_x509(dir, &m.ci_files)?,
            eum: load_x509(dir, &m.eum_files)?,
            eum_transport_key: transport,
            eum_tls_client: load_x509(dir, &m.eum_tls_client)?,
            tls_ca: load_x509(dir, &m.tls_ca)?,
            sm_dp_gp: load_gp(dir, &m.sm_dp_gp)?,
            sm_dp_tls_server: load_x509(dir, &m.sm_dp_tls_server)?,
            sm_dp_tls_client: load_x509(dir, &m.sm_dp_tls_client)?,
            sm_sr_gp: load_gp(dir, &m.sm_sr_gp)?,
            sm_sr_tls_server: load_x509(dir, &m.sm_sr_tls_server)?,
            sm_sr_tls_client: load_x509(dir, &m.sm_sr_tls_client)?,
            sm_sr2: m
                .sm_sr2
                .as_ref()
                .map(|e| {
                    Ok::<_, WorldError>(SmsrKeys {
                        gp: load_gp(dir, &e.gp)?,
                        tls_server: load_x509(dir, &e.tls_server)?,
                        tls_client: load_x509(dir, &e.tls_client)?,
                    })
                })
                .transpose()?,
            mno_tls_clients: m
                .mnos
                .iter()
                .map(|mno| load_x509(dir, &mno.tls_client))
                .collect::<Result<_, _>>()?,
            mno_tls_servers: m
                .mnos
                .iter()
                .filter_map(|mno| mno.tls_server.as_ref())
                .map(|f| load_x509(dir, f))
                .collect::<Result<_, _>>()?,
            euicc_owner_token: token,
            master,
            euiccs,
            manifest: m,
        })
    }

    /// Chain-checks every certificate of the world at `now`: CI, EUM, each CERT.ECASD.ECKA, CERT.DP.ECDSA and
    /// CERT.SR.ECDSA through the SGP.02 chains; every TLS certificate against the TLS CA (signature, issuer,
    /// validity, CA flags).
    pub fn check_all(&self, now: OffsetDateTime) -> Result<(), WorldError> {
        let chain_err = |label: &str| {
            let label = label.to_string();
            move |source| WorldError::Chain { label, source }
        };
        chain::check_eum(&self.ci.cert, &self.eum.cert, now).map_err(chain_err("eum"))?;
        let dp = chain::check_smdp(&self.ci.cert, &self.sm_dp_gp.cert.encode(), now)
            .map_err(chain_err("sm-dp"))?;
        if dp.body().subject_id != self.manifest.sm_dp.oid.as_bytes() {
            return Err(WorldError::Invalid {
                label: "sm-dp".into(),
                reason: "GP subject id is not the entity OID".into(),
            });
        }
        for sr in self.smsrs() {
            let c = chain::check_smsr(&self.ci.cert, &sr.gp.cert.encode(), now)
                .map_err(chain_err(&sr.gp.label))?;
            if c.body().subject_id != sr.entity.oid.as_bytes() {
                return Err(WorldError::Invalid {
                    label: sr.gp.label.clone(),
                    reason: "GP subject id is not the entity OID".into(),
                });
            }
        }
        for e in &self.euiccs {
            let c = chain::check_ecasd(&self.ci.cert, &self.eum.cert, &e.ecasd.cert.encode(), now)
                .map_err(chain_err(&e.ecasd.label))?;
            if hex::encode(&c.body().subject_id) != e.eid || !eid_is_valid(&e.eid) {
                return Err(WorldError::Invalid {
                    label: e.ecasd.label.clone(),
                    reason: "ECASD subject id is not a valid EID of this eUICC".into(),
                });
            }
        }
        let ca = &self.tls_ca.cert;
        let tls_invalid = |label: &str, reason: String| WorldError::Invalid {
            label: label.to_string(),
            reason,
        };
        if !ca.is_ca() || ca.subject() == self.ci.cert.subject() {
            return Err(tls_invalid(
                "tls-ca",
                "not a CA separate from the CI".into(),
            ));
        }
        ca.verify_signed_by(ca)
            .map_err(|e| tls_invalid("tls-ca", e.to_string()))?;
        for id in self.tls_leaves() {
            let c = &id.cert;
            c.verify_signed_by(ca)
                .map_err(|e| tls_invalid(&id.label, e.to_string()))?;
            if c.issuer() != ca.subject()
                || c.authority_key_id() != ca.subject_key_id()
                || c.is_ca()
            {
                return Err(tls_invalid(&id.label, "not a leaf of the TLS CA".into()));
            }
            for cert in [c, ca] {
                if now < cert.not_before() || now > cert.not_after() {
                    return Err(tls_invalid(&id.label, format!("not valid at {now}")));
                }
            }
        }
        Ok(())
    }

    /// Every TLS leaf identity (servers and clients).
    pub fn tls_leaves(&self) -> Vec<&X509Identity> {
        let mut v = vec![
            &self.eum_tls_client,
            &self.sm_dp_tls_server,
            &self.sm_dp_tls_client,
            &self.sm_sr_tls_server,
            &self.sm_sr_tls_client,
        ];
        if let Some(sr2) = &self.sm_sr2 {
            v.extend([&sr2.tls_server, &sr2.tls_client]);
        }
        v.extend(self.mno_tls_clients.iter());
        v.extend(self.mno_tls_servers.iter());
        v
    }

    /// SM-SR `n` of the world (1: the `sm_sr*` fields; 2: the second SM-SR of SGP.02 §3.8, absent in older
    /// worlds); `None` for any other number.
    pub fn smsr(&self, n: u8) -> Option<SmsrIdentityRef<'_>> {
        let m = &self.manifest;
        match n {
            1 => Some(SmsrIdentityRef {
                number: 1,
                entity: &m.sm_sr,
                gp: &self.sm_sr_gp,
                gp_files: &m.sm_sr_gp,
                tls_server: &self.sm_sr_tls_server,
                tls_server_files: &m.sm_sr_tls_server,
                tls_client: &self.sm_sr_tls_client,
                tls_client_files: &m.sm_sr_tls_client,
            }),
            2 => {
                let (e, k) = (m.sm_sr2.as_ref()?, self.sm_sr2.as_ref()?);
                Some(SmsrIdentityRef {
                    number: 2,
                    entity: &e.entity,
                    gp: &k.gp,
                    gp_files: &e.gp,
                    tls_server: &k.tls_server,
                    tls_server_files: &e.tls_server,
                    tls_client: &k.tls_client,
                    tls_client_files: &e.tls_client,
                })
            }
            _ => None,
        }
    }

    /// CERT.SR.ECDSA of the world's SM-SR `n` (its OID as subject id) over `public_key`, faulty as `fault` says
    /// (SGP.02 §2.3.2; for testing an SM-SR change to an SM-SR whose certificate must be refused, §3.8).
    pub fn issue_faulty_cert_sr(
        &self,
        n: u8,
        public_key: &PublicKey,
        fault: CertSrFault,
        now: OffsetDateTime,
    ) -> Result<GpCertificate, WorldError> {
        let sr = self.smsr(n).ok_or_else(|| WorldError::Invalid {
            label: format!("SM-SR {n}"),
            reason: "the world has no such SM-SR".into(),
        })?;
        let mut g = Gen { rng: os_rng(), now };
        let today = now.date();
        let foreign;
        let (issuer, validity) = match fault {
            CertSrFault::ForeignCi => {
                let p = g.params("RSP Foreign Test CI", None, 30, X509Profile::CiRoot);
                foreign = g.root("foreign-ci", p)?;
                (&foreign, (today, today + Duration::days(365 * 5)))
            }
            CertSrFault::Expired => (
                &self.ci,
                (today - Duration::days(730), today - Duration::days(1)),
            ),
        };
        g.gp_cert(
            issuer,
            EntityType::SmSr,
            sr.entity.oid.as_bytes().to_vec(),
            public_key,
            validity,
        )
    }

    /// Every SM-SR of the world, SM-SR 1 first (SGP.02 §3.8).
    pub fn smsrs(&self) -> Vec<SmsrIdentityRef<'_>> {
        (1..=2).filter_map(|n| self.smsr(n)).collect()
    }

    /// A software key store over the world's key and certificate files, sealing with its master key ring.
    pub fn key_store(&self) -> Result<SoftwareKeyStore, WorldError> {
        let master_text = read_private(&self.dir, &self.manifest.master_key_file)?;
        let master = MasterKeyring::parse(&master_text, &self.manifest.master_key_file)?;
        Ok(SoftwareKeyStore::load_dir(&self.dir, master)?)
    }
}
