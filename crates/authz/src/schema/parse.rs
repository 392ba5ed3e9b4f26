//! The parser: tokens into definitions, relations and permission expressions, with positions kept for
//! validation errors; unsupported features (caveats, expiration) are refused by name.

use std::collections::BTreeMap;

use super::lex::{valid_name, Tok, Token};
use super::*;

pub(super) struct Parser<'s> {
    pub(super) src: &'s str,
    pub(super) toks: Vec<Token>,
    pub(super) pos: usize,
    /// The relation whose rewrite is being parsed: what `this` refers to.
    pub(super) this_relation: Option<String>,
    /// How many `(` the parser is inside.
    pub(super) parens: u32,
    /// Whether the schema began with `use expiration`: then `with expiration` is the trait, not a
    /// caveat of that name.
    pub(super) use_expiration: bool,
    /// Whether a definition or caveat has been read (`use` must come before them).
    pub(super) begun: bool,
}

/// Positions of names, for validation errors.
#[derive(Default)]
pub(super) struct Spans {
    /// (definition, member) → position of the member's declaration.
    pub(super) members: BTreeMap<(String, String), (u32, u32)>,
    /// Caveats named after `with`, and where.
    pub(super) caveat_uses: Vec<(String, u32, u32)>,
}

impl Parser<'_> {
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

    pub(super) fn schema(&mut self, spans: &mut Spans) -> Result<Schema, SchemaError> {
        let mut schema = Schema::default();
        loop {
            while self.eat(";") {}
            if self.peek().tok == Tok::Eof {
                return Ok(schema);
            }
            if self.is_keyword("caveat") {
                self.begun = true;
                let at = self.peek().clone();
                let (name, caveat) = self.caveat()?;
                if schema.caveats.contains_key(&name) {
                    return Err(err(
                        at.line,
                        at.column,
                        SchemaErrorKind::Invalid,
                        format!("caveat `{name}` is defined twice"),
                    ));
                }
                schema.caveats.insert(name, caveat);
                continue;
            }
            if self.is_keyword("use") {
                self.use_flag()?;
                continue;
            }
            self.begun = true;
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
                let mut allowed = Vec::new();
                let mut caveated = Vec::new();
                let mut expiring = Vec::new();
                loop {
                    match self.allowed_subject(spans)? {
                        (subject, None, false) => allowed.push(subject),
                        (subject, Some(caveat), false) => caveated.push((subject, caveat)),
                        (subject, caveat, true) => expiring.push((subject, caveat)),
                    }
                    if !self.eat("|") {
                        break;
                    }
                }
                let rewrite = if self.eat("=") {
                    self.this_relation = Some(name.clone());
                    let expr = self.expression();
                    self.this_relation = None;
                    Some(expr?)
                } else {
                    None
                };
                def.relations.insert(
                    name,
                    Relation {
                        allowed,
                        caveated,
                        expiring,
                        rewrite,
                    },
                );
            } else {
                self.expect("=", &format!("after `permission {name}`"))?;
                let expr = self.expression()?;
                def.permissions.insert(name, expr);
            }
        }
    }

    /// An allowed subject type, the caveat it must carry (`user with c`), if any, and whether it must
    /// carry an expiration.
    fn allowed_subject(
        &mut self,
        spans: &mut Spans,
    ) -> Result<(AllowedSubject, Option<String>, bool), SchemaError> {
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
            let at = self.peek().clone();
            let (caveat, expires) = self.with_traits()?;
            if let Some(caveat) = &caveat {
                spans.caveat_uses.push((caveat.clone(), at.line, at.column));
            }
            return Ok((subject, caveat, expires));
        }
        Ok((subject, None, false))
    }

    /// `caveat name(param type, ...) { expression }`: the parameters typed, the expression (CEL) compiled
    /// against them.
    fn caveat(&mut self) -> Result<(String, Caveat), SchemaError> {
        self.next();
        let name = self.type_path()?;
        self.expect("(", &format!("after `caveat {name}`"))?;
        let mut params = BTreeMap::new();
        if !self.eat(")") {
            loop {
                let at = self.peek().clone();
                let param = self.ident("a caveat parameter name")?;
                let ty = self.caveat_type()?;
                if params.insert(param.clone(), ty).is_some() {
                    return Err(err(
                        at.line,
                        at.column,
                        SchemaErrorKind::Invalid,
                        format!("parameter `{param}` of caveat `{name}` is declared twice"),
                    ));
                }
                if self.eat(")") {
                    break;
                }
                self.expect(",", "between caveat parameters")?;
            }
        }
        let strict = self.is_keyword("strict");
        if strict {
            self.next();
        }
        let open = self.peek().clone();
        self.expect("{", &format!("to open the expression of caveat `{name}`"))?;
        let mut depth = 1u32;
        let close = loop {
            let t = self.next();
            match t.tok {
                Tok::Sym("{") => depth += 1,
                Tok::Sym("}") => {
                    depth -= 1;
                    if depth == 0 {
                        break t;
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
        };
        // The characters between the braces the lexer found (CEL's strings and comments lexed as
        // such, so a brace inside one does not count).
        let expression: String = self
            .src
            .char_indices()
            .skip_while(|(at, _)| *at <= open.offset)
            .take_while(|(at, _)| *at < close.offset)
            .map(|(_, c)| c)
            .collect();
        let expression = expression.trim().to_owned();
        let declared: Vec<&str> = params.keys().map(String::as_str).collect();
        let program = tessera_cel::Program::compile(&expression, Some(&declared)).map_err(|e| {
            err(
                open.line,
                open.column,
                SchemaErrorKind::Invalid,
                format!("the expression of caveat `{name}`: {e}"),
            )
        })?;
        Ok((
            name,
            Caveat {
                params,
                strict,
                expression,
                program: Arc::new(program),
            },
        ))
    }

    /// A caveat parameter type: `int`, `string`, `list<string>`, `map<any>`, ...
    fn caveat_type(&mut self) -> Result<CaveatType, SchemaError> {
        let at = self.peek().clone();
        let name = self.ident("a caveat parameter type")?;
        let generic = |p: &mut Self| -> Result<CaveatType, SchemaError> {
            if p.peek().tok != Tok::Other('<') {
                return Err(err(
                    at.line,
                    at.column,
                    SchemaErrorKind::Syntax,
                    format!("`{name}` takes a type parameter, as in `{name}<string>`"),
                ));
            }
            p.next();
            let inner = p.caveat_type()?;
            if p.peek().tok != Tok::Other('>') {
                let found = Self::describe(&p.peek().tok);
                let t = p.peek();
                return Err(err(
                    t.line,
                    t.column,
                    SchemaErrorKind::Syntax,
                    format!("expected `>` to close a caveat parameter type, found {found}"),
                ));
            }
            p.next();
            Ok(inner)
        };
        Ok(match name.as_str() {
            "any" => CaveatType::Any,
            "bool" => CaveatType::Bool,
            "int" => CaveatType::Int,
            "uint" => CaveatType::Uint,
            "double" => CaveatType::Double,
            "string" => CaveatType::String,
            "bytes" => CaveatType::Bytes,
            "duration" => CaveatType::Duration,
            "timestamp" => CaveatType::Timestamp,
            "ipaddress" => CaveatType::IpAddress,
            "list" => CaveatType::List(Box::new(generic(self)?)),
            "map" => CaveatType::Map(Box::new(generic(self)?)),
            other => {
                return Err(err(
                    at.line,
                    at.column,
                    SchemaErrorKind::Invalid,
                    format!("`{other}` is not a caveat parameter type (any, bool, int, uint, double, string, bytes, duration, timestamp, ipaddress, list<T>, map<T>)"),
                ))
            }
        })
    }

    /// `use expiration` (SpiceDB's opt-in to expiring relationships), before any definition or caveat.
    fn use_flag(&mut self) -> Result<(), SchemaError> {
        let at = self.next();
        let flag = self.ident("a feature name after `use`")?;
        if flag != "expiration" {
            return Err(err(
                at.line,
                at.column,
                SchemaErrorKind::Unsupported,
                format!("`use {flag}` is not supported (Tessera knows `use expiration`)"),
            ));
        }
        if self.begun {
            return Err(err(
                at.line,
                at.column,
                SchemaErrorKind::Syntax,
                "`use expiration` must come before every definition and caveat",
            ));
        }
        self.use_expiration = true;
        Ok(())
    }

    /// What follows `with` after an allowed subject type: `with c`, `with expiration` or
    /// `with c and expiration` (the caveat, and whether an expiration is required). Without
    /// `use expiration`, `expiration` is a caveat's name, as in SpiceDB.
    fn with_traits(&mut self) -> Result<(Option<String>, bool), SchemaError> {
        let at = self.next();
        let mut traits = Vec::new();
        loop {
            traits.push(self.ident("a caveat name or `expiration` after `with`")?);
            if !self.is_keyword("and") {
                break;
            }
            self.next();
        }
        let written = format!("with {}", traits.join(" and "));
        let expires = self.use_expiration && traits.last().is_some_and(|t| t == "expiration");
        if expires {
            traits.pop();
        }
        if self.use_expiration && traits.iter().any(|t| t == "expiration") {
            return Err(err(
                at.line,
                at.column,
                SchemaErrorKind::Invalid,
                format!("`{written}`: `expiration` comes last, once (`with c and expiration`)"),
            ));
        }
        match traits.len() {
            0 => Ok((None, true)),
            1 => Ok((traits.pop(), expires)),
            _ => Err(err(
                at.line,
                at.column,
                SchemaErrorKind::Invalid,
                format!("`{written}`: a subject type takes one caveat"),
            )),
        }
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

static EOF_TOKEN: Token = Token {
    tok: Tok::Eof,
    line: 0,
    column: 0,
    offset: 0,
};
