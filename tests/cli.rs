//! The `weft` binary itself: `weft run` and `weft check`, with their exit codes.

use std::process::Command;

use serde_json::{json, Value};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn file(&self, name: &str, contents: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn weft(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(args)
            .env("WEFT_DATABASE_URL", format!("sqlite://{}/weft.db", self.dir.path().display()))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }
}

fn greeting() -> String {
    json!({"name": "Greet", "nodes": [
        {"id": "hello", "type": "template", "config": {"template": "Hello {{ input.who }}"}},
        {"id": "shout", "type": "code", "config": {"source": "return nodes.hello.text.toUpperCase()"}}
    ], "edges": [{"from": "hello", "to": "shout"}]})
    .to_string()
}

#[test]
fn run_prints_the_result_as_json_and_exits_0() {
    let fx = Fixture::new();
    let file = fx.file("greet.json", &greeting());
    let out = fx.weft(&["run", file.to_str().unwrap(), "--input", r#"{"who": "Ada"}"#, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON result");
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["nodes"]["shout"]["output"], "HELLO ADA");
    assert_eq!(result["nodes"]["hello"]["attempts"], 1);
    for key in ["id", "started_at", "finished_at"] {
        assert!(!result[key].is_null(), "{key} missing: {result}");
    }
    // Progress went to stderr, one line per change when not on a terminal.
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("hello succeeded"), "{progress}");

    // A second run of the same file reuses the stored workflow version.
    let again = fx.weft(&["run", file.to_str().unwrap(), "--input", r#"{"who": "Bob"}"#]);
    assert_eq!(again.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("shout succeeded") && stdout.contains("succeeded"), "{stdout}");
}

#[test]
fn a_failed_run_exits_1() {
    let fx = Fixture::new();
    let file = fx.file(
        "fail.json",
        &json!({"name": "Fail", "nodes": [
            {"id": "boom", "type": "code", "config": {"source": "throw new Error('bad day')"}}
        ]})
        .to_string(),
    );
    let out = fx.weft(&["run", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], "failed");
    assert!(result["nodes"]["boom"]["error"].as_str().unwrap().contains("bad day"));
}

#[test]
fn an_invalid_definition_exits_2_with_the_message() {
    let fx = Fixture::new();
    let file = fx.file("bad.json", &json!({"name": "Bad", "nodes": [{"id": "x", "type": "ftp"}]}).to_string());
    for command in ["run", "check"] {
        let out = fx.weft(&[command, file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("node `x` has unknown type `ftp`"), "{command}");
    }
    let good = fx.file("good.json", &greeting());
    let out = fx.weft(&["run", good.to_str().unwrap(), "--input", "{oops"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input is not valid JSON"));
}

#[test]
fn users_and_api_keys_are_created_from_the_command_line() {
    use std::io::Write;
    let fx = Fixture::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["user", "create", "--admin", "root@example.com"])
        .env("WEFT_DATABASE_URL", format!("sqlite://{}/weft.db", fx.dir.path().display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin user root@example.com"));

    let key = fx.weft(&["api-key", "create", "--user", "root@example.com"]);
    assert_eq!(key.status.code(), Some(0));
    let secret = String::from_utf8_lossy(&key.stdout).trim().to_string();
    assert!(secret.starts_with("weft_") && secret.len() > 40, "{secret}");

    let unknown = fx.weft(&["api-key", "create", "--user", "ghost@example.com"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user with email ghost@example.com"));
}

#[test]
fn splitting_roles_needs_postgresql() {
    let fixture = Fixture::new();
    for role in ["web", "worker"] {
        let output = fixture.weft(&["serve", "--role", role, "--addr", "127.0.0.1:0"]);
        assert!(!output.status.success(), "--role {role} on SQLite must not start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("share a PostgreSQL database"), "{stderr}");
    }
}

/// A proxy that counts the connections it gets and answers each with 502.
fn counting_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.read(&mut [0; 4096]);
            let _ = stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (address, connections)
}

#[test]
fn http_nodes_ignore_proxies_from_the_environment_and_use_the_configured_one() {
    use std::sync::atomic::Ordering;
    let fx = Fixture::new();
    // A proxy resolves names itself, past the address guard: it must never be picked up silently.
    let (proxy, connections) = counting_proxy();
    let file = fx.file(
        "fetch.json",
        &json!({"name": "Fetch", "nodes": [
            {"id": "get", "type": "http", "config": {"method": "GET", "url": "http://weft-proxy-check.invalid/"}}
        ]})
        .to_string(),
    );
    let run = |extra: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
        command
            .args(["run", file.to_str().unwrap(), "--json"])
            .env("WEFT_DATABASE_URL", format!("sqlite://{}/weft.db", fx.dir.path().display()))
            .env("RUST_LOG", "warn");
        for (name, value) in extra {
            command.env(name, value);
        }
        let out = command.output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout).expect("stdout is the JSON result")
    };
    let from_env = run(&[("HTTP_PROXY", &proxy), ("http_proxy", &proxy), ("ALL_PROXY", &proxy)]);
    assert_eq!(from_env["status"], "failed", "the name does not resolve: {from_env}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the environment's proxy was used");

    let configured = run(&[("WEFT_HTTP_PROXY", &proxy)]);
    assert_eq!(configured["nodes"]["get"]["output"]["status"], 502, "{configured}");
    assert!(connections.load(Ordering::SeqCst) >= 1);
}

#[test]
fn secrets_new_key_prints_a_key_and_rotate_reseals_under_it() {
    let fx = Fixture::new();
    let out = fx.weft(&["secrets", "new-key"]);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    let old = "11".repeat(32);
    let out = fx.weft(&["secrets", "rotate", "--secret-key", &key, "--secret-key-previous", &old]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-sealed 0 credentials"));
    let out = fx.weft(&["secrets", "rotate", "--secret-key", &key, "--secret-key-previous", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the previous secret key is the current one"));
}

#[test]
fn seed_fills_the_history_and_retention_runs_one_pass_from_the_command_line() {
    let fx = Fixture::new();
    // 50 executions over 2 workflows, one a day: the newest a day old, the oldest 50 days.
    let day = (24 * 3600 * 1000).to_string();
    let seeded = fx.weft(&["seed", "--workflows", "2", "--executions", "50", "--every-ms", &day]);
    assert_eq!(seeded.status.code(), Some(0), "{}", String::from_utf8_lossy(&seeded.stderr));
    assert!(String::from_utf8_lossy(&seeded.stdout).contains("seeded 2 workflows and 50 executions"));

    // Older than 10 days: the 41 aged 10 to 50 days (the pass starts after the seed's "now").
    let by_age = fx.weft(&["retention", "--retention-max-age-days", "10", "--retention-max-per-workflow", "0"]);
    assert_eq!(by_age.status.code(), Some(0), "{}", String::from_utf8_lossy(&by_age.stderr));
    assert!(String::from_utf8_lossy(&by_age.stdout).contains("retention deleted 41 executions"));
    // The 9 left are 5 and 4 per workflow: keeping 3 of each deletes 3.
    let by_count = fx.weft(&["retention", "--retention-max-age-days", "0", "--retention-max-per-workflow", "3"]);
    assert!(String::from_utf8_lossy(&by_count.stdout).contains("retention deleted 3 executions"));
    // Nothing is left to do.
    let again = fx.weft(&["retention", "--retention-max-age-days", "10", "--retention-max-per-workflow", "3"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("retention deleted 0 executions"));

    let bad = fx.weft(&["retention", "--retention-duty-percent", "0"]);
    assert_eq!(bad.status.code(), Some(2), "clap refuses a duty of 0 %");
}
