//! Encryption of output-file secrets for the MNO (DESIGN §4 "output files"): ECIES on P-256 towards the public
//! key of the MNO's certificate (SEC 1 v2 §5.1 with the choices below), one ephemeral key per file.
//!
//! - Key agreement: ephemeral P-256 key pair (e, E); Z = x-coordinate of e·Q, Q the MNO's public key (SEC 1 §3.3.1,
//!   BSI TR-03111 ECKA-DH).
//! - KDF: ANSI X9.63 with SHA-256, `SharedInfo = "rsp-order-export-v1" ‖ E ‖ Q` (E and Q uncompressed SEC1,
//!   65 bytes each), 32 bytes out → an AES-256 key.
//! - Each row: AES-256-GCM (NIST SP 800-38D) with a 96-bit nonce `00000000 ‖ row number (u64, big-endian)`
//!   (unique under the per-file key), associated data = the row's ICCID (ASCII), so a value moved to another
//!   row does not decrypt. The cell holds base64 (RFC 4648 §4, padded) of `nonce ‖ ciphertext ‖ tag`.
//! - The file carries E in hex in its `SECRETS_EPK` column (the same on every row).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certs::ecc::{Curve, EcError, PrivateKey, PublicKey};
use certs::kdf::x963_sha256;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// The label at the start of the X9.63 SharedInfo.
pub const LABEL: &[u8] = b"rsp-order-export-v1";

/// Errors of output-file encryption and decryption (never carrying key material or clear values).
#[derive(Debug, thiserror::Error)]
pub enum EciesError {
    /// The MNO key is not on P-256.
    #[error("the MNO key is on {0}, output files are encrypted for P-256 keys only")]
    Curve(Curve),
    /// Key agreement failed (invalid point, curve mismatch).
    #[error("key agreement: {0}")]
    KeyAgreement(#[from] EcError),
    /// A cell or the ephemeral key is not in the documented format.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A cell did not authenticate (wrong key, tampered, or moved from another row).
    #[error(
        "the secrets of ICCID {iccid} do not decrypt with this key (wrong key, tampered or moved)"
    )]
    Unauthentic {
        /// The row's ICCID.
        iccid: String,
    },
    /// AES-GCM refused to encrypt (cannot happen for valid keys; reported rather than hidden).
    #[error("AES-GCM encryption failed")]
    Encrypt,
}

fn derive(z: &[u8], ephemeral: &[u8], recipient: &[u8]) -> Result<Aes256Gcm, EciesError> {
    let mut info = Vec::with_capacity(LABEL.len() + 130);
    info.extend_from_slice(LABEL);
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let key = x963_sha256(z, &info, 32);
    Aes256Gcm::new_from_slice(&key).map_err(|_| EciesError::Encrypt)
}

fn nonce(row: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&row.to_be_bytes());
    n
}

/// Encrypts the secrets of one output file for one MNO key.
pub struct Encryptor {
    cipher: Aes256Gcm,
    ephemeral: [u8; 65],
    row: u64,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("ephemeral", &hex::encode_upper(self.ephemeral))
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// A fresh ephemeral key agreed with `recipient` (the MNO's P-256 certificate key).
    pub fn new<R: CryptoRng + ?Sized>(
        recipient: &PublicKey,
        rng: &mut R,
    ) -> Result<Encryptor, EciesError> {
        if recipient.curve() != Curve::P256 {
            return Err(EciesError::Curve(recipient.curve()));
        }
        let e = PrivateKey::generate(Curve::P256, rng);
        let z = e.ecka(recipient)?;
        let ephemeral = e.public_key().to_sec1_uncompressed();
        let cipher = derive(z.as_bytes(), &ephemeral, recipient.as_sec1_uncompressed())?;
        Ok(Encryptor {
            cipher,
            ephemeral,
            row: 0,
        })
    }

