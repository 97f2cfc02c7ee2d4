//! The OpenAPI document of `/api/v1`, generated from the handlers' annotations
//! and the model's types (utoipa), served at `/api/v1/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{credentials, executions, resume, templates, usage, variables, workflows};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Weft REST API",
        description = "Workflows, executions, credentials, variables, LLM usage and marketplace templates. Every call needs \
                       `Authorization: Bearer <API key>`; a key acts as its user. A key past its expiry \
                       is refused with 401 `key_expired`; a read-only key may only `GET` (anything \
                       else is 403 `read_only_key`). Errors are \
                       `{\"error\": {\"code\", \"message\", \"details\"?}}` with a 4xx status."
    ),
    paths(
        workflows::create,
        workflows::list,
        workflows::get,
        workflows::update,
        workflows::delete,
        workflows::export,
        executions::start,
        executions::get,
        executions::list,
        executions::cancel,
        resume::resume,
        executions::events,
        executions::steps,
        templates::list,
        templates::install,
        credentials::create,
        credentials::list,
        credentials::replace,
        credentials::delete,
        variables::list,
        variables::set,
        variables::delete,
        usage::report,
    ),
    modifiers(&ApiKeyAuth),
    security(("api_key" = [])),
    tags(
        (name = "workflows", description = "Create, list, read, version, delete and export workflows"),
        (name = "executions", description = "Start runs, follow them, list and cancel them"),
        (name = "templates", description = "The marketplace"),
        (name = "variables", description = "Values templates read as `vars.NAME`: the caller's own over the instance's"),
        (name = "credentials", description = "Named secrets `http` nodes use by reference; values are write-only"),
        (name = "usage", description = "What the caller's LLM calls spent, per day, and the daily budget"),
    )
)]
pub struct ApiDoc;

/// API keys go in the `Authorization` header as bearer tokens.
struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("Weft API key").build();
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The document as JSON (built once).
pub async fn document() -> impl axum::response::IntoResponse {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = JSON.get_or_init(|| ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes"));
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body.as_str())
}
