//! The store port, one trait per feature; [`Store`] is their sum. Code holding
//! an `Arc<dyn Store>` (or `&dyn Store`) calls any feature's methods with only
//! `Store` imported; code calling them on a concrete store imports the
//! features too: `use app::ports::store::*`.
//!
//! Implemented once per backend; one test suite (tests/store/) holds every
//! implementation to the same behaviour. Invariants every implementation keeps:
//! - A scoped read or write of an object outside the scope answers `NotFound`.
//! - Lists are sorted newest first and paged by key (a `Cursor`), never by offset.
//! - Multi-row writes happen in one transaction: they land whole or not at all.

use async_trait::async_trait;
use serde_json::Value;

use super::{ExecutionOutcome, Finish, HeldExecution, Lease, NewExecution};
use crate::error::{AppError, AppResult};
use crate::model::*;

/// The store's domain operations: every feature below, on one database.
pub trait Store:
    HealthStore
    + UserStore
    + SessionStore
    + ApiKeyStore
    + WorkflowStore
    + ExecutionStore
    + QueueStore
    + TriggerStore
    + RetentionStore
    + SettingStore
    + TemplateStore
    + CredentialStore
    + VariableStore
    + WaitStore
    + UsageStore
{
}

impl<T> Store for T where
    T: HealthStore
        + UserStore
        + SessionStore
        + ApiKeyStore
        + WorkflowStore
        + ExecutionStore
        + QueueStore
        + TriggerStore
        + RetentionStore
        + SettingStore
        + TemplateStore
        + CredentialStore
        + VariableStore
        + WaitStore
        + UsageStore
{
}

/// Which database this is and whether it answers.
#[async_trait]
pub trait HealthStore: Send + Sync + 'static {
    /// Which backend this is (`sqlite` or `postgres`), for logs and health checks.
    fn backend(&self) -> &'static str;

    /// Connections in the pool: (open, idle).
    fn pool_stats(&self) -> (u32, usize);

    /// Answers when the database does (used by readiness checks).
    async fn ping(&self) -> AppResult<()>;
}

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    async fn create_user(&self, email: &str, password_hash: Option<&str>, is_admin: bool) -> AppResult<User>;
    /// The first start's admin, created once: of set-ups racing each other one
    /// creates its admin, the others get a conflict.
    async fn create_first_admin(&self, email: &str, password_hash: &str) -> AppResult<User>;
    async fn user_by_email(&self, email: &str) -> AppResult<Option<User>>;
    async fn count_users(&self) -> AppResult<i64>;
    async fn user(&self, id: UserId) -> AppResult<User>;
    /// A user who can sign in, with their password hash (users without a
    /// password, like the built-in local user, are not found).
    async fn credentials(&self, email: &str) -> AppResult<Option<(User, String)>>;
    /// Replaces a user's password hash.
    async fn set_password_hash(&self, user: UserId, password_hash: &str) -> AppResult<()>;
    /// Whether any admin can sign in (none: the first start's set-up is due).
    async fn has_admin(&self) -> AppResult<bool>;
    /// Every user who can sign in, by email (disabled ones too).
    async fn list_users(&self) -> AppResult<Vec<User>>;
    /// Disables a user (now) or enables them again.
    async fn set_user_disabled(&self, user: UserId, disabled: bool) -> AppResult<()>;
    /// Gives everything `from` owns (workflows and executions) to `to`: what was
    /// made before accounts existed belongs to the first admin.
    async fn transfer_ownership(&self, from: UserId, to: UserId) -> AppResult<()>;
}

/// Browser sessions, by the SHA-256 of their token, and sign-in attempts.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn create_session(&self, token_hash: &str, user: UserId, expires_at: i64) -> AppResult<()>;
    /// The user of a session that has not expired at `now`.
    async fn session_user(&self, token_hash: &str, now: i64) -> AppResult<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> AppResult<()>;
    /// Ends every session of `user` but the one whose hash is `keep`; returns how many ended.
    async fn delete_user_sessions(&self, user: UserId, keep: Option<&str>) -> AppResult<u64>;
    /// Deletes sessions that expired before `now`; returns how many.
    async fn delete_expired_sessions(&self, now: i64) -> AppResult<u64>;

    // Sign-in attempts, counted in the database so that every process sharing
    // it enforces one limit.
    /// Records an attempt by `subject` at `at`; returns the subject's attempts
    /// since `since`, this one included.
    async fn record_sign_in_attempt(&self, subject: &str, at: i64, since: i64) -> AppResult<i64>;
    /// Forgets attempts made before `before`; returns how many.
    async fn delete_sign_in_attempts_before(&self, before: i64) -> AppResult<u64>;
}

