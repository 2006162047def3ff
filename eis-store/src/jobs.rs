//! The work queue (design §3 step 3): jobs claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, an
//! IMMEDIATE transaction on SQLite), completed, failed with exponential backoff, dead after the last attempt,
//! and claimable again when a worker's lease expires.

use std::time::Duration;

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, atomic, millis, on_backend};
use crate::error::{RecordKind, StoreError};
use crate::schema::jobs;

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for `run_at`, then claimable.
    Ready,
    /// Claimed by a worker holding a lease.
    Running,
    /// Completed.
    Done,
    /// Failed on its last allowed attempt; `last_error` says why.
    Dead,
}

impl JobState {
    /// Text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "Ready",
            JobState::Running => "Running",
            JobState::Done => "Done",
            JobState::Dead => "Dead",
        }
    }

    fn parse(s: &str) -> Result<JobState, StoreError> {
        Ok(match s {
            "Ready" => JobState::Ready,
            "Running" => JobState::Running,
            "Done" => JobState::Done,
            "Dead" => JobState::Dead,
            _ => {
                return Err(StoreError::invalid_data(
                    "jobs.state",
                    format!("unknown state {s:?}"),
                ));
            }
        })
    }
}

/// Exponential backoff between attempts: `base · 2^(attempt-1)`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Queue name (workers claim per queue).
    pub queue: String,
    /// Job kind (what the worker runs).
    pub kind: String,
    /// Arguments, as JSON.
    pub payload: serde_json::Value,
    /// Earliest time to run (unix ms).
    pub run_at: UnixMillis,
    /// Attempts allowed before the job is dead (at least 1).
    pub max_attempts: u32,
    /// If set, a second job with the same (queue, dedup key) is not enqueued.
    pub dedup_key: Option<String>,
}

/// Outcome of [`enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job with this id.
    New(i64),
    /// A job with the same (queue, dedup key) exists already: its id.
    Duplicate(i64),
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// Queue name.
    pub queue: String,
    /// Kind.
    pub kind: String,
    /// Arguments.
    pub payload: serde_json::Value,
    /// State.
    pub state: JobState,
    /// Earliest next run (unix ms).
    pub run_at: UnixMillis,
    /// Attempts started so far (a claim starts one).
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Deduplication key.
    pub dedup_key: Option<String>,
    /// Worker holding the lease.
    pub locked_by: Option<String>,
    /// End of the lease (unix ms).
    pub lease_until: Option<UnixMillis>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Enqueued (unix ms).
    pub created_at: UnixMillis,
    /// Last state change (unix ms).
    pub updated_at: UnixMillis,
}

/// Outcome of [`fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// The job will run again at this time (unix ms).
    Retry {
        /// Next run.
        run_at: UnixMillis,
    },
    /// That was the last attempt: the job is dead.
    Dead,
}

/// Outcome of [`recover_expired_leases`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovered {
    /// Jobs made claimable again.
    pub ready: usize,
    /// Jobs whose expired attempt was their last: now dead.
    pub dead: usize,
}

#[derive(Insertable)]
#[diesel(table_name = jobs)]
#[diesel(treat_none_as_default_value = false)]
struct NewRow<'a> {
    queue: &'a str,
    kind: &'a str,
    payload: String,
    state: &'a str,
    run_at: i64,
    attempts: i32,
    max_attempts: i32,
    dedup_key: Option<&'a str>,
    locked_by: Option<&'a str>,
    lease_until: Option<i64>,
    last_error: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = jobs)]
