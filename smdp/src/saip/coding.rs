//! Codings of the personalised file contents: ICCID (ETSI TS 102 221 §13.2), IMSI (3GPP TS 31.102 §4.2.2),
//! access control class (TS 31.102 §4.2.15), MSISDN (TS 31.102 §4.2.26) and the Luhn check digit
//! (ISO/IEC 7812-1 Annex B).

/// Whether every byte is an ASCII decimal digit (and there is at least one).
pub fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the last digit is the Luhn check digit of the others (ISO/IEC 7812-1 Annex B).
pub fn luhn_valid(digits: &str) -> bool {
    if digits.len() < 2 || !all_digits(digits) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The Luhn check digit to append to `body` (ISO/IEC 7812-1 Annex B); `None` if `body` is not all digits.
pub fn luhn_check_digit(body: &str) -> Option<u8> {
    if !all_digits(body) {
        return None;
    }
    (0..10u8).find(|d| luhn_valid(&format!("{body}{d}")))
}

fn nibble(c: u8) -> u8 {
    c - b'0'
}

/// The header ICCID (TCA PEDefinitions `ProfileHeader.iccid`): 10 octets of plain BCD, first digit in the high
/// nibble, padded with `F` (a 19-digit ICCID ends in `…dF`). `None` unless 19 or 20 digits.
pub fn iccid_header_bcd(iccid: &str) -> Option<[u8; 10]> {
    if !(19..=20).contains(&iccid.len()) || !all_digits(iccid) {
        return None;
    }
    let d = iccid.as_bytes();
    let mut out = [0xFFu8; 10];
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = nibble(d[2 * i]);
        let lo = d.get(2 * i + 1).map_or(0x0F, |c| nibble(*c));
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

/// EF.ICCID contents (ETSI TS 102 221 §13.2): 10 octets of nibble-swapped BCD, `F`-padded. `None` unless 19
/// or 20 digits.
pub fn iccid_ef(iccid: &str) -> Option<[u8; 10]> {
    iccid_header_bcd(iccid).map(|h| h.map(|b| b.rotate_left(4)))
}

/// Reads 10 octets of plain BCD (header ICCID) back to 19 or 20 digits; `None` if the coding is invalid.
pub fn iccid_from_header_bcd(bcd: &[u8]) -> Option<String> {
    if bcd.len() != 10 {
        return None;
    }
    let mut s = String::with_capacity(20);
    for (i, b) in bcd.iter().enumerate() {
        let (hi, lo) = (b >> 4, b & 0x0F);
        if hi > 9 {
            return None;
        }
        s.push(char::from(b'0' + hi));
        if lo == 0x0F && i == 9 {
            break;
        }
        if lo > 9 {
            return None;
        }
        s.push(char::from(b'0' + lo));
    }
    Some(s)
}

/// EF.IMSI contents (3GPP TS 31.102 §4.2.2): length octet, then the parity/type nibble `1` (even) or `9` (odd)
/// and the digits in swapped BCD, padded with `F` to 9 octets. `None` unless 6 to 15 digits.
pub fn imsi_ef(imsi: &str) -> Option<[u8; 9]> {
    if !(6..=15).contains(&imsi.len()) || !all_digits(imsi) {
        return None;
    }
    let n = imsi.len();
    let parity: u8 = if n % 2 == 1 { 0x09 } else { 0x01 };
    let mut nibbles = Vec::with_capacity(16);
    nibbles.push(parity);
    nibbles.extend(imsi.bytes().map(nibble));
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0F);
    }
    let mut out = [0xFFu8; 9];
    out[0] = (nibbles.len() / 2) as u8;
    for (i, pair) in nibbles.chunks(2).enumerate() {
        out[1 + i] = (pair[1] << 4) | pair[0];
    }
    Some(out)
}

/// Reads EF.IMSI contents back to digits (3GPP TS 31.102 §4.2.2), checking the length octet, the parity nibble
/// and the padding; the error names what is wrong.
pub fn imsi_from_ef(ef: &[u8]) -> Result<String, &'static str> {
    let (&len, rest) = ef.split_first().ok_or("EF.IMSI is empty")?;
    let len = usize::from(len);
    if !(1..=8).contains(&len) || rest.len() < len {
        return Err("EF.IMSI length octet out of range");
    }
    if rest[len..].iter().any(|b| *b != 0xFF) {
        return Err("EF.IMSI padding after the IMSI is not FF");
    }
    let mut nibbles = Vec::with_capacity(16);
    for b in &rest[..len] {
        nibbles.push(b & 0x0F);
        nibbles.push(b >> 4);
    }
    let parity = nibbles[0];
    let odd = match parity {
        0x09 => true,
        0x01 => false,
        _ => return Err("EF.IMSI parity/type nibble is neither 1 nor 9"),
    };
    let mut digits = &nibbles[1..];
    if !odd {
        if digits.last() != Some(&0x0F) {
            return Err("EF.IMSI even parity without F filler");
        }
        digits = &digits[..digits.len() - 1];
    }
    if digits.iter().any(|d| *d > 9) {
        return Err("EF.IMSI holds a non-decimal digit");
    }
    if !(6..=15).contains(&digits.len()) {
        return Err("EF.IMSI does not hold 6 to 15 digits");
    }
    Ok(digits.iter().map(|d| char::from(b'0' + d)).collect())
}

