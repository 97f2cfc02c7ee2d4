//! The engine's settings from the start-up flags (`config`).

use super::nodes::{code::CodeSettings, http::HttpNodeSettings, llm::LlmSettings, template::TemplateSettings};
use super::{EngineSettings, QueueSettings};
use crate::config::{EngineArgs, QueueArgs, Role};

impl From<&QueueArgs> for QueueSettings {
    fn from(args: &QueueArgs) -> Self {
        Self {
            runs_executions: args.role != Role::Web,
            max_running_executions: args.max_running_executions.max(1),
            lease: args.lease,
            shutdown_grace: args.shutdown_grace,
        }
    }
}

impl From<&EngineArgs> for EngineSettings {
    fn from(args: &EngineArgs) -> Self {
        let defaults = EngineSettings::default();
        Self {
            max_parallel_nodes: args.max_parallel_nodes.max(1),
            max_running_nodes: args.max_running_nodes.max(1),
            max_output_bytes: args.max_node_output_bytes,
            max_for_each_items: args.max_for_each_items as usize,
            max_workflow_depth: args.max_workflow_depth,
            max_event_streams_per_user: args.max_event_streams_per_user.max(1),
            max_user_share_percent: args.max_user_share_percent,
            http: HttpNodeSettings {
                allow_loopback: args.http_allow_loopback,
                allow_private: args.http_allow_private,
                allowed_hosts: args.http_allow_hosts.clone(),
                proxy: args.http_proxy.clone(),
                max_body_bytes: args.http_max_body_bytes,
                ..defaults.http
            },
            llm: LlmSettings {
                base_url: args.llm_base_url.clone(),
                api_key: args.llm_api_key.clone(),
                default_model: args.llm_model.clone(),
                timeout: args.llm_timeout,
                max_concurrency: args.llm_max_concurrency.max(1),
                cache_ttl: args.llm_cache_ttl,
                cache_capacity: args.llm_cache_capacity,
                cache_shared: args.llm_cache_shared,
            },
            code: CodeSettings {
                memory_limit_bytes: args.code_memory_limit_mb.max(1) * 1024 * 1024,
                time_limit: args.code_time_limit,
                ..defaults.code
            },
            templates: TemplateSettings {
                fuel: args.template_fuel.max(1),
                max_output_bytes: args.template_max_output_bytes,
                ..defaults.templates
            },
            ..defaults
        }
    }
}
