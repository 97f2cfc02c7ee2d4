//! Credentials: sealed values by name, own before shared, and the workflows
//! that use each.

use super::*;

crate::store_suite!(
    credentials_are_per_user_and_a_users_own_hides_the_shared_one,
    a_credential_is_replaced_under_its_name_and_marked_when_used,
    a_credential_in_use_is_not_deleted_and_the_refusal_names_the_workflows,
    oauth_tokens_are_swapped_only_from_what_was_read_and_forgotten_with_the_value,
);

fn using(name: &str, credential: &str) -> WorkflowDefinition {
    serde_json::from_value(json!({
        "name": name,
        "nodes": [{"id": "call", "type": "http",
                   "config": {"method": "GET", "url": "https://api.example", "credential": credential}}]
    }))
    .unwrap()
}

async fn credentials_are_per_user_and_a_users_own_hides_the_shared_one(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let made = store.create_credential(Ownership::User(ada.id), ada.id, "gh", "bearer", "sealed-ada").await.unwrap();
    assert_eq!((made.name.as_str(), made.kind.as_str(), made.shared), ("gh", "bearer", false));
    assert_eq!(made.created_by.as_deref(), Some("ada@example.com"));
    let again = store.create_credential(Ownership::User(ada.id), ada.id, "gh", "basic", "x").await;
    assert_eq!(again.unwrap_err(), AppError::Conflict("a credential named `gh` already exists".into()));
    // Another user may use the same name; so may a shared credential.
    store.create_credential(Ownership::User(bob.id), bob.id, "gh", "bearer", "sealed-bob").await.unwrap();
    store.create_credential(Ownership::Shared, ada.id, "gh", "header", "sealed-shared").await.unwrap();
    store.create_credential(Ownership::Shared, ada.id, "slack", "bearer", "sealed-slack").await.unwrap();
    assert!(store.create_credential(Ownership::Shared, bob.id, "slack", "bearer", "x").await.is_err());

    let for_run = |user: UserId, name: &'static str| {
        let store = store.clone();
        async move { store.credential_for_run(user, name).await.unwrap().map(|c| c.sealed) }
    };
    assert_eq!(for_run(ada.id, "gh").await.as_deref(), Some("sealed-ada"));
    assert_eq!(for_run(bob.id, "gh").await.as_deref(), Some("sealed-bob"));
    assert_eq!(for_run(bob.id, "slack").await.as_deref(), Some("sealed-slack"));
    assert_eq!(for_run(bob.id, "nope").await, None);

    let carl = user(store.as_ref(), "carl@example.com").await;
    assert_eq!(for_run(carl.id, "gh").await.as_deref(), Some("sealed-shared"), "no own: the shared one");
    let listed = store.list_credentials(ada.id).await.unwrap();
    let seen: Vec<(&str, bool)> = listed.iter().map(|c| (c.name.as_str(), c.shared)).collect();
    assert_eq!(seen, [("gh", false), ("slack", true)], "ada's own gh hides the shared gh");
    let listed = store.list_credentials(carl.id).await.unwrap();
    assert_eq!(listed.iter().map(|c| (c.name.as_str(), c.shared)).collect::<Vec<_>>(), [("gh", true), ("slack", true)]);
}

async fn a_credential_is_replaced_under_its_name_and_marked_when_used(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    let owner = Ownership::User(ada.id);
    let made = store.create_credential(owner, ada.id, "api", "bearer", "one").await.unwrap();
    store.replace_credential(owner, "api", "header", "two").await.unwrap();
    let found = store.credential_for_run(ada.id, "api").await.unwrap().unwrap();
    assert_eq!((found.id, found.sealed.as_str()), (made.id, "two"));
    let listed = store.list_credentials(ada.id).await.unwrap();
    assert_eq!(listed[0].kind, "header");
    assert!(listed[0].updated_at >= made.updated_at);
    assert_eq!(
        store.replace_credential(owner, "missing", "bearer", "x").await.unwrap_err(),
        AppError::NotFound("credential `missing`".into())
    );
    // Only an admin's service call reaches the shared namespace; the store keeps them apart.
    assert!(store.replace_credential(Ownership::Shared, "api", "bearer", "x").await.is_err());

    // At most so many per owner.
    for i in 1..app::model::credentials::MAX_CREDENTIALS {
        store.create_credential(owner, ada.id, &format!("c{i}"), "bearer", "s").await.unwrap();
    }
    let refused = store.create_credential(owner, ada.id, "one-more", "bearer", "s").await.unwrap_err();
    assert!(matches!(refused, AppError::BadRequest(ref m) if m.contains("at most 200")), "{refused:?}");

    store.mark_credential_used(made.id, 1_000_000).await.unwrap();
    store.mark_credential_used(made.id, 1_030_000).await.unwrap();
    let listed = store.list_credentials(ada.id).await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(1_000_000), "at most one write a minute");
    store.mark_credential_used(made.id, 1_070_000).await.unwrap();
    assert_eq!(store.list_credentials(ada.id).await.unwrap()[0].last_used_at, Some(1_070_000));
}

