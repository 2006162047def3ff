//! eUICC owners of the SM-SR (ESM2M, design §1): which owner (an entity of role eUICC-owner) each eUICC belongs
//! to, and the owners' API tokens, kept only as the SHA-256 of the token (never the token itself).

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::eis::ProfileState;
use crate::entities::{self, EntityRole};
use crate::error::{RecordKind, StoreError};
use crate::schema::{euicc_owners, euiccs, owner_tokens, profiles};

/// EIDs looked up per query (bound parameters stay well under SQLite's and PostgreSQL's limits).
const CHUNK: usize = 500;

/// What [`assign_euiccs`] did, or would have done: nothing is written while `unknown` is not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// EIDs no EIS is registered for (then nothing was assigned).
    pub unknown: Vec<String>,
    /// eUICCs that had no owner and now belong to the owner.
    pub assigned: usize,
    /// eUICCs taken over from another owner.
    pub moved: usize,
    /// eUICCs that already belonged to the owner.
    pub unchanged: usize,
}

/// Makes `owner_oid` the owner of every eUICC in `eids` (a previous owner loses it), all or nothing: when an
/// EID is not registered, the answer lists every such EID and nothing is written. The owner must be a
/// registered entity of role eUICC-owner. Run it in a transaction ([`crate::Store::tx`]).
pub fn assign_euiccs(
    conn: &mut AnyConnection,
    owner_oid: &str,
    eids: &[String],
    now: UnixMillis,
) -> Result<Assignment, StoreError> {
    require_owner(conn, owner_oid)?;
    let wanted: BTreeSet<&str> = eids.iter().map(String::as_str).collect();
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let mut out = Assignment::default();
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    for chunk in wanted.chunks(CHUNK) {
        let known: BTreeSet<String> = euiccs::table
            .filter(euiccs::eid.eq_any(chunk))
            .select(euiccs::eid)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        out.unknown.extend(
            chunk
                .iter()
                .filter(|e| !known.contains(**e))
                .map(|e| e.to_string()),
        );
        current.extend(
            euicc_owners::table
                .filter(euicc_owners::eid.eq_any(chunk))
                .select((euicc_owners::eid, euicc_owners::owner_oid))
                .load::<(String, String)>(conn)?,
        );
    }
    if !out.unknown.is_empty() {
        return Ok(out);
    }
    for eid in wanted {
        match current.get(eid) {
            Some(o) if o == owner_oid => {
                out.unchanged += 1;
                continue;
            }
            Some(_) => out.moved += 1,
            None => out.assigned += 1,
        }
        let row = (
            euicc_owners::eid.eq(eid),
            euicc_owners::owner_oid.eq(owner_oid),
            euicc_owners::assigned_at.eq(now),
        );
        on_backend!(conn, c => diesel::insert_into(euicc_owners::table)
            .values(row)
            .on_conflict(euicc_owners::eid)
            .do_update()
            .set((
                euicc_owners::owner_oid.eq(owner_oid),
                euicc_owners::assigned_at.eq(now),
            ))
            .execute(c))?;
    }
    Ok(out)
}

