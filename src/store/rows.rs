//! Rows as the database returns them, and their conversion into the app's
//! records. Shared by both backends: every column type here decodes on both.

use app::error::AppError;
use app::model::*;
use serde_json::Value;
use sqlx::types::Json;

use super::error::corrupt;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub email: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// The columns of a [`UserRow`].
pub(crate) const USER_COLUMNS: &str = "id, email, is_admin, created_at, disabled_at";

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User { id: r.id, email: r.email, is_admin: r.is_admin, created_at: r.created_at, disabled_at: r.disabled_at }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkflowRow {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub current_version: i32,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_id: Option<i64>,
    pub last_status: Option<String>,
    pub last_created_at: Option<i64>,
}

impl TryFrom<WorkflowRow> for WorkflowSummary {
    type Error = AppError;
    fn try_from(r: WorkflowRow) -> Result<Self, AppError> {
        let last_execution = match (r.last_id, r.last_status, r.last_created_at) {
            (Some(id), Some(status), Some(created_at)) => Some(ExecutionBrief {
                id,
                status: ExecutionStatus::parse(&status).ok_or_else(|| corrupt("execution status", &status))?,
                created_at,
            }),
            _ => None,
        };
        Ok(WorkflowSummary {
            id: r.id,
            owner_id: r.owner_id,
            name: r.name,
            description: r.description,
            current_version: r.current_version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_execution,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VersionRow {
    pub workflow_id: i64,
    pub version: i32,
    pub definition: Json<WorkflowDefinition>,
    pub created_at: i64,
}

impl From<VersionRow> for WorkflowVersion {
    fn from(r: VersionRow) -> Self {
        WorkflowVersion {
            workflow_id: r.workflow_id,
            version: r.version,
            definition: r.definition.0,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExecutionRow {
    pub id: i64,
    pub workflow_id: i64,
    pub version: i32,
    pub owner_id: i64,
    pub trigger: String,
    pub input: Json<RawJson>,
    pub status: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub parent_execution_id: Option<i64>,
    pub parent_node: Option<String>,
    pub depth: i32,
}

impl TryFrom<ExecutionRow> for Execution {
    type Error = AppError;
    fn try_from(r: ExecutionRow) -> Result<Self, AppError> {
        Ok(Execution {
            id: r.id,
            workflow_id: r.workflow_id,
            version: r.version,
            owner_id: r.owner_id,
            trigger: Trigger::parse(&r.trigger).ok_or_else(|| corrupt("trigger", &r.trigger))?,
            input: r.input.0,
            status: ExecutionStatus::parse(&r.status).ok_or_else(|| corrupt("execution status", &r.status))?,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
            parent: match (r.parent_execution_id, r.parent_node) {
                (Some(execution), Some(node)) => Some(ParentRun { execution, node, depth: r.depth }),
                _ => None,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct NodeRunRow {
    pub execution_id: i64,
    pub node_id: String,
    pub status: String,
    pub attempt: i32,
    pub input: Option<Json<Value>>,
    pub output: Option<Json<Value>>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl TryFrom<NodeRunRow> for NodeRun {
    type Error = AppError;
    fn try_from(r: NodeRunRow) -> Result<Self, AppError> {
        Ok(NodeRun {
            execution_id: r.execution_id,
            node_id: r.node_id,
            status: NodeStatus::parse(&r.status).ok_or_else(|| corrupt("node status", &r.status))?,
            attempt: r.attempt,
            input: r.input.map(|j| j.0),
            output: r.output.map(|j| j.0),
            error: r.error,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TemplateRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub definition: Json<WorkflowDefinition>,
    pub author_id: Option<i64>,
    pub created_at: i64,
}

impl From<TemplateRow> for MarketplaceTemplate {
    fn from(r: TemplateRow) -> Self {
        MarketplaceTemplate {
            id: r.id,
            slug: r.slug,
            name: r.name,
            description: r.description,
            definition: r.definition.0,
            author_id: r.author_id,
            created_at: r.created_at,
        }
    }
}

/// Builds a page from rows fetched with `limit + 1`: the extra row only tells
/// whether there is a next page.
pub(crate) fn page_of<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| key(last).encode())
    } else {
        None
    };
    Page { items, next }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub read_only: bool,
}

/// The columns of an [`ApiKeyRow`].
pub(crate) const API_KEY_COLUMNS: &str = "id, user_id, name, prefix, created_at, revoked_at, expires_at, read_only";

impl From<ApiKeyRow> for ApiKey {
    fn from(r: ApiKeyRow) -> Self {
        ApiKey {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            expires_at: r.expires_at,
            read_only: r.read_only,
        }
    }
}

pub(crate) fn schedule_from_row(row: (i64, i64, i64, i32, String, String, Option<i64>)) -> Schedule {
    let (id, workflow_id, owner_id, version, schedule, timezone, next_fire_at) = row;
    Schedule { id, workflow_id, owner_id, version, schedule, timezone, next_fire_at }
}
