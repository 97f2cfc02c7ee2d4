//! The workflows feature: the list (search, import, export, duplicate,
//! delete) and each workflow's page (run, triggers, recent runs, versions).

mod api;
mod cache;
mod detail;
mod page;

pub use api::*;
pub use cache::WorkflowCache;
pub use detail::WorkflowPage;
pub use page::WorkflowsPage;
