//! Between the EIS on the wire (`EISType`, SGP.02 §5.1.1.3) and the EIS at rest (eis-store), and the
//! per-caller views of it (SGP.02 Annex E as read in notes §3; docs/architecture.md §8 "What each caller sees"):
//! an MNO knows only the eUICCs that carry a profile of its own and sees only those profiles, with the ISD-R and
//! the ECASD reduced to their identity; an SM-DP sees every eUICC, the profiles it downloaded and the ECASD's
//! certificates it needs for key establishment; key values and counters never leave the SM-SR.

use certs::secrets::{MasterKeyring, TransportKey};
use eis_store::Sealed;
use eis_store::eis::{self as store, EisRecord, NewEis};
use es_interfaces::messages::common::{Pol2, Pol2Rule, SubscriptionAddress};
use es_interfaces::messages::eis::{
    AuditTrail, AuditTrailRecord, Eis, EumSignature, EumSignedInfo, GpCertificate, Keyset,
    KeysetItem, ProfileInfo, SecurityDomain,
};
use es_interfaces::types::{
    Aid, HexBinary16, Iccid, Imsi, KeyIndex, KeysetVersion, Msisdn, Oid, OperationType,
    ProfileState, SdRole, Tar, XsDateTime,
};
use es_interfaces::xml::Document;
use time::OffsetDateTime;

use crate::error::SmsrError;

/// The purpose label of ISD-R / ECASD key values sealed at rest (certs::secrets AAD binding).
pub const KEY_PURPOSE: &str = "eis-key";

/// The AAD binding a sealed key value to its place in the EIS (EID, security domain role `ISD-R`/`ECASD`, key
/// set version, key index, component position), so ciphertexts cannot be swapped between rows.
pub fn key_aad(eid: &str, sd_role: &str, kvn: u8, index: u8, component: usize) -> Vec<u8> {
    format!("{eid}/{sd_role}/{kvn}/{index}/{component}").into_bytes()
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> Result<XsDateTime, SmsrError> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(SmsrError::internal)?;
    Ok(XsDateTime::utc(t))
}

fn invalid(element: &str, why: impl Into<String>) -> SmsrError {
    SmsrError::Invalid {
        element: element.to_string(),
        why: why.into(),
    }
}

/// Unwraps ES1 key values (encrypted under the EUM transport key, checked against their KCV) and seals them
/// under the master key for storage (SGP.02 §5.2.1; design §4: keys encrypted at rest).
pub struct KeyRewrap<'a> {
    /// The EUM's transport key.
    pub transport: &'a TransportKey,
    /// The SM-SR's master key ring.
    pub keyring: &'a MasterKeyring,
}

fn to_store_sd(
    eid: &str,
    sd: &SecurityDomain,
    path: &str,
    keys: Option<&KeyRewrap<'_>>,
) -> Result<store::SecurityDomain, SmsrError> {
    let aid = sd.aid.as_bytes().to_vec();
    let role = sd.role.as_str();
    let mut keysets = Vec::with_capacity(sd.keysets.len());
    for ks in &sd.keysets {
        let kvn = ks.version.get();
        let mut out_keys = Vec::new();
        let mut certificates = Vec::new();
        for item in &ks.items {
            match item {
                KeysetItem::Key(k) => {
                    let index = k.index.get();
                    let mut components = Vec::with_capacity(k.components.len());
                    for (ci, c) in k.components.iter().enumerate() {
                        let element =
                            format!("{path}/Keyset[{kvn}]/Key[{index}]/KeyComponents[{ci}]");
                        let keys = keys.ok_or_else(|| {
                            invalid(&element, "key values are not accepted here (SM-SR change)")
                        })?;
                        let clear = keys
                            .transport
                            .decrypt_aes_key_checked(c.value.expose(), k.kcv.as_bytes())
                            .map_err(|e| invalid(&element, e.to_string()))?;
                        let blob = keys
                            .keyring
                            .seal(
                                KEY_PURPOSE,
                                &key_aad(eid, role, kvn, index, ci),
                                clear.expose(),
                            )
                            .map_err(SmsrError::internal)?;
                        components.push(store::KeyComponent {
                            key_type: c.key_type.0,
                            value: Sealed {
                                key_id: keys.keyring.current_key_id().to_string(),
                                ciphertext: blob.into_bytes(),
                            },
                        });
                    }
                    out_keys.push(store::SdKey {
                        index,
                        kcv: k.kcv.as_bytes().to_vec(),
                        components,
                    });
                }
                KeysetItem::Certificate(c) => certificates.push(store::SdCertificate {
                    index: c.index.get(),
                    ca_id: c.ca_id.as_str().to_string(),
                    value: c.value.as_bytes().to_vec(),
                }),
            }
        }
        keysets.push(store::Keyset {
            version: kvn,
            usage: ks.keyset_type.map(|u| u.as_str().to_string()),
            cntr: ks.cntr.unwrap_or(0),
            keys: out_keys,
            certificates,
        });
    }
    Ok(store::SecurityDomain {
        aid,
        tars: sd.tar.iter().map(|t| t.0).collect(),
        sin: sd.sin.as_bytes().to_vec(),
        sdin: sd.sdin.as_bytes().to_vec(),
        keysets,
    })
}

