//! PATCH paths (RFC 7644 §3.5.2, Figure 5): `attrPath` or `valuePath ["." subAttr]` —
//! `name.givenName`, `members[value eq "2819c223"]`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager` — read with the filter grammar's
//! lexer and parser, then bound to a resource type.

use super::{PatchError, PatchErrorKind};
use crate::filter::lex::Tok;
use crate::filter::parse::{describe, Parser};
use crate::filter::{AttrPath, BoundFilter, Filter};
use crate::schema::{valid_attr_name, AttrRef, AttrType, Attribute, Extension, ResourceType};

/// A path as written, read but not bound.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub text: String,
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`emails[...].value`) or in the attribute path
    /// (`name.givenName`).
    pub sub: Option<String>,
}

/// A path bound to a resource type.
pub(super) enum Bound<'a> {
    /// The whole extension object (`urn:...:enterprise:2.0:User`).
    Extension(&'a Extension),
    Attr {
        at: AttrRef<'a>,
        filter: Option<(BoundFilter, &'a Filter)>,
        sub: Option<&'a Attribute>,
    },
}

impl PatchPath {
    /// Read a path.
    ///
    /// # Errors
    /// `invalidPath` for a malformed path, `invalidFilter` for a malformed value filter.
    pub fn parse(text: &str) -> Result<Self, PatchError> {
        let path_err = |m: String| PatchError::new(PatchErrorKind::Path, None, m);
        let mut p =
            Parser::new(text).map_err(|e| path_err(format!("invalid path `{text}`: {e}")))?;
        let attr = p
            .attr_path()
            .map_err(|e| path_err(format!("invalid path `{text}`: {}", e.message)))?;
        let mut filter = None;
        let mut sub = attr.sub.clone();
        if p.peek().tok == Tok::LBracket {
            if sub.is_some() {
                return Err(path_err(format!(
                    "invalid path `{text}`: a filter follows an attribute"
                )));
            }
            filter = Some(p.value_filter().map_err(|e| {
                PatchError::new(
                    PatchErrorKind::Filter,
                    None,
                    format!("in path `{text}`: {e}"),
                )
            })?);
            if let Tok::Word(w) = &p.peek().tok {
                match w.strip_prefix('.') {
                    Some(s) if valid_attr_name(s) => {
                        sub = Some(s.to_owned());
                        p.bump();
                    }
                    _ => {
                        return Err(path_err(format!(
                            "invalid path `{text}`: `{w}` after the filter"
                        )))
                    }
                }
            }
        }
        if p.peek().tok != Tok::Eof {
            let found = describe(&p.peek().tok);
            return Err(path_err(format!(
                "invalid path `{text}`: unexpected {found}"
            )));
        }
        Ok(Self {
            text: text.to_owned(),
            attr,
            filter,
            sub,
        })
    }

    /// Bind to `rt`.
    pub(super) fn bind<'a>(
        &'a self,
        rt: &'a ResourceType,
        operation: usize,
    ) -> Result<Bound<'a>, PatchError> {
        let unknown = || {
            PatchError::new(
                PatchErrorKind::Path,
                Some(operation),
                format!("`{}` is not an attribute of {}", self.text, rt.name),
            )
        };
        let Some(at) = rt.resolve(self.attr.urn.as_deref(), &self.attr.name) else {
            let whole = self
                .attr
                .urn
                .as_deref()
                .map(|u| format!("{u}:{}", self.attr.name));
            return match whole.as_deref().and_then(|w| rt.extension(w)) {
                Some(ext) if self.attr.sub.is_none() && self.filter.is_none() => {
                    Ok(Bound::Extension(ext))
                }
                _ => Err(unknown()),
            };
        };
        let sub = match &self.sub {
            None => None,
            Some(s) => Some(at.attribute.sub(s).ok_or_else(unknown)?),
        };
        let filter = match &self.filter {
            None => None,
            Some(f) => {
                if at.attribute.ty != AttrType::Complex || !at.attribute.multi_valued {
                    return Err(PatchError::new(
                        PatchErrorKind::Path,
                        Some(operation),
                        format!(
                            "`{}`: a value filter needs a multi-valued complex attribute",
                            self.text
                        ),
                    ));
                }
                let bound = BoundFilter::bind_element(f, at.attribute)
                    .map_err(|e| PatchError::filter(operation, &e))?;
                Some((bound, f))
            }
        };
        Ok(Bound::Attr { at, filter, sub })
    }
}
