//! Encrypted assertions (XML Encryption 1.1 as SAML uses it): an `EncryptedAssertion` whose content key
//! is wrapped with RSA-OAEP for our service provider's key, and whose assertion is encrypted with
//! AES-GCM or AES-CBC.
//!
//! - **Accepted.** Key transport `rsa-oaep-mgf1p` (XML Enc 1.0) and `rsa-oaep` (1.1), with SHA-1 or
//!   SHA-256 as the OAEP digest and MGF1 with SHA-1 or SHA-256 (SHA-1 inside OAEP is not a signature
//!   and is what most identity providers send); content `aes128-gcm`, `aes256-gcm`, `aes128-cbc`,
//!   `aes256-cbc`. Refused by name before any decryption: `rsa-1_5` (Bleichenbacher), 3DES, anything
//!   else ([`Code::SamlAlgorithmRefused`]).
//! - **One uniform failure.** Every failure from unwrapping the key to reading the decrypted assertion
//!   is [`DecryptError`] with one code (`saml_decryption_failed`) and one message; the reason is kept
//!   for the log only ([`DecryptError::detail`]). When RSA-OAEP fails, decryption goes on with a random
//!   key (as TLS does against Bleichenbacher), so that failing to unwrap and failing to decrypt take the
//!   same path. After an AES-CBC decryption, which does not authenticate, *every* later refusal of the
//!   decrypted assertion (not well-formed, a bad signature, ...) is this same failure too. AES-GCM
//!   authenticates the ciphertext, so after it refusals keep their own codes.
//! - **No CBC oracle at all.** Uniform answers do not hide time, and the padding and well-formedness
//!   oracles of Jager and Somorovsky (CCS 2011) need only a timing difference; so AES-CBC is accepted
//!   only when the response's signature, verified before decryption, covers the `EncryptedAssertion`
//!   (nobody can then submit a ciphertext of their own). Outside a signed response it is refused by
//!   name (`saml_algorithm_refused`).
//! - **One document.** The decrypted assertion is put where the `EncryptedAssertion` stood (so it is
//!   read in its namespace context) and the result is parsed once, strictly, by the same reader; every
//!   value comes from that parse, and only after the assertion's own signature verified there.
//!
//! The caller supplies the randomness (RSA blinding and the stand-in key): this core draws none.

use cbc::cipher::{BlockDecryptMut as _, KeyIvInit as _};
use rsa::rand_core::TryCryptoRng;
use tessera_proto::{Code, UnixTime};

use crate::dsig::{own_signature, verify_enveloped, SignatureError};
use crate::reader::{base64_text, ns, Limits, ReadError, UntrustedXml, XmlElement};
use crate::response::{judge, Expectations, ResponseError, ResponseSignature, VerifiedLogin};

/// Algorithm identifiers (URIs) of XML Encryption.
pub mod alg {
    pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
    pub const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
    pub const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";
    pub const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";
    pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
    pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
    pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    pub const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
    pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
    /// XML Encryption 1.1's namespace (its `MGF` element).
    pub const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
}

/// How the assertion was encrypted (which decides whether later refusals must be uniform).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCipher {
    Aes128Gcm,
    Aes256Gcm,
    Aes128Cbc,
    Aes256Cbc,
}

impl ContentCipher {
    fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            alg::AES128_GCM => Some(Self::Aes128Gcm),
            alg::AES256_GCM => Some(Self::Aes256Gcm),
            alg::AES128_CBC => Some(Self::Aes128Cbc),
            alg::AES256_CBC => Some(Self::Aes256Cbc),
            _ => None,
        }
    }

    const fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm | Self::Aes128Cbc => 16,
            Self::Aes256Gcm | Self::Aes256Cbc => 32,
        }
    }

    /// Whether the cipher authenticates the ciphertext (GCM) or not (CBC).
    #[must_use]
    pub const fn authenticated(self) -> bool {
        matches!(self, Self::Aes128Gcm | Self::Aes256Gcm)
    }
}

/// Why an encrypted assertion could not be read. Shown to anyone as one message; the detail is for
/// the log.
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptError {
    detail: String,
}

impl DecryptError {
    pub(crate) fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
        }
    }

    /// Always `saml_decryption_failed`.
    #[must_use]
    pub fn code(&self) -> Code {
        Code::SamlDecryptionFailed
    }

    /// What really failed, for the log (never for the client).
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Debug for DecryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecryptError({})", self.detail)
    }
}

impl std::fmt::Display for DecryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the encrypted assertion could not be decrypted")
    }
}

