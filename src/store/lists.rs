//! The SQL of the two list pages (workflows, the execution history) and of the
//! history's filters, written once for both ways it is run: through sqlx's
//! `QueryBuilder` (PostgreSQL's pages; both backends' counts and chart) and
//! through the SQLite page reader's `Sql` (rusqlite). The store suite checks
//! both backends return the same pages.

use app::error::AppResult;
use app::model::{Cursor, ExecutionFilter, Scope};

/// Columns of a workflow list row, with its latest execution found by an
/// indexed subquery (`executions_workflow_created`): one query, not one per row.
pub(crate) const WORKFLOW_COLUMNS: &str = "
    SELECT w.id, w.owner_id, w.name, w.description, w.current_version, w.created_at, w.updated_at,
           le.id AS last_id, le.status AS last_status, le.created_at AS last_created_at
    FROM workflows w
    LEFT JOIN executions le ON le.id = (
        SELECT e.id FROM executions e WHERE e.workflow_id = w.id
        ORDER BY e.created_at DESC, e.id DESC LIMIT 1)
    WHERE 1 = 1";

pub(crate) const EXECUTION_COLUMNS: &str =
    "id, workflow_id, version, owner_id, trigger, input, status, created_at, started_at, finished_at, error, \
     parent_execution_id, parent_node, depth";

/// SQL being written, with each parameter bound where it stands.
pub(crate) trait SqlWriter {
    fn sql(&mut self, text: &str);
    fn int(&mut self, value: i64);
    fn text(&mut self, value: String);
}

impl<'args, DB: sqlx::Database> SqlWriter for sqlx::QueryBuilder<'args, DB>
where
    i64: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
    String: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    fn sql(&mut self, text: &str) {
        self.push(text);
    }

    fn int(&mut self, value: i64) {
        self.push_bind(value);
    }

    fn text(&mut self, value: String) {
        self.push_bind(value);
    }
}

/// A backend's condition on `w.name` for a search, served by its own index:
/// the clause before its one parameter, the parameter, the clause after it.
pub(crate) type NameSearch = fn(&str) -> (&'static str, String, &'static str);

/// Only the owner's rows, unless the scope is everyone's.
pub(crate) fn scope(query: &mut impl SqlWriter, column: &str, scope: Scope) {
    if let Scope::Owner(owner) = scope {
        query.sql(&format!(" AND {column} = "));
        query.int(owner);
    }
}

/// The history's filters, as conditions for lists, counts and the chart.
pub(crate) fn execution_filter(query: &mut impl SqlWriter, within: Scope, filter: &ExecutionFilter) {
    scope(query, "owner_id", within);
    if let Some(owner) = filter.owner_id {
        query.sql(" AND owner_id = ");
        query.int(owner);
    }
    if let Some(workflow) = filter.workflow_id {
        query.sql(" AND workflow_id = ");
        query.int(workflow);
    }
    if let Some(status) = filter.status {
        query.sql(" AND status = ");
        query.text(status.as_str().to_owned());
    }
    if let Some(from) = filter.from {
        query.sql(" AND created_at >= ");
        query.int(from);
    }
    if let Some(to) = filter.to {
        query.sql(" AND created_at < ");
        query.int(to);
    }
}

/// A page of the caller's workflows, newest change first, with each one's
/// last execution: `limit` rows and one more, to know whether another page
/// follows. A search holding a NUL character is refused (`check_search`).
pub(crate) fn workflows_page(
    query: &mut impl SqlWriter,
    within: Scope,
    search: Option<&str>,
    name_search: NameSearch,
    after: Option<Cursor>,
    limit: u32,
) -> AppResult<()> {
    query.sql(WORKFLOW_COLUMNS);
    scope(query, "w.owner_id", within);
    if let Some(search) = search.filter(|s| !s.is_empty()) {
        super::check_search(search)?;
        let (before, pattern, after) = name_search(search);
        query.sql(before);
        query.text(pattern);
        query.sql(after);
    }
    page_end(query, after, ("w.updated_at", "w.id"), limit);
    Ok(())
}

/// A page of the execution history, newest first (`limit` rows and one more).
pub(crate) fn executions_page(
    query: &mut impl SqlWriter,
    within: Scope,
    filter: &ExecutionFilter,
    after: Option<Cursor>,
    limit: u32,
) {
    query.sql(&format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE 1 = 1"));
    execution_filter(query, within, filter);
    page_end(query, after, ("created_at", "id"), limit);
}

/// Rows strictly after the cursor in (time, id) descending order, in that
/// order, one more than the page.
fn page_end(query: &mut impl SqlWriter, after: Option<Cursor>, (at, id): (&str, &str), limit: u32) {
    if let Some(after) = after {
        query.sql(&format!(" AND ({at}, {id}) < ("));
        query.int(after.at);
        query.sql(", ");
        query.int(after.id);
        query.sql(")");
    }
    query.sql(&format!(" ORDER BY {at} DESC, {id} DESC LIMIT "));
    query.int(i64::from(limit) + 1);
}

#[cfg(test)]
mod tests {
    use app::model::ExecutionStatus;

    use super::*;

    /// What was written: the SQL with `?` for each parameter, and the parameters.
    #[derive(Default)]
    struct Written(String, Vec<String>);

    impl SqlWriter for Written {
        fn sql(&mut self, text: &str) {
            self.0.push_str(text);
        }
        fn int(&mut self, value: i64) {
            self.0.push('?');
            self.1.push(value.to_string());
        }
        fn text(&mut self, value: String) {
            self.0.push('?');
            self.1.push(value);
        }
    }

    #[test]
    fn every_filter_becomes_a_condition_with_its_parameter_in_place() {
        let filter = ExecutionFilter {
            status: Some(ExecutionStatus::Failed),
            workflow_id: Some(7),
            owner_id: Some(3),
            from: Some(100),
            to: Some(200),
        };
        let mut written = Written::default();
        execution_filter(&mut written, Scope::Owner(3), &filter);
        assert_eq!(
            written.0,
            " AND owner_id = ? AND owner_id = ? AND workflow_id = ? AND status = ? AND created_at >= ? AND created_at < ?"
        );
        assert_eq!(written.1, ["3", "3", "7", "failed", "100", "200"]);

        let mut everyone = Written::default();
        execution_filter(&mut everyone, Scope::Everyone, &ExecutionFilter::default());
        assert_eq!(everyone.0, "", "no filter, no condition");
    }

    #[test]
    fn a_page_after_a_cursor_asks_for_one_row_more_than_it_shows() {
        let mut written = Written::default();
        let search: NameSearch = |s| (" AND w.name LIKE ", format!("%{s}%"), "");
        workflows_page(&mut written, Scope::Owner(1), Some("ab"), search, Some(Cursor { at: 50, id: 9 }), 20).unwrap();
        assert!(written.0.starts_with(WORKFLOW_COLUMNS));
        assert!(written.0.ends_with(
            " AND w.owner_id = ? AND w.name LIKE ? AND (w.updated_at, w.id) < (?, ?) ORDER BY w.updated_at DESC, w.id DESC LIMIT ?"
        ));
        assert_eq!(written.1, ["1", "%ab%", "50", "9", "21"]);
    }
}
