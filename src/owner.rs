//! `rsp owner …`: the eUICC owners of the SM-SR (ESM2M, design §1) — which eUICCs each owns, and their API
//! tokens (printed once when created, stored only as a SHA-256 hash, listed, revoked).

use std::path::{Path, PathBuf};

use eis_store::owners::{self, TokenRecord};
use eis_store::{RecordKind, Store, StoreError, UnixMillis, now_millis};
use serde::Serialize;
use smsr::esm2m::{ApiToken, Scope, scopes_text};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::Config;
use crate::setup;

/// Most unknown EIDs `rsp owner assign` lists one by one.
const SHOWN_UNKNOWN: usize = 100;

/// `rsp owner …`
#[derive(Debug, clap::Subcommand)]
pub enum OwnerCommand {
    /// Makes an owner (an entity of role euicc-owner) the owner of the eUICCs listed in a file, all or
    /// nothing: an EID the SM-SR does not know stops the command with nothing assigned.
    Assign {
        /// The owner's OID.
        #[arg(long)]
        owner: String,
        /// File with one EID per line (blank lines and lines starting with `#` are skipped).
        #[arg(long)]
        eids: PathBuf,
        /// Database of the SM-SR (default: the configured one).
        #[arg(long)]
        smsr_database_url: Option<String>,
    },
    /// API tokens of an owner.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

/// `rsp owner token …`
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints it (once: only its hash is stored).
    Create {
        /// The owner's OID.
        #[arg(long)]
        owner: String,
        /// Comma-separated scopes: read, operate, admin.
        #[arg(long)]
        scopes: String,
        /// Expiry: an RFC 3339 time (`2027-01-31T00:00:00Z`) or a number of days (`90` or `90d`).
        #[arg(long)]
        expires: String,
        /// Database of the SM-SR (default: the configured one).
        #[arg(long)]
        smsr_database_url: Option<String>,
    },
    /// Lists an owner's tokens (never the tokens themselves).
    List {
        /// The owner's OID.
        #[arg(long)]
        owner: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Database of the SM-SR (default: the configured one).
        #[arg(long)]
        smsr_database_url: Option<String>,
    },
    /// Revokes a token: refused from the next request on.
    Revoke {
        /// The token's id (from `rsp owner token list`).
        #[arg(long)]
        id: i64,
        /// Database of the SM-SR (default: the configured one).
        #[arg(long)]
        smsr_database_url: Option<String>,
    },
}

fn open(config: &Config, url: &Option<String>) -> Result<Store, String> {
    let mut server = config.smsr.clone();
    if let Some(url) = url {
        server.database_url = url.clone();
    }
    server.pool_size = server.pool_size.clamp(1, 2);
    setup::open_store(config, &server).map_err(|e| e.to_string())
}

/// The message of a store error, with the owner rule spelled out.
fn owner_err(owner: &str) -> impl Fn(StoreError) -> String + '_ {
    move |e| match e {
        StoreError::NotFound {
            kind: RecordKind::Entity,
            ..
        } => format!(
            "unknown owner {owner}: no entity with this OID is registered at the SM-SR (register it with \
             `rsp entity add --role euicc-owner`)"
        ),
        StoreError::InvalidArgument { detail, .. } => {
            format!("{detail}: an owner must be an entity of role euicc-owner")
        }
        other => format!("SM-SR store: {other}"),
    }
}

/// Reads an EID file: one per line, blank lines and `#` comments skipped.
pub fn read_eids(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let eids: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if eids.is_empty() {
        return Err(format!("{} lists no EID", path.display()));
    }
    Ok(eids)
}

/// Parses `--expires`: an RFC 3339 time, or a number of days from `now` (`90`, `90d`); it must be later than
/// `now`.
pub fn parse_expiry(text: &str, now: UnixMillis) -> Result<UnixMillis, String> {
    let t = text.trim();
    let days = t.strip_suffix('d').unwrap_or(t);
    let at = if let Ok(n) = days.parse::<i64>() {
        if !(1..=3650).contains(&n) {
            return Err(format!(
                "--expires {text:?}: between 1 and 3650 days, or an RFC 3339 time"
            ));
        }
        now + n * 86_400_000
    } else {
        let when = OffsetDateTime::parse(t, &Rfc3339).map_err(|e| {
            format!("--expires {text:?}: neither a number of days nor an RFC 3339 time ({e})")
        })?;
        i64::try_from(when.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| format!("--expires {text:?}: out of range"))?
    };
    if at <= now {
        return Err(format!("--expires {text:?} is not in the future"));
    }
    Ok(at)
}

