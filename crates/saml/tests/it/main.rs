//! One integration test binary for tessera-saml (reader, metadata), as the other cores do.

mod reader;
