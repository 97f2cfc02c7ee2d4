//! Users, sessions, sign-in attempts and the first admin.

use super::*;

crate::store_suite!(
    users_are_unique_by_email,
    sessions_find_their_user_until_they_expire_or_end,
    sign_in_attempts_are_counted_per_subject_within_the_window,
    only_users_with_a_password_sign_in_and_count_as_admins,
    the_first_admin_is_created_once_even_by_racing_set_ups,
    a_new_password_replaces_the_old_and_other_sessions_end,
    a_disabled_user_has_no_session_no_key_and_no_triggers_until_enabled,
    api_keys_keep_their_expiry_and_scope,
);

async fn a_disabled_user_has_no_session_no_key_and_no_triggers_until_enabled(store: Arc<dyn Store>) {
    let bob = store.create_user("bob@example.com", Some("bob-hash"), false).await.unwrap();
    let ada = store.create_user("ada@example.com", Some("ada-hash"), false).await.unwrap();
    store.create_session("bob-session", bob.id, 9_000).await.unwrap();
    store.create_session("ada-session", ada.id, 9_000).await.unwrap();
    store.create_api_key(bob.id, "k", "bobprefix", "hash", ApiKeyLimits::default()).await.unwrap();
    let triggered =
        with_triggers("Bob's", json!([{"type": "webhook", "path": "bobs"}, {"type": "cron", "schedule": "* * * * *"}]));
    let bobs = store.create_workflow(bob.id, &triggered).await.unwrap();
    let bobs_address = store.webhook_addresses(bobs.id).await.unwrap()[0].1.clone();
    store
        .create_workflow(ada.id, &with_triggers("Ada's", json!([{"type": "cron", "schedule": "* * * * *"}])))
        .await
        .unwrap();
    assert_eq!(store.schedules_to_plan(1_000, 10).await.unwrap().len(), 2);

    store.set_user_disabled(bob.id, true).await.unwrap();
    let at = store.user(bob.id).await.unwrap().disabled_at.expect("disabled");
    store.set_user_disabled(bob.id, true).await.unwrap();
    assert_eq!(store.user(bob.id).await.unwrap().disabled_at, Some(at), "disabling again keeps the first time");
    assert_eq!(store.session_user("bob-session", 0).await.unwrap(), None);
    assert!(store.api_key_by_prefix("bobprefix").await.unwrap().is_none());
    assert_eq!(store.webhook(&bobs_address).await.unwrap(), None);
    let planned = store.schedules_to_plan(1_000, 10).await.unwrap();
    assert_eq!(planned.iter().map(|s| s.owner_id).collect::<Vec<_>>(), [ada.id], "only ada's schedule");
    // Sign-in finds the account (to say it is disabled); the list shows it; ada is untouched.
    assert_eq!(store.credentials("bob@example.com").await.unwrap().unwrap().0.disabled_at, Some(at));
    let listed = store.list_users().await.unwrap();
    assert_eq!(
        listed.iter().map(|u| (u.email.as_str(), u.disabled_at.is_some())).collect::<Vec<_>>(),
        [("ada@example.com", false), ("bob@example.com", true)]
    );
    assert_eq!(store.session_user("ada-session", 0).await.unwrap().map(|u| u.id), Some(ada.id));

    store.set_user_disabled(bob.id, false).await.unwrap();
    assert_eq!(store.session_user("bob-session", 0).await.unwrap().map(|u| u.disabled_at), Some(None));
    assert!(store.api_key_by_prefix("bobprefix").await.unwrap().is_some());
    assert!(store.webhook(&bobs_address).await.unwrap().is_some());
    assert_eq!(store.schedules_to_plan(1_000, 10).await.unwrap().len(), 2);
    assert_eq!(store.set_user_disabled(999_999, true).await.unwrap_err(), AppError::NotFound("user".into()));
}

async fn api_keys_keep_their_expiry_and_scope(store: Arc<dyn Store>) {
    let ada = store.create_user("ada@example.com", Some("h"), false).await.unwrap();
    let limits = ApiKeyLimits { expires_at: Some(86_400_000), read_only: true };
    let made = store.create_api_key(ada.id, "reader", "readerprefix", "hash", limits).await.unwrap();
    assert_eq!((made.expires_at, made.read_only), (Some(86_400_000), true));
    assert!(made.expired(86_400_000) && !made.expired(86_399_999));
    let plain = store.create_api_key(ada.id, "plain", "plainprefix", "hash", ApiKeyLimits::default()).await.unwrap();
    assert_eq!((plain.expires_at, plain.read_only), (None, false));
    assert!(!plain.expired(i64::MAX));
    let (found, hash, user) = store.api_key_by_prefix("readerprefix").await.unwrap().unwrap();
    assert_eq!((found, hash.as_str(), user.id), (made.clone(), "hash", ada.id));
    let listed = store.list_api_keys(ada.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&made) && listed.contains(&plain));
}

