//! Webhooks and cron schedules through the real server, on both backends.

mod support;

use std::time::Duration;

use app::model::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::{Api, Browser};
use support::TestDb;

on_both_backends!(
    a_sync_webhook_answers_with_the_named_node,
    an_async_webhook_answers_202_with_the_execution,
    webhook_errors_are_4xx,
    a_saved_version_changes_what_the_webhook_runs,
    a_cron_schedule_fires_and_shows_its_next_times,
    a_flooded_webhook_answers_429_with_retry_after_and_creates_nothing,
    a_stored_every_second_schedule_fires_at_most_once_a_minute,
    a_webhook_keeps_no_credential_headers,
    a_webhook_keeps_the_extra_headers_named_in_the_settings,
    a_signed_webhook_checks_githubs_documented_signature_and_refuses_the_rest,
    a_webhook_with_a_credential_wants_it_sent,
);

/// A workflow whose webhook `path` answers with the request's body and wants `auth`.
fn guarded(path: &str, auth: Value) -> Value {
    json!({
        "name": format!("Guarded {path}"),
        "nodes": [{"id": "echo", "type": "template", "config": {"template": "got {{ input.body }}"}}],
        "triggers": [{"type": "webhook", "path": path, "auth": auth}]
    })
}

async fn executions_count(api: &Api) -> usize {
    api.list_executions("").await.1["items"].as_array().map_or(0, Vec::len)
}

/// GitHub's own example ("Validating webhook deliveries"): secret
/// `It's a Secret to Everybody`, payload `Hello, World!`, signature
/// `sha256=757107ea…3e17`. A wrong, missing or unprefixed signature is 401
/// and starts nothing.
async fn a_signed_webhook_checks_githubs_documented_signature_and_refuses_the_rest(db: &TestDb) {
    let (_server, browser, api) = setup(db).await;
    let secret = json!({"name": "gh-hook", "kind": "bearer", "data": {"token": "It's a Secret to Everybody"}});
    let (status, _) = api.json(reqwest::Method::POST, "/credentials", Some(secret)).await;
    assert_eq!(status, StatusCode::CREATED);
    let auth = json!({"type": "hmac", "credential": "gh-hook", "header": "X-Hub-Signature-256", "prefix": "sha256="});
    let github = api.create_hook(&guarded("github", auth)).await;
    let documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let call = |signature: Option<&str>, body: &'static str| {
        let mut request = browser.post_raw(&format!("/hooks/{github}")).header("content-type", "text/plain").body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send()
    };
    let signed = call(Some(documented), "Hello, World!").await.unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    assert_eq!(signed.json::<Value>().await.unwrap()["text"], "got Hello, World!");
    let runs = executions_count(&api).await;
    assert_eq!(runs, 1, "the signed call ran");
    for (signature, body) in [
        (Some(documented), "Hello, World?"),
        (Some(&documented["sha256=".len()..]), "Hello, World!"),
        (Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18"), "Hello, World!"),
        (Some("sha256=zz"), "Hello, World!"),
        (None, "Hello, World!"),
    ] {
        let refused = call(signature, body).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{signature:?} {body}");
        let answer: Value = refused.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "webhook_unauthorized");
    }
    assert_eq!(executions_count(&api).await, runs, "a refused call starts nothing");
}

