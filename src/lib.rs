//! The `rsp` application: configuration, setup of both servers from a PKI directory, and the commands of the
//! `rsp` binary (serve, PKI and eUICC tools, benchmarks). Integration tests drive the same functions.

pub mod bench;
pub mod config;
pub mod download_bench;
pub mod download_floor;
pub mod euicc;
pub mod keys;
pub mod lab;
pub mod mno;
pub mod order;
pub mod platform_bench;
pub mod serve;
pub mod setup;
