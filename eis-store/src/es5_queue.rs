//! The SM-SR's ES5 command queue (SGP.02 §5.6, design §3 step 4): commands for one eUICC's ISD-R are
//! delivered in order, one at a time; and the SCP80 counter of a key set (ETSI TS 102 225 §5.1.1.1), which is
//! advanced in the caller's transaction, never in memory only (design §5).

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, atomic, atomic_in_pg_tx, on_backend};
use crate::eis::{SCP80_COUNTER_MAX, SdRole};
use crate::error::{RecordKind, StoreError};
use crate::schema::{es5_commands, es5_transmissions, euiccs, keysets};

/// State of an ES5 command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Es5State {
    /// Waiting for its turn.
    Queued,
    /// Sent (or being sent) to the eUICC; no other command of this eUICC may be in flight.
    InFlight,
    /// The eUICC answered (PoR / response script received).
    Done,
    /// Delivery or execution failed.
    Failed,
    /// Its deadline passed before it completed.
    Expired,
}

impl Es5State {
    /// Text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Es5State::Queued => "Queued",
            Es5State::InFlight => "InFlight",
            Es5State::Done => "Done",
            Es5State::Failed => "Failed",
            Es5State::Expired => "Expired",
        }
    }

    fn parse(s: &str) -> Result<Es5State, StoreError> {
        Ok(match s {
            "Queued" => Es5State::Queued,
            "InFlight" => Es5State::InFlight,
            "Done" => Es5State::Done,
            "Failed" => Es5State::Failed,
            "Expired" => Es5State::Expired,
            _ => {
                return Err(StoreError::invalid_data(
                    "es5_commands.state",
                    format!("unknown state {s:?}"),
                ));
            }
        })
    }
}

/// A command to queue for an eUICC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEs5Command {
    /// EID of the target eUICC.
    pub eid: String,
    /// The operation or function call this command belongs to.
    pub operation_ref: String,
    /// The command (e.g. a remote command script for the ISD-R), opaque to the store.
    pub payload: Vec<u8>,
    /// Give up after this time (unix ms): the function call's validity period.
    pub deadline: UnixMillis,
    /// Delivered ahead of the others: the eUICC waits for it with a timer of its own
    /// (HandleNotificationConfirmation, SGP.02 §3.2.2).
    pub urgent: bool,
}

/// A stored ES5 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Es5Command {
    /// Id.
    pub id: i64,
    /// EID.
    pub eid: String,
    /// Position in the eUICC's queue (increasing).
    pub seq: i64,
    /// Operation or function call it belongs to.
    pub operation_ref: String,
    /// The command.
    pub payload: Vec<u8>,
    /// State.
    pub state: Es5State,
    /// Deadline (unix ms).
    pub deadline: UnixMillis,
    /// Transmissions so far.
    pub attempts: u32,
    /// SCP80 key set version and counter used by the last transmission, if sent over SMS.
    pub scp80: Option<(u8, u64)>,
    /// The eUICC's response (PoR data, response script), once done.
    pub response: Option<Vec<u8>>,
    /// Why it failed or expired.
    pub last_error: Option<String>,
    /// Queued (unix ms).
    pub created_at: UnixMillis,
    /// Last change (unix ms).
    pub updated_at: UnixMillis,
    /// Delivered ahead of the others ([`NewEs5Command::urgent`]).
    pub urgent: bool,
}

/// Outcome of [`take_next_for_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// This command is now in flight: send it.
    Next(Es5Command),
    /// A command of this eUICC is already in flight: wait for its response.
    Busy(Es5Command),
    /// Nothing queued for this eUICC.
    Empty,
}

#[derive(Insertable)]
#[diesel(table_name = es5_commands)]
#[diesel(treat_none_as_default_value = false)]
struct NewRow<'a> {
    eid: &'a str,
    seq: i64,
    operation_ref: &'a str,
    payload: &'a [u8],
    state: &'a str,
    deadline: i64,
    attempts: i32,
    keyset_version: Option<i32>,
    scp80_counter: Option<i64>,
    response: Option<&'a [u8]>,
    last_error: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    urgent: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = es5_commands)]