fn rfc3339(ms: UnixMillis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A token as `rsp owner token list --json` shows it.
#[derive(Debug, Serialize)]
struct TokenRow {
    id: i64,
    owner: String,
    scopes: String,
    created: String,
    expires: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

fn row(t: &TokenRecord) -> TokenRow {
    TokenRow {
        id: t.id,
        owner: t.owner_oid.clone(),
        scopes: t.scopes.clone(),
        created: rfc3339(t.created_at),
        expires: rfc3339(t.expires_at),
        last_used: t.last_used_at.map(rfc3339),
        revoked: t.revoked_at.map(rfc3339),
    }
}

/// Runs `rsp owner …`.
pub fn run(config: &Config, command: OwnerCommand) -> Result<(), String> {
    match command {
        OwnerCommand::Assign {
            owner,
            eids,
            smsr_database_url,
        } => {
            let list = read_eids(&eids)?;
            let store = open(config, &smsr_database_url)?;
            let now = now_millis();
            let done = store
                .tx(|c| owners::assign_euiccs(c, &owner, &list, now))
                .map_err(owner_err(&owner))?;
            if !done.unknown.is_empty() {
                let mut msg = format!(
                    "{} EID(s) of {} are not registered at the SM-SR; nothing was assigned:",
                    done.unknown.len(),
                    eids.display()
                );
                for e in done.unknown.iter().take(SHOWN_UNKNOWN) {
                    msg.push_str(&format!("\n  {e}"));
                }
                if done.unknown.len() > SHOWN_UNKNOWN {
                    msg.push_str(&format!(
                        "\n  … and {} more",
                        done.unknown.len() - SHOWN_UNKNOWN
                    ));
                }
                return Err(msg);
            }
            println!(
                "owner {owner}: {} eUICC(s) assigned, {} taken over from another owner, {} already theirs",
                done.assigned, done.moved, done.unchanged
            );
            Ok(())
        }
        OwnerCommand::Token {
            command:
                TokenCommand::Create {
                    owner,
                    scopes,
                    expires,
                    smsr_database_url,
                },
        } => {
            let scopes = Scope::parse_list(&scopes).map_err(|e| format!("--scopes: {e}"))?;
            let now = now_millis();
            let expires_at = parse_expiry(&expires, now)?;
            let store = open(config, &smsr_database_url)?;
            let token = ApiToken::generate().map_err(|e| e.to_string())?;
            let text = scopes_text(&scopes);
            let id = store
                .tx(|c| owners::create_token(c, &owner, &token.hash(), &text, expires_at, now))
                .map_err(owner_err(&owner))?;
            println!("{}", token.text().as_str());
            eprintln!(
                "token {id} of owner {owner}, scopes {text}, expires {} — shown once, keep it now",
                rfc3339(expires_at)
            );
            Ok(())
        }
        OwnerCommand::Token {
            command:
                TokenCommand::List {
                    owner,
                    json,
                    smsr_database_url,
                },
        } => {
            let store = open(config, &smsr_database_url)?;
            let mut conn = store.conn().map_err(|e| e.to_string())?;
            owners::require_owner(&mut conn, &owner).map_err(owner_err(&owner))?;
            let rows: Vec<TokenRow> = owners::list_tokens(&mut conn, &owner)
                .map_err(owner_err(&owner))?
                .iter()
                .map(row)
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "{:>6}  {:<20}  {:<24}  {:<24}  {:<24}  revoked",
                    "id", "scopes", "created", "expires", "last used"
                );
                for r in rows {
                    println!(
                        "{:>6}  {:<20}  {:<24}  {:<24}  {:<24}  {}",
                        r.id,
                        r.scopes,
                        r.created,
                        r.expires,
                        r.last_used.as_deref().unwrap_or("-"),
                        r.revoked.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(())
        }
        OwnerCommand::Token {
            command:
                TokenCommand::Revoke {
                    id,
                    smsr_database_url,
                },
        } => {
            let store = open(config, &smsr_database_url)?;
            let t = store
                .tx(|c| owners::revoke_token(c, id, now_millis()))
                .map_err(|e| match e {
                    StoreError::NotFound { .. } => format!("no token {id}"),
                    other => format!("SM-SR store: {other}"),
                })?;
            println!(
                "token {id} of owner {} revoked at {}",
                t.owner_oid,
                t.revoked_at.map(rfc3339).unwrap_or_default()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn expiry_in_days_or_rfc3339() {
        assert_eq!(parse_expiry("30", NOW), Ok(NOW + 30 * 86_400_000));
        assert_eq!(parse_expiry("1d", NOW), Ok(NOW + 86_400_000));
        // NOW is 2027-01-15T08:00:00Z.
        assert_eq!(
            parse_expiry("2027-01-15T09:00:00Z", NOW),
            Ok(NOW + 3_600_000)
        );
        assert!(parse_expiry("2027-01-15T08:00:00Z", NOW).is_err());
        assert!(parse_expiry("0", NOW).is_err());
        assert!(parse_expiry("2020-01-01T00:00:00Z", NOW).is_err());
        assert!(parse_expiry("tomorrow", NOW).is_err());
    }
}