/// API keys.
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    async fn create_api_key(
        &self,
        user: UserId,
        name: &str,
        prefix: &str,
        secret_hash: &str,
        limits: ApiKeyLimits,
    ) -> AppResult<ApiKey>;
    /// The key with this prefix, its secret's hash and its user; revoked keys,
    /// and keys of disabled users, are not found (expired ones are: the caller
    /// says that they expired).
    async fn api_key_by_prefix(&self, prefix: &str) -> AppResult<Option<(ApiKey, String, User)>>;
    async fn list_api_keys(&self, user: UserId) -> AppResult<Vec<ApiKey>>;
    async fn revoke_api_key(&self, user: UserId, id: i64) -> AppResult<()>;
}

/// Workflows and their versions.
#[async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// Creates a workflow and its version 1 in one transaction. The definition
    /// must already be validated.
    async fn create_workflow(&self, owner: UserId, definition: &WorkflowDefinition) -> AppResult<WorkflowSummary>;
    /// Saves a new immutable version and makes it current.
    async fn save_workflow_version(
        &self,
        scope: Scope,
        id: WorkflowId,
        definition: &WorkflowDefinition,
    ) -> AppResult<WorkflowVersion>;
    async fn workflow(&self, scope: Scope, id: WorkflowId) -> AppResult<Workflow>;
    async fn workflow_version(&self, scope: Scope, id: WorkflowId, version: i32) -> AppResult<WorkflowVersion>;
    /// Several workflows by id with their current definitions, in two queries
    /// however many; in the order asked, leaving out those not in scope.
    async fn workflows(&self, scope: Scope, ids: &[WorkflowId]) -> AppResult<Vec<Workflow>>;
    /// Versions of a workflow, newest first.
    async fn workflow_versions(&self, scope: Scope, id: WorkflowId) -> AppResult<Vec<WorkflowVersion>>;
    /// Workflows by last update, newest first; `search` matches names containing
    /// it, ignoring case. Each row carries its latest execution, from the same query.
    async fn list_workflows(
        &self,
        scope: Scope,
        search: Option<&str>,
        after: Option<Cursor>,
        limit: u32,
    ) -> AppResult<Page<WorkflowSummary>>;
    /// Deletes a workflow with its versions and executions.
    async fn delete_workflow(&self, scope: Scope, id: WorkflowId) -> AppResult<()>;
    /// The names of several workflows at once (one query, not one per row).
    async fn workflow_names(&self, scope: Scope, ids: &[WorkflowId]) -> AppResult<Vec<(WorkflowId, String)>>;
}

