//! The marketplace: built-in and user-published templates, searchable, with a
//! read-only preview of each graph; install one into your workflows, or publish
//! one of yours.

mod api;
mod page;

pub use api::*;
pub use page::MarketplacePage;
