//! The SM-SR processes sharing one database (issue 14 item 2: several nodes): each says it is alive every few
//! seconds, and the live ones share what is budgeted for the whole installation — the SMSC account's submit_sm
//! rate (`es5.smpp.throughput_total`, SMPP 3.4 §2.7 throughput).

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::StoreError;
use crate::schema::smsr_nodes;

/// Records that `node_id` is alive at `now`, forgets nodes not seen since `stale_before` (a node that died
/// without leaving), and returns how many nodes are live, this one included.
pub fn beat(
    conn: &mut AnyConnection,
    node_id: &str,
    now: UnixMillis,
    stale_before: UnixMillis,
) -> Result<usize, StoreError> {
    on_backend!(conn, c => diesel::insert_into(smsr_nodes::table)
        .values((smsr_nodes::node_id.eq(node_id), smsr_nodes::seen_at.eq(now)))
        .on_conflict(smsr_nodes::node_id)
        .do_update()
        .set(smsr_nodes::seen_at.eq(now))
        .execute(c))?;
    diesel::delete(smsr_nodes::table.filter(smsr_nodes::seen_at.lt(stale_before))).execute(conn)?;
    Ok(live(conn, stale_before)?.len().max(1))
}

/// The nodes seen since `stale_before`, by id.
pub fn live(conn: &mut AnyConnection, stale_before: UnixMillis) -> Result<Vec<String>, StoreError> {
    Ok(smsr_nodes::table
        .filter(smsr_nodes::seen_at.ge(stale_before))
        .select(smsr_nodes::node_id)
        .order(smsr_nodes::node_id)
        .load(conn)?)
}

/// Removes `node_id` (it stops): the others take its share at their next [`beat`].
pub fn leave(conn: &mut AnyConnection, node_id: &str) -> Result<(), StoreError> {
    diesel::delete(smsr_nodes::table.find(node_id)).execute(conn)?;
    Ok(())
}
