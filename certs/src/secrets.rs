//! Secrets: the [`Secret`] byte type, the at-rest envelope [`MasterKeyring`] (AES-256-GCM, NIST SP 800-38D) and
//! the ES1 transport-key decryption of key values ([`TransportKey`], GP Card Specification §11.8.2.3 key
//! encryption with a DEK: AES-CBC, zero IV, no padding).
//!
//! Sealed blob format (text, fits a `TEXT` column): `v1:<key id>:<base64url, no padding, of nonce(12) ‖
//! ciphertext ‖ tag(16)>`. The GCM additional data binds the format version, the key id, the record's purpose
//! and the caller's identifier (e.g. table + row key), so a ciphertext moved to another row or purpose does not
//! open.

use std::fmt;
use std::path::Path;

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::kdf::kcv_aes;

/// Secret bytes (keys, PSKs, PINs, K/OPc): zeroized on drop, Debug prints `[redacted]`, no Display.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes as a secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// The secret bytes, for the one place that uses them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Secret::new(v)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Errors of the at-rest envelope and the key ring.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The blob names a key id the ring does not hold.
    #[error("sealed blob uses master key id {key_id:?}, which is not in the key ring")]
    UnknownKeyId {
        /// The key id in the blob.
        key_id: String,
    },
    /// The blob is not `v1:<key id>:<base64url>` with at least nonce and tag.
    #[error("malformed sealed blob: {0}")]
    Malformed(&'static str),
    /// Authentication failed: tampered blob, or a purpose/identifier other than the one it was sealed for.
    #[error(
        "sealed blob does not open for purpose {purpose:?} (tampered, or sealed for another purpose/record)"
    )]
    Unauthentic {
        /// The purpose the caller asked for.
        purpose: String,
    },
    /// The key ring text (file or environment variable) is invalid; never contains key material.
    #[error("master key ring {source_name}: {reason}")]
    KeyRing {
        /// File path or environment variable name.
        source_name: String,
        /// What is wrong (line number, key id).
        reason: String,
    },
    /// Encryption failed (cannot happen for valid keys; reported rather than hidden).
    #[error("AES-GCM encryption failed")]
    Encrypt,
}

struct MasterKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

/// AES-256-GCM master keys: the current one seals, all of them open (NIST SP 800-38D). Debug shows key ids only.
pub struct MasterKeyring {
    keys: Vec<MasterKey>,
}

impl fmt::Debug for MasterKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeyring")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

const BLOB_VERSION: &str = "v1";

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn decode_key(value: &str) -> Option<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(if value.len() == 64 {
        hex::decode(value).ok()?
    } else {
        STANDARD
            .decode(value)
            .or_else(|_| URL_SAFE_NO_PAD.decode(value))
            .ok()?
    });
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return None;
    }
    out.copy_from_slice(&bytes);
    Some(out)
}

