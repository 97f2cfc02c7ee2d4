//! Runs: starting a workflow from the UI, and the live run view (node states,
//! streamed LLM tokens, a timeline of node spans, cancel and re-run).

mod api;
mod children;
mod items;
mod page;
mod reasons;
mod timeline;
mod trace;
mod waits;

pub use api::*;
pub use page::RunPage;
