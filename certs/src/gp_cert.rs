//! GP-format certificates (`7F21`): CERT.DP.ECDSA, CERT.SR.ECDSA (signed by the CI) and CERT.ECASD.ECKA (signed
//! by the EUM) — GP Amendment E §4 / GP UICC Configuration §9.2.1, SGP.02 §2.3.2, as pinned in wire-profile §6:
//!
//! ```text
//! 7F21 L { 93 serial, 42 CA id, 5F20 subject id, 95 02 key usage, 5F25 04 effective date (YYYYMMDD BCD),
//!          5F24 04 expiration date, 73 { C8 01 entity type, C9 AKI }, 7F49 { B0 41 04‖X‖Y, F0 01 curve },
//!          5F37 40 r‖s }
//! ```
//!
//! The signature (ECDSA-SHA256 by the issuer, `r ‖ s`) covers the inner TLVs from `93` to the end of `7F49`.
//! Decoding is strict: every tag in this order, shortest BER lengths, nothing else, so that the bytes a
//! signature was verified over are exactly the bytes [`GpCertificate::signed_body`] returns.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::ecc::{Curve, EcError, PrivateKey, PublicKey};
use crate::tlv::{self, Reader, Rules, TlvError};

/// Tag of the certificate template (GP Amendment E).
pub const TAG_CERTIFICATE: u16 = 0x7F21;
/// Certificate serial number.
pub const TAG_SERIAL_NUMBER: u16 = 0x93;
/// CA identifier: the issuer's subject key identifier.
pub const TAG_CA_ID: u16 = 0x42;
/// Subject identifier.
pub const TAG_SUBJECT_ID: u16 = 0x5F20;
/// Key usage (2 bytes).
pub const TAG_KEY_USAGE: u16 = 0x95;
/// Effective date, YYYYMMDD BCD.
pub const TAG_EFFECTIVE_DATE: u16 = 0x5F25;
/// Expiration date, YYYYMMDD BCD.
pub const TAG_EXPIRATION_DATE: u16 = 0x5F24;
/// Discretionary data.
pub const TAG_DISCRETIONARY_DATA: u16 = 0x73;
/// Entity type inside `73` (wire-profile §6 [P]).
pub const TAG_ENTITY_TYPE: u16 = 0xC8;
/// Authority key identifier inside `73`.
pub const TAG_AUTHORITY_KEY_ID: u16 = 0xC9;
/// Public key template.
pub const TAG_PUBLIC_KEY: u16 = 0x7F49;
/// Public key point (SEC1 uncompressed) inside `7F49`.
pub const TAG_PUBLIC_KEY_Q: u16 = 0xB0;
/// Key parameter reference inside `7F49`.
pub const TAG_KEY_PARAMETER_REFERENCE: u16 = 0xF0;
/// Signature `r ‖ s`.
pub const TAG_SIGNATURE: u16 = 0x5F37;

/// Key usage `0080`: digital signature, CERT.DP.ECDSA and CERT.SR.ECDSA (wire-profile §6 [P]).
pub const KEY_USAGE_SIGNATURE: u16 = 0x0080;
/// Key usage `0008`: key agreement, CERT.ECASD.ECKA (wire-profile §6 [P]).
pub const KEY_USAGE_KEY_AGREEMENT: u16 = 0x0008;

/// The kind of entity a GP certificate is issued to (tag `C8` in `73`; wire-profile §6 [P]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    /// `01`: SM-DP (CERT.DP.ECDSA).
    SmDp,
    /// `02`: SM-SR (CERT.SR.ECDSA).
    SmSr,
    /// `03`: eUICC ECASD (CERT.ECASD.ECKA).
    Ecasd,
}

impl EntityType {
    /// The `C8` byte (wire-profile §6).
    pub const fn code(self) -> u8 {
        match self {
            EntityType::SmDp => 0x01,
            EntityType::SmSr => 0x02,
            EntityType::Ecasd => 0x03,
        }
    }

    /// The entity type of a `C8` byte (wire-profile §6).
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(EntityType::SmDp),
            0x02 => Some(EntityType::SmSr),
            0x03 => Some(EntityType::Ecasd),
            _ => None,
        }
    }

    /// The key usage a certificate of this entity type must carry (wire-profile §6).
    pub const fn expected_key_usage(self) -> u16 {
        match self {
            EntityType::SmDp | EntityType::SmSr => KEY_USAGE_SIGNATURE,
            EntityType::Ecasd => KEY_USAGE_KEY_AGREEMENT,
        }
    }
}

