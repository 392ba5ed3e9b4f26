//! The schema language's tokens: names, symbols, and what only caveats use (strings, other characters),
//! kept so the parser can refuse caveats by name.

use super::{err, SchemaError, SchemaErrorKind};

/// A name of a definition, relation or permission: a letter, then letters, digits and `_`, at most 64.
pub(super) fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Ident(String),
    Sym(&'static str),
    /// A quoted string (`'...'` or `"..."`): only caveat expressions have them.
    Str,
    /// A character the schema language has no use for (`<`, `!`, ...). Caveat expressions (CEL) use
    /// them, so the lexer keeps going and the parser refuses them where they matter: a caveat is then
    /// refused as unsupported, not as a syntax error.
    Other(char),
    Eof,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: u32,
    pub(super) column: u32,
    /// Where the token starts in the source, in bytes (a caveat's expression is read from the source
    /// between its braces).
    pub(super) offset: usize,
}

const SYMBOLS: &[&str] = &[
    "...", "->", "{", "}", "(", ")", ":", "#", "|", "*", "=", "+", "&", "-", ".", "/", ";", ",",
];

pub(super) fn lex(src: &str) -> Result<Vec<Token>, SchemaError> {
    let mut out = Vec::new();
    let (mut line, mut column) = (1u32, 1u32);
    let mut rest = src;
    let advance = |text: &str, line: &mut u32, column: &mut u32| {
        for c in text.chars() {
            if c == '\n' {
                *line += 1;
                *column = 1;
            } else {
                *column += 1;
            }
        }
    };
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            let n = c.len_utf8();
            advance(rest.get(..n).unwrap_or_default(), &mut line, &mut column);
            rest = rest.get(n..).unwrap_or_default();
            continue;
        }
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            advance(rest.get(..end).unwrap_or_default(), &mut line, &mut column);
            rest = rest.get(end..).unwrap_or_default();
            continue;
        }
        if rest.starts_with("/*") {
            let Some(end) = rest.get(2..).and_then(|r| r.find("*/")) else {
                return Err(err(
                    line,
                    column,
                    SchemaErrorKind::Syntax,
                    "unterminated `/*` comment",
                ));
            };
            let end = end + 4;
            advance(rest.get(..end).unwrap_or_default(), &mut line, &mut column);
            rest = rest.get(end..).unwrap_or_default();
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            let word = rest.get(..end).unwrap_or_default();
            // A CEL string prefix (`r'...'`, `b"..."`, `rb'''...'''`): one string token, raw ones
            // without escapes.
            let after = rest.get(end..).unwrap_or_default();
            let prefix = matches!(word.to_ascii_lowercase().as_str(), "r" | "b" | "rb" | "br");
            if let (true, Some(len)) = (
                prefix,
                string_end(after, word.to_ascii_lowercase().contains('r')),
            ) {
                let len = end + len;
                out.push(Token {
                    tok: Tok::Str,
                    line,
                    column,
                    offset: src.len() - rest.len(),
                });
                advance(rest.get(..len).unwrap_or_default(), &mut line, &mut column);
                rest = rest.get(len..).unwrap_or_default();
                continue;
            }
            out.push(Token {
                tok: Tok::Ident(word.to_owned()),
                line,
                column,
                offset: src.len() - rest.len(),
            });
            advance(word, &mut line, &mut column);
            rest = rest.get(end..).unwrap_or_default();
            continue;
        }
        if c == '\'' || c == '"' {
            if let Some(end) = string_end(rest, false) {
                out.push(Token {
                    tok: Tok::Str,
                    line,
                    column,
                    offset: src.len() - rest.len(),
                });
                advance(rest.get(..end).unwrap_or_default(), &mut line, &mut column);
                rest = rest.get(end..).unwrap_or_default();
                continue;
            }
        }
        let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
            out.push(Token {
                tok: Tok::Other(c),
                line,
                column,
                offset: src.len() - rest.len(),
            });
            let n = c.len_utf8();
            advance(rest.get(..n).unwrap_or_default(), &mut line, &mut column);
            rest = rest.get(n..).unwrap_or_default();
            continue;
        };
        out.push(Token {
            tok: Tok::Sym(sym),
            line,
            column,
            offset: src.len() - rest.len(),
        });
        advance(sym, &mut line, &mut column);
        rest = rest.get(sym.len()..).unwrap_or_default();
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        column,
        offset: src.len() - rest.len(),
    });
    Ok(out)
}

/// The byte length of the quoted string at the start of `text` (CEL's forms: `'...'`, `"..."`, and
/// the triple-quoted `'''...'''`, `"""..."""`; a `\` escapes the next character unless `raw`),
/// closing quotes included; `None` when it is not a string or not closed.
fn string_end(text: &str, raw: bool) -> Option<usize> {
    let quote = text.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let triple: String = [quote; 3].iter().collect();
    let (open_len, close) = if text.starts_with(&triple) {
        (3, triple.as_str())
    } else {
        (1, text.get(..1)?)
    };
    let mut escaped = false;
    for (i, ch) in text.char_indices().skip(open_len) {
        if escaped {
            escaped = false;
        } else if ch == '\\' && !raw {
            escaped = true;
        } else if text.get(i..).is_some_and(|t| t.starts_with(close)) {
            return Some(i + close.len());
        }
    }
    None
}
