//! Profile types of an MNO (SGP.02 §5.3.2 `ProfileType`; DESIGN §4: template = SAIP DER package, its memory, target
//! platform, optional POL2): added only after the SAIP codec validated the template and showed it can be
//! personalised, and the POL2 rules were checked.

use eis_store::warehouse::{self, NewProfileType, ProfileType};
use eis_store::{AnyConnection, StoreError, UnixMillis};
use es_interfaces::messages::common::{Pol2, Pol2Rule};
use es_interfaces::types::{Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject};
use serde::Serialize;

use super::WarehouseError;
use crate::saip::bench::synthetic_record;
use crate::saip::personalise::Personaliser;
use crate::saip::{Limits, SaipError};

/// Longest profile type name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// A profile type to add (SGP.02 §5.3.2 ProfileType).
#[derive(Clone, Debug, PartialEq)]
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
    /// POL2 of every profile downloaded from it, sent in ES3.ProfileDownloadCompleted (SGP.02 §2.4.5, §3.1.3).
    pub pol2: Option<Pol2>,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    /// POL2 in its text form (`DISABLE:Not-Allowed,…`), if the type has one.
    pub pol2: Option<String>,
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
            pol2: t.profile_type.pol2.clone(),
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

/// Parses the text form of a POL2 (SGP.02 §2.4.5, A1 `POL2Type`): rules `ACTION:Qualification` separated by
/// commas, all on subject PROFILE; actions ENABLE, DISABLE, DELETE; qualifications Not-Allowed, Auto-Delete (any
/// case, spaces around items ignored). The result is checked by [`check_pol2`].
pub fn parse_pol2(text: &str) -> Result<Pol2, WarehouseError> {
    let mut rules = Vec::new();
    for item in text.split(',').map(str::trim) {
        let Some((action, qualification)) = item.split_once(':') else {
            return Err(invalid_pol2(format!(
                "rule {item:?} is not ACTION:QUALIFICATION (e.g. DISABLE:Not-Allowed)"
            )));
        };
        rules.push(Pol2Rule {
            subject: Pol2RuleSubject::Profile,
            action: lexical(Pol2RuleAction::ALL, action.trim(), |a| a.as_str(), "action")?,
            qualification: lexical(
                Pol2RuleQualification::ALL,
                qualification.trim(),
                |q| q.as_str(),
                "qualification",
            )?,
        });
    }
    let pol2 = Pol2 { rules };
    check_pol2(&pol2)?;
    Ok(pol2)
}

/// The text form of a POL2 that [`parse_pol2`] reads back unchanged (SGP.02 §2.4.5).
pub fn pol2_text(pol2: &Pol2) -> String {
    pol2.rules
        .iter()
        .map(|r| format!("{}:{}", r.action.as_str(), r.qualification.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks the POL2 of a profile type (SGP.02 §2.4.5): at least one rule, subject PROFILE, each action at most
/// once, and `Auto-Delete` only on DISABLE (the profile is deleted once disabled; the SM-SR acts on no other).
pub fn check_pol2(pol2: &Pol2) -> Result<(), WarehouseError> {
    if pol2.rules.is_empty() {
        return Err(invalid_pol2(
            "needs at least one rule (leave POL2 out for none)".into(),
        ));
    }
    for (i, r) in pol2.rules.iter().enumerate() {
        if r.subject != Pol2RuleSubject::Profile {
            return Err(invalid_pol2(format!(
                "subject {} is not PROFILE",
                r.subject
            )));
        }
        if pol2.rules[..i].iter().any(|o| o.action == r.action) {
            return Err(invalid_pol2(format!("more than one rule for {}", r.action)));
        }
        if r.qualification == Pol2RuleQualification::AutoDelete
            && r.action != Pol2RuleAction::Disable
        {
            return Err(invalid_pol2(format!(
                "Auto-Delete applies to DISABLE only, not to {}",
                r.action
            )));
        }
    }
    Ok(())
}

fn invalid_pol2(why: String) -> WarehouseError {
    WarehouseError::Invalid { field: "POL2", why }
}

/// The value of `all` whose lexical form is `text`, in any case.
fn lexical<T: Copy>(
    all: &[T],
    text: &str,
    lex: fn(T) -> &'static str,
    what: &str,
) -> Result<T, WarehouseError> {
    all.iter()
        .copied()
        .find(|v| lex(*v).eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            let allowed: Vec<&str> = all.iter().map(|v| lex(*v)).collect();
            invalid_pol2(format!(
                "{what} {text:?} is not one of {}",
                allowed.join(", ")
            ))
        })
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
    if let Some(pol2) = &spec.pol2 {
        check_pol2(pol2)?;
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
        pol2: spec.pol2.as_ref().map(pol2_text),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: Pol2RuleAction, qualification: Pol2RuleQualification) -> Pol2Rule {
        Pol2Rule {
            subject: Pol2RuleSubject::Profile,
            action,
            qualification,
        }
    }

    fn why(text: &str) -> String {
        match parse_pol2(text) {
            Err(WarehouseError::Invalid { field: "POL2", why }) => why,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn pol2_text_parses_in_any_case_and_round_trips() {
        let pol2 = parse_pol2(" disable : auto-delete , DELETE:Not-Allowed,enable:NOT-ALLOWED")
            .expect("valid");
        assert_eq!(
            pol2.rules,
            vec![
                rule(Pol2RuleAction::Disable, Pol2RuleQualification::AutoDelete),
                rule(Pol2RuleAction::Delete, Pol2RuleQualification::NotAllowed),
                rule(Pol2RuleAction::Enable, Pol2RuleQualification::NotAllowed),
            ]
        );
        let text = pol2_text(&pol2);
        assert_eq!(
            text,
            "DISABLE:Auto-Delete,DELETE:Not-Allowed,ENABLE:Not-Allowed"
        );
        assert_eq!(parse_pol2(&text).expect("reparsed"), pol2);
        assert_eq!(pol2_text(&parse_pol2(&text).expect("reparsed")), text);
    }

    #[test]
    fn pol2_text_refusals_say_what_is_wrong() {
        assert!(
            why("").contains("is not ACTION:QUALIFICATION"),
            "{}",
            why("")
        );
        assert!(why("DISABLE").contains("\"DISABLE\" is not ACTION:QUALIFICATION"));
        assert!(why("DISABLE:Not-Allowed,").contains("\"\" is not ACTION:QUALIFICATION"));
        assert_eq!(
            why("SUSPEND:Not-Allowed"),
            "action \"SUSPEND\" is not one of ENABLE, DISABLE, DELETE"
        );
        assert_eq!(
            why("DISABLE:Forbidden"),
            "qualification \"Forbidden\" is not one of Not-Allowed, Auto-Delete"
        );
        assert_eq!(
            why("DISABLE:Not-Allowed,disable:Auto-Delete"),
            "more than one rule for DISABLE"
        );
        assert_eq!(
            why("DELETE:Auto-Delete"),
            "Auto-Delete applies to DISABLE only, not to DELETE"
        );
        assert_eq!(
            why("DISABLE:Not-Allowed:x"),
            "qualification \"Not-Allowed:x\" is not one of Not-Allowed, Auto-Delete"
        );
    }

    #[test]
    fn an_empty_pol2_is_refused() {
        assert!(matches!(
            check_pol2(&Pol2 { rules: Vec::new() }),
            Err(WarehouseError::Invalid { field: "POL2", .. })
        ));
    }
}
