//! What the server does for the pages, the REST API and the CLI, below the
//! pages and above the store: sessions, API keys, passwords, credentials, and
//! the one write path for workflows. Server-side only.

pub mod api_keys;
pub mod credentials;
pub mod passwords;
pub mod sessions;
pub mod variables;
mod workflow_calls;
pub mod workflows;
