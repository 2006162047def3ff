//! The mobile network of the test world: the test SMSC ([`crate::smsc::TestSmsc`]) in front of the eUICC
//! simulator ([`crate::euicc::SimulatorDriver`]). Mobile-terminated SMS that the SM-SR submits over SMPP reach
//! the simulated eUICC by MSISDN; the eUICCs' PoRs and notifications go back to the SM-SR as `deliver_sm`
//! (wire-profile §2, §4), stored and retried by the SMSC while the SM-SR cannot take them
//! ([`TestSmsc::forward_mo`]). Tests can lose the next MT SMS on purpose and replay a recorded one.
//!
//! With several SM-SRs behind the SMSC (SGP.02 §3.8 SM-SR change; `crate::smsc::SmscAccount::addresses`), an
//! eUICC notification goes to the address the card holds (the last UpdateSMSRAddressingParameters), and a PoR
//! (response packet, UDH IEI `71`, with the further segments of a concatenated one) to the originating address of
//! the last command delivered to that card, as a card answers the TP-OA of the SMS-DELIVER it got (the simulator
//! does not see the TP-OA; the network fills it in).
//!
//! Every SMS that crosses it is logged with its time ([`SimulatedNetwork::sms_log`]): the conformance suite
//! (crate::suite, playing the SMSC of a system under test) checks those bytes against wire-profile §2. A test
//! (or the suite) can alter the next PoRs in the network ([`SimulatedNetwork::corrupt_next_por`]) to see that
//! the SM-SR refuses a PoR whose cryptographic checksum does not verify.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::euicc::{self, Control, DriverEvent, Fleet, SimulatorDriver, SimulatorHandle};
use crate::smsc::{BoxFuture, MobileNetwork, MtOutcome, MtSms, SmscConfig, SmscError, TestSmsc};

/// The network side of the SMSC: hands MT SMS to the simulator, can drop some and keeps the last ones.
struct Gateway {
    mt: mpsc::Sender<euicc::MtSms>,
    drop_next: AtomicUsize,
    dropped: AtomicUsize,
    recorded: Mutex<Vec<MtSms>>,
    /// Per handset MSISDN, the originating address of the last MT SMS delivered to it.
    origins: Mutex<HashMap<String, String>>,
    /// The SMS that crossed the network, oldest first (at most [`SMS_LOG_MAX`]).
    log: Mutex<Vec<LoggedSms>>,
    /// PoRs (first segments) still to alter in the network.
    corrupt_pors: AtomicUsize,
    /// PoRs that fit in one SMS still to cut into two concatenated segments.
    split_pors: AtomicUsize,
    /// Concatenation reference of the next PoR cut in two.
    split_reference: AtomicUsize,
}

/// Most SMS [`SimulatedNetwork::sms_log`] keeps (the oldest are dropped beyond).
const SMS_LOG_MAX: usize = 4096;

/// One SMS that crossed the simulated network (3GPP TS 23.040 TP-UD; wire-profile §2), as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedSms {
    /// When it crossed.
    pub at: Instant,
    /// Mobile-terminated (SM-SR to eUICC) or mobile-originated (eUICC to SM-SR).
    pub mobile_terminated: bool,
    /// The handset's MSISDN (destination of an MT SMS, sender of an MO SMS).
    pub msisdn: String,
    /// The other end: the originating address of an MT SMS, the destination of an MO SMS.
    pub address: String,
    /// The TP-UD as it left the network towards its receiver (an altered PoR as altered).
    pub tp_ud: Vec<u8>,
    /// The network altered it ([`SimulatedNetwork::corrupt_next_por`]).
    pub altered: bool,
}

/// `1` when a pending count was taken from `n`.
fn take_one(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| k.checked_sub(1))
        .is_ok()
}

impl Gateway {
    /// The originating address of the last MT SMS delivered to `msisdn`.
    fn origin_of(&self, msisdn: &str) -> Option<String> {
        self.origins.lock().ok()?.get(msisdn).cloned()
    }

    fn log(&self, sms: LoggedSms) {
        if let Ok(mut l) = self.log.lock() {
            if l.len() >= SMS_LOG_MAX {
                l.remove(0);
            }
            l.push(sms);
        }
    }

