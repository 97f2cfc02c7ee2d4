//! `weft run FILE`: runs a definition file with the engine against the
//! configured store, showing each node's progress as it happens.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use app::model::*;
use app::ports::Store;
use app::services::workflows::Workflows;
use serde_json::Value;

use crate::config::{DatabaseSettings, EngineArgs};
use crate::engine::{Engine, StartRequest};
use crate::{server, store};

/// Exit codes: 0 the run succeeded, 1 it did not, 2 the definition or input is invalid.
pub async fn run_file(
    file: &Path,
    input: Option<&str>,
    json: bool,
    database: &DatabaseSettings,
    engine: &EngineArgs,
) -> ExitCode {
    let invalid = |message: String| {
        eprintln!("{message}");
        ExitCode::from(2)
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => return invalid(format!("weft: cannot read {}: {error}", file.display())),
    };
    let definition = match WorkflowDefinition::from_json(&text) {
        Ok(definition) => definition,
        Err(message) => return invalid(format!("{}: {message}", file.display())),
    };
    if let Err(errors) = validate(&definition) {
        let lines: Vec<String> = errors.iter().map(|e| format!("{}: {}", file.display(), e.message)).collect();
        return invalid(lines.join("\n"));
    }
    let input: Value = match input.map(serde_json::from_str).transpose() {
        Ok(input) => input.unwrap_or(Value::Object(Default::default())),
        Err(error) => return invalid(format!("weft: --input is not valid JSON: {error}")),
    };

    match execute(definition, input, json, database, engine).await {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report).expect("a report serializes"));
            }
            if report.status == ExecutionStatus::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("weft: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn execute(
    definition: WorkflowDefinition,
    input: Value,
    json: bool,
    database: &DatabaseSettings,
    engine_args: &EngineArgs,
) -> anyhow::Result<ExecutionReport> {
    let store = store::connect(database).await?;
    let owner = server::local_user(store.as_ref()).await?;
    let version = saved_version(store.clone(), owner.id, &definition).await?;
    let secrets = crate::secrets::SecretBox::load(&engine_args.secret_key_source()).context("the secret key")?;
    let engine = Engine::new(store, engine_args.into(), crate::bus::Bus::local(), std::sync::Arc::new(secrets))?;
    // Keeps this run's lease; a one-off run claims nothing from the queue.
    engine.spawn_workers(false);
    let mut handle = engine.start(StartRequest::new(&version, owner.id, Trigger::Cli, input)).await?;
    let id = handle.execution.id;

    // Progress goes to stderr with --json, so stdout carries only the result.
    let mut display = Display::new(&version.definition, json);
    loop {
        tokio::select! {
            event = handle.events.recv() => match event {
                Ok(RunEvent::Finished { .. }) | Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                Ok(event) => display.show(&event),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            },
            _ = tokio::signal::ctrl_c() => {
                engine.cancel(id);
            }
        }
    }
    let report = handle.done.await??;
    display.finish(&report);
    Ok(report)
}

/// The stored version to run: the local user's workflow of the same name,
/// given a new version when the file changed, or a new workflow.
async fn saved_version(
    store: Arc<dyn Store>,
    owner: UserId,
    definition: &WorkflowDefinition,
) -> anyhow::Result<WorkflowVersion> {
    // No other process is told: serving processes re-read a webhook's
    // workflow within a minute (the hook cache's time to live).
    let workflows = Workflows::new(store.clone(), Arc::new(|_| {}));
    let scope = Scope::Owner(owner);
    let page = store.list_workflows(scope, Some(&definition.name), None, MAX_PAGE_SIZE).await?;
    if let Some(existing) = page.items.iter().find(|w| w.name == definition.name) {
        let current = store.workflow(scope, existing.id).await?;
        if current.definition == *definition {
            return Ok(store.workflow_version(scope, existing.id, existing.current_version).await?);
        }
        return Ok(workflows.save(scope, existing.id, definition).await?);
    }
    let created = workflows.create(owner, definition).await?;
    Ok(store.workflow_version(scope, created.id, created.current_version).await?)
}

struct Line {
    status: NodeStatus,
    attempt: i32,
    detail: String,
    started: Option<i64>,
}

