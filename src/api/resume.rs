//! Resuming runs that wait at `wait` nodes: `POST /api/v1/executions/{id}/resume`
//! for API callers, and the resume URLs (`/resume/{id}/{node}/{token}`) a
//! workflow puts in a message: a small page with approve and reject buttons
//! (a link preview's GET changes nothing), and its POST.

use app::error::AppError;
use app::model::*;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ErrorBody, Id};
use super::{ApiError, ApiState, Caller};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResumeQuery {
    /// The waiting node to resume; may be left out when only one waits.
    #[param(pattern = "^[A-Za-z0-9_-]+$")]
    node: Option<String>,
}

/// The payload of a resume: the JSON body, `{}` when there is none.
fn payload(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|error| ApiError::bad_request(format!("the body is not JSON: {error}")))
}

/// Resumes a run waiting at a `wait` node: the JSON body (`{}` when empty)
/// becomes the node's output, and the run goes on in whichever process claims it.
#[utoipa::path(post, path = "/api/v1/executions/{id}/resume", tag = "executions",
    params(("id" = i64, Path), ResumeQuery),
    request_body(content = Object, description = "Any JSON: the wait node's output", content_type = "application/json"),
    responses(
        (status = 202, description = "`{\"id\", \"node\", \"status\"}`: the run's status now (`queued` when it was parked)", body = Object),
        (status = 400, description = "Not JSON, or several nodes wait and none was named", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "The node does not wait (resumed already, timed out, or the run ended)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn resume(
    State(state): State<ApiState>,
    caller: Caller,
    Id(id): Id,
    query: Result<Query<ResumeQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let payload = payload(&body)?;
    let node = query.node.filter(|n| !n.is_empty());

    let status = state.engine.end_wait(caller.readable(), id, node.as_deref(), &WaitEnd::Resumed(payload)).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "node": node, "status": status }))).into_response())
}

/// `/resume/{id}/{node}/{token}`: public, the token is the permission.
pub fn router<S: Clone + Send + Sync + 'static>(state: ApiState) -> axum::Router<S> {
    axum::Router::new().route("/{id}/{node}/{token}", axum::routing::get(page).post(submit)).with_state(state)
}

type ResumePath = Path<(i64, String, String)>;

/// The page behind a resume URL: what waits, and the buttons that resume it.
async fn page(State(state): State<ApiState>, Path((id, node, token)): ResumePath) -> Response {
    // Checked before saying anything about the run.
    if !state.engine.is_resume_token(id, &node, &token) {
        return message_page(StatusCode::NOT_FOUND, "No such resume link", "This link is not valid.");
    }
    let waiting = state.store.waits_of(id).await.map(|waits| waits.iter().any(|w| w.node_id == node));
    match waiting {
        Ok(true) => Html(format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Run {id} waits · Weft</title>
<meta name="viewport" content="width=device-width, initial-scale=1">{STYLE}</head><body><main>
<h1>Run {id} waits for you</h1>
<p>The step <code>{node}</code> waits for a decision. It goes on once you answer; this link then stops working.</p>
<form method="post">
<label for="comment">Comment (optional)</label>
<textarea id="comment" name="comment" rows="3"></textarea>
<div class="buttons"><button name="decision" value="approve" data-testid="resume-approve">Approve</button>
<button name="decision" value="reject" class="secondary" data-testid="resume-reject">Reject</button></div>
</form></main></body></html>"#,
            node = escape(&node),
        ))
        .into_response(),
        Ok(false) => message_page(
            StatusCode::CONFLICT,
            "Nothing waits here any more",
            "This step was answered already, timed out, or its run ended.",
        ),
        Err(error) => {
            tracing::warn!(execution = id, %error, "could not read a run's waits");
            message_page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "Weft could not read the run just now.")
        }
    }
}

/// A resume through its URL: a JSON body is the node's output; the page's
/// form gives `{"approved": …, "comment": …}`.
async fn submit(
    State(state): State<ApiState>,
    Path((id, node, token)): ResumePath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let payload = if form {
        let fields: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        match fields.get("decision").map(String::as_str) {
            Some(decision @ ("approve" | "reject")) => json!({
                "approved": decision == "approve",
                "comment": fields.get("comment").cloned().unwrap_or_default(),
            }),
            _ => return message_page(StatusCode::BAD_REQUEST, "Choose approve or reject", "The form was incomplete."),
        }
    } else {
        match payload(&body) {
            Ok(payload) => payload,
            Err(error) => return error.into_response(),
        }
    };
    match state.engine.resume_with_token(id, &node, &token, payload).await {
        Ok(status) if form => {
            tracing::info!(execution = id, node, %status, "resumed through its resume URL");
            message_page(StatusCode::OK, "Thank you", "Your answer is recorded; the run goes on.")
        }
        Ok(status) => (StatusCode::ACCEPTED, Json(json!({ "id": id, "node": node, "status": status }))).into_response(),
        Err(AppError::Conflict(message)) if form => message_page(StatusCode::CONFLICT, "Already answered", &message),
        Err(AppError::NotFound(_)) if form => {
            message_page(StatusCode::NOT_FOUND, "No such resume link", "This link is not valid.")
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;background:#f6f7f9;color:#1c2430;margin:0}\
main{max-width:32rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:12px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.3rem;margin-top:0}label{display:block;font-weight:600;margin:1rem 0 .3rem}\
textarea{width:100%;box-sizing:border-box;font:inherit;padding:.5rem;border:1px solid #c9ced6;border-radius:8px}\
.buttons{display:flex;gap:.6rem;margin-top:1rem}button{font:inherit;padding:.55rem 1.2rem;border-radius:8px;\
border:0;background:#2f6fed;color:#fff;cursor:pointer}button.secondary{background:#e7eaf0;color:#1c2430}</style>";

fn message_page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} · Weft</title>
<meta name="viewport" content="width=device-width, initial-scale=1">{STYLE}</head><body><main>
<h1 data-testid="resume-title">{title}</h1><p>{text}</p></main></body></html>"#,
        title = escape(title),
        text = escape(text),
    );
    (status, Html(body)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
