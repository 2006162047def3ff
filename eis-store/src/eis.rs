//! The eUICC Information Set of the SM-SR (SGP.02 §5.1.1.2.1, A1 `EISType`): eUICC, ISD-R and ECASD with
//! key sets, profiles with POL2 rules, audit trail and additional properties.
//!
//! Key component values arrive sealed ([`Sealed`]); the store never sees clear keys.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::connection::{AnyConnection, atomic, atomic_in_pg_tx, on_backend};
use crate::error::{RecordKind, StoreError, is_unique_violation};
use crate::schema::{
    additional_properties, audit_records, euiccs, isd_p_aid_counters, key_components, keysets,
    pol2_rules, profiles, sd_certificates, sd_keys, security_domains,
};
use crate::{Sealed, UnixMillis};

/// Largest SCP80 counter value: CNTR is 5 bytes (ETSI TS 102 225 §5.1.1.1).
pub const SCP80_COUNTER_MAX: u64 = 0xFF_FFFF_FFFF;

/// Role of a security domain in the EIS (A1 `SDRoleType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SdRole {
    /// Issuer Security Domain Root (SGP.02 §2.2.1.1).
    IsdR,
    /// eUICC Controlling Authority Security Domain (SGP.02 §2.2.1.3).
    Ecasd,
}

impl SdRole {
    /// Text stored in the `role` / `sd_role` columns (the A1 enumeration values).
    pub fn as_str(self) -> &'static str {
        match self {
            SdRole::IsdR => "ISD-R",
            SdRole::Ecasd => "ECASD",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<SdRole, StoreError> {
        match s {
            "ISD-R" => Ok(SdRole::IsdR),
            "ECASD" => Ok(SdRole::Ecasd),
            _ => Err(StoreError::invalid_data(
                "sd_role",
                format!("unknown security domain role {s:?}"),
            )),
        }
    }
}

/// State of a profile (A1 `ProfileInfo/State`, plus `InCreation` between ES3.CreateISDP and the SM-DP's
/// first ES3 call that makes it `Created`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileState {
    /// ISD-P creation requested but not yet confirmed by the eUICC (internal to this SM-SR).
    InCreation,
    /// ISD-P created (SGP.02 §5.4.6 / A1 `Created`).
    Created,
    /// Profile disabled (A1 `Disabled`).
    Disabled,
    /// Profile enabled (A1 `Enabled`).
    Enabled,
}

impl ProfileState {
    /// Text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileState::InCreation => "InCreation",
            ProfileState::Created => "Created",
            ProfileState::Disabled => "Disabled",
            ProfileState::Enabled => "Enabled",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<ProfileState, StoreError> {
        Ok(match s {
            "InCreation" => ProfileState::InCreation,
            "Created" => ProfileState::Created,
            "Disabled" => ProfileState::Disabled,
            "Enabled" => ProfileState::Enabled,
            _ => {
                return Err(StoreError::invalid_data(
                    "profiles.state",
                    format!("unknown state {s:?}"),
                ));
            }
        })
    }
}

/// Lock of an EIS during SM-SR change (SGP.02 §3.8 / §5.7.x): while locked, other operations are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EuiccLock {
    /// No SM-SR change under way.
    Free,
    /// This SM-SR is handing the eUICC over to another SM-SR (ES7), in the named operation.
    SmsrChangeOutgoing {
        /// The operation (or function call) that holds the lock.
        operation: String,
    },
    /// This SM-SR is receiving the eUICC from another SM-SR (ES7), in the named operation.
    SmsrChangeIncoming {
        /// The operation (or function call) that holds the lock.
        operation: String,
    },
}

impl EuiccLock {
    fn to_columns(&self) -> (&'static str, Option<String>) {
        match self {
            EuiccLock::Free => ("Free", None),
            EuiccLock::SmsrChangeOutgoing { operation } => {
                ("SmsrChangeOutgoing", Some(operation.clone()))
            }
            EuiccLock::SmsrChangeIncoming { operation } => {
                ("SmsrChangeIncoming", Some(operation.clone()))
            }
        }
    }

    fn from_columns(state: &str, owner: Option<String>) -> Result<EuiccLock, StoreError> {
        let owner = || {
            owner.clone().ok_or_else(|| {
                StoreError::invalid_data("euiccs.lock_owner", format!("{state} without owner"))
            })
        };
        Ok(match state {
            "Free" => EuiccLock::Free,
            "SmsrChangeOutgoing" => EuiccLock::SmsrChangeOutgoing {
                operation: owner()?,
            },
            "SmsrChangeIncoming" => EuiccLock::SmsrChangeIncoming {
                operation: owner()?,
            },
            _ => {
                return Err(StoreError::invalid_data(
                    "euiccs.lock_state",
                    format!("unknown lock state {state:?}"),
                ));
            }
        })
    }
}

/// eUICC capabilities (A1 `EuiccCapabilities`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccCapabilities {
    /// CAT_TP supported.
    pub cattp_support: bool,
    /// CAT_TP version (three-digit version), if supported.
    pub cattp_version: Option<String>,
    /// HTTPS (SCP81) supported.
    pub http_support: bool,
    /// HTTP version, if supported.
    pub http_version: Option<String>,
    /// Secure packet (ETSI TS 102 225) version.
    pub secure_packet_version: String,
    /// Remote provisioning (SGP.02) version.
    pub remote_provisioning_version: String,
}

/// The eUICC part of the EIS (A1 `EISType` / `EumSignedInfo`, memory, audit date, SM-SR id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccInfo {
    /// EID (32 decimal digits).
    pub eid: String,
    /// OID of the EUM.
    pub eum_id: String,
    /// Production date (unix ms).
    pub production_date: UnixMillis,
    /// Platform type.
    pub platform_type: String,
    /// Platform version (three-digit version).
    pub platform_version: String,
    /// AID of the Executable Load File used to create ISD-Ps.
    pub isd_p_loadfile_aid: Vec<u8>,
    /// AID of the Executable Module used to create ISD-Ps.
    pub isd_p_module_aid: Vec<u8>,
    /// Capabilities.
    pub capabilities: EuiccCapabilities,
    /// Remaining memory (bytes).
    pub remaining_memory: i64,
    /// Memory available for profiles (bytes).
    pub available_memory_for_profiles: i64,
    /// Date of the last audit (unix ms), if any.
    pub last_audit_date: Option<UnixMillis>,
    /// OID of the SM-SR in charge.
    pub smsr_id: String,
    /// The `EumSignedInfo` element exactly as received (so the EUM signature stays verifiable).
    pub eum_signed_info_xml: String,
    /// The `EumSignature` (`ds:Signature`) element exactly as received.
    pub eum_signature_xml: String,
}

/// A key component (A1 `KeyType/KeyComponents`): GP key type byte (GPCS §11.1.8) and the sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyComponent {
    /// Key type coding, one byte (GPCS §11.1.8).
    pub key_type: u8,
    /// The value, encrypted at rest.
    pub value: Sealed,
}

/// A key of a key set (A1 `KeyType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdKey {
    /// Key index in the key set (0..=127).
    pub index: u8,
    /// Key check value.
    pub kcv: Vec<u8>,
    /// Key components, in order.
    pub components: Vec<KeyComponent>,
}

/// A certificate of a key set (A1 `GPCertificateType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdCertificate {
    /// Certificate index in the key set (0..=127).
    pub index: u8,
    /// OID of the CA.
    pub ca_id: String,
    /// The certificate (GP UICC Configuration §9.2.1).
    pub value: Vec<u8>,
}

/// A key set of a security domain (A1 `SecurityDomainType/Keyset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    /// Key set version (1..=127).
    pub version: u8,
    /// Usage (A1 `KeysetUsageType`: SCP03, SCP80, SCP81, TokenGeneration, ReceiptVerification, CA).
    pub usage: Option<String>,
    /// Counter (SCP80 CNTR, 5 bytes: ETSI TS 102 225 §5.1.1.1).
    pub cntr: u64,
    /// Keys, ordered by index.
    pub keys: Vec<SdKey>,
    /// Certificates, ordered by index.
    pub certificates: Vec<SdCertificate>,
}

/// A security domain (A1 `SecurityDomainType`): ISD-R or ECASD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityDomain {
    /// AID.
    pub aid: Vec<u8>,
    /// TARs (empty: the implicit TAR, AID bytes 13–15).
    pub tars: Vec<[u8; 3]>,
    /// Security Domain Image Number (≤ 16 bytes).
    pub sin: Vec<u8>,
    /// Security Domain Identification Number (≤ 16 bytes).
    pub sdin: Vec<u8>,
    /// Key sets, ordered by version.
    pub keysets: Vec<Keyset>,
}