struct Row {
    id: i64,
    eid: String,
    seq: i64,
    operation_ref: String,
    payload: Vec<u8>,
    state: String,
    deadline: i64,
    attempts: i32,
    keyset_version: Option<i32>,
    scp80_counter: Option<i64>,
    response: Option<Vec<u8>>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
    urgent: bool,
}

impl TryFrom<Row> for Es5Command {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        let scp80 = match (r.keyset_version, r.scp80_counter) {
            (Some(v), Some(c)) => Some((
                u8::try_from(v).map_err(|_| {
                    StoreError::invalid_data("es5_commands.keyset_version", format!("{v}"))
                })?,
                u64::try_from(c).map_err(|_| {
                    StoreError::invalid_data("es5_commands.scp80_counter", format!("{c}"))
                })?,
            )),
            _ => None,
        };
        Ok(Es5Command {
            id: r.id,
            eid: r.eid,
            seq: r.seq,
            operation_ref: r.operation_ref,
            payload: r.payload,
            state: Es5State::parse(&r.state)?,
            deadline: r.deadline,
            attempts: u32::try_from(r.attempts).map_err(|_| {
                StoreError::invalid_data("es5_commands.attempts", format!("{}", r.attempts))
            })?,
            scp80,
            response: r.response,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            urgent: r.urgent,
        })
    }
}

/// Queues a command at the end of its eUICC's queue; returns it with its id and sequence number.
pub fn enqueue(
    conn: &mut AnyConnection,
    cmd: &NewEs5Command,
    now: UnixMillis,
) -> Result<Es5Command, StoreError> {
    atomic_in_pg_tx(conn, |c| {
        // Taking the sequence number locks the eUICC row, which orders concurrent enqueuers.
        let seq: Option<i64> = on_backend!(c, c => diesel::update(euiccs::table.find(&cmd.eid))
            .set(euiccs::es5_next_seq.eq(euiccs::es5_next_seq + 1))
            .returning(euiccs::es5_next_seq)
            .get_result(c)
            .optional())?;
        let seq = seq.ok_or_else(|| StoreError::not_found(RecordKind::Eis, &cmd.eid))? - 1;
        let row = NewRow {
            eid: &cmd.eid,
            seq,
            operation_ref: &cmd.operation_ref,
            payload: &cmd.payload,
            state: Es5State::Queued.as_str(),
            deadline: cmd.deadline,
            attempts: 0,
            keyset_version: None,
            scp80_counter: None,
            response: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            urgent: cmd.urgent,
        };
        let stored: Row = on_backend!(c, c => diesel::insert_into(es5_commands::table)
            .values(&row)
            .returning(Row::as_returning())
            .get_result(c))?;
        Es5Command::try_from(stored)
    })
}

/// Commands of eUICC `eid` in `state`.
macro_rules! in_state {
    ($eid:expr, $state:expr) => {
        es5_commands::table.filter(
            es5_commands::eid
                .eq($eid)
                .and(es5_commands::state.eq($state.as_str())),
        )
    };
}

/// Command `id` while its state is one of `states` (the target of a [`transition`]'s update).
macro_rules! in_states {
    ($id:expr, $states:expr) => {
        es5_commands::table
            .find($id)
            .filter(es5_commands::state.eq_any($states))
    };
}

/// Makes the eUICC's next queued command in flight and returns it — the oldest urgent one, else the oldest —
/// unless a command of this eUICC is in flight already (one at a time per ISD-R). When the one it finds is past
/// its deadline, the eUICC's commands past theirs are expired and it looks again (others past theirs are left
/// to their turn or to [`expire_overdue`]).
pub fn take_next_for_delivery(
    conn: &mut AnyConnection,
    eid: &str,
    now: UnixMillis,
) -> Result<Delivery, StoreError> {
    atomic_in_pg_tx(conn, |c| {
        // Serialise deliverers of the same eUICC (and its PoRs and notifications, smsr::es5::inbound).
        if !crate::eis::lock_euicc(c, eid)? {
            return Err(StoreError::not_found(RecordKind::Eis, eid));
        }
        take_next_locked(c, eid, now)
    })
}

