//! SMS user data carrying SCP80 packets (3GPP TS 31.115 §4, 3GPP TS 23.040 §9.2.3.24; wire-profile §2).
//!
//! A secured packet is built whole first (see [`crate::scp80`]), then put in one TP-UD with the UDH `02 70 00`
//! (command) / `02 71 00` (PoR), or cut into concatenated segments: the first with `07 70 00 00 03 <ref> <n> 01`,
//! the next ones with `05 00 03 <ref> <n> <i>`, 140 bytes of TP-UD each. [`Reassembler`] puts segments back
//! together in any order, bounded in parts and pending messages; how long an incomplete message is kept is the
//! holder's choice (the SM-SR keeps segments in its store, the simulated eUICC drops its reassembler).

use std::collections::BTreeMap;

use crate::wire_profile::{
    IEI_COMMAND_PACKET, IEI_CONCATENATION_8BIT, IEI_CONCATENATION_16BIT, IEI_RESPONSE_PACKET,
    TP_UD_MAX,
};

/// Errors of the SMS user-data codecs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The TP-UD is empty or its UDH runs past the end.
    #[error("user data header truncated at offset {offset}")]
    UdhTruncated {
        /// Offset where bytes were missing.
        offset: usize,
    },
    /// The TP-UD exceeds 140 bytes.
    #[error("TP-UD of {len} bytes exceeds 140")]
    TooLong {
        /// The length.
        len: usize,
    },
    /// The packet needs more than 255 segments (or more than the reassembler's limit).
    #[error("{parts} segments exceed the limit of {max}")]
    TooManyParts {
        /// Segments needed / announced.
        parts: usize,
        /// The limit.
        max: usize,
    },
    /// Neither a command (`70`) nor a response (`71`) packet identifier in the (first) segment.
    #[error("user data carries no command/response packet identifier")]
    NotSecuredPacket,
    /// A concatenation element is malformed (length, zero count, index out of range).
    #[error("bad concatenation element: {reason}")]
    BadConcatenation {
        /// What is wrong.
        reason: &'static str,
    },
    /// Segments with the same reference disagree on the number of parts or the packet kind.
    #[error("segment of reference {reference} disagrees with earlier segments ({reason})")]
    InconsistentSegment {
        /// The concatenation reference.
        reference: u16,
        /// What disagrees.
        reason: &'static str,
    },
    /// A segment index arrived twice with different content.
    #[error("segment {index} of reference {reference} arrived twice with different content")]
    ConflictingDuplicate {
        /// The concatenation reference.
        reference: u16,
        /// The segment index.
        index: u8,
    },
    /// The reassembler already holds its maximum of incomplete messages.
    #[error("{max} incomplete messages pending; refusing a new one")]
    PendingFull {
        /// The limit.
        max: usize,
    },
}

/// Whether a TP-UD carries a command packet or a response packet (3GPP TS 31.115 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Command packet, CPI IE `70`.
    Command,
    /// Response packet (PoR), RPI IE `71`.
    Response,
}

impl PacketKind {
    fn iei(self) -> u8 {
        match self {
            PacketKind::Command => IEI_COMMAND_PACKET,
            PacketKind::Response => IEI_RESPONSE_PACKET,
        }
    }
}

/// One information element of a user data header (3GPP TS 23.040 §9.2.3.24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationElement {
    /// Identifier.
    pub iei: u8,
    /// Data.
    pub data: Vec<u8>,
}

/// A TP-UD split into its header elements and payload (3GPP TS 23.040 §9.2.3.24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// The UDH information elements in order.
    pub elements: Vec<InformationElement>,
    /// The bytes after the UDH.
    pub payload: Vec<u8>,
}

impl UserData {
    /// Parses a TP-UD whose first byte is the UDHL (3GPP TS 23.040 §9.2.3.24).
    pub fn parse(tp_ud: &[u8]) -> Result<UserData, SmsError> {
        if tp_ud.len() > TP_UD_MAX {
            return Err(SmsError::TooLong { len: tp_ud.len() });
        }
        let udhl = usize::from(*tp_ud.first().ok_or(SmsError::UdhTruncated { offset: 0 })?);
        let udh = tp_ud
            .get(1..1 + udhl)
            .ok_or(SmsError::UdhTruncated { offset: 1 })?;
        let mut elements = Vec::new();
        let mut pos = 0;
        while pos < udh.len() {
            let iei = udh[pos];
            let len = usize::from(
                *udh.get(pos + 1)
                    .ok_or(SmsError::UdhTruncated { offset: 2 + pos })?,
            );
            let data = udh
                .get(pos + 2..pos + 2 + len)
                .ok_or(SmsError::UdhTruncated { offset: 3 + pos })?;
            elements.push(InformationElement {
                iei,
                data: data.to_vec(),
            });
            pos += 2 + len;
        }
        Ok(UserData {
            elements,
            payload: tp_ud[1 + udhl..].to_vec(),
        })
    }