/// A POL2 rule (A1 `POL2RuleType`), values as the A1 enumerations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pol2Rule {
    /// Subject ("PROFILE").
    pub subject: String,
    /// Action ("ENABLE", "DISABLE", "DELETE").
    pub action: String,
    /// Qualification ("Not-Allowed", "Auto-Delete").
    pub qualification: String,
}

/// A profile of an eUICC (A1 `ProfileInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInfo {
    /// ICCID.
    pub iccid: String,
    /// AID of the ISD-P (unique per eUICC).
    pub isd_p_aid: Vec<u8>,
    /// OID of the MNO owning the profile (immutable).
    pub mno_id: String,
    /// Fall-back attribute.
    pub fallback: bool,
    /// Subscription address: IMSI.
    pub imsi: Option<String>,
    /// Subscription address: MSISDN.
    pub msisdn: Option<String>,
    /// State.
    pub state: ProfileState,
    /// OID of the SM-DP (absent for profiles loaded at issuance).
    pub smdp_id: Option<String>,
    /// Profile type (SM-DP reference).
    pub profile_type: Option<String>,
    /// Allocated memory (bytes).
    pub allocated_memory: i64,
    /// Free memory (bytes), under quota management.
    pub free_memory: Option<i64>,
    /// POL2 rules, in order.
    pub pol2: Vec<Pol2Rule>,
}

/// A stored profile with the EID it belongs to and its version for optimistic concurrency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    /// EID of the eUICC holding the profile.
    pub eid: String,
    /// The profile.
    pub info: ProfileInfo,
    /// Version, incremented on every update.
    pub version: i64,
    /// Created (unix ms).
    pub created_at: UnixMillis,
    /// Last updated (unix ms).
    pub updated_at: UnixMillis,
}

/// An audit trail record (A1 `AuditTrailRecordType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// EID.
    pub eid: String,
    /// OID of the SM-SR that performed the operation.
    pub smsr_id: String,
    /// Date of the operation (unix ms).
    pub operation_date: UnixMillis,
    /// Operation type, two bytes (SGP.02 Annex 1).
    pub operation_type: [u8; 2],
    /// Requester OID (absent for notifications).
    pub requester_id: Option<String>,
    /// Execution status, as the caller encodes it.
    pub execution_status: Option<String>,
    /// ISD-P AID concerned.
    pub isd_p_aid: Option<Vec<u8>>,
    /// ICCID concerned.
    pub iccid: Option<String>,
    /// IMEI (ETSI TS 102 223 §8.20).
    pub imei: Option<String>,
    /// MEID (ETSI TS 102 223 §8.81).
    pub meid: Option<String>,
}

/// An EIS as registered by the EUM (ES1.RegisterEIS, SGP.02 §5.2.1) or handed over (ES7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEis {
    /// The eUICC.
    pub euicc: EuiccInfo,
    /// ISD-R.
    pub isd_r: SecurityDomain,
    /// ECASD.
    pub ecasd: SecurityDomain,
    /// Profiles.
    pub profiles: Vec<ProfileInfo>,
    /// Audit trail.
    pub audit_trail: Vec<AuditRecord>,
    /// Additional properties (key → value).
    pub additional_properties: BTreeMap<String, String>,
}

/// A stored EIS with all its children (A1 `EISType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EisRecord {
    /// The eUICC.
    pub euicc: EuiccInfo,
    /// ISD-R.
    pub isd_r: SecurityDomain,
    /// ECASD.
    pub ecasd: SecurityDomain,
    /// Profiles, ordered by ICCID.
    pub profiles: Vec<ProfileRecord>,
    /// Audit trail, in insertion order.
    pub audit_trail: Vec<AuditRecord>,
    /// Additional properties.
    pub additional_properties: BTreeMap<String, String>,
    /// SM-SR change lock.
    pub lock: EuiccLock,
    /// Version of the eUICC row, incremented on every update of it.
    pub version: i64,
    /// Registered (unix ms).
    pub created_at: UnixMillis,
    /// Last updated (unix ms).
    pub updated_at: UnixMillis,
}

// ---------------------------------------------------------------------------------------------------------
// Rows

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = euiccs)]
#[diesel(treat_none_as_default_value = false)]
struct EuiccRow {
    eid: String,
    eum_id: String,
    production_date: i64,
    platform_type: String,
    platform_version: String,
    isd_p_loadfile_aid: Vec<u8>,
    isd_p_module_aid: Vec<u8>,
    cattp_support: bool,
    cattp_version: Option<String>,
    http_support: bool,
    http_version: Option<String>,
    secure_packet_version: String,
    remote_provisioning_version: String,
    remaining_memory: i64,
    available_memory_for_profiles: i64,
    last_audit_date: Option<i64>,
    smsr_id: String,
    eum_signed_info_xml: String,
    eum_signature_xml: String,
    lock_state: String,
    lock_owner: Option<String>,
    version: i64,
    es5_next_seq: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = security_domains)]
#[diesel(treat_none_as_default_value = false)]
struct SdRow {
    eid: String,
    role: String,
    aid: Vec<u8>,
    tars: Vec<u8>,
    sin: Vec<u8>,
    sdin: Vec<u8>,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = keysets)]
#[diesel(treat_none_as_default_value = false)]
struct KeysetRow {
    eid: String,
    sd_role: String,
    version: i32,
    usage: Option<String>,
    cntr: i64,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sd_keys)]
#[diesel(treat_none_as_default_value = false)]
struct KeyRow {
    eid: String,
    sd_role: String,
    keyset_version: i32,
    key_index: i32,
    kcv: Vec<u8>,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_components)]
#[diesel(treat_none_as_default_value = false)]
struct ComponentRow {
    eid: String,
    sd_role: String,
    keyset_version: i32,
    key_index: i32,
    position: i32,
    component_type: i32,
    value: Vec<u8>,
    value_key_id: String,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sd_certificates)]
#[diesel(treat_none_as_default_value = false)]
struct CertRow {
    eid: String,
    sd_role: String,
    keyset_version: i32,
    cert_index: i32,
    ca_id: String,
    value: Vec<u8>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = profiles)]
#[diesel(treat_none_as_default_value = false)]
struct ProfileRow {
    iccid: String,
    eid: String,
    isd_p_aid: Vec<u8>,
    mno_id: String,
    fallback: bool,
    imsi: Option<String>,
    msisdn: Option<String>,
    state: String,
    smdp_id: Option<String>,
    profile_type: Option<String>,
    allocated_memory: i64,
    free_memory: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = pol2_rules)]
#[diesel(treat_none_as_default_value = false)]
struct Pol2Row {
    iccid: String,
    position: i32,
    subject: String,
    action: String,
    qualification: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_records)]
#[diesel(treat_none_as_default_value = false)]
struct AuditRow {
    eid: String,
    smsr_id: String,
    operation_date: i64,
    operation_type: Vec<u8>,
    requester_id: Option<String>,
    execution_status: Option<String>,
    isd_p_aid: Option<Vec<u8>>,
    iccid: Option<String>,
    imei: Option<String>,
    meid: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = additional_properties)]
#[diesel(treat_none_as_default_value = false)]
struct PropertyRow {
    eid: String,
    key: String,
    value: String,
}

// ---------------------------------------------------------------------------------------------------------
// Conversions

fn check_index(what: &'static str, v: u8, min: u8) -> Result<i32, StoreError> {
    if v < min || v > 127 {
        return Err(StoreError::invalid_argument(
            what,
            format!("{v} outside {min}..=127"),
        ));
    }
    Ok(i32::from(v))
}

fn u8_col(what: &'static str, v: i32) -> Result<u8, StoreError> {
    u8::try_from(v).map_err(|_| StoreError::invalid_data(what, format!("{v} is not a byte")))
}

fn cntr_to_db(v: u64) -> Result<i64, StoreError> {
    if v > SCP80_COUNTER_MAX {
        return Err(StoreError::invalid_argument(
            "keyset cntr",
            format!("{v} exceeds 2^40 - 1"),
        ));
    }
    i64::try_from(v).map_err(|_| StoreError::invalid_argument("keyset cntr", "out of range"))
}

fn cntr_from_db(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v)
        .ok()
        .filter(|c| *c <= SCP80_COUNTER_MAX)
        .ok_or_else(|| StoreError::invalid_data("keysets.cntr", format!("{v} out of range")))
}

