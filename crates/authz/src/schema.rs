//! The SpiceDB schema language: lexer, parser and validation.

use std::collections::BTreeMap;

/// A parse or validation error, with the 1-based position it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    pub line: u32,
    pub column: u32,
    pub kind: SchemaErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaErrorKind {
    /// The text is not in the schema language.
    Syntax,
    /// Valid syntax that Tessera does not implement yet (caveats, expiration, chained arrows).
    Unsupported,
    /// Well-formed but meaningless: unknown types or relations, duplicates, arrows over permissions.
    Invalid,
}

impl SchemaError {
    /// Stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self.kind {
            SchemaErrorKind::Syntax => "schema_syntax",
            SchemaErrorKind::Unsupported => "schema_unsupported",
            SchemaErrorKind::Invalid => "schema_invalid",
        }
    }
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for SchemaError {}

/// A subject type a relation allows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AllowedSubject {
    /// `user`: objects of this type.
    Object(String),
    /// `user:*`: every object of this type.
    Wildcard(String),
    /// `group#member`: the subjects of a relation or permission of this type.
    Set(String, String),
}

/// Which arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrowKind {
    /// `a->b` or `a.any(b)`: some object related by `a` has `b`.
    Any,
    /// `a.all(b)`: at least one object is related by `a`, and every one has `b`.
    All,
}

/// A permission expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Nil,
    /// The relationships stored under relation `.0` of this object (written `this` inside that relation's
    /// rewrite).
    Direct(String),
    /// A relation or permission of the same object.
    Ref(String),
    Arrow {
        tupleset: String,
        kind: ArrowKind,
        target: String,
    },
    Union(Box<Expr>, Box<Expr>),
    Intersection(Box<Expr>, Box<Expr>),
    Exclusion(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub allowed: Vec<AllowedSubject>,
    /// `relation viewer: user = this + editor`: the relation's answer is this expression, in which `this`
    /// stands for its stored relationships (an extension of the SpiceDB language, for models such as
    /// OpenFGA's where one relation is both assignable and computed). `None`: just the stored ones.
    pub rewrite: Option<Expr>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Definition {
    pub relations: BTreeMap<String, Relation>,
    pub permissions: BTreeMap<String, Expr>,
}

impl Definition {
    /// Whether `name` is a relation or a permission here.
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.relations.contains_key(name) || self.permissions.contains_key(name)
    }
}

/// A validated schema.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    pub definitions: BTreeMap<String, Definition>,
}

impl Schema {
    #[must_use]
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name)
    }

    /// The height of the deepest permission or rewrite expression (at most [`MAX_EXPR_HEIGHT`] for a
    /// parsed schema; 0 when there is none).
    #[must_use]
    pub fn expr_height(&self) -> u32 {
        self.definitions
            .values()
            .flat_map(|d| {
                d.permissions
                    .values()
                    .chain(d.relations.values().filter_map(|r| r.rewrite.as_ref()))
            })
            .map(expr_height)
            .max()
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------- lexer

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
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
struct Token {
    tok: Tok,
    line: u32,
    column: u32,
}

const SYMBOLS: &[&str] = &[
    "...", "->", "{", "}", "(", ")", ":", "#", "|", "*", "=", "+", "&", "-", ".", "/", ";", ",",
];

fn lex(src: &str) -> Result<Vec<Token>, SchemaError> {
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
            out.push(Token {
                tok: Tok::Ident(word.to_owned()),
                line,
                column,
            });
            advance(word, &mut line, &mut column);
            rest = rest.get(end..).unwrap_or_default();
            continue;
        }
        if c == '\'' || c == '"' {
            if let Some(end) = string_end(rest, c) {
                out.push(Token {
                    tok: Tok::Str,
                    line,
                    column,
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
        });
        advance(sym, &mut line, &mut column);
        rest = rest.get(sym.len()..).unwrap_or_default();
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        column,
    });
    Ok(out)
}

/// The byte length of the quoted string at the start of `text` (opened by `quote`, `\` escaping the next
/// character), closing quote included; `None` when it is not closed.
fn string_end(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, ch) in text.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == quote {
            return Some(i + ch.len_utf8());
        }
    }
    None
}

fn err(line: u32, column: u32, kind: SchemaErrorKind, message: impl Into<String>) -> SchemaError {
    SchemaError {
        line,
        column,
        kind,
        message: message.into(),
    }
}

