//! The SM-DP's profile warehouse (design §4; SGP.02 §5.3 ES2.DownloadProfile picks a profile of a
//! ProfileType): profile types, imported orders, and the stock of personalisation records moving
//! available → reserved → downloading → installed, or released back to available on failure.
//!
//! Secrets of a record (K/OPc, PIN/PUK/ADM, OTA keys) arrive sealed ([`Sealed`]).

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use crate::connection::{AnyConnection, Backend, atomic, on_backend};
use crate::error::{RecordKind, StoreError, is_unique_violation};
use crate::schema::{orders, profile_types, stock};
use crate::{Sealed, UnixMillis};

/// Rows per COPY statement on PostgreSQL.
const PG_COPY_ROWS: usize = 10_000;
/// Rows per INSERT statement on SQLite (16 binds a row; bundled SQLite allows 32,766 variables).
const SQLITE_INSERT_ROWS: usize = 2_000;
/// ICCIDs per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 1_000;

/// State of a personalisation record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StockState {
    /// In stock.
    Available,
    /// Picked for an eUICC (ES2.DownloadProfile accepted).
    Reserved,
    /// Being downloaded to the eUICC.
    Downloading,
    /// Installed on the eUICC (final).
    Installed,
}

impl StockState {
    /// Text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            StockState::Available => "Available",
            StockState::Reserved => "Reserved",
            StockState::Downloading => "Downloading",
            StockState::Installed => "Installed",
        }
    }

    fn parse(s: &str) -> Result<StockState, StoreError> {
        Ok(match s {
            "Available" => StockState::Available,
            "Reserved" => StockState::Reserved,
            "Downloading" => StockState::Downloading,
            "Installed" => StockState::Installed,
            _ => {
                return Err(StoreError::invalid_data(
                    "stock.state",
                    format!("unknown state {s:?}"),
                ));
            }
        })
    }
}

/// A profile type of an MNO (SGP.02 §5.3.1 ProfileType): the SAIP template and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProfileType {
    /// OID of the MNO owning it.
    pub mno_oid: String,
    /// Name, unique per MNO (the ProfileType of ES2.DownloadProfile).
    pub name: String,
    /// The profile package template (SAIP DER).
    pub template: Vec<u8>,
    /// Memory the installed profile needs (bytes).
    pub required_memory: i64,
    /// Target eUICC platform.
    pub target_platform: String,
    /// Available stock below which the type is reported low.
    pub low_stock_threshold: i64,
    /// The POL2 given to every profile downloaded from it (SGP.02 §2.4.5), in the text form the SM-DP
    /// validated (`smdp::warehouse::profile_types`); stored and returned unchanged. None: no POL2.
    pub pol2: Option<String>,
}

/// A stored profile type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileType {
    /// Id.
    pub id: i64,
    /// The profile type.
    pub profile_type: NewProfileType,
    /// Created (unix ms).
    pub created_at: UnixMillis,
}

/// An imported order of personalisation records (one MNO input file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Id.
    pub id: i64,
    /// OID of the MNO.
    pub mno_oid: String,
    /// Profile type of its records.
    pub profile_type_id: i64,
    /// Name of the imported file.
    pub source_file: String,
    /// Records imported.
    pub row_count: i64,
    /// Import started (unix ms).
    pub imported_at: UnixMillis,
}

/// One personalisation record to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStockRecord {
    /// ICCID (unique).
    pub iccid: String,
    /// IMSI.
    pub imsi: String,
    /// MSISDN, if assigned.
    pub msisdn: Option<String>,
    /// The record's secrets, encrypted at rest.
    pub secrets: Sealed,
}

/// A stored personalisation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRecord {
    /// ICCID.
    pub iccid: String,
    /// IMSI.
    pub imsi: String,
    /// MSISDN.
    pub msisdn: Option<String>,
    /// Secrets, encrypted at rest.
    pub secrets: Sealed,
    /// Profile type.
    pub profile_type_id: i64,
    /// OID of the MNO.
    pub mno_oid: String,
    /// Order it came with.
    pub order_id: i64,
    /// State.
    pub state: StockState,
    /// eUICC it is reserved for or installed on.
    pub eid: Option<String>,
    /// Imported (unix ms).
    pub created_at: UnixMillis,
    /// Last reserved (unix ms).
    pub reserved_at: Option<UnixMillis>,
    /// Last download started (unix ms).
    pub downloading_at: Option<UnixMillis>,
    /// Installed (unix ms).
    pub installed_at: Option<UnixMillis>,
    /// Last released back to stock (unix ms).
    pub released_at: Option<UnixMillis>,
    /// Last change (unix ms).
    pub updated_at: UnixMillis,
}

