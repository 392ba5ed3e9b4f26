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
    /// When the person last authenticated (unix seconds).
    pub auth_time: i64,
    pub amr: &'a [String],
    pub acr: &'a str,
    /// Whether the person has an authenticator app (so a step-up can be asked for).
    pub totp_enrolled: bool,
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

/// What `req`, first received at `requested_at`, still needs from a browser with `session` (if signed
/// in) and the person's earlier `consent`, at `now`. A fresh sign-in (`prompt=login`, `max_age=0`) is one
/// at or after `requested_at`; renewed consent (`prompt=consent`) likewise.
#[must_use]
pub fn needs(
    req: &AuthorizationRequest,
    client: &ClientRecord,
    requested_at: i64,
    session: Option<SessionView<'_>>,
    consent: Option<ConsentView<'_>>,
    now: i64,
) -> Need {
    let Some(s) = session else {
        return Need::Login;
    };
    let fresh = s.auth_time >= requested_at;
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
                && (!req.prompt.consent || c.granted_at >= requested_at)
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
            auth_time,
            amr,
            acr: ACR_PHISHING_RESISTANT,
            totp_enrolled: totp,
        }
    }

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
        assert_eq!(needs(&r, &c, 100, None, None, 100), Need::Login);
        assert_eq!(
            needs(&r, &c, 100, Some(facts(10, &hwk, false)), None, 100),
            Need::Consent
        );
        assert_eq!(
            needs(&r, &c, 100, Some(facts(10, &hwk, false)), consent, 100),
            Need::Nothing
        );
        let first = ClientRecord {
            first_party: true,
            ..c.clone()
        };
        assert_eq!(
            needs(&r, &first, 100, Some(facts(10, &hwk, false)), None, 100),
            Need::Nothing
        );
        // prompt=login and max_age=0 want a sign-in after the request; max_age bounds the session's age.
        let login = check(&[("prompt", "login")]).unwrap();
        assert_eq!(
            needs(&login, &first, 100, Some(facts(99, &hwk, false)), None, 100),
            Need::Login
        );
        assert_eq!(
            needs(
                &login,
                &first,
                100,
                Some(facts(100, &hwk, false)),
                None,
                101
            ),
            Need::Nothing
        );
        let zero = check(&[("max_age", "0")]).unwrap();
        assert_eq!(
            needs(&zero, &first, 100, Some(facts(99, &hwk, false)), None, 100),
            Need::Login
        );
        let aged = check(&[("max_age", "30")]).unwrap();
        assert_eq!(
            needs(&aged, &first, 100, Some(facts(60, &hwk, false)), None, 100),
            Need::Login
        );
        assert_eq!(
            needs(&aged, &first, 100, Some(facts(70, &hwk, false)), None, 100),
            Need::Nothing
        );
        // prompt=consent wants consent given after the request.
        let again = check(&[("prompt", "consent")]).unwrap();
        assert_eq!(
            needs(&again, &c, 100, Some(facts(10, &hwk, false)), consent, 100),
            Need::Consent
        );
        let fresh = Some(ConsentView {
            scopes: &profile,
            granted_at: 100,
        });
        assert_eq!(
            needs(&again, &c, 100, Some(facts(10, &hwk, false)), fresh, 100),
            Need::Nothing
        );
        // acr_values=mfa: a step-up when the person has an app, else what the session has.
        let mfa = check(&[("acr_values", "mfa")]).unwrap();
        assert_eq!(
            needs(&mfa, &first, 100, Some(facts(10, &hwk, true)), None, 100),
            Need::StepUp
        );
        assert_eq!(
            needs(&mfa, &first, 100, Some(facts(10, &hwk, false)), None, 100),
            Need::Nothing
        );
        let both = vec!["hwk".to_owned(), "otp".to_owned()];
        assert_eq!(
            needs(&mfa, &first, 100, Some(facts(10, &both, true)), None, 100),
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
