//! Segments of concatenated MO SMS held in the store, on both backends (3GPP TS 23.040 §9.2.3.24.1; issue 14
//! item 2): held by part, a part held twice kept once, counted per sender and over all, released per
//! message, expired by age with their messages named.
mod common;

use eis_store::mo_segments::{self, ExpiredMessage};

both_backends!(segments_are_held_counted_released_and_expired, 2, |store| {
    let mut c = store.conn().expect("conn");
    mo_segments::hold(&mut c, "491", 7, 2, b"second", 1_000).expect("hold");
    mo_segments::hold(&mut c, "491", 7, 1, b"first", 1_200).expect("hold");
    // The same part again (the SMSC offered it twice): the first copy stays.
    mo_segments::hold(&mut c, "491", 7, 1, b"other", 1_300).expect("hold again");
    mo_segments::hold(&mut c, "491", 8, 1, b"eight", 5_000).expect("hold");
    mo_segments::hold(&mut c, "492", 7, 1, b"another sender", 5_000).expect("hold");
    assert_eq!(
        mo_segments::held(&mut c, "491", 7).expect("held"),
        [b"first".to_vec(), b"second".to_vec()]
    );
    assert_eq!(
        mo_segments::incomplete(&mut c, "491").expect("count"),
        (2, 3)
    );
    assert_eq!(
        mo_segments::incomplete(&mut c, "493").expect("count"),
        (0, 3)
    );

    mo_segments::release(&mut c, "491", 8).expect("release");
    assert!(
        mo_segments::held(&mut c, "491", 8)
            .expect("held")
            .is_empty()
    );
    assert_eq!(
        mo_segments::incomplete(&mut c, "491").expect("count"),
        (1, 2)
    );

    // Segments received before 1,150: message 7 of 491 loses its part 2 only.
    assert_eq!(
        mo_segments::expire(&mut c, 1_150).expect("expire"),
        [ExpiredMessage {
            source: "491".into(),
            reference: 7,
            parts: vec![2],
        }]
    );
    assert_eq!(
        mo_segments::held(&mut c, "491", 7).expect("held"),
        [b"first".to_vec()]
    );
    let gone = mo_segments::expire(&mut c, 10_000).expect("expire");
    assert_eq!(
        gone,
        [
            ExpiredMessage {
                source: "491".into(),
                reference: 7,
                parts: vec![1],
            },
            ExpiredMessage {
                source: "492".into(),
                reference: 7,
                parts: vec![1],
            },
        ]
    );
    assert_eq!(
        mo_segments::incomplete(&mut c, "491").expect("count"),
        (0, 0)
    );
});
