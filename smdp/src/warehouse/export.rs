//! The output file for the MNO's provisioning systems (DESIGN §4 "output files"; peers-and-profiles notes §4: the
//! SM-DP adds the EID): which record was installed on which eUICC and when, as CSV (RFC 4180, header row).
//!
//! Columns: `ICCID, IMSI, MSISDN, EID, STATE, ORDER_ID, CREATED_AT, RESERVED_AT, DOWNLOADING_AT, INSTALLED_AT`
//! (times in RFC 3339, UTC). Secrets are left out unless asked for; then two columns follow, `SECRETS_EPK` and
//! `SECRETS`, the record's secrets as JSON (`K`, `OPC`, `ALGORITHM`, `PIN1`, `PUK1`, `PIN2`, `PUK2`, `ADM1`,
//! and `KVN`, `KIC1`, `KID1`, `KIK1` when present; keys in upper-case hex, PINs/PUKs as digits, ADM1 as in
//! the input file) encrypted for the MNO's P-256 key as [`super::ecies`] describes. [`decrypt`] turns such a
//! file back into clear columns with the MNO's private key (`rsp order decrypt`).

use std::io::{Read, Write};

use certs::ecc::{PrivateKey, PublicKey};
use certs::secrets::MasterKeyring;
use certs::x509::X509Certificate;
use eis_store::AnyConnection;
use eis_store::entities::{self, EntityRole};
use eis_store::warehouse::{self, StockRecord};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::ecies::{Decryptor, EciesError, Encryptor};
use super::{WarehouseError, profile_types, secrets};
use crate::saip::record::{AkaAlgorithm, PersonalisationRecord};

/// Records fetched per query while exporting.
const PAGE: i64 = 5_000;

/// The clear columns of an output file.
pub const COLUMNS: [&str; 10] = [
    "ICCID",
    "IMSI",
    "MSISDN",
    "EID",
    "STATE",
    "ORDER_ID",
    "CREATED_AT",
    "RESERVED_AT",
    "DOWNLOADING_AT",
    "INSTALLED_AT",
];

/// The columns a decrypted file has in place of `SECRETS_EPK`, `SECRETS` (the JSON keys of the secrets).
pub const SECRET_COLUMNS: [&str; 12] = [
    "K",
    "OPC",
    "ALGORITHM",
    "PIN1",
    "PUK1",
    "PIN2",
    "PUK2",
    "ADM1",
    "KVN",
    "KIC1",
    "KID1",
    "KIK1",
];

/// What to export.
#[derive(Clone, Copy, Debug)]
pub struct ExportRequest<'a> {
    /// The MNO's profile type.
    pub profile_type: &'a str,
    /// Only the records of this order.
    pub order: Option<i64>,
    /// Add the secrets, encrypted for this key (the MNO's certificate key, P-256).
    pub secrets_for: Option<&'a PublicKey>,
}

/// Unix milliseconds as RFC 3339 (UTC; empty for none), as the output file writes times.
pub fn time_text(ms: Option<i64>) -> String {
    ms.and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn csv_err(what: &str, e: csv::Error) -> WarehouseError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => WarehouseError::io(what, io),
        other => WarehouseError::io(
            what,
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{other:?}")),
        ),
    }
}

/// A stored PIN/PUK value back to its digits (ASCII, `FF` padding dropped).
fn digits(v: &[u8]) -> String {
    v.iter()
        .take_while(|b| **b != 0xFF)
        .map(|b| char::from(*b))
        .collect()
}

/// The JSON plaintext of a record's secrets (zeroized when dropped).
fn secrets_json(r: &PersonalisationRecord) -> Zeroizing<Vec<u8>> {
    let adm = r.adm1.expose();
    let mut v = serde_json::json!({
        "K": hex::encode_upper(r.k.expose()),
        "OPC": hex::encode_upper(r.opc.expose()),
        "ALGORITHM": match r.algorithm {
            AkaAlgorithm::Milenage => "milenage",
            AkaAlgorithm::UsimTestAlgorithm => "usim-test-algorithm",
        },
        "PIN1": digits(r.pin1.expose()),
        "PUK1": digits(r.puk1.expose()),
        "PIN2": digits(r.pin2.expose()),
        "PUK2": digits(r.puk2.expose()),
        "ADM1": if adm.iter().all(u8::is_ascii_digit) {
            digits(adm)
        } else {
            hex::encode_upper(adm)
        },
    });
    if let (Some(ota), Some(map)) = (&r.ota_keys, v.as_object_mut()) {
        map.insert("KVN".into(), format!("{:02X}", ota.kvn).into());
        map.insert("KIC1".into(), hex::encode_upper(ota.kic.expose()).into());
        map.insert("KID1".into(), hex::encode_upper(ota.kid.expose()).into());
        map.insert("KIK1".into(), hex::encode_upper(ota.kik.expose()).into());
    }
    let text = Zeroizing::new(v.to_string().into_bytes());
    if let Some(map) = v.as_object_mut() {
        for value in map.values_mut() {
            if let serde_json::Value::String(s) = value {
                zeroize::Zeroize::zeroize(s);
            }
        }
    }
    text
}

fn row(r: &StockRecord) -> [String; 10] {
    [
        r.iccid.clone(),
        r.imsi.clone(),
        r.msisdn.clone().unwrap_or_default(),
        r.eid.clone().unwrap_or_default(),
        r.state.as_str().to_owned(),
        r.order_id.to_string(),
        time_text(Some(r.created_at)),
        time_text(r.reserved_at),
        time_text(r.downloading_at),
        time_text(r.installed_at),
    ]
}

