//! Memory benchmark of the simulator (DESIGN §7: 100,000 simulated eUICCs must be cheap): builds a seeded
//! [`Fleet`] and reports the heap bytes it holds per eUICC, idle and with one profile switch completed and its
//! notification awaiting confirmation on every eUICC. The heap figure comes from the caller's allocator probe
//! (see `conformance/examples/euicc_memory.rs`, a counting global allocator), so the library needs no unsafe code.

use std::time::{Duration, Instant};

use es_interfaces::isdr::Es5Command;
use es_interfaces::scp80::{self, CommandHeader, Counter, Kic, Kid, Spi};
use es_interfaces::script::CommandScript;
use es_interfaces::sms::{self, PacketKind};
use es_interfaces::wire_profile;

use super::SimulatorConfig;
use super::fleet::Fleet;
use super::keys::EuiccSecrets;

/// Seed of the benchmark fleet.
pub const BENCH_SEED: u64 = 0x5EED_0002;

/// What [`memory_per_euicc`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryFigure {
    /// Number of eUICCs.
    pub euiccs: usize,
    /// Live heap bytes of the idle fleet.
    pub idle_bytes: usize,
    /// Live heap bytes with a notification pending on every eUICC.
    pub busy_bytes: usize,
    /// Time to build the fleet.
    pub build_time: Duration,
    /// Time to switch every eUICC to P2 (one SCP80 packet each) and run the attach.
    pub switch_time: Duration,
}

impl MemoryFigure {
    /// Idle heap bytes per eUICC.
    pub fn idle_per_euicc(&self) -> f64 {
        self.idle_bytes as f64 / self.euiccs.max(1) as f64
    }

    /// Heap bytes per eUICC with a notification pending.
    pub fn busy_per_euicc(&self) -> f64 {
        self.busy_bytes as f64 / self.euiccs.max(1) as f64
    }
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Building the fleet failed.
    #[error(transparent)]
    Fleet(#[from] super::FleetError),
    /// Building or delivering a command failed.
    #[error("eUICC {index}: {reason}")]
    Command {
        /// Which eUICC.
        index: usize,
        /// What failed.
        reason: String,
    },
}

/// The ES5.EnableProfile SMS for P2 (`…1100`) of seeded eUICC `index`, as the SM-SR would send it
/// (wire-profile §2, §4).
fn enable_p2_sms(index: usize, cfg: &SimulatorConfig) -> Result<Vec<Vec<u8>>, String> {
    let secrets = EuiccSecrets::from_seed(BENCH_SEED, index).map_err(|e| e.to_string())?;
    let aid = wire_profile::isd_p_aid(1).ok_or("ISD-P AID")?;
    let apdu = Es5Command::EnableProfile {
        isd_p_aid: aid.to_vec(),
    }
    .to_apdu(&cfg.card_profile)
    .map_err(|e| e.to_string())?;
    let script = CommandScript::new(vec![apdu])
        .to_expanded()
        .map_err(|e| e.to_string())?;
    let key_byte = wire_profile::aes_kic_kid(secrets.isd_r.kvn()).ok_or("KVN")?;
    let header = CommandHeader {
        spi: Spi::from_bytes(cfg.card_profile.command_spi).map_err(|e| e.to_string())?,
        kic: Kic(key_byte),
        kid: Kid(key_byte),
        tar: wire_profile::default_tar(&wire_profile::ISD_R_AID).ok_or("TAR")?,
        counter: Counter::from_u64(1).ok_or("counter")?,
    };
    let packet = scp80::build_command(&header, &secrets.isd_r.scp80(), &script)
        .map_err(|e| e.to_string())?;
    sms::to_tp_uds(PacketKind::Command, &packet, 0).map_err(|e| e.to_string())
}

/// Builds `n` seeded eUICCs, measures the live heap with `live_bytes` (a probe of the process's allocator),
/// switches every eUICC to P2 and measures again with the notifications pending; prints and returns the figures.
pub fn memory_per_euicc(
    n: usize,
    live_bytes: impl Fn() -> usize,
) -> Result<MemoryFigure, BenchError> {
    let cfg = SimulatorConfig::default();
    let base = live_bytes();
    let t = Instant::now();
    let mut fleet = Fleet::from_seed(BENCH_SEED, n, cfg.clone())?;
    let build_time = t.elapsed();
    let idle_bytes = live_bytes().saturating_sub(base);

    let t = Instant::now();
    let msisdns: Vec<String> = fleet
        .euiccs()
        .iter()
        .map(|e| {
            e.enabled_msisdn()
                .map(|m| m.to_string())
                .unwrap_or_default()
        })
        .collect();
    for (index, msisdn) in msisdns.iter().enumerate() {
        let err = |reason: String| BenchError::Command { index, reason };
        for tp_ud in enable_p2_sms(index, &cfg).map_err(err)? {
            fleet
                .deliver_mt(msisdn, &tp_ud, 0)
                .map_err(|e| err(e.to_string()))?;
        }
    }
    drop(msisdns);
    fleet.poll(cfg.attach_delay_ms);
    let switch_time = t.elapsed();
    let busy_bytes = live_bytes().saturating_sub(base);

    let figure = MemoryFigure {
        euiccs: n,
        idle_bytes,
        busy_bytes,
        build_time,
        switch_time,
    };
    println!(
        "eUICC simulator memory, {n} eUICCs: idle {idle_bytes} bytes ({:.0} B/eUICC, built in {:.2?}); \
         each with a notification pending {busy_bytes} bytes ({:.0} B/eUICC, switched in {:.2?})",
        figure.idle_per_euicc(),
        build_time,
        figure.busy_per_euicc(),
        switch_time,
    );
    Ok(figure)
}
