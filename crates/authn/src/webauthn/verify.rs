//! The two ceremonies: §7.1 registration and §7.2 authentication.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ciborium::Value;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tessera_jose::{CryptoError, PublicJwk, Verifier as _};

use super::cose::CredentialPublicKey;
use super::parse::{attestation_object, client_data, der_signature_to_raw, AuthenticatorData};
use super::{
    RelyingParty, UserVerification, WebAuthnError, MAX_CREDENTIAL_ID_LEN, MIN_CREDENTIAL_ID_LEN,
};

/// A signature in the form its algorithm's verifier takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// `r || s`, converted from the DER the authenticator sent.
    Es256([u8; 64]),
    Ed25519([u8; 64]),
    /// RSASSA-PKCS1-v1_5, as long as the modulus.
    Rs256(Vec<u8>),
}

/// Checks a credential's signature. Implemented over WebCrypto at the edge and by [`NativeVerifier`].
#[allow(
    async_fn_in_trait,
    reason = "implemented over WebCrypto whose futures are not Send"
)]
pub trait SignatureVerifier {
    /// `Ok(true)` for a valid signature, `Ok(false)` for an invalid one, `Err` when the back-end failed.
    async fn verify(
        &self,
        key: &CredentialPublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<bool, CryptoError>;
}

/// Pure-Rust verification: ES256 through `tessera-jose`'s p256 verifier (the path tokens take natively),
/// Ed25519 through `ed25519-dalek` (strict: no small-order keys, canonical signatures), RS256 through
/// `rsa` (PKCS#1 v1.5, SHA-256).
pub struct NativeVerifier;

impl SignatureVerifier for NativeVerifier {
    async fn verify(
        &self,
        key: &CredentialPublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<bool, CryptoError> {
        match (key, signature) {
            (CredentialPublicKey::Es256 { x, y }, Signature::Es256(sig)) => {
                let Ok(jwk) = PublicJwk::from_coordinates(x, y) else {
                    return Ok(false);
                };
                tessera_jose::P256Verifier.verify(&jwk, message, sig).await
            }
            (CredentialPublicKey::Ed25519 { x }, Signature::Ed25519(sig)) => {
                let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(x) else {
                    return Ok(false);
                };
                let sig = ed25519_dalek::Signature::from_bytes(sig);
                Ok(key.verify_strict(message, &sig).is_ok())
            }
            (CredentialPublicKey::Rs256 { n, e }, Signature::Rs256(sig)) => {
                use rsa::signature::Verifier as _;
                let Ok(key) = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(n),
                    rsa::BigUint::from_bytes_be(e),
                ) else {
                    return Ok(false);
                };
                let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig.as_slice()) else {
                    return Ok(false);
                };
                Ok(rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                    .verify(message, &sig)
                    .is_ok())
            }
            _ => Ok(false),
        }
    }
}

/// What the browser sent back from `navigator.credentials.create()`, base64url-decoded.
pub struct RegistrationResponse<'a> {
    pub raw_id: &'a [u8],
    pub client_data_json: &'a [u8],
    pub attestation_object: &'a [u8],
}

/// How the credential's key was vouched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttestationKind {
    /// `none`: no statement.
    None,
    /// `packed` self-attestation: signed by the credential key itself.
    SelfAttestation,
}

/// A verified new credential, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCredential {
    pub id: Vec<u8>,
    pub public_key: CredentialPublicKey,
    /// The COSE_Key as the authenticator sent it (store this).
    pub public_key_cose: Vec<u8>,
    pub sign_count: u32,
    pub aaguid: [u8; 16],
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub attestation: AttestationKind,
}

/// What the browser sent back from `navigator.credentials.get()`, base64url-decoded.
pub struct AssertionResponse<'a> {
    pub raw_id: &'a [u8],
    pub client_data_json: &'a [u8],
    pub authenticator_data: &'a [u8],
    pub signature: &'a [u8],
    pub user_handle: Option<&'a [u8]>,
}

/// The stored credential an assertion claims to come from.
pub struct StoredCredential<'a> {
    pub id: &'a [u8],
    pub public_key_cose: &'a [u8],
    pub sign_count: u32,
    /// The `user.id` the credential was registered for.
    pub user_handle: &'a [u8],
    pub backup_eligible: bool,
}

/// A verified assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assertion {
    /// Store this as the credential's counter.
    pub sign_count: u32,
    pub user_verified: bool,
    pub backed_up: bool,
}

