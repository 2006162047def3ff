//! The key store abstraction (DESIGN §2 certs: "key store abstraction (software now, PKCS#11 later)"): every
//! private-key operation the servers need — ECDSA for CERT.DP/SR.ECDSA keys and EIS/GP certificate issuance,
//! ECKA for ES8 key establishment (SGP.02 §3.1.2), sealing secrets at rest — addressed by key label. Private keys
//! never leave the store through the trait, so a PKCS#11 HSM can implement it (C_Sign with CKM_ECDSA,
//! C_DeriveKey with CKM_ECDH1_DERIVE, C_Encrypt/C_Decrypt with CKM_AES_GCM) without changing callers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::ecc::{EcError, PrivateKey, PublicKey, SharedSecret};
use crate::gp_cert::{GpCertError, GpCertificate};
use crate::secrets::{MasterKeyring, SealError, Secret};
use crate::x509::{X509Certificate, X509Error};

/// Errors of key store operations; never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// No key or certificate with this label.
    #[error("key store has no {kind} labelled {label:?}")]
    Unknown {
        /// `key` or `certificate`.
        kind: &'static str,
        /// The label asked for.
        label: String,
    },
    /// A label outside `[A-Za-z0-9._-]{1,128}`.
    #[error("invalid key label {0:?}")]
    InvalidLabel(String),
    /// A file of the store cannot be read.
    #[error("key store file {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        reason: String,
    },
    /// A private key file readable by group or others.
    #[error(
        "private key file {path} has mode {mode:o}; it must not be readable by group or others (0600)"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An elliptic-curve operation failed (e.g. a peer key on another curve).
    #[error("key {label:?}: {source}")]
    Key {
        /// The key label.
        label: String,
        /// The cause.
        source: EcError,
    },
    /// A certificate file that does not parse.
    #[error("certificate {label:?}: {reason}")]
    Certificate {
        /// The certificate label.
        label: String,
        /// The parser's reason.
        reason: String,
    },
    /// Sealing or opening failed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// A certificate held by the store next to a key: X.509 (CI, EUM, TLS) or GP `7F21` (CERT.DP/SR/ECASD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredCertificate {
    /// An X.509 certificate.
    X509(X509Certificate),
    /// A GP certificate (wire-profile §6).
    Gp(GpCertificate),
}

/// Private-key operations by key label; implementations never hand out private keys.
pub trait KeyStore: Send + Sync {
    /// ECDSA-SHA256 over `msg` with the labelled key, `r ‖ s` (BSI TR-03111 §4.2.1; GP tag `5F37`).
    fn sign(&self, label: &str, msg: &[u8]) -> Result<[u8; 64], KeyStoreError>;
    /// ECKA with the labelled key: x-coordinate of `d · peer` (BSI TR-03111 §4.3.1).
    fn ecka(&self, label: &str, peer: &PublicKey) -> Result<SharedSecret, KeyStoreError>;
    /// The labelled key's public key.
    fn public_key(&self, label: &str) -> Result<PublicKey, KeyStoreError>;
    /// The certificate stored under the label, if any.
    fn certificate(&self, label: &str) -> Result<Option<StoredCertificate>, KeyStoreError>;
    /// Seals a secret at rest with the master key (see [`MasterKeyring::seal`]).
    fn seal(&self, purpose: &str, aad: &[u8], plaintext: &[u8]) -> Result<String, KeyStoreError>;
    /// Opens a sealed secret (see [`MasterKeyring::open`]).
    fn open(&self, purpose: &str, aad: &[u8], blob: &str) -> Result<Secret, KeyStoreError>;
}

fn check_label(label: &str) -> Result<(), KeyStoreError> {
    if !label.is_empty()
        && label.len() <= 128
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Ok(())
    } else {
        Err(KeyStoreError::InvalidLabel(label.to_string()))
    }
}

/// Directory of private keys in a software key store: `<dir>/keys/<label>.key.pem` (PKCS#8, mode 0600).
pub const KEYS_DIR: &str = "keys";
/// Directory of certificates: `<dir>/certs/<label>.pem` (X.509) and `<dir>/certs/<label>.gp.hex` (GP, hex).
pub const CERTS_DIR: &str = "certs";

/// A [`KeyStore`] over PKCS#8 PEM files and a master key ring, loaded into memory.
pub struct SoftwareKeyStore {
    keys: BTreeMap<String, PrivateKey>,
    certs: BTreeMap<String, StoredCertificate>,
    master: MasterKeyring,
}

impl fmt::Debug for SoftwareKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKeyStore")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("certificates", &self.certs.keys().collect::<Vec<_>>())
            .field("master", &self.master)
            .finish()
    }
}