/// `auth: {"type": "credential"}`: the caller sends the credential as an http node would.
async fn a_webhook_with_a_credential_wants_it_sent(db: &TestDb) {
    let (_server, browser, api) = setup(db).await;
    let token =
        json!({"name": "hook-token", "kind": "header", "data": {"name": "X-Webhook-Token", "value": "tok-9f2e7d"}});
    assert_eq!(api.json(reqwest::Method::POST, "/credentials", Some(token)).await.0, StatusCode::CREATED);
    let tokened = api.create_hook(&guarded("tokened", json!({"type": "credential", "credential": "hook-token"}))).await;
    let url = format!("/hooks/{tokened}");
    let bare = browser.webhook(&tokened, &json!("hi")).await;
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let wrong = browser.post_raw(&url).header("x-webhook-token", "tok-9f2e7").json(&json!("hi")).send().await;
    assert_eq!(wrong.unwrap().status(), StatusCode::UNAUTHORIZED);
    let right = browser.post_raw(&url).header("x-webhook-token", "tok-9f2e7d").json(&json!("hi")).send().await;
    let right = right.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(right.json::<Value>().await.unwrap()["text"], "got hi");
    // A webhook's credential is in use: deleting it is refused.
    let (status, _) = api.json(reqwest::Method::DELETE, "/credentials/hook-token", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A bad auth in a definition is a validation message naming the trigger and field.
    let bad = guarded("bad", json!({"type": "hmac", "credential": "x y", "header": "", "tolerance_secs": 0}));
    let (status, answer) = api.create_workflow(&bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = answer.to_string();
    for says in
        ["trigger #1: auth.credential", "auth.header `` is not a header name", "auth.tolerance_secs must be 1 to 86400"]
    {
        assert!(text.contains(says), "{says} in {text}");
    }
}

/// The server, a browser to call its hooks, and a REST client for hooks@example.com.
async fn setup(db: &TestDb) -> (weft::server::RunningServer, Browser, Api) {
    let (server, base) = support::start_server(db).await;
    let api = Api::for_new_user(&server, &base, "hooks@example.com").await;
    (server, Browser::anonymous(&base), api)
}

fn echo(path: &str, mode: &str, respond_with: Option<&str>) -> Value {
    let mut hook = json!({"type": "webhook", "path": path, "mode": mode});
    if let Some(node) = respond_with {
        hook["respond_with"] = json!(node);
    }
    json!({"name": format!("echo {path}"), "triggers": [hook], "nodes": [
        {"id": "greet", "type": "template", "config": {"template": "Hello {{ input.body.who }} via {{ input.method }}, q={{ input.query.q }}"}},
        {"id": "shape", "type": "template", "config": {"template": r#"{"n": {{ input.body.n + 1 }}}"#, "json": true}}
    ], "edges": [{"from": "greet", "to": "shape"}]})
}

async fn a_sync_webhook_answers_with_the_named_node(db: &TestDb) {
    let (_server, browser, api) = setup(db).await;
    let greet = api.create_hook(&echo("greet", "sync", Some("greet"))).await;
    let shape = api.create_hook(&echo("shape", "sync", None)).await;
    let answer = browser.webhook(&format!("{greet}?q=7"), &json!({"who": "Ada", "n": 1})).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.headers().contains_key("x-weft-execution"));
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"text": "Hello Ada via POST, q=7"}));
    // Without respond_with, the last node answers.
    let last = browser.webhook(&shape, &json!({"who": "Bob", "n": 41})).await;
    assert_eq!(last.json::<Value>().await.unwrap(), json!({"n": 42}));
}

async fn an_async_webhook_answers_202_with_the_execution(db: &TestDb) {
    let (server, browser, api) = setup(db).await;
    let later = api.create_hook(&echo("later", "async", None)).await;
    let answer = browser.webhook(&later, &json!({"who": "Cy", "n": 1})).await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let id = answer.json::<Value>().await.unwrap()["execution_id"].as_i64().unwrap();
    let mut execution = server.store.execution(Scope::Everyone, id).await.unwrap();
    for _ in 0..100 {
        if execution.status.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        execution = server.store.execution(Scope::Everyone, id).await.unwrap();
    }
    assert_eq!((execution.status, execution.trigger), (ExecutionStatus::Succeeded, Trigger::Webhook));
    assert_eq!(execution.input.to_value()["body"]["who"], "Cy");
}

async fn webhook_errors_are_4xx(db: &TestDb) {
    let (_server, browser, api) = setup(db).await;
    let strict = format!("/hooks/{}", api.create_hook(&echo("strict", "sync", None)).await);
    // Raw requests: no body, the wrong method, a body that is not JSON.
    let unknown = browser.post_raw("/hooks/nobody-home").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // The path alone, without the webhook's id, reaches nothing.
    assert_eq!(browser.post_raw("/hooks/strict").send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let wrong_method = browser.get_raw(&strict).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    // The run itself fails (the body has no number): the hook says so with the id.
    let failed = browser.post_raw(&strict).body("not json").send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    let body: Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "run_failed");
    assert!(body["error"]["execution_id"].is_i64());
    // Only that it failed: the reason (here the template's error) is for the owner.
    assert_eq!(body["error"]["message"], "the run ended failed; its owner can see why in the run view");

    // Another workflow (anyone's) may use the same path: its webhook has its own id.
    let other = api.create_hook(&echo("strict", "sync", None)).await;
    assert!(other.ends_with("/strict") && format!("/hooks/{other}") != strict);
}