    /// Alters the last byte of `mo` (in the secured part of a PoR's first segment: its CC no longer verifies)
    /// when it is a PoR's first segment and a corruption is pending; cuts a PoR in one SMS into two
    /// concatenated segments when a cut is pending; logs what goes on, in sending order.
    fn pass_mo(&self, mut mo: euicc::MoSms, to: &str) -> Vec<euicc::MoSms> {
        let (response, concat) = udh_of(&mo.tp_ud);
        let first = concat.is_none_or(|(_, _, index)| index == 1);
        let altered = response && first && take_one(&self.corrupt_pors);
        if altered && let Some(last) = mo.tp_ud.last_mut() {
            *last ^= 0xFF;
        }
        let cut = (response && concat.is_none() && take_one(&self.split_pors))
            .then(|| {
                let reference = self.split_reference.fetch_add(1, Ordering::SeqCst) as u8;
                cut_in_two(&mo.tp_ud, reference)
            })
            .flatten();
        let out = match cut {
            Some(parts) => parts
                .into_iter()
                .map(|tp_ud| euicc::MoSms {
                    tp_ud,
                    ..mo.clone()
                })
                .collect(),
            _ => vec![mo],
        };
        for m in &out {
            self.log(LoggedSms {
                at: Instant::now(),
                mobile_terminated: false,
                msisdn: m.from_msisdn.clone(),
                address: to.to_string(),
                tp_ud: m.tp_ud.clone(),
                altered,
            });
        }
        out
    }
}

/// A PoR in one SMS (`02 71 00` and the packet) as two concatenated segments with the 8-bit `reference`: the
/// first `07 71 00 00 03 <ref> 02 01`, the second `05 00 03 <ref> 02 02` (wire-profile §2; 3GPP TS 23.040
/// §9.2.3.24.1). The packet's CC does not change (it covers `02 71 00` either way).
fn cut_in_two(tp_ud: &[u8], reference: u8) -> Option<Vec<Vec<u8>>> {
    use es_interfaces::sms::{InformationElement, Segment, UserData};
    use es_interfaces::wire_profile::{IEI_CONCATENATION_8BIT, IEI_RESPONSE_PACKET};
    let packet = Segment::parse(tp_ud).ok()?.payload;
    let (head, tail) = packet.split_at(packet.len() / 2);
    let concat = |index: u8| InformationElement {
        iei: IEI_CONCATENATION_8BIT,
        data: vec![reference, 2, index],
    };
    let first = UserData {
        elements: vec![
            InformationElement {
                iei: IEI_RESPONSE_PACKET,
                data: Vec::new(),
            },
            concat(1),
        ],
        payload: head.to_vec(),
    };
    let second = UserData {
        elements: vec![concat(2)],
        payload: tail.to_vec(),
    };
    Some(vec![first.to_bytes().ok()?, second.to_bytes().ok()?])
}

/// What the user data header of an MO SMS says (wire-profile §2): a response packet (IEI `71`), and its
/// concatenation `(reference, count, index)` (IEI `00`).
fn udh_of(tp_ud: &[u8]) -> (bool, Option<(u8, u8, u8)>) {
    let Some((&udhl, rest)) = tp_ud.split_first() else {
        return (false, None);
    };
    let Some(mut ies) = rest.get(..usize::from(udhl)) else {
        return (false, None);
    };
    let (mut response, mut concat) = (false, None);
    while let [iei, len, tail @ ..] = ies {
        let Some(data) = tail.get(..usize::from(*len)) else {
            break;
        };
        match (iei, data) {
            (0x71, _) => response = true,
            (0x00, [reference, count, index]) => concat = Some((*reference, *count, *index)),
            _ => {}
        }
        ies = &tail[data.len()..];
    }
    (response, concat)
}

/// Where the network sends MO SMS: PoRs (and their further segments) to the originating address of the last
/// command the card got, everything else to the address the card named.
#[derive(Default)]
struct MoRouter {
    /// `(sender, concatenation reference)` of PoRs whose further segments are to come → their destination.
    por_segments: HashMap<(String, u8), String>,
}

impl MoRouter {
    fn destination(&mut self, gateway: &Gateway, mo: &euicc::MoSms) -> String {
        let (response, concat) = udh_of(&mo.tp_ud);
        let key = |reference| (mo.from_msisdn.clone(), reference);
        if response {
            let to = gateway
                .origin_of(&mo.from_msisdn)
                .unwrap_or_else(|| mo.to_address.clone());
            if let Some((reference, count, _)) = concat
                && count > 1
            {
                self.por_segments.insert(key(reference), to.clone());
            }
            return to;
        }
        match concat {
            Some((reference, count, index)) if index > 1 => {
                let to = if index >= count {
                    self.por_segments.remove(&key(reference))
                } else {
                    self.por_segments.get(&key(reference)).cloned()
                };
                to.unwrap_or_else(|| mo.to_address.clone())
            }
            _ => mo.to_address.clone(),
        }
    }
}

