//! Who may ask a permission question, decided from an access token's claims (the edge's `/v1/check`).
//!
//! A token's holder is a subject of the tenant's schema: `client:{client_id}` for a client-credentials
//! token (its `sub` is its `client_id`), `{user_type}:{sub}` for a person. It may ask about itself; with the
//! scope [`CHECK_SCOPE`] (a service) it may ask about any subject of its tenant. The tenant is the token's
//! `tid`, and nothing else: a caller never names another tenant. Pure: the claims are arguments.

use tessera_proto::Code;

/// The scope that lets a token ask about any subject of its tenant.
pub const CHECK_SCOPE: &str = "authz:check";

/// The claims the policy reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallerClaims<'a> {
    pub tid: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// Space-separated (RFC 6749 §3.3).
    pub scope: Option<&'a str>,
}

/// A verified token that may ask questions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    /// The subject the caller is, as the authorization schema names it.
    pub own_subject: String,
    /// May ask about any subject of the tenant.
    pub any_subject: bool,
}

/// Why a token cannot ask at all, or cannot ask this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerError {
    /// No `tid`, or one that is not a tenant name.
    NoTenant,
    /// No `sub`.
    NoSubject,
    /// Asked about `asked` without [`CHECK_SCOPE`]; it may ask only about `own`.
    ForbiddenSubject { own: String },
}

impl CallerError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::NoTenant => Code::TokenWithoutTenant,
            Self::NoSubject => Code::TokenWithoutSubject,
            Self::ForbiddenSubject { .. } => Code::ForbiddenSubject,
        }
    }
}

impl std::fmt::Display for CallerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoTenant => f.write_str("the token has no valid `tid`"),
            Self::NoSubject => f.write_str("the token has no `sub`"),
            Self::ForbiddenSubject { own } => write!(
                f,
                "this token may ask only about its own subject `{own}`; a service asking about others needs the scope `{CHECK_SCOPE}`"
            ),
        }
    }
}

impl std::error::Error for CallerError {}

/// The subject a token's holder is: `client:{client_id}` for client credentials, else `{user_type}:{sub}`.
#[must_use]
pub fn own_subject(sub: &str, client_id: Option<&str>, user_type: &str) -> String {
    if client_id == Some(sub) {
        format!("client:{sub}")
    } else {
        format!("{user_type}:{sub}")
    }
}

impl Caller {
    /// The caller a token's claims describe; `valid_tenant` is the tenant-name rule.
    ///
    /// # Errors
    /// [`CallerError::NoTenant`], [`CallerError::NoSubject`].
    pub fn from_claims(
        claims: CallerClaims<'_>,
        user_type: &str,
        valid_tenant: impl Fn(&str) -> bool,
    ) -> Result<Self, CallerError> {
        let tenant = claims
            .tid
            .filter(|t| valid_tenant(t))
            .ok_or(CallerError::NoTenant)?;
        let sub = claims.sub.ok_or(CallerError::NoSubject)?;
        Ok(Self {
            tenant: tenant.to_owned(),
            own_subject: own_subject(sub, claims.client_id, user_type),
            any_subject: claims
                .scope
                .is_some_and(|s| s.split(' ').any(|s| s == CHECK_SCOPE)),
        })
    }

    /// May this caller ask about `subject`?
    ///
    /// # Errors
    /// [`CallerError::ForbiddenSubject`].
    pub fn may_ask(&self, subject: &str) -> Result<(), CallerError> {
        if self.any_subject || subject == self.own_subject {
            Ok(())
        } else {
            Err(CallerError::ForbiddenSubject {
                own: self.own_subject.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(c: CallerClaims<'_>) -> Result<Caller, CallerError> {
        Caller::from_claims(c, "user", |t| !t.is_empty() && !t.contains(' '))
    }

    #[test]
    fn a_client_token_is_its_client_and_a_person_is_a_user() {
        let client = caller(CallerClaims {
            tid: Some("acme"),
            sub: Some("c1"),
            client_id: Some("c1"),
            scope: Some("read"),
        })
        .unwrap();
        assert_eq!(client.own_subject, "client:c1");
        assert!(!client.any_subject);
        // A person's token carries the login client's id, which is not its `sub`.
        let person = caller(CallerClaims {
            tid: Some("acme"),
            sub: Some("u1"),
            client_id: Some("tessera-login"),
            scope: None,
        })
        .unwrap();
        assert_eq!(person.own_subject, "user:u1");
    }

    #[test]
    fn only_the_exact_scope_lets_a_caller_ask_about_others() {
        let with = |scope| {
            caller(CallerClaims {
                tid: Some("acme"),
                sub: Some("c1"),
                client_id: Some("c1"),
                scope: Some(scope),
            })
            .unwrap()
        };
        assert!(with("read authz:check").may_ask("user:ann").is_ok());
        for scope in [
            "authz:check2",
            "authz:checks read",
            "xauthz:check",
            "authz",
            "",
        ] {
            let c = with(scope);
            assert_eq!(
                c.may_ask("user:ann"),
                Err(CallerError::ForbiddenSubject {
                    own: "client:c1".into()
                }),
                "{scope}"
            );
            assert_eq!(c.may_ask("client:c1"), Ok(()), "itself, always");
        }
    }

    #[test]
    fn a_token_without_tenant_or_subject_cannot_ask() {
        let base = CallerClaims {
            tid: Some("acme"),
            sub: Some("u"),
            client_id: None,
            scope: None,
        };
        assert_eq!(
            caller(CallerClaims { tid: None, ..base }),
            Err(CallerError::NoTenant)
        );
        assert_eq!(
            caller(CallerClaims {
                tid: Some("a b"),
                ..base
            }),
            Err(CallerError::NoTenant)
        );
        assert_eq!(
            caller(CallerClaims { sub: None, ..base }),
            Err(CallerError::NoSubject)
        );
    }
}
