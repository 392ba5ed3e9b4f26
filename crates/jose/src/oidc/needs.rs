//! What stands between an authorization request and its code: a sign-in (fresh enough for
//! `prompt=login` and `max_age`), a step-up (`acr_values=mfa`), consent (a third-party client); and the
//! `acr` an ID token states.

use serde::{Deserialize, Serialize};
use tessera_proto::{ClientRecord, Code};

use super::request::AuthorizationRequest;
use super::{ACR_MFA, ACR_PHISHING_RESISTANT};

/// What a browser session says about the person, for [`needs`].
#[derive(Clone, Copy, Debug)]
pub struct SessionView<'a> {
    /// The session's id.
    pub sid: &'a str,
    /// When the person last authenticated (unix seconds).
    pub auth_time: i64,
    pub amr: &'a [String],
    pub acr: &'a str,
    /// Whether the person has an authenticator app (so a step-up can be asked for).
    pub totp_enrolled: bool,
}

/// When an authorization request was first received, and the browser session it found then (if any).
#[derive(Clone, Copy, Debug)]
pub struct Requested<'a> {
    /// Unix seconds.
    pub at: i64,
    /// The session the browser had when the request arrived: whatever its `auth_time`, it is not the
    /// fresh sign-in `prompt=login` asks for (seconds are coarse; a sign-in just before the request
    /// can share its second).
    pub found_sid: Option<&'a str>,
}

/// What the person has granted the client before.
#[derive(Clone, Copy, Debug)]
pub struct ConsentView<'a> {
    pub scopes: &'a [String],
    pub granted_at: i64,
}

/// What stands between an authorization request and its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Sign in (again).
    Login,
    /// Prove a one-time code (`acr_values` asks for `mfa`).
    StepUp,
    /// Consent to the scopes.
    Consent,
    /// Nothing: issue the code.
    Nothing,
}

impl Need {
    /// The error a `prompt=none` request gets instead of a page (OIDC Core §3.1.2.6).
    #[must_use]
    pub fn prompt_none_error(self) -> Option<Code> {
        match self {
            Self::Login => Some(Code::LoginRequired),
            Self::StepUp => Some(Code::InteractionRequired),
            Self::Consent => Some(Code::ConsentRequired),
            Self::Nothing => None,
        }
    }
}

/// Whether `session` satisfies the `acr` value `acr`.
#[must_use]
pub fn satisfies(session_acr: &str, amr: &[String], acr: &str) -> bool {
    match acr {
        ACR_PHISHING_RESISTANT => session_acr == ACR_PHISHING_RESISTANT,
        ACR_MFA => amr.iter().any(|m| m == "otp"),
        _ => false,
    }
}

/// The `acr` an ID token states: the first of the requested values the session satisfies, else the
/// session's own.
#[must_use]
pub fn stated_acr(req: &AuthorizationRequest, session_acr: &str, amr: &[String]) -> String {
    req.acr_values
        .iter()
        .find(|a| satisfies(session_acr, amr, a))
        .cloned()
        .unwrap_or_else(|| session_acr.to_owned())
}