/// Rows of one security domain, in insertion order of the tables.
#[derive(Default)]
struct SdRows {
    sds: Vec<SdRow>,
    keysets: Vec<KeysetRow>,
    keys: Vec<KeyRow>,
    components: Vec<ComponentRow>,
    certs: Vec<CertRow>,
}

fn keyset_rows(out: &mut SdRows, eid: &str, role: SdRole, ks: &Keyset) -> Result<(), StoreError> {
    let version = check_index("keyset version", ks.version, 1)?;
    out.keysets.push(KeysetRow {
        eid: eid.to_string(),
        sd_role: role.as_str().to_string(),
        version,
        usage: ks.usage.clone(),
        cntr: cntr_to_db(ks.cntr)?,
    });
    for k in &ks.keys {
        let key_index = check_index("key index", k.index, 0)?;
        out.keys.push(KeyRow {
            eid: eid.to_string(),
            sd_role: role.as_str().to_string(),
            keyset_version: version,
            key_index,
            kcv: k.kcv.clone(),
        });
        for (pos, c) in k.components.iter().enumerate() {
            out.components.push(ComponentRow {
                eid: eid.to_string(),
                sd_role: role.as_str().to_string(),
                keyset_version: version,
                key_index,
                position: i32::try_from(pos)
                    .map_err(|_| StoreError::invalid_argument("key components", "too many"))?,
                component_type: i32::from(c.key_type),
                value: c.value.ciphertext.clone(),
                value_key_id: c.value.key_id.clone(),
            });
        }
    }
    for cert in &ks.certificates {
        out.certs.push(CertRow {
            eid: eid.to_string(),
            sd_role: role.as_str().to_string(),
            keyset_version: version,
            cert_index: check_index("certificate index", cert.index, 0)?,
            ca_id: cert.ca_id.clone(),
            value: cert.value.clone(),
        });
    }
    Ok(())
}

fn sd_rows(
    out: &mut SdRows,
    eid: &str,
    role: SdRole,
    sd: &SecurityDomain,
) -> Result<(), StoreError> {
    out.sds.push(SdRow {
        eid: eid.to_string(),
        role: role.as_str().to_string(),
        aid: sd.aid.clone(),
        tars: sd.tars.concat(),
        sin: sd.sin.clone(),
        sdin: sd.sdin.clone(),
    });
    for ks in &sd.keysets {
        keyset_rows(out, eid, role, ks)?;
    }
    Ok(())
}

fn profile_rows(
    eid: &str,
    p: &ProfileInfo,
    now: UnixMillis,
) -> Result<(ProfileRow, Vec<Pol2Row>), StoreError> {
    let row = ProfileRow {
        iccid: p.iccid.clone(),
        eid: eid.to_string(),
        isd_p_aid: p.isd_p_aid.clone(),
        mno_id: p.mno_id.clone(),
        fallback: p.fallback,
        imsi: p.imsi.clone(),
        msisdn: p.msisdn.clone(),
        state: p.state.as_str().to_string(),
        smdp_id: p.smdp_id.clone(),
        profile_type: p.profile_type.clone(),
        allocated_memory: p.allocated_memory,
        free_memory: p.free_memory,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    Ok((row, pol2_rows(&p.iccid, &p.pol2)?))
}

fn pol2_rows(iccid: &str, rules: &[Pol2Rule]) -> Result<Vec<Pol2Row>, StoreError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(Pol2Row {
                iccid: iccid.to_string(),
                position: i32::try_from(i)
                    .map_err(|_| StoreError::invalid_argument("pol2", "too many rules"))?,
                subject: r.subject.clone(),
                action: r.action.clone(),
                qualification: r.qualification.clone(),
            })
        })
        .collect()
}

fn audit_row(r: &AuditRecord) -> AuditRow {
    AuditRow {
        eid: r.eid.clone(),
        smsr_id: r.smsr_id.clone(),
        operation_date: r.operation_date,
        operation_type: r.operation_type.to_vec(),
        requester_id: r.requester_id.clone(),
        execution_status: r.execution_status.clone(),
        isd_p_aid: r.isd_p_aid.clone(),
        iccid: r.iccid.clone(),
        imei: r.imei.clone(),
        meid: r.meid.clone(),
    }
}

fn audit_from_row(r: AuditRow) -> Result<AuditRecord, StoreError> {
    let operation_type = <[u8; 2]>::try_from(r.operation_type.as_slice()).map_err(|_| {
        StoreError::invalid_data(
            "audit_records.operation_type",
            format!("{} bytes instead of 2", r.operation_type.len()),
        )
    })?;
    Ok(AuditRecord {
        eid: r.eid,
        smsr_id: r.smsr_id,
        operation_date: r.operation_date,
        operation_type,
        requester_id: r.requester_id,
        execution_status: r.execution_status,
        isd_p_aid: r.isd_p_aid,
        iccid: r.iccid,
        imei: r.imei,
        meid: r.meid,
    })
}

/// Inserts rows of a table in one multi-row statement per backend.
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {
        if !$rows.is_empty() {
            on_backend!($conn, c => diesel::insert_into($table).values($rows).execute(c))?;
        }
    };
}

