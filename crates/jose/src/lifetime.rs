//! How long issued access tokens live.
//!
//! Key rotation removes a retired key `max_token_ttl + leeway + ring_cache_ttl` seconds after it stopped
//! signing ([`RotationPolicy::removal_delay`]): that is safe only if no token outlives `max_token_ttl`.
//! Every lifetime the issuer gives a token therefore goes through [`issued_ttl`], and a configured
//! lifetime above the policy's maximum is a configuration error ([`configured_ttl`]), not a silent clamp.

use crate::ring::RotationPolicy;
use tessera_proto::Code;

/// The shortest lifetime a token is given (seconds); also the least `max_token_ttl` may be.
pub const MIN_TOKEN_TTL: i64 = 30;
/// The longest lifetime a tenant, a client or a deployment may ask for (seconds).
pub const TOKEN_TTL_CEILING: i64 = 3600;

/// A lifetime setting that cannot be honoured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifetimeError {
    /// `max_token_ttl` is below [`MIN_TOKEN_TTL`]: no token could be issued.
    MaxTooShort { max: i64 },
    /// A configured lifetime is longer than `max_token_ttl` (rotation would remove its key too early).
    AboveMax {
        name: &'static str,
        ttl: i64,
        max: i64,
    },
}

impl LifetimeError {
    /// Stable code.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::MaxTooShort { .. } => Code::MaxTokenTtlTooShort,
            Self::AboveMax { .. } => Code::TokenTtlAboveMax,
        }
    }
}

impl std::fmt::Display for LifetimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MaxTooShort { max } => write!(
                f,
                "`MAX_TOKEN_TTL` = {max} is below the shortest token lifetime ({MIN_TOKEN_TTL} s)"
            ),
            Self::AboveMax { name, ttl, max } => write!(
                f,
                "`{name}` = {ttl} is longer than `MAX_TOKEN_TTL` = {max}: key rotation would remove \
                 signing keys while such tokens still live"
            ),
        }
    }
}

impl std::error::Error for LifetimeError {}

/// Check that `policy` lets tokens be issued at all.
///
/// # Errors
/// [`LifetimeError::MaxTooShort`].
pub fn check_policy(policy: &RotationPolicy) -> Result<(), LifetimeError> {
    if policy.max_token_ttl < MIN_TOKEN_TTL {
        return Err(LifetimeError::MaxTooShort {
            max: policy.max_token_ttl,
        });
    }
    Ok(())
}

/// The lifetime to give a token for which `requested` seconds were asked (a client's or a tenant's
/// setting): within [`MIN_TOKEN_TTL`]..=[`TOKEN_TTL_CEILING`] and never above `policy.max_token_ttl`.
#[must_use]
pub fn issued_ttl(requested: i64, policy: &RotationPolicy) -> i64 {
    requested
        .clamp(MIN_TOKEN_TTL, TOKEN_TTL_CEILING)
        .min(policy.max_token_ttl)
}

/// A deployment-wide lifetime setting (`name`, e.g. `USER_TOKEN_TTL`): `default` (bounded by the policy)
/// when unset; when set, it must not exceed `policy.max_token_ttl`.
///
/// # Errors
/// [`LifetimeError::AboveMax`] for a setting above the maximum; [`LifetimeError::MaxTooShort`] for a policy
/// that allows no token.
pub fn configured_ttl(
    name: &'static str,
    configured: Option<i64>,
    default: i64,
    policy: &RotationPolicy,
) -> Result<i64, LifetimeError> {
    check_policy(policy)?;
    match configured {
        None => Ok(issued_ttl(default, policy)),
        Some(ttl) if ttl > policy.max_token_ttl => Err(LifetimeError::AboveMax {
            name,
            ttl,
            max: policy.max_token_ttl,
        }),
        Some(ttl) => Ok(issued_ttl(ttl, policy)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_token_ttl: i64) -> RotationPolicy {
        RotationPolicy {
            jwks_max_age: 300,
            ring_cache_ttl: 30,
            max_token_ttl,
            leeway: 30,
        }
    }

    // A client TTL above MAX_TOKEN_TTL used to be issued as it was (clamped to 3600 only), outliving the key
    // rotation's removal delay.
    #[test]
    fn issued_ttl_never_exceeds_max_token_ttl() {
        for max in [30, 60, 300, 3600, 86_400] {
            for requested in [-5, 0, 1, 29, 30, 31, 59, 60, 600, 3600, 3601, i64::MAX] {
                let ttl = issued_ttl(requested, &policy(max));
                assert!(ttl <= max, "requested {requested}, max {max}: {ttl}");
                assert!(ttl <= TOKEN_TTL_CEILING);
                assert!(ttl >= MIN_TOKEN_TTL);
            }
        }
    }

    #[test]
    fn issued_ttl_keeps_a_requested_ttl_within_bounds() {
        assert_eq!(issued_ttl(600, &policy(3600)), 600);
        assert_eq!(issued_ttl(600, &policy(60)), 60);
        assert_eq!(issued_ttl(5, &policy(3600)), MIN_TOKEN_TTL);
        assert_eq!(issued_ttl(7200, &policy(86_400)), TOKEN_TTL_CEILING);
    }

    #[test]
    fn removal_delay_outlasts_every_issued_token() {
        for max in [30, 61, 3600] {
            let p = policy(max);
            for requested in [1, 600, 3600, 10_000] {
                assert!(issued_ttl(requested, &p) + p.leeway <= p.removal_delay());
            }
        }
    }

    #[test]
    fn configured_ttl_above_max_is_an_error() {
        assert_eq!(
            configured_ttl("USER_TOKEN_TTL", Some(600), 600, &policy(300)),
            Err(LifetimeError::AboveMax {
                name: "USER_TOKEN_TTL",
                ttl: 600,
                max: 300
            })
        );
        assert_eq!(
            configured_ttl("USER_TOKEN_TTL", Some(300), 600, &policy(300)),
            Ok(300)
        );
        assert_eq!(
            configured_ttl("USER_TOKEN_TTL", Some(10), 600, &policy(300)),
            Ok(MIN_TOKEN_TTL)
        );
    }

    #[test]
    fn unset_ttl_takes_the_default_within_the_max() {
        assert_eq!(configured_ttl("T", None, 600, &policy(3600)), Ok(600));
        assert_eq!(configured_ttl("T", None, 600, &policy(30)), Ok(30));
    }

    #[test]
    fn a_max_below_the_minimum_lifetime_is_refused() {
        assert_eq!(
            check_policy(&policy(10)),
            Err(LifetimeError::MaxTooShort { max: 10 })
        );
        assert_eq!(
            configured_ttl("T", None, 600, &policy(10)).map_err(|e| e.code()),
            Err(Code::MaxTokenTtlTooShort)
        );
        assert!(check_policy(&policy(30)).is_ok());
    }
}
