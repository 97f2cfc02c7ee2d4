//! The error every server function and store method returns. It is serializable
//! so the UI can match on the kind instead of parsing text.

use serde::{Deserialize, Serialize};

use crate::model::ValidationError;

#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    /// The object does not exist, or the caller may not see it (the two are not
    /// told apart, so ids of other users' objects leak nothing).
    #[error("{0} not found")]
    NotFound(String),
    #[error("the workflow definition is invalid: {}", join(.0))]
    Invalid(Vec<ValidationError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("sign in to continue")]
    Unauthorized,
    /// Signed in, but this needs an admin.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    RateLimited(String),
    /// The server cannot do it now (shutting down); trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// Details are logged on the server, never sent to the client.
    #[error("something went wrong on the server")]
    Internal,
    /// Transport failures of a server-function call (network, decoding).
    #[error("the server could not be reached: {0}")]
    Transport(String),
}

fn join(errors: &[ValidationError]) -> String {
    errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
}

impl AppError {
    /// The HTTP status this error maps to: 4xx for the caller's mistakes.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::NotFound(_) => 404,
            AppError::BadRequest(_) => 400,
            // As the REST API answers: the request was understood, the definition is wrong.
            AppError::Invalid(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::Unauthorized => 401,
            AppError::Forbidden(_) => 403,
            AppError::RateLimited(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal => 500,
            AppError::Transport(_) => 502,
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr;
        match value {
            // The caller sent arguments that do not parse: their mistake, a 400
            // (see `server::access::server_function_status`).
            ServerFnErrorErr::Args(message) => AppError::BadRequest(format!("bad arguments: {message}")),
            other => AppError::Transport(other.to_string()),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