/// [`take_next_for_delivery`] for a caller whose transaction holds the eUICC's row lock already
/// ([`crate::eis::lock_free_euiccs`]: the delivery round), without locking it again.
pub fn take_next_locked(
    conn: &mut AnyConnection,
    eid: &str,
    now: UnixMillis,
) -> Result<Delivery, StoreError> {
    atomic_in_pg_tx(conn, |c| {
        // The command in flight if there is one, else the next queued: one statement.
        let first = |c: &mut AnyConnection| -> Result<Option<Row>, StoreError> {
            Ok(es5_commands::table
                .filter(
                    es5_commands::eid.eq(eid).and(
                        es5_commands::state
                            .eq_any([Es5State::InFlight.as_str(), Es5State::Queued.as_str()]),
                    ),
                )
                .order((
                    es5_commands::state.eq(Es5State::InFlight.as_str()).desc(),
                    es5_commands::urgent.desc(),
                    es5_commands::seq,
                ))
                .select(Row::as_select())
                .first(c)
                .optional()?)
        };
        let mut found = first(c)?;
        if found.as_ref().is_some_and(|r| r.deadline < now) {
            expire(c, Some(eid), now)?;
            found = first(c)?;
        }
        let id = match found {
            None => return Ok(Delivery::Empty),
            Some(r) if r.state == Es5State::InFlight.as_str() => {
                return Ok(Delivery::Busy(Es5Command::try_from(r)?));
            }
            Some(r) => r.id,
        };
        let row: Row = on_backend!(c, c => diesel::update(es5_commands::table.find(id))
            .set((
                es5_commands::state.eq(Es5State::InFlight.as_str()),
                es5_commands::updated_at.eq(now),
            ))
            .returning(Row::as_returning())
            .get_result(c))?;
        Ok(Delivery::Next(Es5Command::try_from(row)?))
    })
}

