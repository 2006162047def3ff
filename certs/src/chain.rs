//! Certificate chain checks of the SGP.02 PKI (SGP.02 §2.3.2; GP Amendment E §4): CI (X.509 root) → EUM
//! (X.509) → CERT.ECASD.ECKA (GP), and CI → CERT.DP.ECDSA / CERT.SR.ECDSA (GP).
//!
//! Each check verifies the signature, the issuer linkage (issuer name for X.509; CA id `42` and AKI `C9` equal
//! to the issuer's SubjectKeyIdentifier for GP), validity at an injected `now` (never the wall clock), key usage,
//! CA flags, the GP entity type and the curve reference. Errors name the certificate and the reason, and map
//! to an SGP.02 status (subject and reason codes, SGP.02 §5.1.6.4) with [`ChainError::sgp02_status`].

use std::fmt;

use time::OffsetDateTime;

use crate::ecc::{Curve, EcError};
use crate::gp_cert::{EntityType, GpCertError, GpCertificate};
use crate::x509::{KeyUsageBits, X509Certificate};

/// Which certificate of a chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// The CI root certificate (X.509).
    Ci,
    /// The EUM certificate (X.509).
    Eum,
    /// CERT.ECASD.ECKA (GP).
    Ecasd,
    /// CERT.DP.ECDSA (GP).
    SmDp,
    /// CERT.SR.ECDSA (GP).
    SmSr,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertRole::Ci => "CI certificate",
            CertRole::Eum => "EUM certificate",
            CertRole::Ecasd => "CERT.ECASD.ECKA",
            CertRole::SmDp => "CERT.DP.ECDSA",
            CertRole::SmSr => "CERT.SR.ECDSA",
        })
    }
}

impl CertRole {
    fn entity_type(self) -> Option<EntityType> {
        match self {
            CertRole::Ecasd => Some(EntityType::Ecasd),
            CertRole::SmDp => Some(EntityType::SmDp),
            CertRole::SmSr => Some(EntityType::SmSr),
            CertRole::Ci | CertRole::Eum => None,
        }
    }
}

/// Why a chain check failed, and on which certificate.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// `now` is after the certificate's end of validity.
    #[error("{which} expired at {not_after}")]
    Expired {
        /// The certificate.
        which: CertRole,
        /// Its end of validity.
        not_after: OffsetDateTime,
    },
    /// `now` is before the certificate's start of validity.
    #[error("{which} is not valid before {not_before}")]
    NotYetValid {
        /// The certificate.
        which: CertRole,
        /// Its start of validity.
        not_before: OffsetDateTime,
    },
    /// The signature does not verify with the issuer's key.
    #[error("{which}: signature does not verify with the issuer's key ({reason})")]
    BadSignature {
        /// The certificate.
        which: CertRole,
        /// Verifier's detail.
        reason: String,
    },
    /// The issuer named by the certificate (name, CA id or AKI) is not the expected issuer.
    #[error("{which}: {field} is {found}, expected {expected} (the issuer's)")]
    WrongIssuer {
        /// The certificate.
        which: CertRole,
        /// Which field links to the issuer: `issuer name`, `CA id (42)`, `AKI (C9)` or `AuthorityKeyIdentifier`.
        field: &'static str,
        /// The issuer's value.
        expected: String,
        /// The certificate's value.
        found: String,
    },
    /// The key usage does not allow the certificate's role.
    #[error("{which}: key usage {found}, expected {expected}")]
    WrongKeyUsage {
        /// The certificate.
        which: CertRole,
        /// What the role needs.
        expected: String,
        /// What the certificate carries.
        found: String,
    },
    /// The curve is not supported (key parameter reference other than `00`/`03`, or a non-P-256 X.509 key).
    #[error("{which}: unsupported curve reference {reference:#04x}")]
    UnsupportedCurve {
        /// The certificate.
        which: CertRole,
        /// The key parameter reference found.
        reference: u8,
    },
    /// The key parameter reference names a supported curve but the point does not lie on it, or the key is on
    /// a curve the role does not allow.
    #[error("{which}: public key is not on {declared}")]
    WrongCurve {
        /// The certificate.
        which: CertRole,
        /// The curve the certificate declares (or the role requires).
        declared: Curve,
    },
    /// An issuer certificate without the CA flag.
    #[error("{which} is not a CA certificate")]
    NotACa {
        /// The certificate.
        which: CertRole,
    },
    /// A GP certificate of the wrong entity type (`C8`).
    #[error("{which}: entity type {found:?}, expected {expected:?}")]
    WrongEntityType {
        /// The certificate.
        which: CertRole,
        /// Entity type the role needs.
        expected: EntityType,
        /// Entity type found.
        found: EntityType,
    },
    /// The certificate cannot be decoded.
    #[error("{which}: malformed: {reason}")]
    Malformed {
        /// The certificate.
        which: CertRole,
        /// Decoder's reason.
        reason: String,
    },
}

