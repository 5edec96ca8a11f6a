//! S-expressions as libgcrypt writes them: the *advanced* text format found
//! in Guix key files, ACL files and (base64-decoded) narinfo signatures.
//!
//! [`parse`] reads the structure — lists, tokens (`ecc`, `Ed25519`),
//! `#HEX#` byte strings, `"quoted"` strings, `|base64|` strings and
//! canonical `N:bytes` atoms — ignoring layout. It is meant for untrusted
//! input: it limits the input size and the nesting depth and reports
//! [`Error::Sexp`] instead of panicking.
//!
//! [`Sexp::to_advanced`] prints libgcrypt's advanced layout byte for byte:
//! it walks the expression as a stream of *open*, *close* and *atom* events
//! and applies libgcrypt's rules:
//!
//! * an opening parenthesis that is not the first one starts a new line,
//!   indented by one space per enclosing list;
//! * an atom is followed by a space unless a closing parenthesis follows;
//! * after a closing parenthesis comes a newline plus the indentation of the
//!   enclosing level, unless another list opens or the expression ends;
//! * the whole text ends with a newline;
//! * an atom is printed as a token when it is made of letters, digits and
//!   `-./_:*+=` and does not start with a digit, as a quoted string when it is
//!   printable text, and otherwise (binary, a leading zero byte or a leading
//!   byte with the high bit set, as in a number) as `#UPPERCASE-HEX#`.
//!
//! So `(q #…#)` stays on one line, while `(public-key (ecc …))` prints as
//! `(public-key ` + newline + ` (ecc ` … with closing parentheses of
//! multi-line lists on lines of their own.

use crate::error::{Error, Result};
use base64::Engine as _;
use zeroize::Zeroize;

/// Largest input [`parse`] accepts, in bytes.
pub const MAX_SEXP_BYTES: usize = 64 * 1024;

/// Deepest list nesting [`parse`] accepts.
pub const MAX_SEXP_DEPTH: usize = 32;

/// A node of an s-expression: an atom (a byte string) or a list.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Sexp {
    /// A byte string (token, hex string, quoted string: the encoding is a
    /// matter of printing only).
    Atom(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Sexp>),
}

impl std::fmt::Debug for Sexp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::new();
        write_atom_or_list_compact(self, &mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// A compact one-line rendering used by `Debug` (not libgcrypt's layout).
fn write_atom_or_list_compact(node: &Sexp, out: &mut Vec<u8>) {
    match node {
        Sexp::Atom(bytes) => write_atom(bytes, out),
        Sexp::List(items) => {
            out.push(b'(');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_atom_or_list_compact(item, out);
            }
            out.push(b')');
        }
    }
}

impl Zeroize for Sexp {
    fn zeroize(&mut self) {
        match self {
            Sexp::Atom(bytes) => bytes.zeroize(),
            Sexp::List(items) => {
                for item in items.iter_mut() {
                    item.zeroize();
                }
            }
        }
    }
}

impl Sexp {
    /// An atom holding `bytes`.
    pub fn atom(bytes: impl Into<Vec<u8>>) -> Sexp {
        Sexp::Atom(bytes.into())
    }

    /// An atom holding the bytes of `token` (e.g. `"ecc"`).
    pub fn token(token: &str) -> Sexp {
        Sexp::Atom(token.as_bytes().to_vec())
    }

    /// A list of `items`.
    pub fn list(items: Vec<Sexp>) -> Sexp {
        Sexp::List(items)
    }

    /// The bytes of an atom, `None` for a list.
    pub fn as_atom(&self) -> Option<&[u8]> {
        match self {
            Sexp::Atom(bytes) => Some(bytes),
            Sexp::List(_) => None,
        }
    }

    /// The items of a list, `None` for an atom.
    pub fn as_list(&self) -> Option<&[Sexp]> {
        match self {
            Sexp::Atom(_) => None,
            Sexp::List(items) => Some(items),
        }
    }

    /// The first item of a list when it is an atom (the list's "name", as
    /// `public-key` in `(public-key …)`).
    pub fn head(&self) -> Option<&[u8]> {
        self.as_list()?.first()?.as_atom()
    }

    /// Whether this is a list whose head is `name`.
    pub fn is_named(&self, name: &str) -> bool {
        self.head() == Some(name.as_bytes())
    }

