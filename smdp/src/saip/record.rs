//! The personalisation record: the per-card values put into a template (wire-profile §8; DESIGN §4
//! "Warehouse": ICCID, IMSI, K/OPc, PIN/PUK/ADM, OTA keys), and the checks of their text forms used by the batch
//! file parsers. Reasons never contain the value.

use super::coding;
use super::secret::SecretBytes;
use super::{SaipError, record};

/// `AlgoParameter.algorithmID` values a record can select (TCA PEDefinitions v3.3.1); records carry a 128-bit
/// K and OPc, so TUAK (whose TOPc is 256 bits) is not offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AkaAlgorithm {
    /// `milenage(1)` (3GPP TS 35.206).
    Milenage = 1,
    /// `usim-test-algorithm(3)` (3GPP TS 34.108 §8.1.2).
    UsimTestAlgorithm = 3,
}

/// The SCP80 OTA key set of the MNO-SD (ETSI TS 102 225; GP Card Spec §11.1.8 key identifiers 1, 2, 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtaKeys {
    /// Key version number (`01`–`0F` for SCP80, wire-profile §1).
    pub kvn: u8,
    /// KIc, key identifier 1 (ciphering).
    pub kic: SecretBytes,
    /// KID, key identifier 2 (cryptographic checksum).
    pub kid: SecretBytes,
    /// KIK, key identifier 3 (key encryption).
    pub kik: SecretBytes,
}

/// The values that make a template into one card's profile (wire-profile §8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalisationRecord {
    /// ICCID, 19 or 20 digits with its Luhn digit (ITU-T E.118).
    pub iccid: String,
    /// IMSI, 6 to 15 digits (3GPP TS 23.003 §2.2).
    pub imsi: String,
    /// Subscriber key K, 16 bytes.
    pub k: SecretBytes,
    /// OPc, 16 bytes.
    pub opc: SecretBytes,
    /// The AKA algorithm.
    pub algorithm: AkaAlgorithm,
    /// PIN1 as stored: ASCII digits padded with `FF` to 8 bytes (ETSI TS 102 221 §9.5.1).
    pub pin1: SecretBytes,
    /// PIN2, coded as PIN1.
    pub pin2: SecretBytes,
    /// PUK1, 8 ASCII digits.
    pub puk1: SecretBytes,
    /// PUK2, 8 ASCII digits.
    pub puk2: SecretBytes,
    /// ADM1, 8 bytes (8 ASCII digits or 16 hex digits).
    pub adm1: SecretBytes,
    /// MSISDN digits, international format without `+`.
    pub msisdn: Option<String>,
    /// The MNO-SD SCP80 key set.
    pub ota_keys: Option<OtaKeys>,
}

/// Text forms of a record's fields, as read from an order file; `None` for absent optional columns. Its
/// `Debug` shows the ICCID, IMSI and MSISDN only.
#[derive(Clone, Copy, Default)]
pub struct RecordText<'a> {
    /// ICCID (an `F` filler at the end is accepted and stripped).
    pub iccid: &'a str,
    /// IMSI.
    pub imsi: &'a str,
    /// K, 32 hex digits.
    pub k: &'a str,
    /// OPc, 32 hex digits.
    pub opc: &'a str,
    /// PIN1.
    pub pin1: &'a str,
    /// PUK1.
    pub puk1: &'a str,
    /// PIN2.
    pub pin2: &'a str,
    /// PUK2.
    pub puk2: &'a str,
    /// ADM1.
    pub adm1: &'a str,
    /// MSISDN.
    pub msisdn: Option<&'a str>,
    /// KIc of OTA key set 1, 32 hex digits.
    pub kic1: Option<&'a str>,
    /// KID of OTA key set 1.
    pub kid1: Option<&'a str>,
    /// KIK of OTA key set 1.
    pub kik1: Option<&'a str>,
}

impl std::fmt::Debug for RecordText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordText")
            .field("iccid", &self.iccid)
            .field("imsi", &self.imsi)
            .field("msisdn", &self.msisdn)
            .finish_non_exhaustive()
    }
}

