//! The SM-SR's SMPP client (smsr::smpp) against the test SMSC (conformance::smsc) over loopback: bind, the exact
//! submit_sm fields of docs/wire-profile.md §2, submit_sm_resp matching, delivery receipts, MO deliver_sm,
//! enquire_link both ways, window, throttling, reconnects, unbind, loss injection and shutdown.

use std::sync::Arc;
use std::time::Duration;

use conformance::smsc::{HandsetRouter, MobileNetwork, SmscConfig, TestSmsc};
use es_interfaces::smpp::{CommandStatus, EsmClass, Password, ReceiptStat, Tlv};
use smsr::smpp::{
    DeliveryReceipt, MessageId, MoSms, SmppClient, SmppClientConfig, SmppError, SmppEvent,
    SmppEvents, SmppHandle, Submit,
};
use tokio::time::{Instant, sleep, timeout};

const MSISDN: &str = "491701234567";

fn scp80_tp_ud(n: u8) -> Vec<u8> {
    let mut v = vec![
        0x02, 0x70, 0x00, 0x00, 0x1E, 0x15, 0x16, 0x39, 0x12, 0x12, 0x00, 0x00, 0x01,
    ];
    v.extend(std::iter::repeat_n(n, 20));
    v
}

fn client_config(smsc: &TestSmsc) -> SmppClientConfig {
    let addr = smsc.local_addr();
    let mut c = SmppClientConfig::new(
        addr.ip().to_string(),
        addr.port(),
        "smsr",
        Password::new("secret"),
    );
    c.system_type = "OTA".into();
    c.profile.source_addr = "4477009".into();
    c.reconnect_backoff_min = Duration::from_millis(50);
    c.reconnect_backoff_max = Duration::from_millis(200);
    c.response_timeout = Duration::from_secs(5);
    c.submit_timeout = Duration::from_secs(20);
    c
}

async fn start(
    smsc_cfg: SmscConfig,
    network: Arc<dyn MobileNetwork>,
    tune: impl FnOnce(&mut SmppClientConfig),
) -> (TestSmsc, SmppHandle, SmppEvents) {
    let smsc = TestSmsc::start(smsc_cfg, network)
        .await
        .expect("SMSC starts");
    let mut cfg = client_config(&smsc);
    tune(&mut cfg);
    let binds = cfg.binds;
    let (handle, events) = SmppClient::start(cfg).expect("client starts");
    wait_until("all binds up", || handle.bound_binds() == binds).await;
    (smsc, handle, events)
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

async fn next_event<T>(events: &mut SmppEvents, mut pick: impl FnMut(SmppEvent) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ev = timeout(deadline - Instant::now(), events.recv())
            .await
            .expect("event in time")
            .expect("event stream open");
        if let Some(t) = pick(ev) {
            return t;
        }
    }
}