/// An SGP.02 status for a failed function (SGP.02 §5.1.6.4 StatusCodeData): subject code, reason code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sgp02Status {
    /// Subject code, e.g. `8.5.2`.
    pub subject_code: &'static str,
    /// Reason code, e.g. `6.3`.
    pub reason_code: &'static str,
    /// Human-readable message naming the certificate and the reason.
    pub message: String,
}

/// Subject code of CERT.DP.ECDSA failures. [P]: the notes only confirm 8.5.2 and 8.5.3; 8.5.1 is the free slot of
/// the same family.
pub const SUBJECT_SM_DP_CERTIFICATE: &str = "8.5.1";
/// Subject code of ECASD certificate failures, including its EUM certificate (SGP.02 §5.1.6.4).
pub const SUBJECT_ECASD_CERTIFICATE: &str = "8.5.2";
/// Subject code of CERT.SR.ECDSA failures (SGP.02 §5.1.6.4).
pub const SUBJECT_SM_SR_CERTIFICATE: &str = "8.5.3";
/// Subject code when the local trust anchor (the CI) is unusable: function provider (SGP.02 §5.1.6.4).
pub const SUBJECT_FUNCTION_PROVIDER: &str = "1.2";
/// Reason "Verification failed". [P]: number as in SGP.22's list of the same family.
pub const REASON_VERIFICATION_FAILED: &str = "6.1";
/// Reason "Expired". [P]: number as in SGP.22's list of the same family.
pub const REASON_EXPIRED: &str = "6.3";
/// Reason "Execution error" (SGP.02 §5.1.6.4).
pub const REASON_EXECUTION_ERROR: &str = "4.2";

impl ChainError {
    /// The certificate the error is about.
    pub fn which(&self) -> CertRole {
        match self {
            ChainError::Expired { which, .. }
            | ChainError::NotYetValid { which, .. }
            | ChainError::BadSignature { which, .. }
            | ChainError::WrongIssuer { which, .. }
            | ChainError::WrongKeyUsage { which, .. }
            | ChainError::UnsupportedCurve { which, .. }
            | ChainError::WrongCurve { which, .. }
            | ChainError::NotACa { which }
            | ChainError::WrongEntityType { which, .. }
            | ChainError::Malformed { which, .. } => *which,
        }
    }

    /// Maps the error to an SGP.02 status (SGP.02 §5.1.6.4): 8.5.2 for the ECASD chain (ECASD and EUM
    /// certificates), 8.5.3 for CERT.SR.ECDSA, 8.5.1 for CERT.DP.ECDSA; reason 6.3 when expired, else 6.1. A
    /// failing CI root is the provider's own configuration: 1.2 / 4.2.
    pub fn sgp02_status(&self) -> Sgp02Status {
        let subject_code = match self.which() {
            CertRole::Ci => SUBJECT_FUNCTION_PROVIDER,
            CertRole::Eum | CertRole::Ecasd => SUBJECT_ECASD_CERTIFICATE,
            CertRole::SmDp => SUBJECT_SM_DP_CERTIFICATE,
            CertRole::SmSr => SUBJECT_SM_SR_CERTIFICATE,
        };
        let reason_code = match (self.which(), self) {
            (CertRole::Ci, _) => REASON_EXECUTION_ERROR,
            (_, ChainError::Expired { .. }) => REASON_EXPIRED,
            _ => REASON_VERIFICATION_FAILED,
        };
        Sgp02Status {
            subject_code,
            reason_code,
            message: self.to_string(),
        }
    }
}

fn check_validity(
    which: CertRole,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), ChainError> {
    if now < not_before {
        return Err(ChainError::NotYetValid { which, not_before });
    }
    if now > not_after {
        return Err(ChainError::Expired { which, not_after });
    }
    Ok(())
}

fn check_x509_ca(which: CertRole, cert: &X509Certificate) -> Result<(), ChainError> {
    if cert.public_key().curve() != Curve::P256 {
        return Err(ChainError::WrongCurve {
            which,
            declared: Curve::P256,
        });
    }
    if !cert.is_ca() {
        return Err(ChainError::NotACa { which });
    }
    let ku = cert.key_usage().unwrap_or_default();
    if !ku.has(KeyUsageBits::KEY_CERT_SIGN) {
        return Err(ChainError::WrongKeyUsage {
            which,
            expected: "keyCertSign".into(),
            found: ku.to_string(),
        });
    }
    Ok(())
}

fn hex_opt(v: Option<&[u8]>) -> String {
    v.map(hex::encode_upper)
        .unwrap_or_else(|| "(absent)".into())
}

/// Checks the CI root (SGP.02 §2.3.2): self-issued, self-signed, CA with keyCertSign, P-256, valid at `now`.
pub fn check_ci(ci: &X509Certificate, now: OffsetDateTime) -> Result<(), ChainError> {
    let which = CertRole::Ci;
    if ci.issuer() != ci.subject() {
        return Err(ChainError::WrongIssuer {
            which,
            field: "issuer name",
            expected: ci.subject().to_string(),
            found: ci.issuer().to_string(),
        });
    }
    ci.verify_signed_by(ci)
        .map_err(|e| ChainError::BadSignature {
            which,
            reason: e.to_string(),
        })?;
    check_x509_ca(which, ci)?;
    check_validity(which, ci.not_before(), ci.not_after(), now)
}

