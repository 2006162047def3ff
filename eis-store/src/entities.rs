//! Entity registry (SGP.02 §2.2 roles, §2.3.1 mutual authentication): MNOs, SM-DPs, SM-SRs, EUMs and eUICC
//! owners, with their endpoints, allowed interfaces, GP certificate and TLS client-certificate fingerprints.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, atomic, on_backend};
use crate::error::{RecordKind, StoreError, is_unique_violation};
use crate::schema::{entities, entity_fingerprints};

/// The role of an entity in the eUICC remote provisioning system (SGP.02 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityRole {
    /// Mobile Network Operator (SGP.02 §2.2.1).
    Mno,
    /// Subscription Manager Data Preparation (SGP.02 §2.2.3).
    SmDp,
    /// Subscription Manager Secure Routing (SGP.02 §2.2.4).
    SmSr,
    /// eUICC Manufacturer (SGP.02 §2.2.2).
    Eum,
    /// eUICC owner / M2M service provider using the ESM2M fleet interface (design §1).
    EuiccOwner,
}

impl EntityRole {
    /// Text stored in the `role` column.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityRole::Mno => "MNO",
            EntityRole::SmDp => "SM-DP",
            EntityRole::SmSr => "SM-SR",
            EntityRole::Eum => "EUM",
            EntityRole::EuiccOwner => "eUICC-owner",
        }
    }

    /// Parses the text of the `role` column.
    pub fn parse(s: &str) -> Option<EntityRole> {
        Some(match s {
            "MNO" => EntityRole::Mno,
            "SM-DP" => EntityRole::SmDp,
            "SM-SR" => EntityRole::SmSr,
            "EUM" => EntityRole::Eum,
            "eUICC-owner" => EntityRole::EuiccOwner,
            _ => return None,
        })
    }
}

/// An entity known to this server (SGP.02 §2.2), identified by its OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Object identifier of the entity (SGP.02 A1 `ObjectIdentifierType`).
    pub oid: String,
    /// Its role.
    pub role: EntityRole,
    /// Display name.
    pub name: String,
    /// Where this server calls the entity, per interface name ("ES2", "ES3", "ES4", "ES7", …) → URL.
    pub endpoints: BTreeMap<String, String>,
    /// Interfaces on which the entity may call this server.
    pub allowed_interfaces: BTreeSet<String>,
    /// The entity's GP certificate (GP Amendment E / SGP.02 §2.3.2), DER, if any.
    pub gp_certificate: Option<Vec<u8>>,
    /// SHA-256 fingerprints of the TLS client certificates the entity authenticates with.
    pub fingerprints: BTreeSet<[u8; 32]>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = entities)]
#[diesel(treat_none_as_default_value = false)]
struct EntityRow {
    oid: String,
    role: String,
    name: String,
    endpoints: String,
    allowed_interfaces: String,
    gp_certificate: Option<Vec<u8>>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = entity_fingerprints)]
#[diesel(treat_none_as_default_value = false)]
struct FingerprintRow {
    sha256: Vec<u8>,
    entity_oid: String,
}

fn to_row(e: &Entity, now: UnixMillis) -> Result<EntityRow, StoreError> {
    let json = |what, r: serde_json::Result<String>| {
        r.map_err(|err| StoreError::invalid_argument(what, err.to_string()))
    };
    Ok(EntityRow {
        oid: e.oid.clone(),
        role: e.role.as_str().to_string(),
        name: e.name.clone(),
        endpoints: json("endpoints", serde_json::to_string(&e.endpoints))?,
        allowed_interfaces: json(
            "allowed_interfaces",
            serde_json::to_string(&e.allowed_interfaces),
        )?,
        gp_certificate: e.gp_certificate.clone(),
        created_at: now,
        updated_at: now,
    })
}

fn from_row(r: EntityRow, fingerprints: BTreeSet<[u8; 32]>) -> Result<Entity, StoreError> {
    let role = EntityRole::parse(&r.role).ok_or_else(|| {
        StoreError::invalid_data("entities.role", format!("unknown role {:?}", r.role))
    })?;
    let endpoints = serde_json::from_str(&r.endpoints)
        .map_err(|e| StoreError::invalid_data("entities.endpoints", e.to_string()))?;
    let allowed_interfaces = serde_json::from_str(&r.allowed_interfaces)
        .map_err(|e| StoreError::invalid_data("entities.allowed_interfaces", e.to_string()))?;
    Ok(Entity {
        oid: r.oid,
        role,
        name: r.name,
        endpoints,
        allowed_interfaces,
        gp_certificate: r.gp_certificate,
        fingerprints,
    })
}

fn fingerprint(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        StoreError::invalid_data(
            "entity_fingerprints.sha256",
            format!("{} bytes instead of 32", bytes.len()),
        )
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn insert_fingerprints(
    conn: &mut AnyConnection,
    oid: &str,
    fps: &BTreeSet<[u8; 32]>,
) -> Result<(), StoreError> {
    for fp in fps {
        let row = FingerprintRow {
            sha256: fp.to_vec(),
            entity_oid: oid.to_string(),
        };
        // A savepoint per row, so a duplicate leaves a PostgreSQL transaction usable.
        atomic(conn, |c| {
            diesel::insert_into(entity_fingerprints::table)
                .values(&row)
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::exists(RecordKind::Fingerprint, hex(fp))
                    } else {
                        e.into()
                    }
                })
        })?;
    }
    Ok(())
}