/// Errors decoding a GP certificate; each names the byte offset in the `7F21` encoding.
#[derive(Debug, thiserror::Error)]
pub enum GpCertError {
    /// Not well-formed BER-TLV.
    #[error("GP certificate: {0}")]
    Tlv(#[from] TlvError),
    /// A tag other than the one wire-profile §6 puts at this place.
    #[error("GP certificate: expected tag {expected:04X} at offset {offset}, found {found}")]
    UnexpectedTag {
        /// The tag wire-profile §6 requires here.
        expected: u16,
        /// What was found (`end of data` or a tag in hex).
        found: String,
        /// Offset in the certificate encoding.
        offset: usize,
    },
    /// A value with the wrong length or content.
    #[error("GP certificate: invalid value of tag {tag:04X} at offset {offset}: {reason}")]
    InvalidValue {
        /// The tag whose value is wrong.
        tag: u16,
        /// Offset of that TLV.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// Bytes after the certificate or inside a template after its last expected TLV.
    #[error("GP certificate: unexpected trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Offset of the first unexpected byte.
        offset: usize,
    },
    /// The key parameter reference names no supported curve, or the point is not on it.
    #[error("GP certificate: public key at offset {offset}: {source}")]
    PublicKey {
        /// Offset of the `7F49` template.
        offset: usize,
        /// The curve error.
        source: EcError,
    },
}

/// The signed part of a GP certificate: every field from `93` to `7F49` (wire-profile §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpCertificateBody {
    /// `93`: certificate serial number.
    pub serial_number: Vec<u8>,
    /// `42`: CA identifier, the issuer's subject key identifier.
    pub ca_id: Vec<u8>,
    /// `5F20`: subject identifier (SM-DP/SM-SR: the OID as ASCII text; ECASD: the EID's 16 bytes).
    pub subject_id: Vec<u8>,
    /// `95`: key usage, `0080` (signature) or `0008` (key agreement).
    pub key_usage: u16,
    /// `5F25`: effective date (valid from 00:00:00 UTC of this day).
    pub effective_date: Date,
    /// `5F24`: expiration date (valid through 23:59:59 UTC of this day).
    pub expiration_date: Date,
    /// `C8` in `73`: the kind of entity.
    pub entity_type: EntityType,
    /// `C9` in `73`: authority key identifier, the issuer's subject key identifier.
    pub authority_key_id: Vec<u8>,
    /// `7F49`: the subject's public key and its curve (`B0`, `F0`).
    pub public_key: PublicKey,
}

/// A signed GP certificate (`7F21`, wire-profile §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpCertificate {
    body: GpCertificateBody,
    signature: [u8; 64],
}

fn bcd_date(date: Date) -> [u8; 4] {
    let y = date.year().clamp(0, 9999) as u32;
    let m = u32::from(u8::from(date.month()));
    let d = u32::from(date.day());
    let bcd = |v: u32| (((v / 10) << 4) | (v % 10)) as u8;
    [bcd(y / 100), bcd(y % 100), bcd(m), bcd(d)]
}

fn parse_bcd_date(bytes: &[u8]) -> Option<Date> {
    if bytes.len() != 4 {
        return None;
    }
    let mut digits = [0u32; 8];
    for (i, b) in bytes.iter().enumerate() {
        let (hi, lo) = (u32::from(b >> 4), u32::from(b & 0x0F));
        if hi > 9 || lo > 9 {
            return None;
        }
        digits[2 * i] = hi;
        digits[2 * i + 1] = lo;
    }
    let year = digits[..4].iter().fold(0, |a, d| a * 10 + d);
    let month = digits[4] * 10 + digits[5];
    let day = digits[6] * 10 + digits[7];
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
}