    /// Encodes `UDHL | elements | payload`, refusing more than 140 bytes (3GPP TS 23.040 §9.2.3.24).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SmsError> {
        let mut udh = Vec::new();
        for e in &self.elements {
            udh.push(e.iei);
            udh.push(
                u8::try_from(e.data.len()).map_err(|_| SmsError::TooLong { len: e.data.len() })?,
            );
            udh.extend_from_slice(&e.data);
        }
        let total = 1 + udh.len() + self.payload.len();
        if total > TP_UD_MAX {
            return Err(SmsError::TooLong { len: total });
        }
        let mut out = Vec::with_capacity(total);
        out.push(udh.len() as u8);
        out.extend_from_slice(&udh);
        out.extend_from_slice(&self.payload);
        Ok(out)
    }
}

/// Concatenation information of one segment (3GPP TS 23.040 §9.2.3.24.1 / §9.2.3.24.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concatenation {
    /// Reference number (8- or 16-bit).
    pub reference: u16,
    /// Total number of segments.
    pub total: u8,
    /// Index of this segment, from 1.
    pub index: u8,
}

/// What one TP-UD holds for SCP80: the packet kind if it carries the CPI/RPI, the concatenation element if any,
/// and the payload (3GPP TS 31.115 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `Some` when the UDH carries `70` or `71`.
    pub kind: Option<PacketKind>,
    /// `Some` for a concatenated segment.
    pub concatenation: Option<Concatenation>,
    /// The bytes after the UDH.
    pub payload: Vec<u8>,
}

impl Segment {
    /// Classifies a TP-UD (3GPP TS 31.115 §4.2, 3GPP TS 23.040 §9.2.3.24).
    pub fn parse(tp_ud: &[u8]) -> Result<Segment, SmsError> {
        let ud = UserData::parse(tp_ud)?;
        let mut kind = None;
        let mut concatenation = None;
        for e in &ud.elements {
            match e.iei {
                IEI_COMMAND_PACKET => kind = Some(PacketKind::Command),
                IEI_RESPONSE_PACKET => kind = Some(PacketKind::Response),
                IEI_CONCATENATION_8BIT | IEI_CONCATENATION_16BIT => {
                    let (reference, total, index) = match (e.iei, e.data.as_slice()) {
                        (IEI_CONCATENATION_8BIT, [r, n, i]) => (u16::from(*r), *n, *i),
                        (IEI_CONCATENATION_16BIT, [r1, r2, n, i]) => {
                            (u16::from_be_bytes([*r1, *r2]), *n, *i)
                        }
                        _ => {
                            return Err(SmsError::BadConcatenation {
                                reason: "element length",
                            });
                        }
                    };
                    if total == 0 || index == 0 || index > total {
                        return Err(SmsError::BadConcatenation {
                            reason: "index outside 1..=total",
                        });
                    }
                    concatenation = Some(Concatenation {
                        reference,
                        total,
                        index,
                    });
                }
                _ => {}
            }
        }
        Ok(Segment {
            kind,
            concatenation,
            payload: ud.payload,
        })
    }
}

/// UDH length of the first segment: `07 70 00 00 03 ref n 1`.
const FIRST_UDH_LEN: usize = 8;
/// UDH length of the next segments: `05 00 03 ref n i`.
const NEXT_UDH_LEN: usize = 6;
/// UDH length of a single SMS: `02 70 00`.
const SINGLE_UDH_LEN: usize = 3;

/// Puts a whole secured packet (from CPL/RPL on) into TP-UDs: one SMS with `02 7x 00` when it fits, else
/// concatenated segments with the 8-bit `reference` (3GPP TS 31.115 §4.2, 3GPP TS 23.040 §9.2.3.24.1;
/// wire-profile §2).
pub fn to_tp_uds(kind: PacketKind, packet: &[u8], reference: u8) -> Result<Vec<Vec<u8>>, SmsError> {
    let cpi = InformationElement {
        iei: kind.iei(),
        data: Vec::new(),
    };
    if packet.len() + SINGLE_UDH_LEN <= TP_UD_MAX {
        let ud = UserData {
            elements: vec![cpi],
            payload: packet.to_vec(),
        };
        return Ok(vec![ud.to_bytes()?]);
    }
    let first_room = TP_UD_MAX - FIRST_UDH_LEN;
    let next_room = TP_UD_MAX - NEXT_UDH_LEN;
    let parts = 1 + (packet.len() - first_room).div_ceil(next_room);
    let total = u8::try_from(parts).map_err(|_| SmsError::TooManyParts { parts, max: 255 })?;
    let concat = |index: u8| InformationElement {
        iei: IEI_CONCATENATION_8BIT,
        data: vec![reference, total, index],
    };
    let mut out = Vec::with_capacity(parts);
    out.push(
        UserData {
            elements: vec![cpi, concat(1)],
            payload: packet[..first_room].to_vec(),
        }
        .to_bytes()?,
    );
    for (i, chunk) in packet[first_room..].chunks(next_room).enumerate() {
        out.push(
            UserData {
                elements: vec![concat(i as u8 + 2)],
                payload: chunk.to_vec(),
            }
            .to_bytes()?,
        );
    }
    Ok(out)
}