async fn a_credential_in_use_is_not_deleted_and_the_refusal_names_the_workflows(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let owner = Ownership::User(ada.id);
    store.create_credential(owner, ada.id, "gh", "bearer", "s").await.unwrap();
    store.create_credential(Ownership::Shared, ada.id, "shared-gh", "bearer", "s").await.unwrap();
    let first = store.create_workflow(ada.id, &using("Sync issues", "gh")).await.unwrap();
    let second = store.create_workflow(ada.id, &using("Triage", "gh")).await.unwrap();
    let bobs = store.create_workflow(bob.id, &using("Bob's", "shared-gh")).await.unwrap();

    let listed = store.list_credentials(ada.id).await.unwrap();
    let gh = listed.iter().find(|c| c.name == "gh").unwrap();
    assert_eq!(
        gh.used_by,
        [
            WorkflowRef { id: first.id, name: "Sync issues".into() },
            WorkflowRef { id: second.id, name: "Triage".into() }
        ]
    );
    let shared = &store.list_credentials(bob.id).await.unwrap()[0];
    assert_eq!(shared.used_by, [WorkflowRef { id: bobs.id, name: "Bob's".into() }]);

    let refused = store.delete_credential(owner, "gh").await.unwrap_err();
    let AppError::Conflict(message) = refused else { panic!("expected a conflict, got {refused:?}") };
    assert!(message.contains(&format!("Sync issues (#{})", first.id)) && message.contains("Triage"), "{message}");
    assert!(store.delete_credential(Ownership::Shared, "shared-gh").await.is_err(), "bob's workflow uses it");

    // A new version without the reference frees it; deleting a workflow does too.
    store.save_workflow_version(Scope::Owner(ada.id), first.id, &definition("Sync issues")).await.unwrap();
    store.delete_workflow(Scope::Owner(ada.id), second.id).await.unwrap();
    store.delete_credential(owner, "gh").await.unwrap();
    assert_eq!(store.credential_for_run(ada.id, "gh").await.unwrap(), None);
    assert_eq!(store.delete_credential(owner, "gh").await.unwrap_err(), AppError::NotFound("credential `gh`".into()));

    // Bob's own credential of that name makes the shared one free to go.
    store.create_credential(Ownership::User(bob.id), bob.id, "shared-gh", "bearer", "b").await.unwrap();
    store.delete_credential(Ownership::Shared, "shared-gh").await.unwrap();
}

async fn oauth_tokens_are_swapped_only_from_what_was_read_and_forgotten_with_the_value(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    let owner = Ownership::User(ada.id);
    let made = store.create_credential(owner, ada.id, "google", "oauth2", "sealed-client").await.unwrap();
    assert_eq!(made.connected_at, None);
    let read = store.owned_credential(owner, "google").await.unwrap().unwrap();
    assert_eq!((read.id, read.tokens.as_deref()), (made.id, None));
    assert!(store.owned_credential(Ownership::Shared, "google").await.unwrap().is_none());

    // First tokens: only from "none yet".
    assert!(store.save_credential_tokens(made.id, None, "tokens-1").await.unwrap());
    assert!(!store.save_credential_tokens(made.id, None, "tokens-x").await.unwrap(), "someone else stored first");
    // A refresh: only from the tokens that were read; a second refresher loses.
    assert!(store.save_credential_tokens(made.id, Some("tokens-1"), "tokens-2").await.unwrap());
    assert!(!store.save_credential_tokens(made.id, Some("tokens-1"), "tokens-3").await.unwrap());
    let by_id = store.credential_by_id(made.id).await.unwrap().unwrap();
    assert_eq!(by_id.tokens.as_deref(), Some("tokens-2"));
    assert_eq!(store.credential_for_run(ada.id, "google").await.unwrap().unwrap().tokens.as_deref(), Some("tokens-2"));
    let listed = store.list_credentials(ada.id).await.unwrap();
    assert!(listed[0].connected_at.is_some());

    // A new value (another client) forgets the tokens obtained with the old one.
    store.replace_credential(owner, "google", "oauth2", "sealed-client-2").await.unwrap();
    let replaced = store.credential_by_id(made.id).await.unwrap().unwrap();
    assert_eq!((replaced.sealed.as_str(), replaced.tokens), ("sealed-client-2", None));
    assert_eq!(store.list_credentials(ada.id).await.unwrap()[0].connected_at, None);
    assert!(store.credential_by_id(made.id + 1000).await.unwrap().is_none());
}
