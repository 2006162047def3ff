//! The test world: eUICC simulator, test SMSC, MNO/EUM test clients, conformance runs and benchmarks.
//!
//! [`lab`] wires the test SMSC to the simulator fleet (the mobile network of the test world); [`mno`] is the
//! MNO test client with its callback receiver; [`eum`] registers EISs over ES1; [`suite`] is `rsp conformance`,
//! the conformance suite that plays a system under test's peers.

pub mod euicc;
pub mod eum;
pub mod issuance;
pub mod lab;
pub mod mno;
pub mod smsc;
pub mod suite;
