//! The command line: `weft serve` (the default), `weft run FILE`, `weft check FILE`,
//! and the administration commands (`user`, `api-key`, `secrets`, `seed`).

mod accounts;
mod run;

pub use accounts::hash_password;

use std::path::PathBuf;
use std::process::ExitCode;

use app::model::{validate_to_save, WorkflowDefinition};
use clap::{Parser, Subcommand};

use crate::config::{DatabaseSettings, EngineArgs, QueueArgs, SiteSettings};
use crate::engine::EngineSettings;
use crate::{server, telemetry};

#[derive(Debug, Parser)]
#[command(name = "weft", version, about = "Weft, a self-hosted workflow engine")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per process: the size of the `serve` settings costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web app and API (the default).
    Serve {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        site: SiteSettings,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// Validate a workflow definition file; exits 2 when it is invalid.
    Check { file: PathBuf },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Seal secrets under a new key (see the README's key rotation).
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Fill the database with generated workflows and executions (for load tests).
    Seed {
        /// The owner of what is seeded (created when missing).
        #[arg(long, default_value = "load@weft.invalid")]
        email: String,
        #[arg(long, default_value_t = 100_000)]
        workflows: usize,
        #[arg(long, default_value_t = 1_000_000)]
        executions: usize,
        /// Milliseconds between two seeded executions (the newest is now).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..))]
        every_ms: i64,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Run one retention pass now, as the server does every
    /// `--retention-interval-secs`, and print what it deleted and how long it took.
    Retention {
        #[command(flatten)]
        retention: crate::retention::RetentionSettings,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Run a workflow definition file, showing each node's progress. Exits 0 when
    /// the run succeeded, 1 when it did not, 2 when the definition is invalid.
    Run {
        file: PathBuf,
        /// The run's input, as JSON.
        #[arg(long)]
        input: Option<String>,
        /// Print the execution result as JSON (progress goes to stderr).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is prompted for, or read from stdin's first line.
    Create {
        email: String,
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create an API key for a user and print it (only this once).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// The key stops working after this many days (1 to 3650; default: no expiry).
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// The key may only read (GET requests); anything else is refused with 403.
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Print a new random key (64 hex digits) for `WEFT_SECRET_KEY`.
    NewKey,
    /// Re-seal every stored secret (credentials, the LLM API key) under the
    /// current key, in one transaction; secrets sealed under
    /// `--secret-key-previous` are opened with it.
    Rotate {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        secret_key: crate::config::SecretKeyArgs,
    },
}

fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(work),
        Err(error) => {
            eprintln!("weft: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let command = cli.command.unwrap_or_else(|| {
        // `weft` alone serves with every setting from the environment.
        match Cli::try_parse_from(["weft", "serve"]) {
            Ok(Cli { command: Some(command) }) => command,
            _ => unreachable!("`weft serve` always parses"),
        }
    });
    match command {
        Command::Serve { database, site, engine, queue } => serve(database, site, engine, queue),
        Command::Check { file } => check(&file),
        Command::Run { file, input, json, database, engine } => {
            block_on(run::run_file(&file, input.as_deref(), json, &database, &engine))
        }
        Command::Retention { retention, database } => block_on(async move {
            let started = std::time::Instant::now();
            let pass = async {
                let store = crate::store::connect(&database).await?;
                crate::retention::run_once(store.as_ref(), &retention).await
            };
            match pass.await {
                Ok(deleted) => {
                    println!("retention deleted {deleted} executions in {:.1?}", started.elapsed());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("weft: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Seed { email, workflows, executions, every_ms, database } => block_on(async move {
            let started = std::time::Instant::now();
            match crate::store::seed::seed(&database, &email, workflows, executions, every_ms).await {
                Ok(seeded) => {
                    let (w, e, owner) = (seeded.workflows, seeded.executions, seeded.owner_id);
                    println!("seeded {w} workflows and {e} executions for user {owner} in {:.1?}", started.elapsed());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("weft: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Secrets { command: SecretsCommand::NewKey } => {
            println!("{}", crate::secrets::SecretBox::new_key_hex());
            ExitCode::SUCCESS
        }
        Command::Secrets { command: SecretsCommand::Rotate { database, secret_key } } => block_on(async move {
            let result = async {
                let secrets = crate::secrets::SecretBox::load(&secret_key.source())?;
                let store = crate::store::connect(&database).await?;
                crate::secrets::reseal_all(store.as_ref(), &secrets).await
            }
            .await;
            match result {
                Ok(done) => {
                    println!(
                        "re-sealed {} credentials and {} settings under the current key",
                        done.credentials, done.settings
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("weft: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::User { command: UserCommand::Create { email, admin, database } } => {
            block_on(accounts::create_user(&email, admin, &database))
        }
        Command::ApiKey { command: ApiKeyCommand::Create { user, name, expires_in_days, read_only, database } } => {
            block_on(accounts::create_api_key(&user, &name, expires_in_days, read_only, &database))
        }
    }
}

fn serve(database: DatabaseSettings, site: SiteSettings, engine: EngineArgs, queue: QueueArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("weft: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let result = async {
            if queue.role != crate::config::Role::All && database.backend()? == crate::config::Backend::Sqlite {
                let role = clap::ValueEnum::to_possible_value(&queue.role).map(|v| v.get_name().to_string());
                anyhow::bail!(
                    "--role {} splits serving from running across processes, which share a PostgreSQL \
                     database; a SQLite file is served by one process with --role all",
                    role.unwrap_or_default()
                );
            }
            let options = server::load_site_options(&site)?;
            let settings = server::ServerSettings {
                database: database.clone(),
                engine: EngineSettings { queue: (&queue).into(), ..(&engine).into() },
                secret_key: engine.secret_key_source(),
                role: queue.role,
                limits: site.limits.clone(),
                triggers: site.triggers.clone(),
                edge: site.edge.clone(),
            };
            let running = server::start(settings, options).await?;
            if queue.role != crate::config::Role::Web {
                crate::retention::spawn(running.store.clone(), site.retention.clone());
            }
            // The server stops accepting requests on SIGTERM or Ctrl-C; then the
            // engine drains (see `Engine::shut_down`).
            running.task.await??;
            running.engine.shut_down().await;
            anyhow::Ok(())
        }
        .await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("weft: {error:#}");
                ExitCode::FAILURE
            }
        }
    })
}

fn check(file: &PathBuf) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("weft: cannot read {}: {error}", file.display());
            return ExitCode::from(2);
        }
    };
    let definition = match WorkflowDefinition::from_json(&text) {
        Ok(definition) => definition,
        Err(message) => {
            eprintln!("{}: {message}", file.display());
            return ExitCode::from(2);
        }
    };
    match validate_to_save(&definition) {
        Ok(valid) => {
            println!("{}: valid ({} nodes)", file.display(), valid.nodes.len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in errors {
                eprintln!("{}: {}", file.display(), error.message);
            }
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::QueueSettings;

    #[test]
    fn every_command_parses_with_its_defaults() {
        for args in [
            &["weft"][..],
            &["weft", "serve"],
            &["weft", "serve", "--addr", "127.0.0.1:0", "--webhook-cache", "false", "--cron-tick-ms", "0"],
            &["weft", "serve", "--role", "worker", "--lease-ms", "2000", "--max-running-executions", "8"],
            &["weft", "check", "w.json"],
            &["weft", "run", "w.json", "--input", "{}", "--json"],
            &["weft", "user", "create", "--admin", "a@example.com"],
            &["weft", "api-key", "create", "--user", "a@example.com"],
            &["weft", "secrets", "new-key"],
            &["weft", "secrets", "rotate", "--secret-key-file", "k", "--secret-key-previous", "00"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            if let Some(Command::Serve { site, engine, .. }) = cli.command {
                assert!(EngineSettings::from(&engine).max_parallel_nodes >= 1);
                assert!(site.limits.max_body_bytes > 0);
            }
        }
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let error = Cli::try_parse_from(["weft", "serve", "--db-acquire-timeout-ms", "soon"]).unwrap_err().to_string();
        assert!(error.contains("`soon` is not a number of milliseconds"), "{error}");
        let error = Cli::try_parse_from(["weft", "serve", "--lease-ms", "10"]).unwrap_err().to_string();
        assert!(error.contains("too short"), "{error}");
        let error = Cli::try_parse_from(["weft", "serve", "--role", "boss"]).unwrap_err().to_string();
        assert!(error.contains("worker"), "{error}");
    }

    #[test]
    fn only_the_web_role_leaves_executions_to_others() {
        let roles = ["web", "worker", "all"].map(|role| {
            let Cli { command: Some(Command::Serve { queue, .. }) } =
                Cli::try_parse_from(["weft", "serve", "--role", role]).unwrap()
            else {
                unreachable!()
            };
            QueueSettings::from(&queue).runs_executions
        });
        assert_eq!(roles, [false, true, true]);
    }
}
