//! `rsp euicc register`: the EUM side of ES1 (SGP.02 §3.9, §5.2.1), registering EIS documents at an SM-SR.

use std::path::{Path, PathBuf};

use certs::world::World;
use conformance::eum::{Es1Client, read_eis_document};

/// Registers each EIS document (default: all of `<pki>/eis/`) and prints the outcome of each; fails if any
/// registration did not succeed.
pub fn register(pki: &Path, smsr: &str, mut files: Vec<PathBuf>) -> Result<(), String> {
    let world = World::load(pki).map_err(|e| format!("{}: {e}", pki.display()))?;
    if files.is_empty() {
        let dir = pki.join("eis");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "xml") {
                files.push(e.path());
            }
        }
        files.sort();
    }
    let client = Es1Client::new(&world, smsr).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut failures = 0;
    for file in &files {
        let eis = read_eis_document(file).map_err(|e| e.to_string())?;
        let eid = eis.eum_signed_info.eid.to_string();
        let fci = format!("register-{eid}-{}", uuid::Uuid::new_v4());
        match runtime.block_on(client.register(&eis, &fci)) {
            Ok(r) => {
                let status = &r.response.base.function_execution_status;
                match &status.status_code_data {
                    None => println!("{eid}: {}", status.status.as_str()),
                    Some(d) => {
                        failures += 1;
                        println!(
                            "{eid}: {} {}/{} {}",
                            status.status.as_str(),
                            d.subject,
                            d.reason,
                            d.message.as_deref().unwrap_or("")
                        );
                    }
                }
            }
            Err(e) => {
                failures += 1;
                println!("{eid}: {e}");
            }
        }
    }
    if failures > 0 {
        return Err(format!(
            "{failures} of {} registration(s) failed",
            files.len()
        ));
    }
    Ok(())
}
