//! ESM2M events and webhook deliveries on both backends: per-owner numbering without gaps (a rolled-back
//! append gives its number back), paging after a cursor, a reader following the feed while concurrent
//! transactions append and hold their number before committing (each event seen exactly once, in order) —
//! numbered at append or at the end of the transaction (unnumbered events: in no feed, numbered in order, those
//! of a rolled-back savepoint gone) —, and webhook endpoints, deliveries through the outbox, attempts and
//! deletion.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eis_store::entities::{self, Entity, EntityRole};
use eis_store::events::{self, NewEvent};
use eis_store::outbox::{self, NewOutboxMessage, OutboxState};
use eis_store::{StoreError, webhooks};

const A: &str = "1.3.6.1.4.1.4242.91.1";
const B: &str = "1.3.6.1.4.1.4242.91.2";

fn owner(oid: &str) -> Entity {
    Entity {
        oid: oid.into(),
        role: EntityRole::EuiccOwner,
        name: format!("owner {oid}"),
        endpoints: BTreeMap::new(),
        allowed_interfaces: BTreeSet::new(),
        gp_certificate: None,
        fingerprints: BTreeSet::new(),
    }
}

fn event(kind: &str, n: usize) -> NewEvent {
    NewEvent {
        event_type: kind.into(),
        eid: format!("8904903200000000000000000000{n:04}"),
        occurred_at: 1_000 + n as i64,
        data: format!("{{\"n\":{n}}}"),
    }
}

fn delivery(
    endpoint_id: i64,
    event_id: i64,
    replay_of: Option<i64>,
    message: &NewOutboxMessage,
) -> webhooks::NewDelivery {
    webhooks::NewDelivery {
        endpoint_id,
        event_id,
        replay_of,
        message: message.clone(),
    }
}

