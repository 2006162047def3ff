//! The simulated eUICC's secrets, kept compactly (fixed arrays, zeroized on drop, never printed), and the
//! deterministic derivation of whole eUICC identities from a seed, so that a fleet of 100,000 needs no
//! certificate files (DESIGN §7).
//!
//! Derivation from `(seed, index)` ("rsp-sim/v1"): every value is
//! `SHA-256("rsp-sim/v1/" ‖ label ‖ 00 ‖ seed (8 bytes BE) ‖ index (8 bytes BE) [‖ attempt])`:
//! - ISD-R SCP80 key set KVN `01`: KIc = first 16 bytes with label `scp80-kic`, KID with `scp80-kid`, KIK with
//!   `scp80-kik` (AES-128; wire-profile §1, §2).
//! - SCP81 PSK, KVN `40`: label `scp81-psk`, 16 bytes (wire-profile §3).
//! - SK.ECASD.ECKA on P-256: label `ecasd`, followed by one attempt byte `00`, `01`, … until the 32 bytes are a
//!   valid scalar `0 < d < n` (SEC 1 §2.3.6; rejection sampling, first attempt succeeds with probability
//!   1 − 2⁻³²).
//! - EID and MSISDN: the same numbering as certs::world (`890499990010000000<index+1, 12 digits><check>`,
//!   `4917099<index+1, 6 digits>`), so eUICC `i` of a seeded fleet and of a generated world share EID, MSISDN
//!   and issued profiles and differ only in keys: the two are alternatives, not meant to share one SM-SR.

use certs::ecc::{Curve, EcError, PrivateKey};
use certs::world::EuiccIdentity;
use es_interfaces::scp80::{KeySet, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::EuiccError;
use super::ids::{Eid, Msisdn};

/// The ISD-R's SCP80 key set: KVN and the AES-128 keys KIc, KID, KIK (ETSI TS 102 225 §5.1.2; wire-profile §1–§2).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct IsdRKeySet {
    kvn: u8,
    kic: [u8; 16],
    kid: [u8; 16],
    kik: [u8; 16],
}

impl core::fmt::Debug for IsdRKeySet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "IsdRKeySet {{ kvn: {:02X}, keys: [redacted] }}",
            self.kvn
        )
    }
}

fn key16(field: &'static str, bytes: &[u8]) -> Result<[u8; 16], EuiccError> {
    bytes
        .try_into()
        .map_err(|_| EuiccError::KeyLength { field })
}

impl IsdRKeySet {
    /// A key set of version `kvn` (`01`–`0F`) from three 16-byte AES keys (wire-profile §1).
    pub fn new(kvn: u8, kic: &[u8], kid: &[u8], kik: &[u8]) -> Result<IsdRKeySet, EuiccError> {
        if !es_interfaces::wire_profile::KVN_SCP80.contains(&kvn) {
            return Err(EuiccError::BadKvn(kvn));
        }
        Ok(IsdRKeySet {
            kvn,
            kic: key16("KIc", kic)?,
            kid: key16("KID", kid)?,
            kik: key16("KIK", kik)?,
        })
    }

    /// Key version number (wire-profile §1).
    pub fn kvn(&self) -> u8 {
        self.kvn
    }

    /// The KIc/KID pair for one SCP80 packet (ETSI TS 102 225 §5.1.2, §5.1.3).
    pub fn scp80(&self) -> KeySet {
        KeySet {
            kic: SecretKey::new(&self.kic),
            kid: SecretKey::new(&self.kid),
        }
    }

    /// The simulator's MasterDelete token key of the ISD-P `aid`: the first 16 bytes of
    /// SHA-256(`"rsp-sim/v1/token-key"` ‖ 00 ‖ KIK ‖ AID) (wire-profile §4 MasterDelete [P]; where the real key
    /// comes from is not public, so the simulator derives one that the test side can recompute).
    pub fn token_key(&self, aid: &[u8]) -> SecretKey {
        let mut h = Sha256::new();
        h.update(b"rsp-sim/v1/token-key\0");
        h.update(self.kik);
        h.update(aid);
        let mut d: [u8; 32] = h.finalize().into();
        let key = SecretKey::new(&d[..16]);
        d.zeroize();
        key
    }
}

