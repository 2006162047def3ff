//! The at-rest form of a personalisation record's secrets (DESIGN §4: K/OPc, PIN/PUK/ADM, OTA keys encrypted at
//! rest): a fixed binary layout sealed with the master key ring (`certs::secrets`, AES-256-GCM) for purpose
//! [`PURPOSE`] with the ICCID as associated data, so a blob copied to another row does not open.
//!
//! Layout (version 1), all lengths fixed:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version `01` |
//! | 1 | `algorithmID` (TCA PEDefinitions: milenage 1, usim-test-algorithm 3) |
//! | 16 + 16 | K, OPc |
//! | 8 × 5 | PIN1, PIN2, PUK1, PUK2, ADM1 as stored on the card (ETSI TS 102 221 §9.5.1) |
//! | 1 | OTA key set present (`00` / `01`) |
//! | 1 + 16 × 3 | if present: KVN, KIc, KID, KIK (ETSI TS 102 225) |

use certs::secrets::MasterKeyring;
use eis_store::Sealed;
use eis_store::warehouse::StockRecord;
use zeroize::Zeroizing;

use super::WarehouseError;
use crate::saip::record::{AkaAlgorithm, OtaKeys, PersonalisationRecord};
use crate::saip::secret::SecretBytes;

/// The purpose the secrets of a stock record are sealed for (`certs::secrets` AAD binding).
pub const PURPOSE: &str = "smdp-stock-secrets";

const VERSION: u8 = 1;
const FIXED: usize = 1 + 1 + 32 + 40 + 1;
const OTA: usize = 1 + 48;

/// Encodes the secret fields of a record in the version-1 layout (zeroized when dropped).
pub fn encode(record: &PersonalisationRecord) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(FIXED + OTA));
    out.push(VERSION);
    out.push(record.algorithm as u8);
    for v in [
        &record.k,
        &record.opc,
        &record.pin1,
        &record.pin2,
        &record.puk1,
        &record.puk2,
        &record.adm1,
    ] {
        out.extend_from_slice(v.expose());
    }
    match &record.ota_keys {
        None => out.push(0),
        Some(ota) => {
            out.push(1);
            out.push(ota.kvn);
            for k in [&ota.kic, &ota.kid, &ota.kik] {
                out.extend_from_slice(k.expose());
            }
        }
    }
    out
}

/// Decodes the version-1 layout into a record carrying the clear identifiers given.
pub fn decode(
    bytes: &[u8],
    iccid: &str,
    imsi: &str,
    msisdn: Option<&str>,
) -> Result<PersonalisationRecord, WarehouseError> {
    let bad = |why| WarehouseError::SecretsLayout {
        iccid: iccid.to_owned(),
        why,
    };
    if bytes.len() < FIXED || bytes[0] != VERSION {
        return Err(bad("not a version-1 secrets record"));
    }
    let algorithm = match bytes[1] {
        1 => AkaAlgorithm::Milenage,
        3 => AkaAlgorithm::UsimTestAlgorithm,
        _ => return Err(bad("unknown algorithmID")),
    };
    let field = |at: usize, len: usize| SecretBytes::from_slice(&bytes[at..at + len]);
    let ota_keys = match (bytes[FIXED - 1], bytes.len()) {
        (0, n) if n == FIXED => None,
        (1, n) if n == FIXED + OTA => Some(OtaKeys {
            kvn: bytes[FIXED],
            kic: field(FIXED + 1, 16),
            kid: field(FIXED + 17, 16),
            kik: field(FIXED + 33, 16),
        }),
        _ => return Err(bad("wrong length for its OTA key flag")),
    };
    Ok(PersonalisationRecord {
        iccid: iccid.to_owned(),
        imsi: imsi.to_owned(),
        k: field(2, 16),
        opc: field(18, 16),
        algorithm,
        pin1: field(34, 8),
        pin2: field(42, 8),
        puk1: field(50, 8),
        puk2: field(58, 8),
        adm1: field(66, 8),
        msisdn: msisdn.map(str::to_owned),
        ota_keys,
    })
}

