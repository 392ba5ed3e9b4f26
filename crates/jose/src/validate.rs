//! Stage 2: check the signature and the claims of an [`UntrustedToken`] ([`ValidationError`]).

use serde_json::{Map, Value};
use tessera_proto::Code;
use tessera_proto::UnixTime;

use crate::es256::{CryptoError, Verifier};
use crate::jwk::KeyLookup;
use crate::token::{ParseError, UntrustedToken};

/// What a verifier expects of a token. The algorithm is not here: it is pinned to ES256.
#[derive(Clone, Debug)]
pub struct VerifyOptions<'a> {
    pub issuer: &'a str,
    /// The audience the token must name; `None` only checks that `aud` is present and well-formed
    /// (for introspection, which reports the audience rather than enforcing one).
    pub audience: Option<&'a str>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
}

/// Why a well-formed token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationError {
    /// No published key has this `kid` (never issued by us, or its key was removed after rotation).
    UnknownKid(String),
    BadSignature,
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type (e.g. `exp` as a string, `aud` as a number).
    InvalidClaim(&'static str),
    Expired {
        exp: i64,
        now: i64,
    },
    NotYetValid {
        nbf: i64,
        now: i64,
    },
    IssuedInFuture {
        iat: i64,
        now: i64,
    },
    WrongIssuer(String),
    WrongAudience,
    /// The signature back-end failed: not the token's fault, reported as a server error.
    Backend(CryptoError),
}

impl ValidationError {
    /// Stable code (also the `error` of `POST /v1/tokens/verify`).
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::UnknownKid(_) => Code::UnknownKid,
            Self::BadSignature => Code::BadSignature,
            Self::MissingClaim(_) => Code::MissingClaim,
            Self::InvalidClaim(_) => Code::InvalidClaim,
            Self::Expired { .. } => Code::TokenExpired,
            Self::NotYetValid { .. } => Code::TokenNotYetValid,
            Self::IssuedInFuture { .. } => Code::TokenIssuedInFuture,
            Self::WrongIssuer(_) => Code::WrongIssuer,
            Self::WrongAudience => Code::WrongAudience,
            Self::Backend(_) => Code::VerifierUnavailable,
        }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownKid(kid) => write!(f, "no published key has kid `{kid}`"),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::MissingClaim(name) => write!(f, "required claim `{name}` is missing"),
            Self::InvalidClaim(name) => write!(f, "claim `{name}` has the wrong type"),
            Self::Expired { exp, now } => write!(f, "token expired at {exp} (now {now})"),
            Self::NotYetValid { nbf, now } => {
                write!(f, "token is not valid before {nbf} (now {now})")
            }
            Self::IssuedInFuture { iat, now } => {
                write!(f, "token was issued in the future at {iat} (now {now})")
            }
            Self::WrongIssuer(iss) => write!(f, "issuer `{iss}` is not the expected one"),
            Self::WrongAudience => f.write_str("token is not meant for this audience"),
            Self::Backend(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ValidationError {}

/// Either stage's error, for callers that run both at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    Parse(ParseError),
    Validation(ValidationError),
}

impl VerifyError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Parse(e) => e.code(),
            Self::Validation(e) => e.code(),
        }
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => e.fmt(f),
            Self::Validation(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<ParseError> for VerifyError {
    fn from(e: ParseError) -> Self {
        Self::Parse(e)
    }
}

impl From<ValidationError> for VerifyError {
    fn from(e: ValidationError) -> Self {
        Self::Validation(e)
    }
}

/// A token whose signature verified under a published key. Its claims were not yet checked against a
/// profile: [`SignatureChecked::validate`] does that, and may be re-run later (e.g. on a memoised token).
/// Only [`UntrustedToken::check_signature`] makes one.
#[derive(Clone, Debug)]
pub struct SignatureChecked {
    kid: String,
    claims: Map<String, Value>,
}

/// The registered claims (RFC 7519 §4.1) of a [`VerifiedToken`], typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredClaims {
    pub iss: String,
    pub sub: String,
    /// `aud` as a list (a single string becomes a list of one).
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: Option<i64>,
}