/// One SCP80 key set of the ISD-R with its two counters (ETSI TS 102 225 §5.1.1; wire-profile §2, §4, §5b), all
/// bytes so that it needs no padding.
#[derive(Debug, Clone)]
pub(super) struct KeySlot {
    /// The keys.
    pub keys: IsdRKeySet,
    /// The last counter the ISD-R accepted from the SM-SR under this key set.
    pub received: [u8; 5],
    /// Whether the ISD-R's notifications are secured with this key set (one key set at a time; it fits the
    /// padding after `received`).
    pub notifies: bool,
    /// The counter of the ISD-R's last notification under this key set.
    pub sent: [u8; 5],
}

/// The ISD-R's SCP80 key sets in creation order: the first inline, the others — held only during an SM-SR
/// change (wire-profile §5b) — behind one pointer that is null while there are none, so an idle eUICC grows by
/// eight bytes only.
#[derive(Debug, Clone)]
pub(super) struct KeySets {
    first: KeySlot,
    more: Option<Box<MoreKeySets>>,
}

/// The key sets after the first: a vector behind a thin box, so that their absence costs one null pointer (a
/// bare `Vec` would cost three words in every eUICC).
#[derive(Debug, Clone, Default)]
struct MoreKeySets(Vec<KeySlot>);

impl KeySets {
    /// The issued key set, both counters at 0.
    pub(super) fn new(keys: IsdRKeySet) -> KeySets {
        KeySets {
            first: KeySlot {
                keys,
                received: [0; 5],
                notifies: true,
                sent: [0; 5],
            },
            more: None,
        }
    }

    /// The oldest key set held.
    pub(super) fn first(&self) -> &KeySlot {
        &self.first
    }

    /// Every key set, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &KeySlot> {
        std::iter::once(&self.first).chain(self.more.iter().flat_map(|m| m.0.iter()))
    }

    /// The key set with version `kvn`.
    pub(super) fn get(&self, kvn: u8) -> Option<&KeySlot> {
        self.iter().find(|s| s.keys.kvn == kvn)
    }

    /// The key set with version `kvn`, to update its counters.
    pub(super) fn get_mut(&mut self, kvn: u8) -> Option<&mut KeySlot> {
        std::iter::once(&mut self.first)
            .chain(self.more.iter_mut().flat_map(|m| m.0.iter_mut()))
            .find(|s| s.keys.kvn == kvn)
    }

    /// The key set of the ISD-R's notifications: the one marked, else the oldest.
    pub(super) fn notifying(&self) -> &KeySlot {
        self.iter().find(|s| s.notifies).unwrap_or(&self.first)
    }

    /// Makes key set `kvn` the one of the ISD-R's notifications, if held.
    pub(super) fn set_notifying(&mut self, kvn: u8) {
        if self.get(kvn).is_none() {
            return;
        }
        std::iter::once(&mut self.first)
            .chain(self.more.iter_mut().flat_map(|m| m.0.iter_mut()))
            .for_each(|s| s.notifies = s.keys.kvn == kvn);
    }

    /// Adds a key set; the caller has checked that its KVN is not held.
    pub(super) fn push(&mut self, slot: KeySlot) {
        self.more.get_or_insert_default().0.push(slot);
    }

    /// Deletes the key set `kvn`; refused (`false`) for the last one left or a KVN not held.
    pub(super) fn remove(&mut self, kvn: u8) -> bool {
        let Some(MoreKeySets(more)) = self.more.as_deref_mut() else {
            return false;
        };
        if self.first.keys.kvn == kvn {
            if more.is_empty() {
                return false;
            }
            self.first = more.remove(0);
        } else if let Some(i) = more.iter().position(|s| s.keys.kvn == kvn) {
            more.remove(i);
        } else {
            return false;
        }
        if more.is_empty() {
            self.more = None;
        }
        true
    }
}

/// SK.ECASD.ECKA as its curve and 32-byte private scalar; the key pair is rebuilt on demand
/// (GP Amendment E §4; SGP.02 §2.2.1.3 ECASD).
#[derive(Clone)]
pub struct EcasdKey {
    curve: Curve,
    scalar: [u8; 32],
}

impl Drop for EcasdKey {
    fn drop(&mut self) {
        self.scalar.zeroize();
    }
}

impl core::fmt::Debug for EcasdKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "EcasdKey {{ curve: {}, scalar: [redacted] }}",
            self.curve
        )
    }
}

