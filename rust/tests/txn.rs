// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::txn::*;

fn parse(s: &[u8]) -> Result<Vec<(String, bool)>, ParseError> {
    let mut v = Vec::new();
    parse_transaction(s, |n, b| {
        v.push((String::from_utf8(n.to_vec()).unwrap(), b))
    })?;
    Ok(v)
}

#[test]
fn bool_words() {
    for w in ["1", "y", "Y", "yes", "YES", "on", "On", "true", "TRUE"] {
        assert_eq!(parse_bool(w.as_bytes()), Some(true), "{w}");
    }
    for w in ["0", "n", "N", "no", "off", "OFF", "false", "False"] {
        assert_eq!(parse_bool(w.as_bytes()), Some(false), "{w}");
    }
    for w in ["", "2", "-1", "yess", "o", "onn", "1 ", "truee", "\u{0}"] {
        assert_eq!(parse_bool(w.as_bytes()), None, "{w:?}");
    }
}

#[test]
fn bool_request_as_echo_writes_it() {
    assert_eq!(parse_bool_request(b"1\n"), Ok(true));
    assert_eq!(parse_bool_request(b"  off \n"), Ok(false));
    assert_eq!(parse_bool_request(b"\n"), Err(ParseError::Empty));
    assert_eq!(parse_bool_request(b""), Err(ParseError::Empty));
    assert_eq!(parse_bool_request(b"1 0"), Err(ParseError::Malformed(0)));
    assert_eq!(parse_bool_request(b"2"), Err(ParseError::Malformed(0)));
    assert_eq!(parse_bool_request(b"1\0"), Err(ParseError::Nul));
}

#[test]
fn transaction_tokens() {
    assert_eq!(
        parse(b"batchpoke.demo_a=1 batchpoke.demo_b=0\n").unwrap(),
        vec![
            ("batchpoke.demo_a".into(), true),
            ("batchpoke.demo_b".into(), false)
        ]
    );
    assert_eq!(parse(b"\t a=on\n\nb=off  ").unwrap().len(), 2);
}

#[test]
fn malformed_transactions_are_refused_whole() {
    assert_eq!(parse(b""), Err(ParseError::Empty));
    assert_eq!(parse(b" \n\t "), Err(ParseError::Empty));
    assert_eq!(parse(b"a=1 =1"), Err(ParseError::Malformed(4)));
    assert_eq!(parse(b"a=1 b"), Err(ParseError::Malformed(4)));
    assert_eq!(parse(b"a=2"), Err(ParseError::Malformed(0)));
    assert_eq!(parse(b"a="), Err(ParseError::Malformed(0)));
    assert_eq!(parse(b"a==1"), Err(ParseError::Malformed(0)));
    assert_eq!(parse(b"a/b=1"), Err(ParseError::Malformed(0)));
    assert_eq!(parse(b"a=1\0b=1"), Err(ParseError::Nul));
    // The callback never runs for a request that fails late.
    let mut called = false;
    assert!(parse_transaction(b"a=1 b=1 c=x", |_, _| called = true).is_err());
    assert!(!called);
}

#[test]
fn names() {
    assert!(valid_name(b"batchpoke.demo_a"));
    assert!(valid_name(b"mod-1.key_2"));
    assert!(!valid_name(b""));
    assert!(!valid_name(b"a b"));
    assert!(!valid_name(b"a/b"));
    assert!(!valid_name("k\u{e9}y".as_bytes()));
}
