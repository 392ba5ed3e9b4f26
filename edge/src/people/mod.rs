//! People: passkey sign-up and sign-in (`passkeys`, with ceremony state in `ceremonies`), sessions and
//! logout (`sessions`, with the device a sign-in came from in `device`), TOTP (`totp`), recovery codes (`recovery`), federated sign-in through the company's identity provider (`sso`),
//! and the login page (`login_page`, in the languages of `locale`, `qr`) with what it shows of a person's own account (`account`).

pub mod account;
pub mod ceremonies;
pub mod device;
pub mod locale;
pub mod login_page;
pub mod passkeys;
pub mod qr;
pub mod recovery;
pub mod sessions;
pub mod sso;
pub mod totp;
