//! The few pages the provider answers itself (everything a person does happens on the login page):
//! the auto-submitting form of `response_mode=form_post`, the sign-out confirmation and its result, and
//! errors that must not be sent to a client. Plain HTML, every value escaped, a strict CSP: no script but
//! the one fixed line the form post needs, allowed by its hash.

use sha2::{Digest as _, Sha256};
use worker::Response;

/// The form post's only script.
const SUBMIT: &str = "document.forms[0].submit();";

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1b1b1f}\
h1{font-size:1.4rem}button{font:inherit;padding:.5rem 1.2rem;border-radius:.4rem;border:1px solid #1b1b1f;background:#1b1b1f;color:#fff;cursor:pointer}\
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}button{background:#eee;color:#111;border-color:#eee}}";

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and double-quoted attributes.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: u16, body: &str, csp: &str) -> worker::Result<Response> {
    let resp = Response::ok(body)?.with_status(status);
    let headers = resp.headers().clone();
    headers.set("content-type", "text/html; charset=utf-8")?;
    headers.set("content-security-policy", csp)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("cache-control", "no-store")?;
    Ok(resp.with_headers(headers))
}

fn document(title: &str, main: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{main}</main></body></html>",
        escape(title)
    )
}

/// The CSP `form-action` source for `uri`: its origin (`scheme://host[:port]`), or its scheme alone for
/// a private-use scheme.
fn form_action(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => "'none'".to_owned(),
    }
}

/// `fields` as hidden form inputs, names and values escaped.
fn hidden_inputs(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect()
}

/// The form-post response (OAuth 2.0 Form Post Response Mode): `fields` posted to `action` by the
/// browser, at once with script, by a button without.
///
/// # Errors
/// Only if the runtime cannot build a response.
pub fn form_post(action: &str, fields: &[(&str, &str)]) -> worker::Result<Response> {
    let inputs = hidden_inputs(fields);
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Continuing…</title>\
         <style>{STYLE}</style></head><body><form method=\"post\" action=\"{}\">{inputs}\
         <noscript><p>Your browser does not run scripts: continue by hand.</p><button type=\"submit\">Continue</button></noscript>\
         </form><script>{SUBMIT}</script></body></html>",
        escape(action)
    );
    let hash = tessera_jose::b64::encode(&Sha256::digest(SUBMIT.as_bytes()));
    // base64 (not base64url) in CSP hashes.
    let hash = hash.replace('-', "+").replace('_', "/");
    let pad = "=".repeat((4 - hash.len() % 4) % 4);
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{hash}{pad}'; style-src 'unsafe-inline'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        form_action(action)
    );
    html(200, &body, &csp)
}

const CSP_NO_SCRIPT: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An error shown to the person (never sent to a client that may not be the one it claims).
///
/// # Errors
/// Only if the runtime cannot build a response.
pub fn error(status: u16, code: &str, message: &str) -> worker::Result<Response> {
    let main = format!(
        "<h1>This sign-in cannot continue</h1><p>{}</p><p><small>Error: <code>{}</code></small></p>",
        escape(message),
        escape(code)
    );
    html(status, &document("Sign-in error", &main), CSP_NO_SCRIPT)
}

/// "Sign out?" with a button that posts `fields` back to `action` (RP-initiated logout without proof of
/// who asks, OIDC RP-Initiated Logout §2: the person confirms).
///
/// # Errors
/// Only if the runtime cannot build a response.
pub fn confirm_sign_out(
    action: &str,
    fields: &[(&str, &str)],
    client_name: Option<&str>,
) -> worker::Result<Response> {
    let inputs = hidden_inputs(fields);
    let asked = client_name.map_or_else(String::new, |n| {
        format!("<p>{} asks you to sign out.</p>", escape(n))
    });
    let main = format!(
        "<h1>Sign out?</h1>{asked}<form method=\"post\" action=\"{}\">{inputs}\
         <input type=\"hidden\" name=\"confirm\" value=\"yes\"><button type=\"submit\">Sign out</button></form>",
        escape(action)
    );
    html(200, &document("Sign out", &main), CSP_NO_SCRIPT)
}

/// "You are signed out."
///
/// # Errors
/// Only if the runtime cannot build a response.
pub fn signed_out() -> worker::Result<Response> {
    html(
        200,
        &document(
            "Signed out",
            "<h1>You are signed out</h1><p>You can close this window.</p>",
        ),
        CSP_NO_SCRIPT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_would_read() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn hidden_inputs_escape_names_and_values() {
        assert_eq!(
            hidden_inputs(&[("state", "a\"><script>"), ("code", "x")]),
            "<input type=\"hidden\" name=\"state\" value=\"a&quot;&gt;&lt;script&gt;\">\
             <input type=\"hidden\" name=\"code\" value=\"x\">"
        );
    }

    #[test]
    fn form_action_is_the_origin() {
        assert_eq!(
            form_action("https://app.example:8443/cb?x=1"),
            "https://app.example:8443"
        );
        assert_eq!(form_action("com.example.app:/cb"), "com.example.app:");
        assert_eq!(form_action("not a url"), "'none'");
    }
}
