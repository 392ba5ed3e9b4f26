//! The `AuthnRequest` (SAML core §3.4.1) and the two bindings we send it over (SAML bindings §3.4
//! HTTP-Redirect, §3.5 HTTP-POST).
//!
//! HTTP-Redirect: the XML is raw-DEFLATE-compressed (RFC 1951, no zlib header), base64-encoded and
//! URL-encoded into `SAMLRequest`; when the IdP wants signed requests the query carries `SigAlg` and a
//! `Signature` over exactly `SAMLRequest=…&RelayState=…&SigAlg=…` as those parameters appear in the URL
//! (§3.4.4.1; `RelayState=…&` only when there is one). HTTP-POST: the XML is base64-encoded into an
//! auto-submitting form (not compressed); its page allows one script, by nonce.

use std::io::Write as _;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tessera_proto::UnixTime;
use tessera_saml::{ns, Binding};

use super::connection::NameIdFormat;
use super::sp::SpIdentity;
use super::sp_key::{SpKey, SIG_ALG_RSA_SHA256};
use super::{xml_escape, SamlError};

/// What one AuthnRequest says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthnRequest<'a> {
    /// Our stored request ID (`InResponseTo` of the answer).
    pub id: &'a str,
    pub issue_instant: UnixTime,
    /// The IdP's SSO location for the binding used.
    pub destination: &'a str,
    pub sp: &'a SpIdentity,
    pub name_id_format: NameIdFormat,
    /// `ForceAuthn="true"`: the IdP must authenticate the person again, not answer from its session.
    pub force_authn: bool,
}

impl AuthnRequest<'_> {
    /// The request as XML: `ID`, `Version` 2.0, `IssueInstant`, `Destination`,
    /// `AssertionConsumerServiceURL` with `ProtocolBinding` HTTP-POST, our entity ID as `Issuer`, and a
    /// `NameIDPolicy` that lets the IdP create an identifier in the connection's format.
    #[must_use]
    pub fn to_xml(&self) -> String {
        format!(
            concat!(
                "<samlp:AuthnRequest xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" Version=\"2.0\" ",
                "IssueInstant=\"{instant}\" Destination=\"{destination}\" AssertionConsumerServiceURL=\"{acs}\" ",
                "ProtocolBinding=\"{post}\"{force}>",
                "<saml:Issuer>{issuer}</saml:Issuer>",
                "<samlp:NameIDPolicy Format=\"{format}\" AllowCreate=\"true\"/>",
                "</samlp:AuthnRequest>"
            ),
            samlp = ns::SAMLP,
            saml = ns::SAML,
            id = xml_escape(self.id),
            instant = xs_date_time(self.issue_instant),
            destination = xml_escape(self.destination),
            acs = xml_escape(&self.sp.acs_url),
            post = Binding::HttpPost.uri(),
            issuer = xml_escape(&self.sp.entity_id),
            format = self.name_id_format.uri(),
            force = if self.force_authn { " ForceAuthn=\"true\"" } else { "" },
        )
    }
}

/// `xs:dateTime` in UTC to the second (`2026-11-30T09:47:00Z`), as SAML core §1.3.3 requires.
#[must_use]
pub fn xs_date_time(t: UnixTime) -> String {
    let secs = u64::try_from(t.as_secs()).unwrap_or(0);
    match x509_cert::der::DateTime::from_unix_duration(Duration::from_secs(secs)) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minutes(),
            d.seconds()
        ),
        // Past 9999: not a moment this clock reads.
        Err(_) => "9999-12-31T23:59:59Z".to_owned(),
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters (so the signed text and the URL
/// are the same bytes, whoever decodes them).
#[must_use]
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Raw DEFLATE (RFC 1951), then base64: the HTTP-Redirect encoding of a message.
///
/// # Errors
/// Never in practice (compression into memory).
pub fn deflate_base64(xml: &str) -> Result<String, SamlError> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(xml.as_bytes())
        .and_then(|()| encoder.finish())
        .map(|bytes| STANDARD.encode(bytes))
        .map_err(|e| SamlError::Encoding(format!("deflate: {e}")))
}

