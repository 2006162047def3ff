//! Master-key rotation support (design §4: secrets encrypted at rest): iterate over every sealed column —
//! EIS key components, warehouse stock secrets, the key material of SM-DP downloads in progress and the
//! secrets of the ESM2M webhook endpoints — in
//! batches with a cursor, and swap in values re-encrypted under a new master key. Rows already under the
//! target key are skipped, so `rsp keys rotate` can stop and start again from the beginning at any point.
//!
//! `smdp_downloads.sealed_keys` and `webhook_endpoints.secret_sealed` have no key-id column: their key id is the
//! second field of the key-ring blob itself (`v1:<key id>:<body>`, certs::secrets), read and filtered on here.

use diesel::prelude::*;

use crate::Sealed;
use crate::connection::{AnyConnection, atomic};
use crate::eis::SdRole;
use crate::error::{RecordKind, StoreError};
use crate::schema::{key_components, smdp_downloads, stock, webhook_endpoints};

diesel::define_sql_function! {
    /// SQL `substr(text, start, length)` (1-based; the same on SQLite and PostgreSQL).
    fn substr(
        x: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        start: diesel::sql_types::Integer,
        length: diesel::sql_types::Integer,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// Format tag of the key-ring blobs stored in text columns (certs::secrets `BLOB_VERSION`).
const BLOB_VERSION: &str = "v1";

/// Where a sealed value lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SealedLocation {
    /// A key component of an EIS key set (A1 `KeyType/KeyComponents/@value`).
    KeyComponent {
        /// EID.
        eid: String,
        /// Security domain.
        sd_role: SdRole,
        /// Key set version.
        keyset_version: u8,
        /// Key index.
        key_index: u8,
        /// Position of the component in the key.
        position: u32,
    },
    /// The secrets of a warehouse personalisation record.
    StockSecrets {
        /// ICCID.
        iccid: String,
    },
    /// The key material of an SM-DP download in progress (SGP.02 §3.1, `smdp_downloads.sealed_keys`).
    DownloadKeys {
        /// Download id.
        id: i64,
    },
    /// The signing secret of an ESM2M webhook endpoint (`webhook_endpoints.secret_sealed`).
    WebhookSecret {
        /// Endpoint id.
        id: i64,
        /// Its owner (the associated data the secret is sealed with).
        owner_oid: String,
    },
}

impl SealedLocation {
    /// Position of the location's table in the scan order.
    fn section(&self) -> usize {
        match self {
            SealedLocation::KeyComponent { .. } => 0,
            SealedLocation::StockSecrets { .. } => 1,
            SealedLocation::DownloadKeys { .. } => 2,
            SealedLocation::WebhookSecret { .. } => 3,
        }
    }
}

/// A sealed value and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedItem {
    /// Location (use it as associated data if the encryption binds values to their row).
    pub location: SealedLocation,
    /// The current value.
    pub value: Sealed,
}

/// Position of a rewrap scan: key components first (by EID, role, key set, key, component), then stock
/// (by ICCID), then downloads (by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewrapCursor {
    /// From the beginning.
    Start,
    /// After this location.
    After(SealedLocation),
    /// Everything has been visited.
    Done,
}

/// One batch of a rewrap scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrapBatch {
    /// Values not yet under the target key, in scan order.
    pub items: Vec<SealedItem>,
    /// Where the next batch starts.
    pub next: RewrapCursor,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = key_components)]
struct ComponentRef {
    eid: String,
    sd_role: String,
    keyset_version: i32,
    key_index: i32,
    position: i32,
    value: Vec<u8>,
    value_key_id: String,
}

fn component_item(r: ComponentRef) -> Result<SealedItem, StoreError> {
    let byte = |what, v: i32| {
        u8::try_from(v).map_err(|_| StoreError::invalid_data(what, format!("{v} is not a byte")))
    };
    Ok(SealedItem {
        location: SealedLocation::KeyComponent {
            sd_role: SdRole::parse(&r.sd_role)?,
            keyset_version: byte("key_components.keyset_version", r.keyset_version)?,
            key_index: byte("key_components.key_index", r.key_index)?,
            position: u32::try_from(r.position).map_err(|_| {
                StoreError::invalid_data("key_components.position", format!("{}", r.position))
            })?,
            eid: r.eid,
        },
        value: Sealed {
            key_id: r.value_key_id,
            ciphertext: r.value,
        },
    })
}

