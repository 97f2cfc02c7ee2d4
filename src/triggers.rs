//! Starting runs from outside: webhooks (`/hooks/{path}`) and cron schedules.

pub mod cron;
pub mod webhooks;