    /// The first list named `name`, searching this node and then its
    /// descendants depth-first, as libgcrypt's `gcry_sexp_find_token` does.
    pub fn find(&self, name: &str) -> Option<&Sexp> {
        if self.is_named(name) {
            return Some(self);
        }
        self.as_list()?
            .iter()
            .skip(1)
            .find_map(|item| item.find(name))
    }

    /// The direct child list named `name` of this list.
    pub fn child(&self, name: &str) -> Option<&Sexp> {
        self.as_list()?.iter().find(|item| item.is_named(name))
    }

    /// The atom right after the head of the direct child list `name`, as
    /// `#…#` in `(q #…#)`.
    pub fn child_value(&self, name: &str) -> Option<&[u8]> {
        self.child(name)?.as_list()?.get(1)?.as_atom()
    }

    /// The expression in libgcrypt's advanced text layout, exactly as
    /// `gcry_sexp_sprint (…, GCRYSEXP_FMT_ADVANCED, …)` prints it.
    pub fn to_advanced(&self) -> Vec<u8> {
        let mut events = Vec::new();
        flatten(self, &mut events);
        let mut out = Vec::new();
        let mut depth = 0usize;
        for (i, event) in events.iter().enumerate() {
            let next = events.get(i + 1);
            match event {
                Event::Open => {
                    if depth > 0 {
                        out.push(b'\n');
                        out.extend(std::iter::repeat(b' ').take(depth));
                    }
                    out.push(b'(');
                    depth += 1;
                }
                Event::Close => {
                    out.push(b')');
                    depth = depth.saturating_sub(1);
                    if matches!(next, Some(Event::Atom(_)) | Some(Event::Close)) {
                        out.push(b'\n');
                        out.extend(std::iter::repeat(b' ').take(depth));
                    }
                }
                Event::Atom(bytes) => {
                    write_atom(bytes, &mut out);
                    if !matches!(next, Some(Event::Close)) {
                        out.push(b' ');
                    }
                }
            }
        }
        out.push(b'\n');
        out
    }

