//! Sign-in: username-first (the challenge seals the name typed) or discoverable (no name). Every refusal
//! answers `passkey_refused` with the same sentence; the log says which check failed.

use serde_json::json;
use tessera_authn::webauthn::{
    verify_authentication, AssertionResponse, StoredCredential, WebAuthnError,
};
use tessera_proto::passkeys::{
    AuthenticationCredential, CredentialDescriptor, LoginOptionsRequest, RequestOptions,
};
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use super::{b64, challenge_of, read, read_credential, refused, unb64, user_verification};
use crate::config::Config;
use crate::error::ApiError;

use crate::origin::accounts as origin_api;
use crate::people::ceremonies::{self, Ceremony, CEREMONY_TIMEOUT_MS};
use crate::people::sessions;
use crate::tokens::webcrypto::WebCryptoPasskeyVerifier;

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
        timeout: CEREMONY_TIMEOUT_MS,
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
    let (rp, c, client_data_json) =
        read_credential::<AuthenticationCredential>(&mut req, cfg).await?;
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
            Code::PasskeyRefused,
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
            ("at", json!(crate::now().as_secs())),
        ],
    );
    // A deactivation can land between the checks above and the session (the origin then refuses it,
    // `unknown_user`): the person sees the same refusal as for any failed check.
    let opened = sessions::open(
        env,
        ctx,
        cfg,
        &tenant,
        &user.user_id,
        checked.user_verified,
        serde_json::Map::new(),
    )
    .await
    .map_err(|e| {
        if e.code == Code::UnknownUser {
            no(format!(
                "user {} deactivated during the sign-in",
                user.user_id
            ))
        } else {
            e
        }
    })?;
    // Recorded once the session is open: a sign-in refused at the last step is a refusal, not a success.
    crate::people::sessions::record_user(
        ctx,
        env,
        cfg,
        &tenant,
        &user.user_id,
        tessera_proto::audit::kinds::PASSKEY_SIGN_IN,
        json!({ "credential_id": credential_id, "user_verified": checked.user_verified }),
    );
    Ok(opened)
}
