//! Where a sign-in may send the browser afterwards: no open redirect.
//!
//! A RelayState is accepted when it is
//! - a relative path: it starts with exactly one `/` (not `//`, which a browser reads as another host,
//!   nor `/\`, which browsers read the same way), and holds no backslash, no whitespace and no control
//!   character anywhere (browsers drop tabs and newlines from URLs, so `/\t/evil.example` would become
//!   `//evil.example`); or
//! - exactly one of the connection's allow-listed absolute URLs, compared as text. The allow-list holds
//!   `http(s)` URLs in the form a URL parser writes them back ([`allow_list_entry`]), without user
//!   information or fragment, so "exactly" means what it says;
//!
//! and it is at most [`MAX_RELAY_STATE_BYTES`] long. Text is read character by character, never cut by
//! byte position. The IdP never sees it: it gets an opaque token bound to our stored request (SAML
//! bindings §3.4.3: at most 80 bytes).

use tessera_proto::Code;

use super::SamlError;

/// The longest RelayState accepted, in bytes.
pub const MAX_RELAY_STATE_BYTES: usize = 512;

/// Why a RelayState was refused (for the log; outward it is one refusal, `saml_relay_state_refused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayStateRefused {
    Empty,
    TooLong,
    /// A control character, whitespace or a backslash.
    ForbiddenCharacter,
    /// `//…` or `/\…`: another host, to a browser.
    SchemeRelative,
    /// Absolute (or not a path at all) and not on the connection's allow-list.
    NotAllowListed,
}

impl RelayStateRefused {
    #[must_use]
    pub const fn code(self) -> Code {
        Code::SamlRelayStateRefused
    }
}

impl std::fmt::Display for RelayStateRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "the return address is empty",
            Self::TooLong => "the return address is longer than 512 bytes",
            Self::ForbiddenCharacter => {
                "the return address holds a control character, whitespace or a backslash"
            }
            Self::SchemeRelative => "the return address names another host (`//` or `/\\`)",
            Self::NotAllowListed => {
                "the return address is neither a relative path nor an allow-listed URL"
            }
        })
    }
}

impl std::error::Error for RelayStateRefused {}

/// Accept `relay_state` (see the module documentation) against `allow_list`.
///
/// # Errors
/// Which rule it broke.
pub fn check(relay_state: &str, allow_list: &[String]) -> Result<(), RelayStateRefused> {
    if relay_state.is_empty() {
        return Err(RelayStateRefused::Empty);
    }
    if relay_state.len() > MAX_RELAY_STATE_BYTES {
        return Err(RelayStateRefused::TooLong);
    }
    if allow_list.iter().any(|allowed| allowed == relay_state) {
        return Ok(());
    }
    if relay_state
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(RelayStateRefused::ForbiddenCharacter);
    }
    let mut chars = relay_state.chars();
    match (chars.next(), chars.next()) {
        (Some('/'), Some('/')) => Err(RelayStateRefused::SchemeRelative),
        (Some('/'), _) => Ok(()),
        _ => Err(RelayStateRefused::NotAllowListed),
    }
}

/// An allow-list entry: an absolute `http` or `https` URL with a host, no user information and no
/// fragment, at most [`MAX_RELAY_STATE_BYTES`], written as a URL parser writes it back (so that the
/// exact comparison in [`check`] compares what a browser would go to).
///
/// # Errors
/// `saml_relay_allow_list_invalid`, saying which rule.
pub fn allow_list_entry(text: &str) -> Result<String, SamlError> {
    let refuse = |why: &str| {
        SamlError::invalid(
            Code::SamlRelayAllowListInvalid,
            format!(
                "RelayState allow-list entry `{}` {why}",
                text.escape_debug()
            ),
        )
    };
    if text.len() > MAX_RELAY_STATE_BYTES {
        return Err(refuse("is longer than 512 bytes"));
    }
    let url = url::Url::parse(text).map_err(|e| refuse(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(refuse("is not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("holds user information"));
    }
    if url.fragment().is_some() {
        return Err(refuse("has a fragment"));
    }
    if url.as_str() != text {
        return Err(refuse(&format!(
            "is not in its normal form; write it as `{}`",
            url.as_str()
        )));
    }
    Ok(text.to_owned())
}