// --------------------------------------------------------------------------------------------- parser

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// The relation whose rewrite is being parsed: what `this` refers to.
    this_relation: Option<String>,
    /// How many `(` the parser is inside.
    parens: u32,
}

/// Positions of names, for validation errors.
#[derive(Default)]
struct Spans {
    /// (definition, member) → position of the member's declaration.
    members: BTreeMap<(String, String), (u32, u32)>,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .unwrap_or(&EOF_TOKEN)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn fail<T>(&self, kind: SchemaErrorKind, message: impl Into<String>) -> Result<T, SchemaError> {
        let t = self.peek();
        match t.tok {
            // A stray character says more than what was expected in its place.
            Tok::Other(c) if kind == SchemaErrorKind::Syntax => Err(err(
                t.line,
                t.column,
                kind,
                format!("unexpected character `{c}`"),
            )),
            Tok::Str if kind == SchemaErrorKind::Syntax => Err(err(
                t.line,
                t.column,
                kind,
                "unexpected string literal (only caveat expressions have them)",
            )),
            _ => Err(err(t.line, t.column, kind, message)),
        }
    }

    fn describe(t: &Tok) -> String {
        match t {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Sym(s) => format!("`{s}`"),
            Tok::Other(c) => format!("`{c}`"),
            Tok::Str => "a string literal".to_owned(),
            Tok::Eof => "the end of the schema".to_owned(),
        }
    }

