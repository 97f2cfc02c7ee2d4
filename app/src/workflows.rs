//! The workflows feature: listing and importing workflows.

mod api;
mod page;

pub use api::*;
pub use page::WorkflowsPage;
