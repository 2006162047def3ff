//! The SM-DP's profile downloads (SGP.02 §3.1, ES2.DownloadProfile): one row per download procedure. The row holds
//! the procedure's phase and state (JSON, written by `smdp::download`), its sealed key material, and the step
//! counter: every ES3 request of the procedure is one step with its own `wsa:MessageID`, and [`advance`] writes a
//! new state only if the row is still at the step the caller read, so a late or repeated answer (or a second
//! worker) never moves the procedure twice.

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{smdp_download_messages, smdp_downloads};

/// The phase of a download that ended as it should (`smdp::download::procedure::Phase::Done`): [`list`] and
/// [`count_open_by_phase`] leave these out.
pub const DONE: &str = "Done";

/// A stored download.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = smdp_downloads)]
pub struct Download {
    /// Id.
    pub id: i64,
    /// The ES2.DownloadProfile function call (`function_calls.id`).
    pub es2_call_id: i64,
    /// The MNO.
    pub mno_oid: String,
    /// The eUICC.
    pub eid: String,
    /// The reserved stock record.
    pub iccid: String,
    /// The procedure's phase (for queries and logs; the state is in `data`).
    pub phase: String,
    /// Step counter: one per ES3 request.
    pub step: i64,
    /// `wsa:MessageID` of the ES3 request whose answer is awaited.
    pub awaiting_message_id: Option<String>,
    /// End of the ES2 call's validity (unix ms).
    pub deadline: UnixMillis,
    /// The procedure's state (JSON).
    pub data: String,
    /// Key material of the procedure, sealed with the master key.
    pub sealed_keys: Option<String>,
    /// Created (unix ms).
    pub created_at: UnixMillis,
    /// Last change (unix ms).
    pub updated_at: UnixMillis,
}

/// A download to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDownload<'a> {
    /// The ES2 function call.
    pub es2_call_id: i64,
    /// The MNO.
    pub mno_oid: &'a str,
    /// The eUICC.
    pub eid: &'a str,
    /// The reserved stock record.
    pub iccid: &'a str,
    /// First phase.
    pub phase: &'a str,
    /// First step.
    pub step: i64,
    /// MessageID of the first ES3 request.
    pub awaiting_message_id: Option<&'a str>,
    /// End of validity (unix ms).
    pub deadline: UnixMillis,
    /// State (JSON).
    pub data: &'a str,
}

/// A new state of a download, written by [`advance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadUpdate<'a> {
    /// Phase.
    pub phase: &'a str,
    /// Step.
    pub step: i64,
    /// MessageID awaited, if any.
    pub awaiting_message_id: Option<&'a str>,
    /// State (JSON).
    pub data: &'a str,
    /// Sealed key material (`None`: none kept).
    pub sealed_keys: Option<&'a str>,
}

/// Records a download; returns its id.
pub fn create(
    conn: &mut AnyConnection,
    d: &NewDownload<'_>,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let id: i64 = on_backend!(conn, c => diesel::insert_into(smdp_downloads::table)
        .values((
            smdp_downloads::es2_call_id.eq(d.es2_call_id),
            smdp_downloads::mno_oid.eq(d.mno_oid),
            smdp_downloads::eid.eq(d.eid),
            smdp_downloads::iccid.eq(d.iccid),
            smdp_downloads::phase.eq(d.phase),
            smdp_downloads::step.eq(d.step),
            smdp_downloads::awaiting_message_id.eq(d.awaiting_message_id),
            smdp_downloads::deadline.eq(d.deadline),
            smdp_downloads::data.eq(d.data),
            smdp_downloads::sealed_keys.eq(None::<String>),
            smdp_downloads::created_at.eq(now),
            smdp_downloads::updated_at.eq(now),
        ))
        .returning(smdp_downloads::id)
        .get_result(c))?;
    Ok(id)
}

/// The download with this id.
pub fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Download>, StoreError> {
    Ok(smdp_downloads::table
        .find(id)
        .select(Download::as_select())
        .first(conn)
        .optional()?)
}

/// The download of the ES2 function call `es2_call_id`.
pub fn by_call(conn: &mut AnyConnection, es2_call_id: i64) -> Result<Option<Download>, StoreError> {
    Ok(smdp_downloads::table
        .filter(smdp_downloads::es2_call_id.eq(es2_call_id))
        .select(Download::as_select())
        .first(conn)
        .optional()?)
}

/// The downloads of a stock record, oldest first.
pub fn by_iccid(conn: &mut AnyConnection, iccid: &str) -> Result<Vec<Download>, StoreError> {
    Ok(smdp_downloads::table
        .filter(smdp_downloads::iccid.eq(iccid))
        .order(smdp_downloads::id)
        .select(Download::as_select())
        .load(conn)?)
}

/// Writes the next state of download `id` if it is still at `expected_step`; `false` when another writer
/// advanced it first (the caller then does nothing).
pub fn advance(
    conn: &mut AnyConnection,
    id: i64,
    expected_step: i64,
    u: &DownloadUpdate<'_>,
    now: UnixMillis,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        smdp_downloads::table.filter(
            smdp_downloads::id
                .eq(id)
                .and(smdp_downloads::step.eq(expected_step)),
        ),
    )
    .set((
        smdp_downloads::phase.eq(u.phase),
        smdp_downloads::step.eq(u.step),
        smdp_downloads::awaiting_message_id.eq(u.awaiting_message_id),
        smdp_downloads::data.eq(u.data),
        smdp_downloads::sealed_keys.eq(u.sealed_keys),
        smdp_downloads::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records that download `download_id` sent `message_id` in `step` (every step's MessageID is kept).
pub fn record_message(
    conn: &mut AnyConnection,
    message_id: &str,
    download_id: i64,
    step: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(smdp_download_messages::table)
        .values((
            smdp_download_messages::message_id.eq(message_id),
            smdp_download_messages::download_id.eq(download_id),
            smdp_download_messages::step.eq(step),
        ))
        .execute(conn)?;
    Ok(())
}

/// The download and step that sent `message_id`, if a download did.
pub fn message_owner(
    conn: &mut AnyConnection,
    message_id: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(smdp_download_messages::table
        .find(message_id)
        .select((
            smdp_download_messages::download_id,
            smdp_download_messages::step,
        ))
        .first(conn)
        .optional()?)
}

/// The downloads not finished successfully (phase other than `Done`), or those in `phase`, oldest first, at most
/// `limit` (SGP.02 §3.1; `rsp download list`).
pub fn list(
    conn: &mut AnyConnection,
    phase: Option<&str>,
    limit: i64,
) -> Result<Vec<Download>, StoreError> {
    let query = smdp_downloads::table
        .order(smdp_downloads::id)
        .limit(limit)
        .select(Download::as_select());
    Ok(match phase {
        Some(p) => query.filter(smdp_downloads::phase.eq(p)).load(conn)?,
        None => query.filter(smdp_downloads::phase.ne(DONE)).load(conn)?,
    })
}

/// How many downloads are in each phase other than `Done` (the metrics' gauge).
pub fn count_open_by_phase(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(smdp_downloads::table
        .filter(smdp_downloads::phase.ne(DONE))
        .group_by(smdp_downloads::phase)
        .select((smdp_downloads::phase, diesel::dsl::count_star()))
        .order(smdp_downloads::phase)
        .load(conn)?)
}