/// Refuses an OID that is not a registered entity of role eUICC-owner.
pub fn require_owner(conn: &mut AnyConnection, owner_oid: &str) -> Result<(), StoreError> {
    match entities::get_entity(conn, owner_oid)? {
        None => Err(StoreError::not_found(RecordKind::Entity, owner_oid)),
        Some(e) if e.role != EntityRole::EuiccOwner => Err(StoreError::invalid_argument(
            "owner",
            format!(
                "entity {owner_oid} has role {}, not eUICC-owner",
                e.role.as_str()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// The EIDs among `eids` that do not belong to `owner_oid` (unregistered ones included), in ascending order:
/// what an owner may not hand over to another ([`assign_euiccs`] after it is empty).
pub fn not_owned_by(
    conn: &mut AnyConnection,
    owner_oid: &str,
    eids: &[String],
) -> Result<Vec<String>, StoreError> {
    let wanted: BTreeSet<&str> = eids.iter().map(String::as_str).collect();
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let mut missing = Vec::new();
    for chunk in wanted.chunks(CHUNK) {
        let owned: BTreeSet<String> = euicc_owners::table
            .filter(euicc_owners::owner_oid.eq(owner_oid))
            .filter(euicc_owners::eid.eq_any(chunk))
            .select(euicc_owners::eid)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        missing.extend(
            chunk
                .iter()
                .filter(|e| !owned.contains(**e))
                .map(|e| e.to_string()),
        );
    }
    Ok(missing)
}

/// The owner of the eUICC `eid`, if it has one.
pub fn owner_of(conn: &mut AnyConnection, eid: &str) -> Result<Option<String>, StoreError> {
    Ok(euicc_owners::table
        .find(eid)
        .select(euicc_owners::owner_oid)
        .first(conn)
        .optional()?)
}

/// The owners of those of the eUICCs `eids` that have one, by EID: one query per 500 EIDs instead of one
/// [`owner_of`] each.
pub fn owners_of(
    conn: &mut AnyConnection,
    eids: &[&str],
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut out = BTreeMap::new();
    for chunk in eids.chunks(CHUNK) {
        out.extend(
            euicc_owners::table
                .filter(euicc_owners::eid.eq_any(chunk))
                .select((euicc_owners::eid, euicc_owners::owner_oid))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// The EIDs of `owner_oid`'s eUICCs in ascending order after `after` (exclusive), at most `limit`; with
/// `enabled_mno`, only those whose enabled profile belongs to that MNO.
pub fn owned_eids(
    conn: &mut AnyConnection,
    owner_oid: &str,
    after: Option<&str>,
    limit: i64,
    enabled_mno: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut q = euicc_owners::table
        .filter(euicc_owners::owner_oid.eq(owner_oid))
        .select(euicc_owners::eid)
        .order(euicc_owners::eid)
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(euicc_owners::eid.gt(a.to_string()));
    }
    if let Some(mno) = enabled_mno {
        q = q.filter(
            euicc_owners::eid.eq_any(
                profiles::table
                    .filter(profiles::state.eq(ProfileState::Enabled.as_str()))
                    .filter(profiles::mno_id.eq(mno.to_string()))
                    .select(profiles::eid),
            ),
        );
    }
    Ok(q.load(conn)?)
}

/// An owner's API token as stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Identifier (for listing and revoking).
    pub id: i64,
    /// The owner it acts for.
    pub owner_oid: String,
    /// SHA-256 of the token's random bytes.
    pub token_hash: [u8; 32],
    /// Scopes, comma-separated (`read`, `operate`, `admin`).
    pub scopes: String,
    /// Created (unix ms).
    pub created_at: UnixMillis,
    /// Not accepted from this time on (unix ms).
    pub expires_at: UnixMillis,
    /// Last accepted (unix ms).
    pub last_used_at: Option<UnixMillis>,
    /// Revoked (unix ms): not accepted any more.
    pub revoked_at: Option<UnixMillis>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = owner_tokens)]
struct TokenRow {
    id: i64,
    owner_oid: String,
    token_hash: Vec<u8>,
    scopes: String,
    created_at: i64,
    expires_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

fn token(r: TokenRow) -> Result<TokenRecord, StoreError> {
    let token_hash = <[u8; 32]>::try_from(r.token_hash.as_slice()).map_err(|_| {
        StoreError::invalid_data(
            "owner_tokens.token_hash",
            format!("{} bytes instead of 32", r.token_hash.len()),
        )
    })?;
    Ok(TokenRecord {
        id: r.id,
        owner_oid: r.owner_oid,
        token_hash,
        scopes: r.scopes,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_used_at: r.last_used_at,
        revoked_at: r.revoked_at,
    })
}

/// Stores a new token of `owner_oid` (a registered eUICC owner) by its hash; returns its id.
pub fn create_token(
    conn: &mut AnyConnection,
    owner_oid: &str,
    token_hash: &[u8; 32],
    scopes: &str,
    expires_at: UnixMillis,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    require_owner(conn, owner_oid)?;
    let row = (
        owner_tokens::owner_oid.eq(owner_oid),
        owner_tokens::token_hash.eq(token_hash.as_slice()),
        owner_tokens::scopes.eq(scopes),
        owner_tokens::created_at.eq(now),
        owner_tokens::expires_at.eq(expires_at),
    );
    let id: i64 = on_backend!(conn, c => diesel::insert_into(owner_tokens::table)
        .values(row)
        .returning(owner_tokens::id)
        .get_result(c))?;
    Ok(id)
}

/// The tokens of `owner_oid`, oldest first.
pub fn list_tokens(
    conn: &mut AnyConnection,
    owner_oid: &str,
) -> Result<Vec<TokenRecord>, StoreError> {
    owner_tokens::table
        .filter(owner_tokens::owner_oid.eq(owner_oid))
        .order(owner_tokens::id)
        .select(TokenRow::as_select())
        .load(conn)?
        .into_iter()
        .map(token)
        .collect()
}

/// The token with this hash (one unique-index read).
pub fn token_by_hash(
    conn: &mut AnyConnection,
    token_hash: &[u8; 32],
) -> Result<Option<TokenRecord>, StoreError> {
    owner_tokens::table
        .filter(owner_tokens::token_hash.eq(token_hash.as_slice()))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?
        .map(token)
        .transpose()
}

/// Revokes token `id` (a token revoked before keeps its first revocation time); returns it.
pub fn revoke_token(
    conn: &mut AnyConnection,
    id: i64,
    now: UnixMillis,
) -> Result<TokenRecord, StoreError> {
    diesel::update(
        owner_tokens::table
            .find(id)
            .filter(owner_tokens::revoked_at.is_null()),
    )
    .set(owner_tokens::revoked_at.eq(now))
    .execute(conn)?;
    owner_tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?
        .map(token)
        .transpose()?
        .ok_or_else(|| StoreError::not_found(RecordKind::OwnerToken, id.to_string()))
}

/// Records that token `id` was accepted at `now`.
pub fn touch_token(conn: &mut AnyConnection, id: i64, now: UnixMillis) -> Result<(), StoreError> {
    diesel::update(owner_tokens::table.find(id))
        .set(owner_tokens::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// What an owner is shown of one of its eUICCs (ESM2M): the card, its profiles as the EIS holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEuicc {
    /// EID.
    pub eid: String,
    /// Platform type (A1 `EISType/PlatformType`).
    pub platform_type: String,
    /// Platform version.
    pub platform_version: String,
    /// Last audit (unix ms).
    pub last_audit_date: Option<UnixMillis>,
    /// Its profiles in ascending ICCID order, without those whose ISD-P is still being created.
    pub profiles: Vec<OwnedProfile>,
}

/// One profile of an owner's eUICC (A1 `ProfileInfo`, the fields an owner manages by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedProfile {
    /// ICCID.
    pub iccid: String,
    /// State.
    pub state: ProfileState,
    /// OID of the MNO the profile belongs to.
    pub mno_id: String,
    /// Whether it is the fall-back profile.
    pub fallback: bool,
}

/// The eUICCs `eids` (those registered; in the order given) with their profiles: two queries per 500 EIDs.
pub fn owned_euiccs(
    conn: &mut AnyConnection,
    eids: &[String],
) -> Result<Vec<OwnedEuicc>, StoreError> {
    let mut cards: BTreeMap<String, OwnedEuicc> = BTreeMap::new();
    for chunk in eids.chunks(CHUNK) {
        let rows: Vec<(String, String, String, Option<i64>)> = euiccs::table
            .filter(euiccs::eid.eq_any(chunk))
            .select((
                euiccs::eid,
                euiccs::platform_type,
                euiccs::platform_version,
                euiccs::last_audit_date,
            ))
            .load(conn)?;
        for (eid, platform_type, platform_version, last_audit_date) in rows {
            cards.insert(
                eid.clone(),
                OwnedEuicc {
                    eid,
                    platform_type,
                    platform_version,
                    last_audit_date,
                    profiles: Vec::new(),
                },
            );
        }
        let profile_rows: Vec<(String, String, String, String, bool)> = profiles::table
            .filter(profiles::eid.eq_any(chunk))
            .filter(profiles::state.ne(ProfileState::InCreation.as_str()))
            .order(profiles::iccid)
            .select((
                profiles::eid,
                profiles::iccid,
                profiles::state,
                profiles::mno_id,
                profiles::fallback,
            ))
            .load(conn)?;
        for (eid, iccid, state, mno_id, fallback) in profile_rows {
            if let Some(card) = cards.get_mut(&eid) {
                card.profiles.push(OwnedProfile {
                    iccid,
                    state: ProfileState::parse(&state)?,
                    mno_id,
                    fallback,
                });
            }
        }
    }
    Ok(eids.iter().filter_map(|e| cards.remove(e)).collect())
}
