//! Parsing the bytes a browser sends: `clientDataJSON` (§5.8.1), authenticator data (§6.1), the
//! attestation object (§6.5) and DER-encoded ECDSA signatures.

use ciborium::Value;
use serde::Deserialize;

use super::WebAuthnError;

/// `CollectedClientData` (§5.8.1); unknown members are allowed, as the spec requires.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientData {
    #[serde(rename = "type")]
    pub ceremony: String,
    pub challenge: String,
    pub origin: String,
    #[serde(default)]
    pub cross_origin: Option<bool>,
    #[serde(default)]
    pub top_origin: Option<String>,
}

pub(crate) fn client_data(bytes: &[u8]) -> Result<ClientData, WebAuthnError> {
    if bytes.len() > 8 * 1024 {
        return Err(WebAuthnError::ClientDataMalformed(
            "larger than 8 KiB".to_owned(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| WebAuthnError::ClientDataMalformed(e.to_string()))
}

/// The flags byte of authenticator data (§6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    pub const UP: u8 = 0x01;
    pub const UV: u8 = 0x04;
    pub const BE: u8 = 0x08;
    pub const BS: u8 = 0x10;
    pub const AT: u8 = 0x40;
    pub const ED: u8 = 0x80;

    #[must_use]
    pub fn user_present(self) -> bool {
        self.0 & Self::UP != 0
    }
    #[must_use]
    pub fn user_verified(self) -> bool {
        self.0 & Self::UV != 0
    }
    #[must_use]
    pub fn backup_eligible(self) -> bool {
        self.0 & Self::BE != 0
    }
    #[must_use]
    pub fn backed_up(self) -> bool {
        self.0 & Self::BS != 0
    }
    #[must_use]
    pub fn attested_credential_data(self) -> bool {
        self.0 & Self::AT != 0
    }
    #[must_use]
    pub fn extension_data(self) -> bool {
        self.0 & Self::ED != 0
    }
}

/// Attested credential data (§6.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    /// The COSE_Key exactly as the authenticator encoded it.
    pub public_key_cose: Vec<u8>,
}

/// Parsed authenticator data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: Flags,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
}

fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], WebAuthnError> {
    if rest.len() < n {
        return Err(WebAuthnError::AuthenticatorDataMalformed(format!(
            "too short for {what}"
        )));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// One CBOR item from the front of `rest`, advancing it; returns the item and its exact bytes.
fn cbor_item<'a>(rest: &mut &'a [u8], what: &str) -> Result<(Value, &'a [u8]), WebAuthnError> {
    let before: &'a [u8] = rest;
    let mut reader: &'a [u8] = rest;
    let value: Value = ciborium::de::from_reader(&mut reader).map_err(|e| {
        WebAuthnError::AuthenticatorDataMalformed(format!("{what} is not CBOR: {e}"))
    })?;
    let used = before.len() - reader.len();
    *rest = reader;
    Ok((value, before.get(..used).unwrap_or_default()))
}

impl AuthenticatorData {
    /// # Errors
    /// [`WebAuthnError::AuthenticatorDataMalformed`] on truncation, trailing bytes, or flags (AT, ED) that
    /// disagree with the data present. Reserved flag bits are ignored, as the spec says.
    pub fn parse(bytes: &[u8]) -> Result<Self, WebAuthnError> {
        let mut rest = bytes;
        let rp_id_hash: [u8; 32] = take(&mut rest, 32, "the RP ID hash")?
            .try_into()
            .map_err(|_| WebAuthnError::AuthenticatorDataMalformed("rpIdHash".to_owned()))?;
        let flags = Flags(
            take(&mut rest, 1, "the flags")?
                .first()
                .copied()
                .unwrap_or(0),
        );
        let count: [u8; 4] = take(&mut rest, 4, "the signature counter")?
            .try_into()
            .map_err(|_| WebAuthnError::AuthenticatorDataMalformed("signCount".to_owned()))?;
        let attested = if flags.attested_credential_data() {
            let aaguid: [u8; 16] = take(&mut rest, 16, "the AAGUID")?
                .try_into()
                .map_err(|_| WebAuthnError::AuthenticatorDataMalformed("aaguid".to_owned()))?;
            let len_bytes = take(&mut rest, 2, "the credential id length")?;
            let len = usize::from(u16::from_be_bytes([
                len_bytes.first().copied().unwrap_or(0),
                len_bytes.get(1).copied().unwrap_or(0),
            ]));
            let credential_id = take(&mut rest, len, "the credential id")?.to_vec();
            let (_, key_bytes) = cbor_item(&mut rest, "the credential public key")?;
            Some(AttestedCredential {
                aaguid,
                credential_id,
                public_key_cose: key_bytes.to_vec(),
            })
        } else {
            None
        };
        if flags.extension_data() {
            let (value, _) = cbor_item(&mut rest, "the extensions")?;
            if !matches!(value, Value::Map(_)) {
                return Err(WebAuthnError::AuthenticatorDataMalformed(
                    "extensions are not a CBOR map".to_owned(),
                ));
            }
        }
        if !rest.is_empty() {
            return Err(WebAuthnError::AuthenticatorDataMalformed(format!(
                "{} unexpected trailing bytes (flags {:#04x})",
                rest.len(),
                flags.0
            )));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count: u32::from_be_bytes(count),
            attested,
        })
    }
}

/// The attestation object (§6.5): `fmt`, `attStmt`, `authData`.
pub(crate) struct AttestationObject {
    pub fmt: String,
    pub statement: Vec<(Value, Value)>,
    pub auth_data: Vec<u8>,
}

