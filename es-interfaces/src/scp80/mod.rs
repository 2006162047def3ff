//! SCP80: secured packets of ETSI TS 102 225 in the SMS dialect of 3GPP TS 31.115 (wire-profile §2).
//!
//! Both directions of both packet kinds, as pure functions: the SM-SR builds command packets and opens PoRs;
//! the eUICC (simulator) opens command packets, checks the counter and builds PoRs; the eUICC's notifications are
//! command packets too (SPI `16 00`), built by the simulator and opened by the SM-SR. Packets here start at
//! CPL / RPL: the UDH belongs to [`crate::sms`]. The CC of a command excludes the UDH; the CC of a PoR covers
//! [`wire_profile::POR_CC_UDH`]. Counters are values handed in and out: the caller persists them.

pub(crate) mod cipher;

use zeroize::Zeroizing;

use crate::wire_profile;
use cipher::{BlockCipher, CipherError};

/// Errors of the SCP80 codecs. None of them carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Scp80Error {
    /// The packet ends before a field.
    #[error("SCP80 packet truncated: {field} needs {needed} byte(s) at offset {offset}")]
    Truncated {
        /// The missing field.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// CPL / RPL does not match the packet length.
    #[error("{field} = {declared} but {actual} byte(s) follow it")]
    LengthMismatch {
        /// `CPL` or `RPL`.
        field: &'static str,
        /// Declared value.
        declared: usize,
        /// Bytes present.
        actual: usize,
    },
    /// CHL / RHL does not match what the SPI implies.
    #[error("{field} = {declared}, but the SPI implies {expected}")]
    HeaderLength {
        /// `CHL` or `RHL`.
        field: &'static str,
        /// Declared value.
        declared: usize,
        /// Value implied by the SPI.
        expected: usize,
    },
    /// SPI reserved bits are set (ETSI TS 102 225 §5.1.1).
    #[error("SPI {spi:02X?} has reserved bits set")]
    SpiReserved {
        /// The SPI bytes.
        spi: [u8; 2],
    },
    /// An algorithm this implementation does not provide (single DES, DES-ECB, RC, DS, proprietary, implicit).
    #[error("unsupported {what} algorithm in {field} = {byte:#04x}")]
    UnsupportedAlgorithm {
        /// `KIc` or `KID`.
        field: &'static str,
        /// What was asked for.
        what: &'static str,
        /// The byte.
        byte: u8,
    },
    /// The key length does not fit the algorithm named by KIc / KID.
    #[error("{field} key has the wrong length for its algorithm")]
    KeyLength {
        /// `KIc` or `KID`.
        field: &'static str,
    },
    /// The ciphered part is not a whole number of cipher blocks.
    #[error("ciphered part of {len} byte(s) is not a multiple of the {block}-byte block")]
    NotBlockAligned {
        /// Length of the ciphered part.
        len: usize,
        /// Block size.
        block: usize,
    },
    /// The cryptographic checksum does not verify.
    #[error("cryptographic checksum mismatch")]
    CcMismatch,
    /// PCNTR is inconsistent with the data, or the padding bytes are not zero.
    #[error("bad padding: PCNTR = {pcntr}")]
    BadPadding {
        /// The PCNTR value.
        pcntr: u8,
    },
    /// The PoR's TAR is not the TAR of the command it answers.
    #[error("PoR TAR {found:02X?} does not match the command TAR {expected:02X?}")]
    TarMismatch {
        /// TAR of the command.
        expected: [u8; 3],
        /// TAR in the PoR.
        found: [u8; 3],
    },
    /// A PoR status byte outside ETSI TS 102 225 Table 5.
    #[error("unknown PoR status {0:#04x}")]
    UnknownPorStatus(u8),
    /// The packet would exceed the 16-bit CPL / RPL.
    #[error("secured packet of {len} bytes exceeds the 16-bit length field")]
    TooLong {
        /// The length.
        len: usize,
    },
    /// KVN outside 0–15 in KIc / KID.
    #[error("key version {kvn} does not fit the 4-bit KIc/KID field")]
    KvnOutOfRange {
        /// The key version.
        kvn: u8,
    },
}

