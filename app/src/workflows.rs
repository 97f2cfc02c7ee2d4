//! The workflows feature: the list (search, import, export, duplicate,
//! delete) and each workflow's page (run, triggers, recent runs, versions
//! and their comparison).

mod api;
mod cache;
mod detail;
mod page;
mod versions;

pub use api::*;
pub use cache::WorkflowCache;
pub use detail::WorkflowPage;
pub use page::WorkflowsPage;

/// Where "New workflow" leads: the editor on a workflow not created yet.
pub const NEW_WORKFLOW_PATH: &str = "/workflows/new/edit";
