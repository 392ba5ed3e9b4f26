//! One error type, with the stable codes the edge uses.

use tessera_jose::VerifyError;
use tessera_proto::Code;

/// Why the SDK could not answer.
#[derive(Debug)]
pub enum Error {
    /// The token is not valid: the same code the edge's `/v1/tokens/verify` gives.
    Token(VerifyError),
    /// The issuer's discovery document or JWKS could not be read or is wrong (and no cached keys help).
    Issuer(String),
    /// The HTTP transport failed (the issuer or edge is unreachable).
    Transport(String),
    /// The edge refused a request, with its code and message.
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// A permission check's answer could not be read.
    Check(String),
}

impl Error {
    /// The stable code: the token's verification code, `issuer_unavailable`-like availability codes, or
    /// the edge's own code for a refusal.
    #[must_use]
    pub fn code(&self) -> String {
        match self {
            Self::Token(e) => e.code().as_str().to_owned(),
            Self::Issuer(_) | Self::Transport(_) => Code::VerifierUnavailable.as_str().to_owned(),
            Self::Refused { code, .. } => code.clone(),
            Self::Check(_) => Code::OriginRefused.as_str().to_owned(),
        }
    }

    /// Whether this is the token's fault (answer 401), not the SDK's or the issuer's (answer 503).
    #[must_use]
    pub fn is_token_error(&self) -> bool {
        matches!(self, Self::Token(_))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(e) => write!(f, "{}: {e}", e.code()),
            Self::Issuer(e) => write!(f, "issuer: {e}"),
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Refused {
                status,
                code,
                message,
            } => write!(f, "{status} {code}: {message}"),
            Self::Check(e) => write!(f, "check: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Self::Token(e)
    }
}