impl GpCertificateBody {
    /// The signed bytes: the inner TLVs from `93` to the end of `7F49` (wire-profile §6).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        tlv::encode(TAG_SERIAL_NUMBER, &self.serial_number, &mut out);
        tlv::encode(TAG_CA_ID, &self.ca_id, &mut out);
        tlv::encode(TAG_SUBJECT_ID, &self.subject_id, &mut out);
        tlv::encode(TAG_KEY_USAGE, &self.key_usage.to_be_bytes(), &mut out);
        tlv::encode(TAG_EFFECTIVE_DATE, &bcd_date(self.effective_date), &mut out);
        tlv::encode(
            TAG_EXPIRATION_DATE,
            &bcd_date(self.expiration_date),
            &mut out,
        );
        let mut dd = Vec::with_capacity(32);
        tlv::encode(TAG_ENTITY_TYPE, &[self.entity_type.code()], &mut dd);
        tlv::encode(TAG_AUTHORITY_KEY_ID, &self.authority_key_id, &mut dd);
        tlv::encode(TAG_DISCRETIONARY_DATA, &dd, &mut out);
        let mut pk = Vec::with_capacity(72);
        tlv::encode(
            TAG_PUBLIC_KEY_Q,
            self.public_key.as_sec1_uncompressed(),
            &mut pk,
        );
        tlv::encode(
            TAG_KEY_PARAMETER_REFERENCE,
            &[self.public_key.curve().key_parameter_reference()],
            &mut pk,
        );
        tlv::encode(TAG_PUBLIC_KEY, &pk, &mut out);
        out
    }

    /// Signs the body with the issuer's key (ECDSA-SHA256, `r ‖ s`; GP Amendment E §4).
    pub fn sign(self, issuer: &PrivateKey) -> GpCertificate {
        let signature = issuer.sign(&self.encode());
        GpCertificate {
            body: self,
            signature,
        }
    }

    /// Signs the body through a signing function (e.g. a key store operation by key label).
    pub fn sign_with<E>(
        self,
        signer: impl FnOnce(&[u8]) -> Result<[u8; 64], E>,
    ) -> Result<GpCertificate, E> {
        let signature = signer(&self.encode())?;
        Ok(GpCertificate {
            body: self,
            signature,
        })
    }

    /// Start of validity: 00:00:00 UTC of the effective date.
    pub fn not_before(&self) -> OffsetDateTime {
        PrimitiveDateTime::new(self.effective_date, Time::MIDNIGHT).assume_utc()
    }

    /// End of validity: 23:59:59 UTC of the expiration date.
    pub fn not_after(&self) -> OffsetDateTime {
        PrimitiveDateTime::new(self.expiration_date, Time::MIDNIGHT).assume_utc()
            + time::Duration::seconds(86_399)
    }
}

struct Cursor<'a> {
    reader: Reader<'a>,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, tag: u16) -> Result<tlv::Tlv<'a>, GpCertError> {
        let offset = self.reader.offset();
        if self.reader.is_empty() {
            return Err(GpCertError::UnexpectedTag {
                expected: tag,
                found: "end of data".into(),
                offset,
            });
        }
        let t = self.reader.read()?;
        if t.tag() == u32::from(tag) {
            Ok(t)
        } else {
            Err(GpCertError::UnexpectedTag {
                expected: tag,
                found: format!("{:04X}", t.tag()),
                offset,
            })
        }
    }

    fn expect_len(&mut self, tag: u16, len: usize) -> Result<tlv::Tlv<'a>, GpCertError> {
        let t = self.take(tag)?;
        if t.value.len() != len {
            return Err(GpCertError::InvalidValue {
                tag,
                offset: t.offset,
                reason: format!("length {} instead of {len}", t.value.len()),
            });
        }
        Ok(t)
    }

    fn value_reader(&self, t: &tlv::Tlv<'a>) -> Result<Cursor<'a>, GpCertError> {
        Ok(Cursor {
            reader: t.children()?,
        })
    }

    fn finish(&self) -> Result<(), GpCertError> {
        if self.reader.is_empty() {
            Ok(())
        } else {
            Err(GpCertError::TrailingBytes {
                offset: self.reader.offset(),
            })
        }
    }
}

fn date_value(t: &tlv::Tlv<'_>) -> Result<Date, GpCertError> {
    parse_bcd_date(t.value).ok_or_else(|| GpCertError::InvalidValue {
        // Rules::GP admits tags of at most two bytes.
        tag: u16::try_from(t.tag()).unwrap_or(u16::MAX),
        offset: t.offset,
        reason: format!("{} is not a YYYYMMDD BCD date", hex::encode_upper(t.value)),
    })
}

