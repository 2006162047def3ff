//! Connections, pool, embedded migrations and the transaction helper (design §3 step 3, §5).
//!
//! The backend is chosen from the URL scheme, never by trial: `postgres://` / `postgresql://` select
//! PostgreSQL; `sqlite://path`, `sqlite:path` or a plain path select SQLite (bundled).

use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU32;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;

/// Migrations for PostgreSQL (`migrations/postgres` at the workspace top level).
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
/// Migrations for SQLite (`migrations/sqlite` at the workspace top level).
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Key of the session-level advisory lock taken while migrating PostgreSQL (ASCII "rsp-migr").
const PG_MIGRATION_LOCK: i64 = 0x7273_702d_6d69_6772;

/// How long SQLite waits for a lock before reporting SQLITE_BUSY (milliseconds).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Page cache of each SQLite connection as `PRAGMA cache_size` takes it: negative, so in KiB (32 MiB), not pages.
const SQLITE_CACHE_KIB: i32 = -32_768;

/// How many times [`Store::tx`] runs a transaction that failed with a transient error.
const TX_ATTEMPTS: u32 = 8;

mod any {
    // The derive generates helper items (MultiBackend, its methods) without doc comments.
    #![allow(missing_docs)]

    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// A database connection of either backend (design §4: one binary, SQLite or PostgreSQL).
    #[derive(diesel::MultiConnection)]
    pub enum AnyConnection {
        /// PostgreSQL (production, several stateless nodes).
        Pg(PgConnection),
        /// SQLite (embedded default, one node).
        Sqlite(SqliteConnection),
    }
}
pub use any::AnyConnection;

/// Runs the same diesel code against the concrete connection of each variant (for RETURNING, ON CONFLICT and
/// row locks, which `MultiBackend` cannot express).
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::connection::AnyConnection::Pg($c) => $body,
            $crate::connection::AnyConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl AnyConnection {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            AnyConnection::Pg(_) => Backend::Postgres,
            AnyConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A parsed database location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A libpq connection URL.
    Postgres(String),
    /// A SQLite file path, optionally followed by `?synchronous=normal|full` (see [`sqlite_synchronous`]).
    Sqlite(String),
}

/// The file and the `PRAGMA synchronous` value of a SQLite location `path[?synchronous=normal|full]` (default
/// NORMAL). In WAL mode NORMAL never corrupts the database and loses nothing when the process crashes (kill -9),
/// but a power loss or an operating-system crash may undo the last transactions committed before it; FULL syncs
/// the WAL at every commit, so that a committed transaction survives a power loss too, at the cost of one fsync
/// per commit (SQLite documentation, "PRAGMA synchronous").
pub fn sqlite_synchronous(path: &str) -> Result<(&str, &'static str), StoreError> {
    let Some((file, value)) = path.split_once("?synchronous=") else {
        return Ok((path, "NORMAL"));
    };
    match value.to_ascii_lowercase().as_str() {
        "normal" => Ok((file, "NORMAL")),
        "full" => Ok((file, "FULL")),
        other => Err(StoreError::InvalidUrl(format!(
            "synchronous={other:?} in a SQLite location: use normal or full"
        ))),
    }
}