/// A token that passed every check: its signature under a published key and the profile's claim rules.
///
/// Only the verifier makes one (`SignatureChecked::validate`, [`verify_token`]): the fields are private,
/// so holding a `VerifiedToken` proves the checks ran (in the spirit of jwt-compact's `Token`).
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedToken {
    kid: String,
    claims: Map<String, Value>,
    registered: RegisteredClaims,
}

impl VerifiedToken {
    /// The `kid` of the key whose signature verified.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Every claim, as signed.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Every claim, as signed (consuming the token).
    #[must_use]
    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// The registered claims, typed.
    #[must_use]
    pub fn registered(&self) -> &RegisteredClaims {
        &self.registered
    }

    #[must_use]
    pub fn sub(&self) -> &str {
        &self.registered.sub
    }

    #[must_use]
    pub fn exp(&self) -> i64 {
        self.registered.exp
    }

    #[must_use]
    pub fn iat(&self) -> i64 {
        self.registered.iat
    }

    /// A string claim, if present and a string.
    #[must_use]
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// The claims as a typed structure (e.g. [`tessera_proto::AccessTokenClaims`]).
    ///
    /// # Errors
    /// When the claims do not have that shape.
    pub fn typed_claims<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&Value::Object(self.claims.clone()))
    }
}

impl UntrustedToken<'_> {
    /// Run the claim rules over the *unverified* claims: for benchmarks and diagnostics only. It yields no
    /// [`VerifiedToken`], so nothing can mistake its answer for a verification.
    ///
    /// # Errors
    /// See [`SignatureChecked::validate`].
    pub fn check_claims_unverified(
        &self,
        opts: &VerifyOptions<'_>,
        now: UnixTime,
    ) -> Result<(), ValidationError> {
        check_claims(self.claims_unverified(), opts, Some(now)).map(|_| ())
    }

    /// Check the signature with the key named by `kid`.
    ///
    /// # Errors
    /// [`ValidationError::UnknownKid`], [`ValidationError::BadSignature`] or [`ValidationError::Backend`].
    pub async fn check_signature<K: KeyLookup, V: Verifier>(
        self,
        keys: &K,
        verifier: &V,
    ) -> Result<SignatureChecked, ValidationError> {
        let kid = self.header().kid.clone();
        let key = keys
            .key(&kid)
            .ok_or_else(|| ValidationError::UnknownKid(kid.clone()))?;
        match verifier
            .verify(key, self.signing_input(), self.signature())
            .await
        {
            Ok(true) => Ok(SignatureChecked {
                kid,
                claims: self.into_claims(),
            }),
            Ok(false) => Err(ValidationError::BadSignature),
            Err(e) => Err(ValidationError::Backend(e)),
        }
    }
}

impl SignatureChecked {
    /// Check the claims against `opts` at time `now` (compared in whole seconds, as NumericDates are).
    ///
    /// # Errors
    /// The first failed rule, in this order: required claims and their types, `exp`, `nbf`, `iat`, `iss`, `aud`.
    pub fn validate(
        &self,
        opts: &VerifyOptions<'_>,
        now: UnixTime,
    ) -> Result<VerifiedToken, ValidationError> {
        validate_claims(&self.kid, &self.claims, opts, now)
    }

    /// Check the claims against `opts` but not the time: for a token that names who someone was even
    /// after it expired (an `id_token_hint` at RP-initiated logout, OIDC RP-Initiated Logout §2).
    ///
    /// # Errors
    /// Required claims and their types, `iss`, `aud`.
    pub fn validate_ignoring_time(
        &self,
        opts: &VerifyOptions<'_>,
    ) -> Result<VerifiedToken, ValidationError> {
        let registered = check_claims(&self.claims, opts, None)?;
        Ok(VerifiedToken {
            kid: self.kid.clone(),
            claims: self.claims.clone(),
            registered,
        })
    }

