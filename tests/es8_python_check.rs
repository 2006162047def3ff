//! The independent ES8 checker (tests/py/es8_session_check.py, Python `cryptography`, written from wire-profile §5
//! and §7 only) is itself checked against the independent vectors of es8.json: it accepts the vector session and
//! refuses a tampered receipt, 3A02 signature and SCP03t segment. The download tests run the same checker on the
//! messages captured from a real session.

#[test]
fn the_es8_checker_accepts_the_vectors_and_refuses_tampering() {
    let root = testkit::workspace_root();
    let work = tempfile::tempdir().expect("tempdir");
    let out = testkit::run_python(
        &root.join("tests/py/es8_session_selftest.py"),
        &[
            &root.join("testdata/vectors/es8.json").to_string_lossy(),
            &root.join("tests/py/es8_session_check.py").to_string_lossy(),
            &work.path().to_string_lossy(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("selftest prints JSON");
    assert_eq!(v["vectors"]["signature"], "verified", "{out}");
    assert_eq!(
        v["vectors"]["receipt"], "fb05678ae27dd36ecd6897aad0c0a933",
        "{out}"
    );
    for tampered in ["receipt", "signature", "segment"] {
        assert!(v[tampered].is_string(), "{tampered} was not refused: {out}");
    }
}