/// The stored form of a registered EIS. `eum_signed_info_xml` and `eum_signature_xml` are the elements as
/// received (standalone), kept so that the EUM signature stays verifiable (ES7 hand-over). Key values are
/// unwrapped with `keys`; without it (an EIS handed over on ES7, SGP.02 §3.8) any key value is refused.
pub fn to_new_eis(
    eis: &Eis,
    eum_signed_info_xml: String,
    eum_signature_xml: String,
    keys: Option<&KeyRewrap<'_>>,
) -> Result<NewEis, SmsrError> {
    let si = &eis.eum_signed_info;
    let eid = si.eid.to_string();
    let caps = &si.euicc_capabilities;
    let euicc = store::EuiccInfo {
        eid: eid.clone(),
        eum_id: si.eum_id.as_str().to_string(),
        production_date: millis(si.production_date.to_offset_date_time()),
        platform_type: si.platform_type.as_str().to_string(),
        platform_version: si.platform_version.to_string(),
        isd_p_loadfile_aid: si.isd_p_loadfile_aid.as_bytes().to_vec(),
        isd_p_module_aid: si.isd_p_module_aid.as_bytes().to_vec(),
        capabilities: store::EuiccCapabilities {
            cattp_support: caps.cattp_support,
            cattp_version: caps.cattp_version.as_ref().map(|v| v.to_string()),
            http_support: caps.http_support,
            http_version: caps.http_version.as_ref().map(|v| v.to_string()),
            secure_packet_version: caps.secure_packet_version.to_string(),
            remote_provisioning_version: caps.remote_provisioning_version.to_string(),
        },
        remaining_memory: i64::try_from(eis.remaining_memory)
            .map_err(|_| invalid("Eis/RemainingMemory", "too large"))?,
        available_memory_for_profiles: i64::try_from(eis.available_memory_for_profiles)
            .map_err(|_| invalid("Eis/AvailableMemoryForProfiles", "too large"))?,
        last_audit_date: eis.last_audit_date.map(|d| millis(d.to_offset_date_time())),
        smsr_id: eis.smsr_id.as_str().to_string(),
        eum_signed_info_xml,
        eum_signature_xml,
    };
    let isd_r = to_store_sd(&eid, &eis.isd_r, "Eis/Isd-r", keys)?;
    let ecasd = to_store_sd(&eid, &si.ecasd, "Eis/EumSignedInfo/Ecasd", keys)?;
    let mut profiles = Vec::with_capacity(eis.profile_info.len());
    for p in &eis.profile_info {
        profiles.push(store::ProfileInfo {
            iccid: p.iccid.as_str().to_string(),
            isd_p_aid: p.isd_p_aid.as_bytes().to_vec(),
            mno_id: p.mno_id.as_str().to_string(),
            fallback: p.fallback_attribute,
            imsi: p
                .subscription_address
                .imsi
                .as_ref()
                .map(|i| i.as_str().to_string()),
            msisdn: p
                .subscription_address
                .msisdn
                .as_ref()
                .map(|m| m.as_str().to_string()),
            state: match p.state {
                ProfileState::Created => store::ProfileState::Created,
                ProfileState::Disabled => store::ProfileState::Disabled,
                ProfileState::Enabled => store::ProfileState::Enabled,
            },
            smdp_id: p.smdp_id.as_ref().map(|o| o.as_str().to_string()),
            profile_type: p.profile_type.as_ref().map(|t| t.as_str().to_string()),
            allocated_memory: i64::try_from(p.allocated_memory)
                .map_err(|_| invalid("Eis/ProfileInfo/AllocatedMemory", "too large"))?,
            free_memory: p.free_memory.and_then(|m| i64::try_from(m).ok()),
            pol2: p
                .pol2
                .rules
                .iter()
                .map(|r| store::Pol2Rule {
                    subject: r.subject.as_str().to_string(),
                    action: r.action.as_str().to_string(),
                    qualification: r.qualification.as_str().to_string(),
                })
                .collect(),
        });
    }
    let enabled = profiles
        .iter()
        .filter(|p| p.state == store::ProfileState::Enabled)
        .count();
    if enabled > 1 {
        return Err(invalid(
            "Eis/ProfileInfo/State",
            format!("{enabled} profiles are Enabled; at most one may be"),
        ));
    }
    let mut audit_trail = Vec::new();
    if let Some(trail) = &eis.audit_trail {
        for r in &trail.records {
            audit_trail.push(store::AuditRecord {
                eid: r.eid.to_string(),
                smsr_id: r.smsr_id.as_str().to_string(),
                operation_date: millis(r.operation_date.to_offset_date_time()),
                operation_type: r.operation_type.0,
                requester_id: r.requester_id.as_ref().map(|o| o.as_str().to_string()),
                execution_status: r
                    .operation_execution_status
                    .as_ref()
                    .map(|s| s.status.as_str().to_string()),
                isd_p_aid: r.isd_p_aid.as_ref().map(|a| a.as_bytes().to_vec()),
                iccid: r.iccid.as_ref().map(|i| i.as_str().to_string()),
                imei: r.imei.as_ref().map(|i| hex::encode_upper(i.as_bytes())),
                meid: r.meid.as_ref().map(|m| hex::encode_upper(m.as_bytes())),
            });
        }
    }
    let additional_properties = eis
        .additional_properties
        .as_ref()
        .map(|a| {
            a.properties
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(NewEis {
        euicc,
        isd_r,
        ecasd,
        profiles,
        audit_trail,
        additional_properties,
    })
}

/// Who is looking at an EIS, which decides what of it they see (SGP.02 Annex E).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer<'a> {
    /// An MNO (ES4.GetEIS, ES4.AuditEIS, notifications): only its own profiles.
    Mno(&'a str),
    /// An SM-DP (ES3.GetEIS): only the profiles it downloaded.
    SmDp(&'a str),
    /// An eUICC owner (ESM2M): every profile of its own eUICCs (which eUICCs are its own is the owner table's
    /// business: `platform::euicc_known`).
    Owner(&'a str),
    /// The SM-SR an eUICC is handed over to (ES7.HandoverEUICC, SGP.02 §3.8): every profile, the ISD-R's key set
    /// versions and the ECASD's certificates; still no key values or counters.
    Smsr(&'a str),
}

impl Viewer<'_> {
    /// Whether the viewer sees the profile `p`: its own (an MNO's by `Mno-id`, an SM-DP's by `Smdp-id`), and
    /// never one still in creation.
    pub fn sees(&self, p: &store::ProfileInfo) -> bool {
        p.state != store::ProfileState::InCreation
            && match self {
                Viewer::Mno(oid) => p.mno_id == *oid,
                Viewer::SmDp(oid) => p.smdp_id.as_deref() == Some(*oid),
                Viewer::Owner(_) | Viewer::Smsr(_) => true,
            }
    }

    /// Whether the viewer may know of an eUICC whose profiles are `profiles`: an SM-DP of any eUICC of this
    /// SM-SR (it downloads onto eUICCs it has no profile on yet), an MNO only of one carrying a profile it sees; an owner of any here (its ownership is checked by
    /// `platform::euicc_known`).
    /// Where this is false the eUICC is answered as unknown (8.1.1), exactly like an EID that does not exist.
    pub fn knows_euicc<'p>(
        &self,
        profiles: impl IntoIterator<Item = &'p store::ProfileInfo>,
    ) -> bool {
        match self {
            Viewer::SmDp(_) | Viewer::Owner(_) | Viewer::Smsr(_) => true,
            Viewer::Mno(_) => profiles.into_iter().any(|p| self.sees(p)),
        }
    }

    /// The viewer's OID.
    pub fn oid(&self) -> &str {
        match self {
            Viewer::Mno(o) | Viewer::SmDp(o) | Viewer::Owner(o) | Viewer::Smsr(o) => o,
        }
    }
}

fn parse<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, SmsrError>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| {
        SmsrError::internal(std::io::Error::other(format!(
            "stored {what} {v:?} is not valid: {e}"
        )))
    })
}

/// A security domain without key values or counters: key set versions and usages, and certificates, only.
/// An MNO gets [`SecurityDomain::identity_only`] of it.
fn public_sd(sd: &store::SecurityDomain, role: SdRole) -> Result<SecurityDomain, SmsrError> {
    let mut keysets = Vec::with_capacity(sd.keysets.len());
    for ks in &sd.keysets {
        let mut items = Vec::new();
        for c in &ks.certificates {
            items.push(KeysetItem::Certificate(GpCertificate {
                index: KeyIndex::new(c.index).map_err(SmsrError::internal)?,
                ca_id: parse::<Oid>("CaId", &c.ca_id)?,
                value: es_interfaces::types::HexBinary::from_bytes(&c.value)
                    .map_err(SmsrError::internal)?,
            }));
        }
        keysets.push(Keyset {
            version: KeysetVersion::new(ks.version).map_err(SmsrError::internal)?,
            keyset_type: ks
                .usage
                .as_deref()
                .map(|u| parse("Keyset/Type", u))
                .transpose()?,
            cntr: None,
            items,
        });
    }
    if keysets.is_empty() {
        return Err(SmsrError::internal(std::io::Error::other(
            "stored security domain has no key set",
        )));
    }
    Ok(SecurityDomain {
        aid: Aid::from_bytes(&sd.aid).map_err(SmsrError::internal)?,
        tar: sd.tars.iter().map(|t| Tar(*t)).collect(),
        sin: HexBinary16::from_bytes(&sd.sin).map_err(SmsrError::internal)?,
        sdin: HexBinary16::from_bytes(&sd.sdin).map_err(SmsrError::internal)?,
        role,
        keysets,
    })
}

/// A profile as the EIS shows it.
pub fn profile_info(p: &store::ProfileInfo) -> Result<ProfileInfo, SmsrError> {
    Ok(ProfileInfo {
        iccid: parse::<Iccid>("Iccid", &p.iccid)?,
        isd_p_aid: Aid::from_bytes(&p.isd_p_aid).map_err(SmsrError::internal)?,
        mno_id: parse::<Oid>("Mno-id", &p.mno_id)?,
        fallback_attribute: p.fallback,
        subscription_address: SubscriptionAddress {
            imsi: p
                .imsi
                .as_deref()
                .map(|i| parse::<Imsi>("Imsi", i))
                .transpose()?,
            msisdn: p
                .msisdn
                .as_deref()
                .map(|m| parse::<Msisdn>("Msisdn", m))
                .transpose()?,
        },
        state: match p.state {
            store::ProfileState::Enabled => ProfileState::Enabled,
            store::ProfileState::Disabled => ProfileState::Disabled,
            _ => ProfileState::Created,
        },
        smdp_id: p
            .smdp_id
            .as_deref()
            .map(|o| parse::<Oid>("Smdp-id", o))
            .transpose()?,
        profile_type: p
            .profile_type
            .as_deref()
            .map(|t| parse("ProfileType", t))
            .transpose()?,
        allocated_memory: u64::try_from(p.allocated_memory).unwrap_or(0),
        free_memory: p.free_memory.and_then(|m| u64::try_from(m).ok()),
        pol2: Pol2 {
            rules: p
                .pol2
                .iter()
                .map(|r| {
                    Ok(Pol2Rule {
                        subject: parse("pol2/Rule/Subject", &r.subject)?,
                        action: parse("pol2/Rule/Action", &r.action)?,
                        qualification: parse("pol2/Rule/Qualification", &r.qualification)?,
                    })
                })
                .collect::<Result<Vec<_>, SmsrError>>()?,
        },
    })
}

/// The EIS as `viewer` may see it: its own profiles (profiles in creation are never shown), the audit records
/// of those profiles and of the operations it requested, no key values, no counters; for an MNO the ISD-R and
/// the ECASD reduced to their identity. Whether the viewer may see this eUICC at all is
/// [`Viewer::knows_euicc`], checked by the caller.
pub fn view(record: &EisRecord, viewer: Viewer<'_>) -> Result<Eis, SmsrError> {
    let e = &record.euicc;
    let si_doc = Document::parse(e.eum_signed_info_xml.as_bytes()).map_err(SmsrError::internal)?;
    let mut eum_signed_info =
        <EumSignedInfo as es_interfaces::messages::codec::XmlContent>::decode_element(
            si_doc.root(),
            "EumSignedInfo",
        )
        .map_err(SmsrError::internal)?;
    eum_signed_info.ecasd = public_sd(&record.ecasd, SdRole::Ecasd)?;
    let sig_doc = Document::parse(e.eum_signature_xml.as_bytes()).map_err(SmsrError::internal)?;
    let eum_signature =
        <EumSignature as es_interfaces::messages::codec::XmlContent>::decode_element(
            sig_doc.root(),
            "EumSignature",
        )
        .map_err(SmsrError::internal)?;
    let visible: Vec<&store::ProfileInfo> = record
        .profiles
        .iter()
        .map(|p| &p.info)
        .filter(|p| viewer.sees(p))
        .collect();
    let profile_info = visible
        .iter()
        .map(|p| profile_info(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut records = Vec::new();
    let viewer_oid = viewer.oid();
    for r in &record.audit_trail {
        // Records of the viewer's profiles, and of operations it requested (also on profiles since deleted).
        let Some(iccid) = &r.iccid else { continue };
        if !visible.iter().any(|p| &p.iccid == iccid)
            && r.requester_id.as_deref() != Some(viewer_oid)
        {
            continue;
        }
        records.push(AuditTrailRecord {
            eid: parse("Eid", &r.eid)?,
            smsr_id: parse::<Oid>("Smsr-id", &r.smsr_id)?,
            operation_date: from_millis(r.operation_date)?,
            operation_type: OperationType(r.operation_type),
            requester_id: r
                .requester_id
                .as_deref()
                .map(|o| parse::<Oid>("RequesterId", o))
                .transpose()?,
            operation_execution_status: None,
            isd_p_aid: r
                .isd_p_aid
                .as_deref()
                .map(Aid::from_bytes)
                .transpose()
                .map_err(SmsrError::internal)?,
            iccid: Some(parse::<Iccid>("Iccid", iccid)?),
            imei: None,
            meid: None,
        });
    }
    let mut isd_r = public_sd(&record.isd_r, SdRole::IsdR)?;
    if let Viewer::Mno(_) | Viewer::Owner(_) = viewer {
        // Annex E: the ISD-R and the ECASD are the SM-SR's and the SM-DP's business; the schema still wants
        // both elements, so an MNO gets their identity only.
        isd_r = isd_r.identity_only();
        eum_signed_info.ecasd = eum_signed_info.ecasd.identity_only();
    }
    Ok(Eis {
        eum_signed_info,
        eum_signature,
        remaining_memory: u64::try_from(e.remaining_memory).unwrap_or(0),
        available_memory_for_profiles: u64::try_from(e.available_memory_for_profiles).unwrap_or(0),
        last_audit_date: e.last_audit_date.map(from_millis).transpose()?,
        smsr_id: parse::<Oid>("Smsr-id", &e.smsr_id)?,
        profile_info,
        isd_r,
        audit_trail: if records.is_empty() {
            None
        } else {
            Some(AuditTrail { records })
        },
        additional_properties: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_aad_names_the_place_of_the_key() {
        let a = key_aad("89049032123451234512345678901235", "ISD-R", 1, 2, 0);
        assert_eq!(a, b"89049032123451234512345678901235/ISD-R/1/2/0".to_vec());
        assert_ne!(
            a,
            key_aad("89049032123451234512345678901235", "ISD-R", 1, 3, 0)
        );
        assert_ne!(
            a,
            key_aad("89049032123451234512345678901235", "ECASD", 1, 2, 0)
        );
    }
}
