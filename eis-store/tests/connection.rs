//! Connection layer on both backends: migrations (concurrent on PostgreSQL), SQLite pragmas, transactions
//! with rollback and bounded retries of transient failures.
mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};
use eis_store::entities::{self, Entity, EntityRole};
use eis_store::{AnyConnection, Backend, Store, StoreError};

fn entity(oid: &str) -> Entity {
    Entity {
        oid: oid.into(),
        role: EntityRole::Eum,
        name: oid.into(),
        endpoints: Default::default(),
        allowed_interfaces: Default::default(),
        gp_certificate: None,
        fingerprints: Default::default(),
    }
}

#[test]
fn concurrent_migrations_on_one_fresh_postgres_database() {
    for _ in 0..3 {
        let db = testkit::PgTestDb::new();
        let n = 4;
        let barrier = Arc::new(Barrier::new(n));
        let results: Vec<Result<Store, StoreError>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let b = barrier.clone();
                    let url = db.url().to_string();
                    s.spawn(move || {
                        b.wait();
                        Store::open(&url, 1)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("join")).collect()
        });
        for r in results {
            let store = r.expect("every node opens the database");
            assert_eq!(store.backend(), Backend::Postgres);
            let mut c = store.conn().expect("conn");
            entities::get_entity(&mut c, "x").expect("schema is there");
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Pragma {
    #[diesel(sql_type = Text)]
    v: String,
}

#[test]
fn sqlite_pool_connections_have_the_pragmas() {
    let (_dir, store) = common::sqlite_store(3);
    assert_eq!(store.backend(), Backend::Sqlite);
    // Check several pooled connections at once (each one must have been set up).
    let mut conns: Vec<_> = (0..3).map(|_| store.conn().expect("conn")).collect();
    for c in conns.iter_mut() {
        let AnyConnection::Sqlite(c) = &mut **c else {
            panic!("not SQLite")
        };
        let q = |c: &mut diesel::SqliteConnection, name: &str| {
            diesel::sql_query(format!("SELECT CAST(({name}) AS TEXT) AS v"))
                .get_result::<Pragma>(c)
                .expect("pragma")
                .v
        };
        assert_eq!(q(c, "SELECT journal_mode FROM pragma_journal_mode"), "wal");
        assert_eq!(q(c, "SELECT foreign_keys FROM pragma_foreign_keys"), "1");
        assert_eq!(q(c, "SELECT timeout FROM pragma_busy_timeout"), "5000");
        assert_eq!(q(c, "SELECT synchronous FROM pragma_synchronous"), "1");
    }
}

#[test]
fn store_open_rejects_unknown_schemes_and_in_memory_pools() {
    assert!(matches!(
        Store::open("mysql://h/db", 1),
        Err(StoreError::InvalidUrl(_))
    ));
    assert!(matches!(
        Store::open(":memory:", 4),
        Err(StoreError::InvalidUrl(_))
    ));
    let one = Store::open("sqlite::memory:", 1).expect("in-memory with one connection");
    let mut c = one.conn().expect("conn");
    entities::create_entity(&mut c, &entity("1.1"), 1).expect("usable");
}

both_backends!(tx_commits_or_rolls_back_as_a_whole, 2, |store| {
    let r: Result<(), StoreError> = store.tx(|c| {
        entities::create_entity(c, &entity("1.1"), 1)?;
        entities::create_entity(c, &entity("1.2"), 1)?;
        Err(StoreError::Backend("abort".into()))
    });
    assert!(matches!(r, Err(StoreError::Backend(_))));
    store
        .tx(|c| {
            entities::create_entity(c, &entity("1.3"), 1)?;
            entities::create_entity(c, &entity("1.4"), 1)
        })
        .expect("commit");
    let mut c = store.conn().expect("conn");
    let oids: Vec<String> = entities::list_entities(&mut c, None)
        .expect("list")
        .into_iter()
        .map(|e| e.oid)
        .collect();
    assert_eq!(oids, vec!["1.3".to_string(), "1.4".to_string()]);
});

both_backends!(tx_retries_transient_failures_only, 2, |store| {
    let calls = AtomicU32::new(0);
    let v = store
        .tx(|c| {
            entities::create_entity(c, &entity("9.9"), 1)?;
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(StoreError::Busy("simulated".into()));
            }
            Ok(7)
        })
        .expect("third attempt succeeds");
    assert_eq!((v, calls.load(Ordering::SeqCst)), (7, 3));
    // The rolled-back attempts left nothing behind: the entity exists once.
    let mut c = store.conn().expect("conn");
    assert_eq!(
        entities::list_entities(&mut c, None).expect("list").len(),
        1
    );
    drop(c);

    let calls = AtomicU32::new(0);
    let r: Result<(), StoreError> = store.tx(|_| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::Busy("always".into()))
    });
    assert!(matches!(r, Err(StoreError::Busy(_))));
    assert_eq!(calls.load(Ordering::SeqCst), 8, "bounded retries");

    let calls = AtomicU32::new(0);
    let r: Result<(), StoreError> = store.tx(|_| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::Conflict {
            kind: eis_store::RecordKind::Profile,
            key: "x".into(),
            detail: "v".into(),
        })
    });
    assert!(r.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not retried");
});

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

