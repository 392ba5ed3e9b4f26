//! The login page's languages: English and German, chosen by `Accept-Language` (RFC 9110 §12.5.4) or
//! `?lang=`, and the catalogs of their words (`static/locales/*.json`: `page`, the words the HTML is
//! rendered with here; `script`, the words the page's script says, handed to it in the page).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The languages the page speaks; the first is the default.
pub const LANGUAGES: &[&str] = &["en", "de"];

const CATALOGS: [&str; 2] = [
    include_str!("../../static/locales/en.json"),
    include_str!("../../static/locales/de.json"),
];

/// One language's words.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Rendered into the HTML (`{{key}}`).
    pub page: BTreeMap<String, String>,
    /// Given to the page's script (`t(key)`), with `error.<code>` for the edge's refusals.
    pub script: BTreeMap<String, String>,
}

/// The catalog of `lang` (one of [`LANGUAGES`]; anything else is the default's).
#[must_use]
pub fn catalog(lang: &str) -> &'static Catalog {
    static PARSED: OnceLock<Vec<Catalog>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        CATALOGS
            .iter()
            // A catalog that does not parse is a build mistake the tests catch; never a panic here.
            .map(|text| serde_json::from_str(text).unwrap_or_default())
            .collect()
    });
    let index = LANGUAGES.iter().position(|l| *l == lang).unwrap_or(0);
    static EMPTY: Catalog = Catalog {
        page: BTreeMap::new(),
        script: BTreeMap::new(),
    };
    all.get(index).unwrap_or(&EMPTY)
}

/// The language to answer in: `asked` (`?lang=`) when the page speaks it, else the most preferred of
/// `accept_language` that it speaks (by primary subtag: `de-AT` is `de`), else the default.
#[must_use]
pub fn negotiate(accept_language: &str, asked: Option<&str>) -> &'static str {
    let speaks = |tag: &str| -> Option<&'static str> {
        let primary = tag.split('-').next().unwrap_or("").trim();
        LANGUAGES
            .iter()
            .find(|l| l.eq_ignore_ascii_case(primary))
            .copied()
    };
    if let Some(lang) = asked.and_then(speaks) {
        return lang;
    }
    let mut best: Option<(u16, &'static str)> = None;
    for range in accept_language.split(',').take(32) {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let mut weight = 1000_u16;
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    weight = quality(value.trim()).unwrap_or(0);
                }
            }
        }
        if weight == 0 {
            continue;
        }
        let chosen = if tag == "*" {
            LANGUAGES.first().copied()
        } else {
            speaks(tag)
        };
        if let Some(lang) = chosen {
            // The first of equal weights wins.
            if best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
    }
    best.map_or(LANGUAGES.first().copied().unwrap_or("en"), |(_, l)| l)
}

/// A quality value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0_u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_preferred_language_spoken_wins() {
        for (header, asked, want) in [
            ("", None, "en"),
            ("de", None, "de"),
            ("de-AT,de;q=0.9,en;q=0.8", None, "de"),
            ("fr-FR,fr;q=0.9,de;q=0.8,en;q=0.7", None, "de"),
            ("en-US,en;q=0.9,de;q=0.8", None, "en"),
            ("fr, de;q=0.1, en;q=0.2", None, "en"),
            ("de;q=0, en", None, "en"),
            ("DE-de", None, "de"),
            ("*", None, "en"),
            ("fr, ja", None, "en"),
            ("de;q=1.5, en;q=0.5", None, "en"),
            ("de;q=abc, en;q=0.5", None, "en"),
            ("en", Some("de"), "de"),
            ("de", Some("xx"), "de"),
            ("de", Some(""), "de"),
            (";;;,,,=;q=", None, "en"),
            ("ü-ö;q=0.5,de;q=0.4", None, "de"),
        ] {
            assert_eq!(negotiate(header, asked), want, "{header:?} {asked:?}");
        }
    }

    #[test]
    fn qualities_are_read_exactly() {
        assert_eq!(quality("1"), Some(1000));
        assert_eq!(quality("1.000"), Some(1000));
        assert_eq!(quality("0.5"), Some(500));
        assert_eq!(quality("0.125"), Some(125));
        assert_eq!(quality("0"), Some(0));
        for bad in ["1.5", "0.1234", "2", "", ".5", "0.x", "-0.5"] {
            assert_eq!(quality(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_language_has_every_word() {
        let en = catalog("en");
        assert!(en.page.len() > 40 && en.script.len() > 60);
        for lang in LANGUAGES {
            let c = catalog(lang);
            assert_eq!(
                c.page.keys().collect::<Vec<_>>(),
                en.page.keys().collect::<Vec<_>>(),
                "{lang}"
            );
            for key in en.script.keys() {
                assert!(c.script.contains_key(key), "{lang} lacks {key}");
            }
            for (key, text) in c.page.iter().chain(&c.script) {
                assert!(!text.trim().is_empty(), "{lang} {key}");
                // Sentence case: the first letter outside `{values}` is a capital, unless the text
                // continues a sentence (a value first, or `; ...` after one) or is a file name.
                let words: String = text
                    .split('{')
                    .map(|part| part.split_once('}').map_or(part, |(_, rest)| rest))
                    .collect();
                let first = words.chars().find(|c| c.is_alphabetic());
                let lead = text
                    .chars()
                    .find(|c| c.is_alphanumeric() || matches!(c, '{' | ';'));
                let continues = matches!(lead, Some('{' | ';')) || key == "consent.wants";
                assert!(
                    first.is_none_or(char::is_uppercase) || continues || text.ends_with(".txt"),
                    "{lang} {key}: sentence case: {text:?}"
                );
            }
        }
        // Every `{value}` a translation names is one the English text names.
        for lang in LANGUAGES {
            for (key, text) in &catalog(lang).script {
                let Some(english) = en.script.get(key) else {
                    assert!(key.starts_with("error."), "{lang} {key}");
                    continue;
                };
                for part in text.split('{').skip(1) {
                    let name = part.split('}').next().unwrap_or("");
                    assert!(
                        english.contains(&format!("{{{name}}}")),
                        "{lang} {key}: {{{name}}}"
                    );
                }
            }
        }
    }
}