/// `url` with `gssencmode=disable` unless the URL or `PGGSSENCMODE` chooses otherwise. libpq's default
/// (`prefer`) loads Kerberos for every TCP connection even where no Kerberos is configured, and the Kerberos
/// library's thread-specific data can abort the process as it exits while pooled connections live in other
/// threads (seen: `krb5int_getspecific: Assertion 'destructors_set[keynum] == 1' failed` at the end of an
/// `rsp` command). A deployment that wants GSSAPI encryption says so in the URL.
pub fn without_gss_encryption(url: &str) -> std::borrow::Cow<'_, str> {
    if url.contains("gssencmode=") || std::env::var_os("PGGSSENCMODE").is_some() {
        return std::borrow::Cow::Borrowed(url);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    std::borrow::Cow::Owned(format!("{url}{separator}gssencmode=disable"))
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://path`, `sqlite:path` or a plain file path.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        let path = if let Some(p) = url.strip_prefix("sqlite://") {
            p
        } else if let Some(p) = url.strip_prefix("sqlite:") {
            p
        } else if url.contains("://") {
            return Err(StoreError::InvalidUrl(format!(
                "scheme of {:?} is neither postgres nor sqlite",
                url.split("://").next().unwrap_or_default()
            )));
        } else {
            url
        };
        if sqlite_synchronous(path)?.0.is_empty() {
            return Err(StoreError::InvalidUrl("empty SQLite path".into()));
        }
        Ok(DatabaseUrl::Sqlite(path.to_string()))
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Opens one connection of the selected variant; SQLite connections get the pragmas of the design.
    pub fn connect(&self) -> Result<AnyConnection, StoreError> {
        match self {
            DatabaseUrl::Postgres(url) => {
                // libpq initialises OpenSSL with an exit-time cleanup that races with pooled connections still
                // open in other threads (seen: SIGSEGV as the process exits). Initialising OpenSSL first, as
                // the openssl crate does (OPENSSL_INIT_NO_ATEXIT), leaves no cleanup to race with.
                openssl::init();
                PgConnection::establish(&without_gss_encryption(url))
                    .map(AnyConnection::Pg)
                    .map_err(|e| StoreError::Pool(format!("PostgreSQL connection: {e}")))
            }
            DatabaseUrl::Sqlite(location) => {
                let (path, synchronous) = sqlite_synchronous(location)?;
                let mut c = SqliteConnection::establish(path)
                    .map_err(|e| StoreError::Pool(format!("SQLite {path}: {e}")))?;
                // busy_timeout first, so that switching to WAL waits for other connections. temp_store MEMORY
                // keeps savepoint sub-journals in memory (they only roll back a savepoint; the WAL is what
                // survives a crash); a larger page cache keeps the hot B-tree pages of a big EIS.
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
                     PRAGMA cache_size = {SQLITE_CACHE_KIB};"
                ))
                .map_err(|e| StoreError::Pool(format!("SQLite {path} pragmas: {e}")))?;
                Ok(AnyConnection::Sqlite(c))
            }
        }
    }
}

/// The r2d2 connection manager of a [`Store`]: builds the variant from the parsed URL (never `AnyConnection::establish`, which tries
/// variants in order and would turn a bad PostgreSQL URL into a SQLite file).
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<AnyConnection, StoreError> {
        self.url.connect()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        conn.ping().map_err(StoreError::from)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// A connection checked out of the [`Store`]'s pool.
pub type PooledConn = PooledConnection<Manager>;

/// Runs the embedded migrations on one connection; on PostgreSQL under a session-level advisory lock so that
/// several nodes may start at once.
fn migrate(conn: &mut AnyConnection) -> Result<(), StoreError> {
    let mig = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        AnyConnection::Pg(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))
                .execute(c)
                .map_err(|e| StoreError::Migration(format!("advisory lock: {e}")))?;
            let run = c
                .run_pending_migrations(PG_MIGRATIONS)
                .map(|_| ())
                .map_err(mig);
            let unlock =
                diesel::sql_query(format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))
                    .execute(c)
                    .map(|_| ())
                    .map_err(|e| StoreError::Migration(format!("advisory unlock: {e}")));
            run.and(unlock)
        }
        AnyConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|_| ())
            .map_err(mig),
    }
}

/// A [`Store`]'s connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open (idle or checked out).
    pub connections: u32,
    /// Of those, idle in the pool.
    pub idle: u32,
    /// The pool's size (`pool_size`).
    pub max: u32,
}

/// Connections a PostgreSQL [`Store`] keeps for API reads ([`Store::read_conn`]) beside its `pool_size`.
pub const READ_POOL_SIZE: u32 = 2;

/// The persistence layer of one server: a connection pool on one database, migrated on open.
pub struct Store {
    pool: Pool<Manager>,
    /// PostgreSQL: the [`READ_POOL_SIZE`] connections of [`Store::read_conn`], beside `pool`.
    reads: Option<Pool<Manager>>,
    backend: Backend,
    /// SQLite admits one writer: [`Store::tx`] takes this lock first, so that writers of this process queue
    /// here and are woken as soon as the previous one commits, instead of polling in SQLite's busy handler.
    write_lock: Option<std::sync::Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("pool_size", &self.pool.max_size())
            .finish()
    }
}

