//! Validation of a profile package before a template is accepted and before each package leaves
//! (TCA eUICC Profile Package v3.3.1 §8.1 and §8.2: element order and presence; wire-profile §8).
//!
//! Rules:
//! - the first element is the header, the second the MF, the last the end; exactly one of each;
//! - at most one of each file-system PE (`cd`, `telecom`, `usim`, …), except `usim`/`isim`/`csim` when the
//!   header lists `multiple-usim`/`multiple-isim`/`multiple-csim`; `opt-usim`, `gsm-access`, `df-5gs`,
//!   `df-saip` need `usim`, `opt-isim` needs `isim`, `opt-csim` needs `csim`;
//! - every mandatory service of the header has its element: `usim`/`isim`/`csim` → that PE, `milenage` →
//!   an AKA parameter with algorithm 1, `tuak128` → algorithm 2 with a 16-byte key, `usim-test-algorithm` →
//!   algorithm 3, `cave` → a CDMA parameter;
//! - `PEHeader.identification` values are unique;
//! - the header ICCID is BCD (19 or 20 digits) and EF.ICCID holds the same ICCID nibble-swapped;
//! - EF.IMSI holds a valid TS 31.102 IMSI (6 to 15 digits);
//! - AKA key and OPc sizes fit the algorithm; a PIN's `unblockingPINReference` names a PUK that exists;
//! - the package stays within [`Limits`].

use std::collections::HashSet;

use super::coding;
use super::pe::{
    self, AlgoConfiguration, PinCodes, ProfileElement, Service, mf_field, tag_number, usim_field,
};
use super::{Limits, ProfilePackage, SaipError};

/// Decodes and validates a package in one step (TCA PEDefinitions v3.3.1; wire-profile §8).
pub fn validate_bytes(bytes: &[u8], limits: &Limits) -> Result<ProfilePackage, SaipError> {
    let package = ProfilePackage::decode_with_limits(bytes, limits)?;
    validate(&package, limits)?;
    Ok(package)
}

