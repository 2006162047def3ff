//! SCP80 with the ISD-R key set of the EIS (ETSI TS 102 225 §5; wire-profile §2, §4): securing the SM-SR's
//! command packets (SPI `16 39`), opening PoRs, and opening the eUICC's notification packets (SPI `16 00`).
//! Key values are unsealed from the store only here, for the packet at hand, and dropped (zeroized) after it.

use certs::secrets::MasterKeyring;
use eis_store::AnyConnection;
use eis_store::eis::{self, SdRole};
use es_interfaces::scp80::{
    self, CommandHeader, CommandPacket, Counter, CounterMode, Integrity, KeySet, Kic, Kid,
    ResponsePacket, SecretKey, Spi,
};
use es_interfaces::wire_profile;

use super::Es5Error;
use crate::eis_map::{KEY_PURPOSE, key_aad};

/// Index of the ciphering key KIc in the SCP80 key set (GP Card Specification §11.1.8; notes §1.6: KI1).
pub const KIC_INDEX: u8 = 1;
/// Index of the checksum key KID in the SCP80 key set (notes §1.6: KI2).
pub const KID_INDEX: u8 = 2;

/// The usable keys of one ISD-R SCP80 key set, for one packet.
pub struct IsdrKeys {
    /// Key set version (01–0F).
    pub kvn: u8,
    /// KIc and KID.
    pub keys: KeySet,
    /// KIc = KID byte: `(kvn << 4) | 2` (AES).
    pub key_byte: u8,
}

/// The ISD-R's TAR (wire-profile §1: bytes 13–15 of the ISD-R AID, `000001`).
pub fn isd_r_tar() -> [u8; 3] {
    let aid = wire_profile::ISD_R_AID;
    [aid[12], aid[13], aid[14]]
}

/// Unseals KIc and KID of the ISD-R key set the SM-SR uses for SCP80 — the highest one typed `SCP80` in 01–0F
/// (SGP.02 §2.2.5; wire-profile §1; after an SM-SR change the new key set has the higher version) — reading the
/// key sets and their components in one statement.
pub fn load_scp80_keys(
    conn: &mut AnyConnection,
    keyring: &MasterKeyring,
    eid: &str,
) -> Result<IsdrKeys, Es5Error> {
    let ks = isd_r_keyset(conn, eid, wire_profile::KVN_SCP80, "SCP80")?.ok_or_else(|| {
        Es5Error::NoScp80Keyset {
            eid: eid.to_string(),
        }
    })?;
    unseal_keys(keyring, eid, ks.version, &ks.components)
}

/// The ISD-R key set of `eid` the SM-SR uses for `usage` (`SCP80`, `SCP81`): the highest version in `kvns`
/// whose usage is `usage` or not given, with its key components, read in one statement (SGP.02 §2.2.5;
/// wire-profile §1).
pub fn isd_r_keyset(
    conn: &mut AnyConnection,
    eid: &str,
    kvns: std::ops::RangeInclusive<u8>,
    usage: &str,
) -> Result<Option<eis::KeysetComponents>, Es5Error> {
    Ok(eis::keysets_with_components(conn, eid, SdRole::IsdR)?
        .into_iter()
        .filter(|k| {
            kvns.contains(&k.version)
                && k.usage
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(usage))
        })
        .max_by_key(|k| k.version))
}

/// Unseals KIc and KID of ISD-R key set `kvn` of `eid`.
pub fn load_keys(
    conn: &mut AnyConnection,
    keyring: &MasterKeyring,
    eid: &str,
    kvn: u8,
) -> Result<IsdrKeys, Es5Error> {
    let components = eis::keyset_components(conn, eid, SdRole::IsdR, kvn)?;
    unseal_keys(keyring, eid, kvn, &components)
}

/// KIc and KID of ISD-R key set `kvn` of `eid` unsealed from its key components.
fn unseal_keys(
    keyring: &MasterKeyring,
    eid: &str,
    kvn: u8,
    components: &[(u8, eis::KeyComponent)],
) -> Result<IsdrKeys, Es5Error> {
    let key_byte = wire_profile::aes_kic_kid(kvn).ok_or_else(|| Es5Error::NoScp80Keyset {
        eid: eid.to_string(),
    })?;
    let unseal = |index: u8| -> Result<SecretKey, Es5Error> {
        let err = |why: String| Es5Error::Key {
            eid: eid.to_string(),
            kvn,
            index,
            why,
        };
        // The first component of the key (ordered by position).
        let (_, component) = components
            .iter()
            .find(|(i, _)| *i == index)
            .ok_or_else(|| err("not in the EIS".into()))?;
        let blob = std::str::from_utf8(&component.value.ciphertext)
            .map_err(|_| err("sealed value is not text".into()))?;
        let clear = keyring
            .open(
                KEY_PURPOSE,
                &key_aad(eid, SdRole::IsdR.as_str(), kvn, index, 0),
                blob,
            )
            .map_err(|e| err(e.to_string()))?;
        Ok(SecretKey::new(clear.expose()))
    };
    Ok(IsdrKeys {
        kvn,
        keys: KeySet {
            kic: unseal(KIC_INDEX)?,
            kid: unseal(KID_INDEX)?,
        },
        key_byte,
    })
}

