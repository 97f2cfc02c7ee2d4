//! The workflow model shared by the browser and the server.

pub mod agent;
pub mod clock;
pub mod credentials;
pub mod definition;
pub mod input;
pub mod llm_provider;
pub mod n8n;
pub mod node_config;
pub mod nul;
pub mod on_failure;
pub mod paging;
pub mod records;
pub mod rerun;
pub mod run;
pub mod triggers;
pub mod usage;
pub mod validation;
pub mod variables;
pub mod version_diff;

pub use clock::now_ms;
pub use credentials::{
    check_credential_name, credentials_used, literal_secret_headers, literal_secret_warnings, Credential,
    CredentialValue, LlmApi, LlmProviderCredential, OAuth2Client, OAuthGrant, Ownership, SealedCredential, WorkflowRef,
    CREDENTIAL_KINDS,
};
pub use definition::{Edge, NodeDefinition, Position, WorkflowDefinition, MAX_PINNED_BYTES};
pub use input::{example_input, input_problems, parse_input_fields, InputField};
pub use llm_provider::LlmProvider;
pub use node_config::{ForEach, NodeConfig, NodePolicy, OnError, RetryPolicy, NODE_KINDS};
pub use on_failure::{parse_on_failure, FailedWorkflow, FailureInput, OnFailure};
pub use paging::{normalized_search, page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use records::*;
pub use rerun::{reusable_results, RerunVersion};
pub use run::{ExecutionReport, NodeReport, RunEvent};
pub use triggers::{CronTrigger, TriggerDefinition, WebhookAuth, WebhookMode, WebhookTrigger};
pub use usage::{LlmCall, ModelPrice, UsageOf, UsagePolicy, UsageTotals};
pub use validation::{validate, validate_to_save, ValidatedNode, ValidatedWorkflow, ValidationError};
pub use variables::{check_variable, reads_variables, Variable};
