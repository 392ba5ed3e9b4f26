//! CEL's tokens (cel-spec `langdef.md`, "Syntax"): numbers, strings and bytes with their escapes, names,
//! operators. The source is read as characters, never sliced by byte position.

use crate::error::CompileError;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Int(i64),
    /// A decimal or hex literal too large for `int`: only valid right after a unary minus
    /// (`-9223372036854775808`).
    IntMagnitude(u64),
    Uint(u64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    Ident(String),
    /// A field name in backticks (`` m.`content-type` ``).
    QuotedIdent(String),
    /// Operators and punctuation: `+ - * / % == != < <= > >= && || ! ? : . , [ ] ( ) { }`.
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub column: u32,
}

const SYMBOLS: [&str; 25] = [
    "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", ".", ",",
    "[", "]", "(", ")", "{", "}", "=",
];

/// The tokens of `source`, ending with [`Tok::Eof`].
///
/// # Errors
/// A character CEL has no use for, an unterminated string, a bad escape or a malformed number.
pub fn tokens(source: &str) -> Result<Vec<Token>, CompileError> {
    let chars: Vec<char> = source.chars().collect();
    let mut lexer = Lexer {
        chars: &chars,
        at: 0,
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    loop {
        lexer.skip_space_and_comments();
        let (line, column) = (lexer.line, lexer.column);
        let tok = lexer.token()?;
        let end = tok == Tok::Eof;
        out.push(Token { tok, line, column });
        if end {
            return Ok(out);
        }
    }
}

struct Lexer<'s> {
    chars: &'s [char],
    at: usize,
    line: u32,
    column: u32,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn fail(&self, message: impl Into<String>) -> CompileError {
        CompileError::new(self.line, self.column, message)
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn token(&mut self) -> Result<Tok, CompileError> {
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            return self.number();
        }
        if c == '_' || c.is_ascii_alphabetic() {
            let mut name = String::new();
            while let Some(c) = self
                .peek()
                .filter(|c| *c == '_' || c.is_ascii_alphanumeric())
            {
                name.push(c);
                self.bump();
            }
            // String and bytes prefixes: r, R, b, B and their pairs, right before a quote.
            if matches!(self.peek(), Some('"' | '\'')) {
                let lower = name.to_ascii_lowercase();
                if matches!(lower.as_str(), "r" | "b" | "rb" | "br") {
                    return self.quoted(lower.contains('r'), lower.contains('b'));
                }
            }
            return Ok(Tok::Ident(name));
        }
        if c == '"' || c == '\'' {
            return self.quoted(false, false);
        }
        if c == '`' {
            self.bump();
            let mut name = String::new();
            loop {
                match self.bump() {
                    Some('`') if !name.is_empty() => return Ok(Tok::QuotedIdent(name)),
                    Some(c)
                        if c.is_ascii_alphanumeric()
                            || matches!(c, '_' | '.' | '-' | '/' | ' ') =>
                    {
                        name.push(c);
                    }
                    _ => {
                        return Err(
                            self.fail("a quoted field name holds letters, digits and `_.-/ ` only")
                        )
                    }
                }
            }
        }
        for sym in SYMBOLS {
            if sym
                .chars()
                .enumerate()
                .all(|(i, s)| self.peek_at(i) == Some(s))
            {
                if sym == "=" {
                    return Err(self.fail("unexpected `=` (equality is `==`)"));
                }
                for _ in 0..sym.len() {
                    self.bump();
                }
                return Ok(Tok::Sym(sym));
            }
        }
        Err(self.fail(format!("unexpected character `{}`", c.escape_debug())))
    }

    fn number(&mut self) -> Result<Tok, CompileError> {
        if self.peek() == Some('0') && matches!(self.peek_at(1), Some('x' | 'X')) {
            self.bump();
            self.bump();
            let mut digits = String::new();
            while let Some(c) = self.peek().filter(char::is_ascii_hexdigit) {
                digits.push(c);
                self.bump();
            }
            let value = u64::from_str_radix(&digits, 16)
                .map_err(|_| self.fail(format!("hex literal `0x{digits}` is out of range")))?;
            return self.integer(value, &format!("0x{digits}"));
        }
        let mut text = String::new();
        let mut double = false;
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            text.push(c);
            self.bump();
        }
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            double = true;
            text.push('.');
            self.bump();
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                text.push(c);
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = matches!(self.peek_at(1), Some('+' | '-'));
            let digit_at = if sign { 2 } else { 1 };
            if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                double = true;
                for _ in 0..digit_at {
                    text.extend(self.bump());
                }
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    text.push(c);
                    self.bump();
                }
            }
        }
        if double {
            return text
                .parse::<f64>()
                .map(Tok::Double)
                .map_err(|_| self.fail(format!("malformed number `{text}`")));
        }
        let value = text
            .parse::<u64>()
            .map_err(|_| self.fail(format!("integer literal `{text}` is out of range")))?;
        self.integer(value, &text)
    }

    /// An integer literal's value, with its `u` suffix if any.
    fn integer(&mut self, value: u64, text: &str) -> Result<Tok, CompileError> {
        if matches!(self.peek(), Some('u' | 'U')) {
            self.bump();
            return Ok(Tok::Uint(value));
        }
        Ok(match i64::try_from(value) {
            Ok(v) => Tok::Int(v),
            Err(_) if value == i64::MIN.unsigned_abs() => Tok::IntMagnitude(value),
            Err(_) => return Err(self.fail(format!("integer literal `{text}` is out of range"))),
        })
    }

    /// A quoted string or bytes literal; the opening quote is next.
    fn quoted(&mut self, raw: bool, bytes: bool) -> Result<Tok, CompileError> {
        let quote = self.bump().unwrap_or('"');
        let triple = self.peek() == Some(quote) && self.peek_at(1) == Some(quote);
        if triple {
            self.bump();
            self.bump();
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.fail("unterminated string literal"));
            };
            if c == quote {
                if !triple {
                    break;
                }
                if self.peek() == Some(quote) && self.peek_at(1) == Some(quote) {
                    self.bump();
                    self.bump();
                    break;
                }
            }
            if !triple && (c == '\n' || c == '\r') {
                return Err(self.fail("a line break in a single-quoted string literal"));
            }
            if c == '\\' && !raw {
                self.escape(bytes, &mut out)?;
                continue;
            }
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        if bytes {
            return Ok(Tok::Bytes(out));
        }
        String::from_utf8(out)
            .map(Tok::Str)
            .map_err(|_| self.fail("a string literal's escapes do not spell valid UTF-8"))
    }

    /// One escape after a backslash, appended to `out` (bytes escapes are raw bytes in a bytes literal
    /// and code points in a string).
    fn escape(&mut self, bytes: bool, out: &mut Vec<u8>) -> Result<(), CompileError> {
        let Some(c) = self.bump() else {
            return Err(self.fail("unterminated escape"));
        };
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '\'' => Some(b'\''),
            '"' => Some(b'"'),
            '`' => Some(b'`'),
            '?' => Some(b'?'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' | 'X' => (2, 16),
            'u' if !bytes => (4, 16),
            'U' if !bytes => (8, 16),
            '0'..='3' => (2, 8),
            _ => return Err(self.fail(format!("unknown escape `\\{}`", c.escape_debug()))),
        };
        let mut text = String::new();
        if radix == 8 {
            text.push(c);
        }
        for _ in 0..digits {
            match self.bump() {
                Some(d) if d.is_digit(radix) => text.push(d),
                _ => return Err(self.fail("an escape with too few digits")),
            }
        }
        let value = u32::from_str_radix(&text, radix)
            .map_err(|_| self.fail(format!("malformed escape `{text}`")))?;
        if bytes && matches!(c, 'x' | 'X' | '0'..='3') {
            out.push(u8::try_from(value).map_err(|_| self.fail("an octal escape above 255"))?);
            return Ok(());
        }
        let ch = char::from_u32(value)
            .ok_or_else(|| self.fail(format!("escape `{text}` is not a Unicode scalar value")))?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
}