/// Executions and node runs.
#[async_trait]
pub trait ExecutionStore: Send + Sync + 'static {
    async fn create_execution(&self, new: &NewExecution) -> AppResult<Execution> {
        let mut created = self.create_executions(std::slice::from_ref(new)).await?;
        created.pop().ok_or(AppError::Internal)
    }
    /// Creates several executions with one INSERT (the engine groups the runs
    /// that start together); returns them in the order asked. One bad row (an
    /// unknown workflow version) fails them all.
    async fn create_executions(&self, new: &[NewExecution]) -> AppResult<Vec<Execution>>;
    /// Upserts node states of one execution, many at once, in one transaction
    /// (the engine batches its state changes and flushes them here). Fenced like
    /// `finish_execution`: only the lease's holder writes; for anyone else this
    /// writes nothing and answers `false` (another process took the execution
    /// over, and its states are now that process's to write).
    async fn record_node_runs(&self, execution: ExecutionId, lease_owner: &str, runs: &[NodeRun]) -> AppResult<bool>;
    /// Records ended items of `for_each` nodes, and an agent's steps (many
    /// at once, in one transaction; an item recorded again is replaced). Fenced like
    /// [`ExecutionStore::record_node_runs`]: `false` when another process holds the execution.
    async fn record_node_items(&self, execution: ExecutionId, lease_owner: &str, items: &[NodeItem])
        -> AppResult<bool>;
    /// The items recorded for an execution (resuming it), by node and index.
    async fn node_items_of(&self, execution: ExecutionId) -> AppResult<Vec<NodeItem>>;
    /// Deletes the items of `nodes` (`for_each` nodes of a finished
    /// execution, whose outputs hold them); other nodes' rows (an agent's
    /// trace) stay until the execution is deleted.
    async fn forget_node_items(&self, execution: ExecutionId, nodes: &[String]) -> AppResult<()>;
    /// Writes the last node states and the final status in one transaction, so a
    /// run reported as finished is never missing its nodes. Only the lease's
    /// holder may finish it: for anyone else (the lease expired and another
    /// process took the execution over) this is a `Conflict` and writes nothing.
    async fn finish_execution(
        &self,
        id: ExecutionId,
        lease_owner: &str,
        last_runs: &[NodeRun],
        outcome: &ExecutionOutcome,
    ) -> AppResult<()> {
        let finish = Finish {
            id,
            lease_owner: lease_owner.to_string(),
            last_runs: last_runs.to_vec(),
            outcome: outcome.clone(),
        };
        match self.finish_executions(std::slice::from_ref(&finish)).await?.as_slice() {
            [true] => Ok(()),
            _ => Err(AppError::Conflict(format!("execution {id} is no longer held by this process"))),
        }
    }
    /// [`ExecutionStore::finish_execution`] for many executions in one
    /// transaction (the engine's group commit); says for each whether it was
    /// written (`false`: its lease is held by someone else, and nothing of it
    /// was written).
    async fn finish_executions(&self, finishes: &[Finish]) -> AppResult<Vec<bool>>;
    async fn execution(&self, scope: Scope, id: ExecutionId) -> AppResult<Execution>;
    async fn node_runs(&self, scope: Scope, id: ExecutionId) -> AppResult<Vec<NodeRun>>;
    async fn list_executions(
        &self,
        scope: Scope,
        filter: &ExecutionFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> AppResult<Page<Execution>>;
    /// How many executions match, counting no further than `cap` (the history
    /// shows "more than …" rather than counting a huge history on every load).
    async fn count_executions_up_to(&self, scope: Scope, filter: &ExecutionFilter, cap: u32) -> AppResult<i64>;
    /// Matching executions per hour (UTC) and status, oldest hour first.
    async fn executions_per_hour(&self, scope: Scope, filter: &ExecutionFilter) -> AppResult<Vec<HourCount>>;
    /// The latest child run a `workflow` node started for one item (0 without
    /// `for_each`), if it started one: a parent resumed after a crash finds it.
    async fn child_execution(&self, parent: ExecutionId, node: &str, item: i64) -> AppResult<Option<Execution>>;
    /// Runs started by `workflow` nodes of `parent`, oldest first, at most
    /// `limit`; with `active_only`, those not finished (what a cancel reaches).
    async fn child_executions(&self, parent: ExecutionId, active_only: bool, limit: u32) -> AppResult<Vec<Execution>>;
}

/// The queue (see migrations/*/0005_queue_and_leases.sql).
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Claims up to `limit` claimable executions (queued, or running under a
    /// lease that expired at or before `now`), oldest first, for `lease`. Each
    /// is claimed by one process only; claimed executions are running.
    /// Queued executions of the owners in `skip` are left in the queue.
    async fn claim_executions(&self, lease: &Lease, now: i64, limit: u32, skip: &[UserId])
        -> AppResult<Vec<Execution>>;
    /// The recorded node states of several executions (resuming what was claimed).
    async fn node_runs_of(&self, ids: &[ExecutionId]) -> AppResult<Vec<NodeRun>>;
    /// Extends every lease `lease.owner` holds to `lease.expires_at`; returns the
    /// executions still held (one missing from it was taken over elsewhere).
    async fn renew_leases(&self, lease: &Lease) -> AppResult<Vec<HeldExecution>>;
    /// Ends every lease now (a single process starting on SQLite: whoever held
    /// them is gone); returns how many running executions became claimable.
    async fn expire_leases(&self) -> AppResult<u64>;
    /// Hands executions back to the queue (a process shutting down): claimable at once.
    async fn release_executions(&self, owner: &str, ids: &[ExecutionId]) -> AppResult<()>;
    /// When the earliest lease not held by `owner` expires (`Some(0)`: something
    /// is claimable now; `None`: nothing is queued or running elsewhere),
    /// leaving out the queued executions of the owners in `skip`.
    async fn next_claimable_at(&self, owner: &str, skip: &[UserId]) -> AppResult<Option<i64>>;
    /// Asks for an execution to be cancelled. A queued one is cancelled here and
    /// then (`Cancelled`); a running one is flagged for its process (`Running`).
    /// A finished one is a `Conflict`.
    async fn request_cancel(&self, scope: Scope, id: ExecutionId) -> AppResult<ExecutionStatus>;
}