both_backends!(numbering_and_paging, 2, |store| {
    {
        let mut c = store.conn().expect("conn");
        for o in [A, B] {
            entities::create_entity(&mut c, &owner(o), 1).expect("owner");
        }
    }
    for n in 0..5 {
        store
            .tx(|c| events::append(c, A, &event("profile.enabled", n)))
            .expect("append A");
        if n % 2 == 0 {
            store
                .tx(|c| events::append(c, B, &event("profile.disabled", n)))
                .expect("append B");
        }
    }
    // A rolled-back append gives its number back: the feed has no gap.
    let rolled_back: Result<(), StoreError> = store.tx(|c| {
        events::append(c, A, &event("profile.deleted", 99))?;
        Err(StoreError::InvalidArgument {
            what: "test",
            detail: "roll back".into(),
        })
    });
    assert!(rolled_back.is_err());
    let sixth = store
        .tx(|c| events::append(c, A, &event("profile.deleted", 5)))
        .expect("append");
    assert_eq!(sixth.seq, 6);

    let mut c = store.conn().expect("conn");
    let all_a = events::after(&mut c, A, 0, 100).expect("feed");
    assert_eq!(
        all_a.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert!(all_a.iter().all(|e| e.owner_oid == A));
    assert_eq!(all_a[5].event_type, "profile.deleted");
    assert_eq!(all_a[5].data, "{\"n\":5}");
    let all_b = events::after(&mut c, B, 0, 100).expect("feed");
    assert_eq!(
        all_b.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Pages of two cover the feed once.
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let page = events::after(&mut c, A, cursor, 2).expect("page");
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        seen.extend(page.iter().map(|e| e.id));
    }
    assert_eq!(seen, all_a.iter().map(|e| e.id).collect::<Vec<_>>());
    assert_eq!(
        events::by_seq(&mut c, B, 2).expect("by seq").map(|e| e.id),
        Some(all_b[1].id)
    );
    assert_eq!(
        events::get(&mut c, all_b[2].id)
            .expect("get")
            .map(|e| e.seq),
        Some(3)
    );
});

both_backends!(numbered_at_the_end, 2, |store| {
    {
        let mut c = store.conn().expect("conn");
        for o in [A, B] {
            entities::create_entity(&mut c, &owner(o), 1).expect("owner");
        }
    }
    store
        .tx(|c| events::append(c, A, &event("profile.enabled", 0)))
        .expect("append");
    let numbered = store
        .tx(|c| {
            let a1 = events::append_unnumbered(c, A, &event("operation.created", 1))?;
            let b1 = events::append_unnumbered(c, B, &event("operation.created", 2))?;
            // A savepoint rolled back takes its event with it.
            let gone: Result<i64, StoreError> = eis_store::savepoint(c, |c| {
                events::append_unnumbered(c, A, &event("operation.created", 3))?;
                Err(StoreError::InvalidArgument {
                    what: "test",
                    detail: "roll back".into(),
                })
            });
            assert!(gone.is_err());
            let a2 = events::append_unnumbered(c, A, &event("operation.finished", 4))?;
            // Unnumbered: in no feed, not even this transaction's.
            assert_eq!(events::after(c, A, 0, 100)?.len(), 1);
            let numbered = events::number(c, &[a2, b1, a1, a1 + 1000])?;
            assert_eq!(events::number(c, &[a1])?, Vec::new(), "numbered once");
            Ok::<_, StoreError>((a1, b1, a2, numbered))
        })
        .expect("tx");
    let (a1, b1, a2, numbered) = numbered;
    assert_eq!(
        numbered
            .iter()
            .map(|e| (e.owner_oid.as_str(), e.id, e.seq))
            .collect::<Vec<_>>(),
        vec![(A, a1, 2), (A, a2, 3), (B, b1, 1)]
    );
    // A rolled-back numbering gives its numbers back; numbers at append go on after them.
    let rolled_back: Result<(), StoreError> = store.tx(|c| {
        let id = events::append_unnumbered(c, A, &event("profile.deleted", 5))?;
        events::number(c, &[id])?;
        Err(StoreError::InvalidArgument {
            what: "test",
            detail: "roll back".into(),
        })
    });
    assert!(rolled_back.is_err());
    let next = store
        .tx(|c| events::append(c, A, &event("profile.deleted", 6)))
        .expect("append");
    assert_eq!(next.seq, 4);
    let mut c = store.conn().expect("conn");
    let feed = events::after(&mut c, A, 0, 100).expect("feed");
    assert_eq!(
        feed.iter()
            .map(|e| (e.seq, e.data.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (1, "{\"n\":0}"),
            (2, "{\"n\":1}"),
            (3, "{\"n\":4}"),
            (4, "{\"n\":6}")
        ]
    );
    assert_eq!(events::after(&mut c, B, 0, 100).expect("feed").len(), 1);
});

/// Writers append and then hold their transaction open for a while before committing, so that with numbers
/// drawn from a plain sequence a later number would often commit first and a reader past it would never see
/// the earlier one. The reader follows the feed with a cursor while they run and must see every event exactly
/// once, in order. Odd writers append two events unnumbered, hold, then number them at the end.
fn concurrent_writers(store: &eis_store::Store) {
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    {
        let mut c = store.conn().expect("conn");
        entities::create_entity(&mut c, &owner(A), 1).expect("owner");
    }
    let done = AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = {
                    let mut c = store.conn().expect("conn");
                    events::after(&mut c, A, cursor, 7).expect("page")
                };
                if let Some(last) = page.last() {
                    cursor = last.seq;
                }
                let empty = page.is_empty();
                seen.extend(page.into_iter().map(|e| (e.seq, e.data)));
                if finished && empty {
                    return seen;
                }
                if empty {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                scope.spawn(move || {
                    for i in 0..EACH {
                        let hold = Duration::from_millis(((w + i) % 3) as u64);
                        store
                            .tx(|c| {
                                let n = w * 1000 + i;
                                if w % 2 == 1 {
                                    let ids = [
                                        events::append_unnumbered(
                                            c,
                                            A,
                                            &event("operation.created", n),
                                        )?,
                                        events::append_unnumbered(
                                            c,
                                            A,
                                            &event("operation.finished", n + 500),
                                        )?,
                                    ];
                                    std::thread::sleep(hold);
                                    events::number(c, &ids)?;
                                } else {
                                    events::append(c, A, &event("operation.finished", n))?;
                                }
                                // Hold the number before committing (longer for some writers than others).
                                std::thread::sleep(hold);
                                Ok::<_, StoreError>(())
                            })
                            .expect("append");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        done.store(true, Ordering::SeqCst);
        reader.join().expect("reader")
    });
    let total = WRITERS * EACH + WRITERS / 2 * EACH;
    let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
    let expected: Vec<i64> = (1..=total as i64).collect();
    assert_eq!(seqs, expected, "the reader missed or repeated events");
    let datas: BTreeSet<&String> = seen.iter().map(|(_, d)| d).collect();
    assert_eq!(datas.len(), total);
}

both_backends!(concurrent_writers_never_skip, 6, |store| {
    concurrent_writers(store);
});

both_backends!(webhook_endpoints_and_deliveries, 2, |store| {
    let mut c = store.conn().expect("conn");
    for o in [A, B] {
        entities::create_entity(&mut c, &owner(o), 1).expect("owner");
    }
    let all = webhooks::create_endpoint(&mut c, A, "https://a.example/hook", "sealed", "", 10)
        .expect("endpoint");
    let some = webhooks::create_endpoint(
        &mut c,
        A,
        "https://a.example/other",
        "sealed2",
        "profile.enabled,operation.finished",
        11,
    )
    .expect("endpoint");
    assert!(all.wants("profile.deleted"));
    assert!(some.wants("operation.finished") && !some.wants("profile.deleted"));
    assert_eq!(
        webhooks::endpoints_of(&mut c, A)
            .expect("list")
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![all.id, some.id]
    );
    assert!(webhooks::endpoints_of(&mut c, B).expect("list").is_empty());
    assert_eq!(webhooks::endpoint(&mut c, B, all.id).expect("get"), None);

    let ev = store
        .tx(|c| events::append(c, A, &event("profile.enabled", 1)))
        .expect("event");
    let message = NewOutboxMessage {
        destination_url: all.url.clone(),
        http_method: "POST".into(),
        headers: Vec::new(),
        body: b"{}".to_vec(),
        content_type: "application/json".into(),
        correlation_id: None,
        message_id: Some(format!("evt_{}", ev.id)),
        not_before: 20,
        give_up_at: 1_000_000,
    };
    let d = store
        .tx(|c| webhooks::create_delivery(c, delivery(all.id, ev.id, None, &message), 20))
        .expect("delivery");
    let m = outbox::get_message(&mut c, d.outbox_id)
        .expect("outbox")
        .expect("message");
    assert_eq!(
        webhooks::delivery_of(m.correlation_id.as_deref()),
        Some(d.id)
    );
    assert_eq!(webhooks::delivery_of(Some("call:7")), None);
    store
        .tx(|c| {
            webhooks::record_attempt(
                c,
                d.id,
                Some(500),
                Some("HTTP 500"),
                OutboxState::Pending,
                21,
            )
        })
        .expect("attempt");
    let d2 = store
        .tx(|c| webhooks::create_delivery(c, delivery(all.id, ev.id, Some(d.id), &message), 22))
        .expect("replay");
    assert_eq!(d2.replay_of, Some(d.id));
    let listed = webhooks::deliveries_of(&mut c, all.id, 0, 10).expect("deliveries");
    assert_eq!(
        listed.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![d.id, d2.id]
    );
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].state, "Pending");
    assert_eq!(
        webhooks::deliveries_of(&mut c, all.id, d.id, 10)
            .expect("page")
            .len(),
        1
    );
    let attempts = webhooks::attempts_of(&mut c, &[d.id, d2.id]).expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].http_status, Some(500));

    // Another owner cannot delete it; deleting gives up its waiting messages.
    assert!(
        !store
            .tx(|c| webhooks::delete_endpoint(c, B, all.id, 30))
            .expect("delete")
    );
    assert!(
        store
            .tx(|c| webhooks::delete_endpoint(c, A, all.id, 30))
            .expect("delete")
    );
    for o in [d.outbox_id, d2.outbox_id] {
        let m = outbox::get_message(&mut c, o)
            .expect("outbox")
            .expect("kept");
        assert_eq!(m.state, OutboxState::Dead);
    }
    assert!(
        webhooks::deliveries_of(&mut c, all.id, 0, 10)
            .expect("deliveries")
            .is_empty()
    );
    assert_eq!(webhooks::endpoints_of(&mut c, A).expect("list").len(), 1);
});

