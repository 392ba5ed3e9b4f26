//! Passkey ceremonies at the edge: sign-up, another device, sign-in (username-first and discoverable).
//!
//! `…/options` draws a challenge, remembers the ceremony in its Durable Object ([`crate::people::ceremonies`]) and
//! answers WebAuthn options; `…/verify` takes the challenge back out of the browser's `clientDataJSON`
//! (single use), verifies with `tessera-authn` over WebCrypto, stores the result at the origin and opens a
//! session. Every refusal gets a stable code for the log and one plain sentence for the person; sign-in
//! failures all look the same from outside.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use tessera_authn::webauthn::{
    verify_authentication, verify_registration, AssertionResponse, RegistrationResponse,
    StoredCredential, UserVerification, WebAuthnError,
};
use tessera_proto::passkeys::{
    AuthenticationCredential, AuthenticatorSelection, CreationOptions, CredentialDescriptor,
    CredentialParameter, LoginOptionsRequest, RegisterOptionsRequest, RegistrationCredential,
    RequestOptions, RpEntity, UserEntity,
};
use worker::{Context, Env, Request, Response};

use crate::config::Config;
use crate::error::ApiError;
use crate::origin::accounts::{self as origin_api, NewUser, Passkey};
use crate::people::ceremonies::{self, Ceremony, CEREMONY_TTL_MS};
use crate::people::sessions;
use crate::tokens::webcrypto::WebCryptoPasskeyVerifier;
use crate::{now_secs, random_bytes};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| ApiError::new(400, "invalid_request", format!("`{what}` is not base64url")))
}

async fn read<T: serde::de::DeserializeOwned>(
    req: &mut Request,
    shape: &str,
) -> Result<T, ApiError> {
    let body = crate::http::read_body(req, crate::http::MAX_BODY).await?;
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| {
            ApiError::new(400, "invalid_request", format!("body must be {shape}: {e}"))
        });
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "invalid_request", format!("body must be {shape}: {e}")))
}

/// Display names as people choose them: at most 64 characters, no control characters.
fn valid_display_name(name: String) -> Result<String, ApiError> {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if name.chars().count() <= 64 && !name.chars().any(invisible) {
        Ok(name)
    } else {
        Err(ApiError::new(
            400,
            "invalid_display_name",
            "a display name is at most 64 characters, without control or invisible formatting characters",
        ))
    }
}

/// A refused ceremony: the stable code in the log, a sentence for the person.
fn refused(e: &WebAuthnError, sign_in: bool) -> ApiError {
    let message = if sign_in {
        // The same words for every reason: the page cannot tell an attacker which check failed.
        "that passkey could not be used to sign in; try again or use another passkey"
    } else {
        match e {
            WebAuthnError::UserNotVerified => {
                "this site needs your device to verify it is you (PIN, fingerprint or face); try again and confirm on your device"
            }
            WebAuthnError::AlgorithmNotAllowed(_) | WebAuthnError::AttestationUnsupported(_) => {
                "this kind of security key is not supported here; try another device"
            }
            WebAuthnError::OriginNotAllowed(_) | WebAuthnError::RpIdMismatch => {
                "this passkey was made for a different website"
            }
            WebAuthnError::ChallengeMismatch => "the sign-up took too long or was already used; start again",
            _ => "your device's answer could not be verified; start again",
        }
    };
    ApiError {
        internal_message: Some(format!(
            "passkey {} refused ({}): {e}",
            if sign_in { "sign-in" } else { "registration" },
            e.code()
        )),
        ..ApiError::new(
            400,
            if sign_in { "passkey_refused" } else { e.code() },
            message,
        )
    }
}

fn user_verification(cfg: &Config) -> &'static str {
    cfg.login
        .rp
        .as_ref()
        .map_or(UserVerification::Preferred, |rp| rp.user_verification)
        .as_str()
}

fn descriptors(passkeys: &[Passkey]) -> Vec<CredentialDescriptor> {
    passkeys
        .iter()
        .map(|p| CredentialDescriptor {
            kind: "public-key".into(),
            id: p.credential_id.clone(),
            transports: p.transports.clone(),
        })
        .collect()
}