impl Scp80Error {
    /// The PoR status a receiving entity answers for this error when opening a command packet
    /// (ETSI TS 102 225 §5.1.5, Table 5).
    pub fn por_status(&self) -> PorStatus {
        match self {
            Scp80Error::CcMismatch => PorStatus::CcFailed,
            Scp80Error::NotBlockAligned { .. } | Scp80Error::BadPadding { .. } => {
                PorStatus::CipheringError
            }
            Scp80Error::UnsupportedAlgorithm { .. } | Scp80Error::SpiReserved { .. } => {
                PorStatus::InsufficientSecurityLevel
            }
            _ => PorStatus::UnidentifiedSecurityError,
        }
    }
}

fn key_err(field: &'static str) -> impl Fn(CipherError) -> Scp80Error {
    move |_| Scp80Error::KeyLength { field }
}

/// CBC with a zero IV over `data` in place (ETSI TS 102 225 §5.1.2); refuses data that is not block aligned.
fn zero_iv_cbc(c: &BlockCipher, data: &mut [u8], decrypt: bool) -> Result<(), Scp80Error> {
    let (len, block) = (data.len(), c.block_size());
    let done = if decrypt {
        c.cbc_decrypt_zero_iv(data)
    } else {
        c.cbc_encrypt_zero_iv(data)
    };
    done.map_err(|_| Scp80Error::NotBlockAligned { len, block })
}

/// Triple-DES CBC-MAC over `input` zero-padded (ETSI TS 102 225 §5.1.3).
fn des_cbc_mac(c: Result<BlockCipher, CipherError>, input: &[u8]) -> Result<Vec<u8>, Scp80Error> {
    let c = c.map_err(key_err("KID"))?;
    c.cbc_mac_zero_padded(input)
        .map_err(|_| Scp80Error::NotBlockAligned {
            len: input.len(),
            block: c.block_size(),
        })
}

/// A secret key (KIc, KID, DEK, …) that is wiped on drop and never printed (ETSI TS 102 225 §5.1.2).
#[derive(Clone)]
pub struct SecretKey(Zeroizing<Vec<u8>>);

impl SecretKey {
    /// A key from its bytes (ETSI TS 102 225 §5.1.2).
    pub fn new(bytes: &[u8]) -> SecretKey {
        SecretKey(Zeroizing::new(bytes.to_vec()))
    }

    /// The key bytes, for the cipher only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// The two keys of an SCP80 key set used for one packet: KIc (ciphering) and KID (CC)
/// (ETSI TS 102 225 §5.1.2, §5.1.3).
#[derive(Debug, Clone)]
pub struct KeySet {
    /// Ciphering key.
    pub kic: SecretKey,
    /// Cryptographic checksum key.
    pub kid: SecretKey,
}

/// Counter handling of SPI byte 1 b5–b4 (ETSI TS 102 225 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterMode {
    /// `00`: no counter.
    None,
    /// `01`: counter available, no replay or sequence checking.
    Available,
    /// `10`: process only if the counter is higher than the receiver's.
    Higher,
    /// `11`: process only if the counter is exactly one higher than the receiver's.
    OneHigher,
}

/// Integrity of SPI b2–b1 (command: byte 1; PoR: byte 2 b4–b3) (ETSI TS 102 225 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// `00`: none.
    None,
    /// `01`: redundancy check.
    RedundancyCheck,
    /// `10`: cryptographic checksum.
    CryptographicChecksum,
    /// `11`: digital signature.
    DigitalSignature,
}

impl Integrity {
    fn from_bits(b: u8) -> Integrity {
        match b & 0x03 {
            0 => Integrity::None,
            1 => Integrity::RedundancyCheck,
            2 => Integrity::CryptographicChecksum,
            _ => Integrity::DigitalSignature,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Integrity::None => 0,
            Integrity::RedundancyCheck => 1,
            Integrity::CryptographicChecksum => 2,
            Integrity::DigitalSignature => 3,
        }
    }

    /// Length of the RC/CC/DS field this implementation produces: 8 for a CC, 0 for none.
    fn field_len(self, field: &'static str, byte: u8) -> Result<usize, Scp80Error> {
        match self {
            Integrity::None => Ok(0),
            Integrity::CryptographicChecksum => Ok(8),
            Integrity::RedundancyCheck => Err(Scp80Error::UnsupportedAlgorithm {
                field,
                what: "redundancy check",
                byte,
            }),
            Integrity::DigitalSignature => Err(Scp80Error::UnsupportedAlgorithm {
                field,
                what: "digital signature",
                byte,
            }),
        }
    }
}

