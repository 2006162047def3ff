//! Shared test helpers: the Python `cryptography` oracle (tests/py/crypto_oracle.py).

#![allow(dead_code)]

use serde_json::Value;

/// Runs a batch of oracle operations and returns their results in order.
pub fn oracle(ops: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ops.json");
    std::fs::write(&path, serde_json::to_vec(ops).unwrap()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/crypto_oracle.py");
    let out = testkit::run_python(&script, &[path.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_array().unwrap().clone()
}

/// Lower-case hex.
pub fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

/// Bytes of a hex JSON string.
pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}