impl EcasdKey {
    /// Keeps the scalar of `key` (SEC 1 §2.3.6).
    pub fn from_private_key(key: &PrivateKey) -> EcasdKey {
        let mut scalar = [0u8; 32];
        scalar.copy_from_slice(key.to_scalar().as_slice());
        EcasdKey {
            curve: key.curve(),
            scalar,
        }
    }

    /// The curve (GP key parameter reference of CERT.ECASD.ECKA).
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The key pair SK/PK.ECASD.ECKA (SEC 1 §2.3.6).
    pub fn private_key(&self) -> Result<PrivateKey, EcError> {
        PrivateKey::from_scalar(self.curve, &self.scalar)
    }
}

/// Order `n` of the P-256 group (SEC 2 §2.4.2), for the rejection sampling of derived scalars.
const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

fn derive(label: &str, seed: u64, index: u64, attempt: Option<u8>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"rsp-sim/v1/");
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(seed.to_be_bytes());
    h.update(index.to_be_bytes());
    if let Some(a) = attempt {
        h.update([a]);
    }
    h.finalize().into()
}

fn derive16(label: &str, seed: u64, index: u64) -> [u8; 16] {
    let mut full = derive(label, seed, index, None);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    full.zeroize();
    out
}

/// Everything that identifies one eUICC to the SM-SR and to the simulator: EID, MSISDN of the enabled profile at
/// issuance, ISD-R keys, SCP81 PSK and ECASD key (SGP.02 §5.1.1 EIS; wire-profile §1–§3).
#[derive(Debug, Clone)]
pub struct EuiccSecrets {
    /// EID.
    pub eid: Eid,
    /// MSISDN of the profile enabled at issuance (P1).
    pub msisdn: Msisdn,
    /// ISD-R SCP80 key set.
    pub isd_r: IsdRKeySet,
    /// SCP81 PSK key version (`40`).
    pub scp81_kvn: u8,
    /// SCP81 PSK, 16 bytes.
    pub scp81_psk: SecretKey,
    /// SK.ECASD.ECKA.
    pub ecasd: EcasdKey,
}

impl EuiccSecrets {
    /// Derives eUICC `index` of the fleet with `seed` (module documentation: "rsp-sim/v1").
    pub fn from_seed(seed: u64, index: usize) -> Result<EuiccSecrets, EuiccError> {
        let eid_text =
            certs::world::eid_with_check_digits(&format!("890499990010000000{:012}", index + 1))
                .ok_or(EuiccError::IndexTooLarge(index))?;
        let msisdn =
            crate::issuance::world_msisdn(index).map_err(|_| EuiccError::IndexTooLarge(index))?;
        let i = index as u64;
        let mut kic = derive16("scp80-kic", seed, i);
        let mut kid = derive16("scp80-kid", seed, i);
        let mut kik = derive16("scp80-kik", seed, i);
        let isd_r = IsdRKeySet::new(0x01, &kic, &kid, &kik);
        kic.zeroize();
        kid.zeroize();
        kik.zeroize();
        let mut psk = derive16("scp81-psk", seed, i);
        let scp81_psk = SecretKey::new(&psk);
        psk.zeroize();
        let mut scalar = None;
        for attempt in 0..=u8::MAX {
            let candidate = derive("ecasd", seed, i, Some(attempt));
            if candidate.iter().any(|b| *b != 0) && candidate < P256_ORDER {
                scalar = Some(candidate);
                break;
            }
        }
        Ok(EuiccSecrets {
            eid: Eid::parse(&eid_text)?,
            msisdn: Msisdn::parse(&msisdn)?,
            isd_r: isd_r?,
            scp81_kvn: 0x40,
            scp81_psk,
            ecasd: EcasdKey {
                curve: Curve::P256,
                scalar: scalar.ok_or(EuiccError::IndexTooLarge(index))?,
            },
        })
    }

    /// Takes the identity of a generated world's eUICC (certs::world).
    pub fn from_world(identity: &EuiccIdentity) -> Result<EuiccSecrets, EuiccError> {
        let k = &identity.scp80;
        Ok(EuiccSecrets {
            eid: Eid::parse(&identity.eid)?,
            msisdn: Msisdn::parse(&identity.msisdn)?,
            isd_r: IsdRKeySet::new(k.kvn, k.kic.expose(), k.kid.expose(), k.kik.expose())?,
            scp81_kvn: identity.scp81_kvn,
            scp81_psk: SecretKey::new(identity.scp81_psk.expose()),
            ecasd: EcasdKey::from_private_key(&identity.ecasd.key),
        })
    }
}