fn receipt(ev: SmppEvent) -> Option<DeliveryReceipt> {
    match ev {
        SmppEvent::DeliveryReceipt(r) => Some(r),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_and_submit_carry_the_wire_profile_fields_and_the_receipt_comes_back() {
    let router = Arc::new(HandsetRouter::new());
    let mut handset = router.register(MSISDN);
    let (smsc, handle, mut events) =
        start(SmscConfig::loopback("smsr", "secret"), router, |_| {}).await;

    let tp_ud = scp80_tp_ud(0xA1);
    let id = handle
        .submit(Submit::new(MSISDN, tp_ud.clone()))
        .await
        .expect("submit");

    let binds = smsc.binds();
    assert_eq!(binds.len(), 1);
    assert_eq!(binds[0].command, "bind_transceiver");
    assert_eq!(binds[0].interface_version, 0x34);
    assert_eq!(binds[0].system_id, "smsr");
    assert_eq!(binds[0].system_type, "OTA");
    let submits = smsc.submits();
    assert_eq!(submits.len(), 1);
    let sm = &submits[0].body;
    assert_eq!(
        submits[0].message_id, id.0,
        "submit_sm_resp matched to its submit_sm"
    );
    assert_eq!(sm.esm_class, EsmClass(0x40));
    assert_eq!(sm.protocol_id, 0x7F);
    assert_eq!(sm.data_coding, 0xF6);
    assert_eq!(sm.registered_delivery, 1);
    assert_eq!(sm.destination_addr, MSISDN);
    assert_eq!((sm.dest_addr_ton, sm.dest_addr_npi), (1, 1));
    assert_eq!(sm.source_addr, "4477009");
    assert_eq!(sm.short_message, tp_ud);
    assert!(sm.tlvs.is_empty());

    let mt = timeout(Duration::from_secs(5), handset.recv())
        .await
        .expect("MT in time")
        .expect("MT");
    assert_eq!(mt.tp_ud, tp_ud);
    assert!(mt.udhi);
    assert_eq!((mt.protocol_id, mt.data_coding), (0x7F, 0xF6));
    assert_eq!(mt.message_id, id.0);

    let r = next_event(&mut events, receipt).await;
    assert_eq!(r.message_id, id);
    assert_eq!(r.stat, ReceiptStat::Delivered);
    assert_eq!(r.err, "000");
    assert_eq!(r.source_addr, MSISDN);
    assert_eq!(r.dest_addr, "4477009");
    wait_until("deliver_sm_resp for the receipt", || {
        smsc.counters().receipts_sent == 1
    })
    .await;
    handle.shutdown().await;
    smsc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_msisdn_gives_an_undeliverable_receipt() {
    let (smsc, handle, mut events) = start(
        SmscConfig::loopback("smsr", "secret"),
        Arc::new(HandsetRouter::new()),
        |_| {},
    )
    .await;
    let id = handle
        .submit(Submit::new("4915199999", scp80_tp_ud(1)))
        .await
        .expect("submit");
    let r = next_event(&mut events, receipt).await;
    assert_eq!(
        (r.message_id, r.stat, r.err.as_str()),
        (id, ReceiptStat::Undeliverable, "001")
    );
    assert_eq!(smsc.counters().undeliverable, 1);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_payload_mode_carries_long_tp_ud_in_the_tlv() {
    let router = Arc::new(HandsetRouter::new());
    let mut handset = router.register(MSISDN);
    let (smsc, handle, _events) = start(SmscConfig::loopback("smsr", "secret"), router, |c| {
        c.profile.use_message_payload = true
    })
    .await;
    let tp_ud: Vec<u8> = (0..300).map(|i| i as u8).collect();
    handle
        .submit(Submit::new(MSISDN, tp_ud.clone()))
        .await
        .expect("submit");
    let sm = smsc.submits().remove(0).body;
    assert!(sm.short_message.is_empty());
    assert_eq!(sm.tlvs, vec![Tlv::MessagePayload(tp_ud.clone())]);
    assert_eq!(handset.recv().await.expect("MT").tp_ud, tp_ud);

    // Without message_payload a TP-UD over 254 octets is refused before it reaches the wire.
    let err = {
        let (h2, _e2) = SmppClient::start(client_config(&smsc)).expect("client");
        let err = h2.submit(Submit::new(MSISDN, tp_ud)).await.unwrap_err();
        h2.shutdown().await;
        err
    };
    assert!(matches!(err, SmppError::Encode { .. }), "{err}");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mo_deliver_sm_reaches_the_event_stream() {
    let (smsc, handle, mut events) = start(
        SmscConfig::loopback("smsr", "secret"),
        Arc::new(HandsetRouter::new()),
        |_| {},
    )
    .await;
    let por = vec![
        0x02, 0x71, 0x00, 0x00, 0x0E, 0x0A, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];
    let smsc = Arc::new(smsc);
    let send = |smsc: &Arc<TestSmsc>| {
        let (smsc, por) = (smsc.clone(), por.clone());
        tokio::spawn(async move { smsc.send_mo(MSISDN, "4477009", &por).await })
    };
    let mo_event = |ev| match ev {
        SmppEvent::MoSms(m) => Some(m),
        _ => None,
    };
    // The SM-SR could not store it: ESME_RX_T_APPN, the SMSC is to deliver it again.
    let refused = send(&smsc);
    let mo: MoSms = next_event(&mut events, mo_event).await;
    mo.ack.retry_later();
    let err = refused.await.expect("task").unwrap_err();
    assert!(
        matches!(
            err,
            conformance::smsc::SmscError::Refused {
                status: CommandStatus::ESME_RX_T_APPN,
                ..
            }
        ),
        "{err}"
    );
    // Stored: the deliver_sm_resp (ESME_ROK) goes only now.
    let accepted = send(&smsc);
    let mo: MoSms = next_event(&mut events, mo_event).await;
    mo.ack.stored();
    accepted.await.expect("task").expect("MO accepted");
    assert_eq!(mo.source_addr, MSISDN);
    assert_eq!(mo.dest_addr, "4477009");
    assert_eq!(mo.tp_ud, por);
    assert!(mo.esm_class.udhi());
    assert_eq!((mo.protocol_id, mo.data_coding), (0x7F, 0xF6));
    assert_eq!(smsc.counters().mo_sent, 1);
    handle.shutdown().await;
}

/// Two SM-SRs behind one SMSC (SGP.02 §3.8 SM-SR change): each account lists its own MSISDN, an MO SMS goes to
/// the ESME serving its destination address (stored while that ESME is not bound, never handed to the other),
/// MT SMS from either ESME reach the handsets, and each receipt goes back to the ESME that submitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mo_sms_go_to_the_esme_serving_their_destination_address() {
    let router = Arc::new(HandsetRouter::new());
    let mut handset = router.register(MSISDN);
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.mo_retry_interval = (Duration::from_millis(20), Duration::from_millis(100));
    cfg.accounts[0].addresses = vec!["4477009".into()];
    cfg.accounts.push(conformance::smsc::SmscAccount {
        system_id: "smsr2".into(),
        password: Password::new("secret2"),
        addresses: vec!["+4477002".into()],
    });
    let (smsc, one, mut one_events) = start(cfg, router, |_| {}).await;
    let smsc = Arc::new(smsc);
    let mo_event = |ev| match ev {
        SmppEvent::MoSms(m) => Some(m),
        _ => None,
    };
    // To SM-SR 2's address while only SM-SR 1 is bound: stored, not handed to SM-SR 1.
    let por = scp80_tp_ud(9);
    let to_two = {
        let (smsc, por) = (smsc.clone(), por.clone());
        tokio::spawn(async move { smsc.forward_mo(MSISDN, "4477002", &por).await })
    };
    wait_until("the MO to SM-SR 2 waits", || {
        smsc.counters().mo_retries >= 1
    })
    .await;
    let mut c2 = client_config(&smsc);
    c2.system_id = "smsr2".into();
    c2.password = Password::new("secret2");
    c2.profile.source_addr = "4477002".into();
    let (two, mut two_events) = SmppClient::start(c2).expect("client 2 starts");
    wait_until("SM-SR 2 bound", || two.bound_binds() == 1).await;
    let mo: MoSms = next_event(&mut two_events, mo_event).await;
    assert_eq!((mo.dest_addr.as_str(), mo.tp_ud.clone()), ("4477002", por));
    mo.ack.stored();
    to_two.await.expect("task").expect("delivered to SM-SR 2");
    // To SM-SR 1's address: SM-SR 1, every time (no round robin over both binds).
    for n in 0..3u8 {
        let tp_ud = scp80_tp_ud(n);
        let sent = {
            let (smsc, tp_ud) = (smsc.clone(), tp_ud.clone());
            tokio::spawn(async move { smsc.send_mo(MSISDN, "4477009", &tp_ud).await })
        };
        let mo: MoSms = next_event(&mut one_events, mo_event).await;
        assert_eq!(
            (mo.dest_addr.as_str(), mo.tp_ud.clone()),
            ("4477009", tp_ud)
        );
        mo.ack.stored();
        sent.await.expect("task").expect("delivered to SM-SR 1");
    }
    // MT from SM-SR 2 reaches the handset; its receipt comes back to SM-SR 2.
    let id = two
        .submit(Submit::new(MSISDN, scp80_tp_ud(4)))
        .await
        .expect("SM-SR 2 submits");
    let mt = timeout(Duration::from_secs(5), handset.recv())
        .await
        .expect("MT in time")
        .expect("MT");
    assert_eq!(mt.source_addr, "4477002");
    let r = next_event(&mut two_events, receipt).await;
    assert_eq!((r.message_id, r.dest_addr.as_str()), (id, "4477002"));
    one.shutdown().await;
    two.shutdown().await;
}

/// An MO SMS sent while no ESME is bound is stored and delivered once the SM-SR binds (store and forward), with
/// the retries counted; one that finds no receiver within its validity is given up and counted as expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mo_is_stored_until_a_receiver_binds() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.mo_retry_interval = (Duration::from_millis(20), Duration::from_millis(100));
    let smsc = Arc::new(
        TestSmsc::start(cfg, Arc::new(HandsetRouter::new()))
            .await
            .expect("SMSC starts"),
    );
    let por = scp80_tp_ud(7);
    let stored = {
        let (smsc, por) = (smsc.clone(), por.clone());
        tokio::spawn(async move { smsc.forward_mo(MSISDN, "4477009", &por).await })
    };
    wait_until("a delivery tried again", || smsc.counters().mo_retries >= 2).await;
    assert_eq!(smsc.counters().mo_sent, 0);
    let (handle, mut events) = SmppClient::start(client_config(&smsc)).expect("client starts");
    let mo: MoSms = next_event(&mut events, |ev| match ev {
        SmppEvent::MoSms(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(mo.tp_ud, por);
    mo.ack.stored();
    stored
        .await
        .expect("task")
        .expect("delivered after the bind");
    assert_eq!(smsc.counters().mo_sent, 1);
    assert_eq!(smsc.counters().mo_expired, 0);
    handle.shutdown().await;

    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.mo_validity = Duration::from_millis(200);
    cfg.mo_retry_interval = (Duration::from_millis(20), Duration::from_millis(50));
    let alone = TestSmsc::start(cfg, Arc::new(HandsetRouter::new()))
        .await
        .expect("SMSC starts");
    let err = alone.forward_mo(MSISDN, "4477009", &por).await.unwrap_err();
    assert!(
        matches!(err, conformance::smsc::SmscError::NoReceiver { .. }),
        "{err}"
    );
    let c = alone.counters();
    assert_eq!((c.mo_sent, c.mo_expired), (0, 1));
    assert!(c.mo_retries >= 1, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enquire_link_both_ways() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.enquire_link_interval = Some(Duration::from_millis(100));
    let (smsc, handle, _events) = start(cfg, Arc::new(HandsetRouter::new()), |c| {
        c.enquire_link_interval = Duration::from_millis(100)
    })
    .await;
    wait_until(
        "enquire_link from the client answered, and the SMSC's answered",
        || {
            let c = smsc.counters();
            c.enquire_links_received >= 2 && c.enquire_link_resps_received >= 2
        },
    )
    .await;
    assert_eq!(handle.bound_binds(), 1, "the link stays up");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_limits_outstanding_submits() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.response_delay = Duration::from_millis(100);
    cfg.receipts = false;
    let (smsc, handle, _events) =
        start(cfg, Arc::new(HandsetRouter::new()), |c| c.window_size = 3).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20u8 {
        let h = handle.clone();
        tasks.spawn(async move { h.submit(Submit::new(MSISDN, scp80_tp_ud(i))).await });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(r) = tasks.join_next().await {
        ids.insert(r.expect("task").expect("submit"));
    }
    assert_eq!(ids.len(), 20, "every submit got its own message id");
    let c = smsc.counters();
    assert_eq!(c.submitted, 20);
    assert_eq!(
        c.max_outstanding, 3,
        "the window filled up and never went beyond 3"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_submits_back_off_and_are_retried() {
    throttled_then_retried(CommandStatus::ESME_RTHROTTLED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_queue_full_is_handled_like_throttling() {
    throttled_then_retried(CommandStatus::ESME_RMSGQFUL).await;
}

async fn throttled_then_retried(status: CommandStatus) {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.throughput_cap_per_bind = Some(10);
    cfg.throttle_status = status;
    cfg.receipts = false;
    let (smsc, handle, _events) = start(cfg, Arc::new(HandsetRouter::new()), |c| {
        c.throttle_backoff_min = Duration::from_millis(50);
        c.throttle_backoff_max = Duration::from_millis(400);
        c.max_throttle_retries = 100;
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..25u8 {
        let h = handle.clone();
        tasks.spawn(async move { h.submit(Submit::new(MSISDN, scp80_tp_ud(i))).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("submit succeeds after retries");
    }
    let c = smsc.counters();
    assert_eq!(c.submitted, 25);
    assert!(c.throttled > 0, "the SMSC did throttle: {c:?}");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_beyond_the_retry_budget_is_an_error() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.throughput_cap_per_bind = Some(1);
    cfg.receipts = false;
    let (_smsc, handle, _events) = start(cfg, Arc::new(HandsetRouter::new()), |c| {
        c.max_throttle_retries = 0;
        c.window_size = 2;
    })
    .await;
    let (a, b) = tokio::join!(
        handle.submit(Submit::new(MSISDN, scp80_tp_ud(1))),
        handle.submit(Submit::new(MSISDN, scp80_tp_ud(2)))
    );
    let results = [a, b];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(SmppError::Throttled { attempts: 1, .. }))),
        "{results:?}"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_throughput_limit_keeps_under_the_smsc_cap() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.throughput_cap_per_bind = Some(20);
    cfg.receipts = false;
    let (smsc, handle, _events) = start(cfg, Arc::new(HandsetRouter::new()), |c| {
        c.throughput_per_bind = Some(10.0)
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20u8 {
        let h = handle.clone();
        tasks.spawn(async move { h.submit(Submit::new(MSISDN, scp80_tp_ud(i))).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("submit");
    }
    let c = smsc.counters();
    assert_eq!(
        (c.submitted, c.throttled),
        (20, 0),
        "paced below the cap: {c:?}"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_fails_in_flight_then_reconnects_and_rebinds() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.response_delay = Duration::from_secs(3);
    cfg.receipts = false;
    let (smsc, handle, mut events) = start(cfg, Arc::new(HandsetRouter::new()), |_| {}).await;
    let h = handle.clone();
    let in_flight =
        tokio::spawn(async move { h.submit(Submit::new(MSISDN, scp80_tp_ud(9))).await });
    wait_until("submit reached the SMSC", || smsc.counters().submitted == 1).await;
    smsc.drop_connections();
    let err = in_flight.await.expect("task").unwrap_err();
    assert!(
        matches!(err, SmppError::ConnectionLost { bind: 0, .. }),
        "{err}"
    );
    next_event(&mut events, |ev| {
        matches!(ev, SmppEvent::Unbound { bind: 0, .. }).then_some(())
    })
    .await;
    next_event(&mut events, |ev| {
        matches!(ev, SmppEvent::Bound { bind: 0 }).then_some(())
    })
    .await;
    assert_eq!(smsc.counters().binds_accepted, 2, "re-bound");
    assert_eq!(smsc.binds()[1].interface_version, 0x34);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_succeed_after_a_reconnect() {
    let (smsc, handle, mut events) = start(
        SmscConfig::loopback("smsr", "secret"),
        Arc::new(HandsetRouter::new()),
        |_| {},
    )
    .await;
    handle
        .submit(Submit::new(MSISDN, scp80_tp_ud(1)))
        .await
        .expect("before");
    smsc.drop_connections();
    next_event(&mut events, |ev| {
        matches!(ev, SmppEvent::Unbound { .. }).then_some(())
    })
    .await;
    // Submitted while the bind is down: waits in the queue for the new bind.
    let id = handle
        .submit(Submit::new(MSISDN, scp80_tp_ud(2)))
        .await
        .expect("after");
    assert_eq!(
        smsc.submits().last().map(|s| s.message_id.clone()),
        Some(id.0)
    );
    assert_eq!(smsc.counters().binds_accepted, 2);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbind_from_the_smsc_is_answered_and_the_client_binds_again() {
    let (smsc, handle, mut events) = start(
        SmscConfig::loopback("smsr", "secret"),
        Arc::new(HandsetRouter::new()),
        |_| {},
    )
    .await;
    smsc.unbind_all();
    let reason = next_event(&mut events, |ev| match ev {
        SmppEvent::Unbound { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(reason.contains("unbind"), "{reason}");
    next_event(&mut events, |ev| {
        matches!(ev, SmppEvent::Bound { .. }).then_some(())
    })
    .await;
    handle
        .submit(Submit::new(MSISDN, scp80_tp_ud(3)))
        .await
        .expect("submit");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_timeout_is_reported() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.response_delay = Duration::from_secs(5);
    let (_smsc, handle, _events) = start(cfg, Arc::new(HandsetRouter::new()), |c| {
        c.response_timeout = Duration::from_millis(300)
    })
    .await;
    let err = handle
        .submit(Submit::new(MSISDN, scp80_tp_ud(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SmppError::ResponseTimeout {
                bind: 0,
                sequence_number: 2,
                ..
            }
        ),
        "{err}"
    );
    handle.shutdown().await;
}

async fn lossy_run(seed: u64) -> (u64, u64, usize) {
    let router = Arc::new(HandsetRouter::new());
    let mut handset = router.register(MSISDN);
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.loss_probability = 0.3;
    cfg.seed = seed;
    cfg.latency = (Duration::from_millis(1), Duration::from_millis(20));
    let (smsc, handle, mut events) = start(cfg, router, |c| c.window_size = 1).await;
    for i in 0..40u8 {
        handle
            .submit(Submit::new(MSISDN, scp80_tp_ud(i)))
            .await
            .expect("submit");
    }
    wait_until("every MT delivered or lost", || {
        let c = smsc.counters();
        c.delivered + c.lost == 40
    })
    .await;
    let c = smsc.counters();
    let mut receipts = 0;
    while receipts < c.delivered as usize {
        next_event(&mut events, receipt).await;
        receipts += 1;
    }
    let mut handset_got = 0;
    while handset.try_recv().is_ok() {
        handset_got += 1;
    }
    assert_eq!(handset_got as u64, c.delivered);
    handle.shutdown().await;
    (c.delivered, c.lost, receipts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_injection_is_seeded() {
    let (delivered, lost, receipts) = lossy_run(7).await;
    assert!(
        lost > 0 && delivered > 0,
        "delivered {delivered}, lost {lost}"
    );
    assert_eq!(receipts as u64, delivered, "lost messages get no receipt");
    let again = lossy_run(7).await;
    assert_eq!(again, (delivered, lost, receipts), "same seed, same losses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_and_submits_time_out() {
    let smsc = TestSmsc::start(
        SmscConfig::loopback("smsr", "secret"),
        Arc::new(HandsetRouter::new()),
    )
    .await
    .expect("SMSC");
    let mut cfg = client_config(&smsc);
    cfg.password = Password::new("wrong");
    cfg.submit_timeout = Duration::from_millis(500);
    let (handle, mut events) = SmppClient::start(cfg).expect("client");
    let reason = next_event(&mut events, |ev| match ev {
        SmppEvent::Unbound { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(reason.contains("ESME_RINVPASWD"), "{reason}");
    let err = handle
        .submit(Submit::new(MSISDN, scp80_tp_ud(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, SmppError::SubmitTimeout { .. }), "{err}");
    assert!(smsc.counters().binds_refused >= 1);
    assert_eq!(smsc.counters().binds_accepted, 0);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_binds_share_the_load() {
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.receipts = false;
    cfg.response_delay = Duration::from_millis(5);
    let (smsc, handle, _events) = start(cfg, Arc::new(HandsetRouter::new()), |c| {
        c.binds = 4;
        c.window_size = 4;
    })
    .await;
    assert_eq!(smsc.bound_sessions(), 4);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let h = handle.clone();
        tasks.spawn(async move { h.submit(Submit::new(MSISDN, scp80_tp_ud(i as u8))).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("submit");
    }
    let sessions: std::collections::HashSet<u64> =
        smsc.submits().iter().map(|s| s.session).collect();
    assert!(
        sessions.len() > 1,
        "submits spread over binds: {sessions:?}"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_unbinds_and_refuses_new_submits() {
    let (smsc, handle, _events) = start(
        SmscConfig::loopback("smsr", "secret"),
        Arc::new(HandsetRouter::new()),
        |c| c.binds = 2,
    )
    .await;
    let id: MessageId = handle
        .submit(Submit::new(MSISDN, scp80_tp_ud(1)))
        .await
        .expect("submit");
    assert!(!id.0.is_empty());
    handle.shutdown().await;
    wait_until("SMSC sees both sessions unbound", || {
        smsc.bound_sessions() == 0
    })
    .await;
    assert_eq!(handle.bound_binds(), 0);
    assert_eq!(
        handle.submit(Submit::new(MSISDN, scp80_tp_ud(2))).await,
        Err(SmppError::Shutdown)
    );
}