both_backends!(deliveries_created_in_one_batch, 2, |store| {
    let mut c = store.conn().expect("conn");
    entities::create_entity(&mut c, &owner(A), 1).expect("owner");
    let hooks: Vec<webhooks::Endpoint> = ["https://a.example/1", "https://a.example/2"]
        .iter()
        .enumerate()
        .map(|(i, url)| {
            webhooks::create_endpoint(&mut c, A, url, "sealed", "", 10 + i as i64)
                .expect("endpoint")
        })
        .collect();
    // More than one multi-row INSERT (1,000 rows each), both endpoints interleaved.
    let n = 1_203;
    let evs: Vec<events::Event> = store
        .tx(|c| {
            (0..n)
                .map(|i| events::append(c, A, &event("profile.enabled", i)))
                .collect()
        })
        .expect("events");
    let new: Vec<webhooks::NewDelivery> = evs
        .iter()
        .enumerate()
        .map(|(i, ev)| webhooks::NewDelivery {
            endpoint_id: hooks[i % 2].id,
            event_id: ev.id,
            replay_of: None,
            message: NewOutboxMessage {
                destination_url: hooks[i % 2].url.clone(),
                http_method: "POST".into(),
                headers: vec![("x-n".into(), i.to_string())],
                body: format!("{{\"n\":{i}}}").into_bytes(),
                content_type: "application/json".into(),
                correlation_id: Some("replaced".into()),
                message_id: Some(format!("evt_{}", ev.id)),
                not_before: 20 + i as i64,
                give_up_at: 1_000_000,
            },
        })
        .collect();
    let made = store
        .tx(|c| webhooks::create_deliveries(c, new.clone(), 20))
        .expect("deliveries");
    assert_eq!(made.len(), n);
    assert!(
        made.windows(2).all(|w| w[0].id < w[1].id),
        "ids ascend in the given order"
    );
    let mut outbox_ids = BTreeSet::new();
    for (d, want) in made.iter().zip(&new) {
        assert_eq!(
            (d.endpoint_id, d.event_id, d.replay_of),
            (want.endpoint_id, want.event_id, None)
        );
        assert_eq!(
            webhooks::delivery(&mut c, d.id).expect("read"),
            Some(d.clone())
        );
        let m = outbox::get_message(&mut c, d.outbox_id)
            .expect("outbox")
            .expect("message");
        assert_eq!(
            webhooks::delivery_of(m.correlation_id.as_deref()),
            Some(d.id)
        );
        assert_eq!(m.body, want.message.body);
        assert_eq!(m.headers, want.message.headers);
        assert_eq!(m.message_id, want.message.message_id);
        assert_eq!(
            (m.next_attempt_at, m.state),
            (want.message.not_before, OutboxState::Pending)
        );
        assert!(
            outbox_ids.insert(d.outbox_id),
            "one outbox message per delivery"
        );
    }
    assert_eq!(
        webhooks::deliveries_of(&mut c, hooks[1].id, 0, 2_000)
            .expect("list")
            .len(),
        n / 2
    );
    // A later single delivery (the sequences moved on past the drawn ids).
    let one = store
        .tx(|c| {
            let again = delivery(hooks[0].id, evs[0].id, Some(made[0].id), &new[0].message);
            webhooks::create_delivery(c, again, 30)
        })
        .expect("replay");
    assert!(one.id > made[n - 1].id && !outbox_ids.contains(&one.outbox_id));
});

