//! Stock of personalisation records (DESIGN §4: available → reserved → downloading → installed, or released
//! back on failure) and what ES2.DownloadProfile (SGP.02 §5.3.2) needs from it: take the next available record
//! of a ProfileType or the record of a given ICCID for an eUICC, personalise it into a validated package, move it
//! on or release it. Every change is one statement in the caller's transaction (`SKIP LOCKED` on PostgreSQL,
//! `BEGIN IMMEDIATE` on SQLite), so concurrent downloads never share a record.
//!
//! Low stock: when a reservation takes a profile type's available count below its threshold, a `low-stock`
//! event is logged and, if the MNO has a [`WEBHOOK_ENDPOINT`] registered, queued in the outbox (same
//! transaction). Under concurrent reservations on PostgreSQL two transactions can both see the count on the
//! same side of the threshold, so the event may be repeated or, rarely, missed; [`levels`]' `low` flag is
//! always exact.

use certs::secrets::MasterKeyring;
use eis_store::entities;
use eis_store::outbox::{self, NewOutboxMessage};
use eis_store::warehouse::{self, ProfileType, StockLevel, StockRecord, StockState};
use eis_store::{AnyConnection, StoreError, UnixMillis};
use serde::Serialize;

use super::{WarehouseError, profile_types, secrets};
use crate::saip::record::strip_iccid_filler;
use crate::saip::secret::SecretBytes;

/// The endpoint name (entity registry `endpoints`) of an MNO's REST webhook for warehouse events.
pub const WEBHOOK_ENDPOINT: &str = "webhook";

/// How long a low-stock notification is retried (milliseconds).
const EVENT_TTL_MS: i64 = 24 * 3_600_000;

/// Which record ES2.DownloadProfile asks for (SGP.02 §5.3.2: `ProfileType` or `Iccid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector<'a> {
    /// The next available record of this profile type of the MNO.
    ProfileType(&'a str),
    /// This record (19 or 20 digits, an `F` filler is accepted).
    Iccid(&'a str),
}

/// A record reserved for an eUICC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// ICCID of the record.
    pub iccid: String,
    /// IMSI.
    pub imsi: String,
    /// MSISDN, if any.
    pub msisdn: Option<String>,
    /// The eUICC.
    pub eid: String,
    /// Profile type id.
    pub profile_type_id: i64,
    /// Profile type name.
    pub profile_type: String,
    /// Memory the profile needs (ES3.CreateISDP `RequiredMemory`).
    pub required_memory: i64,
    /// Whether this reservation took the type below its low-stock threshold.
    pub crossed_low_stock: bool,
}

/// A personalised, validated profile package (unprotected, TCA PEDefinitions v3.3.1); its bytes hold K/OPc
/// and are zeroized on drop.
#[derive(Debug)]
pub struct PersonalisedPackage {
    /// ICCID of the record.
    pub iccid: String,
    /// The eUICC it is for.
    pub eid: String,
    /// The DER package.
    pub package: SecretBytes,
}

/// Stock of one profile type, as shown to its MNO.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockLevelInfo {
    /// Profile type name.
    pub profile_type: String,
    /// Records available.
    pub available: i64,
    /// Records reserved.
    pub reserved: i64,
    /// Records downloading.
    pub downloading: i64,
    /// Records installed.
    pub installed: i64,
    /// The type's low-stock threshold.
    pub low_stock_threshold: i64,
    /// Whether `available` is below it.
    pub low: bool,
}

/// Checks an EID: 32 hexadecimal digits (SGP.02 A1 `EIDType`, 16 octets), returned upper-case.
pub fn normalise_eid(eid: &str) -> Result<String, WarehouseError> {
    if eid.len() == 32 && eid.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(eid.to_ascii_uppercase())
    } else {
        Err(WarehouseError::Invalid {
            field: "EID",
            why: "not 32 hexadecimal digits".into(),
        })
    }
}

fn wrong_state(iccid: &str, e: StoreError) -> WarehouseError {
    match e {
        StoreError::Conflict { detail, .. } => WarehouseError::WrongState {
            iccid: iccid.to_owned(),
            detail,
        },
        StoreError::NotFound { .. } => WarehouseError::WrongState {
            iccid: iccid.to_owned(),
            detail: "not in stock".into(),
        },
        other => other.into(),
    }
}

