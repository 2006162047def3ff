//! `rsp keys rotate` (PKI issue, item 4): a new master key becomes current and every key value at rest is
//! re-wrapped under it; an interrupted rotation is finished by running it again; the values still open to the
//! keys the EUM registered, on SQLite and PostgreSQL.

mod common;

use common::{Db, Lab, block_on};
use conformance::eum::{Es1Client, read_eis_document};
use eis_store::Store;
use eis_store::eis::SdRole;

fn run(lab: &Lab, args: &[&str]) -> String {
    let out = lab.command().args(args).output().expect("run rsp");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rsp {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn pending(text: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("SM-SR:"))
        .expect("SM-SR line");
    let n = line
        .split(", ")
        .nth(1)
        .expect("pending part")
        .split(' ')
        .next()
        .expect("number");
    n.parse().expect("a number")
}

fn rotation(db: Db) {
    let mut lab = Lab::new(2, db);
    lab.start();
    let client = Es1Client::new(&lab.world, &lab.smsr_url).expect("client");
    for i in 0..2 {
        let eis = read_eis_document(&common::eis_path(&lab.world, i)).expect("EIS");
        let r = block_on(client.register(&eis, &format!("r{i}"))).expect("register");
        assert_eq!(
            r.response.base.function_execution_status.status.as_str(),
            "EXECUTED_SUCCESS"
        );
    }
    lab.stop();
    let old_id = lab.world.master.current_key_id().to_string();

    // Interrupted after 3 values: the rest is still under the old key.
    let first = run(&lab, &["keys", "rotate", "--generate", "--limit", "3"]);
    assert!(first.contains("3 value(s) re-wrapped"), "{first}");
    assert!(pending(&first) > 0, "{first}");
    // Run again: resumes and completes.
    let second = run(&lab, &["keys", "rotate"]);
    assert_eq!(pending(&second), 0, "{second}");

    let keyring = certs::secrets::MasterKeyring::from_file(
        &lab.world.dir.join(&lab.world.manifest.master_key_file),
    )
    .expect("key ring");
    let new_id = keyring.current_key_id().to_string();
    assert_ne!(new_id, old_id);
    let url = match db {
        Db::Sqlite => format!("sqlite://{}", lab.smsr_sqlite().display()),
        Db::Postgres => lab.smsr_db_url().to_string(),
    };
    let store = Store::open(&url, 1).expect("open store");
    let mut conn = store.conn().expect("conn");
    for e in &lab.world.euiccs {
        let ks = eis_store::eis::get_keyset(&mut conn, &e.eid, SdRole::IsdR, 1)
            .expect("read")
            .expect("ISD-R SCP80 key set");
        let clear = [
            e.scp80.kic.expose(),
            e.scp80.kid.expose(),
            e.scp80.kik.expose(),
        ];
        assert_eq!(ks.keys.len(), 3);
        for (k, expected) in ks.keys.iter().zip(clear) {
            let c = &k.components[0];
            assert_eq!(c.value.key_id, new_id, "a value is still under the old key");
            let blob = String::from_utf8(c.value.ciphertext.clone()).expect("blob");
            let aad = smsr::eis_map::key_aad(&e.eid, "ISD-R", 1, k.index, 0);
            let opened = keyring
                .open(smsr::eis_map::KEY_PURPOSE, &aad, &blob)
                .expect("opens under the new key");
            assert_eq!(opened.expose(), expected);
        }
    }
    drop(conn);
    // The servers start and serve with the rotated key ring.
    lab.start();
}

#[test]
fn rotation_sqlite() {
    rotation(Db::Sqlite);
}

#[test]
fn rotation_postgres() {
    rotation(Db::Postgres);
}