impl std::error::Error for DecryptError {}

/// The parameters of one `EncryptedAssertion`, read and checked before any decryption.
pub(crate) struct Envelope {
    oaep: Oaep,
    wrapped_key: Vec<u8>,
    pub(crate) cipher: ContentCipher,
    ciphertext: Vec<u8>,
}

#[derive(Clone, Copy)]
enum OaepDigest {
    Sha1,
    Sha256,
}

#[derive(Clone, Copy)]
struct Oaep {
    digest: OaepDigest,
    mgf: OaepDigest,
}

/// A refusal of the envelope before decryption: an algorithm by name (its own code), or its shape.
pub(crate) enum EnvelopeError {
    Algorithm(String),
    Shape(DecryptError),
}

impl From<ReadError> for EnvelopeError {
    fn from(e: ReadError) -> Self {
        Self::Shape(DecryptError::new(e.to_string()))
    }
}

fn base64_of(element: XmlElement<'_, '_>) -> Result<Vec<u8>, EnvelopeError> {
    base64_text(element.text()?)
        .ok_or_else(|| EnvelopeError::Shape(DecryptError::new("CipherValue is not base64")))
}

fn cipher_value(parent: XmlElement<'_, '_>) -> Result<Vec<u8>, EnvelopeError> {
    base64_of(
        parent
            .only_child(ns::XENC, "CipherData")?
            .only_child(ns::XENC, "CipherValue")?,
    )
}

/// Reads an `EncryptedAssertion`: its `EncryptedData`, and the `EncryptedKey` inside the data's
/// `KeyInfo` or beside the data (both are common).
pub(crate) fn read_envelope(encrypted: XmlElement<'_, '_>) -> Result<Envelope, EnvelopeError> {
    let data = encrypted.only_child(ns::XENC, "EncryptedData")?;
    let method = data
        .only_child(ns::XENC, "EncryptionMethod")?
        .required_attribute("Algorithm")?;
    let cipher = ContentCipher::from_uri(method)
        .ok_or_else(|| EnvelopeError::Algorithm(method.to_owned()))?;
    let inside = match data.optional_child(ns::DS, "KeyInfo")? {
        Some(info) => info.optional_child(ns::XENC, "EncryptedKey")?,
        None => None,
    };
    let key = match inside {
        Some(key) => key,
        None => encrypted.only_child(ns::XENC, "EncryptedKey")?,
    };
    let transport = key.only_child(ns::XENC, "EncryptionMethod")?;
    let oaep = read_oaep(transport)?;
    Ok(Envelope {
        oaep,
        wrapped_key: cipher_value(key)?,
        cipher,
        ciphertext: cipher_value(data)?,
    })
}

fn read_oaep(method: XmlElement<'_, '_>) -> Result<Oaep, EnvelopeError> {
    let uri = method.required_attribute("Algorithm")?;
    let digest = match method.optional_child(ns::DS, "DigestMethod")? {
        None => OaepDigest::Sha1,
        Some(d) => match d.required_attribute("Algorithm")? {
            alg::SHA1 => OaepDigest::Sha1,
            alg::SHA256 => OaepDigest::Sha256,
            other => return Err(EnvelopeError::Algorithm(other.to_owned())),
        },
    };
    match uri {
        alg::RSA_OAEP_MGF1P => Ok(Oaep {
            digest,
            mgf: OaepDigest::Sha1,
        }),
        alg::RSA_OAEP => {
            let mgf = match method.optional_child(alg::XENC11, "MGF")? {
                None => OaepDigest::Sha1,
                Some(m) => match m.required_attribute("Algorithm")? {
                    alg::MGF1_SHA1 => OaepDigest::Sha1,
                    alg::MGF1_SHA256 => OaepDigest::Sha256,
                    other => return Err(EnvelopeError::Algorithm(other.to_owned())),
                },
            };
            Ok(Oaep { digest, mgf })
        }
        other => Err(EnvelopeError::Algorithm(other.to_owned())),
    }
}