/// Stock of one profile type by state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    /// Profile type id.
    pub profile_type_id: i64,
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
    /// Whether `available` is below the type's low-stock threshold.
    pub low: bool,
}

#[derive(Insertable)]
#[diesel(table_name = profile_types)]
struct ProfileTypeNewRow<'a> {
    mno_oid: &'a str,
    name: &'a str,
    template: &'a [u8],
    required_memory: i64,
    target_platform: &'a str,
    low_stock_threshold: i64,
    created_at: i64,
    updated_at: i64,
    pol2: Option<&'a str>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = profile_types)]
struct ProfileTypeRow {
    id: i64,
    mno_oid: String,
    name: String,
    template: Vec<u8>,
    required_memory: i64,
    target_platform: String,
    low_stock_threshold: i64,
    created_at: i64,
    pol2: Option<String>,
}

impl From<ProfileTypeRow> for ProfileType {
    fn from(r: ProfileTypeRow) -> Self {
        ProfileType {
            id: r.id,
            profile_type: NewProfileType {
                mno_oid: r.mno_oid,
                name: r.name,
                template: r.template,
                required_memory: r.required_memory,
                target_platform: r.target_platform,
                low_stock_threshold: r.low_stock_threshold,
                pol2: r.pol2,
            },
            created_at: r.created_at,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = orders)]
struct OrderNewRow<'a> {
    mno_oid: &'a str,
    profile_type_id: i64,
    source_file: &'a str,
    row_count: i64,
    imported_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = orders)]
struct OrderRow {
    id: i64,
    mno_oid: String,
    profile_type_id: i64,
    source_file: String,
    row_count: i64,
    imported_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = stock)]
#[diesel(treat_none_as_default_value = false)]
struct StockNewRow<'a> {
    iccid: &'a str,
    imsi: &'a str,
    msisdn: Option<&'a str>,
    secrets: &'a [u8],
    secrets_key_id: &'a str,
    profile_type_id: i64,
    mno_oid: &'a str,
    order_id: i64,
    state: &'a str,
    eid: Option<&'a str>,
    created_at: i64,
    reserved_at: Option<i64>,
    downloading_at: Option<i64>,
    installed_at: Option<i64>,
    released_at: Option<i64>,
    updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = stock)]
struct StockRow {
    iccid: String,
    imsi: String,
    msisdn: Option<String>,
    secrets: Vec<u8>,
    secrets_key_id: String,
    profile_type_id: i64,
    mno_oid: String,
    order_id: i64,
    state: String,
    eid: Option<String>,
    created_at: i64,
    reserved_at: Option<i64>,
    downloading_at: Option<i64>,
    installed_at: Option<i64>,
    released_at: Option<i64>,
    updated_at: i64,
}

impl TryFrom<StockRow> for StockRecord {
    type Error = StoreError;