/// Live lines on a terminal (redrawn in place); one line per change otherwise.
struct Display {
    live: bool,
    to_stderr: bool,
    order: Vec<String>,
    lines: BTreeMap<String, Line>,
    drawn: usize,
}

impl Display {
    fn new(definition: &WorkflowDefinition, to_stderr: bool) -> Self {
        let live = if to_stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        let order: Vec<String> = definition.nodes.iter().map(|n| n.id.clone()).collect();
        let lines = order
            .iter()
            .map(|id| {
                (id.clone(), Line { status: NodeStatus::Queued, attempt: 0, detail: String::new(), started: None })
            })
            .collect();
        Self { live, to_stderr, order, lines, drawn: 0 }
    }

    fn write(&self, text: &str) {
        if self.to_stderr {
            let _ = std::io::stderr().write_all(text.as_bytes());
        } else {
            let _ = std::io::stdout().write_all(text.as_bytes());
            let _ = std::io::stdout().flush();
        }
    }

    fn show(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Node { node, status, attempt, error, at, .. } => {
                let Some(line) = self.lines.get_mut(node) else { return };
                if *status == NodeStatus::Running && line.started.is_none() {
                    line.started = Some(*at);
                }
                line.status = *status;
                line.attempt = *attempt;
                line.detail = match (status, error, line.started) {
                    (NodeStatus::Failed, Some(error), _) => error.clone(),
                    (NodeStatus::Succeeded, _, Some(started)) => format!("{} ms", at - started),
                    (NodeStatus::Running, _, _) if *attempt > 1 => format!("attempt {attempt}"),
                    _ => String::new(),
                };
                if !self.live && *status != NodeStatus::Queued {
                    let detail = if line.detail.is_empty() { String::new() } else { format!(" ({})", line.detail) };
                    self.write(&format!("{node} {status}{detail}\n"));
                }
            }
            RunEvent::Token { node, text } | RunEvent::Streamed { node, text } => {
                if let Some(line) = self.lines.get_mut(node) {
                    if matches!(event, RunEvent::Streamed { .. }) {
                        line.detail.clear();
                    }
                    line.detail.push_str(text);
                    let tail: String =
                        line.detail.chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
                    line.detail = tail.replace('\n', " ");
                }
            }
            RunEvent::Items { node, done, failed, total } => {
                if let Some(line) = self.lines.get_mut(node) {
                    line.detail = match failed {
                        0 => format!("{done} / {total} items"),
                        _ => format!("{done} / {total} items, {failed} failed"),
                    };
                }
            }
            RunEvent::Step { node, step, .. } => {
                if let Some(line) = self.lines.get_mut(node) {
                    line.detail = match step {
                        app::model::agent::AgentStep::Model { turn, calls, .. } if calls.is_empty() => {
                            format!("turn {turn}: answered")
                        }
                        app::model::agent::AgentStep::Model { turn, calls, .. } => {
                            let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
                            format!("turn {turn}: calls {}", names.join(", "))
                        }
                        app::model::agent::AgentStep::Tool { name, error: None, .. } => format!("{name} done"),
                        app::model::agent::AgentStep::Tool { name, .. } => format!("{name} failed"),
                        app::model::agent::AgentStep::Failed { .. } => String::new(),
                    };
                }
            }
            RunEvent::Finished { .. } => {}
        }
        if self.live {
            self.redraw();
        }
    }

    fn redraw(&mut self) {
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for id in &self.order {
            let line = &self.lines[id];
            let mark = match line.status {
                NodeStatus::Queued => "·",
                NodeStatus::Running => "▶",
                NodeStatus::Waiting => "⏸",
                NodeStatus::Succeeded => "✓",
                NodeStatus::Failed => "✗",
                NodeStatus::Skipped => "↷",
                NodeStatus::Cancelled => "■",
            };
            out.push_str(&format!("\x1b[2K{mark} {id:<20} {:<10} {}\n", line.status.as_str(), line.detail));
        }
        self.drawn = self.order.len();
        self.write(&out);
    }

    fn finish(&mut self, report: &ExecutionReport) {
        let error = report.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        self.write(&format!("execution {} {}{error}\n", report.id, report.status));
    }
}