impl MasterKeyring {
    /// Parses key ring text: entries `<key id>:<key>` separated by newlines or commas, the first one current;
    /// the key is 32 bytes as 64 hex digits or base64; `#` starts a comment line. `source_name` names the file
    /// or variable in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, SealError> {
        let err = |reason: String| SealError::KeyRing {
            source_name: source_name.to_string(),
            reason,
        };
        let mut keys: Vec<MasterKey> = Vec::new();
        for (n, entry) in text
            .split(['\n', ','])
            .map(str::trim)
            .enumerate()
            .filter(|(_, e)| !e.is_empty() && !e.starts_with('#'))
        {
            let (id, value) = entry
                .split_once(':')
                .ok_or_else(|| err(format!("entry {}: expected <key id>:<key>", n + 1)))?;
            let id = id.trim();
            if !valid_key_id(id) {
                return Err(err(format!("entry {}: invalid key id", n + 1)));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(err(format!("key id {id:?} appears twice")));
            }
            let key = decode_key(value.trim())
                .ok_or_else(|| err(format!("key {id:?}: not 32 bytes of hex or base64")))?;
            keys.push(MasterKey {
                id: id.to_string(),
                key,
            });
        }
        if keys.is_empty() {
            return Err(err("no keys".into()));
        }
        Ok(MasterKeyring { keys })
    }

    /// Reads the key ring from a file (see [`MasterKeyring::parse`]).
    pub fn from_file(path: &Path) -> Result<Self, SealError> {
        let name = path.display().to_string();
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| SealError::KeyRing {
                    source_name: name.clone(),
                    reason: e.to_string(),
                })?,
            );
        Self::parse(&text, &name)
    }

    /// Reads the key ring from an environment variable (see [`MasterKeyring::parse`]).
    pub fn from_env(var: &str) -> Result<Self, SealError> {
        let text = Zeroizing::new(std::env::var(var).map_err(|e| SealError::KeyRing {
            source_name: format!("${var}"),
            reason: e.to_string(),
        })?);
        Self::parse(&text, &format!("${var}"))
    }

    /// A new ring with one random key, and its text in the [`MasterKeyring::parse`] format (for a 0600 file).
    pub fn generate<R: CryptoRng + ?Sized>(
        key_id: &str,
        rng: &mut R,
    ) -> Result<(Self, Zeroizing<String>), SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *key);
        let text = Zeroizing::new(format!("{key_id}:{}\n", hex::encode(*key)));
        Ok((Self::parse(&text, "generated")?, text))
    }

    /// The key ids, current first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        // `parse` refuses an empty ring.
        self.keys.first().map(|k| k.id.as_str()).unwrap_or_default()
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    fn aad(key_id: &str, purpose: &str, aad: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + key_id.len() + purpose.len() + aad.len());
        for part in [
            BLOB_VERSION.as_bytes(),
            key_id.as_bytes(),
            purpose.as_bytes(),
            aad,
        ] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Seals `plaintext` for `purpose` (e.g. `"isd-r-key"`) and the record identifier `aad` with the current
    /// key and a random 96-bit nonce.
    pub fn seal(&self, purpose: &str, aad: &[u8], plaintext: &[u8]) -> Result<String, SealError> {
        self.seal_with_rng(purpose, aad, plaintext, &mut rand::rng())
    }

    /// As [`MasterKeyring::seal`], with the nonce drawn from `rng`.
    pub fn seal_with_rng<R: CryptoRng + ?Sized>(
        &self,
        purpose: &str,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<String, SealError> {
        let key = self.keys.first().ok_or(SealError::Encrypt)?;
        let cipher = Aes256Gcm::new_from_slice(&*key.key).map_err(|_| SealError::Encrypt)?;
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &Self::aad(&key.id, purpose, aad),
                },
            )
            .map_err(|_| SealError::Encrypt)?;
        let mut body = nonce.to_vec();
        body.extend_from_slice(&ct);
        Ok(format!(
            "{BLOB_VERSION}:{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(body)
        ))
    }

    fn split(blob: &str) -> Result<(&str, Vec<u8>), SealError> {
        let mut parts = blob.splitn(3, ':');
        if parts.next() != Some(BLOB_VERSION) {
            return Err(SealError::Malformed("not a v1 blob"));
        }
        let key_id = parts.next().ok_or(SealError::Malformed("no key id"))?;
        let body = parts.next().ok_or(SealError::Malformed("no body"))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed("body is not base64url"))?;
        if body.len() < 12 + 16 {
            return Err(SealError::Malformed("shorter than nonce and tag"));
        }
        Ok((key_id, body))
    }

    /// Opens a blob sealed for `purpose` and `aad` with any key of the ring.
    pub fn open(&self, purpose: &str, aad: &[u8], blob: &str) -> Result<Secret, SealError> {
        let (key_id, body) = Self::split(blob)?;
        let key = self.key(key_id).ok_or_else(|| SealError::UnknownKeyId {
            key_id: key_id.to_string(),
        })?;
        let cipher = Aes256Gcm::new_from_slice(&*key.key).map_err(|_| SealError::Encrypt)?;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&body[..12]);
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &body[12..],
                    aad: &Self::aad(key_id, purpose, aad),
                },
            )
            .map(Secret::new)
            .map_err(|_| SealError::Unauthentic {
                purpose: purpose.to_string(),
            })
    }

    /// Whether the blob is sealed under a key other than the current one (key rotation).
    pub fn needs_rewrap(&self, blob: &str) -> Result<bool, SealError> {
        let (key_id, _) = Self::split(blob)?;
        Ok(key_id != self.current_key_id())
    }

    /// Opens the blob and seals it again under the current key, for the same purpose and record.
    pub fn rewrap(&self, purpose: &str, aad: &[u8], blob: &str) -> Result<String, SealError> {
        let plain = self.open(purpose, aad, blob)?;
        self.seal(purpose, aad, plain.expose())
    }
}

/// Errors of ES1 key-value transport decryption.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The transport key is not an AES-128/192/256 key.
    #[error("transport key must be 16, 24 or 32 bytes, not {0}")]
    KeyLength(usize),
    /// The encrypted value is empty or not a whole number of AES blocks.
    #[error("encrypted key value of {0} bytes is not a positive multiple of 16")]
    DataLength(usize),
    /// The decrypted value is not 16, 24 or 32 bytes, so it has no AES key check value.
    #[error("decrypted key of {0} bytes is not an AES key")]
    NotAnAesKey(usize),
    /// The decrypted key does not have the expected key check value.
    #[error("key check value mismatch: expected {expected}, decrypted key gives {computed}")]
    KcvMismatch {
        /// The KCV given with the key.
        expected: String,
        /// The KCV of the decrypted key.
        computed: String,
    },
}

