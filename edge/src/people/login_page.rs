//! `GET /login` and `GET /login.js`: the sign-in page (plain HTML and JavaScript, no framework).
//!
//! The HTML is a template: `{{key}}` is a word of the page's language (`locale`), escaped for HTML;
//! `{{lang}}` the language; `{{strings}}` the script's words as JSON in a data block (`<script
//! type="application/json">`, which the CSP lets through because it is never run); `{{brand.*}}` the
//! tenant's branding (`tessera_proto::branding`, from the origin, kept a minute per isolate): its name
//! (else `RP_NAME`), its logo (a checked `data:` image) and its accent colours as CSS variables. The
//! language comes from `?lang=` or `Accept-Language`, so the answer varies by it.

use core::time::Duration;
use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::json;
use tessera_proto::branding::Branding;
use tessera_proto::UnixTime;
use worker::{Env, Request, Response};

use super::locale::{self, Catalog};
use crate::config::Config;
use crate::error::ApiError;
use crate::oidc::pages::escape;
use crate::origin::accounts as origin_api;

/// How long an isolate keeps a tenant's branding.
const BRANDING_TTL: Duration = Duration::from_secs(60);

thread_local! {
    static BRANDING: RefCell<HashMap<String, (Branding, UnixTime)>> = RefCell::new(HashMap::new());
}

/// The tenant's branding, from this isolate's copy while it is fresh; when the origin cannot say, none
/// (the page still works, unbranded, and asks again next time).
async fn branding(env: &Env, cfg: &Config, tenant: &str) -> Branding {
    let now = crate::now();
    let kept = BRANDING.with(|m| {
        m.borrow()
            .get(tenant)
            .filter(|(_, at)| now.since(*at) < BRANDING_TTL)
            .map(|(b, _)| b.clone())
    });
    if let Some(b) = kept {
        return b;
    }
    match origin_api::branding(env, cfg, tenant).await {
        // Checked again here: what the page shows is never more than the rules allow.
        Ok(b) => {
            let b = b.check().unwrap_or_default();
            BRANDING.with(|m| {
                let mut m = m.borrow_mut();
                if m.len() >= 1000 {
                    m.clear();
                }
                m.insert(tenant.to_owned(), (b.clone(), now));
            });
            b
        }
        Err(e) => {
            crate::log::warn(
                "branding_unavailable",
                &[
                    ("tenant", json!(tenant)),
                    (
                        "error",
                        json!(e.internal_message.unwrap_or(e.external_message)),
                    ),
                ],
            );
            Branding::default()
        }
    }
}

/// The brand's accent colours as CSS custom properties (checked `#rrggbb` values only).
fn brand_style(b: &Branding) -> String {
    let mut css = String::new();
    if let Some(accent) = &b.accent {
        css.push_str(&format!(":root {{ --accent: {}; }}\n", escape(accent)));
    }
    if let Some(dark) = &b.accent_dark {
        css.push_str(&format!(
            "@media (prefers-color-scheme: dark) {{ :root {{ --accent: {}; }} }}\n",
            escape(dark)
        ));
    }
    css
}

const HTML: &str = include_str!("../../static/login.html");
const JS: &str = include_str!("../../static/login.js");

/// Scripts only from this origin, no framing, nothing fetched elsewhere.
const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(body: &str, content_type: &str) -> Result<Response, ApiError> {
    let resp = Response::ok(body)?;
    let headers = resp.headers().clone();
    headers.set("content-type", content_type)?;
    headers.set("content-security-policy", CSP)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("cache-control", "no-cache")?;
    Ok(resp.with_headers(headers))
}