fn check_client_data(
    rp: &RelyingParty,
    bytes: &[u8],
    ceremony: &str,
    challenge: &[u8],
) -> Result<(), WebAuthnError> {
    let c = client_data(bytes)?;
    if c.ceremony != ceremony {
        return Err(WebAuthnError::WrongCeremony(c.ceremony));
    }
    let presented = URL_SAFE_NO_PAD
        .decode(c.challenge.as_bytes())
        .map_err(|_| WebAuthnError::ChallengeMismatch)?;
    if presented.is_empty() || !bool::from(presented.ct_eq(challenge)) {
        return Err(WebAuthnError::ChallengeMismatch);
    }
    if !rp.origins.contains(&c.origin) {
        return Err(WebAuthnError::OriginNotAllowed(c.origin));
    }
    match (c.cross_origin == Some(true), c.top_origin) {
        (false, None) => Ok(()),
        (false, Some(top)) => Err(WebAuthnError::TopOriginNotAllowed(top)),
        (true, _) if rp.top_origins.is_empty() => Err(WebAuthnError::CrossOriginNotAllowed),
        (true, Some(top)) if rp.top_origins.contains(&top) => Ok(()),
        (true, top) => Err(WebAuthnError::TopOriginNotAllowed(top.unwrap_or_default())),
    }
}

fn check_flags(rp: &RelyingParty, data: &AuthenticatorData) -> Result<(), WebAuthnError> {
    if !bool::from(data.rp_id_hash.ct_eq(&rp.id_hash())) {
        return Err(WebAuthnError::RpIdMismatch);
    }
    if !data.flags.user_present() {
        return Err(WebAuthnError::UserNotPresent);
    }
    if rp.user_verification == UserVerification::Required && !data.flags.user_verified() {
        return Err(WebAuthnError::UserNotVerified);
    }
    if data.flags.backed_up() && !data.flags.backup_eligible() {
        return Err(WebAuthnError::BackupStateInvalid(
            "BS is set but BE is not".to_owned(),
        ));
    }
    Ok(())
}

fn signature_for(key: &CredentialPublicKey, bytes: &[u8]) -> Result<Signature, WebAuthnError> {
    match key {
        CredentialPublicKey::Es256 { .. } => der_signature_to_raw(bytes).map(Signature::Es256),
        CredentialPublicKey::Ed25519 { .. } => <[u8; 64]>::try_from(bytes)
            .map(Signature::Ed25519)
            .map_err(|_| {
                WebAuthnError::SignatureMalformed("an Ed25519 signature is 64 bytes".to_owned())
            }),
        CredentialPublicKey::Rs256 { n, .. } if bytes.len() == n.len() => {
            Ok(Signature::Rs256(bytes.to_vec()))
        }
        CredentialPublicKey::Rs256 { n, .. } => Err(WebAuthnError::SignatureMalformed(format!(
            "an RS256 signature is as long as the modulus ({} bytes)",
            n.len()
        ))),
    }
}

async fn check_signature<V: SignatureVerifier>(
    verifier: &V,
    key: &CredentialPublicKey,
    auth_data: &[u8],
    client_data_json: &[u8],
    signature: &Signature,
    invalid: WebAuthnError,
) -> Result<(), WebAuthnError> {
    let mut message = Vec::with_capacity(auth_data.len() + 32);
    message.extend_from_slice(auth_data);
    message.extend_from_slice(&Sha256::digest(client_data_json));
    match verifier.verify(key, &message, signature).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(invalid),
        Err(e) => Err(WebAuthnError::Backend(e.0)),
    }
}

fn check_id_length(id: &[u8]) -> Result<(), WebAuthnError> {
    if (MIN_CREDENTIAL_ID_LEN..=MAX_CREDENTIAL_ID_LEN).contains(&id.len()) {
        Ok(())
    } else {
        Err(WebAuthnError::CredentialIdLength(id.len()))
    }
}

