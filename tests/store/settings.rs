//! Settings and marketplace templates.

use super::*;

crate::store_suite!(settings_are_stored_and_replaced, templates_are_upserted_listed_and_searched,);

async fn settings_are_stored_and_replaced(store: Arc<dyn Store>) {
    assert_eq!(store.setting("llm").await.unwrap(), None);
    store.put_setting("llm", &json!({"base_url": "http://127.0.0.1:9", "model": "small"})).await.unwrap();
    store.put_setting("llm", &json!({"base_url": "http://127.0.0.1:9", "model": "large"})).await.unwrap();
    assert_eq!(store.setting("llm").await.unwrap().unwrap()["model"], "large");
}

async fn templates_are_upserted_listed_and_searched(store: Arc<dyn Store>) {
    let author = user(store.as_ref(), "m@example.com").await;
    store
        .upsert_template("summarize-url", "Fetch a page and summarize it", &definition("Summarize a URL"), None)
        .await
        .unwrap();
    store
        .upsert_template("classify", "Route support messages", &definition("Classify"), Some(author.id))
        .await
        .unwrap();
    let replaced = store
        .upsert_template("classify", "Route support messages by topic", &definition("Classify and route"), None)
        .await
        .unwrap();
    assert_eq!(replaced.name, "Classify and route");
    assert_eq!(store.list_templates(None).await.unwrap().len(), 2);
    assert!(matches!(store.list_templates(Some("a\0")).await, Err(AppError::BadRequest(_))), "NUL is refused");
    let found = store.list_templates(Some("TOPIC")).await.unwrap();
    assert_eq!(found.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(), ["classify"]);
    assert_eq!(store.template("summarize-url").await.unwrap().definition, definition("Summarize a URL"));
    assert_eq!(store.template("nope").await.unwrap_err(), AppError::NotFound("template".into()));
}