/// PoR request of SPI byte 2 b2–b1 (ETSI TS 102 225 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PorRequest {
    /// `00`: no PoR.
    None,
    /// `01`: PoR required.
    Always,
    /// `10`: PoR only on error.
    OnError,
}

/// The Security Parameter Indicator (ETSI TS 102 225 §5.1.1; wire-profile §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spi {
    /// Byte 1 b5–b4.
    pub counter: CounterMode,
    /// Byte 1 b3.
    pub ciphering: bool,
    /// Byte 1 b2–b1.
    pub integrity: Integrity,
    /// Byte 2 b6: PoR sent as SMS-SUBMIT (else in the SMS-DELIVER-REPORT).
    pub por_via_submit: bool,
    /// Byte 2 b5: PoR ciphered.
    pub por_ciphered: bool,
    /// Byte 2 b4–b3: PoR integrity.
    pub por_integrity: Integrity,
    /// Byte 2 b2–b1: PoR request.
    pub por: PorRequest,
}

impl Spi {
    /// Decodes the two SPI bytes, refusing reserved bits and the reserved PoR request `11`
    /// (ETSI TS 102 225 §5.1.1).
    pub fn from_bytes(spi: [u8; 2]) -> Result<Spi, Scp80Error> {
        let [b1, b2] = spi;
        if b1 & 0xE0 != 0 || b2 & 0xC0 != 0 || b2 & 0x03 == 0x03 {
            return Err(Scp80Error::SpiReserved { spi });
        }
        Ok(Spi {
            counter: match (b1 >> 3) & 0x03 {
                0 => CounterMode::None,
                1 => CounterMode::Available,
                2 => CounterMode::Higher,
                _ => CounterMode::OneHigher,
            },
            ciphering: b1 & 0x04 != 0,
            integrity: Integrity::from_bits(b1),
            por_via_submit: b2 & 0x20 != 0,
            por_ciphered: b2 & 0x10 != 0,
            por_integrity: Integrity::from_bits(b2 >> 2),
            por: match b2 & 0x03 {
                0 => PorRequest::None,
                1 => PorRequest::Always,
                _ => PorRequest::OnError,
            },
        })
    }

    /// Encodes the two SPI bytes (ETSI TS 102 225 §5.1.1).
    pub fn to_bytes(self) -> [u8; 2] {
        let counter = match self.counter {
            CounterMode::None => 0,
            CounterMode::Available => 1,
            CounterMode::Higher => 2,
            CounterMode::OneHigher => 3,
        };
        let b1 = (counter << 3) | (u8::from(self.ciphering) << 2) | self.integrity.bits();
        let por = match self.por {
            PorRequest::None => 0,
            PorRequest::Always => 1,
            PorRequest::OnError => 2,
        };
        let b2 = (u8::from(self.por_via_submit) << 5)
            | (u8::from(self.por_ciphered) << 4)
            | (self.por_integrity.bits() << 2)
            | por;
        [b1, b2]
    }
}

/// Algorithm named by the low nibble of KIc or KID (ETSI TS 102 225 §5.1.2, §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `x0`: known implicitly by both entities.
    Implicit,
    /// `x1`: single DES in CBC mode.
    DesCbc,
    /// `x5`: triple DES, two keys, outer CBC.
    TripleDes2Key,
    /// `x9`: triple DES, three keys, outer CBC.
    TripleDes3Key,
    /// `xD`: DES in ECB mode (KIc only; reserved for KID).
    DesEcb,
    /// `x2`: AES (CBC for KIc, CMAC for KID).
    Aes,
    /// `x3`: proprietary.
    Proprietary,
    /// A reserved coding.
    Reserved(u8),
}

impl Algorithm {
    fn from_nibble(n: u8) -> Algorithm {
        match n & 0x0F {
            0x0 | 0x4 | 0x8 | 0xC => Algorithm::Implicit,
            0x1 => Algorithm::DesCbc,
            0x5 => Algorithm::TripleDes2Key,
            0x9 => Algorithm::TripleDes3Key,
            0xD => Algorithm::DesEcb,
            0x2 => Algorithm::Aes,
            0x3 | 0x7 | 0xB | 0xF => Algorithm::Proprietary,
            other => Algorithm::Reserved(other),
        }
    }