fn expire(
    conn: &mut AnyConnection,
    eid: Option<&str>,
    now: UnixMillis,
) -> Result<usize, StoreError> {
    let mut q = diesel::update(es5_commands::table)
        .filter(
            es5_commands::state
                .eq_any([Es5State::Queued.as_str(), Es5State::InFlight.as_str()])
                .and(es5_commands::deadline.lt(now)),
        )
        .into_boxed();
    if let Some(eid) = eid {
        q = q.filter(es5_commands::eid.eq(eid));
    }
    Ok(q.set((
        es5_commands::state.eq(Es5State::Expired.as_str()),
        es5_commands::last_error.eq("deadline passed"),
        es5_commands::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Expires every queued or in-flight command whose deadline passed before `now`; returns how many.
pub fn expire_overdue(conn: &mut AnyConnection, now: UnixMillis) -> Result<usize, StoreError> {
    expire(conn, None, now)
}

/// Records one transmission of an in-flight command: attempts + 1, and the SCP80 key set version and
/// counter used when it went by SMS (`None` over HTTPS/SCP81).
pub fn record_attempt(
    conn: &mut AnyConnection,
    id: i64,
    scp80: Option<(u8, u64)>,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let (ks, cntr) = match scp80 {
        Some((v, c)) => (
            Some(i32::from(v)),
            Some(
                i64::try_from(c)
                    .map_err(|_| StoreError::invalid_argument("scp80 counter", "out of range"))?,
            ),
        ),
        None => (None, None),
    };
    transition(conn, id, &[Es5State::InFlight], |c, states| {
        diesel::update(in_states!(id, states))
            .set((
                es5_commands::attempts.eq(es5_commands::attempts + 1),
                es5_commands::keyset_version.eq(ks),
                es5_commands::scp80_counter.eq(cntr),
                es5_commands::updated_at.eq(now),
            ))
            .execute(c)
    })
}

/// Runs `apply`, an update of command `id` that changes it only while its state is one of `states`, and
/// checks that it changed it: one statement when it does. On PostgreSQL (read committed) the update waits for
/// a concurrent transaction holding the row and re-checks the state after it, so the state checked is the one
/// changed (a concurrent finish may have failed and purged the command meanwhile: `NotFound`, and the
/// transmission recorded next cannot reference a deleted command). `Conflict` when it is in another state.
fn transition<F>(
    conn: &mut AnyConnection,
    id: i64,
    from: &[Es5State],
    apply: F,
) -> Result<(), StoreError>
where
    F: FnOnce(&mut AnyConnection, &[&'static str]) -> QueryResult<usize>,
{
    let states: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
    if apply(conn, &states)? == 1 {
        return Ok(());
    }
    let state: Option<String> = es5_commands::table
        .find(id)
        .select(es5_commands::state)
        .first(conn)
        .optional()?;
    match state {
        None => Err(StoreError::not_found(
            RecordKind::Es5Command,
            id.to_string(),
        )),
        Some(state) => Err(StoreError::conflict(
            RecordKind::Es5Command,
            id.to_string(),
            format!("in state {state}, expected one of {from:?}"),
        )),
    }
}

/// Marks an in-flight command done with the eUICC's response (which frees the eUICC's queue).
pub fn mark_done(
    conn: &mut AnyConnection,
    id: i64,
    response: Option<&[u8]>,
    now: UnixMillis,
) -> Result<(), StoreError> {
    transition(conn, id, &[Es5State::InFlight], |c, states| {
        diesel::update(in_states!(id, states))
            .set((
                es5_commands::state.eq(Es5State::Done.as_str()),
                es5_commands::response.eq(response),
                es5_commands::updated_at.eq(now),
            ))
            .execute(c)
    })
}

/// Marks an in-flight command failed.
pub fn mark_failed(
    conn: &mut AnyConnection,
    id: i64,
    error: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    transition(conn, id, &[Es5State::InFlight], |c, states| {
        diesel::update(in_states!(id, states))
            .set((
                es5_commands::state.eq(Es5State::Failed.as_str()),
                es5_commands::last_error.eq(error),
                es5_commands::updated_at.eq(now),
            ))
            .execute(c)
    })
}

/// Marks a queued or in-flight command expired.
pub fn mark_expired(conn: &mut AnyConnection, id: i64, now: UnixMillis) -> Result<(), StoreError> {
    transition(
        conn,
        id,
        &[Es5State::Queued, Es5State::InFlight],
        |c, states| {
            diesel::update(in_states!(id, states))
                .set((
                    es5_commands::state.eq(Es5State::Expired.as_str()),
                    es5_commands::last_error.eq("expired"),
                    es5_commands::updated_at.eq(now),
                ))
                .execute(c)
        },
    )
}

/// Deletes the commands of an operation or function call that are not in flight (operation cancelled or
/// finished); an in-flight one stays until its response or deadline. Returns how many were deleted.
pub fn purge_operation(conn: &mut AnyConnection, operation_ref: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        es5_commands::table.filter(
            es5_commands::operation_ref
                .eq(operation_ref)
                .and(es5_commands::state.ne(Es5State::InFlight.as_str())),
        ),
    )
    .execute(conn)?)
}

/// The command with this id.
pub fn get_command(conn: &mut AnyConnection, id: i64) -> Result<Option<Es5Command>, StoreError> {
    es5_commands::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Es5Command::try_from)
        .transpose()
}

/// All commands of an eUICC in queue order.
pub fn commands_of(conn: &mut AnyConnection, eid: &str) -> Result<Vec<Es5Command>, StoreError> {
    es5_commands::table
        .filter(es5_commands::eid.eq(eid))
        .order(es5_commands::seq)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Es5Command::try_from)
        .collect()
}

/// EIDs (at most `limit`) that have a queued, unexpired command and none in flight: where a deliverer can call
/// [`take_next_for_delivery`] now. EIDs with an urgent command come first; then the others in ascending order
/// from the first one after `after` (the last EID of the previous round), wrapping around, so that eUICCs that
/// wait (e.g. for an HTTPS session) do not keep the ones after them from ever being served.
pub fn eids_ready_for_delivery(
    conn: &mut AnyConnection,
    now: UnixMillis,
    limit: i64,
    after: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut ready = ready_eids(conn, now, limit, Ready::Urgent)?;
    let passes = match after {
        Some(a) => vec![Ready::After(a), Ready::UpTo(a)],
        None => vec![Ready::All],
    };
    for pass in passes {
        for eid in ready_eids(conn, now, limit, pass)? {
            if i64::try_from(ready.len()).unwrap_or(i64::MAX) >= limit {
                return Ok(ready);
            }
            if !ready.contains(&eid) {
                ready.push(eid);
            }
        }
    }
    Ok(ready)
}

/// Which ready EIDs [`ready_eids`] lists.
#[derive(Clone, Copy)]
enum Ready<'a> {
    /// Those with an urgent command.
    Urgent,
    /// Every one.
    All,
    /// Those after this EID.
    After(&'a str),
    /// Those up to and including this EID.
    UpTo(&'a str),
}

/// EIDs (ascending, at most `limit`) with a queued, unexpired command and none in flight, among `which`.
fn ready_eids(
    conn: &mut AnyConnection,
    now: UnixMillis,
    limit: i64,
    which: Ready<'_>,
) -> Result<Vec<String>, StoreError> {
    let other = diesel::alias!(es5_commands as other);
    let busy = other
        .filter(
            other
                .field(es5_commands::state)
                .eq(Es5State::InFlight.as_str()),
        )
        .select(other.field(es5_commands::eid));
    let mut q = es5_commands::table
        .filter(
            es5_commands::state
                .eq(Es5State::Queued.as_str())
                .and(es5_commands::deadline.ge(now))
                // NOT (eid = ANY(…)), not eid <> ALL(…): PostgreSQL hashes the in-flight EIDs for the first
                // and compares each queued row with every one of them for the second (39 ms → 2.6 ms a round
                // with 45,000 queued commands and 400 in flight).
                .and(diesel::dsl::not(es5_commands::eid.eq_any(busy))),
        )
        .select(es5_commands::eid)
        .distinct()
        .order(es5_commands::eid)
        .limit(limit)
        .into_boxed();
    q = match which {
        Ready::Urgent => q.filter(es5_commands::urgent),
        Ready::All => q,
        Ready::After(a) => q.filter(es5_commands::eid.gt(a.to_string())),
        Ready::UpTo(a) => q.filter(es5_commands::eid.le(a.to_string())),
    };
    Ok(q.load(conn)?)
}

/// Increments the persisted SCP80 counter of ISD-R key set `keyset_version` and returns the new value, in the
/// caller's transaction (queue the secured packet that uses it in the same transaction: a rollback then
/// leaves the counter unchanged). Fails with `CounterExhausted` at 2^40 - 1.
pub fn advance_scp80_counter(
    conn: &mut AnyConnection,
    eid: &str,
    keyset_version: u8,
) -> Result<u64, StoreError> {
    let role = SdRole::IsdR.as_str();
    let v = i32::from(keyset_version);
    let max = i64::try_from(SCP80_COUNTER_MAX).unwrap_or(i64::MAX);
    atomic_in_pg_tx(conn, |c| {
        let target = keysets::table.filter(
            keysets::eid
                .eq(eid)
                .and(keysets::sd_role.eq(role))
                .and(keysets::version.eq(v))
                .and(keysets::cntr.lt(max)),
        );
        let new: Option<i64> = on_backend!(c, c => diesel::update(target)
            .set(keysets::cntr.eq(keysets::cntr + 1))
            .returning(keysets::cntr)
            .get_result(c)
            .optional())?;
        match new {
            Some(n) => u64::try_from(n)
                .map_err(|_| StoreError::invalid_data("keysets.cntr", format!("{n}"))),
            None => {
                let exists = keysets::table
                    .find((eid, role, v))
                    .select(keysets::cntr)
                    .first::<i64>(c)
                    .optional()?;
                match exists {
                    None => Err(StoreError::not_found(
                        RecordKind::Keyset,
                        format!("{eid} ISD-R key set {keyset_version}"),
                    )),
                    Some(_) => Err(StoreError::CounterExhausted {
                        eid: eid.to_string(),
                        keyset_version,
                    }),
                }
            }
        }
    })
}

/// Records that command `command_id` was sent secured with counter `counter` of ISD-R key set `keyset_version`,
/// so that a PoR carrying that counter is matched to it (ETSI TS 102 225 §5.1.2: the PoR echoes the command's
/// CNTR). Call it in the transaction that advanced the counter.
pub fn record_transmission(
    conn: &mut AnyConnection,
    eid: &str,
    keyset_version: u8,
    counter: u64,
    command_id: i64,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let counter = i64::try_from(counter)
        .map_err(|_| StoreError::invalid_argument("scp80 counter", "out of range"))?;
    diesel::insert_into(es5_transmissions::table)
        .values((
            es5_transmissions::eid.eq(eid),
            es5_transmissions::keyset_version.eq(i32::from(keyset_version)),
            es5_transmissions::counter.eq(counter),
            es5_transmissions::command_id.eq(command_id),
            es5_transmissions::sent_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The command that was sent with `counter` of ISD-R key set `keyset_version` of eUICC `eid`, if any
/// (matching a PoR to its command).
pub fn command_for_counter(
    conn: &mut AnyConnection,
    eid: &str,
    keyset_version: u8,
    counter: u64,
) -> Result<Option<Es5Command>, StoreError> {
    let Ok(counter) = i64::try_from(counter) else {
        return Ok(None);
    };
    let id: Option<i64> = es5_transmissions::table
        .find((eid, i32::from(keyset_version), counter))
        .select(es5_transmissions::command_id)
        .first(conn)
        .optional()?;
    match id {
        None => Ok(None),
        Some(id) => get_command(conn, id),
    }
}

/// The next queued command of eUICC `eid` (lowest sequence), without taking it.
pub fn next_queued(conn: &mut AnyConnection, eid: &str) -> Result<Option<Es5Command>, StoreError> {
    in_state!(eid, Es5State::Queued)
        .order((es5_commands::urgent.desc(), es5_commands::seq))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Es5Command::try_from)
        .transpose()
}

/// The command of eUICC `eid` in flight, if any.
pub fn in_flight(conn: &mut AnyConnection, eid: &str) -> Result<Option<Es5Command>, StoreError> {
    in_state!(eid, Es5State::InFlight)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Es5Command::try_from)
        .transpose()
}

/// The commands of an operation in queue order.
pub fn commands_of_operation(
    conn: &mut AnyConnection,
    operation_ref: &str,
) -> Result<Vec<Es5Command>, StoreError> {
    es5_commands::table
        .filter(es5_commands::operation_ref.eq(operation_ref))
        .order(es5_commands::seq)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Es5Command::try_from)
        .collect()
}

/// Adds `step` to the persisted SCP80 counter of ISD-R key set `keyset_version` (at most up to 2^40 - 1) and
/// returns the new value: the recovery when the eUICC reports its counter higher than ours (PoR status `02`,
/// ETSI TS 102 225 §5.1.2), in the caller's transaction.
pub fn skip_scp80_counter(
    conn: &mut AnyConnection,
    eid: &str,
    keyset_version: u8,
    step: u64,
) -> Result<u64, StoreError> {
    let role = SdRole::IsdR.as_str();
    let v = i32::from(keyset_version);
    let max = i64::try_from(SCP80_COUNTER_MAX).unwrap_or(i64::MAX);
    let step = i64::try_from(step).unwrap_or(max);
    atomic(conn, |c| {
        let current: Option<i64> = keysets::table
            .find((eid, role, v))
            .select(keysets::cntr)
            .first(c)
            .optional()?;
        let Some(current) = current else {
            return Err(StoreError::not_found(
                RecordKind::Keyset,
                format!("{eid} ISD-R key set {keyset_version}"),
            ));
        };
        let new = current.saturating_add(step).min(max);
        diesel::update(keysets::table.find((eid, role, v)))
            .set(keysets::cntr.eq(new))
            .execute(c)?;
        u64::try_from(new).map_err(|_| StoreError::invalid_data("keysets.cntr", format!("{new}")))
    })
}

/// Accepts `counter` from a packet the eUICC sent with ISD-R key set `keyset_version` if it is higher than the
/// last one accepted (ETSI TS 102 225 §5.1.1 counter "higher" mode; wire-profile §4: the SM-SR keeps the last
/// value per key set), and stores it. Returns `false` (nothing stored) for a counter not higher: a replay.
pub fn accept_received_counter(
    conn: &mut AnyConnection,
    eid: &str,
    keyset_version: u8,
    counter: u64,
) -> Result<bool, StoreError> {
    let Ok(counter) = i64::try_from(counter) else {
        return Ok(false);
    };
    let v = i32::from(keyset_version);
    // One statement: the row is written when new, or raised when the counter is higher than the last
    // (`ON CONFLICT … DO UPDATE … WHERE`: no row touched otherwise).
    // `$n` placeholders are numbered parameters on PostgreSQL and, on SQLite, named ones numbered in order of
    // appearance: the same text binds alike on both.
    let sql = "INSERT INTO es5_received_counters (eid, keyset_version, counter) VALUES ($1, $2, $3) \
               ON CONFLICT (eid, keyset_version) DO UPDATE SET counter = excluded.counter \
               WHERE es5_received_counters.counter < excluded.counter";
    let q = diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(eid)
        .bind::<diesel::sql_types::Integer, _>(v)
        .bind::<diesel::sql_types::BigInt, _>(counter);
    let n = on_backend!(conn, c => q.execute(c))?;
    Ok(n > 0)
}

/// Number of commands in flight over all eUICCs (flow control of the delivery worker).
pub fn in_flight_count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(es5_commands::table
        .filter(es5_commands::state.eq(Es5State::InFlight.as_str()))
        .count()
        .get_result(conn)?)
}

/// The ES5 queue over all eUICCs: commands waiting for their turn and in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Commands queued.
    pub queued: i64,
    /// Commands in flight (sent, no response yet).
    pub in_flight: i64,
    /// When the oldest queued command was queued (unix ms), if any.
    pub oldest_queued_at: Option<UnixMillis>,
}

/// The ES5 queue's depth and age (issue 14 item 4, `/metrics`): one aggregate over the queued and in-flight
/// commands, found through the `(state, …)` indexes (finished commands are purged with their operation).
pub fn backlog(conn: &mut AnyConnection) -> Result<Backlog, StoreError> {
    let rows: Vec<(String, i64, Option<i64>)> = es5_commands::table
        .filter(
            es5_commands::state
                .eq(Es5State::Queued.as_str())
                .or(es5_commands::state.eq(Es5State::InFlight.as_str())),
        )
        .group_by(es5_commands::state)
        .select((
            es5_commands::state,
            diesel::dsl::count_star(),
            diesel::dsl::min(es5_commands::created_at),
        ))
        .load(conn)?;
    let mut out = Backlog::default();
    for (state, n, oldest) in rows {
        match Es5State::parse(&state)? {
            Es5State::Queued => {
                out.queued = n;
                out.oldest_queued_at = oldest;
            }
            Es5State::InFlight => out.in_flight = n,
            Es5State::Done | Es5State::Failed | Es5State::Expired => {}
        }
    }
    Ok(out)
}
