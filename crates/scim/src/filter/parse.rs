//! The filter grammar of RFC 7644 §3.4.2.2 (Figure 1), by recursive descent:
//!
//! ```text
//! or    = and *("or" and)
//! and   = unary *("and" unary)
//! unary = "not" "(" or ")" / "(" or ")" / attrExp / valuePath
//! attrExp   = attrPath "pr" / attrPath compareOp compValue
//! valuePath = attrPath "[" or "]"          ; no value path inside another
//! ```
//!
//! Recursion happens only at `(`, `not` and `[`, each counted against [`MAX_FILTER_DEPTH`]; `and`/`or`
//! chains are loops, and the number of comparisons is bounded by [`MAX_FILTER_TERMS`].

use serde_json::Value;

use super::lex::{lex, Tok, Token};
use super::{
    AttrPath, CompareOp, Filter, FilterError, FilterErrorKind, MAX_FILTER_DEPTH, MAX_FILTER_LEN,
    MAX_FILTER_TERMS,
};
use crate::schema::split_attr_path;

pub(crate) struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: u32,
    terms: u32,
    in_value_path: bool,
}

const EOF: Token = Token {
    tok: Tok::Eof,
    at: 0,
};

pub(crate) fn parse(text: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(text)?;
    let filter = p.or()?;
    p.end()?;
    Ok(filter)
}

impl Parser {
    pub(crate) fn new(text: &str) -> Result<Self, FilterError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(FilterError::new(
                FilterErrorKind::TooComplex,
                MAX_FILTER_LEN,
                format!("longer than {MAX_FILTER_LEN} bytes"),
            ));
        }
        Ok(Self {
            toks: lex(text)?,
            pos: 0,
            depth: 0,
            terms: 0,
            in_value_path: false,
        })
    }

    pub(crate) fn peek(&self) -> &Token {
        self.toks.get(self.pos).unwrap_or(&EOF)
    }

    pub(crate) fn bump(&mut self) {
        self.pos += 1;
    }

    /// `"[" filter "]"` after a PATCH path's attribute (the `[` is next).
    pub(crate) fn value_filter(&mut self) -> Result<Filter, FilterError> {
        self.expect(&Tok::LBracket, "`[`")?;
        self.nest()?;
        self.in_value_path = true;
        let inner = self.or()?;
        self.in_value_path = false;
        self.expect(&Tok::RBracket, "`]`")?;
        self.depth -= 1;
        Ok(inner)
    }

    pub(crate) fn fail<T>(&self, message: impl Into<String>) -> Result<T, FilterError> {
        Err(FilterError::new(
            FilterErrorKind::Syntax,
            self.peek().at,
            message,
        ))
    }

    pub(crate) fn end(&self) -> Result<(), FilterError> {
        match &self.peek().tok {
            Tok::Eof => Ok(()),
            other => self.fail(format!("unexpected {}", describe(other))),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn nest(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(FilterError::new(
                FilterErrorKind::TooComplex,
                self.peek().at,
                format!("nested deeper than {MAX_FILTER_DEPTH}"),
            ));
        }
        Ok(())
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), FilterError> {
        if &self.peek().tok == tok {
            self.pos += 1;
            Ok(())
        } else {
            let found = describe(&self.peek().tok);
            self.fail(format!("expected {what}, found {found}"))
        }
    }

    pub(crate) fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.pos += 1;
            self.nest()?;
            self.expect(&Tok::LParen, "`(` after `not`")?;
            let inner = self.or()?;
            self.expect(&Tok::RParen, "`)`")?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek().tok == Tok::LParen {
            self.pos += 1;
            self.nest()?;
            let inner = self.or()?;
            self.expect(&Tok::RParen, "`)`")?;
            self.depth -= 1;
            return Ok(inner);
        }
        let path = self.attr_path()?;
        if self.peek().tok == Tok::LBracket {
            if self.in_value_path {
                return self.fail("a value path cannot contain another");
            }
            if path.sub.is_some() {
                return self.fail(format!("a value path filters an attribute, not `{path}`"));
            }
            self.pos += 1;
            self.nest()?;
            self.in_value_path = true;
            let inner = self.or()?;
            self.in_value_path = false;
            self.expect(&Tok::RBracket, "`]`")?;
            self.depth -= 1;
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(FilterError::new(
                FilterErrorKind::TooComplex,
                path.position,
                format!("more than {MAX_FILTER_TERMS} comparisons"),
            ));
        }
        if self.keyword("pr") {
            self.pos += 1;
            return Ok(Filter::Present(path));
        }
        let op = match &self.peek().tok {
            Tok::Word(w) => CompareOp::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else {
            let found = describe(&self.peek().tok);
            return self.fail(format!(
                "expected an operator after `{path}`, found {found}"
            ));
        };
        self.pos += 1;
        let value = self.comp_value()?;
        Ok(Filter::Compare { path, op, value })
    }

    /// An attribute path word.
    pub(crate) fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let at = self.peek().at;
        let Tok::Word(word) = &self.peek().tok else {
            let found = describe(&self.peek().tok);
            return self.fail(format!("expected an attribute path, found {found}"));
        };
        let Some((urn, name, sub)) = split_attr_path(word) else {
            return self.fail(format!("`{word}` is not an attribute path"));
        };
        let path = AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
            position: at,
        };
        self.pos += 1;
        Ok(path)
    }

    fn comp_value(&mut self) -> Result<Value, FilterError> {
        let value = match &self.peek().tok {
            Tok::Str(s) => Value::String(s.clone()),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Value::Null,
            Tok::Word(w) => match serde_json::from_str::<serde_json::Number>(w) {
                Ok(n) => Value::Number(n),
                Err(_) => {
                    return self.fail(format!(
                        "expected a string, number, `true`, `false` or `null`, found `{w}`"
                    ))
                }
            },
            other => {
                let found = describe(other);
                return self.fail(format!("expected a value, found {found}"));
            }
        };
        self.pos += 1;
        Ok(value)
    }
}

pub(crate) fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "`(`".to_owned(),
        Tok::RParen => "`)`".to_owned(),
        Tok::LBracket => "`[`".to_owned(),
        Tok::RBracket => "`]`".to_owned(),
        Tok::Str(_) => "a string".to_owned(),
        Tok::Word(w) => format!("`{w}`"),
        Tok::Eof => "the end of the filter".to_owned(),
    }
}
