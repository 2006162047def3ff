//! ES1 (EUM → SM-SR), SGP.02 §5.2: registration of a new eUICC's EIS (procedure §3.9).

use certs::x509::X509Certificate;
use eis_store::AnyConnection;
use eis_store::entities;
use es_interfaces::messages::common::BaseResponse;
use es_interfaces::messages::eis::Eis;
use es_interfaces::messages::es1::{RegisterEisRequest, RegisterEisResponse};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::xml::Element;

use crate::eis_map::{KeyRewrap, to_new_eis};
use crate::error::SmsrError;
use crate::service::Smsr;
use es_runtime::caller::Caller;

/// The key of the EIS additional property (SGP.02 §5.1.1.3.13) that names the eUICC's owner for ESM2M: the OID of
/// an entity of role eUICC-owner. [decision: SGP.02 leaves the keys of AdditionalProperties to the parties]
pub const OWNER_PROPERTY: &str = "esm2m.owner";

/// ES1.RegisterEIS (SGP.02 §5.2.1): checks that the EIS is the calling EUM's, that the EUM signature over
/// `EumSignedInfo` verifies with the EUM certificate (chained to the CI), that CERT.ECASD.ECKA chains to the EUM
/// and names this EID; unwraps the ISD-R key values from the EUM transport key and seals them at rest; stores
/// the EIS. A known EID is refused and the stored EIS is left as it is. Nothing is stored on any failure. An
/// additional property [`OWNER_PROPERTY`] assigns the eUICC to that owner in the same transaction; an OID that is
/// not a registered eUICC owner leaves it without one and the answer is EXECUTED_WITHWARNING 8.6/3.9.
pub fn register_eis(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    caller: &Caller,
    body: &Element,
    req: &RegisterEisRequest,
) -> Result<RegisterEisResponse, SmsrError> {
    let eis = &req.eis;
    let si = &eis.eum_signed_info;
    let eid = si.eid.to_string();
    if si.eum_id.as_str() != caller.oid {
        return Err(SmsrError::EisNotAllowed {
            caller: caller.oid.clone(),
            eid,
            why: format!("the EIS names the EUM {}", si.eum_id),
        });
    }
    if eis.smsr_id.as_str() != smsr.identity.oid {
        return Err(SmsrError::Invalid {
            element: "Eis/Smsr-id".into(),
            why: format!("{} is not this SM-SR ({})", eis.smsr_id, smsr.identity.oid),
        });
    }
    let now = smsr.clock.now();
    let (signed_info_xml, signature_xml) = verify_signed_eis(smsr, conn, caller, body, eis, now)?;

    let transport = smsr
        .trust
        .eum_transport_keys
        .get(&caller.oid)
        .ok_or_else(|| SmsrError::EisNotAllowed {
            caller: caller.oid.clone(),
            eid: eid.clone(),
            why: "no transport key is configured for this EUM".into(),
        })?;
    let new = to_new_eis(
        eis,
        signed_info_xml,
        signature_xml,
        Some(&KeyRewrap {
            transport,
            keyring: &smsr.keyring,
        }),
    )?;
    let now_ms = smsr.clock.now_millis();
    eis_store::eis::register_eis(conn, &new, now_ms)?;
    let status = match new.additional_properties.get(OWNER_PROPERTY) {
        None => FunctionExecutionStatus::success(),
        Some(owner) => assign_owner(conn, &eid, owner, now_ms)?,
    };
    tracing::info!(eid = %eid, eum = %caller.oid, profiles = new.profiles.len(), status = status.status.as_str(), "eUICC registered");
    Ok(RegisterEisResponse {
        base: BaseResponse::with_status(status),
    })
}