both_backends!(webhook_secrets_are_rewrapped, 2, |store| {
    use eis_store::Sealed;
    use eis_store::rewrap::{self, RewrapCursor, SealedLocation};
    let mut c = store.conn().expect("conn");
    entities::create_entity(&mut c, &owner(A), 1).expect("owner");
    let old =
        webhooks::create_endpoint(&mut c, A, "https://a.example/1", "v1:master-1:AAAA", "", 1)
            .expect("endpoint");
    webhooks::create_endpoint(&mut c, A, "https://a.example/2", "v1:master-2:BBBB", "", 1)
        .expect("endpoint");
    assert_eq!(
        rewrap::pending(&mut c, "master-2")
            .expect("pending")
            .webhook_secrets,
        1
    );
    let batch = rewrap::next_batch(&mut c, &RewrapCursor::Start, "master-2", 10).expect("batch");
    let location = SealedLocation::WebhookSecret {
        id: old.id,
        owner_oid: A.into(),
    };
    assert_eq!(
        batch
            .items
            .iter()
            .map(|i| i.location.clone())
            .collect::<Vec<_>>(),
        vec![location.clone()]
    );
    let item = &batch.items[0];
    assert_eq!(item.value.key_id, "master-1");
    let new = Sealed {
        key_id: "master-2".into(),
        ciphertext: b"v1:master-2:CCCC".to_vec(),
    };
    assert!(rewrap::replace(&mut c, &location, &item.value, &new).expect("replace"));
    assert!(!rewrap::replace(&mut c, &location, &item.value, &new).expect("stale"));
    assert_eq!(
        webhooks::endpoint(&mut c, A, old.id)
            .expect("get")
            .expect("kept")
            .secret_sealed,
        "v1:master-2:CCCC"
    );
    assert_eq!(
        rewrap::pending(&mut c, "master-2")
            .expect("pending")
            .total(),
        0
    );
});
