//! `rsp keys rotate` (PKI issue, item 4): a new master key becomes current and every key value at rest is
//! re-wrapped under it; an interrupted rotation is finished by running it again; the values still open to the
//! keys the EUM registered, on SQLite and PostgreSQL. On the SM-DP, the warehouse's stock secrets and the key
//! material of a download in progress are re-wrapped too: with the old key retired, the download resumes and
//! completes (issue 9).

mod common;

use std::time::{Duration, Instant};

use common::{Db, Lab, block_on};
use conformance::euicc::{Fleet, SimulatorConfig};
use conformance::eum::{Es1Client, read_eis_document};
use conformance::lab::SimulatedNetwork;
use conformance::mno::{MnoClient, MnoReceiver};
use conformance::smsc::SmscConfig;
use eis_store::Store;
use eis_store::eis::SdRole;
use eis_store::warehouse::StockState;
use es_interfaces::status::Status;
use rsp::download_bench::{self, Outcome};

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
    pending_of(text, "SM-SR:")
}

fn pending_of(text: &str, server: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(server))
        .expect("server line");
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

/// A download stopped with its key material sealed (key establishment done, package not all loaded), the
/// servers stopped, `rsp keys rotate --generate`, the old master key retired from the key file: after the
/// restart the download resumes and ends SUCCESS with the stock record installed.
fn download_survives_rotation(db: Db) {
    let mut lab = Lab::new(1, db);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(async move {
        // Slow radio steps, so the download is stopped mid-way.
        let fleet = Fleet::from_world(
            &lab.world,
            SimulatorConfig {
                attach_delay_ms: 400,
                ..SimulatorConfig::default()
            },
        )
        .expect("fleet");
        let network = SimulatedNetwork::start(fleet, SmscConfig::loopback("smsr", "smsr"), None)
            .await
            .expect("network");
        let receiver = MnoReceiver::start(&lab.world, "127.0.0.1:0", true).expect("receiver");
        lab.extra_env = vec![
            ("RSP_ES5__SMPP__ENABLED".into(), "true".into()),
            ("RSP_ES5__SMPP__HOST".into(), "127.0.0.1".into()),
            (
                "RSP_ES5__SMPP__PORT".into(),
                network.smsc().local_addr().port().to_string(),
            ),
            ("RSP_ES5__POR_TIMEOUT_SECS".into(), "3".into()),
            ("RSP_ES5__MAX_RETRY_INTERVAL_SECS".into(), "3".into()),
        ];
        lab.start();
        rsp::lab::register_world_eis(&lab.world, &lab.smsr_url, &[], 0.0, false)
            .await
            .expect("ES1 registration");
        let mno_oid = lab.world.manifest.mnos[0].entity.oid.clone();
        let smdp_store = lab.smdp_store();
        rsp::lab::set_endpoint(
            &smdp_store,
            &mno_oid,
            "ES2",
            &format!("{}/es2", receiver.url()),
        )
        .expect("MNO endpoint");
        let keyring = rsp::setup::master_keyring(&lab.world).expect("master key");
        let old_id = keyring.current_key_id().to_string();
        let subscribers = download_bench::stock(&smdp_store, &keyring, &mno_oid, 2).expect("stock");
        download_bench::provision_subscribers(&network, &subscribers)
            .await
            .expect("subscribers");
        let mno = MnoClient::new(&lab.world, 0, &lab.smsr_url, &lab.smdp_url)
            .expect("MNO client")
            .with_reply_to(format!("{}/es2", receiver.url()));
        let request = download_bench::download_request(
            "rotate-download",
            &lab.world.euiccs[0].eid,
            &lab.world.manifest.sm_sr.oid,
            300,
        )
        .expect("request");
        let Outcome::Accepted { message_id } = download_bench::send(&mno, &request).await else {
            panic!("the download was not accepted");
        };

        // Wait until the download holds sealed keys, then stop the servers.
        let deadline = Instant::now() + Duration::from_secs(120);
        let download = loop {
            let mut c = smdp_store.conn().expect("conn");
            let held = (0..2)
                .map(|i| download_bench::order_row(i).iccid)
                .flat_map(|iccid| {
                    eis_store::downloads::by_iccid(&mut c, &iccid).expect("downloads")
                })
                .find(|d| d.sealed_keys.is_some());
            if let Some(d) = held {
                // Hold the download there: the card gets no more MT SMS until after the restart (on a fast
                // machine it would otherwise finish, and drop its keys, before the servers stop).
                network.drop_next_mt(usize::MAX);
                break d;
            }
            assert!(
                Instant::now() < deadline,
                "the download never held sealed keys"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        lab.stop();
        let stopped = {
            let mut c = smdp_store.conn().expect("conn");
            eis_store::downloads::get(&mut c, download.id)
                .expect("get")
                .expect("download")
        };
        let blob = stopped
            .sealed_keys
            .clone()
            .expect("the download still holds its keys when the servers stop");
        assert!(blob.starts_with(&format!("v1:{old_id}:")), "{blob}");

        let out = run(&lab, &["keys", "rotate", "--generate"]);
        assert_eq!(pending_of(&out, "SM-SR:"), 0, "{out}");
        assert_eq!(pending_of(&out, "SM-DP:"), 0, "{out}");
        // Retire the old key: only the new current key stays in the file.
        let key_file = lab.world.dir.join(&lab.world.manifest.master_key_file);
        let text = std::fs::read_to_string(&key_file).expect("key file");
        let current = text.lines().next().expect("a key").to_string();
        std::fs::write(&key_file, format!("{current}\n")).expect("retire the old key");
        let retired = certs::secrets::MasterKeyring::from_file(&key_file).expect("key ring");
        assert_eq!(retired.key_ids().len(), 1);
        assert_ne!(retired.current_key_id(), old_id);
        {
            let mut c = smdp_store.conn().expect("conn");
            let row = eis_store::downloads::get(&mut c, download.id)
                .expect("get")
                .expect("download");
            let blob = row.sealed_keys.expect("keys");
            retired
                .open(
                    smdp::download::driver::KEYS_PURPOSE,
                    download.id.to_string().as_bytes(),
                    &blob,
                )
                .expect("the download keys open under the new key alone");
            for i in 0..2 {
                let iccid = download_bench::order_row(i).iccid;
                let record = eis_store::warehouse::get_stock(&mut c, &iccid)
                    .expect("stock")
                    .expect("record");
                smdp::warehouse::secrets::open(&retired, &record)
                    .expect("the stock secrets open under the new key alone");
            }
        }

        // The download resumes and completes.
        network.drop_next_mt(0);
        lab.start();
        let deadline = Instant::now() + Duration::from_secs(240);
        let result = loop {
            let got = receiver.received().into_iter().find(|r| {
                r.element == "ES2-DownloadProfileResponse"
                    && r.relates_to.as_deref() == Some(message_id.as_str())
            });
            if let Some(r) = got {
                break r;
            }
            assert!(
                Instant::now() < deadline,
                "no result for the download after the restart"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let status = result.status().expect("status");
        assert_eq!(status.status, Status::ExecutedSuccess, "{status:?}");
        let mut c = smdp_store.conn().expect("conn");
        let record = eis_store::warehouse::get_stock(&mut c, &download.iccid)
            .expect("stock")
            .expect("record");
        assert_eq!(record.state, StockState::Installed);
        drop(c);
        lab.kill9();
        receiver.stop().await;
        network.stop().await;
    });
}

#[test]
fn download_survives_rotation_sqlite() {
    download_survives_rotation(Db::Sqlite);
}

#[test]
fn download_survives_rotation_postgres() {
    download_survives_rotation(Db::Postgres);
}
