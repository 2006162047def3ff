//! The `rsp` application: configuration, setup of both servers from a PKI directory, and the commands of the
//! `rsp` binary (serve, PKI and eUICC tools, benchmarks). Integration tests drive the same functions.
//! The eUICC simulator, the test SMSC and what uses them (`serve --simulate`, the benches, the lab, the EUM's ES1
//! client) are in the `lab` cargo feature (on by default); `--no-default-features` builds a production `rsp`.

#[cfg(feature = "lab")]
pub mod bench;
pub mod config;
#[cfg(feature = "lab")]
pub mod conformance;
#[cfg(feature = "lab")]
pub mod download_bench;
#[cfg(feature = "lab")]
pub mod download_floor;
pub mod entity;
#[cfg(feature = "lab")]
pub mod euicc;
pub mod fleet;
#[cfg(feature = "lab")]
pub mod fleet_bench;
#[cfg(feature = "lab")]
pub mod https_bench;
pub mod keys;
#[cfg(feature = "lab")]
pub mod lab;
pub mod mno;
pub mod order;
pub mod owner;
#[cfg(feature = "lab")]
pub mod platform_bench;
#[cfg(feature = "lab")]
pub mod seed_bench;
pub mod serve;
pub mod setup;
#[cfg(feature = "lab")]
pub mod smsr_change_bench;
