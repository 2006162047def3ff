//! The mobile network of the test world: the test SMSC ([`crate::smsc::TestSmsc`]) in front of the eUICC
//! simulator ([`crate::euicc::SimulatorDriver`]). Mobile-terminated SMS that the SM-SR submits over SMPP reach
//! the simulated eUICC by MSISDN; the eUICCs' PoRs and notifications go back to the SM-SR as `deliver_sm`
//! (wire-profile §2, §4), stored and retried by the SMSC while the SM-SR cannot take them
//! ([`TestSmsc::forward_mo`]). Tests can lose the next MT SMS on purpose and replay a recorded one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
            if let Ok(mut r) = self.recorded.lock() {
                if r.len() >= 64 {
                    r.remove(0);
                }
                r.push(mt.clone());
            }
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
        });
        let network: Arc<dyn MobileNetwork> = gateway.clone();
        let smsc = Arc::new(TestSmsc::start(config, network).await?);
        let driver = tokio::spawn(driver.run());
        let pump_smsc = smsc.clone();
        let pump = tokio::spawn(async move {
            while let Some(mo) = mo_rx.recv().await {
                let smsc = pump_smsc.clone();
                // Each MO in its own task: a slow deliver_sm_resp or a stored MO must not hold the others back.
                tokio::spawn(async move {
                    if let Err(e) = smsc
                        .forward_mo(&mo.from_msisdn, &mo.to_address, &mo.tp_ud)
                        .await
                    {
                        tracing::warn!(from = %mo.from_msisdn, error = %e, "MO SMS not delivered to the SM-SR within its validity");
                    }
                });
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
