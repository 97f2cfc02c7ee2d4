//! Accounts: the first start's admin set-up, sign-in and sign-out with
//! server-side sessions, users (created by admins) and API keys.

mod api;
mod pages;

pub use crate::model::MIN_PASSWORD_CHARS;
pub use api::*;
pub use pages::*;
