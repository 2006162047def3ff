//! `rsp keys rotate`: master-key rotation of the secrets at rest (design §4; PKI issue item 4). A new master
//! key becomes current (first entry of the key file), then every sealed value in the databases is re-wrapped
//! under it in batches. Only values not yet under the current key are touched, so an interrupted rotation is
//! resumed by running the command again; the old key stays in the file until it is retired by hand.

use std::path::Path;

use certs::secrets::MasterKeyring;
use eis_store::Store;
use eis_store::rewrap::{self, RewrapCursor, SealedLocation};
use eis_store::{Sealed, StoreError};

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Values re-wrapped in this run.
    pub rewrapped: u64,
    /// Values still under another key (0 when the rotation is complete).
    pub pending: u64,
}

/// Errors of a rotation.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be opened or sealed (wrong key ring, tampered value).
    #[error("cannot re-wrap the value at {location}: {reason}")]
    Seal {
        /// Where.
        location: String,
        /// Why.
        reason: String,
    },
    /// The key file could not be updated.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Purpose and associated data a sealed value was sealed with.
fn seal_context(location: &SealedLocation) -> (&'static str, Vec<u8>) {
    match location {
        SealedLocation::KeyComponent {
            eid,
            sd_role,
            keyset_version,
            key_index,
            position,
        } => (
            smsr::eis_map::KEY_PURPOSE,
            smsr::eis_map::key_aad(
                eid,
                sd_role.as_str(),
                *keyset_version,
                *key_index,
                *position as usize,
            ),
        ),
        SealedLocation::StockSecrets { iccid } => {
            (smdp::warehouse::secrets::PURPOSE, iccid.as_bytes().to_vec())
        }
        SealedLocation::DownloadKeys { id } => (
            smdp::download::driver::KEYS_PURPOSE,
            id.to_string().into_bytes(),
        ),
        SealedLocation::WebhookSecret { owner_oid, .. } => (
            smsr::esm2m::webhooks::SEAL_PURPOSE,
            owner_oid.as_bytes().to_vec(),
        ),
    }
}

/// Re-wraps up to `limit` values (all of them when `None`) not yet under the key ring's current key.
pub fn rewrap_store(
    store: &Store,
    keyring: &MasterKeyring,
    limit: Option<u64>,
) -> Result<RotationReport, RotationError> {
    let target = keyring.current_key_id().to_string();
    let mut report = RotationReport::default();
    let mut cursor = RewrapCursor::Start;
    let mut conn = store.conn()?;
    while cursor != RewrapCursor::Done {
        if limit.is_some_and(|l| report.rewrapped >= l) {
            break;
        }
        let batch = rewrap::next_batch(&mut conn, &cursor, &target, 256)?;
        for item in &batch.items {
            if limit.is_some_and(|l| report.rewrapped >= l) {
                break;
            }
            let (purpose, aad) = seal_context(&item.location);
            let blob = String::from_utf8(item.value.ciphertext.clone()).map_err(|_| {
                RotationError::Seal {
                    location: format!("{:?}", item.location),
                    reason: "the sealed value is not a key-ring blob".into(),
                }
            })?;
            let new = keyring
                .rewrap(purpose, &aad, &blob)
                .map_err(|e| RotationError::Seal {
                    location: format!("{:?}", item.location),
                    reason: e.to_string(),
                })?;
            let sealed = Sealed {
                key_id: target.clone(),
                ciphertext: new.into_bytes(),
            };
            if rewrap::replace(&mut conn, &item.location, &item.value, &sealed)? {
                report.rewrapped += 1;
            }
        }
        cursor = batch.next;
    }
    report.pending =
        u64::try_from(rewrap::pending(&mut conn, &target)?.total()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Generates a new master key and makes it current: prepends `<id>:<key>` to the key file (kept 0600); the
/// other keys stay so existing values can still be opened. Returns the new key id.
pub fn add_current_key(key_file: &Path) -> Result<String, RotationError> {
    let err = |reason: String| RotationError::KeyFile {
        path: key_file.display().to_string(),
        reason,
    };
    let old = std::fs::read_to_string(key_file).map_err(|e| err(e.to_string()))?;
    let id = format!("mk-{}", time::OffsetDateTime::now_utc().unix_timestamp());
    let (_, line) =
        MasterKeyring::generate(&id, &mut rand::rng()).map_err(|e| err(e.to_string()))?;
    let text = zeroize::Zeroizing::new(format!("{}{}", line.as_str(), old));
    MasterKeyring::parse(&text, &key_file.display().to_string()).map_err(|e| err(e.to_string()))?;
    let tmp = key_file.with_extension("rotating");
    write_private(&tmp, text.as_bytes()).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, key_file).map_err(|e| err(e.to_string()))?;
    Ok(id)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `rsp keys rotate`: optionally adds a new current key, then re-wraps both servers' databases.
pub fn rotate_command(
    config: &crate::config::Config,
    generate: bool,
    limit: Option<u64>,
) -> Result<(), String> {
    let world = certs::world::World::load(&config.pki_path()).map_err(|e| e.to_string())?;
    if generate {
        if std::env::var_os("RSP_MASTER_KEY").is_some() {
            return Err(
                "the master key comes from RSP_MASTER_KEY: add the new key there, then rotate"
                    .into(),
            );
        }
        let id = add_current_key(&world.dir.join(&world.manifest.master_key_file))
            .map_err(|e| e.to_string())?;
        println!("new current master key {id}");
    }
    let keyring = crate::setup::master_keyring(&world).map_err(|e| e.to_string())?;
    for (name, server) in [("SM-SR", &config.smsr), ("SM-DP", &config.smdp)] {
        let store = crate::setup::open_store(config, server).map_err(|e| e.to_string())?;
        let r = rewrap_store(&store, &keyring, limit).map_err(|e| e.to_string())?;
        println!(
            "{name}: {} value(s) re-wrapped under {}, {} still under older keys",
            r.rewrapped,
            keyring.current_key_id(),
            r.pending
        );
    }
    Ok(())
}