    /// The ephemeral public key E, uncompressed SEC1, upper-case hex (the `SECRETS_EPK` column).
    pub fn ephemeral_hex(&self) -> String {
        hex::encode_upper(self.ephemeral)
    }

    /// Encrypts the next row's secrets, bound to its ICCID; returns the base64 cell.
    pub fn seal(&mut self, iccid: &str, plaintext: &[u8]) -> Result<String, EciesError> {
        self.row += 1;
        let n = nonce(self.row);
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(n),
                Payload {
                    msg: plaintext,
                    aad: iccid.as_bytes(),
                },
            )
            .map_err(|_| EciesError::Encrypt)?;
        let mut cell = n.to_vec();
        cell.extend_from_slice(&ct);
        Ok(STANDARD.encode(cell))
    }
}

/// Decrypts the secrets of an output file with the MNO's private key (what `rsp order decrypt` does).
pub struct Decryptor {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decryptor([redacted])")
    }
}

impl Decryptor {
    /// Agrees the file key from the MNO's private key and the file's ephemeral key (hex, `SECRETS_EPK`).
    pub fn new(key: &PrivateKey, ephemeral_hex: &str) -> Result<Decryptor, EciesError> {
        if key.curve() != Curve::P256 {
            return Err(EciesError::Curve(key.curve()));
        }
        let bytes = hex::decode(ephemeral_hex.trim())
            .map_err(|_| EciesError::Malformed("SECRETS_EPK (not hex)"))?;
        let e = PublicKey::from_sec1(Curve::P256, &bytes)?;
        let z = key.ecka(&e)?;
        let cipher = derive(
            z.as_bytes(),
            e.as_sec1_uncompressed(),
            key.public_key().as_sec1_uncompressed(),
        )?;
        Ok(Decryptor { cipher })
    }

    /// Decrypts one cell of the row with this ICCID.
    pub fn open(&self, iccid: &str, cell: &str) -> Result<Zeroizing<Vec<u8>>, EciesError> {
        let raw = STANDARD
            .decode(cell.trim())
            .map_err(|_| EciesError::Malformed("SECRETS cell (not base64)"))?;
        if raw.len() < 12 + 16 {
            return Err(EciesError::Malformed("SECRETS cell (too short)"));
        }
        let mut n = [0u8; 12];
        n.copy_from_slice(&raw[..12]);
        self.cipher
            .decrypt(
                &Nonce::from(n),
                Payload {
                    msg: &raw[12..],
                    aad: iccid.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| EciesError::Unauthentic {
                iccid: iccid.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_the_iccid_and_the_key() {
        let mno = PrivateKey::generate(Curve::P256, &mut rand::rng());
        let mut enc = Encryptor::new(mno.public_key(), &mut rand::rng()).unwrap();
        let a = enc.seal("8988000000000000001", b"{\"K\":\"00\"}").unwrap();
        let b = enc.seal("8988000000000000002", b"{\"K\":\"00\"}").unwrap();
        assert_ne!(a, b, "nonces differ per row");
        let dec = Decryptor::new(&mno, &enc.ephemeral_hex()).unwrap();
        assert_eq!(
            &*dec.open("8988000000000000001", &a).unwrap(),
            b"{\"K\":\"00\"}"
        );
        assert!(matches!(
            dec.open("8988000000000000002", &a),
            Err(EciesError::Unauthentic { .. })
        ));
        let other = PrivateKey::generate(Curve::P256, &mut rand::rng());
        let wrong = Decryptor::new(&other, &enc.ephemeral_hex()).unwrap();
        assert!(wrong.open("8988000000000000001", &a).is_err());
        assert!(Decryptor::new(&mno, "04ABCD").is_err());
    }

    #[test]
    fn brainpool_keys_are_refused() {
        let bp = PrivateKey::generate(Curve::BrainpoolP256r1, &mut rand::rng());
        assert!(matches!(
            Encryptor::new(bp.public_key(), &mut rand::rng()),
            Err(EciesError::Curve(Curve::BrainpoolP256r1))
        ));
    }
}
