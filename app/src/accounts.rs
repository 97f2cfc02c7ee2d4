//! Accounts: the first start's admin set-up, sign-in and sign-out with
//! server-side sessions, users (created by admins) and API keys.

mod api;
mod own_account;
mod pages;

pub use crate::model::MIN_PASSWORD_CHARS;
pub use api::*;
pub use own_account::OwnAccountSection;
pub use pages::*;