    fn eat(&mut self, sym: &'static str) -> bool {
        if self.peek().tok == Tok::Sym(sym) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, sym: &'static str, context: &str) -> Result<(), SchemaError> {
        if self.eat(sym) {
            Ok(())
        } else {
            let found = Self::describe(&self.peek().tok);
            self.fail(
                SchemaErrorKind::Syntax,
                format!("expected `{sym}` {context}, found {found}"),
            )
        }
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == word)
    }

    fn ident(&mut self, what: &str) -> Result<String, SchemaError> {
        match &self.peek().tok {
            Tok::Ident(s) if valid_name(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            Tok::Ident(s) => {
                let s = s.clone();
                self.fail(
                    SchemaErrorKind::Syntax,
                    format!("{what} `{s}` must start with a letter and contain only letters, digits and `_` (at most 64)"),
                )
            }
            other => {
                let found = Self::describe(other);
                self.fail(
                    SchemaErrorKind::Syntax,
                    format!("expected {what}, found {found}"),
                )
            }
        }
    }

    /// `name` or `prefix/name`.
    fn type_path(&mut self) -> Result<String, SchemaError> {
        let mut path = self.ident("a type name")?;
        while self.eat("/") {
            path.push('/');
            path.push_str(&self.ident("a type name")?);
        }
        Ok(path)
    }

    fn schema(&mut self, spans: &mut Spans) -> Result<Schema, SchemaError> {
        let mut schema = Schema::default();
        loop {
            while self.eat(";") {}
            if self.peek().tok == Tok::Eof {
                return Ok(schema);
            }
            if self.is_keyword("caveat") {
                return Err(self.caveat());
            }
            if self.is_keyword("use") {
                return Err(self.use_flag());
            }
            if !self.is_keyword("definition") {
                let found = Self::describe(&self.peek().tok);
                return self.fail(
                    SchemaErrorKind::Syntax,
                    format!("expected `definition`, found {found}"),
                );
            }
            self.next();
            let at = self.peek().clone();
            let name = self.type_path()?;
            if schema.definitions.contains_key(&name) {
                return Err(err(
                    at.line,
                    at.column,
                    SchemaErrorKind::Invalid,
                    format!("definition `{name}` is defined twice"),
                ));
            }
            let def = self.definition(&name, spans)?;
            schema.definitions.insert(name, def);
        }
    }

    fn definition(&mut self, def_name: &str, spans: &mut Spans) -> Result<Definition, SchemaError> {
        self.expect("{", &format!("after `definition {def_name}`"))?;
        let mut def = Definition::default();
        loop {
            while self.eat(";") {}
            if self.eat("}") {
                return Ok(def);
            }
            let at = self.peek().clone();
            let is_relation = self.is_keyword("relation");
            if !is_relation && !self.is_keyword("permission") {
                let found = Self::describe(&at.tok);
                return self.fail(
                    SchemaErrorKind::Syntax,
                    format!(
                        "expected `relation`, `permission` or `}}` in `{def_name}`, found {found}"
                    ),
                );
            }
            self.next();
            let name_at = self.peek().clone();
            let name = self.ident(if is_relation {
                "a relation name"
            } else {
                "a permission name"
            })?;
            if def.has(&name) {
                return Err(err(
                    name_at.line,
                    name_at.column,
                    SchemaErrorKind::Invalid,
                    format!("`{name}` is defined twice in `{def_name}`"),
                ));
            }
            spans.members.insert(
                (def_name.to_owned(), name.clone()),
                (name_at.line, name_at.column),
            );
            if is_relation {
                self.expect(":", &format!("after `relation {name}`"))?;
                let mut allowed = vec![self.allowed_subject()?];
                while self.eat("|") {
                    allowed.push(self.allowed_subject()?);
                }
                let rewrite = if self.eat("=") {
                    self.this_relation = Some(name.clone());
                    let expr = self.expression();
                    self.this_relation = None;
                    Some(expr?)
                } else {
                    None
                };
                def.relations.insert(name, Relation { allowed, rewrite });
            } else {
                self.expect("=", &format!("after `permission {name}`"))?;
                let expr = self.expression()?;
                def.permissions.insert(name, expr);
            }
        }
    }

    fn allowed_subject(&mut self) -> Result<AllowedSubject, SchemaError> {
        let ty = self.type_path()?;
        let subject = if self.eat(":") {
            self.expect("*", "after `:` (only `type:*` wildcards are allowed)")?;
            AllowedSubject::Wildcard(ty)
        } else if self.eat("#") {
            if self.eat("...") {
                AllowedSubject::Object(ty)
            } else {
                let rel = self.ident("a relation name")?;
                AllowedSubject::Set(ty, rel)
            }
        } else {
            AllowedSubject::Object(ty)
        };
        if self.is_keyword("with") {
            return Err(self.with_traits());
        }
        Ok(subject)
    }

    /// `caveat name(param type, ...) { expression }`, recognised in full (so that a caveat is refused as
    /// unsupported, and a malformed one as a syntax error), then refused: caveats need an expression
    /// language (CEL) and a context on every check, which Tessera does not have yet.
    fn caveat(&mut self) -> SchemaError {
        let at = self.next();
        let name = match self.caveat_header() {
            Ok(name) => name,
            Err(e) => return e,
        };
        err(
            at.line,
            at.column,
            SchemaErrorKind::Unsupported,
            format!("caveats are not supported yet (caveat `{name}`)"),
        )
    }

    /// The rest of a caveat after its keyword: its name, parameters and braced body (skipped, braces
    /// balanced). Returns the name.
    fn caveat_header(&mut self) -> Result<String, SchemaError> {
        let name = self.type_path()?;
        self.expect("(", &format!("after `caveat {name}`"))?;
        if !self.eat(")") {
            loop {
                self.ident("a caveat parameter name")?;
                self.caveat_type()?;
                if self.eat(")") {
                    break;
                }
                self.expect(",", "between caveat parameters")?;
            }
        }
        self.expect("{", &format!("to open the expression of caveat `{name}`"))?;
        let mut depth = 1u32;
        loop {
            match self.next().tok {
                Tok::Sym("{") => depth += 1,
                Tok::Sym("}") => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(name);
                    }
                }
                Tok::Eof => {
                    return self.fail(
                        SchemaErrorKind::Syntax,
                        format!("the expression of caveat `{name}` is not closed with `}}`"),
                    )
                }
                _ => {}
            }
        }
    }

    /// A caveat parameter type: `int`, `string`, `list<string>`, `map<any>`, ...
    fn caveat_type(&mut self) -> Result<(), SchemaError> {
        self.ident("a caveat parameter type")?;
        if self.peek().tok == Tok::Other('<') {
            self.next();
            self.caveat_type()?;
            while self.eat(",") {
                self.caveat_type()?;
            }
            if self.peek().tok != Tok::Other('>') {
                let found = Self::describe(&self.peek().tok);
                let t = self.peek();
                return Err(err(
                    t.line,
                    t.column,
                    SchemaErrorKind::Syntax,
                    format!("expected `>` to close a caveat parameter type, found {found}"),
                ));
            }
            self.next();
        }
        Ok(())
    }

    /// `use expiration` (SpiceDB's opt-in to expiring relationships): refused, naming the flag.
    fn use_flag(&mut self) -> SchemaError {
        let at = self.next();
        match self.ident("a feature name after `use`") {
            Ok(flag) if flag == "expiration" => err(
                at.line,
                at.column,
                SchemaErrorKind::Unsupported,
                "`use expiration` is not supported yet (relationships do not expire)",
            ),
            Ok(flag) => err(
                at.line,
                at.column,
                SchemaErrorKind::Unsupported,
                format!("`use {flag}` is not supported yet"),
            ),
            Err(e) => e,
        }
    }

    /// `with somecaveat`, `with expiration` or `with somecaveat and expiration` after an allowed subject
    /// type: refused, naming what was asked for.
    fn with_traits(&mut self) -> SchemaError {
        let at = self.next();
        let mut traits = Vec::new();
        loop {
            match self.ident("a caveat name or `expiration` after `with`") {
                Ok(t) => traits.push(t),
                Err(e) => return e,
            }
            if !self.is_keyword("and") {
                break;
            }
            self.next();
        }
        let written = format!("with {}", traits.join(" and "));
        let expiration = traits.iter().any(|t| t == "expiration");
        let caveats = traits.iter().any(|t| t != "expiration");
        let what = match (caveats, expiration) {
            (true, true) => "caveats and relationship expiration are",
            (true, false) => "caveats are",
            _ => "relationship expiration is",
        };
        err(
            at.line,
            at.column,
            SchemaErrorKind::Unsupported,
            format!("`{written}`: {what} not supported yet"),
        )
    }

    /// `expr` of height `height`, unless that is more than [`MAX_EXPR_HEIGHT`] (at the token just read).
    fn bounded(&self, expr: Expr, height: u32) -> Result<(Expr, u32), SchemaError> {
        if height > MAX_EXPR_HEIGHT {
            let at = self
                .toks
                .get(self.pos.saturating_sub(1))
                .unwrap_or(&EOF_TOKEN);
            return Err(err(
                at.line,
                at.column,
                SchemaErrorKind::Invalid,
                format!("the expression nests more than {MAX_EXPR_HEIGHT} operators deep: split it into permissions"),
            ));
        }
        Ok((expr, height))
    }

    // Precedence, loosest first: `-`, `&`, `+` (as SpiceDB); each left-associative.
    /// A whole expression.
    fn expression(&mut self) -> Result<Expr, SchemaError> {
        Ok(self.exclusion()?.0)
    }

    /// Each level returns the expression and its height ([`expr_height`]).
    fn exclusion(&mut self) -> Result<(Expr, u32), SchemaError> {
        let (mut left, mut height) = self.intersection()?;
        while self.eat("-") {
            let (right, h) = self.intersection()?;
            (left, height) = self.bounded(
                Expr::Exclusion(Box::new(left), Box::new(right)),
                1 + height.max(h),
            )?;
        }
        Ok((left, height))
    }

    fn intersection(&mut self) -> Result<(Expr, u32), SchemaError> {
        let (mut left, mut height) = self.union()?;
        while self.eat("&") {
            let (right, h) = self.union()?;
            (left, height) = self.bounded(
                Expr::Intersection(Box::new(left), Box::new(right)),
                1 + height.max(h),
            )?;
        }
        Ok((left, height))
    }

    fn union(&mut self) -> Result<(Expr, u32), SchemaError> {
        let (mut left, mut height) = self.arrow()?;
        while self.eat("+") {
            let (right, h) = self.arrow()?;
            (left, height) = self.bounded(
                Expr::Union(Box::new(left), Box::new(right)),
                1 + height.max(h),
            )?;
        }
        Ok((left, height))
    }

    /// A parenthesised expression or a leaf.
    fn arrow(&mut self) -> Result<(Expr, u32), SchemaError> {
        if self.eat("(") {
            // The parser recurses once per `(`: bounded like the expressions it builds.
            if self.parens >= MAX_EXPR_HEIGHT {
                return self.fail(
                    SchemaErrorKind::Invalid,
                    format!("parentheses nest more than {MAX_EXPR_HEIGHT} deep"),
                );
            }
            self.parens += 1;
            let inner = self.exclusion();
            self.parens -= 1;
            let inner = inner?;
            self.expect(")", "to close `(`")?;
            return Ok(inner);
        }
        Ok((self.leaf()?, 1))
    }

    /// `nil`, `this`, a name, or an arrow.
    fn leaf(&mut self) -> Result<Expr, SchemaError> {
        if self.is_keyword("nil") {
            self.next();
            return Ok(Expr::Nil);
        }
        if self.is_keyword("this") {
            let Some(rel) = self.this_relation.clone() else {
                return self.fail(
                    SchemaErrorKind::Invalid,
                    "`this` may only appear in a relation's rewrite (`relation r: user = this + other`)",
                );
            };
            self.next();
            return Ok(Expr::Direct(rel));
        }
        let name = self.ident("a relation or permission name")?;
        let expr = if self.eat("->") {
            let target = self.ident("a relation or permission name after `->`")?;
            Expr::Arrow {
                tupleset: name,
                kind: ArrowKind::Any,
                target,
            }
        } else if self.eat(".") {
            let kind = match &self.peek().tok {
                Tok::Ident(f) if f == "any" => ArrowKind::Any,
                Tok::Ident(f) if f == "all" => ArrowKind::All,
                _ => {
                    return self.fail(
                        SchemaErrorKind::Syntax,
                        "expected `any(...)` or `all(...)` after `.`",
                    )
                }
            };
            self.next();
            self.expect("(", "after the arrow function")?;
            let target = self.ident("a relation or permission name")?;
            self.expect(")", "to close the arrow function")?;
            Expr::Arrow {
                tupleset: name,
                kind,
                target,
            }
        } else {
            return Ok(Expr::Ref(name));
        };
        if self.peek().tok == Tok::Sym("->") || self.peek().tok == Tok::Sym(".") {
            return self.fail(
                SchemaErrorKind::Unsupported,
                "chained arrows (`a->b->c`) are not supported yet",
            );
        }
        Ok(expr)
    }
}

