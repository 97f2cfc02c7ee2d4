//! Variables: a user's own over the instance's, bounded in number.

use super::*;

crate::store_suite!(a_users_variables_override_the_instances_and_are_bounded,);

async fn a_users_variables_override_the_instances_and_are_bounded(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    store.put_variable(Ownership::Shared, "region", "eu").await.unwrap();
    store.put_variable(Ownership::Shared, "channel", "#ops").await.unwrap();
    store.put_variable(Ownership::User(ada.id), "region", "us").await.unwrap();
    store.put_variable(Ownership::User(ada.id), "region", "ap").await.unwrap();
    let ada_vars = store.variables_for_run(ada.id).await.unwrap();
    assert_eq!(ada_vars.get("region").map(String::as_str), Some("ap"), "hers, replaced, over the instance's");
    assert_eq!(ada_vars.get("channel").map(String::as_str), Some("#ops"));
    let bob_vars = store.variables_for_run(bob.id).await.unwrap();
    assert_eq!(bob_vars.get("region").map(String::as_str), Some("eu"));
    let listed = store.list_variables(ada.id).await.unwrap();
    let seen: Vec<(&str, &str, bool)> = listed.iter().map(|v| (v.name.as_str(), v.value.as_str(), v.shared)).collect();
    assert_eq!(seen, [("channel", "#ops", true), ("region", "ap", false), ("region", "eu", true)]);

    store.delete_variable(Ownership::User(ada.id), "region").await.unwrap();
    assert_eq!(store.variables_for_run(ada.id).await.unwrap().get("region").map(String::as_str), Some("eu"));
    let missing = store.delete_variable(Ownership::User(ada.id), "region").await.unwrap_err();
    assert_eq!(missing, AppError::NotFound("variable `region`".into()));

    for i in 0..app::model::variables::MAX_VARIABLES {
        store.put_variable(Ownership::User(bob.id), &format!("v{i}"), "x").await.unwrap();
    }
    let refused = store.put_variable(Ownership::User(bob.id), "one_more", "x").await.unwrap_err();
    assert!(matches!(refused, AppError::BadRequest(ref m) if m.contains("at most 200")), "{refused:?}");
    store.put_variable(Ownership::User(bob.id), "v0", "replaced").await.unwrap();
}