// A real transient failure from the database is retried: a deadlock on PostgreSQL (40P01), SQLITE_BUSY on
// SQLite (another connection holds the write lock longer than busy_timeout).
both_backends!(tx_survives_real_deadlock_or_busy, 4, |store| {
    {
        let mut c = store.conn().expect("conn");
        entities::create_entity(&mut c, &entity("a"), 1).expect("a");
        entities::create_entity(&mut c, &entity("b"), 1).expect("b");
    }
    let attempts = AtomicU32::new(0);
    match store.backend() {
        Backend::Postgres => {
            let barrier = Barrier::new(2);
            let run = |first: &str, second: &str| {
                let mut waited = false;
                store.tx(|c| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    diesel::sql_query(format!(
                        "UPDATE entities SET name = 'x' WHERE oid = '{first}'"
                    ))
                    .execute(c)?;
                    if !waited {
                        waited = true;
                        barrier.wait();
                    }
                    diesel::sql_query(format!(
                        "UPDATE entities SET name = 'y' WHERE oid = '{second}'"
                    ))
                    .execute(c)?;
                    Ok::<(), StoreError>(())
                })
            };
            let (r1, r2) = std::thread::scope(|s| {
                let h1 = s.spawn(|| run("a", "b"));
                let h2 = s.spawn(|| run("b", "a"));
                (h1.join().expect("join"), h2.join().expect("join"))
            });
            r1.expect("first transaction");
            r2.expect("second transaction");
            assert_eq!(
                attempts.load(Ordering::SeqCst),
                3,
                "the deadlock victim ran twice"
            );
        }
        Backend::Sqlite => {
            let path = {
                let mut c = store.conn().expect("conn");
                diesel::sql_query("SELECT file AS v FROM pragma_database_list WHERE name = 'main'")
                    .get_result::<Pragma>(&mut *c)
                    .expect("database file")
                    .v
            };
            let (locked_tx, locked_rx) = std::sync::mpsc::channel();
            let holder = std::thread::spawn(move || {
                use diesel::Connection;
                use diesel::connection::SimpleConnection;
                let mut raw = diesel::SqliteConnection::establish(&path).expect("raw connection");
                raw.batch_execute("BEGIN IMMEDIATE")
                    .expect("take write lock");
                locked_tx.send(()).expect("signal");
                // Longer than busy_timeout (5 s): the first BEGIN IMMEDIATE of the store gives up.
                std::thread::sleep(std::time::Duration::from_millis(6_500));
                raw.batch_execute("COMMIT").expect("release");
            });
            locked_rx.recv().expect("holder has the lock");
            store
                .tx(|c| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    diesel::sql_query("UPDATE entities SET name = 'z' WHERE oid = 'a'")
                        .execute(c)?;
                    Ok::<(), StoreError>(())
                })
                .expect("retried after SQLITE_BUSY");
            holder.join().expect("holder");
            // BEGIN IMMEDIATE failed with SQLITE_BUSY after 5 s, so the closure ran once, on the retry.
            assert_eq!(attempts.load(Ordering::SeqCst), 1);
        }
    }
    // Every committed update is there: both transactions on PostgreSQL, the single one on SQLite.
    let mut c = store.conn().expect("conn");
    let n = diesel::sql_query("SELECT COUNT(*) AS n FROM entities WHERE name IN ('x', 'y', 'z')")
        .get_result::<Count>(&mut *c)
        .expect("count")
        .n;
    assert_eq!(
        n,
        if store.backend() == Backend::Postgres {
            2
        } else {
            1
        }
    );
});