/// `POST /v1/passkeys/register/options`: sign-up (`{username, display_name?}`), or with a user's bearer
/// token, another passkey for that user.
///
/// # Errors
/// `400 invalid_username`, `409 username_taken`, or the origin.
pub async fn register_options(
    mut req: Request,
    env: &Env,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let rp = cfg.login.relying_party()?;
    let signed_in = sessions::optional_user(&req, env, cfg).await?;
    let body: RegisterOptionsRequest =
        read(&mut req, r#"{"username": "...", "display_name"?: "..."}"#).await?;
    let tenant = cfg.login.tenant.clone();
    let (ceremony, user, exclude) = match signed_in {
        Some(who) => {
            sessions::require_recent_authentication(&who, cfg)?;
            let record = origin_api::user(env, cfg, &who.tenant, &who.user_id).await?;
            (
                Ceremony::AddPasskey {
                    tenant: who.tenant.clone(),
                    user_id: who.user_id.clone(),
                    sid: who.sid.clone(),
                },
                UserEntity {
                    id: record.user.user_id.clone(),
                    name: record.user.username.clone(),
                    display_name: record.user.display_name.clone(),
                },
                descriptors(&record.passkeys),
            )
        }
        None => {
            // A taken name gets the same answer as a free one (no enumeration by asking for options):
            // the origin refuses the sign-up at `verify`, once a ceremony has been completed.
            let username = body.username.unwrap_or_default();
            origin_api::valid_username(&username)?;
            let display_name = match body.display_name.filter(|d| !d.trim().is_empty()) {
                Some(d) => valid_display_name(d)?,
                None => username.clone(),
            };
            let user_id = b64(&random_bytes::<16>()?);
            (
                Ceremony::SignUp {
                    tenant,
                    user_id: user_id.clone(),
                    username: username.clone(),
                    display_name: display_name.clone(),
                },
                UserEntity {
                    id: user_id,
                    name: username,
                    display_name,
                },
                Vec::new(),
            )
        }
    };
    let challenge = ceremonies::start(env, cfg, &ceremony)?;
    let options = CreationOptions {
        rp: RpEntity {
            id: rp.id.clone(),
            name: cfg.login.rp_name.clone(),
        },
        user,
        challenge,
        pub_key_cred_params: rp
            .algorithms
            .iter()
            .map(|a| CredentialParameter {
                kind: "public-key".into(),
                alg: a.id(),
            })
            .collect(),
        timeout: CEREMONY_TTL_MS as u32,
        exclude_credentials: exclude,
        authenticator_selection: AuthenticatorSelection {
            resident_key: "required".into(),
            require_resident_key: true,
            user_verification: user_verification(cfg).into(),
        },
        attestation: "none".into(),
    };
    Ok(Response::from_json(&json!({ "publicKey": options }))?)
}

#[derive(Deserialize)]
struct ChallengeOnly {
    challenge: String,
}

/// The challenge a browser response answers (to find its ceremony); the full check comes after.
fn challenge_of(client_data_json: &[u8]) -> Result<String, ApiError> {
    serde_json::from_slice::<ChallengeOnly>(client_data_json)
        .map(|c| c.challenge)
        .map_err(|_| {
            ApiError::new(
                400,
                "client_data_malformed",
                "clientDataJSON is not what a browser sends",
            )
        })
}

/// `POST /v1/passkeys/register/verify` with `{credential}` (`PublicKeyCredential.toJSON()`).
///
/// # Errors
/// `400` with the verifier's code and a plain sentence; `409` for a taken name or known passkey.
pub async fn register_verify(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    struct Body {
        credential: RegistrationCredential,
    }
    let rp = cfg.login.relying_party()?;
    let body: Body = read(&mut req, r#"{"credential": PublicKeyCredential.toJSON()}"#).await?;
    let c = &body.credential;
    let client_data_json = unb64(&c.response.client_data_json, "clientDataJSON")?;
    let attestation_object = unb64(&c.response.attestation_object, "attestationObject")?;
    let raw_id = unb64(&c.raw_id, "rawId")?;
    let challenge_b64 = challenge_of(&client_data_json)?;
    let expired = || {
        ApiError::new(
            400,
            "challenge_unknown",
            "this sign-up has expired or was already used; start again",
        )
    };
    let opened = ceremonies::open(env, cfg, &challenge_b64)?.map_err(|e| ApiError {
        internal_message: Some(format!(
            "registration challenge refused ({}): {e}",
            e.code()
        )),
        ..expired()
    })?;
    let ceremony = opened.ceremony.clone();
    if matches!(ceremony, Ceremony::SignIn { .. }) {
        return Err(expired());
    }
    if let Ceremony::AddPasskey {
        tenant,
        user_id,
        sid,
    } = &ceremony
    {
        // Finished by whoever started it: the same user, in the same session, still active and recently
        // authenticated. Anyone else's token, or none, is refused before anything is verified.
        let who = sessions::optional_user(&req, env, cfg)
            .await?
            .ok_or_else(|| {
                sessions::sign_in_again("another device can be added only while signed in")
            })?;
        if who.tenant != *tenant || who.user_id != *user_id || who.sid != *sid {
            return Err(ApiError {
                internal_message: Some(format!(
                    "add-passkey ceremony of session {sid} finished by session {}",
                    who.sid
                )),
                ..ApiError::new(
                    403,
                    "ceremony_not_yours",
                    "this device was being added by someone else; start again",
                )
            });
        }
        sessions::require_recent_authentication(&who, cfg)?;
    }
    let challenge = unb64(&challenge_b64, "challenge")?;
    let new = verify_registration(
        rp,
        &challenge,
        &RegistrationResponse {
            raw_id: &raw_id,
            client_data_json: &client_data_json,
            attestation_object: &attestation_object,
        },
        &WebCryptoPasskeyVerifier,
    )
    .await
    .map_err(|e| refused(&e, false))?;
    let (tenant, user_id) = match &ceremony {
        Ceremony::SignUp {
            tenant, user_id, ..
        }
        | Ceremony::AddPasskey {
            tenant, user_id, ..
        } => (tenant.clone(), user_id.clone()),
        Ceremony::SignIn { .. } => return Err(expired()),
    };
    // Verified: now spend the challenge; of concurrent presentations one gets here first.
    if !ceremonies::spend(env, &opened).await? {
        return Err(expired());
    }
    let passkey = Passkey {
        credential_id: b64(&new.id),
        user_id: user_id.clone(),
        public_key: b64(&new.public_key_cose),
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
        backed_up: new.backed_up,
        aaguid: b64(&new.aaguid),
        transports: c.response.transports.iter().take(8).cloned().collect(),
        created_at: 0,
        last_used_at: None,
    };
    match &ceremony {
        Ceremony::SignUp {
            username,
            display_name,
            ..
        } => {
            origin_api::sign_up(
                env,
                cfg,
                &tenant,
                NewUser {
                    user_id: user_id.clone(),
                    username: username.clone(),
                    display_name: display_name.clone(),
                },
                passkey.clone(),
            )
            .await?;
        }
        _ => origin_api::add_passkey(env, cfg, &tenant, &passkey).await?,
    }
    crate::log::info(
        "passkey_registered",
        &[
            ("tenant", json!(tenant)),
            ("user_id", json!(user_id)),
            ("credential_id", json!(passkey.credential_id)),
            ("uv", json!(new.user_verified)),
        ],
    );
    if matches!(ceremony, Ceremony::AddPasskey { .. }) {
        return Ok(Response::from_json(
            &json!({ "credential_id": passkey.credential_id }),
        )?);
    }
    sessions::open(env, ctx, cfg, &tenant, &user_id, new.user_verified).await
}

/// `POST /v1/passkeys/login/options`: `{username}` for username-first sign-in, `{}` for discoverable
/// sign-in. An unknown username gets the same answer as a known one (no enumeration).
///
/// # Errors
/// The origin or the ceremony object.
pub async fn login_options(
    mut req: Request,
    env: &Env,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let rp = cfg.login.relying_party()?;
    let body: LoginOptionsRequest = read(&mut req, r#"{"username"?: "..."}"#).await?;
    let tenant = cfg.login.tenant.clone();
    // The answer never depends on whether the name exists: no lookup, no credential list (every passkey
    // here is discoverable: registration requires a resident key), and the challenge seals only what the
    // caller said. `verify` then requires the credential to be the named user's.
    let username = body.username.filter(|u| !u.is_empty());
    if let Some(name) = &username {
        origin_api::valid_username(name)?;
    }
    let challenge = ceremonies::start(env, cfg, &Ceremony::SignIn { tenant, username })?;
    let allow: Vec<CredentialDescriptor> = Vec::new();
    Ok(Response::from_json(&json!({ "publicKey": RequestOptions {
        challenge,
        timeout: CEREMONY_TTL_MS as u32,
        rp_id: rp.id.clone(),
        allow_credentials: allow,
        user_verification: user_verification(cfg).into(),
    } }))?)
}

/// `POST /v1/passkeys/login/verify` with `{credential}`.
///
/// # Errors
/// `400 passkey_refused` for every failed check (the log says which).
pub async fn login_verify(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    struct Body {
        credential: AuthenticationCredential,
    }
    let rp = cfg.login.relying_party()?;
    let body: Body = read(&mut req, r#"{"credential": PublicKeyCredential.toJSON()}"#).await?;
    let c = &body.credential;
    let client_data_json = unb64(&c.response.client_data_json, "clientDataJSON")?;
    let authenticator_data = unb64(&c.response.authenticator_data, "authenticatorData")?;
    let signature = unb64(&c.response.signature, "signature")?;
    let user_handle = c
        .response
        .user_handle
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(|h| unb64(h, "userHandle"))
        .transpose()?;
    let raw_id = unb64(&c.raw_id, "rawId")?;
    let no = |detail: String| ApiError {
        internal_message: Some(detail),
        ..ApiError::new(
            400,
            "passkey_refused",
            "that passkey could not be used to sign in; try again or use another passkey",
        )
    };
    let challenge_b64 = challenge_of(&client_data_json)?;
    let opened = match ceremonies::open(env, cfg, &challenge_b64)? {
        Ok(o) => o,
        Err(e) => return Err(no(format!("challenge refused ({}): {e}", e.code()))),
    };
    let Ceremony::SignIn {
        tenant,
        username: named,
    } = opened.ceremony.clone()
    else {
        return Err(no("the challenge is not a sign-in's".to_owned()));
    };
    let credential_id = b64(&raw_id);
    let Some((passkey, user)) = origin_api::passkey(env, cfg, &tenant, &credential_id).await?
    else {
        return Err(no(format!(
            "credential {credential_id} unknown in tenant {tenant}"
        )));
    };
    if named.as_ref().is_some_and(|n| *n != user.username) {
        return Err(no(format!(
            "credential {credential_id} is not the named user's"
        )));
    }
    let public_key_cose = unb64(&passkey.public_key, "stored public key")?;
    let stored_handle = unb64(&user.user_id, "user id")?;
    let checked = verify_authentication(
        rp,
        &unb64(&challenge_b64, "challenge")?,
        &AssertionResponse {
            raw_id: &raw_id,
            client_data_json: &client_data_json,
            authenticator_data: &authenticator_data,
            signature: &signature,
            user_handle: user_handle.as_deref(),
        },
        &StoredCredential {
            id: &raw_id,
            public_key_cose: &public_key_cose,
            sign_count: passkey.sign_count,
            user_handle: &stored_handle,
            backup_eligible: passkey.backup_eligible,
        },
        named.is_none(),
        &WebCryptoPasskeyVerifier,
    )
    .await
    .map_err(|e| {
        if matches!(e, WebAuthnError::SignCountRegressed { .. }) {
            crate::log::error(
                "possible_cloned_authenticator",
                &[
                    ("tenant", json!(tenant)),
                    ("user_id", json!(user.user_id)),
                    ("credential_id", json!(credential_id)),
                    ("detail", json!(e.to_string())),
                ],
            );
        }
        refused(&e, true)
    })?;
    // Verified: spend the challenge; of concurrent presentations one gets here first.
    if !ceremonies::spend(env, &opened).await? {
        return Err(no("challenge already used".to_owned()));
    }
    if !origin_api::advance_counter(
        env,
        cfg,
        &tenant,
        &credential_id,
        passkey.sign_count,
        checked.sign_count,
        checked.backed_up,
    )
    .await?
    {
        return Err(no(format!(
            "credential {credential_id}: counter moved concurrently"
        )));
    }
    crate::log::info(
        "passkey_sign_in",
        &[
            ("tenant", json!(tenant)),
            ("user_id", json!(user.user_id)),
            ("credential_id", json!(credential_id)),
            ("uv", json!(checked.user_verified)),
            ("at", json!(now_secs())),
        ],
    );
    sessions::open(env, ctx, cfg, &tenant, &user.user_id, checked.user_verified).await
}
