//! Rebuilds eis-store when a migration changes: they are compiled in by `embed_migrations!`, which cargo does
//! not watch.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
