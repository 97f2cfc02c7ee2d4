//! Bulk seeding for load benchmarks: many workflows and executions (each with
//! its node's row, as a real run leaves it) written with multi-row INSERTs in
//! large transactions (one statement per 500 rows), not one round trip per row.

use app::model::WorkflowDefinition;
use sqlx::types::Json;
use sqlx::QueryBuilder;

use crate::config::{Backend, DatabaseSettings};
use app::model::now_ms;

const ROWS_PER_STATEMENT: usize = 500;
const STATUSES: [&str; 3] = ["succeeded", "failed", "succeeded"];

/// Counts the finished executions per hour for the history chart afresh, at
/// its three levels (as the `execution_hours` migration does).
const RECOUNT_HOURS: [&str; 4] = [
    "DELETE FROM execution_hours",
    "INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
     SELECT created_at / 3600000 * 3600000, owner_id, workflow_id, status, COUNT(*)
     FROM executions WHERE status IN ('succeeded', 'failed', 'cancelled')
     GROUP BY 1, 2, 3, 4",
    "INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
     SELECT hour, owner_id, 0, status, SUM(count) FROM execution_hours WHERE workflow_id <> 0
     GROUP BY hour, owner_id, status",
    "INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
     SELECT hour, 0, 0, status, SUM(count) FROM execution_hours WHERE owner_id <> 0 AND workflow_id = 0
     GROUP BY hour, status",
];

/// What was seeded, for the caller to print.
pub struct Seeded {
    pub owner_id: i64,
    pub workflows: usize,
    pub executions: usize,
}

macro_rules! seed_backend {
    ($pool:expr, $db:ty, $owner:expr, $workflows:expr, $executions:expr, $every_ms:expr, $definition:expr) => {{
        let pool = $pool;
        let now = now_ms();
        let mut first_id: Option<i64> = None;
        let mut tx = pool.begin().await?;
        for start in (0..$workflows).step_by(ROWS_PER_STATEMENT) {
            let end = (start + ROWS_PER_STATEMENT).min($workflows);
            let mut insert = QueryBuilder::<$db>::new(
                "INSERT INTO workflows (owner_id, name, description, current_version, created_at, updated_at) ",
            );
            insert.push_values(start..end, |mut row, i| {
                let at = now - ($workflows - i) as i64;
                row.push_bind($owner)
                    .push_bind(format!("Seeded workflow {i:06}"))
                    .push_bind(Option::<String>::None)
                    .push_bind(1_i32)
                    .push_bind(at)
                    .push_bind(at);
            });
            insert.push(" RETURNING id");
            let ids: Vec<i64> = insert.build_query_scalar().fetch_all(&mut *tx).await?;
            first_id.get_or_insert(ids[0]);
            let mut versions = QueryBuilder::<$db>::new("INSERT INTO workflow_versions (workflow_id, version, definition, created_at) ");
            versions.push_values(ids.iter(), |mut row, id| {
                row.push_bind(*id).push_bind(1_i32).push_bind(Json($definition)).push_bind(now);
            });
            versions.build().execute(&mut *tx).await?;
        }
        let first = first_id.unwrap_or(0);
        let output = Json(serde_json::json!("hello seeded"));
        for start in (0..$executions).step_by(ROWS_PER_STATEMENT) {
            let end = (start + ROWS_PER_STATEMENT).min($executions);
            // One transaction per 100,000 executions: a 10-million seed never
            // holds one giant transaction (PostgreSQL's memory, SQLite's WAL).
            if start > 0 && start % 100_000 == 0 {
                tx.commit().await?;
                tx = pool.begin().await?;
            }
            let mut insert = QueryBuilder::<$db>::new(
                "INSERT INTO executions (workflow_id, version, owner_id, trigger, input, status, created_at, started_at, finished_at) ",
            );
            insert.push_values(start..end, |mut row, i| {
                let at = now - ($executions - i) as i64 * $every_ms;
                row.push_bind(first + (i % $workflows) as i64)
                    .push_bind(1_i32)
                    .push_bind($owner)
                    .push_bind("api")
                    .push_bind(Json(serde_json::json!({})))
                    .push_bind(STATUSES[i % STATUSES.len()])
                    .push_bind(at)
                    .push_bind(at)
                    .push_bind(at + 3);
            });
            insert.push(" RETURNING id, created_at");
            let ids: Vec<(i64, i64)> = insert.build_query_as().fetch_all(&mut *tx).await?;
            let mut nodes = QueryBuilder::<$db>::new(
                "INSERT INTO node_runs (execution_id, node_id, status, attempt, input, output, started_at, finished_at) ",
            );
            nodes.push_values(ids.iter(), |mut row, (id, at)| {
                row.push_bind(*id)
                    .push_bind("t")
                    .push_bind("succeeded")
                    .push_bind(1_i32)
                    .push_bind(Json(serde_json::json!({"who": "seed"})))
                    .push_bind(&output)
                    .push_bind(*at)
                    .push_bind(*at + 3);
            });
            nodes.build().execute(&mut *tx).await?;
        }
        // The chart's per-hour counts, once for all (as the migration fills
        // them for runs already there), not one upsert per 500 rows.
        for statement in RECOUNT_HOURS {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        anyhow::Ok(())
    }};
}

/// Seeds `workflows` workflows and `executions` finished executions (spread
/// over them, one every `every_ms` up to now, each with its node's row) for
/// the user with this email, creating the user if needed.
pub async fn seed(
    database: &DatabaseSettings,
    email: &str,
    workflows: usize,
    executions: usize,
    every_ms: i64,
) -> anyhow::Result<Seeded> {
    let store = super::connect(database).await?;
    let owner = match store.user_by_email(email).await? {
        Some(user) => user,
        None => store.create_user(email, None, false).await?,
    };
    let definition: WorkflowDefinition = serde_json::from_value(serde_json::json!({
        "name": "Seeded workflow",
        "nodes": [{"id": "t", "type": "template", "config": {"template": "hello {{ input.who }}"}}]
    }))?;
    let workflows = workflows.max(1);
    match database.backend()? {
        Backend::Sqlite => {
            let store = super::sqlite::SqliteStore::connect(database).await?;
            seed_backend!(store.pool(), sqlx::Sqlite, owner.id, workflows, executions, every_ms, &definition)?;
        }
        Backend::Postgres => {
            let store = super::postgres::PostgresStore::connect(database).await?;
            seed_backend!(store.pool(), sqlx::Postgres, owner.id, workflows, executions, every_ms, &definition)?;
        }
    }
    Ok(Seeded { owner_id: owner.id, workflows, executions })
}
