// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::writer::SliceWriter;
use core::fmt::Write;

#[test]
fn writes_until_full_and_no_further() {
    let mut buf = [0u8; 8];
    let mut w = SliceWriter::new(&mut buf);
    assert!(w.is_empty());
    writeln!(w, "ab {}", 12).unwrap();
    assert_eq!(w.len(), 6);
    assert!(write!(w, "xyz").is_err());
    assert_eq!(w.len(), 6);
    write!(w, "xy").unwrap();
    assert_eq!(w.len(), 8);
    assert_eq!(&buf, b"ab 12\nxy");
}