fn component_batch(
    conn: &mut AnyConnection,
    after: Option<(&str, SdRole, u8, u8, u32)>,
    target_key_id: &str,
    limit: i64,
) -> Result<Vec<SealedItem>, StoreError> {
    use key_components::dsl as k;
    let mut q = k::key_components
        .filter(k::value_key_id.ne(target_key_id))
        .order((
            k::eid,
            k::sd_role,
            k::keyset_version,
            k::key_index,
            k::position,
        ))
        .limit(limit)
        .select(ComponentRef::as_select())
        .into_boxed();
    if let Some((eid, role, v, i, p)) = after {
        let (role, v, i) = (role.as_str(), i32::from(v), i32::from(i));
        let p = i32::try_from(p).unwrap_or(i32::MAX);
        // Row-value "greater than" spelt out (diesel has no tuple comparison).
        q = q.filter(
            k::eid.gt(eid).or(k::eid.eq(eid).and(
                k::sd_role.gt(role).or(k::sd_role.eq(role).and(
                    k::keyset_version.gt(v).or(k::keyset_version.eq(v).and(
                        k::key_index
                            .gt(i)
                            .or(k::key_index.eq(i).and(k::position.gt(p))),
                    )),
                )),
            )),
        );
    }
    q.load(conn)?.into_iter().map(component_item).collect()
}

fn stock_batch(
    conn: &mut AnyConnection,
    after: Option<&str>,
    target_key_id: &str,
    limit: i64,
) -> Result<Vec<SealedItem>, StoreError> {
    let mut q = stock::table
        .filter(stock::secrets_key_id.ne(target_key_id))
        .order(stock::iccid)
        .limit(limit)
        .select((stock::iccid, stock::secrets, stock::secrets_key_id))
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(stock::iccid.gt(a));
    }
    Ok(q.load::<(String, Vec<u8>, String)>(conn)?
        .into_iter()
        .map(|(iccid, ciphertext, key_id)| SealedItem {
            location: SealedLocation::StockSecrets { iccid },
            value: Sealed { key_id, ciphertext },
        })
        .collect())
}

/// The key id of a key-ring blob (`v1:<key id>:<body>`).
fn blob_key_id(what: &'static str, blob: &str) -> Result<String, StoreError> {
    let mut parts = blob.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(BLOB_VERSION), Some(id), Some(_)) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(StoreError::invalid_data(what, "not a key-ring blob")),
    }
}

/// The text every blob sealed under `key_id` starts with.
fn blob_prefix(key_id: &str) -> (String, i32) {
    let prefix = format!("{BLOB_VERSION}:{key_id}:");
    let n = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    (prefix, n)
}

fn download_batch(
    conn: &mut AnyConnection,
    after: Option<i64>,
    target_key_id: &str,
    limit: i64,
) -> Result<Vec<SealedItem>, StoreError> {
    use smdp_downloads::dsl as d;
    let (prefix, n) = blob_prefix(target_key_id);
    let mut q = d::smdp_downloads
        .filter(d::sealed_keys.is_not_null())
        .filter(substr(d::sealed_keys, 1, n).ne(prefix))
        .order(d::id)
        .limit(limit)
        .select((d::id, d::sealed_keys))
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(d::id.gt(a));
    }
    q.load::<(i64, Option<String>)>(conn)?
        .into_iter()
        .filter_map(|(id, blob)| blob.map(|b| (id, b)))
        .map(|(id, blob)| {
            Ok(SealedItem {
                location: SealedLocation::DownloadKeys { id },
                value: Sealed {
                    key_id: blob_key_id("smdp_downloads.sealed_keys", &blob)?,
                    ciphertext: blob.into_bytes(),
                },
            })
        })
        .collect()
}

fn webhook_batch(
    conn: &mut AnyConnection,
    after: Option<i64>,
    target_key_id: &str,
    limit: i64,
) -> Result<Vec<SealedItem>, StoreError> {
    use webhook_endpoints::dsl as w;
    let (prefix, n) = blob_prefix(target_key_id);
    let mut q = w::webhook_endpoints
        .filter(substr(w::secret_sealed.nullable(), 1, n).ne(prefix))
        .order(w::id)
        .limit(limit)
        .select((w::id, w::owner_oid, w::secret_sealed))
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(w::id.gt(a));
    }
    q.load::<(i64, String, String)>(conn)?
        .into_iter()
        .map(|(id, owner_oid, blob)| {
            Ok(SealedItem {
                location: SealedLocation::WebhookSecret { id, owner_oid },
                value: Sealed {
                    key_id: blob_key_id("webhook_endpoints.secret_sealed", &blob)?,
                    ciphertext: blob.into_bytes(),
                },
            })
        })
        .collect()
}

