//! The filter's tokens: brackets, JSON strings (decoded), and words — attribute paths, keywords,
//! operators, numbers, `true`/`false`/`null` — each with its byte offset.

use super::{FilterError, FilterErrorKind};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A JSON string, escapes decoded.
    Str(String),
    /// Any run of characters other than whitespace, brackets and `"`.
    Word(String),
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) at: usize,
}

pub(crate) fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(tok) = single {
            chars.next();
            out.push(Token { tok, at });
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let end = string_end(text, at).ok_or_else(|| {
                FilterError::new(FilterErrorKind::Syntax, at, "unterminated string")
            })?;
            let raw = text.get(at..end).unwrap_or_default();
            let decoded: String = serde_json::from_str(raw).map_err(|_| {
                FilterError::new(
                    FilterErrorKind::Syntax,
                    at,
                    "invalid escape or control character in string",
                )
            })?;
            out.push(Token {
                tok: Tok::Str(decoded),
                at,
            });
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
        } else {
            let mut end = text.len();
            while let Some(&(i, ch)) = chars.peek() {
                if ch.is_whitespace() || matches!(ch, '(' | ')' | '[' | ']' | '"') {
                    end = i;
                    break;
                }
                chars.next();
            }
            out.push(Token {
                tok: Tok::Word(text.get(at..end).unwrap_or_default().to_owned()),
                at,
            });
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        at: text.len(),
    });
    Ok(out)
}

/// The byte offset just past the closing quote of the string opening at `start`, `\` escaping the next
/// character; `None` when it is not closed.
fn string_end(text: &str, start: usize) -> Option<usize> {
    let mut escaped = false;
    for (i, ch) in text.get(start..)?.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == '"' {
            return Some(start + i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_strings_and_brackets() {
        let toks: Vec<Tok> = lex(r#"emails[type eq "w\"o\u0072k"] or(x pr)"#)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(
            toks,
            vec![
                Tok::Word("emails".into()),
                Tok::LBracket,
                Tok::Word("type".into()),
                Tok::Word("eq".into()),
                Tok::Str("w\"ork".into()),
                Tok::RBracket,
                Tok::Word("or".into()),
                Tok::LParen,
                Tok::Word("x".into()),
                Tok::Word("pr".into()),
                Tok::RParen,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn unterminated_and_bad_escapes_are_errors_with_positions() {
        let e = lex(r#"userName eq "bjensen"#).unwrap_err();
        assert_eq!((e.kind, e.position), (FilterErrorKind::Syntax, 12));
        assert!(lex(r#"a eq "\q""#).is_err());
        assert!(lex("a eq \"x\ny\"").is_err());
        assert!(lex(r#"a eq "ends with backslash\"#).is_err());
    }
}