    /// [`Sexp::to_advanced`] as a `String` (lossy only for quoted strings
    /// holding bytes above 0xA0, which libgcrypt writes raw).
    pub fn to_advanced_string(&self) -> String {
        match String::from_utf8(self.to_advanced()) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

enum Event<'a> {
    Open,
    Close,
    Atom(&'a [u8]),
}

fn flatten<'a>(node: &'a Sexp, events: &mut Vec<Event<'a>>) {
    match node {
        Sexp::Atom(bytes) => events.push(Event::Atom(bytes)),
        Sexp::List(items) => {
            events.push(Event::Open);
            for item in items {
                flatten(item, events);
            }
            events.push(Event::Close);
        }
    }
}

/// Characters besides letters and digits allowed in a token.
const TOKEN_SPECIALS: &[u8] = b"-./_:*+=";

/// Bytes a quoted string writes as a backslash escape.
fn escape_letter(b: u8) -> Option<u8> {
    Some(match b {
        0x08 => b'b',
        b'\t' => b't',
        0x0b => b'v',
        b'\n' => b'n',
        0x0c => b'f',
        b'\r' => b'r',
        b'"' => b'"',
        b'\'' => b'\'',
        b'\\' => b'\\',
        _ => return None,
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || TOKEN_SPECIALS.contains(&b)
}

/// How libgcrypt chooses to print an atom.
#[derive(Debug, PartialEq, Eq)]
enum Encoding {
    Hex,
    Quoted,
    Token,
}

fn encoding_of(bytes: &[u8]) -> Encoding {
    let Some(&first) = bytes.first() else {
        return Encoding::Quoted;
    };
    // A leading high bit reads as a negative number, a leading zero as
    // binary: both print as hex.
    if first & 0x80 != 0 || first == 0 {
        return Encoding::Hex;
    }
    let mut token = true;
    for &b in bytes {
        let control = b < 0x20 || (0x7f..=0xa0).contains(&b);
        if control && escape_letter(b).is_none() {
            return Encoding::Hex;
        }
        if !is_token_byte(b) {
            token = false;
        }
    }
    if token && !first.is_ascii_digit() {
        Encoding::Token
    } else {
        Encoding::Quoted
    }
}

fn write_atom(bytes: &[u8], out: &mut Vec<u8>) {
    match encoding_of(bytes) {
        Encoding::Token => out.extend_from_slice(bytes),
        Encoding::Hex => {
            out.push(b'#');
            for b in bytes {
                out.extend_from_slice(format!("{b:02X}").as_bytes());
            }
            out.push(b'#');
        }
        Encoding::Quoted => {
            out.push(b'"');
            for &b in bytes {
                match escape_letter(b) {
                    Some(letter) => {
                        out.push(b'\\');
                        out.push(letter);
                    }
                    None => out.push(b),
                }
            }
            out.push(b'"');
        }
    }
}

/// Parses one s-expression (a list) in libgcrypt's advanced or canonical
/// text format. Whitespace between elements is free; nothing but
/// whitespace may follow the expression.
pub fn parse(input: &[u8]) -> Result<Sexp> {
    if input.len() > MAX_SEXP_BYTES {
        return Err(Error::Sexp(format!(
            "input of {} bytes exceeds the limit of {MAX_SEXP_BYTES} bytes",
            input.len()
        )));
    }
    let mut parser = Parser { input, pos: 0 };
    parser.skip_space();
    if parser.peek() != Some(b'(') {
        return Err(parser.error("expected `(` at the start of the expression"));
    }
    // A stack of open lists; the parse is iterative, so depth costs heap,
    // not stack, and is bounded by MAX_SEXP_DEPTH anyway.
    let mut stack: Vec<Vec<Sexp>> = Vec::new();
    loop {
        parser.skip_space();
        let Some(c) = parser.peek() else {
            return Err(parser.error(&format!(
                "unexpected end of input inside {} open list(s)",
                stack.len()
            )));
        };
        match c {
            b'(' => {
                if stack.len() >= MAX_SEXP_DEPTH {
                    return Err(
                        parser.error(&format!("lists nested deeper than {MAX_SEXP_DEPTH} levels"))
                    );
                }
                parser.pos += 1;
                stack.push(Vec::new());
            }
            b')' => {
                parser.pos += 1;
                let done = Sexp::List(stack.pop().unwrap_or_default());
                match stack.last_mut() {
                    Some(parent) => parent.push(done),
                    None => {
                        parser.skip_space();
                        if parser.pos != input.len() {
                            return Err(parser.error("unexpected text after the expression"));
                        }
                        return Ok(done);
                    }
                }
            }
            _ => {
                let atom = parser.atom()?;
                match stack.last_mut() {
                    Some(list) => list.push(Sexp::Atom(atom)),
                    None => return Err(parser.error("atom outside of a list")),
                }
            }
        }
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn error(&self, what: &str) -> Error {
        Error::Sexp(format!("at byte {}: {what}", self.pos))
    }

    fn skip_space(&mut self) {
        while matches!(
            self.peek(),
            Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
        ) {
            self.pos += 1;
        }
    }

    /// Reads up to (not including) `end`, returning the bytes in between
    /// and leaving the position after `end`.
    fn until(&mut self, end: u8, what: &str) -> Result<&[u8]> {
        let start = self.pos;
        let rest = self.input.get(start..).unwrap_or_default();
        match rest.iter().position(|&b| b == end) {
            Some(len) => {
                self.pos = start + len + 1;
                Ok(&rest[..len])
            }
            None => Err(self.error(&format!("unterminated {what}"))),
        }
    }

    fn atom(&mut self) -> Result<Vec<u8>> {
        let Some(c) = self.peek() else {
            return Err(self.error("unexpected end of input"));
        };
        match c {
            b'#' => {
                self.pos += 1;
                let body = self.until(b'#', "hex string (missing closing `#`)")?;
                decode_hex(body).map_err(|m| self.error(&m))
            }
            b'|' => {
                self.pos += 1;
                let body: Vec<u8> = self
                    .until(b'|', "base64 string (missing closing `|`)")?
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map_err(|e| self.error(&format!("bad base64 string: {e}")))
            }
            b'"' => {
                self.pos += 1;
                self.quoted()
            }
            b'[' => Err(self.error("display hints `[…]` are not supported")),
            b'0'..=b'9' => {
                let start = self.pos;
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
                let digits = &self.input[start..self.pos];
                if self.peek() != Some(b':') {
                    return Err(self.error("expected `:` after a length prefix"));
                }
                self.pos += 1;
                let len: usize = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| self.error("length prefix too large"))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|&end| end <= self.input.len())
                    .ok_or_else(|| self.error("length prefix runs past the end of input"))?;
                let bytes = self.input[self.pos..end].to_vec();
                self.pos = end;
                Ok(bytes)
            }
            _ if is_token_byte(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_token_byte) {
                    self.pos += 1;
                }
                Ok(self.input[start..self.pos].to_vec())
            }
            _ => Err(self.error(&format!("unexpected character 0x{c:02x}"))),
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated quoted string"));
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("unterminated escape in quoted string"));
                    };
                    self.pos += 1;
                    match e {
                        b'b' => out.push(0x08),
                        b't' => out.push(b'\t'),
                        b'v' => out.push(0x0b),
                        b'n' => out.push(b'\n'),
                        b'f' => out.push(0x0c),
                        b'r' => out.push(b'\r'),
                        b'"' | b'\'' | b'\\' => out.push(e),
                        b'x' => {
                            let digits = self
                                .input
                                .get(self.pos..self.pos + 2)
                                .ok_or_else(|| self.error("truncated \\x escape"))?;
                            let v = decode_hex(digits).map_err(|m| self.error(&m))?;
                            out.extend_from_slice(&v);
                            self.pos += 2;
                        }
                        b'0'..=b'7' => {
                            let digits = self
                                .input
                                .get(self.pos - 1..self.pos + 2)
                                .ok_or_else(|| self.error("truncated octal escape"))?;
                            let mut v: u32 = 0;
                            for &d in digits {
                                if !(b'0'..=b'7').contains(&d) {
                                    return Err(self.error("bad octal escape"));
                                }
                                v = v * 8 + u32::from(d - b'0');
                            }
                            let byte = u8::try_from(v)
                                .map_err(|_| self.error("octal escape above 0377"))?;
                            out.push(byte);
                            self.pos += 2;
                        }
                        b'\n' => {
                            if self.peek() == Some(b'\r') {
                                self.pos += 1;
                            }
                        }
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        _ => return Err(self.error(&format!("unknown escape `\\{}`", e as char))),
                    }
                }
                _ => out.push(c),
            }
        }
    }
}

