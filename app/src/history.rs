//! The history page: a user's executions (everyone's for admins), filtered by
//! status, workflow, owner and time range, paged by key, with a bounded count
//! and a chart of executions per hour by status.

mod api;
mod chart;
mod page;

pub use api::*;
pub use page::HistoryPage;