/// §7.1: verify a registration made against `challenge`.
///
/// # Errors
/// The first check that fails, as a [`WebAuthnError`].
pub async fn verify_registration<V: SignatureVerifier>(
    rp: &RelyingParty,
    challenge: &[u8],
    response: &RegistrationResponse<'_>,
    verifier: &V,
) -> Result<NewCredential, WebAuthnError> {
    check_client_data(rp, response.client_data_json, "webauthn.create", challenge)?;
    let att = attestation_object(response.attestation_object)?;
    let data = AuthenticatorData::parse(&att.auth_data)?;
    check_flags(rp, &data)?;
    let attested = data
        .attested
        .as_ref()
        .ok_or(WebAuthnError::CredentialDataMissing)?;
    check_id_length(&attested.credential_id)?;
    if !bool::from(attested.credential_id.ct_eq(response.raw_id)) {
        return Err(WebAuthnError::CredentialIdMismatch);
    }
    let key = CredentialPublicKey::from_cose(&attested.public_key_cose)?;
    if !rp.algorithms.contains(&key.algorithm()) {
        return Err(WebAuthnError::AlgorithmNotAllowed(key.algorithm().id()));
    }
    let attestation = match att.fmt.as_str() {
        "none" => {
            if !att.statement.is_empty() {
                return Err(WebAuthnError::AttestationInvalid(
                    "`none` carries a statement".to_owned(),
                ));
            }
            AttestationKind::None
        }
        "packed" => {
            let (mut alg, mut sig) = (None, None);
            for (k, v) in &att.statement {
                match (k, v) {
                    (Value::Text(t), Value::Integer(i)) if t == "alg" => {
                        alg = i64::try_from(*i).ok();
                    }
                    (Value::Text(t), Value::Bytes(b)) if t == "sig" => sig = Some(b.as_slice()),
                    (Value::Text(t), _) if t == "x5c" || t == "ecdaaKeyId" => {
                        return Err(WebAuthnError::AttestationUnsupported(
                            "packed attestation with a certificate chain".to_owned(),
                        ))
                    }
                    _ => {
                        return Err(WebAuthnError::AttestationInvalid(
                            "unexpected member in a packed statement".to_owned(),
                        ))
                    }
                }
            }
            let (Some(alg), Some(sig)) = (alg, sig) else {
                return Err(WebAuthnError::AttestationInvalid(
                    "packed statement lacks `alg` or `sig`".to_owned(),
                ));
            };
            if alg != key.algorithm().id() {
                return Err(WebAuthnError::AttestationInvalid(format!(
                    "statement alg {alg} differs from the credential's {}",
                    key.algorithm().id()
                )));
            }
            let sig = signature_for(&key, sig)?;
            check_signature(
                verifier,
                &key,
                &att.auth_data,
                response.client_data_json,
                &sig,
                WebAuthnError::AttestationInvalid("self-attestation signature".to_owned()),
            )
            .await?;
            AttestationKind::SelfAttestation
        }
        other => {
            return Err(WebAuthnError::AttestationUnsupported(format!(
                "format `{other}`"
            )))
        }
    };
    Ok(NewCredential {
        id: attested.credential_id.clone(),
        public_key_cose: attested.public_key_cose.clone(),
        public_key: key,
        sign_count: data.sign_count,
        aaguid: attested.aaguid,
        user_verified: data.flags.user_verified(),
        backup_eligible: data.flags.backup_eligible(),
        backed_up: data.flags.backed_up(),
        attestation,
    })
}

/// §7.2: verify an assertion made against `challenge` by the credential `stored` (which the caller found
/// by `rawId`). `user_handle_required`: the user was not identified before the ceremony (discoverable
/// credentials, conditional UI), so the authenticator must say whose credential it is.
///
/// # Errors
/// The first check that fails, as a [`WebAuthnError`].
pub async fn verify_authentication<V: SignatureVerifier>(
    rp: &RelyingParty,
    challenge: &[u8],
    response: &AssertionResponse<'_>,
    stored: &StoredCredential<'_>,
    user_handle_required: bool,
    verifier: &V,
) -> Result<Assertion, WebAuthnError> {
    if !bool::from(response.raw_id.ct_eq(stored.id)) {
        return Err(WebAuthnError::CredentialIdMismatch);
    }
    match response.user_handle {
        Some(h) if !bool::from(h.ct_eq(stored.user_handle)) => {
            return Err(WebAuthnError::UserHandleMismatch)
        }
        None if user_handle_required => return Err(WebAuthnError::UserHandleMissing),
        _ => {}
    }
    check_client_data(rp, response.client_data_json, "webauthn.get", challenge)?;
    let data = AuthenticatorData::parse(response.authenticator_data)?;
    check_flags(rp, &data)?;
    if data.flags.backup_eligible() != stored.backup_eligible {
        return Err(WebAuthnError::BackupStateInvalid(
            "BE differs from registration".to_owned(),
        ));
    }
    let key = CredentialPublicKey::from_cose(stored.public_key_cose)?;
    let sig = signature_for(&key, response.signature)?;
    check_signature(
        verifier,
        &key,
        response.authenticator_data,
        response.client_data_json,
        &sig,
        WebAuthnError::SignatureInvalid,
    )
    .await?;
    // §7.2 step 22: a counter that is not greater, when either is non-zero, may mean a cloned authenticator.
    if (data.sign_count != 0 || stored.sign_count != 0) && data.sign_count <= stored.sign_count {
        return Err(WebAuthnError::SignCountRegressed {
            stored: stored.sign_count,
            presented: data.sign_count,
        });
    }
    Ok(Assertion {
        sign_count: data.sign_count,
        user_verified: data.flags.user_verified(),
        backed_up: data.flags.backed_up(),
    })
}
