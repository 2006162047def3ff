//! The tokio driver: MT SMS in and MO SMS out over channels, attach delays and notification retries run by the
//! (paused, hence exact) tokio clock, coverage control, undelivered SMS, and the fleet handed back at the end
//! (DESIGN §7).

mod euicc_common;

use std::time::Duration;

use conformance::euicc::{
    Control, DeliveryError, DriverEvent, EventKind, MoSms, Msisdn, MtSms, SimulatorDriver,
};
use es_interfaces::notification::NotificationType;
use es_interfaces::scp80::PorStatus;
use euicc_common::*;
use tokio::sync::mpsc;
use tokio::time::Instant;

async fn send(handle: &conformance::euicc::SimulatorHandle, to: &str, sms: Vec<Vec<u8>>) {
    for tp_ud in sms {
        handle
            .mt
            .send(MtSms {
                dest_msisdn: to.to_string(),
                tp_ud,
            })
            .await
            .expect("driver running");
    }
}

async fn next(rx: &mut mpsc::Receiver<MoSms>) -> MoSms {
    rx.recv().await.expect("MO SMS")
}

#[tokio::test(start_paused = true)]
async fn driver_switches_profile_retries_and_falls_back_on_its_own_clock() {
    let m = msisdns(0);
    let (mo_tx, mut mo_rx) = mpsc::channel(16);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (driver, handle) = SimulatorDriver::new(seeded(2), mo_tx, 16);
    let start = Instant::now();
    let task = tokio::spawn(driver.with_events(ev_tx).run());
    let mut smsr = SmSr::for_seeded(0);

    send(&handle, &m[0], smsr.sms(&[enable(1)])).await;
    let por = smsr.por(&[next(&mut mo_rx).await]);
    assert_eq!(por.status, PorStatus::Ok);

    // The notification after the attach delay, then its retry one interval later.
    let mo = next(&mut mo_rx).await;
    assert_eq!(start.elapsed(), Duration::from_millis(ATTACH));
    let (from, _, n) = smsr.notification(&[mo]);
    assert_eq!(
        (from.as_str(), n.kind),
        (m[1].as_str(), NotificationType::ProfileChangeSucceeded)
    );
    let mo = next(&mut mo_rx).await;
    assert_eq!(start.elapsed(), Duration::from_millis(ATTACH + RETRY));
    assert_eq!(smsr.notification(&[mo]).2.sequence, n.sequence);

    // Confirmed: the PoR, then silence however long we wait.
    send(&handle, &m[1], smsr.sms(&[confirm(n.sequence)])).await;
    assert_eq!(smsr.por(&[next(&mut mo_rx).await]).status, PorStatus::Ok);
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), mo_rx.recv())
            .await
            .is_err()
    );

    // P1's MSISDN no longer reaches the eUICC.
    send(&handle, &m[0], vec![vec![0x02, 0x70, 0x00]]).await;
    // P2 loses coverage: fall-back to P1 and notification 05 after the attach delay.
    handle
        .control
        .send(Control::SetCoverage {
            eid: eid(0),
            aid: aid(1),
            covered: false,
        })
        .await
        .expect("control");
    let t = Instant::now();
    let (from, _, n) = smsr.notification(&[next(&mut mo_rx).await]);
    assert_eq!(t.elapsed(), Duration::from_millis(ATTACH));
    assert_eq!(
        (from.as_str(), n.kind),
        (m[0].as_str(), NotificationType::ProfileChangeAfterFallback)
    );

    drop(handle);
    let fleet = task.await.expect("join").expect("driver");
    assert_eq!(
        fleet
            .euicc(&eid(0))
            .expect("e")
            .enabled()
            .map(|i| i.aid().as_bytes().to_vec()),
        Some(aid(0))
    );
    let mut events = Vec::new();
    while let Ok(e) = ev_rx.try_recv() {
        events.push(e);
    }
    assert!(events.contains(&DriverEvent::Undelivered {
        dest_msisdn: m[0].clone(),
        error: DeliveryError::Unreachable(Msisdn::parse(&m[0]).expect("m")),
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        DriverEvent::Euicc(ev) if ev.kind == EventKind::NotificationConfirmed { sequence: 1 }
    )));
}

#[tokio::test(start_paused = true)]
async fn driver_stops_when_the_mo_receiver_is_gone() {
    let m = msisdns(0);
    let (mo_tx, mo_rx) = mpsc::channel(1);
    let (driver, handle) = SimulatorDriver::new(seeded(1), mo_tx, 4);
    let task = tokio::spawn(driver.run());
    drop(mo_rx);
    let mut smsr = SmSr::for_seeded(0);
    send(&handle, &m[0], smsr.sms(&[enable(1)])).await;
    assert_eq!(
        task.await.expect("join").err(),
        Some(conformance::euicc::DriverError::MoClosed)
    );
}
