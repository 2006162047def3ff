//! Personalisation: template + [`PersonalisationRecord`] → profile package (wire-profile §8; TCA PEDefinitions
//! v3.3.1 §8.3 file contents, §8.5 PIN/PUK, §8.6 security domain keys, §8.8 AKA parameters).
//!
//! The template is validated and decoded once; its encoding and the byte ranges of every value to fill are kept
//! (a [`Personaliser`]). Each record then costs one copy of the template, a few in-place writes of values that
//! have fixed sizes, and a decode + validation of the result, so that no package leaves unvalidated.
//!
//! What is written, per record:
//! - `ProfileHeader.iccid` (plain BCD) and EF.ICCID in the MF (swapped BCD), both `F`-padded;
//! - EF.IMSI (TS 31.102 §4.2.2) and EF.ACC (class = last IMSI digit) of the first USIM;
//! - `algorithmID`, `key` and `opc` of every AKA parameter element holding an `algoParameter`;
//! - every `pinValue` with key reference `01` (PIN1), `81` (PIN2), `0A` (ADM1), every `pukValue` with key
//!   reference `01` (PUK1) and `81` (PUK2);
//! - with an MSISDN: the last 14 bytes of EF.MSISDN in the first opt-USIM (TS 31.102 §4.2.26);
//! - with OTA keys: the `keyData` of key identifiers 1, 2, 3 of that key version in the first security domain
//!   (the MNO-SD).

use std::ops::Range;

use super::pe::{Layout, ProfileElement, Slot, mf_field, opt_usim_field, usim_field};
use super::record::PersonalisationRecord;
use super::{Limits, ProfilePackage, SaipError, coding, decode_with_layout, validate};

/// PIN key references (TCA PEDefinitions `PINKeyReferenceValue`).
const PIN1: u8 = 0x01;
const PIN2: u8 = 0x81;
const ADM1: u8 = 0x0A;
/// PUK key references (TCA PEDefinitions `PUKKeyReferenceValue`).
const PUK1: u8 = 0x01;
const PUK2: u8 = 0x81;

/// A template prepared for fast personalisation: its bytes and where each value goes (wire-profile §8).
#[derive(Clone, Debug)]
pub struct Personaliser {
    base: Vec<u8>,
    limits: Limits,
    header_iccid: Range<usize>,
    ef_iccid: Range<usize>,
    ef_imsi: Range<usize>,
    ef_acc: Range<usize>,
    ef_msisdn: Option<Range<usize>>,
    aka: Vec<AkaSlots>,
    pins: Vec<(u8, Range<usize>)>,
    puks: Vec<(u8, Range<usize>)>,
    sd_keys: Vec<(u8, u8, Range<usize>)>,
}

#[derive(Clone, Debug)]
struct AkaSlots {
    algorithm_id: Range<usize>,
    key: Range<usize>,
    opc: Range<usize>,
}

fn template_err(reason: impl Into<String>) -> SaipError {
    SaipError::Template(reason.into())
}

/// The single `fillFileContent` of a file, of the given length (or at least `min_len` when `exact` is false).
fn one_content(
    layout: &Layout,
    element: usize,
    field: u32,
    len: usize,
    exact: bool,
    what: &str,
) -> Result<Range<usize>, SaipError> {
    let mut found = layout.slots.iter().filter_map(|(s, r)| match s {
        Slot::FileContent {
            element: e,
            field: f,
        } if *e == element && *f == field => Some(r.clone()),
        _ => None,
    });
    let (Some(r), None) = (found.next(), found.next()) else {
        return Err(template_err(format!(
            "{what} must have exactly one fillFileContent"
        )));
    };
    if (exact && r.len() != len) || r.len() < len {
        return Err(template_err(format!(
            "{what} content is {} bytes, {len} expected",
            r.len()
        )));
    }
    Ok(r)
}

