//! The SGP.02 PKI and cryptographic primitives (GSMA SGP.02 §2.3, §4.1.3; GP Amendments D and E).
//!
//! Owns certificates (GP `7F21` and X.509), chains CI → EUM → ECASD and CI → SM-DP/SM-SR, ECDSA and ECKA on
//! NIST P-256 and brainpoolP256r1, KDFs, secrets at rest and the key store abstraction. Knows nothing of HTTP
//! or SQL.

pub mod c14n;
pub mod chain;
pub mod ecc;
pub mod gp_cert;
pub mod kdf;
pub mod keystore;
pub mod secrets;
pub mod tlv;
pub mod world;
pub mod x509;
pub mod xmldsig;

/// Errors of the cryptographic primitives.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A key, block or field has a length the primitive cannot take.
    #[error("invalid length of {0}")]
    InvalidLength(&'static str),
}
