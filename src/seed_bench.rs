//! `rsp bench seed`: fills an SM-SR EIS database (PostgreSQL) with N eUICCs in bulk — every table the EIS spans
//! (SGP.02 §5.1.1.2.1, A1 `EISType`) written by one `COPY … FROM STDIN (FORMAT binary)` per table and chunk
//! ([`eis_store::eis::copy_eis`]), never one ES1 call per eUICC — and prints rows per table, time, eUICCs per
//! second and bytes per eUICC on disk.
//!
//! eUICC `i` is the simulator's seeded eUICC `i` (`conformance::euicc::EuiccSecrets::from_seed`: EID, ISD-R
//! SCP80 KIc/KID and SCP81 PSK, each sealed under the master key for its EID exactly as the store keeps keys
//! registered over ES1; the issued profiles of `conformance::issuance::profiles_for`) for `i` up to
//! [`conformance::issuance::MAX_EUICC_INDEX`], so that `Fleet::from_seed(seed, n)` answers ES5 for them. Beyond it
//! the identifiers follow the same numbering (EID, ICCID, IMSI; MSISDN `4918…`) and the key values are those of
//! eUICC `i mod (MAX_EUICC_INDEX + 1)`, sealed for the new EID. Its `EumSignedInfo` is that of the world's eUICC
//! 0 (`conformance::eum::build_eis`) with the EID replaced and a CERT.ECASD.ECKA of its own (its ECASD key, its
//! EID, issued by the world's EUM), signed again by the world's EUM (SGP.02 §5.1.1.3), so that ES3/ES4 GetEIS
//! shows it as it shows a registered one. Each eUICC also gets POL2
//! rules on its non-fall-back profiles, two audit records and two additional properties. The first
//! [`TEMPLATES`] eUICCs are registered one by one through [`eis_store::eis::register_eis`], the normal
//! registration path.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Instant;

use certs::secrets::MasterKeyring;
use certs::world::World;
use conformance::euicc::EuiccSecrets;
use conformance::issuance::{self, IssuedProfile, MAX_EUICC_INDEX};
use eis_store::bench::{TableFootprint, eis_footprint};
use eis_store::eis::{self as store, NewEis};
use eis_store::{DatabaseUrl, Store};
use es_interfaces::messages::codec::RPS_NS;
use es_interfaces::messages::eis::{Eis, EumSignature, KeysetItem};
use es_interfaces::types::HexBinary;

use crate::config::Config;

/// eUICCs registered one by one through [`store::register_eis`] before the bulk load.
pub const TEMPLATES: usize = 8;

/// eUICCs per COPY transaction.
const CHUNK: usize = 5_000;

/// Options of `rsp bench seed`.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// eUICCs to add.
    pub euiccs: usize,
    /// The SM-SR database (`postgres://…`); migrated if needed; must hold no eUICC yet.
    pub database_url: String,
    /// Profiles per eUICC, 1 to 3 (the first is enabled and the fall-back profile).
    pub profiles_per_euicc: usize,
    /// Seed of the simulated fleet (key values).
    pub seed: u64,
}

/// What [`seed`] did.
#[derive(Debug, Clone)]
pub struct SeedFigures {
    /// eUICCs stored.
    pub euiccs: usize,
    /// Seconds from the first registration to the last commit.
    pub seconds: f64,
    /// Seconds of the VACUUM (FREEZE, ANALYZE) after the last commit ([`eis_footprint`]).
    pub vacuum_seconds: f64,
    /// Rows and bytes on disk of each EIS table after the load.
    pub tables: Vec<TableFootprint>,
}

impl SeedFigures {
    /// eUICCs stored per second.
    pub fn per_second(&self) -> f64 {
        self.euiccs as f64 / self.seconds.max(1e-9)
    }

    /// Bytes on disk of the EIS tables (heap, indexes, TOAST) per eUICC.
    pub fn bytes_per_euicc(&self) -> f64 {
        let total: i64 = self.tables.iter().map(|t| t.bytes).sum();
        total as f64 / self.euiccs.max(1) as f64
    }
}