enum Aes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

/// The EUM transport key of ES1 (SGP.02 §5.1.1 ES1.RegisterEIS: key values in the EIS are encrypted with it):
/// AES-CBC with a zero IV and no padding, as GP key encryption with a DEK (GP Card Specification §11.8.2.3,
/// Amendment D §7.2). Debug is redacted.
pub struct TransportKey {
    key: Secret,
}

impl fmt::Debug for TransportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportKey([redacted])")
    }
}

impl TransportKey {
    /// A transport key from its bytes (16, 24 or 32).
    pub fn new(key: Secret) -> Result<Self, TransportError> {
        match key.len() {
            16 | 24 | 32 => Ok(TransportKey { key }),
            n => Err(TransportError::KeyLength(n)),
        }
    }

    /// The key bytes (for storage under the master key).
    pub fn secret(&self) -> &Secret {
        &self.key
    }

    fn cipher(&self) -> Result<Aes, TransportError> {
        let k = self.key.expose();
        let bad = |_| TransportError::KeyLength(k.len());
        Ok(match k.len() {
            16 => Aes::A128(aes::Aes128::new_from_slice(k).map_err(bad)?),
            24 => Aes::A192(aes::Aes192::new_from_slice(k).map_err(bad)?),
            32 => Aes::A256(aes::Aes256::new_from_slice(k).map_err(bad)?),
            n => return Err(TransportError::KeyLength(n)),
        })
    }

    fn check_len(data: &[u8]) -> Result<(), TransportError> {
        if data.is_empty() || !data.len().is_multiple_of(16) {
            return Err(TransportError::DataLength(data.len()));
        }
        Ok(())
    }

    /// Encrypts a key value (EUM side of ES1): AES-CBC, zero IV, no padding.
    pub fn encrypt_key_value(&self, key_value: &[u8]) -> Result<Vec<u8>, TransportError> {
        Self::check_len(key_value)?;
        let cipher = self.cipher()?;
        let mut prev = [0u8; 16];
        let mut out = Vec::with_capacity(key_value.len());
        for chunk in key_value.chunks(16) {
            let mut block = aes::Block::default();
            for (i, b) in chunk.iter().enumerate() {
                block[i] = b ^ prev[i];
            }
            match &cipher {
                Aes::A128(c) => c.encrypt_block(&mut block),
                Aes::A192(c) => c.encrypt_block(&mut block),
                Aes::A256(c) => c.encrypt_block(&mut block),
            }
            prev.copy_from_slice(&block);
            out.extend_from_slice(&block);
        }
        Ok(out)
    }

    /// Decrypts a key value (SM-SR side of ES1): AES-CBC, zero IV, no padding.
    pub fn decrypt_key_value(&self, encrypted: &[u8]) -> Result<Secret, TransportError> {
        Self::check_len(encrypted)?;
        let cipher = self.cipher()?;
        let mut prev = [0u8; 16];
        let mut out = Zeroizing::new(Vec::with_capacity(encrypted.len()));
        for chunk in encrypted.chunks(16) {
            let mut block = aes::Block::default();
            block.copy_from_slice(chunk);
            match &cipher {
                Aes::A128(c) => c.decrypt_block(&mut block),
                Aes::A192(c) => c.decrypt_block(&mut block),
                Aes::A256(c) => c.decrypt_block(&mut block),
            }
            for i in 0..16 {
                out.push(block[i] ^ prev[i]);
            }
            prev.copy_from_slice(chunk);
            block.fill(0);
        }
        Ok(Secret::new(std::mem::take(&mut *out)))
    }

    /// Decrypts an AES key value and checks it against its key check value (GP Card Specification B.6: first
    /// bytes of AES-ECB(K, 16 × `01`); `expected_kcv` is 1 to 3 bytes).
    pub fn decrypt_aes_key_checked(
        &self,
        encrypted: &[u8],
        expected_kcv: &[u8],
    ) -> Result<Secret, TransportError> {
        let key = self.decrypt_key_value(encrypted)?;
        let kcv = kcv_aes(key.expose()).map_err(|_| TransportError::NotAnAesKey(key.len()))?;
        let n = expected_kcv.len().min(3);
        if n == 0 || kcv[..n] != expected_kcv[..n] || expected_kcv.len() > 3 {
            return Err(TransportError::KcvMismatch {
                expected: hex::encode_upper(expected_kcv),
                computed: hex::encode_upper(kcv),
            });
        }
        Ok(key)
    }
}
