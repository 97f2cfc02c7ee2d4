//! The history chart: executions per hour and status. Finished executions
//! are read from `execution_hours` (see its migration), which the store keeps
//! in the same transactions that end, cancel and delete runs
//! ([`Backend::count_ended`]), so a chart of 48 hours reads at most 48 rows per
//! status however many runs those hours hold. The runs that have not ended
//! yet, and the parts of hours at the ends of a range that does not start or
//! end on the hour, are counted from `executions` itself.

use std::collections::BTreeMap;

use app::error::{AppError, AppResult};
use app::model::*;
use sqlx::QueryBuilder;

use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::db_error;
use crate::store::lists;

const HOUR_MS: i64 = 3_600_000;
/// Rows per upsert (5 parameters each).
const ROLLUP_BATCH: usize = 500;

/// `delta` finished runs (negative: deleted) with `status`, created in
/// `created_at`'s hour, of `owner`'s `workflow`.
pub(super) struct Ended {
    pub owner: i64,
    pub workflow: i64,
    pub created_at: i64,
    pub status: String,
    pub delta: i64,
}

/// `(hour, status)` → count, merged from the rollup and the live counts (in
/// the order of hour, then status's name).
type Counts = BTreeMap<(i64, &'static str), (ExecutionStatus, i64)>;

impl Backend {
    /// Counts `changes` in the rollup at its three levels, within `tx`. One
    /// upsert per 500 rows, in key order: transactions of several processes
    /// that end runs at once take these rows' locks in the same order, so they
    /// wait for each other instead of deadlocking. Rows left counting nothing
    /// are deleted, so the table holds only hours that still have runs.
    pub(super) async fn count_ended(tx: &mut sqlx::Transaction<'_, Db>, changes: &[Ended]) -> Result<(), sqlx::Error> {
        let mut totals: BTreeMap<(i64, i64, i64, &str), i64> = BTreeMap::new();
        for change in changes {
            let hour = floor_hour(change.created_at);
            for (owner, workflow) in [(0, 0), (change.owner, 0), (change.owner, change.workflow)] {
                *totals.entry((owner, workflow, hour, change.status.as_str())).or_default() += change.delta;
            }
        }
        totals.retain(|_, delta| *delta != 0);
        let rows: Vec<_> = totals.into_iter().collect();
        for chunk in rows.chunks(ROLLUP_BATCH) {
            let mut upsert =
                QueryBuilder::<Db>::new("INSERT INTO execution_hours (owner_id, workflow_id, hour, status, count) ");
            upsert.push_values(chunk, |mut row, ((owner, workflow, hour, status), delta)| {
                row.push_bind(*owner).push_bind(*workflow).push_bind(*hour).push_bind(*status).push_bind(*delta);
            });
            upsert.push(
                " ON CONFLICT (owner_id, workflow_id, hour, status) DO UPDATE SET count = execution_hours.count + excluded.count",
            );
            upsert.build().execute(&mut **tx).await?;
        }
        if rows.iter().any(|(_, delta)| *delta < 0) {
            for chunk in rows.chunks(ROLLUP_BATCH) {
                let mut empty = QueryBuilder::<Db>::new(
                    "DELETE FROM execution_hours WHERE count <= 0 AND (owner_id, workflow_id, hour, status) IN (",
                );
                empty.push_values(chunk, |mut row, ((owner, workflow, hour, status), _)| {
                    row.push_bind(*owner).push_bind(*workflow).push_bind(*hour).push_bind(*status);
                });
                empty.push(")");
                empty.build().execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn chart(&self, scope: Scope, filter: &ExecutionFilter) -> AppResult<Vec<HourCount>> {
        // The whole hours of the range: [first, end).
        let first = filter.from.map(|from| floor_hour(from.saturating_add(HOUR_MS - 1)));
        let end = filter.to.map(floor_hour);
        let mut counts = Counts::new();
        if let (Some(first), Some(end)) = (first, end) {
            if first >= end {
                // Less than one whole hour: few enough runs to count one by one.
                self.count_runs(scope, filter, &[], &mut counts).await?;
                return Ok(into_hours(counts));
            }
        }
        let whole = ExecutionFilter { from: first, to: end, ..filter.clone() };
        self.count_finished(scope, &whole, &mut counts).await?;
        let unfinished: Vec<ExecutionStatus> =
            ExecutionStatus::ALL.iter().copied().filter(|status| !status.is_finished()).collect();
        match filter.status {
            Some(status) if status.is_finished() => {}
            Some(_) => self.count_runs(scope, &whole, &[], &mut counts).await?,
            None => self.count_runs(scope, &whole, &unfinished, &mut counts).await?,
        }
        // The part-hours before the first whole hour and after the last.
        if let (Some(from), Some(first)) = (filter.from, first) {
            if from < first {
                let head = ExecutionFilter { to: Some(first), ..filter.clone() };
                self.count_runs(scope, &head, &[], &mut counts).await?;
            }
        }
        if let (Some(to), Some(end)) = (filter.to, end) {
            if end < to {
                let tail = ExecutionFilter { from: Some(end), ..filter.clone() };
                self.count_runs(scope, &tail, &[], &mut counts).await?;
            }
        }
        Ok(into_hours(counts))
    }

    /// Finished runs per hour from the rollup, at the level the filters name:
    /// one workflow's rows, one owner's, or everyone's.
    async fn count_finished(&self, scope: Scope, filter: &ExecutionFilter, counts: &mut Counts) -> AppResult<()> {
        if filter.status.is_some_and(|status| !status.is_finished()) {
            return Ok(());
        }
        let mut query =
            QueryBuilder::<Db>::new("SELECT hour, status, CAST(SUM(count) AS BIGINT) FROM execution_hours WHERE ");
        let owner = match scope {
            Scope::Owner(owner) => Some(owner),
            Scope::Everyone => None,
        };
        if let Some(workflow) = filter.workflow_id {
            // The workflow's own owner leads the key; a workflow outside the
            // scope or the owner filter then matches no row.
            query
                .push("owner_id = (SELECT owner_id FROM workflows WHERE id = ")
                .push_bind(workflow)
                .push(") AND workflow_id = ")
                .push_bind(workflow);
            for owner in owner.into_iter().chain(filter.owner_id) {
                query.push(" AND owner_id = ").push_bind(owner);
            }
        } else {
            match (owner, filter.owner_id) {
                (Some(a), Some(b)) if a != b => return Ok(()),
                (Some(owner), _) | (None, Some(owner)) => query.push("owner_id = ").push_bind(owner),
                (None, None) => query.push("owner_id = 0"),
            };
            query.push(" AND workflow_id = 0");
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(from) = filter.from {
            query.push(" AND hour >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            query.push(" AND hour < ").push_bind(to);
        }
        query.push(" GROUP BY hour, status");
        let rows: Vec<(i64, String, i64)> = query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        add(counts, rows)
    }

    /// Runs per hour counted one by one, of the given statuses (all: empty).
    async fn count_runs(
        &self,
        scope: Scope,
        filter: &ExecutionFilter,
        statuses: &[ExecutionStatus],
        counts: &mut Counts,
    ) -> AppResult<()> {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT (created_at / 3600000) * 3600000 AS hour, status, COUNT(*) FROM executions WHERE 1 = 1",
        );
        lists::execution_filter(&mut query, scope, filter);
        if !statuses.is_empty() {
            query.push(" AND status IN (");
            let mut list = query.separated(", ");
            for status in statuses {
                list.push_bind(status.as_str());
            }
            query.push(")");
        }
        query.push(" GROUP BY hour, status");
        let rows: Vec<(i64, String, i64)> = query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        add(counts, rows)
    }
}

fn floor_hour(at: i64) -> i64 {
    at.div_euclid(HOUR_MS) * HOUR_MS
}

fn add(counts: &mut Counts, rows: Vec<(i64, String, i64)>) -> AppResult<()> {
    for (hour, status, count) in rows {
        let status = ExecutionStatus::parse(&status).ok_or(AppError::Internal)?;
        counts.entry((hour, status.as_str())).or_insert((status, 0)).1 += count;
    }
    Ok(())
}

fn into_hours(counts: Counts) -> Vec<HourCount> {
    counts
        .into_iter()
        .filter(|(_, (_, count))| *count > 0)
        .map(|((hour, _), (status, count))| HourCount { hour, status, count })
        .collect()
}
