//! Function-call deduplication on both backends (SGP.02 §5.1.6 FunctionCallIdentifier).
mod common;

use std::sync::{Arc, Barrier};

use eis_store::StoreError;
use eis_store::function_calls::{self, Begin, CallResponse, NewFunctionCall, Recorded};

fn call(caller: &str, fcid: &str) -> NewFunctionCall {
    NewFunctionCall {
        caller_oid: caller.into(),
        interface: "ES2".into(),
        function_name: "DownloadProfile".into(),
        function_call_id: fcid.into(),
        message_id: Some(format!("urn:uuid:{fcid}")),
        reply_to: Some("https://mno.example/es2".into()),
        valid_until: Some(10_000),
        request_digest: "d1".into(),
    }
}

both_backends!(
    a_used_identifier_replays_only_the_same_function_and_request,
    3,
    |store| {
        // Issue 10 item 2: the record used to be keyed on (caller, identifier) alone, so these all replayed.
        let mut c = store.conn().expect("conn");
        let Begin::New(id) =
            function_calls::begin_call(&mut c, &call("1.2.3", "x"), 100).expect("begin")
        else {
            panic!("expected New")
        };
        let resp = CallResponse {
            http_status: 200,
            body: "<R/>".into(),
        };
        function_calls::complete_call(&mut c, id, &resp, 110).expect("complete");
        // Same caller, function and request: the recorded answer.
        assert_eq!(
            function_calls::begin_call(&mut c, &call("1.2.3", "x"), 120).expect("begin"),
            Begin::Duplicate(Recorded::Completed {
                id,
                function_name: "DownloadProfile".into(),
                response: resp.clone(),
            })
        );
        // Another function under the same identifier: refused, not replayed.
        let other_function = NewFunctionCall {
            function_name: "UpdatePolicyRules".into(),
            ..call("1.2.3", "x")
        };
        let conflict = Begin::Conflict {
            id,
            function_name: "DownloadProfile".into(),
        };
        assert_eq!(
            function_calls::begin_call(&mut c, &other_function, 130).expect("begin"),
            conflict
        );
        // The same function with another request: refused too.
        let other_request = NewFunctionCall {
            request_digest: "d2".into(),
            ..call("1.2.3", "x")
        };
        assert_eq!(
            function_calls::begin_call(&mut c, &other_request, 140).expect("begin"),
            conflict
        );
        // Another caller's identifier space is its own.
        assert!(matches!(
            function_calls::begin_call(
                &mut c,
                &NewFunctionCall {
                    caller_oid: "1.2.4".into(),
                    ..other_request.clone()
                },
                150
            )
            .expect("begin"),
            Begin::New(n) if n != id
        ));
        // Nothing was overwritten.
        let got = function_calls::find_call(&mut c, "1.2.3", "x")
            .expect("find")
            .expect("some");
        assert_eq!((got.id, got.response), (id, Some(resp)));
        assert_eq!(got.call.request_digest, "d1");
    }
);

both_backends!(duplicate_returns_recorded_outcome, 2, |store| {
    let mut c = store.conn().expect("conn");
    let first = function_calls::begin_call(&mut c, &call("1.2.3", "fc-1"), 100).expect("begin");
    let Begin::New(id) = first else {
        panic!("expected New, got {first:?}")
    };
    assert_eq!(
        function_calls::begin_call(&mut c, &call("1.2.3", "fc-1"), 101).expect("begin"),
        Begin::Duplicate(Recorded::InProgress {
            id,
            function_name: "DownloadProfile".into()
        })
    );
    // Same identifier from another caller is a different call.
    assert!(matches!(
        function_calls::begin_call(&mut c, &call("1.2.4", "fc-1"), 102).expect("begin"),
        Begin::New(other) if other != id
    ));
    let resp = CallResponse {
        http_status: 202,
        body: "<Envelope/>".into(),
    };
    function_calls::complete_call(&mut c, id, &resp, 150).expect("complete");
    assert_eq!(
        function_calls::begin_call(&mut c, &call("1.2.3", "fc-1"), 160).expect("begin"),
        Begin::Duplicate(Recorded::Completed {
            id,
            function_name: "DownloadProfile".into(),
            response: resp.clone()
        })
    );
    assert!(matches!(
        function_calls::complete_call(&mut c, id, &resp, 170),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        function_calls::complete_call(&mut c, 999_999, &resp, 170),
        Err(StoreError::NotFound { .. })
    ));
    let got = function_calls::get_call(&mut c, id)
        .expect("get")
        .expect("some");
    assert_eq!(got.call, call("1.2.3", "fc-1"));
    assert_eq!(got.response, Some(resp));
    assert_eq!((got.received_at, got.completed_at), (100, Some(150)));
    let by_msg =
        function_calls::find_by_message_id(&mut c, "1.2.3", "urn:uuid:fc-1").expect("find");
    assert_eq!(by_msg.map(|f| f.id), Some(id));

    assert_eq!(
        function_calls::purge_completed_before(&mut c, 150).expect("purge"),
        0
    );
    assert_eq!(
        function_calls::purge_completed_before(&mut c, 151).expect("purge"),
        1
    );
    assert_eq!(function_calls::get_call(&mut c, id).expect("get"), None);
});

both_backends!(concurrent_identical_calls_exactly_one_new, 16, |store| {
    let threads = 16;
    for round in 0..5 {
        let fcid = format!("fc-race-{round}");
        let barrier = Arc::new(Barrier::new(threads));
        let outcomes: Vec<Begin> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    let b = barrier.clone();
                    let fcid = fcid.clone();
                    s.spawn(move || {
                        b.wait();
                        store
                            .tx(|c| function_calls::begin_call(c, &call("1.2.3", &fcid), 1))
                            .expect("begin")
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("join")).collect()
        });
        let new: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| {
                if let Begin::New(id) = o {
                    Some(*id)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(new.len(), 1, "round {round}: {outcomes:?}");
        for o in &outcomes {
            match o {
                Begin::New(_) => {}
                Begin::Duplicate(Recorded::InProgress { id, .. }) => assert_eq!(*id, new[0]),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
});
