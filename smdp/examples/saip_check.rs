//! Decodes profile package files (TCA PEDefinitions v3.3.1), re-encodes them, checks the bytes are identical,
//! runs the validation, says whether the file can serve as a personalisation template, and prints one line per
//! element.
//!
//! `cargo run -p smdp --example saip_check -- <file.der>…`

use smdp::saip::personalise::Personaliser;
use smdp::saip::{Limits, ProfilePackage, validate};

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
                continue;
            }
        };
        match ProfilePackage::decode(&bytes) {
            Ok(package) => {
                let same = package.encode() == bytes;
                let valid = validate::validate(&package, &Limits::default());
                println!(
                    "{path}: {} bytes, {} elements, re-encoding identical: {same}, validation: {}",
                    bytes.len(),
                    package.elements.len(),
                    match &valid {
                        Ok(()) => "ok".to_string(),
                        Err(e) => e.to_string(),
                    }
                );
                match Personaliser::new(&bytes, Limits::default()) {
                    Ok(_) => println!("  usable as a template: yes"),
                    Err(e) => println!("  usable as a template: no: {e}"),
                }
                for (e, offset) in package.elements.iter().zip(package.element_offsets()) {
                    println!("  {offset:6} {} {:?}", e.kind(), e.identification());
                }
                failed |= !same || valid.is_err();
            }
            Err(e) => {
                println!("{path}: {e}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
