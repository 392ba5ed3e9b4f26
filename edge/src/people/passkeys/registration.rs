//! Registration ceremonies: sign-up (a new user with their first passkey) and another device (a further
//! passkey for a signed-in user, finished only by who started it).

use serde_json::json;
use tessera_authn::webauthn::{verify_registration, RegistrationResponse};
use tessera_proto::passkeys::{
    AuthenticatorSelection, CreationOptions, CredentialDescriptor, CredentialParameter,
    RegisterOptionsRequest, RegistrationCredential, RpEntity, UserEntity,
};
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use super::{b64, challenge_of, read, read_credential, refused, unb64, user_verification};
use crate::config::Config;
use crate::error::ApiError;
use crate::origin::accounts::{self as origin_api, NewUser, Passkey};
use crate::people::ceremonies::{self, Ceremony, CEREMONY_TIMEOUT_MS};
use crate::people::sessions;
use crate::random_bytes;
use crate::tokens::webcrypto::WebCryptoPasskeyVerifier;

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
            Code::InvalidDisplayName,
            "a display name is at most 64 characters, without control or invisible formatting characters",
        ))
    }
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
    // A recovery session may do this and nothing else.
    let signed_in = sessions::signed_in(&req, env, cfg).await?;
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
        timeout: CEREMONY_TIMEOUT_MS,
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
    let (rp, c, client_data_json) =
        read_credential::<RegistrationCredential>(&mut req, cfg).await?;
    let attestation_object = unb64(&c.response.attestation_object, "attestationObject")?;
    let raw_id = unb64(&c.raw_id, "rawId")?;
    let challenge_b64 = challenge_of(&client_data_json)?;
    let expired = || {
        ApiError::new(
            400,
            Code::ChallengeUnknown,
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
    let mut recovering = false;
    if let Ceremony::AddPasskey {
        tenant,
        user_id,
        sid,
    } = &ceremony
    {
        // Finished by whoever started it: the same user, in the same session, still active and recently
        // authenticated. Anyone else's token, or none, is refused before anything is verified.
        let who = sessions::signed_in(&req, env, cfg).await?.ok_or_else(|| {
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
                    Code::CeremonyNotYours,
                    "this device was being added by someone else; start again",
                )
            });
        }
        sessions::require_recent_authentication(&who, cfg)?;
        recovering = who.recovering;
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
        // Its first name says where it was made; its owner may rename it.
        name: cfg.device.clone(),
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
    crate::people::sessions::record_user(
        ctx,
        env,
        cfg,
        &tenant,
        &user_id,
        tessera_proto::audit::kinds::PASSKEY_REGISTERED,
        json!({ "credential_id": passkey.credential_id, "user_verified": new.user_verified }),
    );
    match ceremony {
        Ceremony::AddPasskey { sid, .. } if recovering => {
            // The recovery session has done its one job: it ends, and the new passkey's own session
            // (remembered by the browser, with a refresh token) takes its place.
            origin_api::revoke_session(env, cfg, &tenant, &sid).await?;
            crate::checks::session_liveness::forget(|s, _, _| s == sid);
            let mut also = serde_json::Map::new();
            also.insert("credential_id".into(), json!(passkey.credential_id));
            also.insert("recovered".into(), json!(true));
            sessions::open(env, ctx, cfg, &tenant, &user_id, new.user_verified, also).await
        }
        Ceremony::AddPasskey { .. } => Ok(Response::from_json(
            &json!({ "credential_id": passkey.credential_id }),
        )?),
        _ => {
            // Recovery codes from the first moment: a passwordless account needs a way back in on day
            // one. Should the origin fail here, the sign-up still stands and the account page offers
            // them.
            let mut also = serde_json::Map::new();
            match crate::people::recovery::issue(ctx, env, cfg, &tenant, &user_id).await {
                Ok(codes) => {
                    also.insert("recovery_codes".into(), json!(codes));
                }
                Err(e) => crate::log::warn(
                    "recovery_codes_not_issued",
                    &[
                        ("tenant", json!(tenant)),
                        ("user_id", json!(user_id)),
                        (
                            "error",
                            json!(e.internal_message.unwrap_or(e.external_message)),
                        ),
                    ],
                ),
            }
            sessions::open(env, ctx, cfg, &tenant, &user_id, new.user_verified, also).await
        }
    }
}