impl Personaliser {
    /// Validates and decodes the template and records where each personalised value goes.
    pub fn new(template: &[u8], limits: Limits) -> Result<Personaliser, SaipError> {
        let (package, layout) = decode_with_layout(template, &limits)?;
        validate::validate(&package, &limits)?;
        let find = |want: fn(&ProfileElement) -> bool| package.elements.iter().position(want);
        let mf = 1;
        let usim = find(|e| matches!(e, ProfileElement::Usim(_)))
            .ok_or_else(|| template_err("no usim element"))?;
        let header_iccid = layout
            .slots
            .iter()
            .find(|(s, _)| *s == Slot::HeaderIccid)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| template_err("no header iccid"))?;
        let ef_iccid = one_content(&layout, mf, mf_field::EF_ICCID, 10, true, "EF.ICCID")?;
        let ef_imsi = one_content(&layout, usim, usim_field::EF_IMSI, 9, true, "EF.IMSI")?;
        let ef_acc = one_content(&layout, usim, usim_field::EF_ACC, 2, true, "EF.ACC")?;
        // EF.MSISDN is optional: without a usable one, only records without an MSISDN can be personalised.
        let ef_msisdn = find(|e| matches!(e, ProfileElement::OptUsim(_)))
            .and_then(|opt| {
                one_content(
                    &layout,
                    opt,
                    opt_usim_field::EF_MSISDN,
                    14,
                    false,
                    "EF.MSISDN",
                )
                .ok()
            })
            .map(|r| r.end - 14..r.end);
        let mut aka = Vec::new();
        for (i, e) in package.elements.iter().enumerate() {
            if let ProfileElement::AkaParameter(_) = e {
                let get = |want: Slot| {
                    layout
                        .slots
                        .iter()
                        .find(|(s, _)| *s == want)
                        .map(|(_, r)| r.clone())
                };
                if let (Some(algorithm_id), Some(key), Some(opc)) = (
                    get(Slot::AkaAlgorithmId { element: i }),
                    get(Slot::AkaKey { element: i }),
                    get(Slot::AkaOpc { element: i }),
                ) {
                    if algorithm_id.len() != 1 || key.len() != 16 || opc.len() != 16 {
                        return Err(template_err(format!(
                            "akaParameter element {i} has a key or OPc that is not 16 bytes"
                        )));
                    }
                    aka.push(AkaSlots {
                        algorithm_id,
                        key,
                        opc,
                    });
                }
            }
        }
        if aka.is_empty() {
            return Err(template_err("no akaParameter with an algoParameter"));
        }
        let pins: Vec<(u8, Range<usize>)> = layout
            .slots
            .iter()
            .filter_map(|(s, r)| match s {
                Slot::PinValue { key_reference } => Some((*key_reference, r.clone())),
                _ => None,
            })
            .collect();
        let puks: Vec<(u8, Range<usize>)> = layout
            .slots
            .iter()
            .filter_map(|(s, r)| match s {
                Slot::PukValue { key_reference } => Some((*key_reference, r.clone())),
                _ => None,
            })
            .collect();
        for (name, list, reference) in [
            ("PIN1", &pins, PIN1),
            ("PIN2", &pins, PIN2),
            ("ADM1", &pins, ADM1),
            ("PUK1", &puks, PUK1),
            ("PUK2", &puks, PUK2),
        ] {
            if !list.iter().any(|(k, _)| *k == reference) {
                return Err(template_err(format!(
                    "no {name} (key reference {reference:#04x})"
                )));
            }
        }
        let sd_keys = layout
            .slots
            .iter()
            .filter_map(|(s, r)| match s {
                Slot::KeyData { sd: 0, kvn, key_id } => Some((*kvn, *key_id, r.clone())),
                _ => None,
            })
            .collect();
        Ok(Personaliser {
            base: template.to_vec(),
            limits,
            header_iccid,
            ef_iccid,
            ef_imsi,
            ef_acc,
            ef_msisdn,
            aka,
            pins,
            puks,
            sd_keys,
        })
    }

    /// The template's bytes.
    pub fn template(&self) -> &[u8] {
        &self.base
    }

    /// Personalises one package and validates it by decoding it again (wire-profile §8).
    pub fn personalise(&self, record: &PersonalisationRecord) -> Result<Vec<u8>, SaipError> {
        record.check()?;
        let bad = |field: &'static str, reason: &str| SaipError::Record {
            field,
            reason: reason.to_owned(),
        };
        let header = coding::iccid_header_bcd(&record.iccid)
            .ok_or_else(|| bad("ICCID", "not 19 or 20 digits"))?;
        let imsi =
            coding::imsi_ef(&record.imsi).ok_or_else(|| bad("IMSI", "not 6 to 15 digits"))?;
        let acc = coding::acc_for_imsi(&record.imsi).ok_or_else(|| bad("IMSI", "no last digit"))?;
        let mut out = self.base.clone();
        let mut put =
            |range: &Range<usize>, value: &[u8]| out[range.clone()].copy_from_slice(value);
        put(&self.header_iccid, &header);
        put(&self.ef_iccid, &header.map(|b| b.rotate_left(4)));
        put(&self.ef_imsi, &imsi);
        put(&self.ef_acc, &acc);
        for a in &self.aka {
            put(&a.algorithm_id, &[record.algorithm as u8]);
            put(&a.key, record.k.expose());
            put(&a.opc, record.opc.expose());
        }
        for (reference, range) in &self.pins {
            match *reference {
                PIN1 => put(range, record.pin1.expose()),
                PIN2 => put(range, record.pin2.expose()),
                ADM1 => put(range, record.adm1.expose()),
                _ => {}
            }
        }
        for (reference, range) in &self.puks {
            match *reference {
                PUK1 => put(range, record.puk1.expose()),
                PUK2 => put(range, record.puk2.expose()),
                _ => {}
            }
        }
        if let Some(m) = &record.msisdn {
            let range = self.ef_msisdn.as_ref().ok_or_else(|| {
                template_err("an MSISDN is given but the template has no EF.MSISDN")
            })?;
            let tail =
                coding::msisdn_record_tail(m).ok_or_else(|| bad("MSISDN", "not 1 to 20 digits"))?;
            put(range, &tail);
        }
        if let Some(ota) = &record.ota_keys {
            for (key_id, key) in [(1u8, &ota.kic), (2, &ota.kid), (3, &ota.kik)] {
                let mut slots = self
                    .sd_keys
                    .iter()
                    .filter(|(v, k, _)| *v == ota.kvn && *k == key_id);
                let (Some((_, _, range)), None) = (slots.next(), slots.next()) else {
                    return Err(template_err(format!(
                        "the MNO-SD has no single key {key_id} of version {:#04x}",
                        ota.kvn
                    )));
                };
                if range.len() != key.len() {
                    return Err(template_err(format!(
                        "MNO-SD key {key_id} of version {:#04x} is {} bytes, the record's is {}",
                        ota.kvn,
                        range.len(),
                        key.len()
                    )));
                }
                put(range, key.expose());
            }
        }
        validate::validate_bytes(&out, &self.limits)?;
        Ok(out)
    }
}

/// Personalises a template in one call (prepares a [`Personaliser`] each time; use one for batches).
pub fn personalise(
    template: &ProfilePackage,
    record: &PersonalisationRecord,
) -> Result<Vec<u8>, SaipError> {
    Personaliser::new(&template.encode(), Limits::default())?.personalise(record)
}