/// The next at most `limit` sealed values after `cursor` that are not under `target_key_id`.
pub fn next_batch(
    conn: &mut AnyConnection,
    cursor: &RewrapCursor,
    target_key_id: &str,
    limit: u32,
) -> Result<RewrapBatch, StoreError> {
    let limit = i64::from(limit.max(1));
    let after = match cursor {
        RewrapCursor::Done => {
            return Ok(RewrapBatch {
                items: Vec::new(),
                next: RewrapCursor::Done,
            });
        }
        RewrapCursor::Start => None,
        RewrapCursor::After(location) => Some(location),
    };
    let first = after.map_or(0, SealedLocation::section);
    let mut items = Vec::new();
    for section in first..4 {
        let from = after.filter(|a| a.section() == section);
        let room = limit - items.len() as i64;
        let mut more = match (section, from) {
            (
                0,
                Some(SealedLocation::KeyComponent {
                    eid,
                    sd_role,
                    keyset_version,
                    key_index,
                    position,
                }),
            ) => component_batch(
                conn,
                Some((eid, *sd_role, *keyset_version, *key_index, *position)),
                target_key_id,
                room,
            )?,
            (0, _) => component_batch(conn, None, target_key_id, room)?,
            (1, Some(SealedLocation::StockSecrets { iccid })) => {
                stock_batch(conn, Some(iccid), target_key_id, room)?
            }
            (1, _) => stock_batch(conn, None, target_key_id, room)?,
            (2, Some(SealedLocation::DownloadKeys { id })) => {
                download_batch(conn, Some(*id), target_key_id, room)?
            }
            (2, _) => download_batch(conn, None, target_key_id, room)?,
            (_, Some(SealedLocation::WebhookSecret { id, .. })) => {
                webhook_batch(conn, Some(*id), target_key_id, room)?
            }
            (_, _) => webhook_batch(conn, None, target_key_id, room)?,
        };
        let full = more.len() as i64 >= room;
        items.append(&mut more);
        if full {
            let next = match items.last() {
                Some(last) => RewrapCursor::After(last.location.clone()),
                None => RewrapCursor::Done,
            };
            return Ok(RewrapBatch { items, next });
        }
    }
    Ok(RewrapBatch {
        items,
        next: RewrapCursor::Done,
    })
}

