//! Integration tests of `tessera-jose`: standard vectors, Wycheproof, the verification profile's rules one by
//! one, round-trip properties and a rotation simulation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "test code: a failed expectation should panic"
)]

mod peer;
mod profile;
mod ring;
mod vectors;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tessera_jose::{P256Signer, Secret, SigningKey};

/// Drive a future that never waits (the p256 back-end never yields).
pub fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("p256 back-end futures complete without waiting"),
    }
}

/// A deterministic test key from a seed byte.
pub fn key(seed: u8) -> SigningKey {
    let mut bytes = [seed; 32];
    bytes[0] = 0x11;
    SigningKey::from_scalar_bytes(&Secret::new(bytes)).unwrap()
}

pub fn signer(seed: u8) -> P256Signer {
    P256Signer::new(&key(seed))
}