impl GpCertificate {
    /// The signed fields.
    pub fn body(&self) -> &GpCertificateBody {
        &self.body
    }

    /// The issuer's signature `r ‖ s` (tag `5F37`).
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The bytes the signature covers: inner TLVs `93` … `7F49` (wire-profile §6).
    pub fn signed_body(&self) -> Vec<u8> {
        self.body.encode()
    }

    /// The whole certificate `7F21 L { … 5F37 40 r‖s }` (wire-profile §6).
    pub fn encode(&self) -> Vec<u8> {
        let mut inner = self.body.encode();
        tlv::encode(TAG_SIGNATURE, &self.signature, &mut inner);
        let mut out = Vec::with_capacity(inner.len() + 4);
        tlv::encode(TAG_CERTIFICATE, &inner, &mut out);
        out
    }

    /// Verifies the issuer's ECDSA-SHA256 signature over the signed body with the issuer's public key.
    pub fn verify_signature(&self, issuer: &PublicKey) -> Result<(), EcError> {
        issuer.verify(&self.signed_body(), &self.signature)
    }

    /// Decodes a `7F21` certificate strictly in the layout of wire-profile §6 (no bytes after it).
    pub fn decode(bytes: &[u8]) -> Result<Self, GpCertError> {
        let mut top = Cursor {
            reader: Reader::new(bytes, 0, Rules::GP),
        };
        let cert = top.take(TAG_CERTIFICATE)?;
        top.finish()?;
        let mut c = top.value_reader(&cert)?;
        let serial_number = c.take(TAG_SERIAL_NUMBER)?.value.to_vec();
        let ca_id = c.take(TAG_CA_ID)?.value.to_vec();
        let subject_id = c.take(TAG_SUBJECT_ID)?.value.to_vec();
        let ku = c.expect_len(TAG_KEY_USAGE, 2)?;
        let key_usage = u16::from_be_bytes([ku.value[0], ku.value[1]]);
        let effective_date = date_value(&c.expect_len(TAG_EFFECTIVE_DATE, 4)?)?;
        let expiration_date = date_value(&c.expect_len(TAG_EXPIRATION_DATE, 4)?)?;
        let dd = c.take(TAG_DISCRETIONARY_DATA)?;
        let mut d = c.value_reader(&dd)?;
        let et = d.expect_len(TAG_ENTITY_TYPE, 1)?;
        let entity_type =
            EntityType::from_code(et.value[0]).ok_or_else(|| GpCertError::InvalidValue {
                tag: TAG_ENTITY_TYPE,
                offset: et.offset,
                reason: format!("unknown entity type {:02X}", et.value[0]),
            })?;
        let authority_key_id = d.take(TAG_AUTHORITY_KEY_ID)?.value.to_vec();
        d.finish()?;
        let pk = c.take(TAG_PUBLIC_KEY)?;
        let mut p = c.value_reader(&pk)?;
        let q = p.expect_len(TAG_PUBLIC_KEY_Q, 65)?;
        let kpr = p.expect_len(TAG_KEY_PARAMETER_REFERENCE, 1)?;
        p.finish()?;
        let curve = Curve::from_key_parameter_reference(kpr.value[0]).map_err(|source| {
            GpCertError::PublicKey {
                offset: pk.offset,
                source,
            }
        })?;
        let public_key =
            PublicKey::from_sec1(curve, q.value).map_err(|source| GpCertError::PublicKey {
                offset: pk.offset,
                source,
            })?;
        if q.value.first() != Some(&0x04) {
            return Err(GpCertError::InvalidValue {
                tag: TAG_PUBLIC_KEY_Q,
                offset: q.offset,
                reason: "point is not in SEC1 uncompressed form".into(),
            });
        }
        let sig = c.expect_len(TAG_SIGNATURE, 64)?;
        c.finish()?;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(sig.value);
        let body = GpCertificateBody {
            serial_number,
            ca_id,
            subject_id,
            key_usage,
            effective_date,
            expiration_date,
            entity_type,
            authority_key_id,
            public_key,
        };
        Ok(GpCertificate { body, signature })
    }
}