/// The EID of seeded eUICC `index` (the simulator's numbering, with its check digits).
pub fn seeded_eid(index: usize) -> Result<String, String> {
    certs::world::eid_with_check_digits(&format!("890499990010000000{:012}", index + 1))
        .ok_or_else(|| format!("no EID for eUICC {index}"))
}

/// The EIS whose `EumSignedInfo` every seeded eUICC takes (module documentation): the world's eUICC 0.
pub fn template(world: &World) -> Result<Eis, String> {
    conformance::eum::build_eis(world, 0, time::OffsetDateTime::now_utc())
        .map_err(|e| e.to_string())
}

/// `EumSignedInfo` and `EumSignature` of `template` for eUICC `eid`, standalone XML as `smsr::es1` stores them,
/// and the ECASD key set: the EID replaced, a CERT.ECASD.ECKA of its own (the template's with this EID as
/// subject, the public key of `secrets`' ECASD key and serial `index`, signed by the world's EUM; wire-profile
/// §6) and the whole signed by the world's EUM (SGP.02 §5.1.1.3).
fn signed_info(
    world: &World,
    template: &Eis,
    eid: &str,
    index: usize,
    secrets: &EuiccSecrets,
) -> Result<(String, String, store::Keyset), String> {
    let first = world
        .euiccs
        .first()
        .ok_or("the world has no eUICC to take the ECASD certificate from")?;
    let mut body = first.ecasd.cert.body().clone();
    body.serial_number = (index as u64 + 1).to_be_bytes().to_vec();
    body.subject_id = hex::decode(eid).map_err(|e| format!("EID {eid}: {e}"))?;
    body.public_key = secrets
        .ecasd
        .private_key()
        .map_err(|e| e.to_string())?
        .public_key()
        .clone();
    let cert = body.sign(&world.eum.key).encode();

    let mut eis = template.clone();
    eis.eum_signed_info.eid = eid.parse().map_err(|e| format!("EID {eid}: {e}"))?;
    let mut keyset = None;
    for ks in &mut eis.eum_signed_info.ecasd.keysets {
        for item in &mut ks.items {
            if let KeysetItem::Certificate(c) = item {
                c.value = HexBinary::from_bytes(&cert).map_err(|e| e.to_string())?;
                keyset = Some(store::Keyset {
                    version: ks.version.get(),
                    usage: ks.keyset_type.map(|u| u.as_str().to_string()),
                    cntr: 0,
                    keys: Vec::new(),
                    certificates: vec![store::SdCertificate {
                        index: c.index.get(),
                        ca_id: c.ca_id.as_str().to_string(),
                        value: cert.clone(),
                    }],
                });
            }
        }
    }
    let keyset = keyset.ok_or("the template EIS has no ECASD certificate")?;
    let signature = certs::xmldsig::sign_eum_signed_info(
        &conformance::eum::standalone_eum_signed_info(&eis.eum_signed_info),
        &world.eum.key,
        &world.eum.cert,
    )
    .map_err(|e| e.to_string())?;
    let content = certs::xmldsig::signature_content(&signature).map_err(|e| e.to_string())?;
    eis.eum_signature =
        EumSignature::from_children_xml(None, &content).map_err(|e| e.to_string())?;
    let doc = conformance::eum::eis_document(&eis);
    let parsed = es_interfaces::xml::Document::parse(doc.as_bytes()).map_err(|e| e.to_string())?;
    let part = |local: &str| {
        parsed
            .root()
            .child(RPS_NS, local)
            .map(|e| e.standalone_source())
            .ok_or_else(|| format!("the EIS document has no {local}"))
    };
    Ok((part("EumSignedInfo")?, part("EumSignature")?, keyset))
}

