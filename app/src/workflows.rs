//! The workflows feature: the list (search, import, export, duplicate,
//! delete) and each workflow's page (run, triggers, recent runs, versions).

mod api;
mod detail;
mod page;

pub use api::*;
pub use detail::WorkflowPage;
pub use page::WorkflowsPage;
