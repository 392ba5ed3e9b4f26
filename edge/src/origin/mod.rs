//! The origin as the edge calls it: one client (`client`: URL, service credential, answers sorted) and the
//! accounts API on top of it (`accounts`).

pub mod accounts;
pub mod client;
