//! RFC 4648 §6 base32 (upper-case alphabet, no padding), the text form of TOTP secrets.
//!
//! Written here rather than taken from a general encoding crate: that crate's table-driven decoder
//! was 53 KiB of the edge Worker's wasm for the one alphabet TOTP needs. Decoding is strict: only
//! the 32 upper-case symbols, only the lengths a whole number of bytes can have (not 1, 3 or 6
//! symbols past a multiple of 8), and the unused low bits of the last symbol must be zero, so that
//! each secret has exactly one text form.

use zeroize::{Zeroize, Zeroizing};

/// The symbol of the low five bits of `bits`: `A`–`Z` for 0–25, `2`–`7` for 26–31.
fn symbol(bits: u16) -> char {
    // The mask leaves 0..=31, which fits a byte.
    let value = u8::try_from(bits & 0x1f).unwrap_or(0);
    char::from(if value < 26 {
        b'A' + value
    } else {
        b'2' + (value - 26)
    })
}

/// The text of `bytes`, without padding. Zeroized on drop: it is the secret in another form.
#[must_use]
pub(crate) fn encode(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(5) * 8));
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(buffer >> bits));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(symbol(buffer << (5 - bits)));
    }
    buffer.zeroize();
    out
}

/// The bytes of `text` (upper-case symbols only, no padding), or `None` when it is not the
/// canonical base32 of any byte string.
pub(crate) fn decode(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8));
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &symbol in text {
        let value = match symbol {
            b'A'..=b'Z' => symbol - b'A',
            b'2'..=b'7' => symbol - b'2' + 26,
            _ => {
                buffer.zeroize();
                return None;
            }
        };
        buffer = (buffer << 5) | u16::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            // The shift leaves at most 8 significant bits.
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap_or(0));
            buffer &= (1 << bits) - 1;
        }
    }
    // Left over: fewer than 5 bits, which must all be zero for the text to be canonical.
    let canonical = buffer == 0;
    buffer.zeroize();
    canonical.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    fn enc(bytes: &[u8]) -> String {
        encode(bytes).to_string()
    }

    fn dec(text: &str) -> Option<Vec<u8>> {
        decode(text.as_bytes()).map(|b| b.to_vec())
    }

    #[test]
    fn rfc_4648_section_10_without_padding() {
        for (plain, coded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(enc(plain.as_bytes()), coded, "{plain:?}");
            assert_eq!(dec(coded).as_deref(), Some(plain.as_bytes()), "{coded:?}");
        }
    }

    #[test]
    fn round_trips_every_length_and_agrees_with_data_encoding() {
        let mut bytes = Vec::new();
        for len in 0..=70u8 {
            let text = enc(&bytes);
            assert_eq!(
                text,
                data_encoding::BASE32_NOPAD.encode(&bytes),
                "len {len}"
            );
            assert_eq!(dec(&text).as_deref(), Some(bytes.as_slice()), "len {len}");
            bytes.push(len.wrapping_mul(151).wrapping_add(7));
        }
    }

    #[test]
    fn refuses_what_is_not_canonical_base32() {
        for bad in [
            "A",             // 1 symbol past a multiple of 8: no whole byte
            "MZX",           // 3
            "MZXW6Y",        // 6
            "MZ",            // "f" is "MY": Z sets unused low bits
            "MZXR",          // same for 2 bytes
            "my",            // lower case is the caller's to fold
            "MY======",      // padding is the caller's to strip
            "M1",            // 1 is not in the alphabet
            "MZXW6YT\u{e9}", // not ASCII
        ] {
            assert_eq!(dec(bad), None, "{bad:?}");
            assert!(
                data_encoding::BASE32_NOPAD.decode(bad.as_bytes()).is_err(),
                "the oracle accepts {bad:?}"
            );
        }
    }

    #[test]
    fn agrees_with_data_encoding_on_every_two_symbol_text() {
        let symbols: Vec<u8> = (0u8..=255).collect();
        for &a in &symbols {
            for &b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=a0 " {
                let text = [b'M', b'Z', b'X', b'W', b'6', b'Y', a, b];
                let ours = decode(&text).map(|v| v.to_vec());
                let theirs = data_encoding::BASE32_NOPAD.decode(&text).ok();
                assert_eq!(ours, theirs, "{text:?}");
            }
        }
    }
}
