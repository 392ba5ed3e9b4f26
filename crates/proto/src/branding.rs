//! A tenant's branding on the login page: the name people know the service by, a logo, and an accent
//! colour for light and dark mode (`GET`/`PUT /v1/tenants/{t}/branding` at the origin).
//!
//! [`Branding::check`] is the one gate: a name of 1 to 64 characters without control or invisible
//! characters; a logo only as a `data:` URL of a PNG, JPEG, WebP or SVG image in base64, at most
//! [`MAX_LOGO_BYTES`] (the page's CSP loads images from nowhere else, and an SVG in an `<img>` runs no
//! script); colours only as `#rrggbb`, each with enough contrast (WCAG 2.1, 4.5:1) for the page's text on
//! it and for it as link text on the page, so a brand cannot make the page unreadable.

use serde::{Deserialize, Serialize};

/// The largest logo, decoded.
pub const MAX_LOGO_BYTES: usize = 48 * 1024;

/// The page's light background and the text on an accent button there.
pub const LIGHT_BACKGROUND: Rgb = Rgb(0xff, 0xff, 0xff);
/// The page's dark background; on a dark-mode accent the button's text is this colour too.
pub const DARK_BACKGROUND: Rgb = Rgb(0x16, 0x16, 0x18);

/// The contrast WCAG 2.1 AA asks of text.
const MIN_CONTRAST: f64 = 4.5;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// Shown as the page's heading and title; absent: the edge's `RP_NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `data:image/png;base64,...` (or jpeg, webp, svg+xml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// Buttons and links in light mode, `#rrggbb` (white text on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    /// Buttons and links in dark mode, `#rrggbb` (dark text on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_dark: Option<String>,
}

/// A colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb` (either case), nothing else.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let [_, r, g, b] = u32::from_str_radix(hex, 16).ok()?.to_be_bytes();
        Some(Self(r, g, b))
    }

    /// WCAG 2.1 relative luminance.
    #[must_use]
    pub fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }

    /// WCAG 2.1 contrast ratio, 1 to 21.
    #[must_use]
    pub fn contrast(self, other: Self) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (light, dark) = if a > b { (a, b) } else { (b, a) };
        (light + 0.05) / (dark + 0.05)
    }
}

/// Why a branding was refused, for the person setting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrandingError(pub String);

impl std::fmt::Display for BrandingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Branding {
    /// The branding as it may be shown, or why not.
    ///
    /// # Errors
    /// A [`BrandingError`] naming the field and the rule.
    pub fn check(self) -> Result<Self, BrandingError> {
        let bad = |m: String| Err(BrandingError(m));
        if let Some(name) = &self.name {
            let invisible = |c: char| {
                c.is_control()
                    || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
            };
            if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(invisible) {
                return bad("`name` is 1 to 64 characters, without control or invisible formatting characters".into());
            }
        }
        if let Some(logo) = &self.logo {
            let data = ["png", "jpeg", "webp", "svg+xml"]
                .iter()
                .find_map(|t| logo.strip_prefix(&format!("data:image/{t};base64,")));
            let Some(data) = data else {
                return bad(
                    "`logo` is a `data:image/png;base64,...` URL (png, jpeg, webp or svg+xml)"
                        .into(),
                );
            };
            let trimmed = data.trim_end_matches('=');
            let base64 = data.len() % 4 == 0
                && data.len() - trimmed.len() <= 2
                && !trimmed.is_empty()
                && trimmed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
            if !base64 {
                return bad("`logo`'s data is not base64".into());
            }
            if trimmed.len() * 3 / 4 > MAX_LOGO_BYTES {
                return bad(format!(
                    "`logo` is larger than {} KiB",
                    MAX_LOGO_BYTES / 1024
                ));
            }
        }
        for (field, value, background) in [
            ("accent", &self.accent, LIGHT_BACKGROUND),
            ("accent_dark", &self.accent_dark, DARK_BACKGROUND),
        ] {
            let Some(text) = value else { continue };
            let Some(colour) = Rgb::parse(text) else {
                return bad(format!("`{field}` is a colour as `#rrggbb`"));
            };
            // Buttons: the background's colour as text on the accent; links: the accent on the background.
            let ratio = colour.contrast(background);
            if ratio < MIN_CONTRAST {
                return bad(format!(
                    "`{field}` {text} has a contrast of {ratio:.1}:1 with the page's {} background; at least {MIN_CONTRAST}:1 keeps buttons and links readable",
                    if field == "accent" { "light" } else { "dark" }
                ));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Branding)) -> Result<Branding, BrandingError> {
        let mut b = Branding::default();
        f(&mut b);
        b.check()
    }

    #[test]
    fn contrast_follows_wcag() {
        let white = Rgb(255, 255, 255);
        let black = Rgb(0, 0, 0);
        assert!((white.contrast(black) - 21.0).abs() < 1e-9);
        assert!((white.contrast(white) - 1.0).abs() < 1e-9);
        // #767676 on white is the well-known 4.54:1.
        assert!((Rgb(0x76, 0x76, 0x76).contrast(white) - 4.54).abs() < 0.01);
    }

    #[test]
    fn colours_are_hex_and_readable() {
        assert!(with(|b| b.accent = Some("#0A58CA".into())).is_ok());
        assert!(with(|b| b.accent_dark = Some("#8ab4f8".into())).is_ok());
        for bad in [
            "0a58ca",
            "#0a58c",
            "#0a58cag",
            "#0a58ca ",
            "red",
            "#ｆｆｆｆｆｆ",
            "",
        ] {
            assert!(with(|b| b.accent = Some(bad.into())).is_err(), "{bad:?}");
        }
        let low = with(|b| b.accent = Some("#ffcc00".into())).unwrap_err();
        assert!(low.0.contains("contrast"), "{low}");
        assert!(with(|b| b.accent_dark = Some("#1a1a80".into())).is_err());
    }

    #[test]
    fn names_and_logos_are_bounded() {
        assert!(with(|b| b.name = Some("Acme Cloud".into())).is_ok());
        for bad in ["", "  ", &"x".repeat(65), "a\u{0}b", "a\u{202e}b"] {
            assert!(with(|b| b.name = Some(bad.into())).is_err(), "{bad:?}");
        }
        assert!(with(|b| b.logo = Some("data:image/png;base64,iVBORw0KGgo=".into())).is_ok());
        assert!(with(|b| b.logo = Some("data:image/svg+xml;base64,PHN2Zy8+".into())).is_ok());
        for bad in [
            "https://example.com/logo.png",
            "data:text/html;base64,PGI+",
            "data:image/png,rawdata",
            "data:image/png;base64,",
            "data:image/png;base64,@@@@",
            "data:image/png;base64,abc",
            "data:image/png;base64,a===",
        ] {
            assert!(with(|b| b.logo = Some(bad.into())).is_err(), "{bad:?}");
        }
        let big = format!(
            "data:image/png;base64,{}",
            "A".repeat(MAX_LOGO_BYTES / 3 * 4 + 4)
        );
        assert!(with(|b| b.logo = Some(big)).is_err());
        let fits = format!(
            "data:image/png;base64,{}",
            "A".repeat(MAX_LOGO_BYTES / 3 * 4)
        );
        assert!(with(|b| b.logo = Some(fits)).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<Branding>(r#"{"name":"x","css":"body{}"}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Branding>("{}").unwrap(),
            Branding::default()
        );
    }
}