/// The script's words as JSON that is safe inside `<script type="application/json">`: no `<` at all
/// (so neither `</script>` nor `<!--` can appear), and the line separators JavaScript once choked on
/// escaped.
fn script_words(catalog: &Catalog) -> String {
    serde_json::to_string(&catalog.script)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The template with every `{{key}}` replaced; a key no catalog has is left empty (the tests keep the
/// template and the catalogs in step).
fn render(template: &str, lang: &str, brand: &Branding, default_name: &str) -> String {
    let words = locale::catalog(lang);
    let english = locale::catalog("en");
    let mut out = String::with_capacity(template.len() + 4096);
    let mut rest = template;
    while let Some((before, after)) = rest.split_once("{{") {
        out.push_str(before);
        let Some((key, tail)) = after.split_once("}}") else {
            out.push_str("{{");
            rest = after;
            continue;
        };
        match key {
            "lang" => out.push_str(lang),
            "brand.name" => out.push_str(&escape(brand.name.as_deref().unwrap_or(default_name))),
            "brand.logo" => {
                if let Some(logo) = &brand.logo {
                    // Beside the name, which says it in words.
                    out.push_str(&format!(
                        "<img id=\"brand-logo\" src=\"{}\" alt=\"\">",
                        escape(logo)
                    ));
                }
            }
            "brand.style" => out.push_str(&brand_style(brand)),
            "strings" => out.push_str(&script_words(words)),
            key => {
                let text = words.page.get(key).or_else(|| english.page.get(key));
                out.push_str(&escape(text.map_or("", String::as_str)));
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// # Errors
/// `edge_misconfigured` when passkeys are not configured (the page would not work).
pub async fn serve(req: &Request, env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    cfg.login.relying_party()?;
    let asked = req.url().ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    let accept = req
        .headers()
        .get("accept-language")
        .ok()
        .flatten()
        .unwrap_or_default();
    let lang = locale::negotiate(&accept, asked.as_deref());
    let brand = branding(env, cfg, &cfg.login.tenant).await;
    let resp = page(
        &render(HTML, lang, &brand, &cfg.login.rp_name),
        "text/html; charset=utf-8",
    )?;
    let headers = resp.headers().clone();
    headers.set("content-language", lang)?;
    headers.set("vary", "accept-language")?;
    Ok(resp.with_headers(headers))
}

/// # Errors
/// Only if the runtime cannot build a response.
pub fn script() -> Result<Response, ApiError> {
    page(JS, "text/javascript; charset=utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_in_every_language() {
        for lang in locale::LANGUAGES {
            let html = render(HTML, lang, &Branding::default(), "Acme <Login>");
            assert!(!html.contains("{{") && !html.contains("}}"), "{lang}");
            assert!(html.contains(&format!("<html lang=\"{lang}\">")));
            assert!(html.contains("<h1 id=\"page-title\"><span>Acme &lt;Login&gt;</span></h1>"));
            // Every key of the template is in the catalog (an empty fill would mean one is missing).
            for part in HTML.split("{{").skip(1) {
                let key = part.split("}}").next().unwrap_or("");
                if !matches!(key, "lang" | "strings") && !key.starts_with("brand.") {
                    assert!(
                        locale::catalog(lang).page.contains_key(key),
                        "{lang} lacks {key}"
                    );
                }
            }
        }
        let none = Branding::default();
        assert!(render(HTML, "de", &none, "x").contains("Mit Passkey anmelden"));
        assert!(render(HTML, "en", &none, "x").contains("Sign in with a passkey"));
    }

    #[test]
    fn a_brand_shows_its_name_logo_and_colours() {
        let brand = Branding {
            name: Some("Acme \"Cloud\"".into()),
            logo: Some("data:image/svg+xml;base64,PHN2Zy8+".into()),
            accent: Some("#0a58ca".into()),
            accent_dark: Some("#8ab4f8".into()),
        };
        let html = render(HTML, "en", &brand, "Tessera");
        assert!(html.contains("<img id=\"brand-logo\" src=\"data:image/svg+xml;base64,PHN2Zy8+\" alt=\"\"><span>Acme &quot;Cloud&quot;</span>"));
        assert!(html.contains("<title>Sign in — Acme &quot;Cloud&quot;</title>"));
        assert!(html.contains(":root { --accent: #0a58ca; }"));
        assert!(
            html.contains("@media (prefers-color-scheme: dark) { :root { --accent: #8ab4f8; } }")
        );
        assert!(!html.contains("Tessera</span>"));
    }

    #[test]
    fn the_script_words_cannot_end_their_block() {
        let mut c = Catalog::default();
        c.script
            .insert("k".into(), "</script><!-- \u{2028} \"".into());
        let json = script_words(&c);
        assert!(!json.contains('<') && !json.contains('\u{2028}'));
        let back: std::collections::BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back["k"], "</script><!-- \u{2028} \"");
    }

    #[test]
    fn an_unclosed_placeholder_is_left_as_it_is() {
        let none = Branding::default();
        assert_eq!(render("a {{ b", "en", &none, "x"), "a {{ b");
        assert_eq!(render("{{lang}}{{nope}}!", "de", &none, "x"), "de!");
    }
}