struct Row {
    id: i64,
    queue: String,
    kind: String,
    payload: String,
    state: String,
    run_at: i64,
    attempts: i32,
    max_attempts: i32,
    dedup_key: Option<String>,
    locked_by: Option<String>,
    lease_until: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn count(what: &'static str, v: i32) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::invalid_data(what, format!("{v} is negative")))
}

impl TryFrom<Row> for Job {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Job {
            payload: serde_json::from_str(&r.payload).map_err(|e| {
                StoreError::invalid_data("jobs.payload", format!("job {}: {e}", r.id))
            })?,
            state: JobState::parse(&r.state)?,
            attempts: count("jobs.attempts", r.attempts)?,
            max_attempts: count("jobs.max_attempts", r.max_attempts)?,
            id: r.id,
            queue: r.queue,
            kind: r.kind,
            run_at: r.run_at,
            dedup_key: r.dedup_key,
            locked_by: r.locked_by,
            lease_until: r.lease_until,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Enqueues a job (usually inside the transaction that decided it is needed).
pub fn enqueue(
    conn: &mut AnyConnection,
    job: &NewJob,
    now: UnixMillis,
) -> Result<Enqueued, StoreError> {
    let max_attempts = i32::try_from(job.max_attempts)
        .ok()
        .filter(|m| *m >= 1)
        .ok_or_else(|| StoreError::invalid_argument("max_attempts", "must be 1..=2^31-1"))?;
    let row = NewRow {
        queue: &job.queue,
        kind: &job.kind,
        payload: job.payload.to_string(),
        state: JobState::Ready.as_str(),
        run_at: job.run_at,
        attempts: 0,
        max_attempts,
        dedup_key: job.dedup_key.as_deref(),
        locked_by: None,
        lease_until: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    atomic(conn, |c| {
        // ON CONFLICT DO NOTHING: only the (queue, dedup_key) index can conflict; a concurrent enqueue of the
        // same key waits for the first and then inserts nothing.
        let id: Option<i64> = on_backend!(c, c => diesel::insert_into(jobs::table)
            .values(&row)
            .on_conflict_do_nothing()
            .returning(jobs::id)
            .get_result(c)
            .optional())?;
        if let Some(id) = id {
            return Ok(Enqueued::New(id));
        }
        let key = job.dedup_key.as_deref().ok_or_else(|| {
            StoreError::Backend("job insert conflicted without a dedup key".into())
        })?;
        let id = jobs::table
            .filter(jobs::queue.eq(&job.queue).and(jobs::dedup_key.eq(key)))
            .select(jobs::id)
            .first::<i64>(c)?;
        Ok(Enqueued::Duplicate(id))
    })
}

/// Claims up to `limit` due jobs of `queue` for `worker_id` with a lease of `lease`, starting one attempt
/// each. PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` then UPDATE, so concurrent workers never take the
/// same job; SQLite: the same inside an IMMEDIATE transaction (one writer at a time). Oldest `run_at` first.
pub fn claim(
    conn: &mut AnyConnection,
    queue: &str,
    worker_id: &str,
    lease: Duration,
    limit: u32,
    now: UnixMillis,
) -> Result<Vec<Job>, StoreError> {
    let lease_until = now.saturating_add(millis(lease));
    atomic(conn, |c| {
        let due = jobs::table
            .filter(
                jobs::queue
                    .eq(queue)
                    .and(jobs::state.eq(JobState::Ready.as_str()))
                    .and(jobs::run_at.le(now)),
            )
            .order((jobs::run_at, jobs::id))
            .limit(i64::from(limit))
            .select(jobs::id);
        let ids: Vec<i64> = match c {
            AnyConnection::Pg(c) => due.for_update().skip_locked().load(c)?,
            AnyConnection::Sqlite(c) => due.load(c)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = on_backend!(c, c => diesel::update(jobs::table.filter(jobs::id.eq_any(&ids)))
            .set((
                jobs::state.eq(JobState::Running.as_str()),
                jobs::locked_by.eq(worker_id),
                jobs::lease_until.eq(lease_until),
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::updated_at.eq(now),
            ))
            .returning(Row::as_returning())
            .get_results(c))?;
        let mut out = rows
            .into_iter()
            .map(Job::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|j| (j.run_at, j.id));
        Ok(out)
    })
}

/// Filter: job `id`, running, leased by `worker_id`.
macro_rules! leased {
    ($id:expr, $worker:expr) => {
        jobs::table.filter(
            jobs::id
                .eq($id)
                .and(jobs::state.eq(JobState::Running.as_str()))
                .and(jobs::locked_by.eq($worker)),
        )
    };
}

/// Why a leased update found no row: the job is unknown, or not running under this worker any more.
fn lease_miss<T>(conn: &mut AnyConnection, id: i64, worker_id: &str) -> Result<T, StoreError> {
    let found = jobs::table
        .find(id)
        .select((jobs::state, jobs::locked_by))
        .first::<(String, Option<String>)>(conn)
        .optional()?;
    match found {
        None => Err(StoreError::not_found(RecordKind::Job, id.to_string())),
        Some((state, owner)) => Err(StoreError::conflict(
            RecordKind::Job,
            id.to_string(),
            format!(
                "not leased by {worker_id} (state {state}, lease holder {})",
                owner.as_deref().unwrap_or("none")
            ),
        )),
    }
}

/// Marks a claimed job done; `Conflict` if `worker_id` no longer holds it (lease expired and recovered).
pub fn complete(
    conn: &mut AnyConnection,
    id: i64,
    worker_id: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    atomic(conn, |c| {
        let n = diesel::update(leased!(id, worker_id))
            .set((
                jobs::state.eq(JobState::Done.as_str()),
                jobs::locked_by.eq(None::<String>),
                jobs::lease_until.eq(None::<i64>),
                jobs::updated_at.eq(now),
            ))
            .execute(c)?;
        if n == 0 {
            return lease_miss(c, id, worker_id);
        }
        Ok(())
    })
}

/// Records a failed attempt: the job runs again after `backoff.delay(attempts)`, or is dead if that was its
/// last allowed attempt (the error is kept in `last_error` either way).
pub fn fail(
    conn: &mut AnyConnection,
    id: i64,
    worker_id: &str,
    error: &str,
    backoff: &Backoff,
    now: UnixMillis,
) -> Result<FailOutcome, StoreError> {
    atomic(conn, |c| {
        let found = leased!(id, worker_id)
            .select((jobs::attempts, jobs::max_attempts))
            .first::<(i32, i32)>(c)
            .optional()?;
        let Some((attempts, max_attempts)) = found else {
            return lease_miss(c, id, worker_id);
        };
        let (state, run_at, outcome) = if attempts >= max_attempts {
            (JobState::Dead, now, FailOutcome::Dead)
        } else {
            let at = now.saturating_add(millis(backoff.delay(count("jobs.attempts", attempts)?)));
            (JobState::Ready, at, FailOutcome::Retry { run_at: at })
        };
        let n = diesel::update(leased!(id, worker_id))
            .set((
                jobs::state.eq(state.as_str()),
                jobs::run_at.eq(run_at),
                jobs::locked_by.eq(None::<String>),
                jobs::lease_until.eq(None::<i64>),
                jobs::last_error.eq(error),
                jobs::updated_at.eq(now),
            ))
            .execute(c)?;
        if n == 0 {
            return lease_miss(c, id, worker_id);
        }
        Ok(outcome)
    })
}

/// Extends the lease of a running job to `now + lease`; `Conflict` if the lease already expired or another
/// worker holds the job. Returns the new end of the lease.
pub fn extend_lease(
    conn: &mut AnyConnection,
    id: i64,
    worker_id: &str,
    lease: Duration,
    now: UnixMillis,
) -> Result<UnixMillis, StoreError> {
    let until = now.saturating_add(millis(lease));
    atomic(conn, |c| {
        let n = diesel::update(leased!(id, worker_id).filter(jobs::lease_until.gt(now)))
            .set((jobs::lease_until.eq(until), jobs::updated_at.eq(now)))
            .execute(c)?;
        if n == 0 {
            return match lease_miss::<()>(c, id, worker_id) {
                Err(StoreError::Conflict { .. }) | Ok(()) => Err(StoreError::conflict(
                    RecordKind::Job,
                    id.to_string(),
                    format!("lease of {worker_id} expired or lost"),
                )),
                Err(e) => Err(e),
            };
        }
        Ok(until)
    })
}

/// Makes jobs whose lease expired before `now` claimable again (their worker died or stalled); a job whose
/// expired attempt was its last becomes dead with `last_error` "lease expired".
pub fn recover_expired_leases(
    conn: &mut AnyConnection,
    now: UnixMillis,
) -> Result<Recovered, StoreError> {
    atomic(conn, |c| {
        let expired = jobs::table.filter(
            jobs::state
                .eq(JobState::Running.as_str())
                .and(jobs::lease_until.le(now)),
        );
        let dead = diesel::update(expired.filter(jobs::attempts.ge(jobs::max_attempts)))
            .set((
                jobs::state.eq(JobState::Dead.as_str()),
                jobs::locked_by.eq(None::<String>),
                jobs::lease_until.eq(None::<i64>),
                jobs::last_error.eq("lease expired"),
                jobs::updated_at.eq(now),
            ))
            .execute(c)?;
        let ready = diesel::update(expired)
            .set((
                jobs::state.eq(JobState::Ready.as_str()),
                jobs::run_at.eq(now),
                jobs::locked_by.eq(None::<String>),
                jobs::lease_until.eq(None::<i64>),
                jobs::last_error.eq("lease expired"),
                jobs::updated_at.eq(now),
            ))
            .execute(c)?;
        Ok(Recovered { ready, dead })
    })
}

/// The job with this id.
pub fn get_job(conn: &mut AnyConnection, id: i64) -> Result<Option<Job>, StoreError> {
    jobs::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Job::try_from)
        .transpose()
}

/// The running jobs whose lease holder's id starts with `worker_prefix`, oldest first: what one process holds
/// (design §3 step 3; worker ids carry the process id, so an operator, or a test that killed a node, sees what
/// waits for its leases to end).
pub fn held_by(conn: &mut AnyConnection, worker_prefix: &str) -> Result<Vec<Job>, StoreError> {
    jobs::table
        .filter(jobs::state.eq(JobState::Running.as_str()))
        .order(jobs::id)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .filter(|r| {
            r.locked_by
                .as_deref()
                .is_some_and(|w| w.starts_with(worker_prefix))
        })
        .map(Job::try_from)
        .collect()
}

/// Number of jobs of `queue` in each state (for metrics and tests), in the order Ready, Running, Done, Dead.
pub fn counts(conn: &mut AnyConnection, queue: &str) -> Result<[(JobState, i64); 4], StoreError> {
    let rows: Vec<(String, i64)> = jobs::table
        .filter(jobs::queue.eq(queue))
        .group_by(jobs::state)
        .select((jobs::state, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out = [
        (JobState::Ready, 0),
        (JobState::Running, 0),
        (JobState::Done, 0),
        (JobState::Dead, 0),
    ];
    for (s, n) in rows {
        let s = JobState::parse(&s)?;
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == s) {
            slot.1 = n;
        }
    }
    Ok(out)
}

/// Deletes done and dead jobs last changed before `before` (retention); returns how many.
pub fn purge_finished_before(
    conn: &mut AnyConnection,
    before: UnixMillis,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        jobs::table.filter(
            jobs::state
                .eq_any([JobState::Done.as_str(), JobState::Dead.as_str()])
                .and(jobs::updated_at.lt(before)),
        ),
    )
    .execute(conn)?)
}