/// EF.ACC contents (3GPP TS 31.102 §4.2.15; TS 22.011 §4.2): access class = the last IMSI digit, bit `n` of the
/// 16-bit value. `None` if the IMSI does not end in a digit.
pub fn acc_for_imsi(imsi: &str) -> Option<[u8; 2]> {
    let last = imsi.bytes().last().filter(u8::is_ascii_digit)?;
    Some((1u16 << (last - b'0')).to_be_bytes())
}

/// The last 14 octets of an EF.MSISDN record (3GPP TS 31.102 §4.2.26, TS 31.102 §4.4.2.3 coding of EF.ADN):
/// BCD length, TON/NPI `91` (international, ISDN), 10 octets of swapped BCD `F`-padded, CCP2 `FF`, Ext5 `FF`.
/// `None` unless 1 to 20 digits.
pub fn msisdn_record_tail(msisdn: &str) -> Option<[u8; 14]> {
    if !(1..=20).contains(&msisdn.len()) || !all_digits(msisdn) {
        return None;
    }
    let mut out = [0xFFu8; 14];
    let d = msisdn.as_bytes();
    let bcd_len = d.len().div_ceil(2);
    out[0] = (bcd_len + 1) as u8;
    out[1] = 0x91;
    for i in 0..bcd_len {
        let lo = nibble(d[2 * i]);
        let hi = d.get(2 * i + 1).map_or(0x0F, |c| nibble(*c));
        out[2 + i] = (hi << 4) | lo;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("89000123456789012341"));
        assert!(!luhn_valid("89000123456789012342"));
        assert_eq!(luhn_check_digit("8900012345678901234"), Some(1));
        assert!(luhn_valid("79927398713"));
    }

    #[test]
    fn iccid_codings_match_the_ts48_profile() {
        // TS.48 generic test profile: header 89 00 01 23 45 67 89 01 23 41, EF.ICCID 98 00 10 32 54 76 98 10 32 14.
        let h = iccid_header_bcd("89000123456789012341").unwrap();
        assert_eq!(hex::encode_upper(h), "89000123456789012341");
        let ef = iccid_ef("89000123456789012341").unwrap();
        assert_eq!(hex::encode_upper(ef), "98001032547698103214");
        assert_eq!(
            iccid_from_header_bcd(&h).as_deref(),
            Some("89000123456789012341")
        );
        let h19 = iccid_header_bcd("8949449999999990023").unwrap();
        assert_eq!(hex::encode_upper(h19), "8949449999999990023F");
        assert_eq!(
            iccid_from_header_bcd(&h19).as_deref(),
            Some("8949449999999990023")
        );
        assert_eq!(iccid_header_bcd("123"), None);
    }

    #[test]
    fn imsi_coding_matches_the_ts48_profile() {
        // TS.48: EF.IMSI 08 09 10 10 10 32 54 06 36 = IMSI 001010123456063.
        let ef = imsi_ef("001010123456063").unwrap();
        assert_eq!(hex::encode_upper(ef), "080910101032540636");
        assert_eq!(imsi_from_ef(&ef).unwrap(), "001010123456063");
        let even = imsi_ef("23415012345678").unwrap();
        assert_eq!(hex::encode_upper(even), "0821435110325476F8");
        assert_eq!(imsi_from_ef(&even).unwrap(), "23415012345678");
        assert!(imsi_from_ef(&[0x08, 0x0A, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn acc_and_msisdn() {
        assert_eq!(acc_for_imsi("001010123456063"), Some([0x00, 0x08]));
        assert_eq!(acc_for_imsi("001010123456069"), Some([0x02, 0x00]));
        let t = msisdn_record_tail("447700900123").unwrap();
        assert_eq!(hex::encode_upper(t), "0791447700091032FFFFFFFFFFFF");
    }
}
