//! The PSK cache of the admin server (wire-profile §3): ISD-R SCP81 PSKs by EID, key set and key id, unsealed
//! from the store by [`PskCache::reload`] (a background task, [`run_refresh`]) and read by the synchronous
//! OpenSSL callback without any database call. An unknown identity asks for an early reload, so that an eUICC
//! registered since the last one is accepted at its next attempt (the trigger's retry policy).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use certs::secrets::MasterKeyring;
use eis_store::Store;
use eis_store::eis::{self, SdRole};
use es_interfaces::scp81::PskIdentity;
use es_interfaces::wire_profile;
use tokio::sync::{Notify, watch};
use zeroize::Zeroizing;

use super::AdminError;
use crate::eis_map::{KEY_PURPOSE, key_aad};

/// Rows read per page when the cache is filled.
const PAGE: i64 = 1000;
/// Shortest pause between two reloads (unknown identities must not make the store work per handshake).
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

type Key = (String, u8, u8);

/// ISD-R SCP81 PSKs in memory, by (EID upper-case, KVN, key id) (wire-profile §3). No `Debug`: it holds keys.
#[derive(Default)]
pub struct PskCache {
    keys: RwLock<HashMap<Key, Zeroizing<Vec<u8>>>>,
    reload: Notify,
}

impl PskCache {
    /// An empty cache.
    pub fn new() -> PskCache {
        PskCache::default()
    }

    /// The PSK for `id`, if its ISD-R AID is the ISD-R's (wire-profile §1) and the store held a PSK of that
    /// EID, key set and key id at the last reload (wire-profile §3).
    pub fn lookup(&self, id: &PskIdentity) -> Option<Zeroizing<Vec<u8>>> {
        if id.isd_r_aid != wire_profile::ISD_R_AID {
            return None;
        }
        let keys = self.keys.read().ok()?;
        keys.get(&(id.eid_text(), id.kvn, id.key_id)).cloned()
    }

    /// How many PSKs the cache holds.
    pub fn len(&self) -> usize {
        self.keys.read().map(|k| k.len()).unwrap_or(0)
    }

    /// Whether the cache holds no PSK.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Asks the refresh task for an early reload (an unknown identity was offered).
    pub fn request_reload(&self) {
        self.reload.notify_one();
    }

    /// Reads every ISD-R SCP81 PSK from the store and replaces the cache; returns how many there are. A PSK
    /// that does not unseal is left out and logged (EID and key set, never the value).
    pub fn reload(&self, store: &Store, keyring: &MasterKeyring) -> Result<usize, AdminError> {
        let mut next: HashMap<Key, Zeroizing<Vec<u8>>> = HashMap::new();
        let mut conn = store.conn()?;
        let mut after: Option<String> = None;
        loop {
            let mut rows = eis::scp81_psks(&mut conn, after.as_deref(), PAGE)?;
            let full = rows.len() as i64 == PAGE;
            if full {
                // The last EID may continue on the next page: read it again there.
                let last = rows.last().map(|r| r.eid.clone());
                let kept = rows
                    .iter()
                    .position(|r| Some(&r.eid) == last.as_ref())
                    .unwrap_or(rows.len());
                if kept == 0 {
                    return Err(AdminError::Key {
                        eid: last.unwrap_or_default(),
                        kvn: 0,
                        key_id: 0,
                        why: format!("more than {PAGE} PSK components"),
                    });
                }
                rows.truncate(kept);
            }
            let Some(last) = rows.last().map(|r| r.eid.clone()) else {
                break;
            };
            for r in rows.into_iter().filter(|r| r.position == 0) {
                let aad = key_aad(
                    &r.eid,
                    SdRole::IsdR.as_str(),
                    r.kvn,
                    r.key_index,
                    usize::from(r.position),
                );
                let opened = std::str::from_utf8(&r.value.ciphertext)
                    .map_err(|_| "sealed value is not text".to_string())
                    .and_then(|blob| {
                        keyring
                            .open(KEY_PURPOSE, &aad, blob)
                            .map_err(|e| e.to_string())
                    });
                match opened {
                    Ok(psk) => {
                        next.insert(
                            (r.eid.to_ascii_uppercase(), r.kvn, r.key_index),
                            Zeroizing::new(psk.expose().to_vec()),
                        );
                    }
                    Err(why) => {
                        let e = AdminError::Key {
                            eid: r.eid.clone(),
                            kvn: r.kvn,
                            key_id: r.key_index,
                            why,
                        };
                        tracing::warn!(error = %e, "SCP81 PSK left out of the cache");
                    }
                }
            }
            if !full {
                break;
            }
            after = Some(last);
        }
        let n = next.len();
        if let Ok(mut keys) = self.keys.write() {
            *keys = next;
        }
        Ok(n)
    }
}

/// Keeps `cache` filled: a reload at once, then every `every` and soon after each [`PskCache::request_reload`],
/// at most once per second, until `shutdown` (wire-profile §3).
pub async fn run_refresh(
    cache: Arc<PskCache>,
    store: Arc<Store>,
    keyring: Arc<MasterKeyring>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let (c, s, k) = (cache.clone(), store.clone(), keyring.clone());
        match tokio::task::spawn_blocking(move || c.reload(&s, &k)).await {
            Ok(Ok(n)) => tracing::debug!(psks = n, "SCP81 PSK cache reloaded"),
            Ok(Err(e)) => tracing::error!(error = %e, "SCP81 PSK cache reload failed"),
            Err(e) => tracing::error!(error = %e, "SCP81 PSK cache reload panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(MIN_RELOAD_INTERVAL) => {}
            _ = shutdown.changed() => continue,
        }
        tokio::select! {
            _ = cache.reload.notified() => {}
            _ = tokio::time::sleep(every.saturating_sub(MIN_RELOAD_INTERVAL)) => {}
            _ = shutdown.changed() => {}
        }
    }
}