async fn a_new_password_replaces_the_old_and_other_sessions_end(store: Arc<dyn Store>) {
    let ada = store.create_user("ada@example.com", Some("old-hash"), false).await.unwrap();
    let bob = store.create_user("bob@example.com", Some("bob-hash"), false).await.unwrap();
    store.set_password_hash(ada.id, "new-hash").await.unwrap();
    assert_eq!(store.credentials("ada@example.com").await.unwrap().unwrap().1, "new-hash");
    assert_eq!(store.set_password_hash(999_999, "x").await.unwrap_err(), AppError::NotFound("user".into()));
    for hash in ["ada-here", "ada-phone", "ada-laptop"] {
        store.create_session(hash, ada.id, 9_000).await.unwrap();
    }
    store.create_session("bob-here", bob.id, 9_000).await.unwrap();
    assert_eq!(store.delete_user_sessions(ada.id, Some("ada-here")).await.unwrap(), 2);
    assert_eq!(store.session_user("ada-here", 0).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.session_user("ada-phone", 0).await.unwrap(), None);
    assert_eq!(store.delete_user_sessions(ada.id, None).await.unwrap(), 1);
    assert_eq!(store.session_user("ada-here", 0).await.unwrap(), None);
    assert_eq!(store.session_user("bob-here", 0).await.unwrap(), Some(bob), "other users keep theirs");
}

async fn users_are_unique_by_email(store: Arc<dyn Store>) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let ada = store.create_user("ada@example.com", Some("hash"), true).await.unwrap();
    assert!(ada.is_admin);
    let again = store.create_user("ada@example.com", None, false).await.unwrap_err();
    assert_eq!(again, AppError::Conflict("a user with email ada@example.com already exists".into()));
    assert_eq!(store.user_by_email("ada@example.com").await.unwrap(), Some(ada));
    assert_eq!(store.user_by_email("nobody@example.com").await.unwrap(), None);
    assert_eq!(store.count_users().await.unwrap(), 1);
}

async fn sessions_find_their_user_until_they_expire_or_end(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    store.create_session("hash-1", ada.id, 2_000).await.unwrap();
    store.create_session("hash-2", ada.id, 5_000).await.unwrap();
    assert_eq!(store.session_user("hash-1", 1_999).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.session_user("hash-1", 2_000).await.unwrap(), None, "expired at its expiry time");
    assert_eq!(store.session_user("unknown", 0).await.unwrap(), None);
    assert_eq!(store.delete_expired_sessions(3_000).await.unwrap(), 1);
    assert_eq!(store.session_user("hash-2", 3_000).await.unwrap(), Some(ada));
    store.delete_session("hash-2").await.unwrap();
    assert_eq!(store.session_user("hash-2", 3_000).await.unwrap(), None);
    assert!(store.create_session("hash-3", 999_999, 5_000).await.is_err(), "a session needs a real user");
}

async fn sign_in_attempts_are_counted_per_subject_within_the_window(store: Arc<dyn Store>) {
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 1_000, 0).await.unwrap(), 1);
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 2_000, 0).await.unwrap(), 2);
    assert_eq!(store.record_sign_in_attempt("email:b@x.io", 2_500, 0).await.unwrap(), 1, "each subject its own");
    // Only attempts since the window's start count.
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 70_000, 10_000).await.unwrap(), 1);
    assert_eq!(store.delete_sign_in_attempts_before(10_000).await.unwrap(), 3);
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 71_000, 0).await.unwrap(), 2, "the old ones are gone");
}

async fn only_users_with_a_password_sign_in_and_count_as_admins(store: Arc<dyn Store>) {
    let local = store.create_user(LOCAL_USER_EMAIL, None, false).await.unwrap();
    assert!(!store.has_admin().await.unwrap());
    assert_eq!(store.credentials(LOCAL_USER_EMAIL).await.unwrap(), None, "the local user cannot sign in");
    let bob = store.create_user("bob@example.com", Some("bob-hash"), false).await.unwrap();
    assert!(!store.has_admin().await.unwrap(), "bob is no admin");
    let ada = store.create_user("ada@example.com", Some("ada-hash"), true).await.unwrap();
    assert!(store.has_admin().await.unwrap());
    assert_eq!(store.credentials("ada@example.com").await.unwrap(), Some((ada.clone(), "ada-hash".to_string())));
    assert_eq!(store.list_users().await.unwrap(), vec![ada.clone(), bob]);

    let made_before = store.create_workflow(local.id, &definition("Old")).await.unwrap();
    store.transfer_ownership(local.id, ada.id).await.unwrap();
    assert_eq!(store.workflow(Scope::Owner(ada.id), made_before.id).await.unwrap().summary.owner_id, ada.id);
    assert!(store.workflow(Scope::Owner(local.id), made_before.id).await.is_err());
}

async fn the_first_admin_is_created_once_even_by_racing_set_ups(store: Arc<dyn Store>) {
    let set_ups = (0..4).map(|i| {
        let store = store.clone();
        async move { store.create_first_admin(&format!("admin{i}@example.com"), "hash").await }
    });
    let results = futures::future::join_all(set_ups).await;
    let admins: Vec<&User> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(admins.len(), 1, "exactly one set-up wins: {results:?}");
    assert!(admins[0].is_admin);
    let already = AppError::Conflict("Weft is already set up; sign in instead".into());
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| *e == already), "{results:?}");
    assert_eq!(store.list_users().await.unwrap(), vec![admins[0].clone()]);
    // And once it is done, it stays done.
    assert_eq!(store.create_first_admin("late@example.com", "hash").await.unwrap_err(), already);
}
