//! X.509 certificates of the SGP.02 PKI (SGP.02 §2.3.2: the CI root and the EUM certificate; RFC 5280) and of
//! the TLS PKI of the ES interfaces (SGP.02 §2.2; mutual TLS on ES1–ES7).
//!
//! Created with rcgen (ECDSA-SHA256 on P-256, signed by our own [`PrivateKey`] so that seeded worlds are
//! reproducible), read and signature-checked with x509-parser. Key identifiers are SHA-1 of the public point
//! (RFC 5280 §4.2.1.2 method (1)): the same value a GP certificate carries as CA id (`42`) and AKI (`C9`).

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
    SigningKey,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::ecc::{Curve, PrivateKey, PublicKey};

/// Errors creating or reading an X.509 certificate.
#[derive(Debug, thiserror::Error)]
pub enum X509Error {
    /// The DER (or PEM) is not an X.509 certificate.
    #[error("not a valid X.509 certificate: {0}")]
    Parse(String),
    /// rcgen refused the parameters.
    #[error("cannot create the X.509 certificate {subject}: {reason}")]
    Create {
        /// Common name of the certificate being created.
        subject: String,
        /// rcgen's reason.
        reason: String,
    },
    /// The certificate's key is not EC on a supported curve, or X.509 signing was asked on a curve other than P-256.
    #[error("X.509 certificate {subject}: unsupported key: {reason}")]
    UnsupportedKey {
        /// Subject of the certificate.
        subject: String,
        /// What is unsupported.
        reason: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error(
        "X.509 certificate {subject}: signature does not verify with the key of {issuer}: {reason}"
    )]
    BadSignature {
        /// Subject of the certificate checked.
        subject: String,
        /// Subject of the issuer certificate used.
        issuer: String,
        /// x509-parser's reason.
        reason: String,
    },
}

/// Key usage bits (RFC 5280 §4.2.1.3) as x509-parser numbers them: bit 0 = digitalSignature … bit 8 = decipherOnly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsageBits(pub u16);

impl KeyUsageBits {
    /// digitalSignature.
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    /// keyAgreement.
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    /// keyCertSign.
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    /// cRLSign.
    pub const CRL_SIGN: u16 = 1 << 6;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u16) -> bool {
        self.0 & mask == mask
    }
}

impl std::fmt::Display for KeyUsageBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [&str; 9] = [
            "digitalSignature",
            "nonRepudiation",
            "keyEncipherment",
            "dataEncipherment",
            "keyAgreement",
            "keyCertSign",
            "cRLSign",
            "encipherOnly",
            "decipherOnly",
        ];
        let names: Vec<&str> = NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// A parsed X.509 certificate owning its DER, with the fields the SGP.02 chain checks use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    serial: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    public_key: PublicKey,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    key_usage: Option<KeyUsageBits>,
    is_ca: bool,
}

fn parse_err(e: impl std::fmt::Display) -> X509Error {
    X509Error::Parse(e.to_string())
}