fn io_err(path: &Path, e: impl fmt::Display) -> KeyStoreError {
    KeyStoreError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Refuses private-key files readable by group or others (unix).
pub fn check_private_file_mode(path: &Path) -> Result<(), KeyStoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| io_err(path, e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyStoreError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

impl SoftwareKeyStore {
    /// An empty store sealing with `master`.
    pub fn new(master: MasterKeyring) -> Self {
        SoftwareKeyStore {
            keys: BTreeMap::new(),
            certs: BTreeMap::new(),
            master,
        }
    }

    /// Adds a private key under `label` (replacing any previous one).
    pub fn insert_key(&mut self, label: &str, key: PrivateKey) -> Result<(), KeyStoreError> {
        check_label(label)?;
        self.keys.insert(label.to_string(), key);
        Ok(())
    }

    /// Adds a certificate under `label` (replacing any previous one).
    pub fn insert_certificate(
        &mut self,
        label: &str,
        cert: StoredCertificate,
    ) -> Result<(), KeyStoreError> {
        check_label(label)?;
        self.certs.insert(label.to_string(), cert);
        Ok(())
    }

    /// Loads every `keys/<label>.key.pem`, `certs/<label>.pem` and `certs/<label>.gp.hex` under `dir`.
    pub fn load_dir(dir: &Path, master: MasterKeyring) -> Result<Self, KeyStoreError> {
        let mut store = SoftwareKeyStore::new(master);
        let keys_dir = dir.join(KEYS_DIR);
        for entry in std::fs::read_dir(&keys_dir).map_err(|e| io_err(&keys_dir, e))? {
            let path = entry.map_err(|e| io_err(&keys_dir, e))?.path();
            let Some(label) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".key.pem"))
                .map(str::to_string)
            else {
                continue;
            };
            check_private_file_mode(&path)?;
            let pem = zeroize::Zeroizing::new(
                std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?,
            );
            let key = PrivateKey::from_pkcs8_pem(&pem).map_err(|source| KeyStoreError::Key {
                label: label.clone(),
                source,
            })?;
            store.insert_key(&label, key)?;
        }
        let certs_dir = dir.join(CERTS_DIR);
        if certs_dir.exists() {
            for entry in std::fs::read_dir(&certs_dir).map_err(|e| io_err(&certs_dir, e))? {
                let path = entry.map_err(|e| io_err(&certs_dir, e))?.path();
                let Some(name) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string)
                else {
                    continue;
                };
                let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
                if let Some(label) = name.strip_suffix(".gp.hex") {
                    let cert = read_gp_hex(&text).map_err(|reason| KeyStoreError::Certificate {
                        label: label.to_string(),
                        reason,
                    })?;
                    store.insert_certificate(label, StoredCertificate::Gp(cert))?;
                } else if let Some(label) = name.strip_suffix(".pem") {
                    let cert = X509Certificate::from_pem(&text).map_err(|e: X509Error| {
                        KeyStoreError::Certificate {
                            label: label.to_string(),
                            reason: e.to_string(),
                        }
                    })?;
                    store.insert_certificate(label, StoredCertificate::X509(cert))?;
                }
            }
        }
        Ok(store)
    }

    /// Labels of the keys held.
    pub fn key_labels(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    fn key(&self, label: &str) -> Result<&PrivateKey, KeyStoreError> {
        self.keys.get(label).ok_or_else(|| KeyStoreError::Unknown {
            kind: "key",
            label: label.to_string(),
        })
    }
}

/// Decodes a GP certificate stored as hex text (whitespace ignored).
pub fn read_gp_hex(text: &str) -> Result<GpCertificate, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(compact).map_err(|e| e.to_string())?;
    GpCertificate::decode(&bytes).map_err(|e: GpCertError| e.to_string())
}

impl KeyStore for SoftwareKeyStore {
    fn sign(&self, label: &str, msg: &[u8]) -> Result<[u8; 64], KeyStoreError> {
        Ok(self.key(label)?.sign(msg))
    }

    fn ecka(&self, label: &str, peer: &PublicKey) -> Result<SharedSecret, KeyStoreError> {
        self.key(label)?
            .ecka(peer)
            .map_err(|source| KeyStoreError::Key {
                label: label.to_string(),
                source,
            })
    }

    fn public_key(&self, label: &str) -> Result<PublicKey, KeyStoreError> {
        Ok(self.key(label)?.public_key().clone())
    }

    fn certificate(&self, label: &str) -> Result<Option<StoredCertificate>, KeyStoreError> {
        check_label(label)?;
        Ok(self.certs.get(label).cloned())
    }

    fn seal(&self, purpose: &str, aad: &[u8], plaintext: &[u8]) -> Result<String, KeyStoreError> {
        Ok(self.master.seal(purpose, aad, plaintext)?)
    }

    fn open(&self, purpose: &str, aad: &[u8], blob: &str) -> Result<Secret, KeyStoreError> {
        Ok(self.master.open(purpose, aad, blob)?)
    }
}