    fn nibble(self) -> u8 {
        match self {
            Algorithm::Implicit => 0x0,
            Algorithm::DesCbc => 0x1,
            Algorithm::TripleDes2Key => 0x5,
            Algorithm::TripleDes3Key => 0x9,
            Algorithm::DesEcb => 0xD,
            Algorithm::Aes => 0x2,
            Algorithm::Proprietary => 0x3,
            Algorithm::Reserved(n) => n & 0x0F,
        }
    }
}

fn key_byte(kvn: u8, algorithm: Algorithm) -> Result<u8, Scp80Error> {
    if kvn > 0x0F {
        return Err(Scp80Error::KvnOutOfRange { kvn });
    }
    Ok((kvn << 4) | algorithm.nibble())
}

/// The KIc byte: key version (b8–b5) and ciphering algorithm (b4–b1) (ETSI TS 102 225 §5.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kic(pub u8);

impl Kic {
    /// KIc for key version `kvn` (0–15) and `algorithm` (ETSI TS 102 225 §5.1.2).
    pub fn new(kvn: u8, algorithm: Algorithm) -> Result<Kic, Scp80Error> {
        key_byte(kvn, algorithm).map(Kic)
    }

    /// Key version number (ETSI TS 102 225 §5.1.2).
    pub fn kvn(self) -> u8 {
        self.0 >> 4
    }

    /// Ciphering algorithm (ETSI TS 102 225 §5.1.2).
    pub fn algorithm(self) -> Algorithm {
        Algorithm::from_nibble(self.0)
    }

    fn cipher(self, key: &SecretKey) -> Result<BlockCipher, Scp80Error> {
        let k = key.expose();
        let unsupported = |what| Scp80Error::UnsupportedAlgorithm {
            field: "KIc",
            what,
            byte: self.0,
        };
        match self.algorithm() {
            Algorithm::Aes => BlockCipher::aes(k),
            Algorithm::TripleDes2Key => BlockCipher::tdes2(k),
            Algorithm::TripleDes3Key => BlockCipher::tdes3(k),
            Algorithm::DesCbc => return Err(unsupported("single DES")),
            Algorithm::DesEcb => return Err(unsupported("DES-ECB")),
            _ => return Err(unsupported("ciphering")),
        }
        .map_err(key_err("KIc"))
    }
}

/// The KID byte: key version (b8–b5) and CC algorithm (b4–b1) (ETSI TS 102 225 §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kid(pub u8);

impl Kid {
    /// KID for key version `kvn` (0–15) and `algorithm` (ETSI TS 102 225 §5.1.3).
    pub fn new(kvn: u8, algorithm: Algorithm) -> Result<Kid, Scp80Error> {
        key_byte(kvn, algorithm).map(Kid)
    }

    /// Key version number (ETSI TS 102 225 §5.1.3).
    pub fn kvn(self) -> u8 {
        self.0 >> 4
    }

    /// CC algorithm (ETSI TS 102 225 §5.1.3).
    pub fn algorithm(self) -> Algorithm {
        Algorithm::from_nibble(self.0)
    }

    /// The 8-byte CC over `input`: AES-CMAC truncated, or triple-DES CBC-MAC over zero padding
    /// (ETSI TS 102 225 §5.1.3).
    fn cc(self, key: &SecretKey, input: &[u8]) -> Result<[u8; 8], Scp80Error> {
        let k = key.expose();
        let unsupported = |what| Scp80Error::UnsupportedAlgorithm {
            field: "KID",
            what,
            byte: self.0,
        };
        let full: Vec<u8> = match self.algorithm() {
            Algorithm::Aes => certs::kdf::aes_cmac(k, input)
                .map_err(|_| Scp80Error::KeyLength { field: "KID" })?
                .to_vec(),
            Algorithm::TripleDes2Key => des_cbc_mac(BlockCipher::tdes2(k), input)?,
            Algorithm::TripleDes3Key => des_cbc_mac(BlockCipher::tdes3(k), input)?,
            Algorithm::DesCbc => return Err(unsupported("single DES")),
            _ => return Err(unsupported("cryptographic checksum")),
        };
        let mut cc = [0u8; 8];
        cc.copy_from_slice(&full[..8]);
        Ok(cc)
    }
}

/// The 5-byte anti-replay counter CNTR, big-endian (ETSI TS 102 225 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Counter(pub [u8; 5]);

impl Counter {
    /// The largest counter; a receiver holding it is blocked (ETSI TS 102 225 §5.1.1, status `04`).
    pub const MAX: Counter = Counter([0xFF; 5]);

