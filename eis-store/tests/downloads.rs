//! The SM-DP's downloads on both backends: the open ones listed and counted by phase (SGP.02 §3.1.4, a
//! clean-up that failed; `rsp download list` and the metrics).
mod common;

use eis_store::downloads::{self, NewDownload};

fn create(c: &mut eis_store::AnyConnection, call: i64, phase: &str) -> i64 {
    downloads::create(
        c,
        &NewDownload {
            es2_call_id: call,
            mno_oid: "1.2.3",
            eid: "89049032123451234512345678901235",
            iccid: &format!("898821190000000000{call}"),
            phase,
            step: 1,
            awaiting_message_id: None,
            deadline: 1,
            data: "{}",
        },
        0,
    )
    .expect("download")
}

both_backends!(open_downloads_listed_and_counted_by_phase, 2, |store| {
    let mut c = store.conn().expect("conn");
    assert!(
        downloads::count_open_by_phase(&mut c)
            .expect("count")
            .is_empty()
    );
    let phases = [
        "Done",
        "CleanupFailed",
        "Loading",
        "Done",
        "CleanupFailed",
        "CleaningUp",
    ];
    let ids: Vec<i64> = phases
        .iter()
        .enumerate()
        .map(|(i, p)| create(&mut c, i as i64, p))
        .collect();
    let open: Vec<i64> = downloads::list(&mut c, None, 100)
        .expect("list")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(
        open,
        vec![ids[1], ids[2], ids[4], ids[5]],
        "not Done, oldest first"
    );
    let failed: Vec<(i64, String)> = downloads::list(&mut c, Some("CleanupFailed"), 100)
        .expect("list")
        .into_iter()
        .map(|d| (d.id, d.phase))
        .collect();
    assert_eq!(
        failed,
        vec![
            (ids[1], "CleanupFailed".to_string()),
            (ids[4], "CleanupFailed".to_string())
        ]
    );
    assert_eq!(
        downloads::list(&mut c, None, 1).expect("list").len(),
        1,
        "limit"
    );
    assert_eq!(
        downloads::count_open_by_phase(&mut c).expect("count"),
        vec![
            ("CleaningUp".to_string(), 1),
            ("CleanupFailed".to_string(), 2),
            ("Loading".to_string(), 1)
        ]
    );
});