/// Unwraps the content key and decrypts the assertion's bytes. On an OAEP failure a random key stands
/// in, so the failure surfaces at the same later step as a bad ciphertext.
pub(crate) fn decrypt<R: TryCryptoRng + ?Sized>(
    envelope: &Envelope,
    key: &rsa::PrivateKey,
    rng: &mut R,
) -> Result<Vec<u8>, DecryptError> {
    use rsa::sha2::Sha256;
    use sha1::Sha1;
    let wrapped = &envelope.wrapped_key;
    let unwrapped = match (envelope.oaep.digest, envelope.oaep.mgf) {
        (OaepDigest::Sha1, OaepDigest::Sha1) => {
            key.decrypt_blinded(rng, rsa::Oaep::<Sha1>::new(), wrapped)
        }
        (OaepDigest::Sha256, OaepDigest::Sha256) => {
            key.decrypt_blinded(rng, rsa::Oaep::<Sha256>::new(), wrapped)
        }
        (OaepDigest::Sha256, OaepDigest::Sha1) => {
            key.decrypt_blinded(rng, rsa::Oaep::<Sha256, Sha1>::new_with_mgf_hash(), wrapped)
        }
        (OaepDigest::Sha1, OaepDigest::Sha256) => {
            key.decrypt_blinded(rng, rsa::Oaep::<Sha1, Sha256>::new_with_mgf_hash(), wrapped)
        }
    };
    let len = envelope.cipher.key_len();
    let (content_key, unwrap_failed) = match unwrapped {
        Ok(k) if k.len() == len => (k, None),
        other => {
            let mut stand_in = vec![0u8; len];
            rng.try_fill_bytes(&mut stand_in)
                .map_err(|_| DecryptError::new("no randomness for the stand-in key"))?;
            let why = match other {
                Ok(k) => format!("unwrapped key is {} bytes, not {len}", k.len()),
                Err(e) => format!("RSA-OAEP: {e}"),
            };
            (stand_in, Some(why))
        }
    };
    let decrypted = decrypt_content(envelope.cipher, &content_key, &envelope.ciphertext);
    match (unwrap_failed, decrypted) {
        (None, Ok(plain)) => Ok(plain),
        (Some(why), _) => Err(DecryptError::new(why)),
        (None, Err(why)) => Err(DecryptError::new(why)),
    }
}

fn decrypt_content(cipher: ContentCipher, key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    match cipher {
        ContentCipher::Aes128Gcm => gcm::<aes_gcm::Aes128Gcm>(key, data),
        ContentCipher::Aes256Gcm => gcm::<aes_gcm::Aes256Gcm>(key, data),
        ContentCipher::Aes128Cbc => cbc_decrypt::<aes::Aes128>(key, data),
        ContentCipher::Aes256Cbc => cbc_decrypt::<aes::Aes256>(key, data),
    }
}

/// AES-GCM as XML Encryption 1.1 §5.2.4 lays it out: a 96-bit IV, the ciphertext, a 128-bit tag.
fn gcm<C: aes_gcm::aead::Aead + aes_gcm::aead::KeyInit>(
    key: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let cipher = C::new_from_slice(key).map_err(|_| "content key length".to_owned())?;
    let (iv, sealed) = data
        .split_at_checked(12)
        .ok_or_else(|| "GCM data shorter than its IV".to_owned())?;
    let nonce = aes_gcm::aead::generic_array::GenericArray::from_slice(iv);
    cipher
        .decrypt(nonce, sealed)
        .map_err(|_| "AES-GCM tag does not verify".to_owned())
}

/// AES-CBC as XML Encryption §5.2.1 lays it out: a 128-bit IV, then whole blocks; the last byte of the
/// plaintext is the padding length (1–16), the other padding bytes are arbitrary.
fn cbc_decrypt<C>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, String>
where
    C: cbc::cipher::BlockDecryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
    cbc::Decryptor<C>: cbc::cipher::KeyIvInit + cbc::cipher::BlockDecryptMut,
{
    let (iv, body) = data
        .split_at_checked(16)
        .ok_or_else(|| "CBC data shorter than its IV".to_owned())?;
    if body.is_empty() || body.len() % 16 != 0 {
        return Err("CBC data is not whole blocks".to_owned());
    }
    let mut decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| "content key length".to_owned())?;
    let mut plain = body.to_vec();
    for block in plain.chunks_exact_mut(16) {
        decryptor.decrypt_block_mut(cbc::cipher::generic_array::GenericArray::from_mut_slice(
            block,
        ));
    }
    let pad = usize::from(plain.last().copied().unwrap_or(0));
    if pad == 0 || pad > 16 {
        return Err("CBC padding".to_owned());
    }
    plain.truncate(plain.len() - pad);
    Ok(plain)
}