fn type_of(conn: &mut AnyConnection, id: i64) -> Result<ProfileType, WarehouseError> {
    warehouse::get_profile_type(conn, id)?.ok_or_else(|| {
        WarehouseError::Store(StoreError::InvalidData {
            what: "stock.profile_type_id",
            detail: format!("profile type {id} is missing"),
        })
    })
}

/// Reserves a record of the MNO for `eid` (SGP.02 §5.3.2 ES2.DownloadProfile, first step): the next available one
/// of a profile type, or the one with a given ICCID. Call it inside the function call's transaction.
pub fn reserve(
    conn: &mut AnyConnection,
    mno_oid: &str,
    selector: Selector<'_>,
    eid: &str,
    now: UnixMillis,
) -> Result<Reservation, WarehouseError> {
    let eid = normalise_eid(eid)?;
    let (record, pt) = match selector {
        Selector::ProfileType(name) => {
            let pt = profile_types::get(conn, mno_oid, name)?;
            let record = warehouse::reserve_next(conn, pt.id, &eid, now)?.ok_or_else(|| {
                WarehouseError::OutOfStock {
                    profile_type: name.to_owned(),
                }
            })?;
            (record, pt)
        }
        Selector::Iccid(iccid) => {
            let iccid = strip_iccid_filler(iccid);
            let unknown = || WarehouseError::UnknownIccid {
                mno: mno_oid.to_owned(),
                iccid: iccid.to_owned(),
            };
            let known = warehouse::get_stock(conn, iccid)?.ok_or_else(unknown)?;
            if known.mno_oid != mno_oid {
                return Err(unknown());
            }
            let record = warehouse::reserve_iccid(conn, iccid, &eid, now)
                .map_err(|e| wrong_state(iccid, e))?;
            let pt = type_of(conn, record.profile_type_id)?;
            (record, pt)
        }
    };
    let threshold = pt.profile_type.low_stock_threshold;
    let crossed = threshold > 0
        && warehouse::available_at_least(conn, pt.id, threshold - 1)?
        && !warehouse::available_at_least(conn, pt.id, threshold)?;
    if crossed {
        low_stock_event(conn, &pt, now)?;
    }
    Ok(Reservation {
        iccid: record.iccid,
        imsi: record.imsi,
        msisdn: record.msisdn,
        eid,
        profile_type_id: pt.id,
        profile_type: pt.profile_type.name,
        required_memory: pt.profile_type.required_memory,
        crossed_low_stock: crossed,
    })
}

/// The `low-stock` event: a log line, and a JSON POST to the MNO's webhook through the outbox when it has one.
fn low_stock_event(
    conn: &mut AnyConnection,
    pt: &ProfileType,
    now: UnixMillis,
) -> Result<(), WarehouseError> {
    let t = &pt.profile_type;
    tracing::warn!(
        event = "low-stock",
        mno = %t.mno_oid,
        profile_type = %t.name,
        threshold = t.low_stock_threshold,
        "available stock of the profile type fell below its low-stock threshold"
    );
    let webhook = entities::get_entity(conn, &t.mno_oid)?
        .and_then(|e| e.endpoints.get(WEBHOOK_ENDPOINT).cloned());
    if let Some(url) = webhook {
        let body = serde_json::json!({
            "event": "low-stock",
            "mnoId": t.mno_oid,
            "profileType": t.name,
            "available": t.low_stock_threshold - 1,
            "lowStockThreshold": t.low_stock_threshold,
            "at": now,
        });
        outbox::enqueue(
            conn,
            &NewOutboxMessage {
                destination_url: url,
                http_method: "POST".into(),
                headers: Vec::new(),
                body: body.to_string().into_bytes(),
                content_type: "application/json".into(),
                correlation_id: Some(format!("low-stock:{}", pt.id)),
                message_id: None,
                not_before: now,
                give_up_at: now + EVENT_TTL_MS,
            },
            now,
        )?;
    }
    Ok(())
}

/// The record reserved or downloading for `eid`, or why not.
fn held_by(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
) -> Result<StockRecord, WarehouseError> {
    let record = warehouse::get_stock(conn, iccid)?.ok_or_else(|| WarehouseError::WrongState {
        iccid: iccid.to_owned(),
        detail: "not in stock".into(),
    })?;
    let held = matches!(record.state, StockState::Reserved | StockState::Downloading)
        && record.eid.as_deref() == Some(eid);
    if !held {
        return Err(WarehouseError::WrongState {
            iccid: iccid.to_owned(),
            detail: format!(
                "expected Reserved or Downloading for EID {eid}, found {} for EID {}",
                record.state.as_str(),
                record.eid.as_deref().unwrap_or("none")
            ),
        });
    }
    Ok(record)
}

