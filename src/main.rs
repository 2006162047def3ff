//! `rsp`: the SGP.02 SM-DP and SM-SR in one binary.

mod config;

fn main() {}
