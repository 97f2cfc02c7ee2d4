//! Accounts over real HTTP: the first start's set-up, sign-in and its limits,
//! sessions, admins creating users, API keys from the settings page, and the
//! cross-site check of server functions.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::{Api, Browser};
use support::{TestDb, PASSWORD};

on_both_backends!(
    the_first_start_leads_to_the_admin_setup_once,
    pages_need_a_session_and_sign_out_ends_it,
    a_wrong_password_and_an_unknown_email_look_the_same_and_attempts_are_limited,
    only_admins_create_users_and_users_see_only_their_own_workflows,
    an_api_key_made_in_the_settings_works_until_revoked,
    cross_site_server_function_calls_are_refused,
    a_new_password_signs_out_the_other_sessions,
    sign_out_everywhere_ends_every_session,
    a_disabled_user_can_do_nothing_until_an_admin_enables_them_again,
    api_keys_expire_and_read_only_keys_only_read,
);

fn location(response: &reqwest::Response) -> &str {
    response.headers().get("location").map(|v| v.to_str().unwrap()).unwrap_or("")
}

async fn the_first_start_leads_to_the_admin_setup_once(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    // Something made before accounts existed belongs to the built-in local user.
    let local = weft::server::local_user(server.store.as_ref()).await.unwrap();
    let earlier = server.store.create_workflow(local.id, &support::definition("Made before accounts")).await.unwrap();

    let anonymous = Browser::anonymous(&base);
    for page in ["/", "/settings", "/login"] {
        let response = anonymous.page(page).await;
        assert_eq!((response.status(), location(&response)), (StatusCode::SEE_OTHER, "/setup"), "{page}");
    }
    let setup_page = anonymous.page("/setup").await;
    assert_eq!(setup_page.status(), StatusCode::OK);
    assert!(setup_page.text().await.unwrap().contains("Create the admin account"));

    let short = anonymous.setup_admin("ada@example.com", "short").await;
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert!(short.text().await.unwrap().contains("at least 8 characters"));

    let created = anonymous.setup_admin(" Ada@Example.com ", PASSWORD).await;
    assert_eq!(created.status(), StatusCode::OK);
    let cookie = support::session_cookie_of(&created).expect("the admin is signed in");
    let admin: Value = created.json().await.unwrap();
    assert_eq!((admin["email"].as_str(), admin["is_admin"].as_bool()), (Some("ada@example.com"), Some(true)));

    // Set-up is over: it cannot run again, and its page sends people to sign in.
    let again = anonymous.setup_admin("eve@example.com", PASSWORD).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let setup_page = anonymous.page("/setup").await;
    assert_eq!(location(&setup_page), "/login");

    // The admin's session opens the pages, and what the local user owned is theirs now.
    let session = Browser::with_cookie(&base, &cookie);
    let home = session.page("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(html.contains("Made before accounts"), "{html}");
    assert!(html.contains("ada@example.com"), "the top bar names the user: {html}");
    let listed: Value = session.list_workflows(&[]).await.json().await.unwrap();
    assert_eq!(listed["items"][0]["id"], json!(earlier.id));
}

async fn pages_need_a_session_and_sign_out_ends_it(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let session = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;
    let anonymous = Browser::anonymous(&base);

    let response = anonymous.page("/settings?tab=keys").await;
    assert_eq!((response.status(), location(&response)), (StatusCode::SEE_OTHER, "/login?next=/settings%3Ftab%3Dkeys"));
    let forged = Browser::with_cookie(&base, "weft_session=not-a-real-session");
    assert_eq!(location(&forged.page("/").await), "/login?next=/");
    // Server functions answer 401 to anyone not signed in.
    assert_eq!(anonymous.list_workflows(&[]).await.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(session.page("/settings").await.status(), StatusCode::OK);
    let signed_in = session.page("/login").await;
    assert_eq!(location(&signed_in), "/", "a signed-in user is not shown the sign-in page");

    let signed_out = session.sign_out().await;
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert!(signed_out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    // The same cookie, replayed, opens nothing any more.
    assert_eq!(location(&session.page("/").await), "/login?next=/");
    assert_eq!(session.list_workflows(&[]).await.status(), StatusCode::UNAUTHORIZED);
}

async fn a_wrong_password_and_an_unknown_email_look_the_same_and_attempts_are_limited(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await; // attempt 1 on ada

    let wrong = Browser::sign_in(&base, "ada@example.com", "wrong-password").await.unwrap_err();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let wrong = wrong.text().await.unwrap();
    let unknown = Browser::sign_in(&base, "nobody@example.com", PASSWORD).await.unwrap_err();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(unknown.text().await.unwrap(), wrong);
    assert!(wrong.contains("the email or the password is wrong"), "{wrong}");

    // Five attempts a minute per email: 1 (the sign-in above) + 1 + 3 more, then refused,
    // even with the right password.
    for _ in 0..3 {
        assert_eq!(
            Browser::sign_in(&base, "ADA@example.com", "wrong-password").await.unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }
    let limited = Browser::sign_in(&base, "ada@example.com", PASSWORD).await.unwrap_err();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.text().await.unwrap().contains("too many sign-in attempts"));
}

async fn only_admins_create_users_and_users_see_only_their_own_workflows(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let admin = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;
    let created = admin.create_user("bob@example.com", PASSWORD).await;
    assert_eq!(created.status(), StatusCode::OK);
    let duplicate = admin.create_user("bob@example.com", PASSWORD).await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    let users: Value = admin.list_users().await.json().await.unwrap();
    let emails: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);

    let bob = Browser::sign_in(&base, "bob@example.com", PASSWORD).await.map_err(|r| r.status()).unwrap();
    let refused = bob.create_user("eve@example.com", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(bob.list_users().await.status(), StatusCode::FORBIDDEN);

    let definition = serde_json::to_string(&support::definition("Ada's secret plan")).unwrap();
    let imported = admin.import_workflow(&definition).await;
    assert_eq!(imported.status(), StatusCode::OK);
    let bobs: Value = bob.list_workflows(&[]).await.json().await.unwrap();
    assert_eq!(bobs["items"], json!([]), "bob sees none of ada's workflows");
    let adas: Value = admin.list_workflows(&[]).await.json().await.unwrap();
    assert_eq!(adas["items"].as_array().unwrap().len(), 1);
}

async fn an_api_key_made_in_the_settings_works_until_revoked(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let session = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;
    let nameless = session.create_api_key("  ").await;
    assert_eq!(nameless.status(), StatusCode::BAD_REQUEST);

    let created: Value = session.create_api_key("deploy").await.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let api = Api::new(&base, &secret);
    assert_eq!(api.list_workflows("").await.0, StatusCode::OK);

    let keys: Value = session.list_api_keys().await.json().await.unwrap();
    assert_eq!((keys[0]["name"].as_str(), keys[0]["revoked_at"].is_null()), (Some("deploy"), true));
    assert!(keys[0].get("secret").is_none() && keys[0].get("secret_hash").is_none(), "{keys}");

    // Someone else cannot revoke it.
    let bob = Browser::signed_in_user(server.store.as_ref(), &base, "bob@example.com", false).await;
    let id = keys[0]["id"].as_i64().unwrap();
    assert_eq!(bob.revoke_api_key(id).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.list_workflows("").await.0, StatusCode::OK);

    // Revoked through the settings page, it stops working at once (the key cache is shared).
    assert_eq!(session.revoke_api_key(id).await.status(), StatusCode::OK);
    assert_eq!(api.list_workflows("").await.0, StatusCode::UNAUTHORIZED);
}

async fn cross_site_server_function_calls_are_refused(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let session = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;
    let definition = serde_json::to_string(&support::definition("Planted")).unwrap();
    let forged = session
        .post_raw("/api/workflows/import")
        .header("origin", "http://evil.example")
        .form(&[("definition", &definition)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let same_site = session
        .post_raw("/api/workflows/import")
        .header("origin", session.base())
        .form(&[("definition", &definition)])
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::OK);
    let listed: Value = session.list_workflows(&[]).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "only the same-site import was saved");
}

async fn a_new_password_signs_out_the_other_sessions(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let here = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;
    let elsewhere = Browser::sign_in(&base, "ada@example.com", PASSWORD).await.unwrap();
    assert_eq!(elsewhere.page("/settings").await.status(), StatusCode::OK);

    let wrong = here.server_fn("accounts/password", &[("current", "not it at all"), ("new", "a brand new one")]).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("the current password is wrong"));
    let short = here.server_fn("accounts/password", &[("current", PASSWORD), ("new", "short")]).await;
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    let changed = here.server_fn("accounts/password", &[("current", PASSWORD), ("new", "a brand new one")]).await;
    assert_eq!(changed.status(), StatusCode::OK, "{}", changed.text().await.unwrap());

    assert_eq!(here.page("/settings").await.status(), StatusCode::OK, "this session goes on");
    assert_eq!(elsewhere.page("/settings").await.status(), StatusCode::SEE_OTHER, "the other one ended");
    // (Signing in to check would hit the per-email limit: the changes counted as attempts.)
    let (_, hash) = server.store.credentials("ada@example.com").await.unwrap().unwrap();
    assert!(!app::services::passwords::verify_password(PASSWORD.into(), Some(hash.clone())).await);
    assert!(app::services::passwords::verify_password("a brand new one".into(), Some(hash)).await);
    let anonymous = Browser::anonymous(&base).server_fn("accounts/password", &[("current", "x"), ("new", "y")]).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn sign_out_everywhere_ends_every_session(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let here = Browser::signed_in_user(server.store.as_ref(), &base, "bo@example.com", true).await;
    let elsewhere = Browser::sign_in(&base, "bo@example.com", PASSWORD).await.unwrap();
    let other_user = Browser::signed_in_user(server.store.as_ref(), &base, "cy@example.com", false).await;
    let ended = here.server_fn("accounts/sign-out-everywhere", &[]).await;
    assert_eq!(ended.status(), StatusCode::OK);
    assert_eq!(ended.json::<Value>().await.unwrap(), json!(2));
    for session in [&here, &elsewhere] {
        assert_eq!(session.page("/settings").await.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(other_user.page("/settings").await.status(), StatusCode::OK, "other users keep their sessions");
}

async fn a_disabled_user_can_do_nothing_until_an_admin_enables_them_again(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let admin = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;
    let created: Value = admin.create_user("bob@example.com", PASSWORD).await.json().await.unwrap();
    let bob_id = created["id"].as_i64().unwrap().to_string();
    let bob = Browser::sign_in(&base, "bob@example.com", PASSWORD).await.map_err(|r| r.status()).unwrap();
    let (_, key) =
        weft::api::create_api_key(server.store.as_ref(), created["id"].as_i64().unwrap(), "bob's", Default::default())
            .await
            .unwrap();
    let bobs_api = Api::new(&base, &key);
    let hook = json!({"name": "Bob's hook", "triggers": [{"type": "webhook", "path": "bobs-hook", "mode": "sync"}],
        "nodes": [{"id": "hi", "type": "template", "config": {"template": "hi"}}]});
    let bobs_hook = bobs_api.create_hook(&hook).await;
    let anonymous = Browser::anonymous(&base);
    assert_eq!(anonymous.webhook(&bobs_hook, &json!({})).await.status(), StatusCode::OK);

    // Only an admin disables, and not themselves.
    let not_admin = bob.server_fn("accounts/users/disable", &[("id", &bob_id), ("disabled", "true")]).await;
    assert_eq!(not_admin.status(), StatusCode::FORBIDDEN);
    let ada_id = server.store.user_by_email("ada@example.com").await.unwrap().unwrap().id.to_string();
    let themselves = admin.server_fn("accounts/users/disable", &[("id", &ada_id), ("disabled", "true")]).await;
    assert_eq!(themselves.status(), StatusCode::BAD_REQUEST);
    assert!(themselves.text().await.unwrap().contains("cannot disable your own account"));

    let disabled = admin.server_fn("accounts/users/disable", &[("id", &bob_id), ("disabled", "true")]).await;
    assert_eq!(disabled.status(), StatusCode::OK, "{}", disabled.text().await.unwrap());
    assert!(disabled.json::<Value>().await.unwrap()["disabled_at"].is_i64());
    // Everything of bob's stops at once: session, key, webhook, and signing in again.
    assert_eq!(bob.page("/settings").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(bobs_api.list_workflows("").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.webhook(&bobs_hook, &json!({})).await.status(), StatusCode::NOT_FOUND);
    let Err(refused) = Browser::sign_in(&base, "bob@example.com", PASSWORD).await else { panic!("bob signed in") };
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("this account is disabled"));
    let users: Value = admin.list_users().await.json().await.unwrap();
    let bob_row = users.as_array().unwrap().iter().find(|u| u["email"] == "bob@example.com").unwrap();
    assert!(bob_row["disabled_at"].is_i64(), "{users}");
    // Nothing of theirs was deleted.
    let bobs_workflows = server
        .store
        .list_workflows(app::model::Scope::Owner(bob_row["id"].as_i64().unwrap()), None, None, 10)
        .await
        .unwrap();
    assert_eq!(bobs_workflows.items.len(), 1);

    let enabled = admin.server_fn("accounts/users/disable", &[("id", &bob_id), ("disabled", "false")]).await;
    assert_eq!(enabled.status(), StatusCode::OK);
    assert!(enabled.json::<Value>().await.unwrap()["disabled_at"].is_null());
    assert!(Browser::sign_in(&base, "bob@example.com", PASSWORD).await.is_ok());
    assert_eq!(bobs_api.list_workflows("").await.0, StatusCode::OK);
    assert_eq!(anonymous.webhook(&bobs_hook, &json!({})).await.status(), StatusCode::OK);
}

async fn api_keys_expire_and_read_only_keys_only_read(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let session = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;
    for days in ["0", "3651"] {
        let refused = session.server_fn("accounts/api-keys/create", &[("name", "x"), ("expires_in_days", days)]).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{days}");
        assert!(refused.text().await.unwrap().contains("1 to 3650 days"));
    }

    let made = session
        .server_fn("accounts/api-keys/create", &[("name", "reader"), ("expires_in_days", "30"), ("read_only", "true")])
        .await;
    assert_eq!(made.status(), StatusCode::OK, "{}", made.text().await.unwrap());
    let made: Value = made.json().await.unwrap();
    let in_30_days = app::model::now_ms() + 30 * 86_400_000;
    let expires_at = made["key"]["expires_at"].as_i64().unwrap();
    assert!((in_30_days - expires_at).abs() < 60_000, "{made}");
    assert_eq!(made["key"]["read_only"], json!(true));
    let reader = Api::new(&base, made["secret"].as_str().unwrap());
    assert_eq!(reader.list_workflows("").await.0, StatusCode::OK);
    let (status, body) =
        reader.create_workflow(&serde_json::to_value(support::definition("Not allowed")).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], json!("read_only_key"));
    assert!(body["error"]["message"].as_str().unwrap().contains("is read-only"), "{body}");
    assert!(server.store.list_workflows(app::model::Scope::Everyone, None, None, 10).await.unwrap().items.is_empty());

    // A key past its expiry says so.
    let ada = server.store.user_by_email("ada@example.com").await.unwrap().unwrap();
    let limits = app::model::ApiKeyLimits { expires_at: Some(app::model::now_ms() - 1_000), read_only: false };
    let (_, old) = weft::api::create_api_key(server.store.as_ref(), ada.id, "old", limits).await.unwrap();
    let (status, body) = Api::new(&base, &old).list_workflows("").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], json!("key_expired"));
    assert!(body["error"]["message"].as_str().unwrap().contains("expired at"), "{body}");
    // A key without limits works as before.
    let (_, plain) =
        weft::api::create_api_key(server.store.as_ref(), ada.id, "plain", Default::default()).await.unwrap();
    assert_eq!(
        Api::new(&base, &plain).create_workflow(&serde_json::to_value(support::definition("Allowed")).unwrap()).await.0,
        StatusCode::CREATED
    );
}