/// [`verify_response`](crate::verify_response) for a service provider holding `key`: an `EncryptedAssertion` is decrypted (see
/// [`crate::encrypted`]) and judged in its place; a plain assertion is judged as by
/// [`verify_response`](crate::verify_response). `key` is asked for only when the response holds an `EncryptedAssertion` (the
/// caller may unseal it lazily); `rng` blinds the RSA operation and draws the stand-in key of a failed
/// unwrap.
///
/// AES-CBC, which does not authenticate, is accepted only when the response's signature (verified
/// before decryption) covers the `EncryptedAssertion`: then nobody can hand the decryptor a ciphertext
/// of their own, so no padding or well-formedness oracle can be probed, timing included. Outside a
/// signed response it is refused by name, before any decryption.
///
/// # Errors
/// The first rule broken, as a [`ResponseError`]; every decryption failure, and after AES-CBC every
/// later failure, as the one [`ResponseError::Decryption`].
pub fn verify_encrypted_response<'k, R, K, E>(
    bytes: &[u8],
    expect: &Expectations<'_>,
    key: K,
    rng: &mut R,
    now: UnixTime,
) -> Result<VerifiedLogin, ResponseError>
where
    R: TryCryptoRng + ?Sized,
    K: FnOnce() -> Result<&'k rsa::PrivateKey, E>,
    E: std::fmt::Display,
{
    let doc = UntrustedXml::parse(bytes, Limits::MESSAGE)?;
    let response = doc.root();
    let Some(encrypted) = encrypted_assertion(response)? else {
        return judge(&doc, expect, now, ResponseSignature::Check);
    };
    // The response's signature covers the encrypted form: checked here, before decryption.
    let response_signed_by = match own_signature(response)? {
        Some(_) => Some(verify_enveloped(response, expect.certificates)?),
        None => None,
    };
    let envelope = read_envelope(encrypted).map_err(|e| match e {
        EnvelopeError::Algorithm(uri) => SignatureError::AlgorithmRefused(uri).into(),
        EnvelopeError::Shape(e) => ResponseError::Decryption(e),
    })?;
    if !envelope.cipher.authenticated() && response_signed_by.is_none() {
        return Err(SignatureError::AlgorithmRefused(
            "AES-CBC outside a signed response (use AES-GCM, or sign the response)".into(),
        )
        .into());
    }
    let key = key().map_err(|e| ResponseError::Decryption(DecryptError::new(e.to_string())))?;
    let plain = decrypt(&envelope, key, rng).map_err(ResponseError::Decryption)?;
    let uniform = |e: ResponseError| {
        if envelope.cipher.authenticated() {
            e
        } else {
            ResponseError::Decryption(DecryptError::new(format!("after AES-CBC: {e}")))
        }
    };
    let plain = String::from_utf8(plain).map_err(|_| {
        uniform(ResponseError::Malformed(
            "the decrypted assertion is not UTF-8".into(),
        ))
    })?;
    let text = doc.text();
    let range = encrypted.range();
    let spliced = [
        text.get(..range.start).unwrap_or_default(),
        plain.as_str(),
        text.get(range.end..).unwrap_or_default(),
    ]
    .concat();
    let decrypted =
        UntrustedXml::parse(spliced.as_bytes(), Limits::MESSAGE).map_err(|e| uniform(e.into()))?;
    judge(
        &decrypted,
        expect,
        now,
        ResponseSignature::Verified(response_signed_by),
    )
    .map_err(uniform)
}

/// The response's one `EncryptedAssertion`, if it has one, after refusing a response that also holds a
/// plain assertion, a second encrypted one, or one anywhere but as its child.
fn encrypted_assertion<'a, 'input: 'a>(
    response: XmlElement<'a, 'input>,
) -> Result<Option<XmlElement<'a, 'input>>, ResponseError> {
    if !response.is(ns::SAMLP, "Response") {
        return Err(ResponseError::Malformed(format!(
            "the document is `{}`, not a samlp:Response",
            response.local_name()
        )));
    }
    let mut children = response.children_named(ns::SAML, "EncryptedAssertion");
    let Some(encrypted) = children.next() else {
        return Ok(None);
    };
    if children.next().is_some() {
        return Err(ResponseError::Wrapping(
            "the response holds more than one encrypted assertion".into(),
        ));
    }
    let response_signature = own_signature(response)?;
    for element in response.descendants() {
        let misplaced = element.is(ns::SAML, "Assertion")
            || element.is(ns::SAMLP, "Response")
            || (element.is(ns::SAML, "EncryptedAssertion") && element != encrypted)
            || (element.is(ns::DS, "Signature") && Some(element) != response_signature);
        if misplaced {
            return Err(ResponseError::Wrapping(format!(
                "a `{}` beside an encrypted assertion",
                element.local_name()
            )));
        }
    }
    Ok(Some(encrypted))
}