/// A secured packet put back together (3GPP TS 31.115 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// Command or response packet.
    pub kind: PacketKind,
    /// The packet from CPL/RPL on.
    pub packet: Vec<u8>,
}

/// Result of handing one TP-UD to the [`Reassembler`] (3GPP TS 23.040 §9.2.3.24.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The packet is complete.
    Complete(Assembled),
    /// More segments are needed; the missing indexes.
    Pending {
        /// Missing segment indexes, ascending.
        missing: Vec<u8>,
    },
    /// This segment was already held (same bytes); nothing changed.
    Duplicate {
        /// Missing segment indexes, ascending.
        missing: Vec<u8>,
    },
}

#[derive(Debug)]
struct Partial {
    total: u8,
    kind: Option<PacketKind>,
    parts: BTreeMap<u8, Vec<u8>>,
}

impl Partial {
    fn missing(&self) -> Vec<u8> {
        (1..=self.total)
            .filter(|i| !self.parts.contains_key(i))
            .collect()
    }
}

/// Reassembles concatenated TP-UDs per originator and reference, in any order, ignoring exact duplicates;
/// bounded by the parts per message and the incomplete messages held (3GPP TS 23.040 §9.2.3.24.1).
#[derive(Debug)]
pub struct Reassembler<K: Ord + Clone> {
    max_parts: u8,
    max_pending: usize,
    pending: BTreeMap<(K, u16), Partial>,
}

impl<K: Ord + Clone> Reassembler<K> {
    /// A reassembler holding at most `max_pending` incomplete messages of at most `max_parts` segments each
    /// (3GPP TS 23.040 §9.2.3.24.1).
    pub fn new(max_parts: u8, max_pending: usize) -> Reassembler<K> {
        Reassembler {
            max_parts,
            max_pending,
            pending: BTreeMap::new(),
        }
    }

    /// Number of incomplete messages held.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Hands in one TP-UD received from `source` (3GPP TS 31.115 §4.2, 3GPP TS 23.040 §9.2.3.24.1).
    pub fn push(&mut self, source: K, tp_ud: &[u8]) -> Result<PushOutcome, SmsError> {
        let seg = Segment::parse(tp_ud)?;
        let Some(c) = seg.concatenation else {
            let kind = seg.kind.ok_or(SmsError::NotSecuredPacket)?;
            return Ok(PushOutcome::Complete(Assembled {
                kind,
                packet: seg.payload,
            }));
        };
        if c.total > self.max_parts {
            return Err(SmsError::TooManyParts {
                parts: usize::from(c.total),
                max: usize::from(self.max_parts),
            });
        }
        if c.index == 1 && seg.kind.is_none() {
            return Err(SmsError::NotSecuredPacket);
        }
        let key = (source, c.reference);
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            return Err(SmsError::PendingFull {
                max: self.max_pending,
            });
        }
        let partial = self.pending.entry(key.clone()).or_insert_with(|| Partial {
            total: c.total,
            kind: None,
            parts: BTreeMap::new(),
        });
        if partial.total != c.total {
            return Err(SmsError::InconsistentSegment {
                reference: c.reference,
                reason: "number of parts",
            });
        }
        if let Some(existing) = partial.parts.get(&c.index) {
            return if *existing == seg.payload {
                Ok(PushOutcome::Duplicate {
                    missing: partial.missing(),
                })
            } else {
                Err(SmsError::ConflictingDuplicate {
                    reference: c.reference,
                    index: c.index,
                })
            };
        }
        if c.index == 1 {
            partial.kind = seg.kind;
        }
        partial.parts.insert(c.index, seg.payload);
        let missing = partial.missing();
        if !missing.is_empty() {
            return Ok(PushOutcome::Pending { missing });
        }
        let Some(done) = self.pending.remove(&key) else {
            return Ok(PushOutcome::Pending { missing });
        };
        let kind = done.kind.ok_or(SmsError::NotSecuredPacket)?;
        Ok(PushOutcome::Complete(Assembled {
            kind,
            packet: done.parts.into_values().flatten().collect(),
        }))
    }
}
