//! The test world: eUICC simulator, test SMSC, MNO/EUM test clients, conformance runs and benchmarks.

pub mod euicc;
pub mod eum;
pub mod issuance;
pub mod smsc;