/// The key to encrypt an output file's secrets for: the public key of the MNO's certificate (PEM). When the MNO
/// is registered, the certificate must be one of its registered TLS client certificates (same SHA-256
/// fingerprint); an unregistered MNO (a database used by the CLI only) is taken on the operator's word.
pub fn recipient_key(
    conn: &mut AnyConnection,
    mno_oid: &str,
    certificate_pem: &str,
) -> Result<PublicKey, WarehouseError> {
    let invalid = |why: String| WarehouseError::Invalid {
        field: "recipient certificate",
        why,
    };
    let cert = X509Certificate::from_pem(certificate_pem).map_err(|e| invalid(e.to_string()))?;
    match entities::get_entity(conn, mno_oid)? {
        Some(e) if e.role != EntityRole::Mno => {
            return Err(invalid(format!("{mno_oid} is not an MNO")));
        }
        Some(e) if !e.fingerprints.contains(&cert.sha256_fingerprint()) => {
            return Err(invalid(format!(
                "the certificate ({}) is not registered for MNO {mno_oid}",
                cert.subject()
            )));
        }
        Some(_) => {}
        None => tracing::warn!(
            mno = mno_oid,
            subject = cert.subject(),
            "MNO not registered: the output file is encrypted for the certificate given"
        ),
    }
    Ok(cert.public_key().clone())
}

/// Writes the output file of the MNO's installed records of a profile type (optionally one order), in ICCID
/// order; returns the number of records written.
pub fn export_installed<W: Write>(
    conn: &mut AnyConnection,
    keyring: &MasterKeyring,
    mno_oid: &str,
    request: &ExportRequest<'_>,
    out: W,
) -> Result<u64, WarehouseError> {
    let pt = profile_types::get(conn, mno_oid, request.profile_type)?;
    let mut encryptor = request
        .secrets_for
        .map(|key| Encryptor::new(key, &mut rand::rng()))
        .transpose()?;
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<&str> = COLUMNS.to_vec();
    if encryptor.is_some() {
        header.extend(["SECRETS_EPK", "SECRETS"]);
    }
    w.write_record(&header)
        .map_err(|e| csv_err("output file", e))?;
    let mut n = 0u64;
    for record in warehouse::export_installed(conn, pt.id, PAGE) {
        let record = record?;
        if request.order.is_some_and(|o| o != record.order_id) {
            continue;
        }
        let clear = row(&record);
        match encryptor.as_mut() {
            None => w.write_record(&clear),
            Some(enc) => {
                let secrets = secrets::open(keyring, &record)?;
                let cell = enc.seal(&record.iccid, &secrets_json(&secrets))?;
                w.write_record(
                    clear
                        .iter()
                        .map(String::as_str)
                        .chain([enc.ephemeral_hex().as_str(), cell.as_str()]),
                )
            }
        }
        .map_err(|e| csv_err("output file", e))?;
        n += 1;
    }
    w.flush()
        .map_err(|e| WarehouseError::io("output file", e))?;
    Ok(n)
}

/// Decrypts an output file with the MNO's private key: the same rows with `SECRETS_EPK`, `SECRETS` replaced by
/// the [`SECRET_COLUMNS`] in clear. Returns the number of rows.
pub fn decrypt<R: Read, W: Write>(
    input: R,
    key: &PrivateKey,
    out: W,
) -> Result<u64, WarehouseError> {
    let mut r = csv::Reader::from_reader(input);
    let header = r.headers().map_err(|e| csv_err("output file", e))?.clone();
    let find = |name: &str| header.iter().position(|h| h == name);
    let (Some(iccid_at), Some(epk_at), Some(cell_at)) =
        (find("ICCID"), find("SECRETS_EPK"), find("SECRETS"))
    else {
        return Err(EciesError::Malformed(
            "output file (no ICCID, SECRETS_EPK and SECRETS columns)",
        )
        .into());
    };
    let keep: Vec<usize> = (0..header.len())
        .filter(|i| *i != epk_at && *i != cell_at)
        .collect();
    let mut w = csv::Writer::from_writer(out);
    let mut new_header: Vec<&str> = keep.iter().map(|i| &header[*i]).collect();
    new_header.extend(SECRET_COLUMNS);
    w.write_record(&new_header)
        .map_err(|e| csv_err("decrypted file", e))?;
    let mut decryptor: Option<(String, Decryptor)> = None;
    let mut n = 0u64;
    for rec in r.records() {
        let rec = rec.map_err(|e| csv_err("output file", e))?;
        let (iccid, epk, cell) = (
            rec.get(iccid_at).unwrap_or_default(),
            rec.get(epk_at).unwrap_or_default(),
            rec.get(cell_at).unwrap_or_default(),
        );
        if decryptor.as_ref().is_none_or(|(e, _)| e != epk) {
            decryptor = Some((epk.to_owned(), Decryptor::new(key, epk)?));
        }
        let Some((_, d)) = decryptor.as_ref() else {
            continue;
        };
        let clear = d.open(iccid, cell)?;
        let json: serde_json::Value = serde_json::from_slice(&clear)
            .map_err(|_| EciesError::Malformed("SECRETS plaintext (not JSON)"))?;
        let mut fields: Vec<Zeroizing<String>> = keep
            .iter()
            .map(|i| Zeroizing::new(rec.get(*i).unwrap_or_default().to_owned()))
            .collect();
        fields.extend(SECRET_COLUMNS.iter().map(|c| {
            Zeroizing::new(
                json.get(*c)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned(),
            )
        }));
        w.write_record(fields.iter().map(|f| f.as_str()))
            .map_err(|e| csv_err("decrypted file", e))?;
        n += 1;
    }
    w.flush()
        .map_err(|e| WarehouseError::io("decrypted file", e))?;
    Ok(n)
}
