//! The origin as the edge calls it: one client (`client`: a region's URL, service credential, answers
//! sorted), the choice of region and the breakers (`regions`), and the accounts API (`accounts`) and the OAuth grant
//! API (`grants`) on top.

pub mod accounts;
pub mod client;
pub mod grants;
pub mod regions;
