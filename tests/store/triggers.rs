//! Webhooks and schedules, kept in step with the current version.

use super::*;

crate::store_suite!(triggers_follow_the_current_version, a_schedule_tick_is_claimed_once,);

async fn triggers_follow_the_current_version(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "h@example.com").await;
    let hooked = with_triggers(
        "Hooked",
        json!([{"type": "webhook", "path": "greet", "mode": "async", "respond_with": "greet"}]),
    );
    let workflow = store.create_workflow(owner.id, &hooked).await.unwrap();
    let target = store.webhook("greet").await.unwrap().expect("the webhook exists");
    assert_eq!((target.workflow_id, target.owner_id, target.version), (workflow.id, owner.id, 1));
    assert_eq!(
        (target.method.as_str(), target.mode, target.respond_with.as_deref()),
        ("POST", WebhookMode::Async, Some("greet"))
    );
    assert_eq!(store.webhook("nope").await.unwrap(), None);

    // Another workflow cannot take the path; nothing of it is saved.
    let thief =
        store.create_workflow(owner.id, &with_triggers("Thief", json!([{"type": "webhook", "path": "greet"}]))).await;
    assert_eq!(
        thief.unwrap_err(),
        AppError::Conflict("webhook path `greet` is already used by another workflow".into())
    );
    assert_eq!(store.list_workflows(Scope::Owner(owner.id), None, None, 50).await.unwrap().items.len(), 1);

    // A new version moves the path and adds a schedule.
    let moved = with_triggers(
        "Hooked",
        json!([{"type": "webhook", "path": "hello"}, {"type": "cron", "schedule": "* * * * *"}]),
    );
    store.save_workflow_version(Scope::Owner(owner.id), workflow.id, &moved).await.unwrap();
    assert_eq!(store.webhook("greet").await.unwrap(), None);
    assert_eq!(store.webhook("hello").await.unwrap().unwrap().version, 2);
    let schedules = store.workflow_schedules(Scope::Owner(owner.id), workflow.id).await.unwrap();
    assert_eq!((schedules.len(), schedules[0].timezone.as_str(), schedules[0].next_fire_at), (1, "UTC", None));

    store.delete_workflow(Scope::Owner(owner.id), workflow.id).await.unwrap();
    assert_eq!(store.webhook("hello").await.unwrap(), None);
    assert!(store.schedules_to_plan(i64::MAX, 10).await.unwrap().is_empty());
}

async fn a_schedule_tick_is_claimed_once(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "c@example.com").await;
    let cron =
        with_triggers("Ticking", json!([{"type": "cron", "schedule": "*/5 * * * *", "timezone": "Europe/Paris"}]));
    store.create_workflow(owner.id, &cron).await.unwrap();
    let planned = store.schedules_to_plan(1_000, 10).await.unwrap();
    assert_eq!(planned.len(), 1);
    let id = planned[0].id;
    assert!(store.claim_schedule(id, None, 5_000).await.unwrap(), "the first planner wins");
    assert!(!store.claim_schedule(id, None, 5_000).await.unwrap(), "a second planner loses");
    assert!(store.schedules_to_plan(4_999, 10).await.unwrap().is_empty(), "not due yet");
    let due = store.schedules_to_plan(5_000, 10).await.unwrap();
    assert_eq!(due[0].next_fire_at, Some(5_000));
    let claims = futures::future::join_all((0..5).map(|_| store.claim_schedule(id, Some(5_000), 10_000))).await;
    assert_eq!(
        claims.into_iter().filter(|c| *c.as_ref().unwrap()).count(),
        1,
        "one of five concurrent claims fires the tick"
    );
}