/// Registers a new entity with its fingerprints; `AlreadyExists` if the OID or a fingerprint is taken.
pub fn create_entity(
    conn: &mut AnyConnection,
    e: &Entity,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let row = to_row(e, now)?;
    atomic(conn, |c| {
        let n = on_backend!(c, c => diesel::insert_into(entities::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c))?;
        if n == 0 {
            return Err(StoreError::exists(RecordKind::Entity, &e.oid));
        }
        insert_fingerprints(c, &e.oid, &e.fingerprints)
    })
}

/// Replaces every field of an existing entity, including its set of fingerprints.
pub fn update_entity(
    conn: &mut AnyConnection,
    e: &Entity,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let row = to_row(e, now)?;
    atomic(conn, |c| {
        let n = diesel::update(entities::table.find(&e.oid))
            .set((
                entities::role.eq(&row.role),
                entities::name.eq(&row.name),
                entities::endpoints.eq(&row.endpoints),
                entities::allowed_interfaces.eq(&row.allowed_interfaces),
                entities::gp_certificate.eq(&row.gp_certificate),
                entities::updated_at.eq(now),
            ))
            .execute(c)?;
        if n == 0 {
            return Err(StoreError::not_found(RecordKind::Entity, &e.oid));
        }
        diesel::delete(
            entity_fingerprints::table.filter(entity_fingerprints::entity_oid.eq(&e.oid)),
        )
        .execute(c)?;
        insert_fingerprints(c, &e.oid, &e.fingerprints)
    })
}

/// Deletes an entity and its fingerprints.
pub fn delete_entity(conn: &mut AnyConnection, oid: &str) -> Result<(), StoreError> {
    let n = diesel::delete(entities::table.find(oid)).execute(conn)?;
    if n == 0 {
        return Err(StoreError::not_found(RecordKind::Entity, oid));
    }
    Ok(())
}

fn fingerprints_of(conn: &mut AnyConnection, oid: &str) -> Result<BTreeSet<[u8; 32]>, StoreError> {
    entity_fingerprints::table
        .filter(entity_fingerprints::entity_oid.eq(oid))
        .select(entity_fingerprints::sha256)
        .load::<Vec<u8>>(conn)?
        .into_iter()
        .map(fingerprint)
        .collect()
}

/// The entity with this OID.
pub fn get_entity(conn: &mut AnyConnection, oid: &str) -> Result<Option<Entity>, StoreError> {
    let row = entities::table
        .find(oid)
        .select(EntityRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        None => Ok(None),
        Some(r) => {
            let fps = fingerprints_of(conn, &r.oid)?;
            from_row(r, fps).map(Some)
        }
    }
}

/// The endpoints registered for the entity with this OID (where its callbacks and notifications go, SGP.02
/// §2.6), in one statement; `None` for an unknown OID.
pub fn endpoints_of(
    conn: &mut AnyConnection,
    oid: &str,
) -> Result<Option<BTreeMap<String, String>>, StoreError> {
    let json: Option<String> = entities::table
        .find(oid)
        .select(entities::endpoints)
        .first(conn)
        .optional()?;
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| StoreError::invalid_data("entities.endpoints", e.to_string()))
    })
    .transpose()
}

/// All entities, or those of one role, ordered by OID.
pub fn list_entities(
    conn: &mut AnyConnection,
    role: Option<EntityRole>,
) -> Result<Vec<Entity>, StoreError> {
    let mut q = entities::table
        .select(EntityRow::as_select())
        .order(entities::oid)
        .into_boxed();
    if let Some(r) = role {
        q = q.filter(entities::role.eq(r.as_str()));
    }
    let rows = q.load(conn)?;
    let mut fps: BTreeMap<String, BTreeSet<[u8; 32]>> = BTreeMap::new();
    let all: Vec<FingerprintRow> = entity_fingerprints::table
        .select(FingerprintRow::as_select())
        .load(conn)?;
    for f in all {
        fps.entry(f.entity_oid)
            .or_default()
            .insert(fingerprint(f.sha256)?);
    }
    rows.into_iter()
        .map(|r| {
            let set = fps.remove(&r.oid).unwrap_or_default();
            from_row(r, set)
        })
        .collect()
}

/// The entity that authenticates with the TLS client certificate of this SHA-256 fingerprint (primary-key
/// lookup).
pub fn find_by_fingerprint(
    conn: &mut AnyConnection,
    sha256: &[u8; 32],
) -> Result<Option<Entity>, StoreError> {
    let oid = entity_fingerprints::table
        .find(sha256.as_slice())
        .select(entity_fingerprints::entity_oid)
        .first::<String>(conn)
        .optional()?;
    match oid {
        None => Ok(None),
        Some(oid) => get_entity(conn, &oid),
    }
}

/// Adds one fingerprint to an existing entity (certificate rollover).
pub fn add_fingerprint(
    conn: &mut AnyConnection,
    oid: &str,
    sha256: &[u8; 32],
) -> Result<(), StoreError> {
    atomic(conn, |c| {
        let exists = entities::table
            .find(oid)
            .select(entities::oid)
            .first::<String>(c)
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::not_found(RecordKind::Entity, oid));
        }
        insert_fingerprints(c, oid, &BTreeSet::from([*sha256]))
    })
}

/// Removes one fingerprint (certificate revoked or expired).
pub fn remove_fingerprint(conn: &mut AnyConnection, sha256: &[u8; 32]) -> Result<(), StoreError> {
    let n = diesel::delete(entity_fingerprints::table.find(sha256.as_slice())).execute(conn)?;
    if n == 0 {
        return Err(StoreError::not_found(RecordKind::Fingerprint, hex(sha256)));
    }
    Ok(())
}