/// Checks an ICCID: 19 or 20 digits, starting `89`, valid Luhn digit (ITU-T E.118; ISO/IEC 7812-1).
pub fn check_iccid(iccid: &str) -> Result<(), &'static str> {
    if !coding::all_digits(iccid) {
        return Err("not all digits");
    }
    if !(19..=20).contains(&iccid.len()) {
        return Err("not 19 or 20 digits");
    }
    if !iccid.starts_with("89") {
        return Err("does not start with 89");
    }
    if !coding::luhn_valid(iccid) {
        return Err("bad Luhn check digit");
    }
    Ok(())
}

/// Strips an ICCID's trailing `F` filler (as in SIM vendor output files).
pub fn strip_iccid_filler(iccid: &str) -> &str {
    iccid.strip_suffix(['F', 'f']).unwrap_or(iccid)
}

/// Checks an IMSI: 6 to 15 digits (3GPP TS 23.003 §2.2).
pub fn check_imsi(imsi: &str) -> Result<(), &'static str> {
    if !coding::all_digits(imsi) {
        return Err("not all digits");
    }
    if !(6..=15).contains(&imsi.len()) {
        return Err("not 6 to 15 digits");
    }
    Ok(())
}

/// Parses a 128-bit key written as 32 hex digits.
pub fn parse_key128(text: &str) -> Result<SecretBytes, &'static str> {
    if text.len() != 32 {
        return Err("not 32 hex digits");
    }
    let mut key = vec![0u8; 16];
    for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
            return Err("not hexadecimal");
        };
        *byte = (hi << 4) | lo;
    }
    Ok(SecretBytes::new(key))
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Codes a PIN (4 to 8 digits) as stored: ASCII padded with `FF` to 8 bytes (ETSI TS 102 221 §9.5.1).
pub fn code_pin(text: &str) -> Result<SecretBytes, &'static str> {
    if !coding::all_digits(text) || !(4..=8).contains(&text.len()) {
        return Err("not 4 to 8 digits");
    }
    let mut v = vec![0xFF; 8];
    v[..text.len()].copy_from_slice(text.as_bytes());
    Ok(SecretBytes::new(v))
}

/// Codes a PUK (8 digits) as stored: 8 ASCII digits (ETSI TS 102 221 §9.5.1).
pub fn code_puk(text: &str) -> Result<SecretBytes, &'static str> {
    if !coding::all_digits(text) || text.len() != 8 {
        return Err("not 8 digits");
    }
    Ok(SecretBytes::from_slice(text.as_bytes()))
}

/// Codes an ADM key: 8 digits (stored as ASCII) or 16 hex digits (stored as 8 bytes).
pub fn code_adm(text: &str) -> Result<SecretBytes, &'static str> {
    if text.len() == 8 && coding::all_digits(text) {
        return Ok(SecretBytes::from_slice(text.as_bytes()));
    }
    if text.len() == 16
        && let Ok(v) = hex::decode(text)
    {
        return Ok(SecretBytes::new(v));
    }
    Err("not 8 digits or 16 hex digits")
}

/// Checks an MSISDN: 1 to 15 digits (ITU-T E.164), international format without `+`.
pub fn check_msisdn(text: &str) -> Result<(), &'static str> {
    if !coding::all_digits(text) || text.len() > 15 {
        return Err("not 1 to 15 digits");
    }
    Ok(())
}

