//! Profile types of an MNO (SGP.02 §5.3.2 `ProfileType`; DESIGN §4: template = SAIP DER package, its memory, target
//! platform): added only after the SAIP codec validated the template and showed it can be personalised.

use eis_store::warehouse::{self, NewProfileType, ProfileType};
use eis_store::{AnyConnection, StoreError, UnixMillis};
use serde::Serialize;

use super::WarehouseError;
use crate::saip::bench::synthetic_record;
use crate::saip::personalise::Personaliser;
use crate::saip::{Limits, SaipError};

/// Longest profile type name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// A profile type to add (SGP.02 §5.3.2 ProfileType).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileTypeSpec {
    /// OID of the MNO owning it.
    pub mno_oid: String,
    /// Name, unique per MNO: the `ProfileType` of ES2.DownloadProfile.
    pub name: String,
    /// The SAIP template (DER profile package, TCA PEDefinitions v3.3.1).
    pub template: Vec<u8>,
    /// Memory the installed profile needs on the eUICC, in bytes (ES3.CreateISDP `RequiredMemory`).
    pub required_memory: i64,
    /// Target eUICC platform (free text, e.g. the simulator's name).
    pub target_platform: String,
    /// Available records below which the type is reported low (0: never).
    pub low_stock_threshold: i64,
}

/// Which optional record fields a template can take (found by personalising probe records).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateCapabilities {
    /// The template has an EF.MSISDN to write an MSISDN into.
    pub msisdn: bool,
    /// The MNO-SD has the SCP80 key set 01 (KIc/KID/KIK, 16 bytes each) to write OTA keys into.
    pub ota_keys: bool,
}

/// A profile type as shown to its MNO (CLI and REST).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileTypeInfo {
    /// Id.
    pub id: i64,
    /// Owner.
    pub mno_oid: String,
    /// Name.
    pub name: String,
    /// Memory the profile needs, in bytes.
    pub required_memory: i64,
    /// Target platform.
    pub target_platform: String,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
    /// Template size in bytes.
    pub template_bytes: usize,
    /// Created (unix ms).
    pub created_at: UnixMillis,
}

impl From<&ProfileType> for ProfileTypeInfo {
    fn from(t: &ProfileType) -> Self {
        ProfileTypeInfo {
            id: t.id,
            mno_oid: t.profile_type.mno_oid.clone(),
            name: t.profile_type.name.clone(),
            required_memory: t.profile_type.required_memory,
            target_platform: t.profile_type.target_platform.clone(),
            low_stock_threshold: t.profile_type.low_stock_threshold,
            template_bytes: t.profile_type.template.len(),
            created_at: t.created_at,
        }
    }
}

/// Checks a profile type name: 1 to 64 characters of letters, digits, `_`, `-`, `.`.
pub fn check_name(name: &str) -> Result<(), WarehouseError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(WarehouseError::Invalid {
            field: "profile type name",
            why: format!("must be 1 to {MAX_NAME_LEN} letters, digits, '_', '-' or '.'"),
        })
    }
}

/// Checks an entity OID in dotted form (SGP.02 A1 `ObjectIdentifierType`).
pub fn check_oid(oid: &str) -> Result<(), WarehouseError> {
    let ok = !oid.is_empty()
        && oid.len() <= 128
        && oid
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(WarehouseError::Invalid {
            field: "MNO OID",
            why: "must be dotted decimal arcs".into(),
        })
    }
}

/// Validates a template and prepares it for personalisation (TCA PEDefinitions v3.3.1; wire-profile §8).
pub fn prepare(template: &[u8]) -> Result<Personaliser, WarehouseError> {
    Personaliser::new(template, Limits::default()).map_err(WarehouseError::Template)
}

/// What optional fields a prepared template can take, and that it personalises a plain record at all.
pub fn capabilities(personaliser: &Personaliser) -> Result<TemplateCapabilities, SaipError> {
    let mut plain = synthetic_record(0);
    plain.msisdn = None;
    let ota = plain.ota_keys.take();
    personaliser.personalise(&plain)?;
    let mut with_msisdn = plain.clone();
    with_msisdn.msisdn = synthetic_record(0).msisdn;
    let mut with_ota = plain;
    with_ota.ota_keys = ota;
    Ok(TemplateCapabilities {
        msisdn: personaliser.personalise(&with_msisdn).is_ok(),
        ota_keys: personaliser.personalise(&with_ota).is_ok(),
    })
}

/// Adds a profile type after validating its template (refused with the element and offset at fault).
pub fn add(
    conn: &mut AnyConnection,
    spec: &ProfileTypeSpec,
    now: UnixMillis,
) -> Result<ProfileTypeInfo, WarehouseError> {
    check_oid(&spec.mno_oid)?;
    check_name(&spec.name)?;
    if spec.required_memory <= 0 {
        return Err(WarehouseError::Invalid {
            field: "required memory",
            why: "must be a positive number of bytes".into(),
        });
    }
    if spec.low_stock_threshold < 0 {
        return Err(WarehouseError::Invalid {
            field: "low-stock threshold",
            why: "must not be negative".into(),
        });
    }
    if spec.target_platform.len() > 128 {
        return Err(WarehouseError::Invalid {
            field: "target platform",
            why: "longer than 128 characters".into(),
        });
    }
    let personaliser = prepare(&spec.template)?;
    capabilities(&personaliser).map_err(WarehouseError::Template)?;
    let new = NewProfileType {
        mno_oid: spec.mno_oid.clone(),
        name: spec.name.clone(),
        template: spec.template.clone(),
        required_memory: spec.required_memory,
        target_platform: spec.target_platform.clone(),
        low_stock_threshold: spec.low_stock_threshold,
    };
    let id = warehouse::create_profile_type(conn, &new, now).map_err(|e| match e {
        StoreError::AlreadyExists { .. } => WarehouseError::ProfileTypeExists {
            mno: spec.mno_oid.clone(),
            name: spec.name.clone(),
        },
        other => other.into(),
    })?;
    Ok(ProfileTypeInfo::from(&ProfileType {
        id,
        profile_type: new,
        created_at: now,
    }))
}

/// The MNO's profile type of this name.
pub fn get(
    conn: &mut AnyConnection,
    mno_oid: &str,
    name: &str,
) -> Result<ProfileType, WarehouseError> {
    warehouse::profile_type_by_name(conn, mno_oid, name)?.ok_or_else(|| {
        WarehouseError::UnknownProfileType {
            mno: mno_oid.to_owned(),
            name: name.to_owned(),
        }
    })
}

/// The MNO's profile types, by name.
pub fn list(
    conn: &mut AnyConnection,
    mno_oid: &str,
) -> Result<Vec<ProfileTypeInfo>, WarehouseError> {
    Ok(warehouse::list_profile_types(conn, mno_oid)?
        .iter()
        .map(ProfileTypeInfo::from)
        .collect())
}