/// A restart of PostgreSQL ends every connection of the pool (`pg_terminate_backend` does the same to them): the
/// connections checked out afterwards are new ones (r2d2 checks each on checkout, `Manager::is_valid`), reads and
/// writes go on, and nothing written before is lost. A connection that was checked out while it was cut fails
/// with an error, is dropped from the pool when returned (`Manager::has_broken`), and the next checkout works.
/// (SQLite has no server to restart: its connections are files of this process.)
#[test]
fn the_postgres_pool_survives_its_connections_being_cut() {
    let (db, store) = common::pg_store(4);
    store
        .tx(|c| entities::create_entity(c, &entity("1.2.3.1"), 1))
        .expect("write before");
    // Fill the pool: every one of its connections is open when they are cut.
    let held: Vec<_> = (0..4).map(|_| store.conn().expect("conn")).collect();
    drop(held);
    let mut in_use = store.conn().expect("conn");
    let cut = db.terminate_connections();
    assert!(cut >= 4, "{cut} connections terminated");
    assert!(
        entities::get_entity(&mut in_use, "1.2.3.1").is_err(),
        "a connection cut while in use fails"
    );
    drop(in_use);
    for i in 0..8 {
        let mut c = store.conn().expect("a connection after the cut");
        let e = entities::get_entity(&mut c, "1.2.3.1")
            .expect("read after the cut")
            .expect("the entity written before");
        assert_eq!(e.oid, "1.2.3.1", "read {i}");
    }
    store
        .tx(|c| entities::create_entity(c, &entity("1.2.3.2"), 2))
        .expect("write after the cut");
    let mut c = store.conn().expect("conn");
    assert!(
        entities::get_entity(&mut c, "1.2.3.2")
            .expect("read")
            .is_some()
    );
}

/// API reads have connections of their own on PostgreSQL (`Store::read_conn`): with every connection of the main
/// pool checked out (as when the background workers hold them), `READ_POOL_SIZE` reads still get one at once —
/// from the main pool they would wait its 30 s checkout timeout and fail — and see what was committed. On
/// SQLite the reads share the main pool.
#[test]
fn api_reads_get_connections_while_the_main_pool_is_exhausted() {
    let (_db, pg) = common::pg_store(2);
    pg.tx(|c| entities::create_entity(c, &entity("1.2.3.9"), 1))
        .expect("write");
    let held: Vec<_> = (0..2).map(|_| pg.conn().expect("conn")).collect();
    let reads: Vec<_> = (0..eis_store::READ_POOL_SIZE)
        .map(|_| {
            pg.read_conn()
                .expect("a read connection with the main pool exhausted")
        })
        .collect();
    for mut c in reads {
        assert!(
            entities::get_entity(&mut c, "1.2.3.9")
                .expect("read")
                .is_some()
        );
    }
    drop(held);
    let (_dir, sqlite) = common::sqlite_store(2);
    sqlite
        .tx(|c| entities::create_entity(c, &entity("1.2.3.9"), 1))
        .expect("write");
    let mut c = sqlite.read_conn().expect("read connection");
    assert!(
        entities::get_entity(&mut c, "1.2.3.9")
            .expect("read")
            .is_some()
    );
}

/// `Store::autovacuum_off` says what the PostgreSQL server's setting says (read here with
/// `current_setting`), and false on SQLite (no autovacuum to miss).
#[test]
fn autovacuum_off_reads_the_server_setting() {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        value: String,
    }
    let (_dir, sqlite) = common::sqlite_store(1);
    assert!(!sqlite.autovacuum_off());
    let (_db, pg) = common::pg_store(1);
    let mut c = pg.conn().expect("conn");
    let setting: Setting = diesel::sql_query("SELECT current_setting('autovacuum') AS value")
        .get_result(&mut *c)
        .expect("the setting");
    drop(c);
    assert_eq!(pg.autovacuum_off(), setting.value == "off");
}

/// `Store::tls_on_loopback` is false on SQLite, with `sslmode=disable` and through the Unix socket, and over TCP
/// to 127.0.0.1 with libpq's default `sslmode=prefer` it follows the server's `ssl` setting (read here with
/// `SHOW ssl`).
#[test]
fn tls_on_loopback_follows_sslmode_the_socket_and_the_server() {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        ssl: String,
    }
    let (_dir, sqlite) = common::sqlite_store(1);
    assert!(!sqlite.tls_on_loopback());
    let (db, pg) = common::pg_store(1);
    let mut c = pg.conn().expect("conn");
    let setting: Setting = diesel::sql_query("SHOW ssl")
        .get_result(&mut *c)
        .expect("the setting");
    drop(c);
    let url = db.url();
    if url.contains("@127.0.0.1") && !url.contains("sslmode=") && !url.contains("host=") {
        assert_eq!(pg.tls_on_loopback(), setting.ssl == "on");
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    let plain = Store::open(&format!("{url}{sep}sslmode=disable"), 1).expect("open without TLS");
    assert!(!plain.tls_on_loopback());
    if std::path::Path::new("/var/run/postgresql").is_dir() {
        let socket = Store::open(&format!("{url}{sep}host=/var/run/postgresql"), 1)
            .expect("open through the Unix socket");
        assert!(!socket.tls_on_loopback());
    }
}