    /// A counter from its numeric value, `None` above 2^40 − 1 (ETSI TS 102 225 §5.1.1).
    pub fn from_u64(value: u64) -> Option<Counter> {
        if value > 0xFF_FFFF_FFFF {
            return None;
        }
        let b = value.to_be_bytes();
        Some(Counter([b[3], b[4], b[5], b[6], b[7]]))
    }

    /// The numeric value (ETSI TS 102 225 §5.1.1).
    pub fn value(self) -> u64 {
        let c = self.0;
        u64::from_be_bytes([0, 0, 0, c[0], c[1], c[2], c[3], c[4]])
    }

    /// The next counter, `None` when exhausted (ETSI TS 102 225 §5.1.1).
    pub fn next(self) -> Option<Counter> {
        Counter::from_u64(self.value() + 1)
    }
}

/// Receiver-side counter check of SPI b5–b4 (ETSI TS 102 225 §5.1.1, §5.1.5 status `02`/`03`/`04`): `Ok(Some(c))`
/// when the packet is accepted and the receiver must store `c`, `Ok(None)` when accepted without a counter update,
/// or the PoR status to refuse with.
pub fn check_counter(
    mode: CounterMode,
    received: Counter,
    stored: Counter,
) -> Result<Option<Counter>, PorStatus> {
    match mode {
        CounterMode::None | CounterMode::Available => Ok(None),
        _ if stored == Counter::MAX => Err(PorStatus::CounterBlocked),
        CounterMode::Higher if received > stored => Ok(Some(received)),
        CounterMode::Higher => Err(PorStatus::CounterLow),
        CounterMode::OneHigher => {
            if received <= stored {
                Err(PorStatus::CounterLow)
            } else if Some(received) == stored.next() {
                Ok(Some(received))
            } else {
                Err(PorStatus::CounterHigh)
            }
        }
    }
}

/// PoR status codes (ETSI TS 102 225 §5.1.5, Table 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PorStatus {
    /// `00` PoR OK.
    Ok,
    /// `01` RC/CC/DS failed.
    CcFailed,
    /// `02` CNTR low.
    CounterLow,
    /// `03` CNTR high.
    CounterHigh,
    /// `04` CNTR blocked.
    CounterBlocked,
    /// `05` ciphering error.
    CipheringError,
    /// `06` unidentified security error.
    UnidentifiedSecurityError,
    /// `07` insufficient memory to process the incoming message.
    InsufficientMemory,
    /// `08` more time needed to process the command packet.
    MoreTime,
    /// `09` TAR unknown.
    TarUnknown,
    /// `0A` insufficient security level.
    InsufficientSecurityLevel,
    /// `0B` actual response data to be sent using SMS-SUBMIT.
    ResponseViaSubmit,
    /// `0C` actual response data to be sent using a USSD string.
    ResponseViaUssd,
}

impl PorStatus {
    /// The status byte (ETSI TS 102 225 Table 5).
    pub fn to_byte(self) -> u8 {
        match self {
            PorStatus::Ok => 0x00,
            PorStatus::CcFailed => 0x01,
            PorStatus::CounterLow => 0x02,
            PorStatus::CounterHigh => 0x03,
            PorStatus::CounterBlocked => 0x04,
            PorStatus::CipheringError => 0x05,
            PorStatus::UnidentifiedSecurityError => 0x06,
            PorStatus::InsufficientMemory => 0x07,
            PorStatus::MoreTime => 0x08,
            PorStatus::TarUnknown => 0x09,
            PorStatus::InsufficientSecurityLevel => 0x0A,
            PorStatus::ResponseViaSubmit => 0x0B,
            PorStatus::ResponseViaUssd => 0x0C,
        }
    }

    /// Decodes a status byte (ETSI TS 102 225 Table 5).
    pub fn from_byte(b: u8) -> Result<PorStatus, Scp80Error> {
        Ok(match b {
            0x00 => PorStatus::Ok,
            0x01 => PorStatus::CcFailed,
            0x02 => PorStatus::CounterLow,
            0x03 => PorStatus::CounterHigh,
            0x04 => PorStatus::CounterBlocked,
            0x05 => PorStatus::CipheringError,
            0x06 => PorStatus::UnidentifiedSecurityError,
            0x07 => PorStatus::InsufficientMemory,
            0x08 => PorStatus::MoreTime,
            0x09 => PorStatus::TarUnknown,
            0x0A => PorStatus::InsufficientSecurityLevel,
            0x0B => PorStatus::ResponseViaSubmit,
            0x0C => PorStatus::ResponseViaUssd,
            other => return Err(Scp80Error::UnknownPorStatus(other)),
        })
    }
}