/// Seals the secrets of `record` under the current master key, bound to its ICCID.
pub fn seal(
    keyring: &MasterKeyring,
    record: &PersonalisationRecord,
) -> Result<Sealed, WarehouseError> {
    record.check().map_err(|e| WarehouseError::Invalid {
        field: "personalisation record",
        why: e.to_string(),
    })?;
    let blob = keyring
        .seal(PURPOSE, record.iccid.as_bytes(), &encode(record))
        .map_err(|source| WarehouseError::Secrets {
            iccid: record.iccid.clone(),
            source,
        })?;
    Ok(Sealed {
        key_id: keyring.current_key_id().to_owned(),
        ciphertext: blob.into_bytes(),
    })
}

/// Opens the secrets of a stored record and rebuilds its full personalisation record.
pub fn open(
    keyring: &MasterKeyring,
    stock: &StockRecord,
) -> Result<PersonalisationRecord, WarehouseError> {
    let blob = std::str::from_utf8(&stock.secrets.ciphertext).map_err(|_| {
        WarehouseError::SecretsLayout {
            iccid: stock.iccid.clone(),
            why: "sealed blob is not text",
        }
    })?;
    let clear = keyring
        .open(PURPOSE, stock.iccid.as_bytes(), blob)
        .map_err(|source| WarehouseError::Secrets {
            iccid: stock.iccid.clone(),
            source,
        })?;
    decode(
        clear.expose(),
        &stock.iccid,
        &stock.imsi,
        stock.msisdn.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saip::bench::synthetic_record;

    #[test]
    fn layout_round_trips_with_and_without_ota_keys() {
        let mut r = synthetic_record(7);
        let bytes = encode(&r);
        assert_eq!(bytes.len(), FIXED + OTA);
        let back = decode(&bytes, &r.iccid, &r.imsi, r.msisdn.as_deref()).unwrap();
        assert_eq!(back, r);
        r.ota_keys = None;
        r.msisdn = None;
        r.algorithm = AkaAlgorithm::UsimTestAlgorithm;
        let bytes = encode(&r);
        assert_eq!(bytes.len(), FIXED);
        assert_eq!(decode(&bytes, &r.iccid, &r.imsi, None).unwrap(), r);
    }

    #[test]
    fn layout_is_fixed_and_checked() {
        let r = synthetic_record(1);
        let bytes = encode(&r);
        assert_eq!(&bytes[..2], &[1, 1]);
        assert_eq!(&bytes[2..18], r.k.expose());
        assert_eq!(&bytes[18..34], r.opc.expose());
        assert_eq!(&bytes[34..42], b"1234\xFF\xFF\xFF\xFF");
        assert_eq!(&bytes[66..74], b"11223344");
        assert_eq!(bytes[74], 1);
        for cut in [0, 10, FIXED, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], "x", "y", None).is_err(), "cut {cut}");
        }
        let mut wrong = bytes.to_vec();
        wrong[0] = 2;
        assert!(decode(&wrong, "x", "y", None).is_err());
        wrong[0] = 1;
        wrong[1] = 2;
        assert!(decode(&wrong, "x", "y", None).is_err());
    }

    #[test]
    fn sealed_for_one_iccid_does_not_open_for_another() {
        let (ring, _) = MasterKeyring::generate("mk-test", &mut rand::rng()).unwrap();
        let r = synthetic_record(3);
        let sealed = seal(&ring, &r).unwrap();
        let text = String::from_utf8(sealed.ciphertext.clone()).unwrap();
        assert!(!text.contains(&hex::encode_upper(r.k.expose())));
        let stock = |iccid: &str| StockRecord {
            iccid: iccid.into(),
            imsi: r.imsi.clone(),
            msisdn: r.msisdn.clone(),
            secrets: sealed.clone(),
            profile_type_id: 1,
            mno_oid: "1.2".into(),
            order_id: 1,
            state: eis_store::warehouse::StockState::Available,
            eid: None,
            created_at: 0,
            reserved_at: None,
            downloading_at: None,
            installed_at: None,
            released_at: None,
            updated_at: 0,
        };
        assert_eq!(open(&ring, &stock(&r.iccid)).unwrap(), r);
        let other = synthetic_record(4).iccid;
        assert!(matches!(
            open(&ring, &stock(&other)),
            Err(WarehouseError::Secrets { .. })
        ));
    }
}