/// The HTTP-Redirect URL for `request_xml` to `sso_url`, carrying `relay_token`, signed with `key` when
/// given (§3.4.4.1). Parameters of the SSO URL's own query are kept before ours.
///
/// # Errors
/// An SSO URL that does not parse (the metadata reader accepted it, so never expected), or signing.
pub fn redirect_url(
    sso_url: &str,
    request_xml: &str,
    relay_token: Option<&str>,
    key: Option<&SpKey>,
) -> Result<String, SamlError> {
    let mut query = format!("SAMLRequest={}", url_encode(&deflate_base64(request_xml)?));
    if let Some(token) = relay_token {
        query.push_str(&format!("&RelayState={}", url_encode(token)));
    }
    if let Some(key) = key {
        query.push_str(&format!("&SigAlg={}", url_encode(SIG_ALG_RSA_SHA256)));
        let signature = key.sign_rsa_sha256(query.as_bytes())?;
        query.push_str(&format!(
            "&Signature={}",
            url_encode(&STANDARD.encode(signature))
        ));
    }
    let mut base = url::Url::parse(sso_url).map_err(|e| {
        SamlError::invalid(
            tessera_proto::Code::SamlMetadataInvalidUrl,
            format!(
                "SSO location `{}` does not parse: {e}",
                sso_url.escape_debug()
            ),
        )
    })?;
    base.set_fragment(None);
    let separator = match base.query() {
        None => "?",
        Some("") => "",
        Some(_) => "&",
    };
    Ok(format!("{}{separator}{query}", base.as_str()))
}

/// Text escaped for an HTML attribute value.
fn html_escape(text: &str) -> String {
    text.chars()
        .fold(String::with_capacity(text.len()), |mut out, c| {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
            out
        })
}

/// The HTTP-POST binding: a page whose form posts `SAMLRequest` (base64 of the XML) and `RelayState` to
/// `sso_url`, submitted by the one script the page's CSP allows (`script_nonce`); without scripts a
/// button does it.
#[must_use]
pub fn post_form_html(
    sso_url: &str,
    request_xml: &str,
    relay_token: Option<&str>,
    script_nonce: &str,
) -> String {
    let relay = relay_token.map_or(String::new(), |t| {
        format!(
            "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
            html_escape(t)
        )
    });
    format!(
        concat!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signing in</title></head><body>",
            "<form id=\"saml\" method=\"post\" action=\"{action}\">",
            "<input type=\"hidden\" name=\"SAMLRequest\" value=\"{request}\">{relay}",
            "<noscript><p>Continue to your identity provider to sign in.</p><button type=\"submit\">Continue</button></noscript>",
            "</form>",
            "<script nonce=\"{nonce}\">document.getElementById('saml').submit();</script>",
            "</body></html>"
        ),
        action = html_escape(sso_url),
        request = STANDARD.encode(request_xml.as_bytes()),
        relay = relay,
        nonce = html_escape(script_nonce),
    )
}

/// The CSP of [`post_form_html`]'s page: nothing but its one script.
#[must_use]
pub fn post_form_csp(script_nonce: &str) -> String {
    format!("default-src 'none'; script-src 'nonce-{script_nonce}'; base-uri 'none'; frame-ancestors 'none'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_authn_is_asked_only_when_wanted() {
        let sp = SpIdentity::new(
            "https://origin.example",
            &"acme".parse().unwrap(),
            &"okta".parse().unwrap(),
        );
        let request = |force_authn| {
            AuthnRequest {
                id: "_1",
                issue_instant: UnixTime::from_secs(1_800_000_000),
                destination: "https://idp.example/sso",
                sp: &sp,
                name_id_format: NameIdFormat::Unspecified,
                force_authn,
            }
            .to_xml()
        };
        assert!(request(true).contains(" ForceAuthn=\"true\">"));
        assert!(!request(false).contains("ForceAuthn"));
        // Still one well-formed element either way.
        for xml in [request(true), request(false)] {
            assert!(roxmltree::Document::parse(&xml).is_ok(), "{xml}");
        }
    }
}
