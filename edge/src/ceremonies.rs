//! Ceremony state: challenges for passkey registration and sign-in, kept in a Durable Object.
//!
//! Each challenge is 32 random bytes and gets its own object (named by the challenge), which makes taking
//! it atomic: the first `take` gets the state and deletes it, any later one gets nothing. The state says
//! which ceremony the challenge is for and for whom, and expires after [`CEREMONY_TTL_MS`]; an alarm clears
//! objects whose challenge was never used.

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

use crate::error::ApiError;
use crate::now_ms;

const BINDING: &str = "CEREMONIES";
const KEY: &str = "ceremony";
/// How long a ceremony may take (the browser's `timeout` is the same).
pub const CEREMONY_TTL_MS: f64 = 5.0 * 60.0 * 1000.0;

/// What a challenge was issued for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ceremony {
    /// A new user signing up with their first passkey.
    SignUp {
        tenant: String,
        user_id: String,
        username: String,
        display_name: String,
    },
    /// A signed-in user adding another passkey.
    AddPasskey { tenant: String, user_id: String },
    /// Sign-in; `user_id` when the user named themselves first, `None` for discoverable sign-in.
    SignIn {
        tenant: String,
        user_id: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct Stored {
    ceremony: Ceremony,
    expires_at_ms: f64,
}

fn stub(env: &Env, challenge_b64: &str) -> Result<worker::Stub, ApiError> {
    Ok(env
        .durable_object(BINDING)?
        .id_from_name(challenge_b64)?
        .get_stub()?)
}

/// Remember `ceremony` under a new challenge.
///
/// # Errors
/// When the object cannot be reached.
pub async fn start(env: &Env, challenge_b64: &str, ceremony: Ceremony) -> Result<(), ApiError> {
    let body = serde_json::to_string(&Stored {
        ceremony,
        expires_at_ms: now_ms() + CEREMONY_TTL_MS,
    })
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Put)
        .with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
    let req = Request::new_with_init("https://ceremony/", &init)?;
    let resp = stub(env, challenge_b64)?.fetch_with_request(req).await?;
    if resp.status_code() != 204 {
        return Err(ApiError::internal(format!(
            "ceremony object answered {}",
            resp.status_code()
        )));
    }
    Ok(())
}

/// Take the ceremony of `challenge_b64`: once, and only before it expires.
///
/// # Errors
/// When the object cannot be reached; `Ok(None)` for an unknown, used or expired challenge.
pub async fn take(env: &Env, challenge_b64: &str) -> Result<Option<Ceremony>, ApiError> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    let req = Request::new_with_init("https://ceremony/take", &init)?;
    let mut resp = stub(env, challenge_b64)?.fetch_with_request(req).await?;
    match resp.status_code() {
        200 => Ok(Some(resp.json::<Ceremony>().await.map_err(|e| {
            ApiError::internal(format!("ceremony object sent bad json: {e}"))
        })?)),
        404 => Ok(None),
        code => Err(ApiError::internal(format!(
            "ceremony object answered {code}"
        ))),
    }
}

/// One challenge's state.
#[durable_object]
pub struct CeremonyObject {
    state: State,
}

impl CeremonyObject {
    async fn handle(&self, mut req: Request) -> Result<Response, ApiError> {
        let storage = self.state.storage();
        match req.method() {
            Method::Put => {
                let stored: Stored = req
                    .json()
                    .await
                    .map_err(|e| ApiError::internal(format!("bad ceremony: {e}")))?;
                if storage.get::<Stored>(KEY).await?.is_some() {
                    // Challenges are random; a collision means something is very wrong.
                    return Err(ApiError::internal("challenge reused"));
                }
                storage.put(KEY, &stored).await?;
                storage.set_alarm(stored.expires_at_ms as i64).await?;
                Ok(Response::empty()?.with_status(204))
            }
            Method::Post => {
                let stored = storage.get::<Stored>(KEY).await?;
                storage.delete_all().await?;
                match stored {
                    Some(s) if now_ms() < s.expires_at_ms => Ok(Response::from_json(&s.ceremony)?),
                    _ => Ok(Response::empty()?.with_status(404)),
                }
            }
            _ => Err(ApiError::new(405, "method_not_allowed", "PUT or POST")),
        }
    }
}

impl DurableObject for CeremonyObject {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.handle(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => e.into_response(),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}