/// The security header of a command packet (ETSI TS 102 225 §5.1.1; wire-profile §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// Security parameter indicator.
    pub spi: Spi,
    /// Ciphering key identifier.
    pub kic: Kic,
    /// CC key identifier.
    pub kid: Kid,
    /// Toolkit application reference of the receiving security domain.
    pub tar: [u8; 3],
    /// Counter.
    pub counter: Counter,
}

fn block_size(ciphering: bool, kic: Kic, keys: &KeySet) -> Result<Option<BlockCipher>, Scp80Error> {
    if ciphering {
        kic.cipher(&keys.kic).map(Some)
    } else {
        Ok(None)
    }
}

fn padding_len(cipher: &Option<BlockCipher>, len: usize) -> usize {
    match cipher {
        Some(c) => {
            let bs = c.block_size();
            (bs - len % bs) % bs
        }
        None => 0,
    }
}

fn len16(field: usize) -> Result<[u8; 2], Scp80Error> {
    u16::try_from(field)
        .map(u16::to_be_bytes)
        .map_err(|_| Scp80Error::TooLong { len: field })
}

/// Builds a secured command packet `CPL | CHL | SPI | KIc | KID | TAR | CNTR | PCNTR | CC | data+padding`
/// (ETSI TS 102 225 §5.1, 3GPP TS 31.115 §4.2; wire-profile §2). The CC excludes the UDH.
pub fn build_command(
    header: &CommandHeader,
    keys: &KeySet,
    data: &[u8],
) -> Result<Vec<u8>, Scp80Error> {
    let spi = header.spi;
    let cc_len = spi.integrity.field_len("KID", header.kid.0)?;
    let cipher = block_size(spi.ciphering, header.kic, keys)?;
    let pad = padding_len(&cipher, 5 + 1 + cc_len + data.len());
    let chl = 13 + cc_len;
    let cpl = len16(1 + chl + data.len() + pad)?;
    let [s1, s2] = spi.to_bytes();
    let mut clear = Vec::with_capacity(2 + 1 + chl + data.len() + pad);
    clear.extend_from_slice(&cpl);
    clear.extend_from_slice(&[chl as u8, s1, s2, header.kic.0, header.kid.0]);
    clear.extend_from_slice(&header.tar);
    let secured_start = clear.len();
    clear.extend_from_slice(&header.counter.0);
    clear.push(pad as u8);
    let cc_pos = clear.len();
    clear.extend_from_slice(data);
    clear.resize(clear.len() + pad, 0);
    if cc_len > 0 {
        let cc = header.kid.cc(&keys.kid, &clear)?;
        clear.splice(cc_pos..cc_pos, cc);
    }
    if let Some(c) = cipher {
        zero_iv_cbc(&c, &mut clear[secured_start..], false)?;
    }
    Ok(clear)
}

fn take<'a>(
    packet: &'a [u8],
    offset: usize,
    n: usize,
    field: &'static str,
) -> Result<&'a [u8], Scp80Error> {
    packet.get(offset..offset + n).ok_or(Scp80Error::Truncated {
        field,
        offset,
        needed: n,
    })
}

/// A command packet whose clear header has been read but whose secured part is not yet opened; the receiver
/// selects the key set from [`CommandPacket::tar`] and the KVNs, then calls [`CommandPacket::open`]
/// (ETSI TS 102 225 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPacket<'a> {
    /// SPI.
    pub spi: Spi,
    /// KIc.
    pub kic: Kic,
    /// KID.
    pub kid: Kid,
    /// TAR.
    pub tar: [u8; 3],
    packet: &'a [u8],
}

/// A command packet after deciphering and CC verification (ETSI TS 102 225 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCommand {
    /// The header, counter included.
    pub header: CommandHeader,
    /// Number of padding bytes that were removed.
    pub pcntr: u8,
    /// The secured data (a remote command script or a notification), padding removed.
    pub data: Vec<u8>,
}

/// Offset of CNTR in a command packet: after CPL(2), CHL, SPI(2), KIc, KID, TAR(3).
const COMMAND_SECURED_START: usize = 10;