/// Replaces the sealed value at `location` by `new` if it is still `old` (key components and stock: still
/// under `old.key_id`; download keys, which the SM-DP re-seals as a download advances: still exactly `old`);
/// returns whether it was replaced (`false`: someone changed it meanwhile). `NotFound` if the row is gone.
pub fn replace(
    conn: &mut AnyConnection,
    location: &SealedLocation,
    old: &Sealed,
    new: &Sealed,
) -> Result<bool, StoreError> {
    let expected_key_id = old.key_id.as_str();
    atomic(conn, |c| match location {
        SealedLocation::KeyComponent {
            eid,
            sd_role,
            keyset_version,
            key_index,
            position,
        } => {
            use key_components::dsl as k;
            let key = (
                eid.as_str(),
                sd_role.as_str(),
                i32::from(*keyset_version),
                i32::from(*key_index),
                i32::try_from(*position)
                    .map_err(|_| StoreError::invalid_argument("position", "out of range"))?,
            );
            let n = diesel::update(
                k::key_components
                    .find(key)
                    .filter(k::value_key_id.eq(expected_key_id)),
            )
            .set((
                k::value.eq(&new.ciphertext),
                k::value_key_id.eq(&new.key_id),
            ))
            .execute(c)?;
            if n == 0 {
                let exists = k::key_components
                    .find(key)
                    .select(k::eid)
                    .first::<String>(c)
                    .optional()?;
                if exists.is_none() {
                    return Err(StoreError::not_found(
                        RecordKind::Keyset,
                        format!(
                            "{eid} {} key set {keyset_version} key {key_index}",
                            sd_role.as_str()
                        ),
                    ));
                }
            }
            Ok(n == 1)
        }
        SealedLocation::StockSecrets { iccid } => {
            let n = diesel::update(
                stock::table
                    .find(iccid)
                    .filter(stock::secrets_key_id.eq(expected_key_id)),
            )
            .set((
                stock::secrets.eq(&new.ciphertext),
                stock::secrets_key_id.eq(&new.key_id),
            ))
            .execute(c)?;
            if n == 0 {
                let exists = stock::table
                    .find(iccid)
                    .select(stock::iccid)
                    .first::<String>(c)
                    .optional()?;
                if exists.is_none() {
                    return Err(StoreError::not_found(RecordKind::StockRecord, iccid));
                }
            }
            Ok(n == 1)
        }
        SealedLocation::DownloadKeys { id } => {
            let text = |v: &Sealed| {
                std::str::from_utf8(&v.ciphertext)
                    .map(str::to_owned)
                    .map_err(|_| StoreError::invalid_argument("sealed_keys", "not text"))
            };
            let (old_blob, new_blob) = (text(old)?, text(new)?);
            if blob_key_id("sealed_keys", &new_blob)? != new.key_id {
                return Err(StoreError::invalid_argument(
                    "sealed_keys",
                    "the blob is not under the key id given",
                ));
            }
            use smdp_downloads::dsl as d;
            let n = diesel::update(
                d::smdp_downloads
                    .find(id)
                    .filter(d::sealed_keys.eq(&old_blob)),
            )
            .set(d::sealed_keys.eq(&new_blob))
            .execute(c)?;
            if n == 0 {
                let exists = d::smdp_downloads
                    .find(id)
                    .select(d::id)
                    .first::<i64>(c)
                    .optional()?;
                if exists.is_none() {
                    return Err(StoreError::not_found(RecordKind::Download, id.to_string()));
                }
            }
            Ok(n == 1)
        }
        SealedLocation::WebhookSecret { id, .. } => {
            let text = |v: &Sealed| {
                std::str::from_utf8(&v.ciphertext)
                    .map(str::to_owned)
                    .map_err(|_| StoreError::invalid_argument("secret_sealed", "not text"))
            };
            let (old_blob, new_blob) = (text(old)?, text(new)?);
            if blob_key_id("secret_sealed", &new_blob)? != new.key_id {
                return Err(StoreError::invalid_argument(
                    "secret_sealed",
                    "the blob is not under the key id given",
                ));
            }
            use webhook_endpoints::dsl as w;
            let n = diesel::update(
                w::webhook_endpoints
                    .find(id)
                    .filter(w::secret_sealed.eq(&old_blob)),
            )
            .set(w::secret_sealed.eq(&new_blob))
            .execute(c)?;
            if n == 0 {
                let exists = w::webhook_endpoints
                    .find(id)
                    .select(w::id)
                    .first::<i64>(c)
                    .optional()?;
                if exists.is_none() {
                    return Err(StoreError::not_found(
                        RecordKind::WebhookEndpoint,
                        id.to_string(),
                    ));
                }
            }
            Ok(n == 1)
        }
    })
}

/// How many sealed values of each kind are not yet under a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// EIS key components.
    pub key_components: i64,
    /// Warehouse stock secrets.
    pub stock: i64,
    /// Key material of SM-DP downloads in progress.
    pub download_keys: i64,
    /// Secrets of ESM2M webhook endpoints.
    pub webhook_secrets: i64,
}

impl Pending {
    /// All kinds together.
    pub fn total(&self) -> i64 {
        self.key_components + self.stock + self.download_keys + self.webhook_secrets
    }
}

/// How many sealed values are not yet under `target_key_id`.
pub fn pending(conn: &mut AnyConnection, target_key_id: &str) -> Result<Pending, StoreError> {
    let key_components = key_components::table
        .filter(key_components::value_key_id.ne(target_key_id))
        .count()
        .get_result(conn)?;
    let stock = stock::table
        .filter(stock::secrets_key_id.ne(target_key_id))
        .count()
        .get_result(conn)?;
    let (prefix, n) = blob_prefix(target_key_id);
    let download_keys = smdp_downloads::table
        .filter(smdp_downloads::sealed_keys.is_not_null())
        .filter(substr(smdp_downloads::sealed_keys, 1, n).ne(prefix.clone()))
        .count()
        .get_result(conn)?;
    let webhook_secrets = webhook_endpoints::table
        .filter(substr(webhook_endpoints::secret_sealed.nullable(), 1, n).ne(prefix))
        .count()
        .get_result(conn)?;
    Ok(Pending {
        key_components,
        stock,
        download_keys,
        webhook_secrets,
    })
}
