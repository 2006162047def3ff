//! Capture of every SOAP message a server emits, for conformance checking (SGP.02 Annex B messages validated
//! against the GSMA XSDs by the test suite).
//!
//! Off unless `RSP_CAPTURE_SOAP_DIR` names a directory when the process starts; then each emitted envelope
//! (responses, faults, callbacks, notifications) is written there as one file.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn dir() -> Option<&'static PathBuf> {
    DIR.get_or_init(|| std::env::var_os("RSP_CAPTURE_SOAP_DIR").map(PathBuf::from))
        .as_ref()
}

/// Records one emitted envelope (a no-op unless capture is on). Failures to write are logged, never fatal.
pub fn emitted(envelope: &str) {
    let Some(dir) = dir() else { return };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{}-{n:06}.xml", std::process::id()));
    if let Err(e) = std::fs::write(&path, envelope) {
        tracing::warn!(path = %path.display(), error = %e, "cannot capture an emitted SOAP message");
    }
}
