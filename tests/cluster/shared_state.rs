//! What one process changes reaches the others: settings, revoked
//! credentials, sign-in limits.

use super::*;

/// Two `weft serve` processes, a and b, on one fresh PostgreSQL database that
/// has an admin, root@example.com (password `support::PASSWORD`); `None`
/// without PostgreSQL. The caller holds `one_at_a_time` first.
struct TwoProcesses {
    db: TestDb,
    logs: tempfile::TempDir,
    root: User,
    a: Weft,
    b: Weft,
}

impl TwoProcesses {
    async fn start() -> Option<Self> {
        let db = TestDb::postgres().await?;
        let logs = tempfile::tempdir().unwrap();
        let store = db.store().await;
        let hash = weft::cli::hash_password(support::PASSWORD).unwrap();
        let root = store.create_user("root@example.com", Some(&hash), true).await.unwrap();
        let a = Weft::start(&db, logs.path(), "a", &[]).await;
        let b = Weft::start(&db, logs.path(), "b", &[]).await;
        Some(Self { db, logs, root, a, b })
    }
}

#[tokio::test]
async fn a_settings_change_in_one_process_reaches_the_others() {
    let _serial = one_at_a_time().await;
    let Some(TwoProcesses { db, logs: _logs, a, b, .. }) = TwoProcesses::start().await else { return };
    // Sessions live in the database: signed in at a, the cookie works at b too.
    let admin = support::sign_in(&a.base, "root@example.com", support::PASSWORD).await.map_err(|r| r.status()).unwrap();
    let read_at_b = || async {
        admin.post(format!("{}/api/settings/llm", b.base)).send().await.unwrap().json::<Value>().await.unwrap()
    };
    assert_eq!(read_at_b().await["base_url"], "https://api.openai.com/v1");

    let saved = admin
        .post(format!("{}/api/settings/llm/save", a.base))
        .form(&[
            ("base_url", "http://127.0.0.1:9/v1"),
            ("default_model", "local-model"),
            ("cache_ttl_secs", "60"),
            ("cache_capacity", "10"),
            ("max_concurrency", "3"),
            ("api_key", "sk-shared"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), reqwest::StatusCode::OK);
    let started = std::time::Instant::now();
    loop {
        let seen = read_at_b().await;
        if seen["base_url"] == "http://127.0.0.1:9/v1" && seen["max_concurrency"] == 3 && seen["has_api_key"] == true {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "b still has {seen}\n{}", b.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("b followed a's settings change after {:?}", started.elapsed());
    drop((a, b));
    db.cleanup().await;
}

#[tokio::test]
async fn revoked_credentials_stop_working_in_every_process_at_once() {
    let _serial = one_at_a_time().await;
    let Some(TwoProcesses { db, logs: _logs, root, a, b }) = TwoProcesses::start().await else { return };
    let store = db.store().await;
    let (key, secret) =
        app::services::api_keys::create_api_key(store.as_ref(), root.id, "cluster", Default::default()).await.unwrap();
    let admin = support::sign_in(&a.base, "root@example.com", support::PASSWORD).await.map_err(|r| r.status()).unwrap();

    // b caches both: the key (a minute) and the session (30 s).
    let api_at_b = || async {
        let url = format!("{}/api/v1/workflows", b.base);
        reqwest::Client::new().get(url).bearer_auth(&secret).send().await.unwrap().status()
    };
    let session_at_b = || async { admin.post(format!("{}/api/settings/llm", b.base)).send().await.unwrap().status() };
    assert_eq!(api_at_b().await, reqwest::StatusCode::OK);
    assert_eq!(session_at_b().await, reqwest::StatusCode::OK);

    async fn soon_refused<F: std::future::Future<Output = reqwest::StatusCode>>(what: &str, ask: impl Fn() -> F) {
        let started = Instant::now();
        while ask().await != reqwest::StatusCode::UNAUTHORIZED {
            assert!(started.elapsed() < Duration::from_secs(3), "b still accepts the {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("b refused the {what} {:?} after it was revoked at a", started.elapsed());
    }

    let revoked = admin
        .post(format!("{}/api/accounts/api-keys/revoke", a.base))
        .form(&[("id", key.id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), reqwest::StatusCode::OK);
    soon_refused("revoked API key", api_at_b).await;

    let signed_out = admin.post(format!("{}/api/accounts/sign-out", a.base)).send().await.unwrap();
    assert_eq!(signed_out.status(), reqwest::StatusCode::OK);
    soon_refused("ended session", session_at_b).await;

    drop((a, b));
    db.cleanup().await;
}

#[tokio::test]
async fn sign_in_attempts_are_limited_across_processes() {
    let _serial = one_at_a_time().await;
    let Some(TwoProcesses { db, logs: _logs, a, b, .. }) = TwoProcesses::start().await else { return };
    let attempt = |base: &str| {
        let base = base.to_owned();
        async move {
            match support::sign_in(&base, "root@example.com", "not-the-password").await {
                Ok(_) => panic!("a wrong password signed in"),
                Err(response) => response.status(),
            }
        }
    };
    // Five a minute per email, whichever process is asked: three at a, two at b...
    for base in [&a.base, &a.base, &a.base, &b.base, &b.base] {
        assert_eq!(attempt(base).await, reqwest::StatusCode::BAD_REQUEST);
    }
    // ...and b refuses the sixth, though it saw only two itself.
    assert_eq!(attempt(&b.base).await, reqwest::StatusCode::TOO_MANY_REQUESTS);
    drop((a, b));
    db.cleanup().await;
}