fn insert_sd_rows(conn: &mut AnyConnection, rows: &SdRows) -> Result<(), StoreError> {
    insert_all!(conn, security_domains::table, &rows.sds);
    insert_all!(conn, keysets::table, &rows.keysets);
    insert_all!(conn, sd_keys::table, &rows.keys);
    insert_all!(conn, key_components::table, &rows.components);
    insert_all!(conn, sd_certificates::table, &rows.certs);
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// EIS

/// The rows of one EIS in every table it spans, as [`register_eis`] and [`copy_eis`] store them.
struct EisRows {
    euicc: EuiccRow,
    children: ChildRows,
}

/// The rows of the tables below `euiccs` (of one EIS or of a batch of them).
#[derive(Default)]
struct ChildRows {
    sd: SdRows,
    profiles: Vec<ProfileRow>,
    rules: Vec<Pol2Row>,
    audits: Vec<AuditRow>,
    props: Vec<PropertyRow>,
}

impl ChildRows {
    fn append(&mut self, mut other: ChildRows) {
        self.sd.sds.append(&mut other.sd.sds);
        self.sd.keysets.append(&mut other.sd.keysets);
        self.sd.keys.append(&mut other.sd.keys);
        self.sd.components.append(&mut other.sd.components);
        self.sd.certs.append(&mut other.sd.certs);
        self.profiles.append(&mut other.profiles);
        self.rules.append(&mut other.rules);
        self.audits.append(&mut other.audits);
        self.props.append(&mut other.props);
    }
}

impl EisRows {
    fn new(eis: &NewEis, now: UnixMillis) -> Result<EisRows, StoreError> {
        let e = &eis.euicc;
        let eid = e.eid.as_str();
        if let Some(a) = eis.audit_trail.iter().find(|a| a.eid != eid) {
            return Err(StoreError::invalid_argument(
                "audit trail",
                format!("record for EID {} in the EIS of {eid}", a.eid),
            ));
        }
        let euicc = EuiccRow {
            eid: eid.to_string(),
            eum_id: e.eum_id.clone(),
            production_date: e.production_date,
            platform_type: e.platform_type.clone(),
            platform_version: e.platform_version.clone(),
            isd_p_loadfile_aid: e.isd_p_loadfile_aid.clone(),
            isd_p_module_aid: e.isd_p_module_aid.clone(),
            cattp_support: e.capabilities.cattp_support,
            cattp_version: e.capabilities.cattp_version.clone(),
            http_support: e.capabilities.http_support,
            http_version: e.capabilities.http_version.clone(),
            secure_packet_version: e.capabilities.secure_packet_version.clone(),
            remote_provisioning_version: e.capabilities.remote_provisioning_version.clone(),
            remaining_memory: e.remaining_memory,
            available_memory_for_profiles: e.available_memory_for_profiles,
            last_audit_date: e.last_audit_date,
            smsr_id: e.smsr_id.clone(),
            eum_signed_info_xml: e.eum_signed_info_xml.clone(),
            eum_signature_xml: e.eum_signature_xml.clone(),
            lock_state: "Free".into(),
            lock_owner: None,
            version: 0,
            es5_next_seq: 1,
            created_at: now,
            updated_at: now,
        };
        let mut children = ChildRows::default();
        sd_rows(&mut children.sd, eid, SdRole::IsdR, &eis.isd_r)?;
        sd_rows(&mut children.sd, eid, SdRole::Ecasd, &eis.ecasd)?;
        for p in &eis.profiles {
            let (r, mut pol) = profile_rows(eid, p, now)?;
            children.profiles.push(r);
            children.rules.append(&mut pol);
        }
        children.audits = eis.audit_trail.iter().map(audit_row).collect();
        children.props = eis
            .additional_properties
            .iter()
            .map(|(k, v)| PropertyRow {
                eid: eid.to_string(),
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        Ok(EisRows { euicc, children })
    }
}

fn profile_conflict(e: diesel::result::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::exists(RecordKind::Profile, "an ICCID or ISD-P AID of this EIS")
    } else {
        e.into()
    }
}

/// Stores a new EIS with all its children atomically (ES1.RegisterEIS, SGP.02 §5.2.1). A known EID fails
/// with `AlreadyExists { kind: Eis, .. }` and leaves the stored EIS untouched.
pub fn register_eis(
    conn: &mut AnyConnection,
    eis: &NewEis,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let eid = eis.euicc.eid.as_str();
    let rows = EisRows::new(eis, now)?;
    atomic(conn, |c| {
        // ON CONFLICT DO NOTHING: a concurrent registration of the same EID waits for the first and then
        // inserts nothing, instead of failing the caller's transaction.
        let n = on_backend!(c, c => diesel::insert_into(euiccs::table)
            .values(&rows.euicc)
            .on_conflict_do_nothing()
            .execute(c))?;
        if n == 0 {
            return Err(StoreError::exists(RecordKind::Eis, eid));
        }
        let ch = &rows.children;
        insert_sd_rows(c, &ch.sd)?;
        // A duplicate ICCID (held by another eUICC) or ISD-P AID rolls the whole registration back.
        if !ch.profiles.is_empty() {
            on_backend!(c, c => diesel::insert_into(profiles::table).values(&ch.profiles).execute(c))
                .map_err(profile_conflict)?;
        }
        insert_all!(c, pol2_rules::table, &ch.rules);
        insert_all!(c, audit_records::table, &ch.audits);
        insert_all!(c, additional_properties::table, &ch.props);
        Ok(())
    })
}

/// Stores many new EISs at once, in one transaction, with the same rows [`register_eis`] writes (bulk load of
/// an EIS database, SGP.02 §5.1.1.2.1; `rsp bench seed`). On PostgreSQL each table is filled by one
/// `COPY … FROM STDIN (FORMAT binary)`; on SQLite by multi-row INSERTs of at most 500 rows. A known EID,
/// ICCID or ISD-P AID fails the whole batch with `AlreadyExists` and stores nothing.
pub fn copy_eis(
    conn: &mut AnyConnection,
    batch: &[NewEis],
    now: UnixMillis,
) -> Result<(), StoreError> {
    let mut all = ChildRows::default();
    let mut euicc_rows = Vec::with_capacity(batch.len());
    for eis in batch {
        let rows = EisRows::new(eis, now)?;
        euicc_rows.push(rows.euicc);
        all.append(rows.children);
    }
    let first = batch.first().map_or("", |e| e.euicc.eid.as_str());
    atomic(conn, |c| {
        copy_rows(c, euiccs::table, &euicc_rows).map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::exists(
                    RecordKind::Eis,
                    format!("an EID of the batch starting at {first}"),
                )
            } else {
                e.into()
            }
        })?;
        copy_rows(c, security_domains::table, &all.sd.sds)?;
        copy_rows(c, keysets::table, &all.sd.keysets)?;
        copy_rows(c, sd_keys::table, &all.sd.keys)?;
        copy_rows(c, key_components::table, &all.sd.components)?;
        copy_rows(c, sd_certificates::table, &all.sd.certs)?;
        copy_rows(c, profiles::table, &all.profiles).map_err(profile_conflict)?;
        copy_rows(c, pol2_rules::table, &all.rules)?;
        copy_rows(c, audit_records::table, &all.audits)?;
        copy_rows(c, additional_properties::table, &all.props)?;
        Ok(())
    })
}

/// A table [`copy_eis`] fills, with its row type: one COPY on PostgreSQL, INSERTs of at most 500 rows on
/// SQLite (its bound-parameter limit).
trait CopyTarget<R> {
    fn copy(self, conn: &mut AnyConnection, rows: &[R]) -> Result<(), diesel::result::Error>;
}

macro_rules! copy_target {
    ($($table:ident => $row:ty),* $(,)?) => {
        $(
            impl CopyTarget<$row> for $table::table {
                fn copy(self, conn: &mut AnyConnection, rows: &[$row]) -> Result<(), diesel::result::Error> {
                    if rows.is_empty() {
                        return Ok(());
                    }
                    match conn {
                        AnyConnection::Pg(c) => {
                            diesel::copy_from(self).from_insertable(rows).execute(c)?;
                        }
                        AnyConnection::Sqlite(c) => {
                            for part in rows.chunks(500) {
                                diesel::insert_into(self).values(part).execute(c)?;
                            }
                        }
                    }
                    Ok(())
                }
            }
        )*
    };
}

copy_target!(
    euiccs => EuiccRow,
    security_domains => SdRow,
    keysets => KeysetRow,
    sd_keys => KeyRow,
    key_components => ComponentRow,
    sd_certificates => CertRow,
    profiles => ProfileRow,
    pol2_rules => Pol2Row,
    audit_records => AuditRow,
    additional_properties => PropertyRow,
);

fn copy_rows<T: CopyTarget<R>, R>(
    conn: &mut AnyConnection,
    table: T,
    rows: &[R],
) -> Result<(), diesel::result::Error> {
    table.copy(conn, rows)
}

/// Both security domains of an EIS (ISD-R, ECASD), each table read once for both: 3 statements without key
/// values, 5 with them.
fn load_sds(
    conn: &mut AnyConnection,
    eid: &str,
    key_values: bool,
) -> Result<(SecurityDomain, SecurityDomain), StoreError> {
    let sds: Vec<SdRow> = security_domains::table
        .filter(security_domains::eid.eq(eid))
        .select(SdRow::as_select())
        .load(conn)?;
    let kss: Vec<KeysetRow> = keysets::table
        .filter(keysets::eid.eq(eid))
        .order((keysets::sd_role, keysets::version))
        .select(KeysetRow::as_select())
        .load(conn)?;
    let (keys, comps): (Vec<KeyRow>, Vec<ComponentRow>) = if key_values {
        let keys = sd_keys::table
            .filter(sd_keys::eid.eq(eid))
            .order((
                sd_keys::sd_role,
                sd_keys::keyset_version,
                sd_keys::key_index,
            ))
            .select(KeyRow::as_select())
            .load(conn)?;
        let comps = key_components::table
            .filter(key_components::eid.eq(eid))
            .order((
                key_components::sd_role,
                key_components::keyset_version,
                key_components::key_index,
                key_components::position,
            ))
            .select(ComponentRow::as_select())
            .load(conn)?;
        (keys, comps)
    } else {
        (Vec::new(), Vec::new())
    };
    let certs: Vec<CertRow> = sd_certificates::table
        .filter(sd_certificates::eid.eq(eid))
        .order((
            sd_certificates::sd_role,
            sd_certificates::keyset_version,
            sd_certificates::cert_index,
        ))
        .select(CertRow::as_select())
        .load(conn)?;
    let sd_of = |role: SdRole| -> Result<SecurityDomain, StoreError> {
        let r = role.as_str();
        let sd = sds.iter().find(|s| s.role == r).ok_or_else(|| {
            StoreError::invalid_data("security_domains", format!("EIS {eid} has no {r}"))
        })?;
        if !sd.tars.len().is_multiple_of(3) {
            return Err(StoreError::invalid_data(
                "security_domains.tars",
                format!("{} bytes is not a list of 3-byte TARs", sd.tars.len()),
            ));
        }
        let tars = sd
            .tars
            .chunks_exact(3)
            .map(|t| [t[0], t[1], t[2]])
            .collect();
        let of_role = |v: &str| v == r;
        let keysets = assemble_keysets(
            kss.iter()
                .filter(|k| of_role(&k.sd_role))
                .cloned()
                .collect(),
            keys.iter()
                .filter(|k| of_role(&k.sd_role))
                .cloned()
                .collect(),
            comps
                .iter()
                .filter(|c| of_role(&c.sd_role))
                .cloned()
                .collect(),
            certs
                .iter()
                .filter(|c| of_role(&c.sd_role))
                .cloned()
                .collect(),
        )?;
        Ok(SecurityDomain {
            aid: sd.aid.clone(),
            tars,
            sin: sd.sin.clone(),
            sdin: sd.sdin.clone(),
            keysets,
        })
    };
    Ok((sd_of(SdRole::IsdR)?, sd_of(SdRole::Ecasd)?))
}