/// The EIS of seeded eUICC `index` as `rsp bench seed` stores it (module documentation), `template` from
/// [`template`].
pub fn seeded_eis(
    keyring: &MasterKeyring,
    world: &World,
    template: &Eis,
    seed: u64,
    index: usize,
    profiles_per_euicc: usize,
) -> Result<NewEis, String> {
    let [m1, m2, ..] = world.manifest.mnos.as_slice() else {
        return Err("the world lists fewer than two MNOs".into());
    };
    let base = index % (MAX_EUICC_INDEX + 1);
    let secrets = EuiccSecrets::from_seed(seed, base).map_err(|e| e.to_string())?;
    let mut profiles = issuance::profiles_for(
        base,
        &secrets.msisdn.to_string(),
        [&m1.entity.oid, &m2.entity.oid],
    )
    .map_err(|e| e.to_string())?;
    profiles.truncate(profiles_per_euicc.clamp(1, 3));
    if base != index {
        renumber(&mut profiles, index)?;
    }
    let eid = seeded_eid(index)?;
    let mut eis = crate::lab::seeded_eis_of(keyring, world, &eid, &secrets, &profiles, false)?;
    let (signed_info_xml, signature_xml, ecasd_keyset) =
        signed_info(world, template, &eid, index, &secrets)?;
    eis.euicc.eum_signed_info_xml = signed_info_xml;
    eis.euicc.eum_signature_xml = signature_xml;
    eis.ecasd.keysets = vec![ecasd_keyset];
    let smsr = world.manifest.sm_sr.oid.clone();
    let produced = template
        .eum_signed_info
        .production_date
        .to_offset_date_time();
    let now =
        i64::try_from(produced.unix_timestamp_nanos() / 1_000_000).map_err(|e| e.to_string())?;
    eis.euicc.production_date = now;
    for p in eis.profiles.iter_mut().filter(|p| !p.fallback) {
        p.pol2 = vec![store::Pol2Rule {
            subject: "PROFILE".into(),
            action: "DELETE".into(),
            qualification: "Not-Allowed".into(),
        }];
    }
    let enabled = eis
        .profiles
        .first()
        .map(|p| (p.isd_p_aid.clone(), p.iccid.clone()));
    // SGP.02 Annex A operation types: 0200 enable (at issuance), 0500 audit.
    for (op, days) in [([0x02, 0x00], 30), ([0x05, 0x00], 1)] {
        eis.audit_trail.push(store::AuditRecord {
            eid: eid.clone(),
            smsr_id: smsr.clone(),
            operation_date: now - days * 86_400_000,
            operation_type: op,
            requester_id: Some(m1.entity.oid.clone()),
            execution_status: Some("Executed-Success".into()),
            isd_p_aid: enabled.as_ref().map(|e| e.0.clone()),
            iccid: enabled.as_ref().map(|e| e.1.clone()),
            imei: Some(format!("35{:013}", index % 10_000_000_000_000)),
            meid: None,
        });
    }
    eis.euicc.last_audit_date = Some(now - 86_400_000);
    eis.additional_properties = BTreeMap::from([
        ("batch".to_string(), format!("seed-{}", index / 100_000)),
        ("productionSite".to_string(), "rsp-bench".to_string()),
    ]);
    Ok(eis)
}

/// Gives the profiles of eUICC `index` beyond the simulator's range their own identifiers, in the numbering of
/// `profiles_for` (ICCID `894999` + index + slot + Luhn digit, IMSI `0010` + MNO + index + slot) and MSISDN
/// `4918` + slot + index.
fn renumber(profiles: &mut [IssuedProfile], index: usize) -> Result<(), String> {
    for (slot, p) in profiles.iter_mut().enumerate() {
        let body = format!("894999{index:011}{}", slot + 1);
        let check = issuance::luhn_check_digit(&body)
            .ok_or_else(|| format!("no ICCID for eUICC {index}"))?;
        p.iccid = format!("{body}{check}");
        let mno = p.imsi.get(4..5).unwrap_or("1").to_string();
        p.imsi = format!("0010{mno}{:09}{}", index % 1_000_000_000, slot + 1);
        p.msisdn = format!("4918{slot}{index:09}");
    }
    Ok(())
}