/// Personalises the record reserved for `eid` with its profile type's template and validates the package
/// (wire-profile §8). The secrets are opened only for this call. On failure the record stays reserved: the
/// caller [`release`]s it.
pub fn personalise(
    conn: &mut AnyConnection,
    keyring: &MasterKeyring,
    iccid: &str,
    eid: &str,
) -> Result<PersonalisedPackage, WarehouseError> {
    let eid = normalise_eid(eid)?;
    let record = held_by(conn, iccid, &eid)?;
    let pt = type_of(conn, record.profile_type_id)?;
    let personaliser = profile_types::prepare(&pt.profile_type.template)?;
    let clear = secrets::open(keyring, &record)?;
    let package =
        personaliser
            .personalise(&clear)
            .map_err(|source| WarehouseError::Personalise {
                iccid: record.iccid.clone(),
                source,
            })?;
    Ok(PersonalisedPackage {
        iccid: record.iccid,
        eid,
        package: SecretBytes::new(package),
    })
}

/// Reserved → downloading: the download of the record to `eid` starts.
pub fn start_download(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    now: UnixMillis,
) -> Result<(), WarehouseError> {
    let eid = normalise_eid(eid)?;
    warehouse::start_download(conn, iccid, &eid, now).map_err(|e| wrong_state(iccid, e))
}

/// Downloading → installed: the eUICC reported the profile installed.
pub fn mark_installed(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    now: UnixMillis,
) -> Result<(), WarehouseError> {
    let eid = normalise_eid(eid)?;
    warehouse::mark_installed(conn, iccid, &eid, now).map_err(|e| wrong_state(iccid, e))
}

/// Reserved or downloading → available: the download to `eid` failed or was cancelled, the record goes back.
pub fn release(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    now: UnixMillis,
) -> Result<(), WarehouseError> {
    let eid = normalise_eid(eid)?;
    warehouse::release(conn, iccid, &eid, now).map_err(|e| wrong_state(iccid, e))?;
    tracing::info!(iccid, eid = %eid, "stock record released");
    Ok(())
}

/// Stock of each of the MNO's profile types by state, with the low-stock flag.
pub fn levels(
    conn: &mut AnyConnection,
    mno_oid: &str,
) -> Result<Vec<StockLevelInfo>, WarehouseError> {
    let thresholds: std::collections::HashMap<i64, i64> =
        warehouse::list_profile_types(conn, mno_oid)?
            .into_iter()
            .map(|t| (t.id, t.profile_type.low_stock_threshold))
            .collect();
    Ok(warehouse::stock_levels(conn, mno_oid)?
        .into_iter()
        .map(|l: StockLevel| StockLevelInfo {
            low_stock_threshold: thresholds.get(&l.profile_type_id).copied().unwrap_or(0),
            profile_type: l.profile_type,
            available: l.available,
            reserved: l.reserved,
            downloading: l.downloading,
            installed: l.installed,
            low: l.low,
        })
        .collect())
}

/// An order of the MNO, as shown to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderInfo {
    /// Id.
    pub id: i64,
    /// Profile type name.
    pub profile_type: String,
    /// Name of the imported file.
    pub source_file: String,
    /// Records imported.
    pub rows: i64,
    /// Imported (unix ms).
    pub imported_at: UnixMillis,
}

/// The MNO's order with this id (another MNO's order is reported unknown).
pub fn order(
    conn: &mut AnyConnection,
    mno_oid: &str,
    id: i64,
) -> Result<OrderInfo, WarehouseError> {
    let unknown = || WarehouseError::UnknownOrder {
        mno: mno_oid.to_owned(),
        order: id,
    };
    let o = warehouse::get_order(conn, id)?
        .filter(|o| o.mno_oid == mno_oid)
        .ok_or_else(unknown)?;
    let pt = type_of(conn, o.profile_type_id)?;
    Ok(OrderInfo {
        id: o.id,
        profile_type: pt.profile_type.name,
        source_file: o.source_file,
        rows: o.row_count,
        imported_at: o.imported_at,
    })
}
