//! `tessera-origin jwt verify|sign`: the jose core from the command line (for scripts and tests).

use std::path::PathBuf;

use clap::Subcommand;
use tessera_origin::now;

#[derive(Subcommand)]
pub(crate) enum JwtCommand {
    /// Verify a token against a JWKS file; prints the claims, or the error code (exit status 1).
    Verify {
        #[arg(long)]
        jwks_file: PathBuf,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        audience: String,
        #[arg(long, default_value_t = 30)]
        leeway: i64,
        token: String,
    },
    /// Sign claims (a JSON file) as an `at+jwt` with a private JWK file. For development and tests only:
    /// production keys never leave the edge's sealed key ring.
    Sign {
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long)]
        claims_file: PathBuf,
    },
}

pub(crate) async fn jwt_cmd(command: JwtCommand) -> Result<(), String> {
    use tessera_jose::{Jwks, P256Signer, P256Verifier, Secret, SigningKey, VerifyOptions};
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    match command {
        JwtCommand::Verify {
            jwks_file,
            issuer,
            audience,
            leeway,
            token,
        } => {
            let jwks = Jwks::from_json(&read(&jwks_file)?).map_err(|e| e.to_string())?;
            let opts = VerifyOptions {
                issuer: &issuer,
                audience: Some(&audience),
                leeway,
            };
            match tessera_jose::verify_token(token.trim(), &jwks, &P256Verifier, &opts, now()).await
            {
                Ok(v) => {
                    println!(
                        "{}",
                        serde_json::json!({ "valid": true, "kid": v.kid(), "claims": v.claims() })
                    );
                    Ok(())
                }
                Err(e) => {
                    println!(
                        "{}",
                        serde_json::json!({ "valid": false, "error": e.code(), "message": e.to_string() })
                    );
                    Err(format!("token refused: {}", e.code()))
                }
            }
        }
        JwtCommand::Sign {
            key_file,
            claims_file,
        } => {
            let jwk: serde_json::Value =
                serde_json::from_str(&read(&key_file)?).map_err(|e| e.to_string())?;
            let d = jwk
                .get("d")
                .and_then(serde_json::Value::as_str)
                .ok_or("key file has no `d`")?;
            let d = Secret::new(tessera_jose::b64::decode(d).map_err(|()| "`d` is not base64url")?);
            let scalar: [u8; 32] = d
                .expose_secret()
                .as_slice()
                .try_into()
                .map_err(|_| "`d` is not 32 bytes")?;
            let key =
                SigningKey::from_scalar_bytes(&Secret::new(scalar)).map_err(|e| e.to_string())?;
            let claims =
                serde_json::from_str(&read(&claims_file)?).map_err(|e| format!("claims: {e}"))?;
            let token = tessera_jose::issue_access_token(&P256Signer::new(&key), &claims)
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
    }
}
