//! The personalisation benchmark behind `rsp bench personalise` (wire-profile §8: personalise, then validate
//! by decoding again).

use std::fmt;
use std::time::Instant;

use super::coding;
use super::pe::{AlgoConfiguration, ProfileElement};
use super::personalise::Personaliser;
use super::record::{AkaAlgorithm, OtaKeys, PersonalisationRecord};
use super::sample;
use super::secret::SecretBytes;
use super::{Limits, ProfilePackage, SaipError};

/// What a benchmark run measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// Packages personalised and validated.
    pub packages: usize,
    /// Size of one package in bytes.
    pub package_bytes: usize,
    /// Wall-clock seconds for all of them (one thread).
    pub seconds: f64,
    /// Packages per second.
    pub per_second: f64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} packages of {} bytes personalised and validated in {:.3} s: {:.0} packages/s (one thread)",
            self.packages, self.package_bytes, self.seconds, self.per_second
        )
    }
}

/// A distinct, valid record number `i` (ICCID `8988…` with its Luhn digit, IMSI `00101…`, keys derived from `i`).
pub fn synthetic_record(i: u64) -> PersonalisationRecord {
    let body = format!("8988{:015}", i % 1_000_000_000_000_000);
    let check = coding::luhn_check_digit(&body).unwrap_or(0);
    let seed = i.to_be_bytes();
    let key = |tag: u8| {
        let mut v = vec![tag; 16];
        v[8..].copy_from_slice(&seed);
        SecretBytes::new(v)
    };
    PersonalisationRecord {
        iccid: format!("{body}{check}"),
        imsi: format!("00101{:010}", i % 10_000_000_000),
        k: key(0x4B),
        opc: key(0x4F),
        algorithm: AkaAlgorithm::Milenage,
        pin1: SecretBytes::from_slice(b"1234\xFF\xFF\xFF\xFF"),
        pin2: SecretBytes::from_slice(b"5678\xFF\xFF\xFF\xFF"),
        puk1: SecretBytes::from_slice(b"12345678"),
        puk2: SecretBytes::from_slice(b"87654321"),
        adm1: SecretBytes::from_slice(b"11223344"),
        msisdn: Some(format!("4477{:08}", i % 100_000_000)),
        ota_keys: Some(OtaKeys {
            kvn: 1,
            kic: key(0xC1),
            kid: key(0xD1),
            kik: key(0xE1),
        }),
    }
}

/// Personalises `n` packages from the sample template with synthetic records, validating each, prints the
/// figures and returns them.
pub fn personalise(n: usize) -> Result<Figures, SaipError> {
    personalise_template(&sample::usim_template_der(), n)
}

/// [`personalise`] with another template (its first AKA algorithm is kept; the synthetic records carry an
/// MSISDN and OTA keys only when the template has somewhere to put them).
pub fn personalise_template(template: &[u8], n: usize) -> Result<Figures, SaipError> {
    let personaliser = Personaliser::new(template, Limits::default())?;
    let package = ProfilePackage::decode(template)?;
    let algorithm = package
        .elements
        .iter()
        .find_map(|e| match e {
            ProfileElement::AkaParameter(a) => match &a.algo_configuration {
                AlgoConfiguration::AlgoParameter(p) if p.algorithm_id == 3 => {
                    Some(AkaAlgorithm::UsimTestAlgorithm)
                }
                _ => None,
            },
            _ => None,
        })
        .unwrap_or(AkaAlgorithm::Milenage);
    let mut probe = synthetic_record(0);
    probe.algorithm = algorithm;
    let keep_msisdn = personaliser.personalise(&probe).is_ok();
    let start = Instant::now();
    let mut package_bytes = 0;
    for i in 0..n {
        let mut record = synthetic_record(i as u64);
        record.algorithm = algorithm;
        if !keep_msisdn {
            record.msisdn = None;
            record.ota_keys = None;
        }
        package_bytes = personaliser.personalise(&record)?.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    let figures = Figures {
        packages: n,
        package_bytes,
        seconds,
        per_second: if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        },
    };
    println!("{figures}");
    Ok(figures)
}
