//! Runs every file of `fuzz/corpus/<target>/` through its fuzz body on stable, so that every input the fuzzers
//! found (crashes turned into regression files, and the seeds) stays handled (issue 10 item 11).

use std::fs;
use std::path::PathBuf;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn every_target_has_a_corpus_and_handles_all_of_it() {
    let mut failures = Vec::new();
    for target in fuzz_corpus::TARGETS {
        let dir = corpus_root().join(target.name);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut files: Vec<PathBuf> = entries.map(|e| e.expect("a corpus entry").path()).collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no corpus", target.name);
        for file in files {
            let data = fs::read(&file).expect("a corpus file");
            if std::panic::catch_unwind(|| (target.run)(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that panic: {failures:#?}");
}

#[test]
fn every_cargo_fuzz_target_is_a_known_body() {
    let manifest =
        fs::read_to_string(corpus_root().join("../Cargo.toml")).expect("fuzz/Cargo.toml");
    let names: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "rsp-fuzz")
        .collect();
    let bodies: Vec<&str> = fuzz_corpus::TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, bodies);
}