impl MobileNetwork for Gateway {
    fn deliver_mt(&self, mt: MtSms) -> BoxFuture<'_, MtOutcome> {
        Box::pin(async move {
            let lose = self
                .drop_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if lose {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                // Lost in the network: no delivery. The SMSC still reports what the network says.
                return MtOutcome::Undeliverable { err: 27 };
            }
            if !mt.source_addr.is_empty()
                && let Ok(mut o) = self.origins.lock()
            {
                o.insert(mt.msisdn.clone(), mt.source_addr.clone());
            }
            if let Ok(mut r) = self.recorded.lock() {
                if r.len() >= 64 {
                    r.remove(0);
                }
                r.push(mt.clone());
            }
            self.log(LoggedSms {
                at: Instant::now(),
                mobile_terminated: true,
                msisdn: mt.msisdn.clone(),
                address: mt.source_addr.clone(),
                tp_ud: mt.tp_ud.clone(),
                altered: false,
            });
            let sms = euicc::MtSms {
                dest_msisdn: mt.msisdn,
                tp_ud: mt.tp_ud,
            };
            match self.mt.send(sms).await {
                Ok(()) => MtOutcome::Delivered,
                Err(_) => MtOutcome::Undeliverable { err: 1 },
            }
        })
    }
}

/// Errors of the simulated network.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The SMSC could not start.
    #[error(transparent)]
    Smsc(#[from] SmscError),
    /// The simulator is gone.
    #[error("the simulator stopped")]
    SimulatorStopped,
}

/// The running test network: SMSC, simulator driver and the MO pump between them.
pub struct SimulatedNetwork {
    smsc: Arc<TestSmsc>,
    gateway: Arc<Gateway>,
    sim: SimulatorHandle,
    driver: JoinHandle<Result<Fleet, euicc::DriverError>>,
    pump: JoinHandle<()>,
}

impl SimulatedNetwork {
    /// Starts the SMSC with `config` in front of `fleet`; driver events go to `events` when given.
    pub async fn start(
        fleet: Fleet,
        config: SmscConfig,
        events: Option<mpsc::UnboundedSender<DriverEvent>>,
    ) -> Result<SimulatedNetwork, LabError> {
        let (mo_tx, mut mo_rx) = mpsc::channel::<euicc::MoSms>(4096);
        let (driver, sim) = SimulatorDriver::new(fleet, mo_tx, 4096);
        let driver = match events {
            Some(e) => driver.with_events(e),
            None => driver,
        };
        let gateway = Arc::new(Gateway {
            mt: sim.mt.clone(),
            drop_next: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
            origins: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            corrupt_pors: AtomicUsize::new(0),
            split_pors: AtomicUsize::new(0),
            split_reference: AtomicUsize::new(0),
        });
        let network: Arc<dyn MobileNetwork> = gateway.clone();
        let smsc = Arc::new(TestSmsc::start(config, network).await?);
        let driver = tokio::spawn(driver.run());
        let pump_smsc = smsc.clone();
        let pump_gateway = gateway.clone();
        let pump = tokio::spawn(async move {
            let mut router = MoRouter::default();
            while let Some(mo) = mo_rx.recv().await {
                let to = router.destination(&pump_gateway, &mo);
                for mo in pump_gateway.pass_mo(mo, &to) {
                    let (smsc, to) = (pump_smsc.clone(), to.clone());
                    // Each MO in its own task: a slow deliver_sm_resp or a stored MO must not hold the others
                    // back.
                    tokio::spawn(async move {
                        if let Err(e) = smsc.forward_mo(&mo.from_msisdn, &to, &mo.tp_ud).await {
                            tracing::warn!(from = %mo.from_msisdn, error = %e, "MO SMS not delivered to the SM-SR within its validity");
                        }
                    });
                }
            }
        });
        Ok(SimulatedNetwork {
            smsc,
            gateway,
            sim,
            driver,
            pump,
        })
    }

    /// The SMSC (address, counters, recorded submits).
    pub fn smsc(&self) -> &TestSmsc {
        &self.smsc
    }

