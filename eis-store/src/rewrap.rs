//! Master-key rotation support (design §4: secrets encrypted at rest): iterate over every sealed column —
//! EIS key components and warehouse stock secrets — in batches with a cursor, and swap in values re-encrypted
//! under a new master key. Rows already under the target key are skipped, so `rsp keys rotate` can stop and
//! start again from the beginning at any point.

use diesel::prelude::*;

use crate::Sealed;
use crate::connection::{AnyConnection, atomic};
use crate::eis::SdRole;
use crate::error::{RecordKind, StoreError};
use crate::schema::{key_components, stock};

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
/// (by ICCID).
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

/// The next at most `limit` sealed values after `cursor` that are not under `target_key_id`.
pub fn next_batch(
    conn: &mut AnyConnection,
    cursor: &RewrapCursor,
    target_key_id: &str,
    limit: u32,
) -> Result<RewrapBatch, StoreError> {
    let limit = i64::from(limit.max(1));
    let mut items = match cursor {
        RewrapCursor::Done => {
            return Ok(RewrapBatch {
                items: Vec::new(),
                next: RewrapCursor::Done,
            });
        }
        RewrapCursor::Start => component_batch(conn, None, target_key_id, limit)?,
        RewrapCursor::After(SealedLocation::KeyComponent {
            eid,
            sd_role,
            keyset_version,
            key_index,
            position,
        }) => component_batch(
            conn,
            Some((eid, *sd_role, *keyset_version, *key_index, *position)),
            target_key_id,
            limit,
        )?,
        RewrapCursor::After(SealedLocation::StockSecrets { .. }) => Vec::new(),
    };
    let components_done = (items.len() as i64) < limit;
    if components_done {
        let after = match cursor {
            RewrapCursor::After(SealedLocation::StockSecrets { iccid }) => Some(iccid.as_str()),
            _ => None,
        };
        let room = limit - items.len() as i64;
        let mut more = stock_batch(conn, after, target_key_id, room)?;
        let stock_done = (more.len() as i64) < room;
        items.append(&mut more);
        let next = match items.last() {
            _ if stock_done => RewrapCursor::Done,
            Some(last) => RewrapCursor::After(last.location.clone()),
            None => RewrapCursor::Done,
        };
        return Ok(RewrapBatch { items, next });
    }
    let next = match items.last() {
        Some(last) => RewrapCursor::After(last.location.clone()),
        None => RewrapCursor::Done,
    };
    Ok(RewrapBatch { items, next })
}

/// Replaces the sealed value at `location` by `new` if it is still under `expected_key_id`; returns whether
/// it was replaced (`false`: someone rewrapped it meanwhile). `NotFound` if the row is gone.
pub fn replace(
    conn: &mut AnyConnection,
    location: &SealedLocation,
    expected_key_id: &str,
    new: &Sealed,
) -> Result<bool, StoreError> {
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
    })
}

/// How many sealed values are not yet under `target_key_id`: (key components, stock records).
pub fn pending(conn: &mut AnyConnection, target_key_id: &str) -> Result<(i64, i64), StoreError> {
    let components = key_components::table
        .filter(key_components::value_key_id.ne(target_key_id))
        .count()
        .get_result(conn)?;
    let stock = stock::table
        .filter(stock::secrets_key_id.ne(target_key_id))
        .count()
        .get_result(conn)?;
    Ok((components, stock))
}
