//! The TCA eUICC Profile Package (SAIP v3.3.1, module `PEDefinitions`; wire-profile §8): codec, validation,
//! personalisation and the project's sample template.
//!
//! - [`der`]: a minimal DER reader/writer (X.690).
//! - [`pe`]: the profile elements, typed where personalisation needs them, exact bytes elsewhere.
//! - [`ProfilePackage`]: decode a package (a sequence of DER `ProfileElement`s) and encode it back.
//! - [`validate`]: the structural rules run before a template is accepted and before each package leaves.
//! - [`personalise`]: template + [`record::PersonalisationRecord`] → package, by patching a precomputed layout.
//! - [`sample`]: the sample USIM template built by this encoder.
//! - [`bench`]: the personalisation benchmark behind `rsp bench personalise`.

pub mod bench;
pub mod coding;
pub mod der;
pub mod pe;
pub mod personalise;
pub mod record;
pub mod sample;
pub mod secret;
pub mod validate;

use std::fmt;

use der::Reader;
use pe::{Layout, ProfileElement};

/// Which profile element an error is about: position, CHOICE name, `PEHeader.identification`, byte offset
/// (PEDefinitions v3.3.1 `ProfileElement`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementRef {
    /// Index of the element in the package, from 0.
    pub index: usize,
    /// The CHOICE alternative name (`"akaParameter"`…).
    pub kind: &'static str,
    /// `PEHeader.identification`, when known.
    pub identification: Option<u16>,
    /// Byte offset of the element's first octet in the package.
    pub offset: usize,
}

impl fmt::Display for ElementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.identification {
            Some(id) => write!(
                f,
                "element {} ({}, identification {}) at offset {}",
                self.index, self.kind, id, self.offset
            ),
            None => write!(
                f,
                "element {} ({}) at offset {}",
                self.index, self.kind, self.offset
            ),
        }
    }
}

/// Errors of the profile package codec, validation and personalisation (TCA PEDefinitions v3.3.1). Messages
/// name the element and offset, never a secret value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaipError {
    /// The DER of an element is malformed (truncated, non-DER form, wrong field…).
    #[error("{element}: malformed at offset {offset}: {reason}")]
    Malformed {
        /// The element.
        element: ElementRef,
        /// Absolute offset of the fault.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The package as a whole breaks a limit (size, element count) or is empty.
    #[error("package: {reason} (offset {offset})")]
    Package {
        /// Absolute offset concerned.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// An element breaks a validation rule.
    #[error("{element}: {reason}")]
    Invalid {
        /// The element.
        element: ElementRef,
        /// The rule broken.
        reason: String,
    },
    /// The template cannot be personalised with this record (a target value is missing or has another size).
    #[error("template: {0}")]
    Template(String),
    /// A personalisation record value is invalid (the value itself is never shown).
    #[error("record field {field}: {reason}")]
    Record {
        /// The field name (`"ICCID"`, `"K"`…).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Limits on what a package may be (plausibility checks; TCA PEDefinitions v3.3.1 sets none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted package, in bytes.
    pub max_package_bytes: usize,
    /// Largest accepted number of profile elements.
    pub max_elements: usize,
}

impl Default for Limits {
    /// 1 MiB and 1,024 elements: the TS.48 test profiles are about 12 KB with 30 elements.
    fn default() -> Self {
        Limits {
            max_package_bytes: 1 << 20,
            max_elements: 1024,
        }
    }
}

/// An unprotected profile package: the sequence of `ProfileElement`s (TCA PEDefinitions v3.3.1; SGP.02 §2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfilePackage {
    /// The elements in package order.
    pub elements: Vec<ProfileElement>,
}

impl ProfilePackage {
    /// Decodes a package with the default [`Limits`] (TCA PEDefinitions v3.3.1).
    pub fn decode(bytes: &[u8]) -> Result<ProfilePackage, SaipError> {
        Self::decode_with_limits(bytes, &Limits::default())
    }

    /// Decodes a package, refusing one beyond `limits`.
    pub fn decode_with_limits(bytes: &[u8], limits: &Limits) -> Result<ProfilePackage, SaipError> {
        decode_with_layout(bytes, limits).map(|(p, _)| p)
    }

    /// Encodes the package: the concatenation of the elements' DER.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.elements {
            e.encode_into(&mut out);
        }
        out
    }

    /// The byte offset of each element in the encoded package.
    pub fn element_offsets(&self) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.elements.len());
        let mut at = 0;
        for e in &self.elements {
            offsets.push(at);
            at += e.encode().len();
        }
        offsets
    }

    /// A reference to element `index` for error messages (computes its offset).
    pub fn element_ref(&self, index: usize) -> ElementRef {
        let offset = self.elements[..index.min(self.elements.len())]
            .iter()
            .map(|e| e.encode().len())
            .sum();
        match self.elements.get(index) {
            Some(e) => ElementRef {
                index,
                kind: e.kind(),
                identification: e.identification(),
                offset,
            },
            None => ElementRef {
                index,
                kind: "none",
                identification: None,
                offset,
            },
        }
    }

    /// The profile header, when the first element is one.
    pub fn header(&self) -> Option<&pe::ProfileHeader> {
        match self.elements.first() {
            Some(ProfileElement::Header(h)) => Some(h),
            _ => None,
        }
    }
}

/// Decodes a package and gathers the byte ranges of its personalisable values.
pub(crate) fn decode_with_layout(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(ProfilePackage, Layout), SaipError> {
    if bytes.len() > limits.max_package_bytes {
        return Err(SaipError::Package {
            offset: limits.max_package_bytes,
            reason: format!(
                "{} bytes, above the limit of {}",
                bytes.len(),
                limits.max_package_bytes
            ),
        });
    }
    let mut layout = Layout::default();
    let mut elements = Vec::new();
    let mut reader = Reader::new(bytes, 0);
    let mut security_domains = 0;
    while !reader.is_empty() {
        let index = elements.len();
        let start = reader.offset();
        if index == limits.max_elements {
            return Err(SaipError::Package {
                offset: start,
                reason: format!("more than {} elements", limits.max_elements),
            });
        }
        let element_ref = || {
            let number = der::read_header(&bytes[start..], start)
                .ok()
                .filter(|(t, _, _)| t.class == der::Class::Context)
                .map(|(t, _, _)| t.number);
            ElementRef {
                index,
                kind: number.map_or("unknown", pe::element_name),
                identification: pe::peek_identification(&bytes[start..], start),
                offset: start,
            }
        };
        let tlv = reader.read().map_err(|e| SaipError::Malformed {
            element: element_ref(),
            offset: e.offset,
            reason: e.fault.to_string(),
        })?;
        let element =
            pe::decode_element(&tlv, index, security_domains, &mut layout).map_err(|e| {
                SaipError::Malformed {
                    element: element_ref(),
                    offset: e.offset,
                    reason: e.reason,
                }
            })?;
        if matches!(element, ProfileElement::SecurityDomain(_)) {
            security_domains += 1;
        }
        layout.element_offsets.push(start);
        elements.push(element);
    }
    Ok((ProfilePackage { elements }, layout))
}