impl Store {
    /// Opens the database at `url` with at most `pool_size` connections and applies pending migrations.
    pub fn open(url: &str, pool_size: u32) -> Result<Store, StoreError> {
        let url = DatabaseUrl::parse(url)?;
        if pool_size == 0 {
            return Err(StoreError::invalid_argument(
                "pool_size",
                "must be at least 1",
            ));
        }
        if let DatabaseUrl::Sqlite(p) = &url
            && (p == ":memory:" || p.contains("mode=memory"))
            && pool_size > 1
        {
            return Err(StoreError::InvalidUrl(
                "an in-memory SQLite database is private to one connection: use pool_size 1".into(),
            ));
        }
        let backend = url.backend();
        if backend == Backend::Postgres {
            // A dedicated connection for migrating, closed afterwards (closing releases the advisory lock
            // even if unlocking failed).
            let mut c = url.connect()?;
            migrate(&mut c)?;
        }
        let build = |size: u32, min_idle: u32| {
            Pool::builder()
                .max_size(size)
                .min_idle(Some(min_idle))
                // Each checkout pings its connection (Manager::is_valid) and replaces a dead one: after a
                // restart of PostgreSQL the pool serves new connections instead of failing requests.
                .test_on_check_out(true)
                .connection_timeout(Duration::from_secs(30))
                .build(Manager { url: url.clone() })
                .map_err(|e| StoreError::Pool(e.to_string()))
        };
        let pool = build(pool_size, 1)?;
        // Opened on the first read (a server without API reads, e.g. the SM-DP, never opens them).
        let reads = match backend {
            Backend::Postgres => Some(build(READ_POOL_SIZE, 0)?),
            Backend::Sqlite => None,
        };
        let write_lock = (backend == Backend::Sqlite).then(|| std::sync::Mutex::new(()));
        let store = Store {
            pool,
            reads,
            backend,
            write_lock,
        };
        if backend == Backend::Sqlite {
            // On a pooled connection, so that an in-memory database (pool of one) is the migrated one.
            let mut c = store.conn()?;
            migrate(&mut c)?;
        }
        Ok(store)
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database is a PostgreSQL server with autovacuum off (`SHOW autovacuum`): the queue tables
    /// (outbox, ES5 commands, operations) change each row several times, and without vacuum their dead row
    /// versions pile up and every queue scan reads them. False on SQLite and when it cannot be read.
    pub fn autovacuum_off(&self) -> bool {
        self.pg_text("SELECT current_setting('autovacuum') AS value")
            .is_some_and(|v| v == "off")
    }

    /// Whether this store's PostgreSQL connections are TLS-encrypted TCP connections to a server on this host
    /// (`pg_stat_ssl` and `inet_server_addr()` of a pooled connection, in 127.0.0.0/8 or ::1): libpq's default
    /// `sslmode=prefer` encrypts TCP connections to a server with `ssl = on`, also on the loopback, where every
    /// statement then pays a TLS record each way for no protection. False on SQLite, through a Unix socket, to
    /// another host and when it cannot be read.
    pub fn tls_on_loopback(&self) -> bool {
        self.pg_text(
            "SELECT coalesce(ssl AND (inet_server_addr() <<= '127.0.0.0/8'::inet \
             OR inet_server_addr() <<= '::1/128'::inet), false)::text AS value \
             FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .is_some_and(|v| v == "true")
    }

    /// The one text column `value` of the one row `sql` returns on a pooled connection; `None` on SQLite or
    /// when it cannot be read.
    fn pg_text(&self, sql: &str) -> Option<String> {
        #[derive(diesel::QueryableByName)]
        struct Value {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        if self.backend != Backend::Postgres {
            return None;
        }
        let mut c = self.conn().ok()?;
        diesel::sql_query(sql)
            .get_result::<Value>(&mut *c)
            .ok()
            .map(|v| v.value)
    }

    /// Whether the database answers within `timeout`: a pooled connection and a ping (`/health/ready`).
    pub fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        self.conn_within(timeout)?.ping().map_err(StoreError::from)
    }

    /// Like [`Store::conn`], waiting at most `timeout` for a connection (scrapes and health checks).
    pub fn conn_within(&self, timeout: Duration) -> Result<PooledConn, StoreError> {
        self.pool
            .get_timeout(timeout)
            .map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// The pools' connections now (issue 14 item 4, `/metrics`), by name: `main` (`pool_size`) and, on
    /// PostgreSQL, `reads` ([`Store::read_conn`]); each open, idle, and the most it opens.
    pub fn pool_states(&self) -> Vec<(&'static str, PoolState)> {
        let state = |pool: &Pool<Manager>| {
            let s = pool.state();
            PoolState {
                connections: s.connections,
                idle: s.idle_connections,
                max: pool.max_size(),
            }
        };
        let mut out = vec![("main", state(&self.pool))];
        out.extend(self.reads.as_ref().map(|r| ("reads", state(r))));
        out
    }

    /// A connection for an API request's reads (ESM2M's `GET`s): on PostgreSQL from [`READ_POOL_SIZE`]
    /// connections kept for them beside `pool_size`, so that a read does not wait behind the background workers
    /// for the main pool (`rsp bench fleet`: progress reads waited 14–40 ms for it when the run was busy); on
    /// SQLite from the main pool (one database file, and an in-memory one is private to its connection).
    pub fn read_conn(&self) -> Result<PooledConn, StoreError> {
        self.reads
            .as_ref()
            .unwrap_or(&self.pool)
            .get()
            .map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// Checks a connection out of the pool (for reads, or for repository calls that open their own
    /// transaction).
    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        self.pool.get().map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// Runs `f` in one transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken first, so a
    /// read-then-write cannot fail on lock upgrade), the default READ COMMITTED on PostgreSQL. A transient
    /// failure (SQLITE_BUSY, SQLSTATE 40001/40P01) rolls back and reruns `f`, at most 8 times in all.
    pub fn tx<T, E, F>(&self, mut f: F) -> Result<T, E>
    where
        F: FnMut(&mut AnyConnection) -> Result<T, E>,
        E: TxError,
    {
        // A poisoned lock only means another writer panicked; its transaction was rolled back.
        let _writer = self
            .write_lock
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
        let mut conn = self.conn()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match run_tx(&mut conn, &mut f) {
                Err(e) if e.is_retryable() && attempt < TX_ATTEMPTS => {
                    tracing::debug!(attempt, "transaction retried after a transient failure");
                    std::thread::sleep(retry_pause(attempt));
                }
                other => return other,
            }
        }
    }
}

/// An error type usable with [`Store::tx`]: convertible from [`StoreError`] and able to say whether it is a
/// transient database failure.
pub trait TxError: From<StoreError> {
    /// Whether rerunning the transaction may succeed.
    fn is_retryable(&self) -> bool;
}

impl TxError for StoreError {
    fn is_retryable(&self) -> bool {
        StoreError::is_retryable(self)
    }
}

/// Pause before retry `attempt`: 2^attempt ms plus up to as much jitter, capped near 200 ms.
fn retry_pause(attempt: u32) -> Duration {
    let base = 1u64 << attempt.min(7);
    let jitter = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % base.max(1);
    Duration::from_millis(base + jitter)
}

fn depth(conn: &mut AnyConnection) -> Result<Option<NonZeroU32>, StoreError> {
    Ok(
        <AnyConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()?,
    )
}

/// Begins the outermost transaction: `BEGIN IMMEDIATE` on SQLite, `BEGIN` on PostgreSQL.
fn begin(conn: &mut AnyConnection) -> Result<(), StoreError> {
    match conn {
        AnyConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
        }
        AnyConnection::Pg(_) => {
            <AnyConnection as Connection>::TransactionManager::begin_transaction(conn)?;
        }
    }
    Ok(())
}

/// One transaction attempt (the logic of diesel's `Connection::transaction`, with our own BEGIN).
fn run_tx<T, E, F>(conn: &mut AnyConnection, f: &mut F) -> Result<T, E>
where
    F: FnMut(&mut AnyConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    if depth(conn)?.is_some() {
        return Err(StoreError::Backend(
            "Store::tx on a connection already in a transaction".into(),
        )
        .into());
    }
    begin(conn)?;
    match f(conn) {
        Ok(v) => {
            <AnyConnection as Connection>::TransactionManager::commit_transaction(conn)
                .map_err(StoreError::from)?;
            Ok(v)
        }
        Err(user) => {
            match <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(user),
                Err(e) => Err(StoreError::from(e).into()),
            }
        }
    }
}

/// `n` new ids of PostgreSQL table `table`'s `id` sequence, ascending, for rows written with their ids in one
/// multi-row INSERT (whose RETURNING order PostgreSQL does not promise). Not on SQLite.
pub(crate) fn next_ids(
    conn: &mut AnyConnection,
    table: &str,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let AnyConnection::Pg(c) = conn else {
        return Err(StoreError::invalid_argument(
            "connection",
            "ids are drawn ahead on PostgreSQL only",
        ));
    };
    let n = i64::try_from(n).map_err(|e| StoreError::invalid_argument("n", e.to_string()))?;
    let mut ids: Vec<i64> = diesel::sql_query(
        "SELECT nextval(pg_get_serial_sequence($1, 'id')) AS id FROM generate_series(1, $2)",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .bind::<diesel::sql_types::BigInt, _>(n)
    .load::<Id>(c)?
    .into_iter()
    .map(|r| r.id)
    .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Runs `f` atomically on `conn`: as a savepoint when the caller already holds a transaction (so a failure
/// inside leaves the caller's transaction usable), else as its own transaction (IMMEDIATE on SQLite).
pub(crate) fn atomic<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
{
    if depth(conn)?.is_some() {
        return conn.transaction(f);
    }
    let mut f = Some(f);
    run_tx(conn, &mut |c: &mut AnyConnection| match f.take() {
        Some(f) => f(c),
        None => Err(StoreError::Backend("transaction body ran twice".into())),
    })
}

/// Like [`atomic`], without the savepoint inside a PostgreSQL transaction (a SAVEPOINT and a RELEASE are two
/// round trips; the hot ES5 steps ran 30 of them per profile switch). For an `f` that returns an error of its
/// own only before its first write: a database error aborts the caller's PostgreSQL transaction, as any of
/// its statements' would, so nothing `f` wrote can be committed — a caller that goes on after a failure
/// holds a savepoint of its own ([`savepoint`]). On SQLite, where a failed statement leaves the transaction
/// open and a savepoint costs no round trip, it is [`atomic`].
pub(crate) fn atomic_in_pg_tx<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
{
    if matches!(conn, AnyConnection::Pg(_)) && depth(conn)?.is_some() {
        return f(conn);
    }
    atomic(conn, f)
}

/// Runs `f` inside a savepoint of the caller's transaction (or a transaction of its own when there is none):
/// an `Err` from `f` rolls back what `f` wrote and is returned, leaving the caller's transaction usable — so a
/// function that fails midway can still record its failure in the same transaction.
pub fn savepoint<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    type Tm = <AnyConnection as Connection>::TransactionManager;
    Tm::begin_transaction(conn).map_err(StoreError::from)?;
    match f(conn) {
        Ok(v) => {
            Tm::commit_transaction(conn).map_err(StoreError::from)?;
            Ok(v)
        }
        Err(user) => match Tm::rollback_transaction(conn) {
            Ok(()) => Err(user),
            Err(e) => Err(StoreError::from(e).into()),
        },
    }
}

/// The current time as unix milliseconds (what every timestamp column holds).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A duration as milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_selects_backend_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").ok(),
            Some(DatabaseUrl::Postgres("postgres://u@h/db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db").ok(),
            Some(DatabaseUrl::Postgres("postgresql://h/db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://var/smsr.db").ok(),
            Some(DatabaseUrl::Sqlite("var/smsr.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///abs/smsr.db").ok(),
            Some(DatabaseUrl::Sqlite("/abs/smsr.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:smsr.db").ok(),
            Some(DatabaseUrl::Sqlite("smsr.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("./var/smdp.db").ok(),
            Some(DatabaseUrl::Sqlite("./var/smdp.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("mysql://h/db"),
            Err(StoreError::InvalidUrl(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite://"),
            Err(StoreError::InvalidUrl(_))
        ));
    }

    #[derive(diesel::QueryableByName)]
    struct Synchronous {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }

    fn synchronous_of(url: &str) -> i32 {
        let store = Store::open(url, 1).expect("open");
        let mut c = store.conn().expect("conn");
        let AnyConnection::Sqlite(c) = &mut *c else {
            panic!("not SQLite")
        };
        let rows: Vec<Synchronous> = diesel::sql_query("PRAGMA synchronous")
            .load(c)
            .expect("pragma");
        rows[0].synchronous
    }

    #[test]
    fn sqlite_synchronous_is_normal_unless_the_url_asks_for_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
        assert_eq!(synchronous_of(&db("a.db")), 1, "NORMAL by default");
        assert_eq!(
            synchronous_of(&format!("{}?synchronous=full", db("b.db"))),
            2
        );
        assert_eq!(
            synchronous_of(&format!("{}?synchronous=NORMAL", db("c.db"))),
            1
        );
        assert!(
            dir.path().join("b.db").exists(),
            "the query is not part of the file name"
        );
        assert!(matches!(
            DatabaseUrl::parse("sqlite://x.db?synchronous=off"),
            Err(StoreError::InvalidUrl(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite://?synchronous=full"),
            Err(StoreError::InvalidUrl(_))
        ));
    }

    #[test]
    fn postgres_urls_leave_out_gss_encryption_unless_asked() {
        if std::env::var_os("PGGSSENCMODE").is_some() {
            return;
        }
        assert_eq!(
            without_gss_encryption("postgres://u@h/db"),
            "postgres://u@h/db?gssencmode=disable"
        );
        assert_eq!(
            without_gss_encryption("postgres://u@h/db?sslmode=require"),
            "postgres://u@h/db?sslmode=require&gssencmode=disable"
        );
        assert_eq!(
            without_gss_encryption("postgres://u@h/db?gssencmode=require"),
            "postgres://u@h/db?gssencmode=require"
        );
    }

    #[test]
    fn bad_postgres_url_is_an_error_not_a_sqlite_file() {
        let url = "postgres://nobody@127.0.0.1:1/none";
        let r = Store::open(url, 1);
        assert!(matches!(r, Err(StoreError::Pool(_))), "{r:?}");
    }
}