/// Reads the clear header of a command packet starting at CPL (ETSI TS 102 225 §5.1.1; 3GPP TS 31.115 §4.2).
pub fn parse_command(packet: &[u8]) -> Result<CommandPacket<'_>, Scp80Error> {
    let cpl = take(packet, 0, 2, "CPL")?;
    let cpl = usize::from(u16::from_be_bytes([cpl[0], cpl[1]]));
    if cpl != packet.len() - 2 {
        return Err(Scp80Error::LengthMismatch {
            field: "CPL",
            declared: cpl,
            actual: packet.len() - 2,
        });
    }
    let h = take(packet, 2, 9, "CHL..TAR")?;
    let spi = Spi::from_bytes([h[1], h[2]])?;
    let kid = Kid(h[4]);
    let expected = 13 + spi.integrity.field_len("KID", kid.0)?;
    if usize::from(h[0]) != expected {
        return Err(Scp80Error::HeaderLength {
            field: "CHL",
            declared: usize::from(h[0]),
            expected,
        });
    }
    take(packet, 2, 1 + expected, "command header")?;
    Ok(CommandPacket {
        spi,
        kic: Kic(h[3]),
        kid,
        tar: [h[5], h[6], h[7]],
        packet,
    })
}

/// Removes `pcntr` zero padding bytes from the end of `data`.
fn strip_padding(
    mut data: Vec<u8>,
    pcntr: u8,
    cipher: &Option<BlockCipher>,
) -> Result<Vec<u8>, Scp80Error> {
    let bad = Scp80Error::BadPadding { pcntr };
    let n = usize::from(pcntr);
    match cipher {
        None if n != 0 => return Err(bad),
        Some(c) if n >= c.block_size() => return Err(bad),
        _ => {}
    }
    let keep = data.len().checked_sub(n).ok_or(bad.clone())?;
    if data[keep..].iter().any(|b| *b != 0) {
        return Err(bad);
    }
    data.truncate(keep);
    Ok(data)
}

impl CommandPacket<'_> {
    /// Deciphers (if SPI says so), verifies the CC and removes the padding (ETSI TS 102 225 §5.1). The counter is
    /// returned, not checked: the receiver calls [`check_counter`] with its stored value.
    pub fn open(&self, keys: &KeySet) -> Result<OpenedCommand, Scp80Error> {
        let cc_len = self.spi.integrity.field_len("KID", self.kid.0)?;
        let cipher = block_size(self.spi.ciphering, self.kic, keys)?;
        let secured_start = COMMAND_SECURED_START;
        let mut buf = self.packet.to_vec();
        let secured = &mut buf[secured_start..];
        if let Some(c) = &cipher {
            zero_iv_cbc(c, secured, true)?;
        }
        let mut counter = [0u8; 5];
        counter.copy_from_slice(&buf[secured_start..secured_start + 5]);
        let pcntr = buf[secured_start + 5];
        let cc_pos = secured_start + 6;
        if buf.len() < cc_pos + cc_len {
            return Err(Scp80Error::Truncated {
                field: "CC",
                offset: cc_pos,
                needed: cc_len,
            });
        }
        if cc_len > 0 {
            let received: Vec<u8> = buf.drain(cc_pos..cc_pos + cc_len).collect();
            let expected = self.kid.cc(&keys.kid, &buf)?;
            if !crate::constant_time_eq(&received, &expected) {
                return Err(Scp80Error::CcMismatch);
            }
        }
        let data = strip_padding(buf.split_off(cc_pos), pcntr, &cipher)?;
        Ok(OpenedCommand {
            header: CommandHeader {
                spi: self.spi,
                kic: self.kic,
                kid: self.kid,
                tar: self.tar,
                counter: Counter(counter),
            },
            pcntr,
            data,
        })
    }
}

/// A response packet (PoR) in clear (ETSI TS 102 225 §5.2; wire-profile §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePacket {
    /// TAR of the command answered.
    pub tar: [u8; 3],
    /// Counter of the command answered.
    pub counter: Counter,
    /// Status.
    pub status: PorStatus,
    /// Additional response data (the response script), padding removed.
    pub data: Vec<u8>,
}

