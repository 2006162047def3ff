//! Writes the sample USIM template (`smdp::saip::sample::usim_template`) to `smdp/templates/sample-usim.der`.
//!
//! `cargo run -p smdp --example sample_template`

fn main() -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/sample-usim.der");
    std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
    let der = smdp::saip::sample::usim_template_der();
    std::fs::write(&path, &der)?;
    println!("wrote {} ({} bytes)", path.display(), der.len());
    Ok(())
}
