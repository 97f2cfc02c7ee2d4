//! Credentials: a page to make, replace and delete the named secrets `http`
//! nodes use by reference, and the server functions behind it. Values go in
//! and are never shown again.

mod api;
mod page;

pub use api::*;
pub use page::CredentialsPage;