/// Checks the EUM certificate against the CI (SGP.02 §2.3.2): CI checks, issuer name, AKI = CI SKI, CI
/// signature, CA with keyCertSign, P-256, valid at `now`.
pub fn check_eum(
    ci: &X509Certificate,
    eum: &X509Certificate,
    now: OffsetDateTime,
) -> Result<(), ChainError> {
    check_ci(ci, now)?;
    let which = CertRole::Eum;
    if eum.issuer() != ci.subject() {
        return Err(ChainError::WrongIssuer {
            which,
            field: "issuer name",
            expected: ci.subject().to_string(),
            found: eum.issuer().to_string(),
        });
    }
    if eum.authority_key_id() != ci.subject_key_id() {
        return Err(ChainError::WrongIssuer {
            which,
            field: "AuthorityKeyIdentifier",
            expected: hex_opt(ci.subject_key_id()),
            found: hex_opt(eum.authority_key_id()),
        });
    }
    eum.verify_signed_by(ci)
        .map_err(|e| ChainError::BadSignature {
            which,
            reason: e.to_string(),
        })?;
    check_x509_ca(which, eum)?;
    check_validity(which, eum.not_before(), eum.not_after(), now)
}

fn decode_gp(which: CertRole, bytes: &[u8]) -> Result<GpCertificate, ChainError> {
    GpCertificate::decode(bytes).map_err(|e| match e {
        GpCertError::PublicKey {
            source: EcError::UnsupportedCurve(reference),
            ..
        } => ChainError::UnsupportedCurve { which, reference },
        GpCertError::PublicKey {
            source: EcError::InvalidPoint { curve },
            ..
        } => ChainError::WrongCurve {
            which,
            declared: curve,
        },
        other => ChainError::Malformed {
            which,
            reason: other.to_string(),
        },
    })
}

/// Checks a GP certificate issued by `issuer` (GP Amendment E §4; wire-profile §6): entity type, CA id and AKI
/// equal to the issuer's SKI, issuer signature, key usage, validity at `now`.
fn check_gp(
    which: CertRole,
    bytes: &[u8],
    issuer: &X509Certificate,
    now: OffsetDateTime,
) -> Result<GpCertificate, ChainError> {
    let cert = decode_gp(which, bytes)?;
    let body = cert.body();
    if let Some(expected) = which.entity_type()
        && body.entity_type != expected
    {
        return Err(ChainError::WrongEntityType {
            which,
            expected,
            found: body.entity_type,
        });
    }
    let ski = issuer.subject_key_id();
    if Some(body.ca_id.as_slice()) != ski {
        return Err(ChainError::WrongIssuer {
            which,
            field: "CA id (42)",
            expected: hex_opt(ski),
            found: hex::encode_upper(&body.ca_id),
        });
    }
    if Some(body.authority_key_id.as_slice()) != ski {
        return Err(ChainError::WrongIssuer {
            which,
            field: "AKI (C9)",
            expected: hex_opt(ski),
            found: hex::encode_upper(&body.authority_key_id),
        });
    }
    cert.verify_signature(issuer.public_key())
        .map_err(|e| ChainError::BadSignature {
            which,
            reason: e.to_string(),
        })?;
    let expected_usage = body.entity_type.expected_key_usage();
    if body.key_usage != expected_usage {
        return Err(ChainError::WrongKeyUsage {
            which,
            expected: format!("{expected_usage:04X}"),
            found: format!("{:04X}", body.key_usage),
        });
    }
    check_validity(which, body.not_before(), body.not_after(), now)?;
    Ok(cert)
}

/// Checks CERT.ECASD.ECKA through CI → EUM → ECASD (SGP.02 §2.3.2; §3.9 EIS registration). The caller compares
/// the returned certificate's subject id with the EIS's EID.
pub fn check_ecasd(
    ci: &X509Certificate,
    eum: &X509Certificate,
    ecasd: &[u8],
    now: OffsetDateTime,
) -> Result<GpCertificate, ChainError> {
    check_eum(ci, eum, now)?;
    check_gp(CertRole::Ecasd, ecasd, eum, now)
}

/// Checks CERT.DP.ECDSA through CI → SM-DP (SGP.02 §2.3.2; §3.1.2 key establishment).
pub fn check_smdp(
    ci: &X509Certificate,
    cert_dp: &[u8],
    now: OffsetDateTime,
) -> Result<GpCertificate, ChainError> {
    check_ci(ci, now)?;
    check_gp(CertRole::SmDp, cert_dp, ci, now)
}

/// Checks CERT.SR.ECDSA through CI → SM-SR (SGP.02 §2.3.2; §3.8 SM-SR change, ES7.AuthenticateSMSR).
pub fn check_smsr(
    ci: &X509Certificate,
    cert_sr: &[u8],
    now: OffsetDateTime,
) -> Result<GpCertificate, ChainError> {
    check_ci(ci, now)?;
    check_gp(CertRole::SmSr, cert_sr, ci, now)
}