/// Triggers (kept in step with each saved version's `triggers`).
#[async_trait]
pub trait TriggerStore: Send + Sync + 'static {
    /// What `/hooks/{address}` runs. A webhook's address is `{id}/{path}`, the
    /// id random and kept across versions; webhooks saved before ids existed
    /// keep their bare path.
    async fn webhook(&self, address: &str) -> AppResult<Option<WebhookTarget>>;
    /// A workflow's webhooks: (method, address), by address.
    async fn webhook_addresses(&self, workflow: WorkflowId) -> AppResult<Vec<(String, String)>>;
    /// Schedules whose next firing time is unknown or at or before `now`.
    async fn schedules_to_plan(&self, now: i64, limit: u32) -> AppResult<Vec<Schedule>>;
    /// Moves a schedule's next firing time from `expected` to `next`; false when
    /// another process moved it first (so each tick fires once).
    async fn claim_schedule(&self, id: i64, expected: Option<i64>, next: i64) -> AppResult<bool>;
    /// The schedules of a workflow (for showing the next run times).
    async fn workflow_schedules(&self, scope: Scope, id: WorkflowId) -> AppResult<Vec<Schedule>>;

    /// The earliest planned firing time of any schedule (`None`: no schedules).
    async fn next_schedule_time(&self) -> AppResult<Option<i64>>;
}

/// Retention. Only finished executions are ever deleted; each call deletes at
/// most `batch` of them (with their node runs) in one short transaction.
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Deletes finished executions created before `before`; returns how many.
    async fn delete_executions_before(&self, before: i64, batch: u32) -> AppResult<u64>;
    /// Workflows with more than `keep` executions (one pass over the workflow index).
    async fn workflows_with_more_executions_than(&self, keep: u32) -> AppResult<Vec<WorkflowId>>;
    /// Deletes finished executions of one workflow beyond its newest `keep`
    /// (found and deleted through the workflow's index, never a full scan).
    async fn delete_executions_beyond(&self, workflow: WorkflowId, keep: u32, batch: u32) -> AppResult<u64>;
    /// Gives freed space back (SQLite: WAL checkpoint and incremental vacuum).
    async fn compact(&self) -> AppResult<()>;
}

/// Settings (JSON values by key).
#[async_trait]
pub trait SettingStore: Send + Sync + 'static {
    async fn setting(&self, key: &str) -> AppResult<Option<Value>>;
    async fn put_setting(&self, key: &str, value: &Value) -> AppResult<()>;
    /// Every setting, by key.
    async fn settings(&self) -> AppResult<Vec<(String, Value)>>;
}

/// Marketplace templates.
#[async_trait]
pub trait TemplateStore: Send + Sync + 'static {
    /// Inserts or replaces the template with this slug.
    async fn upsert_template(
        &self,
        slug: &str,
        description: &str,
        definition: &WorkflowDefinition,
        author: Option<UserId>,
    ) -> AppResult<MarketplaceTemplate>;
    async fn list_templates(&self, search: Option<&str>) -> AppResult<Vec<MarketplaceTemplate>>;
    async fn template(&self, slug: &str) -> AppResult<MarketplaceTemplate>;
}

/// Credentials: sealed values by name, a user's own or shared by an admin.
/// The store never sees a value in the clear.
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// A new credential; `Conflict` when its owner already has one of that name.
    async fn create_credential(
        &self,
        owner: Ownership,
        created_by: UserId,
        name: &str,
        kind: &str,
        sealed: &str,
    ) -> AppResult<Credential>;
    /// The credentials `user` may use (their own, then the shared ones), by
    /// name, each with the user's workflows that use it. No values.
    async fn list_credentials(&self, user: UserId) -> AppResult<Vec<Credential>>;
    /// Replaces a credential's value (and kind), keeping its name: workflows
    /// that use it go on working. `NotFound` when there is none.
    async fn replace_credential(&self, owner: Ownership, name: &str, kind: &str, sealed: &str) -> AppResult<()>;
    /// Deletes a credential, unless a workflow's current version uses it:
    /// then `Conflict`, naming those workflows.
    async fn delete_credential(&self, owner: Ownership, name: &str) -> AppResult<()>;
    /// What a run of `user` sends for `name`: their own credential of that
    /// name, else the shared one.
    async fn credential_for_run(&self, user: UserId, name: &str) -> AppResult<Option<SealedCredential>>;
    /// Records that a run sent credential `id` at `at`.
    async fn mark_credential_used(&self, id: i64, at: i64) -> AppResult<()>;
    /// The credential `name` of exactly `owner` (a user's own, or the shared one).
    async fn owned_credential(&self, owner: Ownership, name: &str) -> AppResult<Option<SealedCredential>>;
    /// Credential `id`, whoever owns it (an OAuth2 callback names it by id).
    async fn credential_by_id(&self, id: i64) -> AppResult<Option<SealedCredential>>;
    /// Stores an OAuth2 credential's new tokens if its tokens are still
    /// `previous` (compare and swap: when two processes refresh at once, one
    /// write wins and the other reads the winner's tokens). `false` when they changed.
    async fn save_credential_tokens(&self, id: i64, previous: Option<&str>, tokens: &str) -> AppResult<bool>;
    /// Every credential's sealed value and tokens (to re-seal them under a new key).
    async fn sealed_credentials(&self) -> AppResult<Vec<SealedCredential>>;
    /// Writes re-sealed credentials and settings in one transaction: after a
    /// key rotation, all of them or none are under the new key.
    async fn reseal(&self, credentials: &[SealedCredential], settings: &[(String, Value)]) -> AppResult<()>;
}