impl X509Certificate {
    /// Parses a DER certificate (RFC 5280 §4.1); the key must be EC on P-256 or brainpoolP256r1.
    pub fn from_der(der: &[u8]) -> Result<Self, X509Error> {
        let (rest, cert) =
            x509_parser::certificate::X509Certificate::from_der(der).map_err(parse_err)?;
        if !rest.is_empty() {
            return Err(X509Error::Parse(format!(
                "{} bytes after the certificate",
                rest.len()
            )));
        }
        let subject = cert.subject().to_string();
        let spki = cert.public_key();
        let curve_oid = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        let curve = curve_oid
            .as_deref()
            .and_then(Curve::from_oid)
            .ok_or_else(|| X509Error::UnsupportedKey {
                subject: subject.clone(),
                reason: format!(
                    "key algorithm {} with parameters {}",
                    spki.algorithm.algorithm.to_id_string(),
                    curve_oid.as_deref().unwrap_or("(none)")
                ),
            })?;
        let public_key =
            PublicKey::from_sec1(curve, &spki.subject_public_key.data).map_err(|e| {
                X509Error::UnsupportedKey {
                    subject: subject.clone(),
                    reason: e.to_string(),
                }
            })?;
        let mut subject_key_id = None;
        let mut authority_key_id = None;
        let mut key_usage = None;
        for ext in cert.iter_extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => subject_key_id = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                ParsedExtension::KeyUsage(k) => key_usage = Some(KeyUsageBits(k.flags)),
                _ => {}
            }
        }
        Ok(X509Certificate {
            der: der.to_vec(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial().to_vec(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            is_ca: cert.is_ca(),
            subject,
            public_key,
            subject_key_id,
            authority_key_id,
            key_usage,
        })
    }

    /// Parses a PEM certificate ("CERTIFICATE", RFC 7468 §5).
    pub fn from_pem(pem: &str) -> Result<Self, X509Error> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(parse_err)?;
        if p.label != "CERTIFICATE" {
            return Err(X509Error::Parse(format!("PEM label {}", p.label)));
        }
        Self::from_der(&p.contents)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (RFC 7468 §5).
    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    /// The subject distinguished name (RFC 4514 text).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer distinguished name (RFC 4514 text).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The serial number's content octets.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// notBefore (RFC 5280 §4.1.2.5).
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// notAfter (RFC 5280 §4.1.2.5).
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// SubjectKeyIdentifier (RFC 5280 §4.2.1.2), if present.
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_deref()
    }

    /// AuthorityKeyIdentifier keyIdentifier (RFC 5280 §4.2.1.1), if present.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }

    /// KeyUsage (RFC 5280 §4.2.1.3), if present.
    pub fn key_usage(&self) -> Option<KeyUsageBits> {
        self.key_usage
    }

    /// BasicConstraints cA (RFC 5280 §4.2.1.9).
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// SHA-256 of the DER: the TLS client-certificate fingerprint the entity registry keeps.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// Verifies this certificate's signature with `issuer`'s public key (RFC 5280 §6.1.3 (a)(1)), via
    /// x509-parser.
    pub fn verify_signed_by(&self, issuer: &X509Certificate) -> Result<(), X509Error> {
        let (_, me) =
            x509_parser::certificate::X509Certificate::from_der(&self.der).map_err(parse_err)?;
        let (_, them) =
            x509_parser::certificate::X509Certificate::from_der(&issuer.der).map_err(parse_err)?;
        me.verify_signature(Some(them.public_key()))
            .map_err(|e| X509Error::BadSignature {
                subject: self.subject.clone(),
                issuer: issuer.subject.clone(),
                reason: e.to_string(),
            })
    }
}

/// PEM text of `der` under `label` (RFC 7468), lines of 64 characters.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The role an X.509 certificate plays, which fixes its extensions (SGP.02 §2.3.2 and §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum X509Profile {
    /// The CI root: self-signed CA, keyCertSign + cRLSign.
    CiRoot,
    /// The EUM certificate: CA with path length 0 (signs CERT.ECASD.ECKA), keyCertSign + digitalSignature (EIS
    /// signature, SGP.02 §5.1.1 ES1).
    Eum,
    /// The TLS CA of the ES interfaces: self-signed CA, separate from the CI.
    TlsCa,
    /// A TLS server certificate with the given DNS names and IP addresses as SubjectAltName.
    TlsServer {
        /// DNS names.
        dns_names: Vec<String>,
        /// IP addresses.
        ip_addresses: Vec<IpAddr>,
    },
    /// A TLS client certificate (mutual TLS on ES1–ES7).
    TlsClient,
}

/// What to put in a new X.509 certificate besides its key and issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Params {
    /// Subject commonName.
    pub common_name: String,
    /// Subject organizationName.
    pub organization: String,
    /// Subject organizationalUnitName: the entity's OID (SGP.02 §2.3 entity identifiers), if any.
    pub entity_oid: Option<String>,
    /// Serial number content octets (positive; at most 20 bytes).
    pub serial: Vec<u8>,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// Role and extensions.
    pub profile: X509Profile,
}

/// rcgen signing adapter over our P-256 [`PrivateKey`] (deterministic ECDSA).
struct RcgenKey<'a> {
    key: &'a PrivateKey,
}