fn malformed(detail: impl Into<String>) -> WebAuthnError {
    WebAuthnError::AttestationMalformed(detail.into())
}

pub(crate) fn attestation_object(bytes: &[u8]) -> Result<AttestationObject, WebAuthnError> {
    if bytes.len() > 64 * 1024 {
        return Err(malformed("larger than 64 KiB"));
    }
    let mut reader = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut reader).map_err(|e| malformed(format!("not CBOR: {e}")))?;
    if !reader.is_empty() {
        return Err(malformed("trailing bytes after the CBOR map"));
    }
    let Value::Map(entries) = value else {
        return Err(malformed("not a CBOR map"));
    };
    let (mut fmt, mut statement, mut auth_data) = (None, None, None);
    for (k, v) in entries {
        let Value::Text(key) = k else {
            return Err(malformed("a key is not text"));
        };
        let slot_taken = match (key.as_str(), v) {
            ("fmt", Value::Text(t)) => fmt.replace(t).is_some(),
            ("attStmt", Value::Map(m)) => statement.replace(m).is_some(),
            ("authData", Value::Bytes(b)) => auth_data.replace(b).is_some(),
            ("fmt" | "attStmt" | "authData", _) => {
                return Err(malformed(format!("`{key}` has the wrong CBOR type")))
            }
            // Unknown members are ignored (forward compatibility, §6.5).
            _ => false,
        };
        if slot_taken {
            return Err(malformed(format!("`{key}` appears twice")));
        }
    }
    Ok(AttestationObject {
        fmt: fmt.ok_or_else(|| malformed("`fmt` is missing"))?,
        statement: statement.ok_or_else(|| malformed("`attStmt` is missing"))?,
        auth_data: auth_data.ok_or_else(|| malformed("`authData` is missing"))?,
    })
}

/// An ASN.1 DER `ECDSA-Sig-Value` (what WebAuthn ES256 signatures are) as the 64-byte `r || s` WebCrypto
/// and JOSE use. Strict DER: minimal lengths, no superfluous leading zeros, positive integers, no
/// trailing bytes.
///
/// # Errors
/// [`WebAuthnError::SignatureMalformed`].
pub fn der_signature_to_raw(der: &[u8]) -> Result<[u8; 64], WebAuthnError> {
    let bad = |d: &str| WebAuthnError::SignatureMalformed(d.to_owned());
    let (&tag, rest) = der.split_first().ok_or_else(|| bad("empty"))?;
    let (&len, body) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    if tag != 0x30 || len >= 0x80 || usize::from(len) != body.len() {
        return Err(bad("not a DER SEQUENCE of the right length"));
    }
    let mut out = [0u8; 64];
    let mut rest = body;
    for half in 0..2 {
        let (&t, r) = rest.split_first().ok_or_else(|| bad("truncated integer"))?;
        let (&l, r) = r.split_first().ok_or_else(|| bad("truncated integer"))?;
        let l = usize::from(l);
        if t != 0x02 || l == 0 || l > 33 || r.len() < l {
            return Err(bad("not a DER INTEGER of at most 33 bytes"));
        }
        let (int, after) = r.split_at(l);
        let first = int.first().copied().unwrap_or(0);
        if first & 0x80 != 0 {
            return Err(bad("negative INTEGER"));
        }
        if first == 0 && int.get(1).is_some_and(|b| b & 0x80 == 0) {
            return Err(bad("INTEGER with a superfluous leading zero"));
        }
        let digits = if first == 0 && l > 1 {
            int.get(1..).unwrap_or_default()
        } else {
            int
        };
        if digits.len() > 32 {
            return Err(bad("INTEGER wider than 256 bits"));
        }
        let start = half * 32 + (32 - digits.len());
        out.get_mut(start..start + digits.len())
            .ok_or_else(|| bad("INTEGER out of range"))?
            .copy_from_slice(digits);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes after the SEQUENCE"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn der_round_trips_and_rejects_non_der() {
        // r = 1, s = 0x80 (needs a leading zero).
        let der = [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80];
        let raw = der_signature_to_raw(&der).unwrap();
        assert_eq!(raw[31], 1);
        assert_eq!(raw[63], 0x80);
        assert!(raw[..31].iter().all(|b| *b == 0));
        for bad in [
            &[][..],
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x80][..], // negative s
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01][..], // superfluous zero
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00][..], // trailing byte
            &[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01][..], // wrong tag
            &[0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01][..], // long-form length
            &[0x30, 0x03, 0x02, 0x01, 0x01][..],                   // one integer
        ] {
            assert!(der_signature_to_raw(bad).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn authenticator_data_must_be_exact() {
        let mut bytes = vec![7u8; 32];
        bytes.push(Flags::UP);
        bytes.extend_from_slice(&5u32.to_be_bytes());
        let parsed = AuthenticatorData::parse(&bytes).unwrap();
        assert_eq!(parsed.sign_count, 5);
        assert!(parsed.flags.user_present() && parsed.attested.is_none());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(AuthenticatorData::parse(&trailing).is_err());
        assert!(AuthenticatorData::parse(&bytes[..36]).is_err());
        // AT set but no credential data follows.
        let mut at = bytes.clone();
        at[32] |= Flags::AT;
        assert!(AuthenticatorData::parse(&at).is_err());
        // ED set: an empty CBOR map is fine, anything else is not.
        let mut ed = bytes.clone();
        ed[32] |= Flags::ED;
        ed.push(0xa0);
        assert!(AuthenticatorData::parse(&ed).is_ok());
        let last = ed.len() - 1;
        ed[last] = 0x01;
        assert!(AuthenticatorData::parse(&ed).is_err());
    }
}