/// Variables: a user's own and the instance's, by name.
#[async_trait]
pub trait VariableStore: Send + Sync + 'static {
    /// Sets a variable (made or replaced); `BadRequest` past the most an owner may hold.
    async fn put_variable(&self, owner: Ownership, name: &str, value: &str) -> AppResult<()>;
    /// `NotFound` when there is none.
    async fn delete_variable(&self, owner: Ownership, name: &str) -> AppResult<()>;
    /// The user's variables and the instance's, by name (both kept: the list says which is which).
    async fn list_variables(&self, user: UserId) -> AppResult<Vec<Variable>>;
    /// What a run of `user` reads as `vars`: the instance's, overridden by the user's own.
    async fn variables_for_run(&self, user: UserId) -> AppResult<std::collections::BTreeMap<String, String>>;
}

/// Runs paused at `wait` nodes. A wait's row is its one-time guard: ending it
/// deletes the row, so a second resume (or a timeout after a resume) finds none.
#[async_trait]
pub trait WaitStore: Send + Sync + 'static {
    /// Records that a node waits, with its state (`run`, status `waiting`), in
    /// the execution `lease_owner` holds; `false` when another process holds it.
    async fn add_wait(&self, lease_owner: &str, wait: &Wait, run: &NodeRun) -> AppResult<bool>;
    /// Parks a held execution that has nothing left to run but its
    /// `waiting_nodes` waits: writes its last node states and releases it. It
    /// becomes `waiting`; or `queued`, to go on at once, when fewer waits are
    /// left than it waits for (one was ended while it ran). `None` (nothing
    /// written) when another process holds it.
    async fn park_execution(
        &self,
        id: ExecutionId,
        lease_owner: &str,
        last_runs: &[NodeRun],
        waiting_nodes: usize,
    ) -> AppResult<Option<ExecutionStatus>>;
    /// Ends the wait of node `node`: records the node's result and, when the
    /// run is parked, queues it to go on (the status it now has). `NotFound`
    /// outside `scope`; `Conflict` when the node does not wait (it was resumed
    /// already, timed out, or the run ended).
    async fn end_wait(&self, scope: Scope, id: ExecutionId, node: &str, end: &WaitEnd) -> AppResult<ExecutionStatus>;
    /// The waits of an execution.
    async fn waits_of(&self, id: ExecutionId) -> AppResult<Vec<Wait>>;
    /// Waits whose deadline is at or before `now`, earliest first, `limit` at most.
    async fn waits_due(&self, now: i64, limit: u32) -> AppResult<Vec<Wait>>;
    /// The earliest deadline of any wait (`None`: none has one).
    async fn next_wait_deadline(&self) -> AppResult<Option<i64>>;
    /// Deletes what is left of an execution's waits (it ended without them).
    async fn forget_waits(&self, id: ExecutionId) -> AppResult<()>;
}

/// What `llm` nodes spent upstream (see `model::usage`). Calls are kept apart
/// from the runs they belong to: deleting a run (retention) keeps what it spent.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Records calls, in one transaction.
    async fn record_llm_calls(&self, calls: &[LlmCall]) -> AppResult<()>;
    /// The calls of a run, a workflow or a user made at or after `since` (ms), summed.
    async fn llm_usage(&self, of: UsageOf, since: i64) -> AppResult<UsageTotals>;
    /// A user's calls at or after `since`, summed per UTC day (the day's first
    /// millisecond), oldest first; days without calls are left out.
    async fn llm_usage_by_day(&self, user: UserId, since: i64) -> AppResult<Vec<(i64, UsageTotals)>>;
}
