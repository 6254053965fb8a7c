// SPDX-License-Identifier: GPL-2.0

//! The text form of requests written to batchpoke's sysfs files.
//!
//! A transaction is whitespace-separated `name=value` tokens; a value is a
//! boolean in one of the forms `kstrtobool()` documents, as a whole word:
//! `1 0 y n yes no on off true false`, any case. Key names are made of
//! `[A-Za-z0-9_.-]`. Parsing checks the whole request before anything is
//! applied.

/// Why a request is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace.
    Empty,
    /// A NUL byte inside the request.
    Nul,
    /// A token that is not `name=value` with a valid name and value; the
    /// payload is its byte offset.
    Malformed(usize),
}

/// Parses a boolean written as a whole word.
pub fn parse_bool(word: &[u8]) -> Option<bool> {
    const TRUE: [&[u8]; 5] = [b"1", b"y", b"yes", b"on", b"true"];
    const FALSE: [&[u8]; 5] = [b"0", b"n", b"no", b"off", b"false"];
    let is = |w: &[u8]| w.eq_ignore_ascii_case(word);
    if TRUE.iter().any(|w| is(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| is(w)) {
        Some(false)
    } else {
        None
    }
}

/// Parses a single boolean value, as written to an `enabled` file: one
/// word, optionally surrounded by whitespace (`echo` adds a newline).
pub fn parse_bool_request(input: &[u8]) -> Result<bool, ParseError> {
    if input.contains(&0) {
        return Err(ParseError::Nul);
    }
    let mut words = input
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let word = words.next().ok_or(ParseError::Empty)?;
    if words.next().is_some() {
        return Err(ParseError::Malformed(0));
    }
    parse_bool(word).ok_or(ParseError::Malformed(0))
}

/// Whether `name` may name a key.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Checks `input` as a transaction and calls `f(name, value)` for each
/// token, in order. Returns the number of tokens. Nothing is called back
/// unless the whole input is well-formed.
pub fn parse_transaction<'a>(
    input: &'a [u8],
    f: impl FnMut(&'a [u8], bool),
) -> Result<usize, ParseError> {
    if input.contains(&0) {
        return Err(ParseError::Nul);
    }
    let count = for_each_token(input, |_, _| {})?;
    if count == 0 {
        return Err(ParseError::Empty);
    }
    for_each_token(input, f)
}

fn for_each_token<'a>(
    input: &'a [u8],
    mut f: impl FnMut(&'a [u8], bool),
) -> Result<usize, ParseError> {
    let mut count = 0;
    let mut pos = 0;
    for token in input.split(|b| b.is_ascii_whitespace()) {
        let offset = pos;
        pos += token.len() + 1;
        if token.is_empty() {
            continue;
        }
        let eq = token
            .iter()
            .position(|&b| b == b'=')
            .ok_or(ParseError::Malformed(offset))?;
        let (name, value) = (&token[..eq], &token[eq + 1..]);
        if !valid_name(name) {
            return Err(ParseError::Malformed(offset));
        }
        let value = parse_bool(value).ok_or(ParseError::Malformed(offset))?;
        f(name, value);
        count += 1;
    }
    Ok(count)
}
