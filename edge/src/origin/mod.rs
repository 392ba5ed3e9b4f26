//! The origin as the edge calls it: one client (`client`: a region's URL, service credential, answers
//! sorted), the choice of region and the breakers (`regions`), and the accounts API on top (`accounts`).

pub mod accounts;
pub mod client;
pub mod regions;