    fn try_from(r: StockRow) -> Result<Self, StoreError> {
        Ok(StockRecord {
            state: StockState::parse(&r.state)?,
            iccid: r.iccid,
            imsi: r.imsi,
            msisdn: r.msisdn,
            secrets: Sealed {
                key_id: r.secrets_key_id,
                ciphertext: r.secrets,
            },
            profile_type_id: r.profile_type_id,
            mno_oid: r.mno_oid,
            order_id: r.order_id,
            eid: r.eid,
            created_at: r.created_at,
            reserved_at: r.reserved_at,
            downloading_at: r.downloading_at,
            installed_at: r.installed_at,
            released_at: r.released_at,
            updated_at: r.updated_at,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Profile types and orders

/// Creates a profile type; `AlreadyExists` if the MNO has one of that name. Returns its id.
pub fn create_profile_type(
    conn: &mut AnyConnection,
    pt: &NewProfileType,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let row = ProfileTypeNewRow {
        mno_oid: &pt.mno_oid,
        name: &pt.name,
        template: &pt.template,
        required_memory: pt.required_memory,
        target_platform: &pt.target_platform,
        low_stock_threshold: pt.low_stock_threshold,
        created_at: now,
        updated_at: now,
        pol2: pt.pol2.as_deref(),
    };
    let id: Option<i64> = on_backend!(conn, c => diesel::insert_into(profile_types::table)
        .values(&row)
        .on_conflict_do_nothing()
        .returning(profile_types::id)
        .get_result(c)
        .optional())?;
    id.ok_or_else(|| {
        StoreError::exists(
            RecordKind::ProfileType,
            format!("{}/{}", pt.mno_oid, pt.name),
        )
    })
}

/// The profile type with this id.
pub fn get_profile_type(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ProfileType>, StoreError> {
    Ok(profile_types::table
        .find(id)
        .select(ProfileTypeRow::as_select())
        .first(conn)
        .optional()?
        .map(ProfileType::from))
}

/// The profile type `name` of MNO `mno_oid` (ES2.DownloadProfile's ProfileType).
pub fn profile_type_by_name(
    conn: &mut AnyConnection,
    mno_oid: &str,
    name: &str,
) -> Result<Option<ProfileType>, StoreError> {
    Ok(profile_types::table
        .filter(
            profile_types::mno_oid
                .eq(mno_oid)
                .and(profile_types::name.eq(name)),
        )
        .select(ProfileTypeRow::as_select())
        .first(conn)
        .optional()?
        .map(ProfileType::from))
}

/// The profile types of an MNO, by name.
pub fn list_profile_types(
    conn: &mut AnyConnection,
    mno_oid: &str,
) -> Result<Vec<ProfileType>, StoreError> {
    Ok(profile_types::table
        .filter(profile_types::mno_oid.eq(mno_oid))
        .order(profile_types::name)
        .select(ProfileTypeRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ProfileType::from)
        .collect())
}

/// Records a new order for a profile type (its rows follow with [`insert_stock_chunk`] in the same
/// transaction). The MNO is the profile type's. Returns the order id.
pub fn create_order(
    conn: &mut AnyConnection,
    profile_type_id: i64,
    source_file: &str,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    atomic(conn, |c| {
        let mno: String = profile_types::table
            .find(profile_type_id)
            .select(profile_types::mno_oid)
            .first(c)
            .optional()?
            .ok_or_else(|| {
                StoreError::not_found(RecordKind::ProfileType, profile_type_id.to_string())
            })?;
        let row = OrderNewRow {
            mno_oid: &mno,
            profile_type_id,
            source_file,
            row_count: 0,
            imported_at: now,
        };
        Ok(on_backend!(c, c => diesel::insert_into(orders::table)
            .values(&row)
            .returning(orders::id)
            .get_result(c))?)
    })
}

/// The order with this id.
pub fn get_order(conn: &mut AnyConnection, id: i64) -> Result<Option<Order>, StoreError> {
    Ok(orders::table
        .find(id)
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?
        .map(|r| Order {
            id: r.id,
            mno_oid: r.mno_oid,
            profile_type_id: r.profile_type_id,
            source_file: r.source_file,
            row_count: r.row_count,
            imported_at: r.imported_at,
        }))
}

// ---------------------------------------------------------------------------------------------------------
// Import

/// Inserts one chunk of an order's records, available, with COPY FROM (PostgreSQL) or multi-row INSERTs
/// (SQLite), never a round trip per row, and
/// adds them to the order's row count. Call it repeatedly inside one [`crate::Store::tx`] to import an order
/// atomically. A known ICCID fails the chunk with `AlreadyExists` (check first with [`existing_iccids`]).
pub fn insert_stock_chunk(
    conn: &mut AnyConnection,
    order_id: i64,
    records: &[NewStockRecord],
    now: UnixMillis,
) -> Result<usize, StoreError> {
    if records.is_empty() {
        return Ok(0);
    }
    let per_statement = match conn.backend() {
        Backend::Postgres => PG_COPY_ROWS,
        Backend::Sqlite => SQLITE_INSERT_ROWS,
    };
    atomic(conn, |c| {
        let order: (String, i64) = orders::table
            .find(order_id)
            .select((orders::mno_oid, orders::profile_type_id))
            .first(c)
            .optional()?
            .ok_or_else(|| StoreError::not_found(RecordKind::Order, order_id.to_string()))?;
        let available = StockState::Available.as_str();
        let mut rows = Vec::with_capacity(per_statement.min(records.len()));
        for part in records.chunks(per_statement) {
            rows.clear();
            rows.extend(part.iter().map(|r| StockNewRow {
                iccid: &r.iccid,
                imsi: &r.imsi,
                msisdn: r.msisdn.as_deref(),
                secrets: &r.secrets.ciphertext,
                secrets_key_id: &r.secrets.key_id,
                profile_type_id: order.1,
                mno_oid: &order.0,
                order_id,
                state: available,
                eid: None,
                created_at: now,
                reserved_at: None,
                downloading_at: None,
                installed_at: None,
                released_at: None,
                updated_at: now,
            }));
            match c {
                // COPY FROM STDIN (binary): one statement streams the whole chunk.
                AnyConnection::Pg(c) => diesel::copy_from(stock::table)
                    .from_insertable(&rows)
                    .execute(c)
                    .map(|_| ()),
                AnyConnection::Sqlite(c) => diesel::insert_into(stock::table)
                    .values(&rows)
                    .execute(c)
                    .map(|_| ()),
            }
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::exists(
                        RecordKind::StockRecord,
                        format!("an ICCID of the chunk starting at {}", part[0].iccid),
                    )
                } else {
                    e.into()
                }
            })?;
        }
        let n = i64::try_from(records.len())
            .map_err(|_| StoreError::invalid_argument("records", "too many"))?;
        diesel::update(orders::table.find(order_id))
            .set(orders::row_count.eq(orders::row_count + n))
            .execute(c)?;
        Ok(records.len())
    })
}

/// The MSISDN of the stock record with this IMSI, if one has an MSISDN (the MNO's provisioning of its network
/// from the order file; read by a lab's simulated network; index `stock_imsi`).
pub fn msisdn_of_imsi(conn: &mut AnyConnection, imsi: &str) -> Result<Option<String>, StoreError> {
    let found: Option<Option<String>> = stock::table
        .filter(stock::imsi.eq(imsi))
        .filter(stock::msisdn.is_not_null())
        .select(stock::msisdn)
        .first(conn)
        .optional()?;
    Ok(found.flatten())
}

/// The owning MNO of each of these IMSIs already in stock (duplicate check before an import; index `stock_imsi`).
pub fn imsi_owners<S: AsRef<str>>(
    conn: &mut AnyConnection,
    imsis: &[S],
) -> Result<HashMap<String, String>, StoreError> {
    let mut found = HashMap::new();
    for part in imsis.chunks(LOOKUP_CHUNK) {
        let keys: Vec<&str> = part.iter().map(AsRef::as_ref).collect();
        let hits: Vec<(String, String)> = stock::table
            .filter(stock::imsi.eq_any(&keys))
            .select((stock::imsi, stock::mno_oid))
            .load(conn)?;
        found.extend(hits);
    }
    Ok(found)
}

/// Which of these ICCIDs are already in stock (duplicate check before an import).
pub fn existing_iccids<S: AsRef<str>>(
    conn: &mut AnyConnection,
    iccids: &[S],
) -> Result<HashSet<String>, StoreError> {
    let mut found = HashSet::new();
    for part in iccids.chunks(LOOKUP_CHUNK) {
        let keys: Vec<&str> = part.iter().map(AsRef::as_ref).collect();
        let hits: Vec<String> = stock::table
            .filter(stock::iccid.eq_any(&keys))
            .select(stock::iccid)
            .load(conn)?;
        found.extend(hits);
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------------------
// Reservation and state transitions

fn stock_miss<T>(conn: &mut AnyConnection, iccid: &str, expected: &str) -> Result<T, StoreError> {
    let found = stock::table
        .find(iccid)
        .select((stock::state, stock::eid))
        .first::<(String, Option<String>)>(conn)
        .optional()?;
    match found {
        None => Err(StoreError::not_found(RecordKind::StockRecord, iccid)),
        Some((state, eid)) => Err(StoreError::conflict(
            RecordKind::StockRecord,
            iccid,
            format!(
                "expected {expected}, found {state} for EID {}",
                eid.as_deref().unwrap_or("none")
            ),
        )),
    }
}

/// Reserves the next available record of a profile type for `eid` (lowest ICCID first): `SKIP LOCKED` on
/// PostgreSQL so concurrent reservations take distinct records, an IMMEDIATE transaction on SQLite. `None`
/// when the type is out of stock.
pub fn reserve_next(
    conn: &mut AnyConnection,
    profile_type_id: i64,
    eid: &str,
    now: UnixMillis,
) -> Result<Option<StockRecord>, StoreError> {
    atomic(conn, |c| {
        let pick = stock::table
            .filter(
                stock::profile_type_id
                    .eq(profile_type_id)
                    .and(stock::state.eq(StockState::Available.as_str())),
            )
            .order(stock::iccid)
            .select(stock::iccid);
        let iccid: Option<String> = match c {
            AnyConnection::Pg(c) => pick.for_update().skip_locked().first(c).optional()?,
            AnyConnection::Sqlite(c) => pick.first(c).optional()?,
        };
        let Some(iccid) = iccid else { return Ok(None) };
        let row: StockRow = on_backend!(c, c => diesel::update(stock::table.find(&iccid))
            .set((
                stock::state.eq(StockState::Reserved.as_str()),
                stock::eid.eq(eid),
                stock::reserved_at.eq(now),
                stock::updated_at.eq(now),
            ))
            .returning(StockRow::as_returning())
            .get_result(c))?;
        StockRecord::try_from(row).map(Some)
    })
}

/// Reserves one given record for `eid` (an MNO asking for a specific ICCID); `Conflict` unless available.
pub fn reserve_iccid(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    now: UnixMillis,
) -> Result<StockRecord, StoreError> {
    atomic(conn, |c| {
        let row: Option<StockRow> = on_backend!(c, c => diesel::update(
            stock::table.filter(stock::iccid.eq(iccid).and(stock::state.eq(StockState::Available.as_str()))),
        )
        .set((
            stock::state.eq(StockState::Reserved.as_str()),
            stock::eid.eq(eid),
            stock::reserved_at.eq(now),
            stock::updated_at.eq(now),
        ))
        .returning(StockRow::as_returning())
        .get_result(c)
        .optional())?;
        match row {
            Some(r) => StockRecord::try_from(r),
            None => stock_miss(c, iccid, StockState::Available.as_str()),
        }
    })
}

/// Moves a record of `eid` from `from` to `to`, checking the expected previous state.
fn transition(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    from: StockState,
    to: StockState,
    now: UnixMillis,
) -> Result<(), StoreError> {
    atomic(conn, |c| {
        let target = stock::table.filter(
            stock::iccid
                .eq(iccid)
                .and(stock::state.eq(from.as_str()))
                .and(stock::eid.eq(eid)),
        );
        let n = match to {
            StockState::Downloading => diesel::update(target)
                .set((
                    stock::state.eq(to.as_str()),
                    stock::downloading_at.eq(now),
                    stock::updated_at.eq(now),
                ))
                .execute(c)?,
            StockState::Installed => diesel::update(target)
                .set((
                    stock::state.eq(to.as_str()),
                    stock::installed_at.eq(now),
                    stock::updated_at.eq(now),
                ))
                .execute(c)?,
            StockState::Available => diesel::update(target)
                .set((
                    stock::state.eq(to.as_str()),
                    stock::eid.eq(None::<String>),
                    stock::released_at.eq(now),
                    stock::updated_at.eq(now),
                ))
                .execute(c)?,
            StockState::Reserved => {
                return Err(StoreError::invalid_argument(
                    "transition",
                    "use reserve_next or reserve_iccid",
                ));
            }
        };
        if n == 0 {
            return stock_miss(c, iccid, &format!("{} for EID {eid}", from.as_str()));
        }
        Ok(())
    })
}

/// Reserved → downloading (the download to `eid` starts).
pub fn start_download(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    transition(
        conn,
        iccid,
        eid,
        StockState::Reserved,
        StockState::Downloading,
        now,
    )
}

/// Downloading → installed (the eUICC confirmed the installation).
pub fn mark_installed(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    transition(
        conn,
        iccid,
        eid,
        StockState::Downloading,
        StockState::Installed,
        now,
    )
}

/// Reserved or downloading → available again (the download failed or was cancelled); clears the EID.
pub fn release(
    conn: &mut AnyConnection,
    iccid: &str,
    eid: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    atomic(conn, |c| {
        match transition(
            c,
            iccid,
            eid,
            StockState::Reserved,
            StockState::Available,
            now,
        ) {
            Err(StoreError::Conflict { .. }) => transition(
                c,
                iccid,
                eid,
                StockState::Downloading,
                StockState::Available,
                now,
            ),
            other => other,
        }
    })
}

/// Whether a profile type has at least `n` records available (an index walk of at most `n` entries), for the
/// low-stock check after a reservation.
pub fn available_at_least(
    conn: &mut AnyConnection,
    profile_type_id: i64,
    n: i64,
) -> Result<bool, StoreError> {
    if n <= 0 {
        return Ok(true);
    }
    let hit: Option<String> = stock::table
        .filter(
            stock::profile_type_id
                .eq(profile_type_id)
                .and(stock::state.eq(StockState::Available.as_str())),
        )
        .order(stock::iccid)
        .offset(n - 1)
        .limit(1)
        .select(stock::iccid)
        .first(conn)
        .optional()?;
    Ok(hit.is_some())
}

/// The record with this ICCID.
pub fn get_stock(conn: &mut AnyConnection, iccid: &str) -> Result<Option<StockRecord>, StoreError> {
    stock::table
        .find(iccid)
        .select(StockRow::as_select())
        .first(conn)
        .optional()?
        .map(StockRecord::try_from)
        .transpose()
}

/// Stock of each profile type of an MNO, by state (types without stock included, counts 0).
pub fn stock_levels(
    conn: &mut AnyConnection,
    mno_oid: &str,
) -> Result<Vec<StockLevel>, StoreError> {
    let types = list_profile_types(conn, mno_oid)?;
    let ids: Vec<i64> = types.iter().map(|t| t.id).collect();
    let counts: Vec<(i64, String, i64)> = stock::table
        .filter(stock::profile_type_id.eq_any(&ids))
        .group_by((stock::profile_type_id, stock::state))
        .select((
            stock::profile_type_id,
            stock::state,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let mut out = Vec::with_capacity(types.len());
    for t in types {
        let mut level = StockLevel {
            profile_type_id: t.id,
            profile_type: t.profile_type.name.clone(),
            available: 0,
            reserved: 0,
            downloading: 0,
            installed: 0,
            low: false,
        };
        for (_, state, n) in counts.iter().filter(|(id, _, _)| *id == t.id) {
            match StockState::parse(state)? {
                StockState::Available => level.available = *n,
                StockState::Reserved => level.reserved = *n,
                StockState::Downloading => level.downloading = *n,
                StockState::Installed => level.installed = *n,
            }
        }
        level.low = level.available < t.profile_type.low_stock_threshold;
        out.push(level);
    }
    Ok(out)
}

/// One page of installed records of a profile type, by ICCID after `after` (exclusive).
pub fn installed_page(
    conn: &mut AnyConnection,
    profile_type_id: i64,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<StockRecord>, StoreError> {
    let mut q = stock::table
        .filter(
            stock::profile_type_id
                .eq(profile_type_id)
                .and(stock::state.eq(StockState::Installed.as_str())),
        )
        .order(stock::iccid)
        .limit(limit)
        .select(StockRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(stock::iccid.gt(a));
    }
    q.load(conn)?
        .into_iter()
        .map(StockRecord::try_from)
        .collect()
}

/// Iterator over the installed records of a profile type (output files), fetched in pages of `batch`.
pub struct InstalledExport<'c> {
    conn: &'c mut AnyConnection,
    profile_type_id: i64,
    batch: i64,
    after: Option<String>,
    page: std::vec::IntoIter<StockRecord>,
    done: bool,
}

/// Exports the installed records of a profile type in ICCID order, `batch` rows per query.
pub fn export_installed(
    conn: &mut AnyConnection,
    profile_type_id: i64,
    batch: i64,
) -> InstalledExport<'_> {
    InstalledExport {
        conn,
        profile_type_id,
        batch: batch.max(1),
        after: None,
        page: Vec::new().into_iter(),
        done: false,
    }
}

impl Iterator for InstalledExport<'_> {
    type Item = Result<StockRecord, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.page.next() {
            return Some(Ok(r));
        }
        if self.done {
            return None;
        }
        match installed_page(
            self.conn,
            self.profile_type_id,
            self.after.as_deref(),
            self.batch,
        ) {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(rows) => {
                if (rows.len() as i64) < self.batch {
                    self.done = true;
                }
                self.after = rows.last().map(|r| r.iccid.clone());
                self.page = rows.into_iter();
                self.page.next().map(Ok)
            }
        }
    }
}

/// Deletes an order and its records that are still available (withdrawn order); records already reserved,
/// downloading or installed stay. Returns how many records were deleted; the order row goes once it has no
/// records left.
pub fn delete_available_of_order(
    conn: &mut AnyConnection,
    order_id: i64,
) -> Result<usize, StoreError> {
    atomic(conn, |c| {
        let n = diesel::delete(
            stock::table.filter(
                stock::order_id
                    .eq(order_id)
                    .and(stock::state.eq(StockState::Available.as_str())),
            ),
        )
        .execute(c)?;
        let left: i64 = stock::table
            .filter(stock::order_id.eq(order_id))
            .count()
            .get_result(c)?;
        if left == 0 {
            diesel::delete(orders::table.find(order_id)).execute(c)?;
        }
        Ok(n)
    })
}

/// Deletes a profile type that no order refers to any more; `Conflict` otherwise.
pub fn delete_profile_type(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    atomic(conn, |c| {
        let orders_left: i64 = orders::table
            .filter(orders::profile_type_id.eq(id))
            .count()
            .get_result(c)?;
        if orders_left > 0 {
            return Err(StoreError::conflict(
                RecordKind::ProfileType,
                id.to_string(),
                format!("{orders_left} orders still refer to it"),
            ));
        }
        let n = diesel::delete(profile_types::table.find(id)).execute(c)?;
        if n == 0 {
            return Err(StoreError::not_found(
                RecordKind::ProfileType,
                id.to_string(),
            ));
        }
        Ok(())
    })
}

/// The owning MNO of each of these ICCIDs that is in the stock (ICCID → MNO OID), looked up in chunks, so that
/// an import can tell the MNO's own records from ICCIDs it may not learn about (docs/architecture.md §8).
pub fn stock_owners<S: AsRef<str>>(
    conn: &mut AnyConnection,
    iccids: &[S],
) -> Result<HashMap<String, String>, StoreError> {
    let mut found = HashMap::new();
    for part in iccids.chunks(LOOKUP_CHUNK) {
        let keys: Vec<&str> = part.iter().map(AsRef::as_ref).collect();
        let hits: Vec<(String, String)> = stock::table
            .filter(stock::iccid.eq_any(&keys))
            .select((stock::iccid, stock::mno_oid))
            .load(conn)?;
        found.extend(hits);
    }
    Ok(found)
}

/// The stock of one profile type that is not installed yet, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockGauge {
    /// OID of the MNO.
    pub mno_oid: String,
    /// Profile type name.
    pub profile_type: String,
    /// Its low-stock threshold.
    pub low_stock_threshold: i64,
    /// Records available.
    pub available: i64,
    /// Records reserved for a download.
    pub reserved: i64,
    /// Records being downloaded.
    pub downloading: i64,
}

/// Stock not yet installed of every profile type of every MNO (issue 14 item 4, `/metrics`): one aggregate
/// over the `stock_pick (profile_type_id, state, …)` index, by type and by state other than Installed, so its
/// cost grows with the stock on hand, not with the profiles delivered; templates are not read.
pub fn stock_gauges(conn: &mut AnyConnection) -> Result<Vec<StockGauge>, StoreError> {
    let types: Vec<(i64, String, String, i64)> = profile_types::table
        .order((profile_types::mno_oid, profile_types::name))
        .select((
            profile_types::id,
            profile_types::mno_oid,
            profile_types::name,
            profile_types::low_stock_threshold,
        ))
        .load(conn)?;
    let ids: Vec<i64> = types.iter().map(|t| t.0).collect();
    let states = [
        StockState::Available.as_str(),
        StockState::Reserved.as_str(),
        StockState::Downloading.as_str(),
    ];
    let counts: Vec<(i64, String, i64)> = stock::table
        .filter(stock::profile_type_id.eq_any(&ids))
        .filter(stock::state.eq_any(states))
        .group_by((stock::profile_type_id, stock::state))
        .select((
            stock::profile_type_id,
            stock::state,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let mut out = Vec::with_capacity(types.len());
    for (id, mno_oid, profile_type, low_stock_threshold) in types {
        let mut g = StockGauge {
            mno_oid,
            profile_type,
            low_stock_threshold,
            available: 0,
            reserved: 0,
            downloading: 0,
        };
        for (_, state, n) in counts.iter().filter(|(t, _, _)| *t == id) {
            match StockState::parse(state)? {
                StockState::Available => g.available = *n,
                StockState::Reserved => g.reserved = *n,
                StockState::Downloading => g.downloading = *n,
                StockState::Installed => {}
            }
        }
        out.push(g);
    }
    Ok(out)
}
