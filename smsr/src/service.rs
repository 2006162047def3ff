//! The SM-SR's state shared by every request and worker: its identity, store, keys and trust anchors, and the
//! ES5 delivery settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use certs::secrets::{MasterKeyring, TransportKey};
use certs::x509::X509Certificate;
use eis_store::Store;
use es_runtime::clock::Clock;
use tokio::sync::Notify;

use es_runtime::caller::CallerDirectory;
use es_runtime::soap_endpoint::ServerIdentity;

/// What the SM-SR trusts: the CI root (chains CI → EUM → ECASD) and the EUM transport keys that protect key
/// values in ES1 (SGP.02 §2.3, §5.2.1).
pub struct Trust {
    /// The CI root certificate.
    pub ci: X509Certificate,
    /// EUM OID → its ES1 transport key.
    pub eum_transport_keys: HashMap<String, TransportKey>,
}

/// The SM-SR's GP identity for the key establishment with an eUICC handed over to it (SGP.02 §3.8; wire-profile
/// §5b): CERT.SR.ECDSA, sent in ES7.AuthenticateSMSR, and SK.SR.ECDSA, which signs the key agreement.
pub struct SrIdentity {
    /// CERT.SR.ECDSA, the whole `7F21` TLV.
    pub certificate: Vec<u8>,
    /// SK.SR.ECDSA (zeroized on drop).
    pub key: certs::ecc::PrivateKey,
}

/// How ES5 commands are delivered over SMS (SGP.02 §2.4.4; wire-profile §2) and how long the SM-SR waits.
#[derive(Debug, Clone)]
pub struct Es5Settings {
    /// First retransmission of a command without PoR after this long; then doubling.
    pub por_timeout: Duration,
    /// Largest pause between retransmissions.
    pub max_retry_interval: Duration,
    /// Validity of an operation whose function call carries no ValidityPeriod (SGP.02 §5.1.2).
    pub default_validity: Duration,
    /// Validity of the confirmation of an eUICC notification (SGP.02 §5.7.11).
    pub notification_validity: Duration,
    /// First counter jump when the eUICC answers PoR status `02` (counter low); doubled on each repeat
    /// (ETSI TS 102 225 §5.1.2).
    pub counter_skip: u64,
    /// Commands secured per delivery round.
    pub batch: usize,
    /// Most commands in flight (sent, PoR awaited) over all eUICCs: new commands wait beyond it, so that a
    /// backlog at the SMSC or in the network does not turn into retransmissions.
    pub max_in_flight: usize,
    /// Incomplete concatenated MO SMS held at once, over all senders.
    pub reassembly_pending: usize,
    /// Incomplete concatenated MO SMS held at once for one sender.
    pub reassembly_per_sender: usize,
    /// The SM-SR's own MSISDN (configuration `es5.smsr_msisdn`): where eUICCs send their notifications; an
    /// eUICC handed over to this SM-SR is told it with UpdateSMSRAddressingParameters (wire-profile §5b step 5).
    pub smsr_msisdn: Option<String>,
}

impl Default for Es5Settings {
    fn default() -> Self {
        Es5Settings {
            por_timeout: Duration::from_secs(30),
            max_retry_interval: Duration::from_secs(600),
            default_validity: Duration::from_secs(24 * 3600),
            notification_validity: Duration::from_secs(3600),
            counter_skip: 16,
            batch: 256,
            max_in_flight: 4096,
            reassembly_pending: 10_000,
            reassembly_per_sender: 8,
            smsr_msisdn: None,
        }
    }
}

/// Wake-ups for the workers, so that work queued by a request is picked up at once.
#[derive(Debug, Default)]
pub struct Wake {
    /// The ES5 delivery loop.
    pub delivery: Notify,
    /// The outbox dispatcher.
    pub outbox: Arc<Notify>,
    /// The ESM2M fleet worker (a fleet operation created or resumed, a target finished).
    pub fleet: Notify,
}

/// The SM-SR.
pub struct Smsr {
    /// Who it is (its OID is the `Smsr-id` of the EISs it holds).
    pub identity: ServerIdentity,
    /// The EIS repository and work queues.
    pub store: Arc<Store>,
    /// Master key ring for secrets at rest.
    pub keyring: Arc<MasterKeyring>,
    /// Trust anchors.
    pub trust: Trust,
    /// Caller resolution.
    pub callers: CallerDirectory,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// ES5 settings: `None` when no transport (SMS or HTTPS) is configured (ES5 functions then fail with 1.2/3.8).
    pub es5: Option<Es5Settings>,
    /// Which eUICCs are served over HTTPS (SCP81) rather than SMS.
    pub channels: crate::scp81::channel::ChannelPolicy,
    /// How long callbacks and notifications are retried before they are given up.
    pub outbox_give_up: Duration,
    /// How long an ESM2M webhook delivery is retried before it is given up (configuration
    /// `esm2m.webhook_retry_secs`).
    pub webhook_give_up: Duration,
    /// Where callbacks may go besides the callers' registered endpoints (SGP.02 §2.6; es_runtime::destination).
    pub outgoing: es_runtime::destination::OutgoingPolicy,
    /// Worker wake-ups.
    pub wake: Arc<Wake>,
    /// Its metrics (`/metrics`, issue 14 item 4).
    pub metrics: Arc<crate::metrics::SmsrMetrics>,
    /// CERT.SR.ECDSA and SK.SR.ECDSA: `None` when none is configured (this SM-SR then refuses to take eUICCs
    /// over, ES7.HandoverEUICC 1.2 / 3.8).
    pub sr_ecdsa: Option<SrIdentity>,
    /// Deliberate faults a test switches on (feature `test-faults`, which only `rsp`'s `lab` feature enables: never
    /// in the production build).
    #[cfg(feature = "test-faults")]
    pub faults: TestFaults,
}

/// Deliberate faults of the SM-SR for the conformance suite's fault-injection test (issue 15: the suite must
/// fail against a faulty SM-SR); feature `test-faults` only.
#[cfg(feature = "test-faults")]
#[derive(Debug, Default)]
pub struct TestFaults {
    /// Wire-profile §2 / ETSI TS 102 225 §5.1.1 broken: every SMS transmission whose counter (as advanced in the
    /// store) is even is secured with the counter before it, i.e. the previous transmission's counter is sent
    /// again. The eUICC answers PoR `02` (counter low) under that old counter, which this SM-SR then takes for a
    /// late PoR of the earlier command and drops; the command goes again after the PoR time-out.
    pub reuse_scp80_counter: std::sync::atomic::AtomicBool,
    /// SGP.02 §3.2 / §5.5.11 broken: when an eUICC reports a profile enabled, the ES4
    /// HandleProfileEnabledNotification to the owning MNO is not sent (everything else of the change is done).
    pub omit_profile_enabled_notification: std::sync::atomic::AtomicBool,
    /// Wire-profile §3 [P] broken: a POST with `X-Admin-Resume: true` is taken as an opening POST, so the response
    /// it carries is dropped and the command it answers is sent to the eUICC again (which runs it twice).
    pub ignore_admin_resume: std::sync::atomic::AtomicBool,
}