fn decode_hex(body: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let digits: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.len() % 2 != 0 {
        return Err("hex string with an odd number of digits".into());
    }
    hex::decode(&digits).map_err(|e| format!("bad hex string: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        parse(text.as_bytes()).unwrap().to_advanced_string()
    }

    #[test]
    fn prints_libgcrypt_layout() {
        assert_eq!(round("(q #00ab#)"), "(q #00AB#)\n");
        assert_eq!(
            round("(public-key (ecc (curve Ed25519) (q #01#)))"),
            "(public-key \n (ecc \n  (curve Ed25519)\n  (q #01#)\n  )\n )\n"
        );
        assert_eq!(round("(a (b) c)"), "(a \n (b)\n c)\n");
        assert_eq!(round("()"), "()\n");
        assert_eq!(
            round("(hash \"sha256\" \"a b\")"),
            "(hash sha256 \"a b\")\n"
        );
        assert_eq!(round("(x \"1abc\" \"\")"), "(x \"1abc\" \"\")\n");
        assert_eq!(round("(x \"a\\nb\")"), "(x \"a\\nb\")\n");
        assert_eq!(round("(x 3:abc |YWJj|)"), "(x abc abc)\n");
    }

    #[test]
    fn hostile_inputs_are_errors() {
        for bad in [
            &b""[..],
            b"(",
            b"(a",
            b"(a #12",
            b"(a #123#)",
            b"(a \"x",
            b"(a 9:ab)",
            b"(a 99999999999999999999999:ab)",
            b"(a))",
            b"(a) b",
            b"a",
            b"(a [hint] b)",
            b"(a \x01)",
            b"(a \"\\q\")",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "(".repeat(MAX_SEXP_DEPTH + 1) + &")".repeat(MAX_SEXP_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
        let ok = "(".repeat(MAX_SEXP_DEPTH) + &")".repeat(MAX_SEXP_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let huge = vec![b'('; MAX_SEXP_BYTES + 1];
        assert!(parse(&huge).is_err());
    }
}
