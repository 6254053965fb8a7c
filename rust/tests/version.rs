// SPDX-License-Identifier: GPL-2.0

//! The module reports the version of this crate: the two must not drift.

#[test]
fn module_version_matches_the_crate_version() {
    let main = include_str!("../batchpoke_main.rs");
    let line = main
        .lines()
        .find(|l| l.starts_with("const VERSION: &str = "))
        .expect("batchpoke_main.rs defines VERSION");
    assert_eq!(
        line,
        format!("const VERSION: &str = \"{}\";", env!("CARGO_PKG_VERSION"))
    );
}