impl PersonalisationRecord {
    /// Builds a record from its text forms, checking every field; on failure lists every bad field (column
    /// name and reason, never the value). The algorithm is Milenage (the order files carry K and OPc).
    pub fn from_text(t: &RecordText<'_>) -> Result<Self, Vec<(&'static str, &'static str)>> {
        let mut errors = Vec::new();
        let iccid = strip_iccid_filler(t.iccid);
        let mut note = |col: &'static str, r: Result<(), &'static str>| {
            if let Err(reason) = r {
                errors.push((col, reason));
            }
        };
        note("ICCID", check_iccid(iccid));
        note("IMSI", check_imsi(t.imsi));
        let k = parse_key128(t.k);
        let opc = parse_key128(t.opc);
        let pin1 = code_pin(t.pin1);
        let puk1 = code_puk(t.puk1);
        let pin2 = code_pin(t.pin2);
        let puk2 = code_puk(t.puk2);
        let adm1 = code_adm(t.adm1);
        note("K", k.as_ref().map(|_| ()).map_err(|e| *e));
        note("OPC", opc.as_ref().map(|_| ()).map_err(|e| *e));
        note("PIN1", pin1.as_ref().map(|_| ()).map_err(|e| *e));
        note("PUK1", puk1.as_ref().map(|_| ()).map_err(|e| *e));
        note("PIN2", pin2.as_ref().map(|_| ()).map_err(|e| *e));
        note("PUK2", puk2.as_ref().map(|_| ()).map_err(|e| *e));
        note("ADM1", adm1.as_ref().map(|_| ()).map_err(|e| *e));
        let msisdn = t.msisdn.filter(|m| !m.is_empty());
        if let Some(m) = msisdn {
            note("MSISDN", check_msisdn(m));
        }
        let ota_text = [("KIC1", t.kic1), ("KID1", t.kid1), ("KIK1", t.kik1)];
        let given = ota_text
            .iter()
            .filter(|(_, v)| v.is_some_and(|s| !s.is_empty()))
            .count();
        let mut ota = Vec::new();
        if given == 3 {
            for (col, v) in ota_text {
                match parse_key128(v.unwrap_or_default()) {
                    Ok(key) => ota.push(key),
                    Err(reason) => errors.push((col, reason)),
                }
            }
        } else if given != 0 {
            for (col, v) in ota_text {
                if v.is_none_or(str::is_empty) {
                    errors.push((col, "KIC1, KID1 and KIK1 must be given together"));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (Ok(k), Ok(opc), Ok(pin1), Ok(puk1), Ok(pin2), Ok(puk2), Ok(adm1)) =
            (k, opc, pin1, puk1, pin2, puk2, adm1)
        else {
            return Err(vec![("record", "inconsistent field check")]);
        };
        let mut ota = ota.into_iter();
        let ota_keys = match (ota.next(), ota.next(), ota.next()) {
            (Some(kic), Some(kid), Some(kik)) => Some(OtaKeys {
                kvn: 1,
                kic,
                kid,
                kik,
            }),
            _ => None,
        };
        Ok(PersonalisationRecord {
            iccid: iccid.to_owned(),
            imsi: t.imsi.to_owned(),
            k,
            opc,
            algorithm: AkaAlgorithm::Milenage,
            pin1,
            pin2,
            puk1,
            puk2,
            adm1,
            msisdn: msisdn.map(str::to_owned),
            ota_keys,
        })
    }

    /// Checks the record's values and sizes before personalisation (the value itself is never reported).
    pub fn check(&self) -> Result<(), SaipError> {
        let bad = |field: &'static str, reason: &str| SaipError::Record {
            field,
            reason: reason.to_owned(),
        };
        record::check_iccid(&self.iccid).map_err(|r| bad("ICCID", r))?;
        record::check_imsi(&self.imsi).map_err(|r| bad("IMSI", r))?;
        for (field, v, len) in [
            ("K", &self.k, 16),
            ("OPC", &self.opc, 16),
            ("PIN1", &self.pin1, 8),
            ("PIN2", &self.pin2, 8),
            ("PUK1", &self.puk1, 8),
            ("PUK2", &self.puk2, 8),
            ("ADM1", &self.adm1, 8),
        ] {
            if v.len() != len {
                return Err(bad(field, &format!("not {len} bytes")));
            }
        }
        if let Some(m) = &self.msisdn {
            record::check_msisdn(m).map_err(|r| bad("MSISDN", r))?;
        }
        if let Some(ota) = &self.ota_keys {
            for (field, v) in [("KIC", &ota.kic), ("KID", &ota.kid), ("KIK", &ota.kik)] {
                if v.len() != 16 {
                    return Err(bad(field, "not 16 bytes"));
                }
            }
        }
        Ok(())
    }
}