/// Checks the EUM-signed part of `eis` as received in `body` (SGP.02 §5.2.1, and §3.8 for an EIS handed over on
/// ES7): the EUM certificate registered for `eum_oid` chains to the CI, the EUM signature over `EumSignedInfo`
/// verifies with it, CERT.ECASD.ECKA chains to the EUM and names this EID. Returns the signed info and the
/// signature as received (standalone), to be stored with the EIS.
pub fn verify_signed_eis(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    caller: &Caller,
    body: &Element,
    eis: &Eis,
    now: time::OffsetDateTime,
) -> Result<(String, String), SmsrError> {
    let si = &eis.eum_signed_info;
    let eid = si.eid.to_string();
    let eum_oid = si.eum_id.as_str();
    // The certificate registered for the EUM the EIS names, chained to the CI.
    let eum_entity = entities::get_entity(conn, eum_oid)?
        .filter(|e| e.role == entities::EntityRole::Eum)
        .ok_or_else(|| SmsrError::EisNotAllowed {
            caller: caller.oid.clone(),
            eid: eid.clone(),
            why: format!("the EUM {eum_oid} is not registered"),
        })?;
    let eum_der = eum_entity
        .gp_certificate
        .ok_or_else(|| SmsrError::EisNotAllowed {
            caller: caller.oid.clone(),
            eid: eid.clone(),
            why: format!("no certificate is registered for the EUM {eum_oid}"),
        })?;
    let eum_cert = X509Certificate::from_der(&eum_der).map_err(SmsrError::internal)?;
    certs::chain::check_eum(&smsr.trust.ci, &eum_cert, now)?;

    // The EUM signature over EumSignedInfo as received.
    let signed_info = find(body, "EumSignedInfo").ok_or_else(|| SmsrError::BadEisSignature {
        eid: eid.clone(),
        why: "no EumSignedInfo".into(),
    })?;
    let signature = find(body, "EumSignature").ok_or_else(|| SmsrError::BadEisSignature {
        eid: eid.clone(),
        why: "no EumSignature".into(),
    })?;
    let signed_info_xml = signed_info.standalone_source();
    let signature_xml = signature.standalone_source();
    certs::xmldsig::verify_eum_signature(&signed_info_xml, &signature_xml, &eum_cert).map_err(
        |e| SmsrError::BadEisSignature {
            eid: eid.clone(),
            why: e.to_string(),
        },
    )?;

    // CERT.ECASD.ECKA: signed by the EUM, for this EID.
    let ecasd_cert = si
        .ecasd
        .keysets
        .iter()
        .flat_map(|k| k.items.iter())
        .find_map(|i| match i {
            es_interfaces::messages::eis::KeysetItem::Certificate(c) => Some(c),
            _ => None,
        })
        .ok_or_else(|| SmsrError::Invalid {
            element: "Eis/EumSignedInfo/Ecasd/Keyset/Certificate".into(),
            why: "the ECASD carries no CERT.ECASD.ECKA".into(),
        })?;
    let ecasd =
        certs::chain::check_ecasd(&smsr.trust.ci, &eum_cert, ecasd_cert.value.as_bytes(), now)?;
    if ecasd.body().subject_id != si.eid.as_bytes() {
        return Err(SmsrError::Certificate {
            subject: "8.5.2".into(),
            reason: "6.1".into(),
            message: format!(
                "CERT.ECASD.ECKA is issued to {} and not to the eUICC {eid}",
                hex::encode_upper(&ecasd.body().subject_id)
            ),
        });
    }

    Ok((signed_info_xml, signature_xml))
}

/// Assigns the just registered eUICC `eid` to `owner` when it is a registered eUICC owner; else a warning.
fn assign_owner(
    conn: &mut AnyConnection,
    eid: &str,
    owner: &str,
    now_ms: eis_store::UnixMillis,
) -> Result<FunctionExecutionStatus, SmsrError> {
    let is_owner = entities::get_entity(conn, owner)?
        .is_some_and(|e| e.role == entities::EntityRole::EuiccOwner);
    if !is_owner {
        tracing::warn!(eid = %eid, owner = %owner, "EIS names an owner that is not a registered eUICC owner");
        return Ok(FunctionExecutionStatus {
            status: Status::ExecutedWithWarning,
            status_code_data: Some(StatusCodeData::new(
                Subject::EIS,
                Reason::UNKNOWN,
                Some(format!(
                    "registered without an owner: the additional property {OWNER_PROPERTY} names {owner}, \
                     which is not a registered eUICC owner"
                )),
            )),
        });
    }
    eis_store::owners::assign_euiccs(conn, owner, &[eid.to_string()], now_ms)?;
    Ok(FunctionExecutionStatus::success())
}

/// The first descendant element named `local` in the GSMA namespace.
fn find<'a>(el: &'a Element, local: &str) -> Option<&'a Element> {
    if el.local_name() == local && el.namespace() == Some(es_interfaces::messages::codec::RPS_NS) {
        return Some(el);
    }
    el.child_elements().find_map(|c| find(c, local))
}
