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

/// One reading of the process heap: live bytes requested and live blocks (the allocator adds its own overhead
/// per block on top of the bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapSample {
    /// Live bytes requested from the allocator.
    pub bytes: usize,
    /// Live allocations.
    pub blocks: usize,
}

impl HeapSample {
    fn since(self, base: HeapSample) -> HeapSample {
        HeapSample {
            bytes: self.bytes.saturating_sub(base.bytes),
            blocks: self.blocks.saturating_sub(base.blocks),
        }
    }
}

/// What [`memory_per_euicc`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryFigure {
    /// Number of eUICCs.
    pub euiccs: usize,
    /// Live heap of the idle fleet.
    pub idle: HeapSample,
    /// Live heap with a notification pending on every eUICC.
    pub busy: HeapSample,
    /// Time to build the fleet.
    pub build_time: Duration,
    /// Time to switch every eUICC to P2 (one SCP80 packet each) and run the attach.
    pub switch_time: Duration,
}

impl MemoryFigure {
    /// Idle heap bytes per eUICC.
    pub fn idle_per_euicc(&self) -> f64 {
        self.idle.bytes as f64 / self.euiccs.max(1) as f64
    }

    /// Heap bytes per eUICC with a notification pending.
    pub fn busy_per_euicc(&self) -> f64 {
        self.busy.bytes as f64 / self.euiccs.max(1) as f64
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

/// Builds `n` seeded eUICCs, measures the live heap with `heap` (a probe of the process's allocator), switches
/// every eUICC to P2 and measures again with the notifications pending; prints and returns the figures.
pub fn memory_per_euicc(
    n: usize,
    heap: impl Fn() -> HeapSample,
) -> Result<MemoryFigure, BenchError> {
    let cfg = SimulatorConfig::default();
    let base = heap();
    let t = Instant::now();
    let mut fleet = Fleet::from_seed(BENCH_SEED, n, cfg.clone())?;
    let build_time = t.elapsed();
    let idle = heap().since(base);

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
    let busy = heap().since(base);

    let figure = MemoryFigure {
        euiccs: n,
        idle,
        busy,
        build_time,
        switch_time,
    };
    let per = |s: HeapSample| {
        let n = n.max(1) as f64;
        (s.bytes as f64 / n, s.blocks as f64 / n)
    };
    let (ib, ik) = per(idle);
    let (bb, bk) = per(busy);
    println!("eUICC simulator memory, {n} eUICCs (seeded fleet, 3 profiles each)");
    println!(
        "  idle:                  {:>12} bytes in {:>9} blocks = {ib:7.1} B/eUICC, {ik:.2} blocks/eUICC \
         (built in {build_time:.2?})",
        idle.bytes, idle.blocks
    );
    println!(
        "  notification pending:  {:>12} bytes in {:>9} blocks = {bb:7.1} B/eUICC, {bk:.2} blocks/eUICC \
         (switched in {switch_time:.2?})",
        busy.bytes, busy.blocks
    );
    Ok(figure)
}