    /// Loses the next `n` MT SMS in the network.
    pub fn drop_next_mt(&self, n: usize) {
        self.gateway.drop_next.store(n, Ordering::SeqCst);
    }

    /// MT SMS lost so far by [`SimulatedNetwork::drop_next_mt`].
    pub fn dropped_mt(&self) -> usize {
        self.gateway.dropped.load(Ordering::SeqCst)
    }

    /// The last MT SMS delivered (at most 64), oldest first.
    pub fn recorded_mt(&self) -> Vec<MtSms> {
        self.gateway
            .recorded
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Every SMS that crossed the network so far (at most the last 4,096), oldest first.
    pub fn sms_log(&self) -> Vec<LoggedSms> {
        self.gateway
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Alters the next `n` PoRs on their way to the SM-SR (the last byte of a PoR's first segment is inverted:
    /// its cryptographic checksum no longer verifies; wire-profile §2).
    pub fn corrupt_next_por(&self, n: usize) {
        self.gateway.corrupt_pors.store(n, Ordering::SeqCst);
    }

    /// Cuts the next `n` PoRs that fit in one SMS into two concatenated segments on their way to the SM-SR, as
    /// a card with a shorter SMS would send them (wire-profile §2; 3GPP TS 23.040 §9.2.3.24.1): an SMSC hands
    /// each segment to any bind of the SM-SR's account, so the segments of one PoR may reach different nodes.
    pub fn split_next_pors(&self, n: usize) {
        self.gateway.split_pors.store(n, Ordering::SeqCst);
    }

    /// Delivers `mt` to the simulator again, as a replaying attacker would.
    pub async fn replay_mt(&self, mt: &MtSms) -> Result<(), LabError> {
        self.sim
            .mt
            .send(euicc::MtSms {
                dest_msisdn: mt.msisdn.clone(),
                tp_ud: mt.tp_ud.clone(),
            })
            .await
            .map_err(|_| LabError::SimulatorStopped)
    }

    /// The simulator's input handle (for the SCP81 sessions of `euicc::https`).
    pub fn simulator(&self) -> SimulatorHandle {
        self.sim.clone()
    }

    /// Sends a control input (coverage) to the simulator.
    pub async fn control(&self, control: Control) -> Result<(), LabError> {
        self.sim
            .control
            .send(control)
            .await
            .map_err(|_| LabError::SimulatorStopped)
    }

    /// Stops the SMSC, the MO pump and the simulator.
    pub async fn stop(self) {
        self.smsc.shutdown().await;
        self.pump.abort();
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> Gateway {
        let (mt, _) = mpsc::channel(1);
        Gateway {
            mt,
            drop_next: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
            origins: Mutex::new(HashMap::from([("4917".to_string(), "4902".to_string())])),
            log: Mutex::new(Vec::new()),
            corrupt_pors: AtomicUsize::new(0),
            split_pors: AtomicUsize::new(0),
            split_reference: AtomicUsize::new(0),
        }
    }

    fn mo(tp_ud: &[u8]) -> euicc::MoSms {
        euicc::MoSms {
            from_msisdn: "4917".into(),
            to_address: "4901".into(),
            tp_ud: tp_ud.to_vec(),
        }
    }

    /// Wire-profile §2 headers: a PoR goes to the last command's originating address, with every segment of a
    /// concatenated one; notifications (IEI `70`) and their segments to the address the card named.
    #[test]
    fn pors_go_back_to_the_sender_of_the_command() {
        let g = gateway();
        let mut r = MoRouter::default();
        assert_eq!(udh_of(&[0x02, 0x71, 0x00, 0xAA]), (true, None));
        assert_eq!(
            udh_of(&[0x07, 0x71, 0x00, 0x00, 0x03, 0x05, 0x02, 0x01]),
            (true, Some((5, 2, 1)))
        );
        assert_eq!(udh_of(&[0x09, 0x71]), (false, None));
        assert_eq!(r.destination(&g, &mo(&[0x02, 0x71, 0x00, 1])), "4902");
        assert_eq!(r.destination(&g, &mo(&[0x02, 0x70, 0x00, 1])), "4901");
        let first = [0x07, 0x71, 0x00, 0x00, 0x03, 0x05, 0x03, 0x01];
        assert_eq!(r.destination(&g, &mo(&first)), "4902");
        assert_eq!(
            r.destination(&g, &mo(&[0x05, 0x00, 0x03, 0x05, 0x03, 0x02])),
            "4902"
        );
        assert_eq!(
            r.destination(&g, &mo(&[0x05, 0x00, 0x03, 0x05, 0x03, 0x03])),
            "4902"
        );
        assert!(r.por_segments.is_empty());
        let note = [0x07, 0x70, 0x00, 0x00, 0x03, 0x06, 0x02, 0x01];
        assert_eq!(r.destination(&g, &mo(&note)), "4901");
        assert_eq!(
            r.destination(&g, &mo(&[0x05, 0x00, 0x03, 0x06, 0x02, 0x02])),
            "4901"
        );
        // No command seen for that card: the address it named.
        let other = euicc::MoSms {
            from_msisdn: "4999".into(),
            ..mo(&[0x02, 0x71, 0x00, 1])
        };
        assert_eq!(r.destination(&g, &other), "4901");
    }

    /// The network alters only a PoR's first segment, as many times as asked, and logs what it passed on.
    #[test]
    fn the_network_alters_the_next_pors_only() {
        let g = gateway();
        g.corrupt_pors.store(1, Ordering::SeqCst);
        let pass = |tp_ud: &[u8], to: &str| {
            let out = g.pass_mo(mo(tp_ud), to);
            assert_eq!(out.len(), 1);
            out[0].tp_ud.clone()
        };
        assert_eq!(
            pass(&[0x02, 0x70, 0x00, 0x10, 0x20], "4901"),
            [0x02, 0x70, 0x00, 0x10, 0x20]
        );
        let next = pass(&[0x05, 0x00, 0x03, 0x05, 0x02, 0x02, 0x33], "4902");
        assert_eq!(next.last(), Some(&0x33));
        assert_eq!(
            pass(&[0x02, 0x71, 0x00, 0x10, 0x20], "4902"),
            [0x02, 0x71, 0x00, 0x10, 0xDF]
        );
        let again = pass(&[0x02, 0x71, 0x00, 0x10, 0x20], "4902");
        assert_eq!(again.last(), Some(&0x20));
        let log = g.log.lock().expect("log").clone();
        assert_eq!(log.len(), 4);
        assert_eq!(
            log.iter().map(|l| l.altered).collect::<Vec<_>>(),
            [false, false, true, false]
        );
        assert!(
            log.iter()
                .all(|l| !l.mobile_terminated && l.msisdn == "4917")
        );
        assert_eq!(log[2].address, "4902");
    }

    /// The network cuts as many PoRs in one SMS as asked into two segments that reassemble to the same
    /// packet; notifications and PoRs already concatenated pass as they are.
    #[test]
    fn the_network_cuts_the_next_pors_in_two() {
        use es_interfaces::sms::{PushOutcome, Reassembler};
        let g = gateway();
        g.split_pors.store(1, Ordering::SeqCst);
        let note = [0x02, 0x70, 0x00, 0x10, 0x20, 0x30];
        assert_eq!(g.pass_mo(mo(&note), "4901").len(), 1);
        let segment = [0x05, 0x00, 0x03, 0x05, 0x02, 0x02, 0x33];
        assert_eq!(g.pass_mo(mo(&segment), "4902").len(), 1);
        let packet = [0x00, 0x0E, 0x0A, 0xB0, 0x00, 0x00, 0x01, 0x02, 0x03];
        let por = [&[0x02, 0x71, 0x00][..], &packet].concat();
        let cut = g.pass_mo(mo(&por), "4902");
        assert_eq!(cut.len(), 2);
        assert_eq!(
            cut[0].tp_ud[..8],
            [0x07, 0x71, 0x00, 0x00, 0x03, 0x00, 0x02, 0x01]
        );
        assert_eq!(cut[1].tp_ud[..6], [0x05, 0x00, 0x03, 0x00, 0x02, 0x02]);
        let mut r: Reassembler<()> = Reassembler::new(4, 1);
        assert!(matches!(
            r.push((), &cut[1].tp_ud),
            Ok(PushOutcome::Pending { .. })
        ));
        match r.push((), &cut[0].tp_ud) {
            Ok(PushOutcome::Complete(a)) => assert_eq!(a.packet, packet),
            other => panic!("{other:?}"),
        }
        assert_eq!(g.pass_mo(mo(&por), "4902").len(), 1);
        assert_eq!(g.log.lock().expect("log").len(), 5);
    }
}
