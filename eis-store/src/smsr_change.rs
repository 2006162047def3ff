//! SM-SR change (SGP.02 §3.8): the expectation ES4.PrepareSMSRChange records at the new SM-SR, and the ES7
//! requests an SM-SR sent to the other, so that their answers reach the operation that sent them.

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{smsr_change_expectations, smsr_es7_requests};

/// An SM-SR change announced to the new SM-SR by ES4.PrepareSMSRChange (SGP.02 §3.8 step 1).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = smsr_change_expectations)]
pub struct Expectation {
    /// The eUICC.
    pub eid: String,
    /// The SM-SR that holds it now (`CurrentSMSRid`).
    pub current_smsr_oid: String,
    /// Who announced it (the MNO).
    pub requester_oid: String,
    /// Until when the hand-over may arrive (unix ms).
    pub expires_at: UnixMillis,
    /// Recorded (unix ms).
    pub created_at: UnixMillis,
}

/// Records `e`, replacing an earlier expectation for the same eUICC (SGP.02 §5.5 PrepareSMSRChange).
pub fn expect(conn: &mut AnyConnection, e: &Expectation) -> Result<(), StoreError> {
    on_backend!(conn, c => {
        diesel::delete(smsr_change_expectations::table.find(&e.eid)).execute(c)?;
        diesel::insert_into(smsr_change_expectations::table).values(e).execute(c)
    })?;
    Ok(())
}

/// The expectation for `eid` that has not expired at `now`.
pub fn expectation(
    conn: &mut AnyConnection,
    eid: &str,
    now: UnixMillis,
) -> Result<Option<Expectation>, StoreError> {
    Ok(smsr_change_expectations::table
        .find(eid)
        .filter(smsr_change_expectations::expires_at.ge(now))
        .select(Expectation::as_select())
        .first(conn)
        .optional()?)
}

/// Removes the expectation for `eid` (the hand-over it announced is done); returns whether there was one.
pub fn fulfil(conn: &mut AnyConnection, eid: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(smsr_change_expectations::table.find(eid)).execute(conn)?;
    Ok(n > 0)
}

/// An ES7 request sent to the other SM-SR (SGP.02 §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = smsr_es7_requests)]
pub struct Es7Request {
    /// Its `wsa:MessageID`.
    pub message_id: String,
    /// The operation that sent it.
    pub operation_id: i64,
    /// The function, e.g. `ES7-AuthenticateSMSR`.
    pub function: String,
    /// Whether its answer arrived.
    pub answered: bool,
    /// Sent (unix ms).
    pub created_at: UnixMillis,
}

/// Records a request sent by operation `operation_id`.
pub fn record_request(
    conn: &mut AnyConnection,
    message_id: &str,
    operation_id: i64,
    function: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    diesel::insert_into(smsr_es7_requests::table)
        .values(&Es7Request {
            message_id: message_id.to_string(),
            operation_id,
            function: function.to_string(),
            answered: false,
            created_at: now,
        })
        .execute(conn)?;
    Ok(())
}

/// The request `message_id`, answered or not.
pub fn request(
    conn: &mut AnyConnection,
    message_id: &str,
) -> Result<Option<Es7Request>, StoreError> {
    Ok(smsr_es7_requests::table
        .find(message_id)
        .select(Es7Request::as_select())
        .first(conn)
        .optional()?)
}

/// Marks the request `message_id` answered and returns it; `None` if there is no such request or it was
/// answered already (a repeated callback changes nothing).
pub fn take_answer(
    conn: &mut AnyConnection,
    message_id: &str,
) -> Result<Option<Es7Request>, StoreError> {
    let n = diesel::update(
        smsr_es7_requests::table
            .find(message_id)
            .filter(smsr_es7_requests::answered.eq(false)),
    )
    .set(smsr_es7_requests::answered.eq(true))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(smsr_es7_requests::table
        .find(message_id)
        .select(Es7Request::as_select())
        .first(conn)
        .optional()?)
}
