//! Accounts: the first start's admin set-up, sign-in and sign-out with
//! server-side sessions, users (created by admins) and API keys.

mod api;
mod pages;

#[cfg(feature = "ssr")]
pub mod api_keys;
#[cfg(feature = "ssr")]
pub mod passwords;
#[cfg(feature = "ssr")]
pub mod sessions;

pub use api::*;
pub use pages::*;

/// The shortest password accepted (checked as you type, and by the server).
pub const MIN_PASSWORD_CHARS: usize = 8;