/// Runs `rsp bench seed`: loads the world of `config` (its master key seals the keys; its entities are
/// registered so that `rsp serve` with the same configuration serves the database), then stores the eUICCs.
pub fn seed(config: &Config, opts: &SeedOptions) -> Result<SeedFigures, String> {
    if !matches!(
        DatabaseUrl::parse(&opts.database_url),
        Ok(DatabaseUrl::Postgres(_))
    ) {
        return Err(format!(
            "rsp bench seed needs a PostgreSQL database (postgres://…), not {:?}: the bulk load is COPY",
            opts.database_url
        ));
    }
    if !(1..=3).contains(&opts.profiles_per_euicc) {
        return Err("--profiles-per-euicc must be 1, 2 or 3".into());
    }
    let world = crate::setup::load_or_init_world(config).map_err(|e| e.to_string())?;
    let keyring = crate::setup::master_keyring(&world).map_err(|e| e.to_string())?;
    let store = Store::open(&opts.database_url, 2).map_err(|e| e.to_string())?;
    crate::setup::seed_smsr_entities(&store, &world, &config.smdp.public_url)
        .map_err(|e| e.to_string())?;
    seed_store(&store, &world, &keyring, opts)
}

/// Stores the eUICCs of `opts` in `store`, whose entities are registered already (the body of [`seed`], for
/// tests with a world of their own).
pub fn seed_store(
    store: &Store,
    world: &World,
    keyring: &MasterKeyring,
    opts: &SeedOptions,
) -> Result<SeedFigures, String> {
    let mut conn = store.conn().map_err(|e| e.to_string())?;
    if !store::list_eids(&mut conn, None, 1)
        .map_err(|e| e.to_string())?
        .is_empty()
    {
        return Err(format!(
            "{} already holds eUICCs: rsp bench seed fills an empty SM-SR database (drop it or use another)",
            opts.database_url
        ));
    }
    let template = template(world)?;
    let template = &template;
    let n = opts.euiccs;
    let started = Instant::now();
    let now = eis_store::now_millis();
    for i in 0..TEMPLATES.min(n) {
        let eis = seeded_eis(
            keyring,
            world,
            template,
            opts.seed,
            i,
            opts.profiles_per_euicc,
        )?;
        store
            .tx(|c| store::register_eis(c, &eis, now))
            .map_err(|e| format!("registering template eUICC {i}: {e}"))?;
    }

    // Chunks are built (keys sealed) on a second thread while the previous one is copied.
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<NewEis>, String>>(2);
    let (seed, k) = (opts.seed, opts.profiles_per_euicc);
    let stored = std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut start = TEMPLATES.min(n);
            while start < n {
                let end = (start + CHUNK).min(n);
                let chunk = (start..end)
                    .map(|i| seeded_eis(keyring, world, template, seed, i, k))
                    .collect::<Result<Vec<_>, _>>();
                let failed = chunk.is_err();
                if tx.send(chunk).is_err() || failed {
                    return;
                }
                start = end;
            }
        });
        let mut done = TEMPLATES.min(n);
        let mut last_report = Instant::now();
        for chunk in rx {
            let chunk = chunk?;
            store
                .tx(|c| store::copy_eis(c, &chunk, now))
                .map_err(|e| format!("copying eUICCs {done}..: {e}"))?;
            done += chunk.len();
            if last_report.elapsed().as_secs() >= 5 || done == n {
                last_report = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "  {done} / {n} eUICCs in {secs:.1} s ({:.0} eUICCs/s)",
                    done as f64 / secs.max(1e-9)
                );
            }
        }
        Ok::<usize, String>(done)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let vacuum = Instant::now();
    let tables = eis_footprint(&mut conn).map_err(|e| e.to_string())?;
    let figures = SeedFigures {
        euiccs: stored,
        seconds,
        vacuum_seconds: vacuum.elapsed().as_secs_f64(),
        tables,
    };
    println!(
        "rsp bench seed — {} eUICCs ({} profiles each) into PostgreSQL by COPY",
        figures.euiccs, opts.profiles_per_euicc
    );
    for t in &figures.tables {
        println!(
            "  {:<22} {:>12} rows {:>10.1} MiB",
            t.table,
            t.rows,
            t.bytes as f64 / 1_048_576.0
        );
    }
    println!(
        "  {:.1} s, {:.0} eUICCs/s, {:.0} bytes per eUICC on disk (EIS tables with their indexes)",
        figures.seconds,
        figures.per_second(),
        figures.bytes_per_euicc()
    );
    println!(
        "  then VACUUM (FREEZE, ANALYZE) of the EIS tables in {:.1} s",
        figures.vacuum_seconds
    );
    Ok(figures)
}