/// What `req`, first received as `requested` says, still needs from a browser with `session` (if signed
/// in) and the person's earlier `consent`, at `now`. A fresh sign-in (`prompt=login`, `max_age=0`) is a
/// session other than the one the request found, authenticated at or after the request; renewed consent
/// (`prompt=consent`) is consent given at or after it.
#[must_use]
pub fn needs(
    req: &AuthorizationRequest,
    client: &ClientRecord,
    requested: Requested<'_>,
    session: Option<SessionView<'_>>,
    consent: Option<ConsentView<'_>>,
    now: i64,
) -> Need {
    let Some(s) = session else {
        return Need::Login;
    };
    let fresh = s.auth_time >= requested.at && requested.found_sid != Some(s.sid);
    if (req.prompt.login || req.max_age == Some(0)) && !fresh {
        return Need::Login;
    }
    if req
        .max_age
        .is_some_and(|m| now.saturating_sub(s.auth_time) > m)
    {
        return Need::Login;
    }
    let wants_mfa = req.acr_values.iter().any(|a| a == ACR_MFA);
    let satisfied = req.acr_values.iter().any(|a| satisfies(s.acr, s.amr, a));
    if wants_mfa && !satisfied && s.totp_enrolled {
        return Need::StepUp;
    }
    if !client.first_party {
        let asked = req.consent_scopes();
        let covered = consent.is_some_and(|c| {
            asked.iter().all(|a| c.scopes.contains(a))
                && (!req.prompt.consent || c.granted_at >= requested.at)
        });
        if !covered {
            return Need::Consent;
        }
    }
    Need::Nothing
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{check, client};
    use super::*;
    use tessera_proto::ClientKind;

    fn facts(auth_time: i64, amr: &[String], totp: bool) -> SessionView<'_> {
        SessionView {
            sid: "s1",
            auth_time,
            amr,
            acr: ACR_PHISHING_RESISTANT,
            totp_enrolled: totp,
        }
    }

    const AT_100: Requested<'static> = Requested {
        at: 100,
        found_sid: None,
    };

    #[test]
    fn what_a_request_needs() {
        let c = client(ClientKind::Public);
        let r = check(&[]).unwrap();
        let hwk = vec!["hwk".to_owned()];
        let profile = vec!["profile".to_owned()];
        let consent = Some(ConsentView {
            scopes: &profile,
            granted_at: 50,
        });
        assert_eq!(needs(&r, &c, AT_100, None, None, 100), Need::Login);
        assert_eq!(
            needs(&r, &c, AT_100, Some(facts(10, &hwk, false)), None, 100),
            Need::Consent
        );
        assert_eq!(
            needs(&r, &c, AT_100, Some(facts(10, &hwk, false)), consent, 100),
            Need::Nothing
        );
        let first = ClientRecord {
            first_party: true,
            ..c.clone()
        };
        assert_eq!(
            needs(&r, &first, AT_100, Some(facts(10, &hwk, false)), None, 100),
            Need::Nothing
        );
        // prompt=login and max_age=0 want a sign-in after the request; max_age bounds the session's age.
        let login = check(&[("prompt", "login")]).unwrap();
        assert_eq!(
            needs(
                &login,
                &first,
                AT_100,
                Some(facts(99, &hwk, false)),
                None,
                100
            ),
            Need::Login
        );
        assert_eq!(
            needs(
                &login,
                &first,
                AT_100,
                Some(facts(100, &hwk, false)),
                None,
                101
            ),
            Need::Nothing
        );
        // The session the request found is not a fresh sign-in, even one in the request's second.
        let found = Requested {
            at: 100,
            found_sid: Some("s1"),
        };
        assert_eq!(
            needs(
                &login,
                &first,
                found,
                Some(facts(100, &hwk, false)),
                None,
                100
            ),
            Need::Login
        );
        let other = Requested {
            at: 100,
            found_sid: Some("s0"),
        };
        assert_eq!(
            needs(
                &login,
                &first,
                other,
                Some(facts(100, &hwk, false)),
                None,
                100
            ),
            Need::Nothing
        );
        let zero = check(&[("max_age", "0")]).unwrap();
        assert_eq!(
            needs(
                &zero,
                &first,
                AT_100,
                Some(facts(99, &hwk, false)),
                None,
                100
            ),
            Need::Login
        );
        let aged = check(&[("max_age", "30")]).unwrap();
        assert_eq!(
            needs(
                &aged,
                &first,
                AT_100,
                Some(facts(60, &hwk, false)),
                None,
                100
            ),
            Need::Login
        );
        assert_eq!(
            needs(
                &aged,
                &first,
                AT_100,
                Some(facts(70, &hwk, false)),
                None,
                100
            ),
            Need::Nothing
        );
        // prompt=consent wants consent given after the request.
        let again = check(&[("prompt", "consent")]).unwrap();
        assert_eq!(
            needs(
                &again,
                &c,
                AT_100,
                Some(facts(10, &hwk, false)),
                consent,
                100
            ),
            Need::Consent
        );
        let fresh = Some(ConsentView {
            scopes: &profile,
            granted_at: 100,
        });
        assert_eq!(
            needs(&again, &c, AT_100, Some(facts(10, &hwk, false)), fresh, 100),
            Need::Nothing
        );
        // acr_values=mfa: a step-up when the person has an app, else what the session has.
        let mfa = check(&[("acr_values", "mfa")]).unwrap();
        assert_eq!(
            needs(&mfa, &first, AT_100, Some(facts(10, &hwk, true)), None, 100),
            Need::StepUp
        );
        assert_eq!(
            needs(
                &mfa,
                &first,
                AT_100,
                Some(facts(10, &hwk, false)),
                None,
                100
            ),
            Need::Nothing
        );
        let both = vec!["hwk".to_owned(), "otp".to_owned()];
        assert_eq!(
            needs(
                &mfa,
                &first,
                AT_100,
                Some(facts(10, &both, true)),
                None,
                100
            ),
            Need::Nothing
        );
        assert_eq!(stated_acr(&mfa, ACR_PHISHING_RESISTANT, &both), ACR_MFA);
        assert_eq!(
            stated_acr(&mfa, ACR_PHISHING_RESISTANT, &hwk),
            ACR_PHISHING_RESISTANT
        );
        assert_eq!(
            Need::Consent.prompt_none_error(),
            Some(Code::ConsentRequired)
        );
    }
}