impl PublicKeyData for RcgenKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.key.public_key().as_sec1_uncompressed()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for RcgenKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign_der(msg))
    }
}

/// The subject public key as rcgen sees it.
struct RcgenPublic<'a> {
    key: &'a PublicKey,
}

impl PublicKeyData for RcgenPublic<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.key.as_sec1_uncompressed()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

fn require_p256(subject: &str, curve: Curve) -> Result<(), X509Error> {
    if curve == Curve::P256 {
        Ok(())
    } else {
        Err(X509Error::UnsupportedKey {
            subject: subject.to_string(),
            reason: format!("X.509 certificates of this PKI are P-256 only, not {curve}"),
        })
    }
}

fn rcgen_params(p: &X509Params, subject_key: &PublicKey) -> Result<CertificateParams, X509Error> {
    let create_err = |e: rcgen::Error| X509Error::Create {
        subject: p.common_name.clone(),
        reason: e.to_string(),
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, p.common_name.as_str());
    dn.push(DnType::OrganizationName, p.organization.as_str());
    if let Some(oid) = &p.entity_oid {
        dn.push(DnType::OrganizationalUnitName, oid.as_str());
    }
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(&p.serial));
    params.not_before = p.not_before;
    params.not_after = p.not_after;
    params.key_identifier_method = KeyIdMethod::PreSpecified(subject_key.key_identifier().to_vec());
    match &p.profile {
        X509Profile::CiRoot | X509Profile::TlsCa => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        X509Profile::Eum => {
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ];
            params.use_authority_key_identifier_extension = true;
        }
        X509Profile::TlsServer {
            dns_names,
            ip_addresses,
        } => {
            params.is_ca = IsCa::ExplicitNoCa;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.use_authority_key_identifier_extension = true;
            for d in dns_names {
                params
                    .subject_alt_names
                    .push(SanType::DnsName(d.clone().try_into().map_err(create_err)?));
            }
            for ip in ip_addresses {
                params.subject_alt_names.push(SanType::IpAddress(*ip));
            }
        }
        X509Profile::TlsClient => {
            params.is_ca = IsCa::ExplicitNoCa;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params.use_authority_key_identifier_extension = true;
        }
    }
    Ok(params)
}

/// Creates a self-signed certificate (the CI root or the TLS CA; RFC 5280 §3.2 self-issued).
pub fn issue_self_signed(
    params: &X509Params,
    key: &PrivateKey,
) -> Result<X509Certificate, X509Error> {
    require_p256(&params.common_name, key.curve())?;
    let rp = rcgen_params(params, key.public_key())?;
    let cert = rp
        .self_signed(&RcgenKey { key })
        .map_err(|e| X509Error::Create {
            subject: params.common_name.clone(),
            reason: e.to_string(),
        })?;
    X509Certificate::from_der(cert.der())
}

/// Creates a certificate for `subject_key` signed by `issuer_key`, the key of `issuer` (RFC 5280 §4.1); the
/// issuer name and AuthorityKeyIdentifier come from `issuer`.
pub fn issue(
    params: &X509Params,
    subject_key: &PublicKey,
    issuer: &X509Certificate,
    issuer_key: &PrivateKey,
) -> Result<X509Certificate, X509Error> {
    require_p256(&params.common_name, subject_key.curve())?;
    require_p256(issuer.subject(), issuer_key.curve())?;
    if issuer_key.public_key() != issuer.public_key() {
        return Err(X509Error::Create {
            subject: params.common_name.clone(),
            reason: format!("the signing key is not the key of {}", issuer.subject()),
        });
    }
    let rp = rcgen_params(params, subject_key)?;
    let create_err = |e: rcgen::Error| X509Error::Create {
        subject: params.common_name.clone(),
        reason: e.to_string(),
    };
    let issuer = Issuer::from_ca_cert_der(&issuer.der().into(), RcgenKey { key: issuer_key })
        .map_err(create_err)?;
    let cert = rp
        .signed_by(&RcgenPublic { key: subject_key }, &issuer)
        .map_err(create_err)?;
    X509Certificate::from_der(cert.der())
}
