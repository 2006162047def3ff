//! Many simulated eUICCs in one process, addressed by MSISDN (the mobile network's view: an SMS reaches an eUICC
//! only through the MSISDN of its currently enabled profile) and by EID (the test's view), with one timer queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use certs::world::World;

use super::card::Euicc;
use super::ids::{Eid, Msisdn};
use super::keys::EuiccSecrets;
use super::{DownloadFaults, EuiccError, Outputs, SimulatorConfig};
use crate::issuance::{self, IssuanceError};

/// Errors building a fleet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// An identity or issuance is invalid.
    #[error(transparent)]
    Euicc(#[from] EuiccError),
    /// The issuance fixture refused an index.
    #[error(transparent)]
    Issuance(#[from] IssuanceError),
    /// Two eUICCs share an EID.
    #[error("EID {0} is already in the fleet")]
    DuplicateEid(Eid),
    /// Two enabled profiles share an MSISDN.
    #[error("MSISDN {0} already reaches another eUICC of the fleet")]
    DuplicateMsisdn(Msisdn),
    /// The fleet holds 2^32 eUICCs.
    #[error("the fleet is full")]
    Full,
}

/// Why an MT SMS or a control input did not reach an eUICC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The destination is not an MSISDN.
    #[error(transparent)]
    BadAddress(#[from] EuiccError),
    /// No eUICC has a currently enabled profile with this MSISDN (unknown, or a disabled profile's).
    #[error("MSISDN {0} does not reach any eUICC (unknown or not the enabled profile's)")]
    Unreachable(Msisdn),
    /// The eUICC's enabled profile has no network coverage.
    #[error("MSISDN {0}: the enabled profile has no network coverage")]
    NoCoverage(Msisdn),
    /// No eUICC with this EID.
    #[error("no eUICC with EID {0}")]
    UnknownEid(Eid),
    /// The eUICC has no ISD-P with this AID.
    #[error("eUICC {eid} has no ISD-P {aid}")]
    UnknownIsdp {
        /// The eUICC.
        eid: Eid,
        /// The AID, hex.
        aid: String,
    },
}

/// What one admin-session script gave: the response script, `None` for `unknown-application`, or why the card
/// could not read it (wire-profile §3).
pub type HttpsScriptResult = Result<Option<Vec<u8>>, String>;

/// A fleet of simulated eUICCs with MSISDN routing and timers (DESIGN §7: one state machine per card, driven
/// together).
#[derive(Debug)]
pub struct Fleet {
    config: SimulatorConfig,
    euiccs: Vec<Euicc>,
    by_msisdn: HashMap<Msisdn, u32>,
    by_eid: HashMap<Eid, u32>,
    timers: BinaryHeap<Reverse<(u64, u32)>>,
}

impl Fleet {
    /// An empty fleet with `config`.
    pub fn new(config: SimulatorConfig) -> Fleet {
        Fleet {
            config,
            euiccs: Vec::new(),
            by_msisdn: HashMap::new(),
            by_eid: HashMap::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Every eUICC of a generated world with its issued profiles ([`crate::issuance::profiles_at_issuance`]);
    /// the ISD-Ps trust the world's CI unless `config` names one.
    pub fn from_world(world: &World, mut config: SimulatorConfig) -> Result<Fleet, FleetError> {
        if config.ci.is_none() {
            config.ci = Some(world.ci.cert.clone());
        }
        let mut fleet = Fleet::new(config);
        for (i, identity) in world.euiccs.iter().enumerate() {
            let secrets = EuiccSecrets::from_world(identity)?;
            let profiles = issuance::profiles_at_issuance(world, i)?;
            fleet.insert(Euicc::new(&secrets, &profiles)?)?;
        }
        Ok(fleet)
    }

    /// `n` eUICCs derived from `seed` ([`EuiccSecrets::from_seed`]) with the issued profiles of
    /// [`crate::issuance::profiles_for`] and the default MNO OIDs; no files are read or written.
    pub fn from_seed(seed: u64, n: usize, config: SimulatorConfig) -> Result<Fleet, FleetError> {
        let mut fleet = Fleet::new(config);
        fleet.euiccs.reserve_exact(n);
        fleet.by_eid.reserve(n);
        fleet.by_msisdn.reserve(n);
        for i in 0..n {
            let secrets = EuiccSecrets::from_seed(seed, i)?;
            let profiles =
                issuance::profiles_for(i, &secrets.msisdn.to_string(), issuance::DEFAULT_MNO_OIDS)?;
            fleet.insert(Euicc::new(&secrets, &profiles)?)?;
        }
        Ok(fleet)
    }

    /// Adds an eUICC; its EID and enabled MSISDN must be new to the fleet.
    pub fn insert(&mut self, euicc: Euicc) -> Result<(), FleetError> {
        let index = u32::try_from(self.euiccs.len()).map_err(|_| FleetError::Full)?;
        let eid = euicc.eid();
        if self.by_eid.contains_key(&eid) {
            return Err(FleetError::DuplicateEid(eid));
        }
        if let Some(m) = euicc.enabled_msisdn() {
            if self.by_msisdn.contains_key(&m) {
                return Err(FleetError::DuplicateMsisdn(m));
            }
            self.by_msisdn.insert(m, index);
        }
        self.by_eid.insert(eid, index);
        self.euiccs.push(euicc);
        Ok(())
    }

    /// The shared settings.
    pub fn config(&self) -> &SimulatorConfig {
        &self.config
    }

    /// Number of eUICCs.
    pub fn len(&self) -> usize {
        self.euiccs.len()
    }

    /// Whether the fleet is empty.
    pub fn is_empty(&self) -> bool {
        self.euiccs.is_empty()
    }

    /// The eUICC with this EID.
    pub fn euicc(&self, eid: &Eid) -> Option<&Euicc> {
        self.by_eid
            .get(eid)
            .and_then(|i| self.euiccs.get(*i as usize))
    }

    /// The eUICC an SMS to `msisdn` would reach now.
    pub fn euicc_by_msisdn(&self, msisdn: &Msisdn) -> Option<&Euicc> {
        self.by_msisdn
            .get(msisdn)
            .and_then(|i| self.euiccs.get(*i as usize))
    }

    /// All eUICCs, in insertion order.
    pub fn euiccs(&self) -> &[Euicc] {
        &self.euiccs
    }

    /// Runs `step` on eUICC `index`, then updates the MSISDN routing and the timer queue.
    fn step<R>(
        &mut self,
        index: u32,
        step: impl FnOnce(&mut Euicc, &SimulatorConfig, &mut Outputs) -> R,
        out: &mut Outputs,
    ) -> Option<R> {
        let euicc = self.euiccs.get_mut(index as usize)?;
        let before = (euicc.enabled_msisdn(), euicc.next_deadline());
        let r = step(euicc, &self.config, out);
        let after = (euicc.enabled_msisdn(), euicc.next_deadline());
        if before.0 != after.0 {
            if let Some(old) = before.0
                && self.by_msisdn.get(&old) == Some(&index)
            {
                self.by_msisdn.remove(&old);
            }
            if let Some(new) = after.0 {
                self.by_msisdn.insert(new, index);
            }
        }
        if let Some(d) = after.1.filter(|d| before.1 != Some(*d)) {
            self.timers.push(Reverse((d, index)));
        }
        Some(r)
    }

    /// Delivers an MT SMS to whichever eUICC has `dest_msisdn` as its enabled profile's MSISDN, at `now` (ms)
    /// (3GPP TS 23.040 SMS-DELIVER; wire-profile §2).
    pub fn deliver_mt(
        &mut self,
        dest_msisdn: &str,
        tp_ud: &[u8],
        now: u64,
    ) -> Result<Outputs, DeliveryError> {
        let msisdn = Msisdn::parse(dest_msisdn)?;
        let index = *self
            .by_msisdn
            .get(&msisdn)
            .ok_or(DeliveryError::Unreachable(msisdn))?;
        let covered = self
            .euiccs
            .get(index as usize)
            .and_then(|e| e.enabled())
            .is_some_and(|i| i.covered());
        if !covered {
            return Err(DeliveryError::NoCoverage(msisdn));
        }
        let mut out = Outputs::default();
        self.step(
            index,
            |e, cfg, out| e.receive_sms(cfg, tp_ud, now, out),
            &mut out,
        );
        Ok(out)
    }

    /// Sets the network coverage of one profile of one eUICC at `now` (ms); losing it on the enabled profile
    /// starts the fall-back mechanism (SGP.02 §3.5).
    pub fn set_coverage(
        &mut self,
        eid: &Eid,
        aid: &[u8],
        covered: bool,
        now: u64,
    ) -> Result<Outputs, DeliveryError> {
        let index = *self
            .by_eid
            .get(eid)
            .ok_or(DeliveryError::UnknownEid(*eid))?;
        let mut out = Outputs::default();
        let found = self.step(
            index,
            |e, cfg, out| e.set_coverage(cfg, aid, covered, now, out),
            &mut out,
        );
        if found != Some(true) {
            return Err(DeliveryError::UnknownIsdp {
                eid: *eid,
                aid: hex::encode_upper(aid),
            });
        }
        Ok(out)
    }

    /// Runs one SCP81 admin-session script on eUICC `eid` at `now` (ms) (wire-profile §3; see
    /// `Euicc::run_https_script`): the response script, `None` for `unknown-application`, and the outputs
    /// (notifications the card raises go by SMS).
    pub fn run_https_script(
        &mut self,
        eid: &Eid,
        script: &[u8],
        target: Option<&[u8]>,
        now: u64,
    ) -> Result<(HttpsScriptResult, Outputs), DeliveryError> {
        let index = *self
            .by_eid
            .get(eid)
            .ok_or(DeliveryError::UnknownEid(*eid))?;
        let mut out = Outputs::default();
        let r = self
            .step(
                index,
                |e, cfg, out| e.run_https_script(cfg, script, target, now, out),
                &mut out,
            )
            .ok_or(DeliveryError::UnknownEid(*eid))?;
        Ok((r, out))
    }

    /// Records in the subscriber directory that `imsi` has `msisdn`: a profile with that IMSI installed by
    /// download afterwards gets this MSISDN and is reachable through it once enabled.
    pub fn provision_subscriber(&mut self, imsi: &str, msisdn: &str) -> Result<(), EuiccError> {
        self.config.subscribers.provision(imsi, msisdn)
    }

    /// Switches download faults of one eUICC on or off (wire-profile §5, §7; test input).
    pub fn set_download_faults(
        &mut self,
        eid: &Eid,
        faults: DownloadFaults,
    ) -> Result<(), DeliveryError> {
        let index = *self
            .by_eid
            .get(eid)
            .ok_or(DeliveryError::UnknownEid(*eid))?;
        if let Some(e) = self.euiccs.get_mut(index as usize) {
            e.set_download_faults(faults);
        }
        Ok(())
    }

    /// Runs every eUICC whose deadline is at or before `now` (ms).
    pub fn poll(&mut self, now: u64) -> Outputs {
        let mut out = Outputs::default();
        while let Some(Reverse((deadline, index))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let due = self
                .euiccs
                .get(index as usize)
                .and_then(|e| e.next_deadline())
                .is_some_and(|d| d <= now);
            if due {
                self.step(index, |e, cfg, out| e.poll(cfg, now, out), &mut out);
                // The popped entry was this eUICC's; queue its next deadline even if `step` saw no change.
                if let Some(d) = self
                    .euiccs
                    .get(index as usize)
                    .and_then(|e| e.next_deadline())
                {
                    self.timers.push(Reverse((d, index)));
                }
            }
        }
        out
    }

    /// The earliest instant (ms) at which [`Fleet::poll`] has something to do.
    pub fn next_deadline(&mut self) -> Option<u64> {
        // Entries whose eUICC has moved on are stale: drop them, re-queue the eUICC's current deadline.
        loop {
            let Reverse((deadline, index)) = *self.timers.peek()?;
            let current = self
                .euiccs
                .get(index as usize)
                .and_then(|e| e.next_deadline());
            if current == Some(deadline) {
                return Some(deadline);
            }
            self.timers.pop();
            if let Some(c) = current {
                self.timers.push(Reverse((c, index)));
            }
        }
    }
}