fn assemble_keysets(
    kss: Vec<KeysetRow>,
    keys: Vec<KeyRow>,
    comps: Vec<ComponentRow>,
    certs: Vec<CertRow>,
) -> Result<Vec<Keyset>, StoreError> {
    let mut out = Vec::with_capacity(kss.len());
    for ks in kss {
        let v = ks.version;
        let mut key_list = Vec::new();
        for k in keys.iter().filter(|k| k.keyset_version == v) {
            let components = comps
                .iter()
                .filter(|c| c.keyset_version == v && c.key_index == k.key_index)
                .map(|c| {
                    Ok(KeyComponent {
                        key_type: u8_col("key_components.component_type", c.component_type)?,
                        value: Sealed {
                            key_id: c.value_key_id.clone(),
                            ciphertext: c.value.clone(),
                        },
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            key_list.push(SdKey {
                index: u8_col("sd_keys.key_index", k.key_index)?,
                kcv: k.kcv.clone(),
                components,
            });
        }
        let cert_list = certs
            .iter()
            .filter(|c| c.keyset_version == v)
            .map(|c| {
                Ok(SdCertificate {
                    index: u8_col("sd_certificates.cert_index", c.cert_index)?,
                    ca_id: c.ca_id.clone(),
                    value: c.value.clone(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.push(Keyset {
            version: u8_col("keysets.version", v)?,
            usage: ks.usage,
            cntr: cntr_from_db(ks.cntr)?,
            keys: key_list,
            certificates: cert_list,
        });
    }
    Ok(out)
}

fn profile_from_rows(r: ProfileRow, rules: Vec<Pol2Rule>) -> Result<ProfileRecord, StoreError> {
    Ok(ProfileRecord {
        eid: r.eid,
        info: ProfileInfo {
            iccid: r.iccid,
            isd_p_aid: r.isd_p_aid,
            mno_id: r.mno_id,
            fallback: r.fallback,
            imsi: r.imsi,
            msisdn: r.msisdn,
            state: ProfileState::parse(&r.state)?,
            smdp_id: r.smdp_id,
            profile_type: r.profile_type,
            allocated_memory: r.allocated_memory,
            free_memory: r.free_memory,
            pol2: rules,
        },
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn rule(r: Pol2Row) -> Pol2Rule {
    Pol2Rule {
        subject: r.subject,
        action: r.action,
        qualification: r.qualification,
    }
}

/// The profiles matching `$filter` (on `profiles`), ordered by ICCID, each with its POL2 rules, in one
/// statement: a profile row comes once per rule, or once with none.
macro_rules! profiles_with_rules {
    ($conn:expr, $filter:expr) => {{
        let rows: Vec<(ProfileRow, Option<Pol2Row>)> = profiles::table
            .left_join(pol2_rules::table)
            .filter($filter)
            .order((profiles::iccid, pol2_rules::position))
            .select((ProfileRow::as_select(), <Option<Pol2Row>>::as_select()))
            .load($conn)?;
        group_rules(rows)?
    }};
}

fn group_rules(rows: Vec<(ProfileRow, Option<Pol2Row>)>) -> Result<Vec<ProfileRecord>, StoreError> {
    let mut out: Vec<(ProfileRow, Vec<Pol2Rule>)> = Vec::new();
    for (p, r) in rows {
        match out.last_mut() {
            Some((last, rules)) if last.iccid == p.iccid => rules.extend(r.map(rule)),
            _ => out.push((p, r.map(rule).into_iter().collect())),
        }
    }
    out.into_iter()
        .map(|(p, rules)| profile_from_rows(p, rules))
        .collect()
}

/// The profiles of one eUICC, ordered by ICCID, each with its POL2 rules.
pub fn profiles_of(conn: &mut AnyConnection, eid: &str) -> Result<Vec<ProfileRecord>, StoreError> {
    Ok(profiles_with_rules!(conn, profiles::eid.eq(eid)))
}

/// The audit trail of one eUICC, oldest first.
pub fn audit_trail(conn: &mut AnyConnection, eid: &str) -> Result<Vec<AuditRecord>, StoreError> {
    audit_records::table
        .filter(audit_records::eid.eq(eid))
        .order(audit_records::id)
        .select(AuditRow::as_select())
        .load(conn)?
        .into_iter()
        .map(audit_from_row)
        .collect()
}

/// The complete EIS of one eUICC with all its children (ES3/ES4 GetEIS, SGP.02 §5.4.x / §5.5.x), or `None`.
pub fn get_eis(conn: &mut AnyConnection, eid: &str) -> Result<Option<EisRecord>, StoreError> {
    load_eis(conn, eid, true)
}

/// The EIS of one eUICC as [`get_eis`] gives it but with no key values read (every key set lists its
/// certificates and no keys): what an ES3/ES4 GetEIS view shows, with two queries fewer per security domain
/// and the sealed key material left in the database (SGP.02 §5.4.x / §5.5.x; design §4).
pub fn get_eis_without_key_values(
    conn: &mut AnyConnection,
    eid: &str,
) -> Result<Option<EisRecord>, StoreError> {
    load_eis(conn, eid, false)
}

fn load_eis(
    conn: &mut AnyConnection,
    eid: &str,
    key_values: bool,
) -> Result<Option<EisRecord>, StoreError> {
    let Some(e) = euiccs::table
        .find(eid)
        .select(EuiccRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let (isd_r, ecasd) = load_sds(conn, eid, key_values)?;
    let profiles = profiles_of(conn, eid)?;
    let audit = audit_trail(conn, eid)?;
    let props: Vec<PropertyRow> = additional_properties::table
        .filter(additional_properties::eid.eq(eid))
        .order(additional_properties::key)
        .select(PropertyRow::as_select())
        .load(conn)?;
    let lock = EuiccLock::from_columns(&e.lock_state, e.lock_owner.clone())?;
    Ok(Some(EisRecord {
        euicc: EuiccInfo {
            eid: e.eid,
            eum_id: e.eum_id,
            production_date: e.production_date,
            platform_type: e.platform_type,
            platform_version: e.platform_version,
            isd_p_loadfile_aid: e.isd_p_loadfile_aid,
            isd_p_module_aid: e.isd_p_module_aid,
            capabilities: EuiccCapabilities {
                cattp_support: e.cattp_support,
                cattp_version: e.cattp_version,
                http_support: e.http_support,
                http_version: e.http_version,
                secure_packet_version: e.secure_packet_version,
                remote_provisioning_version: e.remote_provisioning_version,
            },
            remaining_memory: e.remaining_memory,
            available_memory_for_profiles: e.available_memory_for_profiles,
            last_audit_date: e.last_audit_date,
            smsr_id: e.smsr_id,
            eum_signed_info_xml: e.eum_signed_info_xml,
            eum_signature_xml: e.eum_signature_xml,
        },
        isd_r,
        ecasd,
        profiles,
        audit_trail: audit,
        additional_properties: props.into_iter().map(|p| (p.key, p.value)).collect(),
        lock,
        version: e.version,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }))
}

/// EIDs in ascending order after `after` (exclusive), at most `limit` (fleet listing, paging by EID).
pub fn list_eids(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut q = euiccs::table
        .select(euiccs::eid)
        .order(euiccs::eid)
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(euiccs::eid.gt(a));
    }
    Ok(q.load(conn)?)
}

/// How many eUICCs the store holds (SGP.02 §5.1.1.2.1; `rsp bench api --database-url` samples seeded EIDs).
pub fn count_euiccs(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(euiccs::table.count().get_result(conn)?)
}

/// Deletes an EIS and everything attached to it (after SM-SR change, SGP.02 §5.7.x, or deregistration).
pub fn delete_eis(conn: &mut AnyConnection, eid: &str) -> Result<(), StoreError> {
    let n = diesel::delete(euiccs::table.find(eid)).execute(conn)?;
    if n == 0 {
        return Err(StoreError::not_found(RecordKind::Eis, eid));
    }
    Ok(())
}

/// Fields of the eUICC row that operations update (memory after download/delete, audit date, SM-SR id after
/// SM-SR change); `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = euiccs)]
pub struct EuiccUpdate {
    /// New remaining memory.
    pub remaining_memory: Option<i64>,
    /// New memory available for profiles.
    pub available_memory_for_profiles: Option<i64>,
    /// New last-audit date.
    pub last_audit_date: Option<UnixMillis>,
    /// New SM-SR in charge.
    pub smsr_id: Option<String>,
}

/// Why an optimistic update found 0 rows: `NotFound` or `Conflict` naming the current version.
fn version_miss<T>(
    kind: RecordKind,
    key: &str,
    expected: i64,
    current: Option<i64>,
) -> Result<T, StoreError> {
    match current {
        None => Err(StoreError::not_found(kind, key)),
        Some(v) => Err(StoreError::conflict(
            kind,
            key,
            format!("expected version {expected}, found {v}"),
        )),
    }
}

fn euicc_version(conn: &mut AnyConnection, eid: &str) -> Result<Option<i64>, StoreError> {
    Ok(euiccs::table
        .find(eid)
        .select(euiccs::version)
        .first(conn)
        .optional()?)
}

/// Updates fields of the eUICC row if its version is still `expected_version`; returns the new version.
pub fn update_euicc(
    conn: &mut AnyConnection,
    eid: &str,
    expected_version: i64,
    update: &EuiccUpdate,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    atomic(conn, |c| {
        let target = euiccs::table.filter(
            euiccs::eid
                .eq(eid)
                .and(euiccs::version.eq(expected_version)),
        );
        let n = if *update == EuiccUpdate::default() {
            diesel::update(target)
                .set((
                    euiccs::version.eq(euiccs::version + 1),
                    euiccs::updated_at.eq(now),
                ))
                .execute(c)?
        } else {
            diesel::update(target)
                .set((
                    update,
                    euiccs::version.eq(euiccs::version + 1),
                    euiccs::updated_at.eq(now),
                ))
                .execute(c)?
        };
        if n == 0 {
            let cur = euicc_version(c, eid)?;
            return version_miss(RecordKind::Eis, eid, expected_version, cur);
        }
        Ok(expected_version + 1)
    })
}

/// The SM-SR change lock of an eUICC and its row's version (for [`set_lock`]), or `None` if it is unknown.
pub fn lock_of(
    conn: &mut AnyConnection,
    eid: &str,
) -> Result<Option<(EuiccLock, i64)>, StoreError> {
    let row: Option<(String, Option<String>, i64)> = euiccs::table
        .find(eid)
        .select((euiccs::lock_state, euiccs::lock_owner, euiccs::version))
        .first(conn)
        .optional()?;
    row.map(|(state, owner, version)| Ok((EuiccLock::from_columns(&state, owner)?, version)))
        .transpose()
}

/// Sets the SM-SR change lock if the eUICC row's version is still `expected_version`; returns the new version.
pub fn set_lock(
    conn: &mut AnyConnection,
    eid: &str,
    expected_version: i64,
    lock: &EuiccLock,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let (state, owner) = lock.to_columns();
    atomic(conn, |c| {
        let n = diesel::update(
            euiccs::table.filter(
                euiccs::eid
                    .eq(eid)
                    .and(euiccs::version.eq(expected_version)),
            ),
        )
        .set((
            euiccs::lock_state.eq(state),
            euiccs::lock_owner.eq(&owner),
            euiccs::version.eq(euiccs::version + 1),
            euiccs::updated_at.eq(now),
        ))
        .execute(c)?;
        if n == 0 {
            let cur = euicc_version(c, eid)?;
            return version_miss(RecordKind::Eis, eid, expected_version, cur);
        }
        Ok(expected_version + 1)
    })
}

/// One key set of a security domain (for building SCP80/SCP81/SCP03 sessions), or `None`.
pub fn get_keyset(
    conn: &mut AnyConnection,
    eid: &str,
    role: SdRole,
    version: u8,
) -> Result<Option<Keyset>, StoreError> {
    let r = role.as_str();
    let v = i32::from(version);
    let ks: Option<KeysetRow> = keysets::table
        .find((eid, r, v))
        .select(KeysetRow::as_select())
        .first(conn)
        .optional()?;
    let Some(ks) = ks else { return Ok(None) };
    let keys: Vec<KeyRow> = sd_keys::table
        .filter(
            sd_keys::eid
                .eq(eid)
                .and(sd_keys::sd_role.eq(r))
                .and(sd_keys::keyset_version.eq(v)),
        )
        .order(sd_keys::key_index)
        .select(KeyRow::as_select())
        .load(conn)?;
    let comps: Vec<ComponentRow> = key_components::table
        .filter(
            key_components::eid
                .eq(eid)
                .and(key_components::sd_role.eq(r))
                .and(key_components::keyset_version.eq(v)),
        )
        .order((key_components::key_index, key_components::position))
        .select(ComponentRow::as_select())
        .load(conn)?;
    let certs: Vec<CertRow> = sd_certificates::table
        .filter(
            sd_certificates::eid
                .eq(eid)
                .and(sd_certificates::sd_role.eq(r))
                .and(sd_certificates::keyset_version.eq(v)),
        )
        .order(sd_certificates::cert_index)
        .select(CertRow::as_select())
        .load(conn)?;
    Ok(assemble_keysets(vec![ks], keys, comps, certs)?.pop())
}

fn component(c: ComponentRow) -> Result<(u8, KeyComponent), StoreError> {
    Ok((
        u8_col("key_components.key_index", c.key_index)?,
        KeyComponent {
            key_type: u8_col("key_components.component_type", c.component_type)?,
            value: Sealed {
                key_id: c.value_key_id,
                ciphertext: c.value,
            },
        },
    ))
}

/// The key components of key set `version` of a security domain, by key index and position, in one statement
/// (an SCP80 session needs only the sealed values and their types, SGP.02 §2.2.5); empty when the key set
/// holds none or does not exist.
pub fn keyset_components(
    conn: &mut AnyConnection,
    eid: &str,
    role: SdRole,
    version: u8,
) -> Result<Vec<(u8, KeyComponent)>, StoreError> {
    let rows: Vec<ComponentRow> = key_components::table
        .filter(
            key_components::eid
                .eq(eid)
                .and(key_components::sd_role.eq(role.as_str()))
                .and(key_components::keyset_version.eq(i32::from(version))),
        )
        .order((key_components::key_index, key_components::position))
        .select(ComponentRow::as_select())
        .load(conn)?;
    rows.into_iter().map(component).collect()
}

/// One key set of a security domain as an SCP80/SCP81 session needs it (SGP.02 §2.2.5): its version, its usage
/// (`Keyset/Type`) and its key components by key index and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetComponents {
    /// Key set version.
    pub version: u8,
    /// Its usage, if the EIS gives one.
    pub usage: Option<String>,
    /// Key components by key index and position.
    pub components: Vec<(u8, KeyComponent)>,
}

/// A key set's version and usage, as read beside its components.
type KeysetHead = (i32, Option<String>);

/// Every key set of a security domain with its key components, ascending by version, in one statement
/// (choosing the SCP80 or SCP81 key set of the ISD-R and unsealing its keys, SGP.02 §2.2.5).
pub fn keysets_with_components(
    conn: &mut AnyConnection,
    eid: &str,
    role: SdRole,
) -> Result<Vec<KeysetComponents>, StoreError> {
    let rows: Vec<(KeysetHead, Option<ComponentRow>)> = keysets::table
        .left_join(
            key_components::table.on(key_components::eid
                .eq(keysets::eid)
                .and(key_components::sd_role.eq(keysets::sd_role))
                .and(key_components::keyset_version.eq(keysets::version))),
        )
        .filter(keysets::eid.eq(eid).and(keysets::sd_role.eq(role.as_str())))
        .order((
            keysets::version,
            key_components::key_index,
            key_components::position,
        ))
        .select((
            (keysets::version, keysets::usage),
            <Option<ComponentRow>>::as_select(),
        ))
        .load(conn)?;
    let mut out: Vec<KeysetComponents> = Vec::new();
    for ((v, usage), c) in rows {
        let version = u8_col("keysets.version", v)?;
        let c = c.map(component).transpose()?;
        match out.last_mut() {
            Some(last) if last.version == version => last.components.extend(c),
            _ => out.push(KeysetComponents {
                version,
                usage,
                components: c.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// Creates or replaces one key set of a security domain with its keys and certificates (key establishment
/// and SM-SR change: ES7.CreateAdditionalKeySet, SGP.02 §5.7.x).
pub fn put_keyset(
    conn: &mut AnyConnection,
    eid: &str,
    role: SdRole,
    keyset: &Keyset,
) -> Result<(), StoreError> {
    let mut rows = SdRows::default();
    keyset_rows(&mut rows, eid, role, keyset)?;
    atomic(conn, |c| {
        let sd = security_domains::table
            .find((eid, role.as_str()))
            .select(security_domains::eid)
            .first::<String>(c)
            .optional()?;
        if sd.is_none() {
            return Err(StoreError::not_found(RecordKind::Eis, eid));
        }
        diesel::delete(keysets::table.find((eid, role.as_str(), i32::from(keyset.version))))
            .execute(c)?;
        insert_sd_rows(c, &rows)
    })
}

/// Deletes one key set of a security domain (its keys and certificates go with it); returns whether it existed.
pub fn delete_keyset(
    conn: &mut AnyConnection,
    eid: &str,
    role: SdRole,
    version: u8,
) -> Result<bool, StoreError> {
    let n = diesel::delete(keysets::table.find((eid, role.as_str(), i32::from(version))))
        .execute(conn)?;
    Ok(n > 0)
}

/// Appends one record to the audit trail of an eUICC (SGP.02 §5.4.x AuditEIS, notifications). `NotFound`
/// for an eUICC that is not registered, before anything is written (the caller's transaction stays usable).
pub fn append_audit(conn: &mut AnyConnection, record: &AuditRecord) -> Result<(), StoreError> {
    atomic_in_pg_tx(conn, |c| {
        if euicc_version(c, &record.eid)?.is_none() {
            return Err(StoreError::not_found(RecordKind::Eis, &record.eid));
        }
        diesel::insert_into(audit_records::table)
            .values(audit_row(record))
            .execute(c)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------------
// Profiles

/// Adds a profile to an eUICC (ES3.CreateISDP, SGP.02 §5.4.1: usually in state `InCreation`).
/// `AlreadyExists` if the ICCID is known or the ISD-P AID is taken on this eUICC.
pub fn insert_profile(
    conn: &mut AnyConnection,
    eid: &str,
    profile: &ProfileInfo,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let (row, rules) = profile_rows(eid, profile, now)?;
    atomic(conn, |c| {
        if euicc_version(c, eid)?.is_none() {
            return Err(StoreError::not_found(RecordKind::Eis, eid));
        }
        diesel::insert_into(profiles::table)
            .values(&row)
            .execute(c)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::exists(RecordKind::Profile, &profile.iccid)
                } else {
                    e.into()
                }
            })?;
        insert_all!(c, pol2_rules::table, &rules);
        Ok(())
    })
}

/// The profile with this ICCID, or `None`.
pub fn get_profile(
    conn: &mut AnyConnection,
    iccid: &str,
) -> Result<Option<ProfileRecord>, StoreError> {
    Ok(profiles_with_rules!(conn, profiles::iccid.eq(iccid)).pop())
}

/// The profile of an eUICC with this ISD-P AID, or `None`.
pub fn profile_by_isd_p_aid(
    conn: &mut AnyConnection,
    eid: &str,
    isd_p_aid: &[u8],
) -> Result<Option<ProfileRecord>, StoreError> {
    Ok(profiles_with_rules!(
        conn,
        profiles::eid.eq(eid).and(profiles::isd_p_aid.eq(isd_p_aid))
    )
    .pop())
}

fn profile_version(conn: &mut AnyConnection, iccid: &str) -> Result<Option<i64>, StoreError> {
    Ok(profiles::table
        .find(iccid)
        .select(profiles::version)
        .first(conn)
        .optional()?)
}

/// Sets the state of a profile if its version is still `expected_version`; returns the new version.
pub fn update_profile_state(
    conn: &mut AnyConnection,
    iccid: &str,
    expected_version: i64,
    state: ProfileState,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    update_profile(
        conn,
        iccid,
        expected_version,
        &ProfileUpdate {
            state: Some(state),
            ..ProfileUpdate::default()
        },
        now,
    )
}

/// Changes to a profile; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// New state (enable, disable, creation confirmed).
    pub state: Option<ProfileState>,
    /// New fall-back attribute (ES4.SetFallBackAttribute, SGP.02 §5.5.x).
    pub fallback: Option<bool>,
    /// New subscription address IMSI (ES4.UpdateSubscriptionAddress).
    pub imsi: Option<Option<String>>,
    /// New subscription address MSISDN (ES4.UpdateSubscriptionAddress).
    pub msisdn: Option<Option<String>>,
    /// New allocated memory.
    pub allocated_memory: Option<i64>,
    /// New free memory.
    pub free_memory: Option<Option<i64>>,
    /// New SM-DP id.
    pub smdp_id: Option<Option<String>>,
    /// New profile type.
    pub profile_type: Option<Option<String>>,
}

#[derive(AsChangeset)]
#[diesel(table_name = profiles)]
struct ProfileChanges {
    state: Option<String>,
    fallback: Option<bool>,
    imsi: Option<Option<String>>,
    msisdn: Option<Option<String>>,
    allocated_memory: Option<i64>,
    free_memory: Option<Option<i64>>,
    smdp_id: Option<Option<String>>,
    profile_type: Option<Option<String>>,
    version: i64,
    updated_at: i64,
}

/// Applies `update` to a profile if its version is still `expected_version`; returns the new version.
pub fn update_profile(
    conn: &mut AnyConnection,
    iccid: &str,
    expected_version: i64,
    update: &ProfileUpdate,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let new_version = expected_version + 1;
    let changes = ProfileChanges {
        state: update.state.map(|s| s.as_str().to_string()),
        fallback: update.fallback,
        imsi: update.imsi.clone(),
        msisdn: update.msisdn.clone(),
        allocated_memory: update.allocated_memory,
        free_memory: update.free_memory,
        smdp_id: update.smdp_id.clone(),
        profile_type: update.profile_type.clone(),
        version: new_version,
        updated_at: now,
    };
    atomic_in_pg_tx(conn, |c| {
        let n = diesel::update(
            profiles::table.filter(
                profiles::iccid
                    .eq(iccid)
                    .and(profiles::version.eq(expected_version)),
            ),
        )
        .set(&changes)
        .execute(c)?;
        if n == 0 {
            let cur = profile_version(c, iccid)?;
            return version_miss(RecordKind::Profile, iccid, expected_version, cur);
        }
        Ok(new_version)
    })
}

/// Replaces the POL2 rules of a profile (ES4.UpdatePolicyRules, SGP.02 §5.5.x) if its version is still
/// `expected_version`; returns the new version.
pub fn set_pol2(
    conn: &mut AnyConnection,
    iccid: &str,
    expected_version: i64,
    rules: &[Pol2Rule],
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let rows = pol2_rows(iccid, rules)?;
    atomic(conn, |c| {
        let v = update_profile(c, iccid, expected_version, &ProfileUpdate::default(), now)?;
        diesel::delete(pol2_rules::table.filter(pol2_rules::iccid.eq(iccid))).execute(c)?;
        insert_all!(c, pol2_rules::table, &rows);
        Ok(v)
    })
}

/// Deletes a profile and its POL2 rules (ES3/ES4 DeleteProfile completed, SGP.02 §5.4.x).
pub fn delete_profile(conn: &mut AnyConnection, iccid: &str) -> Result<(), StoreError> {
    let n = diesel::delete(profiles::table.find(iccid)).execute(conn)?;
    if n == 0 {
        return Err(StoreError::not_found(RecordKind::Profile, iccid));
    }
    Ok(())
}

/// The MSISDN of the eUICC's enabled profile, if it has one (where its ISD-R is reached, wire-profile §2), in
/// one statement.
pub fn enabled_msisdn(conn: &mut AnyConnection, eid: &str) -> Result<Option<String>, StoreError> {
    Ok(profiles::table
        .filter(
            profiles::eid
                .eq(eid)
                .and(profiles::state.eq(ProfileState::Enabled.as_str())),
        )
        .select(profiles::msisdn)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Locks the eUICC's row until the transaction ends (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's IMMEDIATE
/// transaction admits one writer already): what one node does for an eUICC — a PoR, a notification, the next
/// command — waits for what another node is doing for it, and then reads what that one committed. Returns
/// whether the eUICC is registered. Lock order: the eUICC's row before its commands' and operations' rows.
pub fn lock_euicc(conn: &mut AnyConnection, eid: &str) -> Result<bool, StoreError> {
    let found = match conn {
        AnyConnection::Pg(c) => euiccs::table
            .find(eid)
            .select(euiccs::eid)
            .for_update()
            .first::<String>(c)
            .optional()?,
        AnyConnection::Sqlite(c) => euiccs::table
            .find(eid)
            .select(euiccs::eid)
            .first::<String>(c)
            .optional()?,
    };
    Ok(found.is_some())
}

/// The eUICC having a profile with each of these MSISDNs (the senders of a batch of MO SMS), in one statement;
/// an MSISDN no profile has is absent.
pub fn eids_by_msisdns(
    conn: &mut AnyConnection,
    msisdns: &[&str],
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut out = BTreeMap::new();
    for chunk in msisdns.chunks(500) {
        let rows: Vec<(Option<String>, String)> = profiles::table
            .filter(profiles::msisdn.eq_any(chunk))
            .select((profiles::msisdn, profiles::eid))
            .load(conn)?;
        for (m, e) in rows {
            if let Some(m) = m {
                out.entry(m).or_insert(e);
            }
        }
    }
    Ok(out)
}

/// Locks the rows of these eUICCs until the transaction ends, in EID order, in one statement on PostgreSQL
/// (as [`lock_euicc`] does for one): transactions that lock several eUICCs this way (a batch of MO SMS, for the
/// packets it has left for too long) wait for each other instead of deadlocking. `eids` need not be sorted.
pub fn lock_euiccs(conn: &mut AnyConnection, eids: &[&str]) -> Result<(), StoreError> {
    let mut sorted: Vec<&str> = eids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if let AnyConnection::Pg(c) = conn {
        for chunk in sorted.chunks(500) {
            euiccs::table
                .filter(euiccs::eid.eq_any(chunk))
                .order(euiccs::eid)
                .select(euiccs::eid)
                .for_update()
                .load::<String>(c)?;
        }
    }
    Ok(())
}

/// Locks the rows of those of these eUICCs that no other transaction holds, in EID order, in one statement on
/// PostgreSQL (`FOR UPDATE SKIP LOCKED`), and returns them: a delivery round or a batch of MO SMS takes the
/// eUICCs that are free and leaves the others — whose PoR or notification another transaction is handling —
/// to a later round or batch instead of waiting for it. On SQLite (one writer) every registered one.
pub fn lock_free_euiccs(
    conn: &mut AnyConnection,
    eids: &[&str],
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::with_capacity(eids.len());
    for chunk in eids.chunks(500) {
        let got: Vec<String> = match conn {
            AnyConnection::Pg(c) => euiccs::table
                .filter(euiccs::eid.eq_any(chunk))
                .order(euiccs::eid)
                .select(euiccs::eid)
                .for_update()
                .skip_locked()
                .load(c)?,
            AnyConnection::Sqlite(c) => euiccs::table
                .filter(euiccs::eid.eq_any(chunk))
                .select(euiccs::eid)
                .load(c)?,
        };
        out.extend(got);
    }
    Ok(out)
}

/// Whether an EIS with this EID is registered.
pub fn euicc_exists(conn: &mut AnyConnection, eid: &str) -> Result<bool, StoreError> {
    Ok(euicc_version(conn, eid)?.is_some())
}

// ---------------------------------------------------------------------------------------------------------
// ISD-P instance allocation (ES3.CreateISDP, SGP.02 §3.1.1; wire-profile §1)

fn isd_p_counter(conn: &mut AnyConnection, eid: &str) -> Result<Option<i64>, StoreError> {
    Ok(isd_p_aid_counters::table
        .find(eid)
        .select(isd_p_aid_counters::next_index)
        .first(conn)
        .optional()?)
}

/// Sets the eUICC's next ISD-P index from `current` (as read) to `next`; `Conflict` if another transaction
/// changed it meanwhile.
fn set_isd_p_counter(
    conn: &mut AnyConnection,
    eid: &str,
    current: Option<i64>,
    next: i64,
) -> Result<(), StoreError> {
    let conflict = || {
        StoreError::conflict(
            RecordKind::Eis,
            eid,
            "the ISD-P index counter changed meanwhile",
        )
    };
    match current {
        None => {
            diesel::insert_into(isd_p_aid_counters::table)
                .values((
                    isd_p_aid_counters::eid.eq(eid),
                    isd_p_aid_counters::next_index.eq(next),
                ))
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        conflict()
                    } else {
                        e.into()
                    }
                })?;
        }
        Some(cur) => {
            let n = diesel::update(
                isd_p_aid_counters::table.filter(
                    isd_p_aid_counters::eid
                        .eq(eid)
                        .and(isd_p_aid_counters::next_index.eq(cur)),
                ),
            )
            .set(isd_p_aid_counters::next_index.eq(next))
            .execute(conn)?;
            if n == 0 {
                return Err(conflict());
            }
        }
    }
    Ok(())
}

/// Takes the next ISD-P instance index of eUICC `eid` (ES3.CreateISDP): the stored counter or `at_least`,
/// whichever is higher (the caller passes one past the highest instance the EIS holds, so that ISD-Ps loaded at
/// issuance are never given again); the counter then stands one higher, so an index is never taken twice.
/// `NotFound` for an unknown eUICC.
pub fn take_isd_p_index(
    conn: &mut AnyConnection,
    eid: &str,
    at_least: i64,
) -> Result<i64, StoreError> {
    atomic(conn, |c| {
        if euicc_version(c, eid)?.is_none() {
            return Err(StoreError::not_found(RecordKind::Eis, eid));
        }
        let current = isd_p_counter(c, eid)?;
        let index = current.unwrap_or(0).max(at_least);
        set_isd_p_counter(c, eid, current, index + 1)?;
        Ok(index)
    })
}

/// Raises the next ISD-P instance index of eUICC `eid` to at least `floor` (an ISD-P deleted: its index is
/// never given again). Nothing for an unknown eUICC.
pub fn raise_isd_p_index(
    conn: &mut AnyConnection,
    eid: &str,
    floor: i64,
) -> Result<(), StoreError> {
    atomic(conn, |c| {
        if euicc_version(c, eid)?.is_none() {
            return Ok(());
        }
        let current = isd_p_counter(c, eid)?;
        if current.is_some_and(|n| n >= floor) {
            return Ok(());
        }
        set_isd_p_counter(c, eid, current, floor)
    })
}

/// A sealed PSK of an ISD-R SCP81 key set: a key component of type `85` (PSK-TLS) in a key set `40`–`4F`
/// (wire-profile §1, §3), for the SCP81 admin server's PSK cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPsk {
    /// The eUICC.
    pub eid: String,
    /// Key set version (`40`–`4F`).
    pub kvn: u8,
    /// Key index in the key set (the PSK identity's key id).
    pub key_index: u8,
    /// Position of the component in the key (part of the sealing's associated data).
    pub position: u8,
    /// The sealed value.
    pub value: Sealed,
}

/// The ISD-R SCP81 PSKs (component type `85` in key sets `40`–`4F`) of EIDs after `after`, ordered by EID, at
/// most `limit` rows (wire-profile §3), so that the admin server's cache is filled page by page.
pub fn scp81_psks(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<SealedPsk>, StoreError> {
    let mut q = key_components::table
        .filter(
            key_components::sd_role
                .eq(SdRole::IsdR.as_str())
                .and(key_components::keyset_version.between(0x40, 0x4F))
                .and(key_components::component_type.eq(0x85)),
        )
        .order((
            key_components::eid,
            key_components::keyset_version,
            key_components::key_index,
            key_components::position,
        ))
        .select(ComponentRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(key_components::eid.gt(a.to_string()));
    }
    let rows: Vec<ComponentRow> = q.load(conn)?;
    rows.into_iter()
        .map(|c| {
            Ok(SealedPsk {
                kvn: u8_col("key_components.keyset_version", c.keyset_version)?,
                key_index: u8_col("key_components.key_index", c.key_index)?,
                position: u8_col("key_components.position", c.position)?,
                value: Sealed {
                    key_id: c.value_key_id,
                    ciphertext: c.value,
                },
                eid: c.eid,
            })
        })
        .collect()
}

/// Whether the EIS of `eid` says the eUICC supports HTTPS (A1 `EuiccCapabilities/HttpSupport`; SCP81), or `None`
/// for an unknown eUICC.
pub fn http_support(conn: &mut AnyConnection, eid: &str) -> Result<Option<bool>, StoreError> {
    Ok(euiccs::table
        .find(eid)
        .select(euiccs::http_support)
        .first(conn)
        .optional()?)
}