/// Builds a PoR `RPL | RHL | TAR | CNTR | PCNTR | status | CC | data+padding` secured as the command's SPI byte 2
/// asks, with the command's KIc/KID keys; the CC covers [`wire_profile::POR_CC_UDH`] (ETSI TS 102 225 §5.2,
/// 3GPP TS 31.115 §4.2; wire-profile §2).
pub fn build_por(
    spi: &Spi,
    kic: Kic,
    kid: Kid,
    keys: &KeySet,
    por: &ResponsePacket,
) -> Result<Vec<u8>, Scp80Error> {
    let cc_len = spi.por_integrity.field_len("KID", kid.0)?;
    let cipher = block_size(spi.por_ciphered, kic, keys)?;
    let pad = padding_len(&cipher, 5 + 1 + 1 + cc_len + por.data.len());
    let rhl = 10 + cc_len;
    let rpl = len16(1 + rhl + por.data.len() + pad)?;
    let mut buf = Vec::with_capacity(3 + 2 + 1 + rhl + por.data.len() + pad);
    buf.extend_from_slice(&wire_profile::POR_CC_UDH);
    let start = buf.len();
    buf.extend_from_slice(&rpl);
    buf.push(rhl as u8);
    buf.extend_from_slice(&por.tar);
    let secured_start = buf.len();
    buf.extend_from_slice(&por.counter.0);
    buf.push(pad as u8);
    buf.push(por.status.to_byte());
    let cc_pos = buf.len();
    buf.extend_from_slice(&por.data);
    buf.resize(buf.len() + pad, 0);
    if cc_len > 0 {
        let cc = kid.cc(&keys.kid, &buf)?;
        buf.splice(cc_pos..cc_pos, cc);
    }
    if let Some(c) = cipher {
        zero_iv_cbc(&c, &mut buf[secured_start..], false)?;
    }
    Ok(buf.split_off(start))
}

/// Opens a PoR (from RPL on) answering a command sent with `spi`, `kic`, `kid` to `expected_tar`: deciphers,
/// verifies the CC over [`wire_profile::POR_CC_UDH`] and the packet, strips the padding (ETSI TS 102 225 §5.2).
pub fn open_por(
    packet: &[u8],
    spi: &Spi,
    kic: Kic,
    kid: Kid,
    keys: &KeySet,
    expected_tar: [u8; 3],
) -> Result<ResponsePacket, Scp80Error> {
    let rpl = take(packet, 0, 2, "RPL")?;
    let rpl = usize::from(u16::from_be_bytes([rpl[0], rpl[1]]));
    if rpl != packet.len() - 2 {
        return Err(Scp80Error::LengthMismatch {
            field: "RPL",
            declared: rpl,
            actual: packet.len() - 2,
        });
    }
    let cc_len = spi.por_integrity.field_len("KID", kid.0)?;
    let rhl = usize::from(take(packet, 2, 1, "RHL")?[0]);
    if rhl != 10 + cc_len {
        return Err(Scp80Error::HeaderLength {
            field: "RHL",
            declared: rhl,
            expected: 10 + cc_len,
        });
    }
    take(packet, 3, rhl, "response header")?;
    let tar = [packet[3], packet[4], packet[5]];
    if tar != expected_tar {
        return Err(Scp80Error::TarMismatch {
            expected: expected_tar,
            found: tar,
        });
    }
    let cipher = block_size(spi.por_ciphered, kic, keys)?;
    let mut buf = wire_profile::POR_CC_UDH.to_vec();
    let base = buf.len();
    buf.extend_from_slice(packet);
    let secured_start = base + 6;
    if let Some(c) = &cipher {
        zero_iv_cbc(c, &mut buf[secured_start..], true)?;
    }
    let mut counter = [0u8; 5];
    counter.copy_from_slice(&buf[secured_start..secured_start + 5]);
    let pcntr = buf[secured_start + 5];
    let status_byte = buf[secured_start + 6];
    let cc_pos = secured_start + 7;
    if cc_len > 0 {
        let received: Vec<u8> = buf.drain(cc_pos..cc_pos + cc_len).collect();
        let expected = kid.cc(&keys.kid, &buf)?;
        if !crate::constant_time_eq(&received, &expected) {
            return Err(Scp80Error::CcMismatch);
        }
    }
    let status = PorStatus::from_byte(status_byte)?;
    let data = strip_padding(buf.split_off(cc_pos), pcntr, &cipher)?;
    Ok(ResponsePacket {
        tar,
        counter: Counter(counter),
        status,
        data,
    })
}