fn scp80_err(eid: &str) -> impl Fn(scp80::Scp80Error) -> Es5Error + '_ {
    move |source| Es5Error::Scp80 {
        eid: eid.to_string(),
        source,
    }
}

/// The SPI of the SM-SR's command packets (wire-profile §2).
pub fn command_spi() -> Result<Spi, scp80::Scp80Error> {
    Spi::from_bytes(wire_profile::ES5_COMMAND_SPI)
}

/// Secures `script` (the secured data: an expanded remote command script) for the ISD-R with `counter`
/// (ETSI TS 102 225 §5.1; wire-profile §2); the packet starts at CPL.
pub fn secure_command(
    eid: &str,
    keys: &IsdrKeys,
    counter: u64,
    script: &[u8],
) -> Result<Vec<u8>, Es5Error> {
    let counter = Counter::from_u64(counter).ok_or_else(|| {
        Es5Error::Invalid(format!("SCP80 counter {counter} of {eid} exceeds 5 bytes"))
    })?;
    let header = CommandHeader {
        spi: command_spi().map_err(scp80_err(eid))?,
        kic: Kic(keys.key_byte),
        kid: Kid(keys.key_byte),
        tar: isd_r_tar(),
        counter,
    };
    scp80::build_command(&header, &keys.keys, script).map_err(scp80_err(eid))
}

/// Opens a PoR secured as the command SPI asks (CC, ciphered; wire-profile §2).
pub fn open_por(eid: &str, keys: &IsdrKeys, packet: &[u8]) -> Result<ResponsePacket, Es5Error> {
    let spi = command_spi().map_err(scp80_err(eid))?;
    scp80::open_por(
        packet,
        &spi,
        Kic(keys.key_byte),
        Kid(keys.key_byte),
        &keys.keys,
        isd_r_tar(),
    )
    .map_err(scp80_err(eid))
}

/// Opens a PoR sent without security, as a card does when it could not use the keys (ETSI TS 102 225 §5.2:
/// TAR unknown, CC failed, …). Only an error status is taken from such a PoR.
pub fn open_unsecured_por(eid: &str, packet: &[u8]) -> Result<ResponsePacket, Es5Error> {
    let spi = Spi {
        por_ciphered: false,
        por_integrity: Integrity::None,
        ..command_spi().map_err(scp80_err(eid))?
    };
    let no_keys = KeySet {
        kic: SecretKey::new(&[]),
        kid: SecretKey::new(&[]),
    };
    scp80::open_por(packet, &spi, Kic(0), Kid(0), &no_keys, isd_r_tar()).map_err(scp80_err(eid))
}

/// An eUICC notification packet opened and checked: its counter (to be checked against the last one received)
/// and its secured data (wire-profile §4).
#[derive(Debug, Clone)]
pub struct OpenedNotification {
    /// Key set version used.
    pub kvn: u8,
    /// The packet's counter.
    pub counter: u64,
    /// The secured data (`E1 …`).
    pub data: Vec<u8>,
}

/// Opens a command packet the eUICC sent (a notification, SPI `16 00`): TAR of the ISD-R, CC, ciphering and a
/// counter that must be higher are required (wire-profile §4). The key set is the one its KIc names.
pub fn open_notification(
    conn: &mut AnyConnection,
    keyring: &MasterKeyring,
    eid: &str,
    packet: &[u8],
) -> Result<OpenedNotification, Es5Error> {
    let p: CommandPacket<'_> = scp80::parse_command(packet).map_err(scp80_err(eid))?;
    if p.tar != isd_r_tar() {
        return Err(Es5Error::Invalid(format!(
            "notification of {eid} addressed to TAR {} instead of the ISD-R",
            hex::encode_upper(p.tar)
        )));
    }
    if !(p.spi.ciphering
        && p.spi.integrity == Integrity::CryptographicChecksum
        && matches!(p.spi.counter, CounterMode::Higher | CounterMode::OneHigher))
    {
        return Err(Es5Error::Invalid(format!(
            "notification of {eid} with SPI {} lacks CC, ciphering or a counter check",
            hex::encode_upper(p.spi.to_bytes())
        )));
    }
    let kvn = p.kic.kvn();
    if p.kid.kvn() != kvn {
        return Err(Es5Error::Invalid(format!(
            "notification of {eid}: KIc and KID name different key sets"
        )));
    }
    let keys = load_keys(conn, keyring, eid, kvn)?;
    let opened = p.open(&keys.keys).map_err(scp80_err(eid))?;
    Ok(OpenedNotification {
        kvn,
        counter: opened.header.counter.value(),
        data: opened.data,
    })
}