/// How deep an expression may nest (operators, parentheses). Evaluating, validating and dropping an
/// expression recurse once per level, and the origin sizes the engine's stack from the deepest
/// expression of a schema ([`Schema::expr_height`]), so the height must be bounded — and a hostile
/// schema of a million `(` must not overflow the parser. Generous: real schemas nest a handful deep.
pub const MAX_EXPR_HEIGHT: u32 = 100;

/// The height of an expression tree: 1 for a leaf (`nil`, a name, an arrow), one more per operator.
#[must_use]
pub fn expr_height(expr: &Expr) -> u32 {
    match expr {
        Expr::Nil | Expr::Direct(_) | Expr::Ref(_) | Expr::Arrow { .. } => 1,
        Expr::Union(a, b) | Expr::Intersection(a, b) | Expr::Exclusion(a, b) => {
            1 + expr_height(a).max(expr_height(b))
        }
    }
}

static EOF_TOKEN: Token = Token {
    tok: Tok::Eof,
    line: 0,
    column: 0,
};

fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

// ----------------------------------------------------------------------------------------- validation

fn validate(schema: &Schema, spans: &Spans) -> Result<(), SchemaError> {
    for (def_name, def) in &schema.definitions {
        let at = |member: &str| {
            spans
                .members
                .get(&(def_name.clone(), member.to_owned()))
                .copied()
                .unwrap_or((1, 1))
        };
        for (rel_name, rel) in &def.relations {
            let (line, column) = at(rel_name);
            for allowed in &rel.allowed {
                let (ty, member) = match allowed {
                    AllowedSubject::Object(t) | AllowedSubject::Wildcard(t) => (t, None),
                    AllowedSubject::Set(t, r) => (t, Some(r)),
                };
                let Some(target) = schema.definitions.get(ty) else {
                    return Err(err(
                        line,
                        column,
                        SchemaErrorKind::Invalid,
                        format!("`{def_name}#{rel_name}` allows unknown type `{ty}`"),
                    ));
                };
                if let Some(r) = member {
                    if !target.has(r) {
                        return Err(err(
                            line,
                            column,
                            SchemaErrorKind::Invalid,
                            format!("`{def_name}#{rel_name}` allows `{ty}#{r}`, but `{ty}` has no relation or permission `{r}`"),
                        ));
                    }
                    // Unlike SpiceDB, a subject set may reach a wildcard (`group#member` with
                    // `member: user:*`): the engine evaluates it exactly, and OpenFGA models rely on it.
                }
            }
        }
        for (perm_name, expr) in &def.permissions {
            let (line, column) = at(perm_name);
            validate_expr(schema, def_name, def, perm_name, expr, line, column)?;
        }
        for (rel_name, rel) in &def.relations {
            if let Some(expr) = &rel.rewrite {
                let (line, column) = at(rel_name);
                validate_expr(schema, def_name, def, rel_name, expr, line, column)?;
            }
        }
    }
    Ok(())
}