/// Checks the structural rules listed in the module documentation; the error names the first element that
/// breaks one, with its byte offset.
pub fn validate(package: &ProfilePackage, limits: &Limits) -> Result<(), SaipError> {
    let elements = &package.elements;
    let invalid = |index: usize, reason: String| SaipError::Invalid {
        element: package.element_ref(index),
        reason,
    };
    if elements.is_empty() {
        return Err(SaipError::Package {
            offset: 0,
            reason: "empty package".into(),
        });
    }
    if elements.len() > limits.max_elements {
        return Err(SaipError::Package {
            offset: 0,
            reason: format!("more than {} elements", limits.max_elements),
        });
    }
    let Some(ProfileElement::Header(header)) = elements.first() else {
        return Err(invalid(0, "the first element must be the header".into()));
    };
    if !matches!(elements.get(1), Some(ProfileElement::Mf(_))) {
        return Err(invalid(1, "the second element must be the MF".into()));
    }
    let last = elements.len() - 1;
    if !matches!(elements[last], ProfileElement::End(_)) {
        return Err(invalid(last, "the last element must be the end".into()));
    }
    let services = &header.mandatory_services;
    let mut seen_kinds: Vec<u32> = Vec::new();
    let mut ids = HashSet::new();
    for (i, e) in elements.iter().enumerate() {
        let n = e.tag_number();
        let single = match n {
            tag_number::HEADER | tag_number::MF | tag_number::END => true,
            tag_number::USIM | 20 => !services.contains(Service::MultipleUsim),
            tag_number::ISIM | 22 => !services.contains(Service::MultipleIsim),
            tag_number::CSIM | 26 => !services.contains(Service::MultipleCsim),
            17 | 18 | 23 | 24 | 27..=33 => true,
            _ => false,
        };
        if single && seen_kinds.contains(&n) {
            return Err(invalid(i, format!("a second {} element", e.kind())));
        }
        let base = match n {
            20 | 24 | 28 | 29 => Some(tag_number::USIM),
            22 => Some(tag_number::ISIM),
            26 => Some(tag_number::CSIM),
            _ => None,
        };
        if let Some(b) = base
            && !seen_kinds.contains(&b)
        {
            return Err(invalid(
                i,
                format!("{} without a preceding {}", e.kind(), pe::element_name(b)),
            ));
        }
        seen_kinds.push(n);
        if let Some(id) = e.identification()
            && !ids.insert(id)
        {
            return Err(invalid(i, format!("identification {id} used twice")));
        }
    }

    // ICCID: header BCD and EF.ICCID swapped.
    let Some(iccid) = coding::iccid_from_header_bcd(&header.iccid) else {
        return Err(invalid(0, "header iccid is not BCD digits".into()));
    };
    if let ProfileElement::Mf(mf) = &elements[1] {
        let ef = mf
            .file(mf_field::EF_ICCID)
            .and_then(pe::TemplateFile::contents);
        let expected = coding::iccid_ef(&iccid);
        match (ef, expected) {
            (Some(ef), Some(exp)) if ef.as_slice() == exp.as_slice() => {}
            (None, _) => return Err(invalid(1, "EF.ICCID has no content".into())),
            _ => {
                return Err(invalid(
                    1,
                    "EF.ICCID does not match the header iccid (nibble-swapped BCD)".into(),
                ));
            }
        }
    }

    // Per-element content rules; collect what the mandatory services need.
    let mut algorithms: Vec<(u8, usize)> = Vec::new();
    let mut puk_refs = HashSet::new();
    let mut pin_unblocking: Vec<(usize, u8)> = Vec::new();
    for (i, e) in elements.iter().enumerate() {
        match e {
            ProfileElement::Usim(usim) => {
                let Some(ef) = usim
                    .file(usim_field::EF_IMSI)
                    .and_then(pe::TemplateFile::contents)
                else {
                    return Err(invalid(i, "EF.IMSI has no content".into()));
                };
                if let Err(reason) = coding::imsi_from_ef(&ef) {
                    return Err(invalid(i, reason.into()));
                }
            }
            ProfileElement::AkaParameter(aka) => {
                if let AlgoConfiguration::AlgoParameter(a) = &aka.algo_configuration {
                    let (k, o) = (a.key.len(), a.opc.len());
                    let ok = match a.algorithm_id {
                        1 => k == 16 && o == 16,
                        2 => (k == 16 || k == 32) && o == 32,
                        3 => k == 16,
                        _ => {
                            return Err(invalid(
                                i,
                                format!("unknown algorithmID {}", a.algorithm_id),
                            ));
                        }
                    };
                    if !ok {
                        return Err(invalid(
                            i,
                            format!(
                                "key of {k} bytes and OPc of {o} bytes do not fit algorithmID {}",
                                a.algorithm_id
                            ),
                        ));
                    }
                    algorithms.push((a.algorithm_id, k));
                }
            }
            ProfileElement::PukCodes(p) => {
                puk_refs.extend(p.puk_codes.iter().map(|c| c.key_reference));
            }
            ProfileElement::PinCodes(p) => {
                if let PinCodes::PinConfig(list) = &p.pin_codes {
                    pin_unblocking.extend(
                        list.iter()
                            .filter_map(|c| c.unblocking_pin_reference.map(|u| (i, u))),
                    );
                }
            }
            _ => {}
        }
    }
    for (i, puk) in pin_unblocking {
        if !puk_refs.contains(&puk) {
            return Err(invalid(
                i,
                format!("unblockingPINReference {puk:#04x} names no PUK in pukCodes"),
            ));
        }
    }

    // Mandatory services.
    let has = |n: u32| seen_kinds.contains(&n);
    let checks: [(Service, bool, &str); 7] = [
        (Service::Usim, has(tag_number::USIM), "a usim element"),
        (Service::Isim, has(tag_number::ISIM), "an isim element"),
        (Service::Csim, has(tag_number::CSIM), "a csim element"),
        (
            Service::Milenage,
            algorithms.iter().any(|(a, _)| *a == 1),
            "an akaParameter with algorithmID milenage(1)",
        ),
        (
            Service::Tuak128,
            algorithms.iter().any(|(a, k)| *a == 2 && *k == 16),
            "an akaParameter with algorithmID tuak(2) and a 16-byte key",
        ),
        (
            Service::UsimTestAlgorithm,
            algorithms.iter().any(|(a, _)| *a == 3),
            "an akaParameter with algorithmID usim-test-algorithm(3)",
        ),
        (
            Service::Cave,
            has(tag_number::CDMA_PARAMETER),
            "a cdmaParameter element",
        ),
    ];
    for (service, present, what) in checks {
        if services.contains(service) && !present {
            return Err(invalid(
                0,
                format!("mandatory service {service:?} listed but the package has no {what}"),
            ));
        }
    }
    Ok(())
}