    /// The `kid` of the key whose signature verified.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Claim rules of the profile. Private: a [`VerifiedToken`] is made only from claims whose signature was
/// checked ([`SignatureChecked`]).
fn validate_claims(
    kid: &str,
    claims: &Map<String, Value>,
    opts: &VerifyOptions<'_>,
    now: UnixTime,
) -> Result<VerifiedToken, ValidationError> {
    let registered = check_claims(claims, opts, Some(now))?;
    Ok(VerifiedToken {
        kid: kid.to_owned(),
        claims: claims.clone(),
        registered,
    })
}

/// `now`: `None` skips the time rules (`exp`, `nbf`, `iat`).
fn check_claims(
    claims: &Map<String, Value>,
    opts: &VerifyOptions<'_>,
    now: Option<UnixTime>,
) -> Result<RegisteredClaims, ValidationError> {
    let exp = numeric_date(claims, "exp")?.ok_or(ValidationError::MissingClaim("exp"))?;
    let iat = numeric_date(claims, "iat")?.ok_or(ValidationError::MissingClaim("iat"))?;
    let nbf = numeric_date(claims, "nbf")?;
    let iss = string_claim(claims, "iss")?.ok_or(ValidationError::MissingClaim("iss"))?;
    let sub = string_claim(claims, "sub")?.ok_or(ValidationError::MissingClaim("sub"))?;
    let aud: Vec<String> = match claims.get("aud") {
        None => return Err(ValidationError::MissingClaim("aud")),
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(all)) => {
            if all.is_empty() {
                return Err(ValidationError::InvalidClaim("aud"));
            }
            all.iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(ValidationError::InvalidClaim("aud"))?
        }
        Some(_) => return Err(ValidationError::InvalidClaim("aud")),
    };
    let aud_ok = opts
        .audience
        .is_none_or(|want| aud.iter().any(|a| a == want));
    if let Some(now) = now.map(UnixTime::as_secs) {
        if now >= exp.saturating_add(opts.leeway) {
            return Err(ValidationError::Expired { exp, now });
        }
        if let Some(nbf) = nbf {
            if now.saturating_add(opts.leeway) < nbf {
                return Err(ValidationError::NotYetValid { nbf, now });
            }
        }
        if now.saturating_add(opts.leeway) < iat {
            return Err(ValidationError::IssuedInFuture { iat, now });
        }
    }
    if iss != opts.issuer {
        return Err(ValidationError::WrongIssuer(iss.to_owned()));
    }
    if !aud_ok {
        return Err(ValidationError::WrongAudience);
    }
    Ok(RegisteredClaims {
        iss: iss.to_owned(),
        sub: sub.to_owned(),
        aud,
        exp,
        iat,
        nbf,
    })
}

/// RFC 7519 §2 NumericDate: a JSON number (fractions allowed and truncated); strings are refused.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, ValidationError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else {
                match n.as_f64() {
                    #[allow(clippy::cast_possible_truncation, reason = "range checked just before")]
                    Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
                    _ => Err(ValidationError::InvalidClaim(name)),
                }
            }
        }
        Some(_) => Err(ValidationError::InvalidClaim(name)),
    }
}

fn string_claim<'m>(
    claims: &'m Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'m str>, ValidationError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::InvalidClaim(name)),
    }
}

/// Parse, check the signature and validate in one call.
///
/// # Errors
/// See [`ParseError`] and [`ValidationError`].
pub async fn verify_token<K: KeyLookup, V: Verifier>(
    raw: &str,
    keys: &K,
    verifier: &V,
    opts: &VerifyOptions<'_>,
    now: UnixTime,
) -> Result<VerifiedToken, VerifyError> {
    let untrusted = UntrustedToken::parse(raw)?;
    let checked = untrusted.check_signature(keys, verifier).await?;
    Ok(checked.validate(opts, now)?)
}