/// The wildcard type relation `ty#rel` admits, directly or through the relations of its subject sets, and
/// the relation that admits it.
fn wildcard_through(
    schema: &Schema,
    ty: &str,
    rel: &str,
    seen: &mut Vec<(String, String)>,
) -> Option<(String, String)> {
    let key = (ty.to_owned(), rel.to_owned());
    if seen.contains(&key) {
        return None;
    }
    seen.push(key);
    let relation = schema.definitions.get(ty)?.relations.get(rel)?;
    relation.allowed.iter().find_map(|a| match a {
        AllowedSubject::Wildcard(w) => Some((w.clone(), format!("{ty}#{rel}"))),
        AllowedSubject::Set(t, r) => wildcard_through(schema, t, r, seen),
        AllowedSubject::Object(_) => None,
    })
}

fn validate_expr(
    schema: &Schema,
    def_name: &str,
    def: &Definition,
    perm: &str,
    expr: &Expr,
    line: u32,
    column: u32,
) -> Result<(), SchemaError> {
    let invalid = |m: String| {
        err(
            line,
            column,
            SchemaErrorKind::Invalid,
            format!("in `{def_name}#{perm}`: {m}"),
        )
    };
    match expr {
        Expr::Nil | Expr::Direct(_) => Ok(()),
        Expr::Ref(name) => {
            if def.has(name) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "`{def_name}` has no relation or permission `{name}`"
                )))
            }
        }
        Expr::Arrow {
            tupleset, target, ..
        } => {
            let Some(rel) = def.relations.get(tupleset) else {
                return Err(if def.permissions.contains_key(tupleset) {
                    invalid(format!(
                        "arrows must start from a relation, and `{tupleset}` is a permission"
                    ))
                } else {
                    invalid(format!("`{def_name}` has no relation `{tupleset}`"))
                });
            };
            if rel.rewrite.is_some() {
                return Err(invalid(format!(
                    "arrows must start from a relation without a rewrite, and `{tupleset}` has one"
                )));
            }
            if let Some((wild, via)) = wildcard_through(schema, def_name, tupleset, &mut Vec::new())
            {
                return Err(invalid(format!(
                    "arrow `{tupleset}->{target}` walks over the wildcard `{wild}:*` (via `{via}`)"
                )));
            }
            let mut found = false;
            for allowed in &rel.allowed {
                match allowed {
                    AllowedSubject::Wildcard(t) => {
                        return Err(invalid(format!(
                            "arrow `{tupleset}->{target}` walks over the wildcard `{t}:*`"
                        )));
                    }
                    AllowedSubject::Object(t) | AllowedSubject::Set(t, _) => {
                        found |= schema.definitions.get(t).is_some_and(|d| d.has(target));
                    }
                }
            }
            if found {
                Ok(())
            } else {
                Err(invalid(format!("no type allowed in `{def_name}#{tupleset}` has a relation or permission `{target}`")))
            }
        }
        Expr::Union(a, b) | Expr::Intersection(a, b) | Expr::Exclusion(a, b) => {
            validate_expr(schema, def_name, def, perm, a, line, column)?;
            validate_expr(schema, def_name, def, perm, b, line, column)
        }
    }
}

/// Parse and validate a schema.
///
/// # Errors
/// The first syntax, unsupported-feature or validation error, with its position.
pub fn parse_schema(src: &str) -> Result<Schema, SchemaError> {
    let toks = lex(src)?;
    let mut parser = Parser {
        toks,
        pos: 0,
        this_relation: None,
        parens: 0,
    };
    let mut spans = Spans::default();
    let schema = parser.schema(&mut spans)?;
    validate(&schema, &spans)?;
    Ok(schema)
}
