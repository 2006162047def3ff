//! Compact identifiers of the simulator: an eUICC of the fleet keeps its EID, MSISDNs, ICCIDs and AIDs in fixed
//! small arrays instead of strings, so that 100,000 simulated eUICCs fit in memory (DESIGN §7).

use core::fmt;

use super::EuiccError;

/// The EID: 32 decimal digits kept as their 16 packed BCD bytes, which is also the value of the notification's
/// `4C` TLV (SGP.02 §2.2.2; wire-profile §4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eid(pub [u8; 16]);

impl Eid {
    /// Parses the 32-digit EID text (SGP.02 §2.2.2).
    pub fn parse(text: &str) -> Result<Eid, EuiccError> {
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EuiccError::BadEid(text.to_string()));
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(text, &mut out).map_err(|_| EuiccError::BadEid(text.to_string()))?;
        Ok(Eid(out))
    }
}

impl fmt::Display for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Eid({self})")
    }
}

/// An MSISDN of 1 to 15 digits (ITU-T E.164) packed into one `u64`: the digits' value in the low 56 bits and the
/// number of digits in the top byte, so that leading zeros survive (SGP.02 EIS `SubscriptionAddress/Msisdn`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(u64);

impl Msisdn {
    /// Parses 1 to 15 decimal digits (ITU-T E.164 §6).
    pub fn parse(text: &str) -> Result<Msisdn, EuiccError> {
        let bad = || EuiccError::BadMsisdn(text.to_string());
        if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let value = text.parse::<u64>().map_err(|_| bad())?;
        Ok(Msisdn(value | ((text.len() as u64) << 56)))
    }

    fn digits(self) -> usize {
        (self.0 >> 56) as usize
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:0width$}",
            self.0 & ((1 << 56) - 1),
            width = self.digits()
        )
    }
}

impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({self})")
    }
}

/// An ICCID of 18 to 20 digits as packed BCD, padded with `F` (ITU-T E.118; SGP.02 EIS `Iccid`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iccid([u8; 10]);

impl Iccid {
    /// Parses 18 to 20 decimal digits (ITU-T E.118 §4.5).
    pub fn parse(text: &str) -> Result<Iccid, EuiccError> {
        if !(18..=20).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EuiccError::BadIccid(text.to_string()));
        }
        let mut out = [0xFFu8; 10];
        for (i, d) in text.bytes().enumerate() {
            let nibble = d - b'0';
            let byte = &mut out[i / 2];
            *byte = if i % 2 == 0 {
                (nibble << 4) | 0x0F
            } else {
                (*byte & 0xF0) | nibble
            };
        }
        Ok(Iccid(out))
    }
}

impl fmt::Display for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            for nibble in [b >> 4, b & 0x0F] {
                if nibble <= 9 {
                    write!(f, "{nibble}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iccid({self})")
    }
}

/// An application identifier of 5 to 16 bytes kept inline (ISO/IEC 7816-5 §8; wire-profile §1).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aid {
    len: u8,
    bytes: [u8; 16],
}

impl Aid {
    /// An AID from its bytes, 5 to 16 of them (ISO/IEC 7816-5 §8).
    pub fn new(bytes: &[u8]) -> Result<Aid, EuiccError> {
        if !(5..=16).contains(&bytes.len()) {
            return Err(EuiccError::BadAid(bytes.len()));
        }
        let mut out = [0u8; 16];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Aid {
            len: bytes.len() as u8,
            bytes: out,
        })
    }

    /// The AID bytes (ISO/IEC 7816-5 §8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Display for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.as_bytes()))
    }
}

impl fmt::Debug for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aid({self})")
    }
}

/// An IMSI of 6 to 15 digits (3GPP TS 23.003 §2.2), packed as [`Msisdn`] is so that leading zeros survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Imsi(Msisdn);

impl Imsi {
    /// Parses 6 to 15 decimal digits (3GPP TS 23.003 §2.2).
    pub fn parse(text: &str) -> Result<Imsi, EuiccError> {
        if text.len() < 6 {
            return Err(EuiccError::BadImsi(text.to_string()));
        }
        Msisdn::parse(text)
            .map(Imsi)
            .map_err(|_| EuiccError::BadImsi(text.to_string()))
    }
}

impl fmt::Display for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Imsi({self})")
    }
}