async fn a_saved_version_changes_what_the_webhook_runs(db: &TestDb) {
    let (_server, browser, api) = setup(db).await;
    let id = api.create_workflow_id(&echo("versioned", "sync", Some("greet"))).await;
    let address = api.hook_address(id).await;
    let body = json!({"who": "Di", "n": 1});
    let call = || browser.webhook(&address, &body);
    assert_eq!(call().await.json::<Value>().await.unwrap()["text"], "Hello Di via POST, q=");
    // Warm cache, then a new version: the next call runs the new version.
    let mut v2 = echo("versioned", "sync", Some("greet"));
    v2["nodes"][0]["config"]["template"] = json!("Bonjour {{ input.body.who }}");
    let (saved, _) = api.update_workflow(id, &v2).await;
    assert_eq!(saved, StatusCode::OK);
    assert_eq!(call().await.json::<Value>().await.unwrap()["text"], "Bonjour Di");
    assert_eq!(api.hook_address(id).await, address, "a new version keeps the webhook's address");
    api.delete_workflow(id).await;
    assert_eq!(call().await.status(), StatusCode::NOT_FOUND);
}

async fn a_cron_schedule_fires_and_shows_its_next_times(db: &TestDb) {
    let (server, _browser, api) = setup(db).await;
    // Every minute: the first tick plans it, firing waits for the minute; so
    // move the planned time into the past to make it due now.
    let id = api
        .create_workflow_id(
            &json!({"name": "Ticker", "triggers": [{"type": "cron", "schedule": "* * * * *", "timezone": "Asia/Tokyo"}],
        "nodes": [{"id": "tick", "type": "template", "config": {"template": "tick at {{ input.scheduled_at }}"}}]}),
        )
        .await;
    let (_, got) = api.get_workflow(id).await;
    assert_eq!(got["schedules"][0]["next"].as_array().unwrap().len(), 3);

    let mut planned = None;
    for _ in 0..50 {
        let schedules = server.store.workflow_schedules(Scope::Everyone, id).await.unwrap();
        if let Some(at) = schedules[0].next_fire_at {
            planned = Some((schedules[0].id, at));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (schedule, at) = planned.expect("the scheduler planned the schedule");
    assert!(server.store.claim_schedule(schedule, Some(at), 1_000).await.unwrap());
    server.hooks.workflow_changed(id); // wake the scheduler, as a save would
    let mut fired = Vec::new();
    for _ in 0..100 {
        let filter = ExecutionFilter { workflow_id: Some(id), ..Default::default() };
        fired = server.store.list_executions(Scope::Everyone, &filter, None, 10).await.unwrap().items;
        if fired.iter().any(|e| e.status.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fired.len(), 1, "the due tick fired exactly once");
    assert_eq!(fired[0].trigger, Trigger::Cron);
    assert_eq!(fired[0].input.to_value()["scheduled_at"], "1970-01-01T00:00:01.000Z");
}

async fn a_flooded_webhook_answers_429_with_retry_after_and_creates_nothing(db: &TestDb) {
    let (server, base) = support::start_server_configured(db, |settings| {
        settings.triggers.webhook_calls_per_path_per_second = 100;
        settings.triggers.webhook_calls_per_user_per_second = 1;
    })
    .await;
    let api = Api::for_new_user(&server, &base, "flood@example.com").await;
    let browser = Browser::anonymous(&base);
    let workflow = api.create_workflow_id(&echo("flood", "async", None)).await;
    let flood = api.hook_address(workflow).await;
    let other = api.create_hook(&echo("other", "async", None)).await;
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..30 {
        let answer = browser.webhook(&flood, &json!({"who": "x", "n": 1})).await;
        match answer.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => refused = Some(answer),
            other => panic!("unexpected {other}"),
        }
    }
    // The budget is the owner's (one a second, bursts of two): their other hook waits as well.
    let other = browser.webhook(&other, &json!({"who": "x", "n": 1})).await;
    assert_eq!(other.status(), StatusCode::TOO_MANY_REQUESTS);
    // A burst of twice the rate, then one more a second as time passes.
    assert!((2..5).contains(&accepted), "accepted {accepted} of 30");
    let refused = refused.expect("the flood was refused");
    assert!(refused.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    let filter = ExecutionFilter { workflow_id: Some(workflow), ..Default::default() };
    let stored = server.store.list_executions(Scope::Everyone, &filter, None, 100).await.unwrap().items;
    assert_eq!(stored.len(), accepted, "a refused call creates no execution");
}

/// The input of the execution `answer` (an async hook's 202) started, once it ended.
async fn finished_input(server: &weft::server::RunningServer, answer: reqwest::Response) -> Value {
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let id = answer.json::<Value>().await.unwrap()["execution_id"].as_i64().unwrap();
    for _ in 0..100 {
        let execution = server.store.execution(Scope::Everyone, id).await.unwrap();
        if execution.status.is_finished() {
            return execution.input.to_value();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("execution {id} did not finish");
}

/// Callers put credentials in headers (a proxy's, the sender's own, a
/// signature): a run's input is stored and shown to its owner, so only
/// harmless headers are kept, by name.
async fn a_webhook_keeps_no_credential_headers(db: &TestDb) {
    let (server, browser, api) = setup(db).await;
    let github = api.create_hook(&echo("github", "async", None)).await;
    let answer = browser
        .post_raw(&format!("/hooks/{github}"))
        .header("Authorization", "Bearer sk-secret-1")
        .header("Cookie", "weft_session=secret-2")
        .header("X-Api-Key", "secret-3")
        .header("Proxy-Authorization", "Basic c2VjcmV0LTQ=")
        .header("X-Hub-Signature-256", "sha256=secret-5")
        .header("X-Gitlab-Token", "secret-6")
        .header("User-Agent", "GitHub-Hookshot/abc")
        .header("X-GitHub-Event", "push")
        .header("Content-Type", "application/json")
        .body(r#"{"who": "Ed", "n": 1}"#)
        .send()
        .await
        .unwrap();
    let input = finished_input(&server, answer).await;
    let headers = input["headers"].as_object().expect("headers are an object");
    for secret in
        ["authorization", "cookie", "x-api-key", "proxy-authorization", "x-hub-signature-256", "x-gitlab-token"]
    {
        assert!(!headers.contains_key(secret), "{secret} was kept: {input}");
    }
    assert!(!input.to_string().contains("secret-"), "{input}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["user-agent"], "GitHub-Hookshot/abc");
    assert_eq!(headers["x-github-event"], "push");
    assert_eq!(input["body"]["who"], "Ed");
}

/// `WEFT_WEBHOOK_HEADERS` names further headers to keep (any spelling).
async fn a_webhook_keeps_the_extra_headers_named_in_the_settings(db: &TestDb) {
    let (server, base) = support::start_server_configured(db, |settings| {
        settings.triggers.webhook_headers = vec!["x-shop-topic".into()];
    })
    .await;
    let api = Api::for_new_user(&server, &base, "hooks@example.com").await;
    let shop = api.create_hook(&echo("shop", "async", None)).await;
    let answer = Browser::anonymous(&base)
        .post_raw(&format!("/hooks/{shop}"))
        .header("X-Shop-Topic", "orders/create")
        .header("X-Shop-Hmac", "secret-1")
        .json(&json!({"who": "Flo", "n": 1}))
        .send()
        .await
        .unwrap();
    let input = finished_input(&server, answer).await;
    assert_eq!(input["headers"]["x-shop-topic"], "orders/create", "{input}");
    assert!(input["headers"].get("x-shop-hmac").is_none(), "{input}");
}

/// A schedule saved before the minimum interval existed (stored directly, as
/// an old database holds it) is tried at most once a minute, its start refused
/// with the validation message, and holds up no other schedule.
async fn a_stored_every_second_schedule_fires_at_most_once_a_minute(db: &TestDb) {
    let (server, base) = support::start_server_configured(db, |settings| {
        settings.triggers.cron_tick = Duration::ZERO; // this test drives the scheduler itself
    })
    .await;
    let api = Api::for_new_user(&server, &base, "ticks@example.com").await;
    let every_second = json!({"name": "Every second", "triggers": [{"type": "cron", "schedule": "* * * * * *", "timezone": "UTC"}],
        "nodes": [{"id": "tick", "type": "template", "config": {"template": "tick"}}]});
    let (status, body) = api.create_workflow(&every_second).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "refused when saved: {body}");
    assert!(body.to_string().contains("fires 1 s apart"), "{body}");

    let owner = server.store.user_by_email("ticks@example.com").await.unwrap().unwrap();
    let definition: WorkflowDefinition = serde_json::from_value(every_second).unwrap();
    let id = server.store.create_workflow(owner.id, &definition).await.unwrap().id;
    weft::triggers::cron::run_due(&server.store, &server.engine).await.unwrap(); // plans it
    let schedule = server.store.workflow_schedules(Scope::Everyone, id).await.unwrap().remove(0);
    let now = app::model::now_ms();
    assert!(server.store.claim_schedule(schedule.id, schedule.next_fire_at, now - 1).await.unwrap());
    assert_eq!(weft::triggers::cron::run_due(&server.store, &server.engine).await.unwrap(), 0, "refused, not an error");
    let next = server.store.workflow_schedules(Scope::Everyone, id).await.unwrap()[0].next_fire_at.unwrap();
    assert!(next >= now - 1 + 59_000, "the next firing is a minute after this one, not a second: {}", next - now);
}
