//! The SM-SR nodes sharing one database, on both backends (issue 14 item 2): each beat counts the live nodes; a
//! node that stops beating is forgotten once stale; one that leaves is gone at once.
mod common;

use eis_store::nodes;

both_backends!(
    live_nodes_are_counted_and_stale_ones_forgotten,
    2,
    |store| {
        let mut c = store.conn().expect("conn");
        assert_eq!(nodes::beat(&mut c, "a", 1_000, 0).expect("beat"), 1);
        assert_eq!(nodes::beat(&mut c, "b", 1_100, 0).expect("beat"), 2);
        // A second beat of a node updates it, not a second row.
        assert_eq!(nodes::beat(&mut c, "a", 2_000, 0).expect("beat"), 2);
        assert_eq!(nodes::beat(&mut c, "c", 2_100, 0).expect("beat"), 3);
        // b was last seen at 1,100: stale for a beat that forgets nodes not seen since 1,500.
        assert_eq!(nodes::beat(&mut c, "a", 3_000, 1_500).expect("beat"), 2);
        nodes::leave(&mut c, "c").expect("leave");
        assert_eq!(nodes::beat(&mut c, "a", 3_100, 1_500).expect("beat"), 1);
        // b comes back (it was only slow): counted again.
        assert_eq!(nodes::beat(&mut c, "b", 3_200, 1_500).expect("beat"), 2);
        assert_eq!(nodes::live(&mut c, 0).expect("live"), ["a", "b"]);
        assert_eq!(nodes::live(&mut c, 3_150).expect("live"), ["b"]);
    }
);
