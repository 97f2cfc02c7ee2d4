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
    let addresses = store.webhook_addresses(workflow.id).await.unwrap();
    let (method, greet) = addresses[0].clone();
    assert_eq!(method, "POST");
    let (id, path) = greet.split_once('/').expect("{id}/{path}");
    assert_eq!((id.len(), path), (app::model::triggers::HOOK_ID_LEN, "greet"), "{greet}");
    let target = store.webhook(&greet).await.unwrap().expect("the webhook exists");
    assert_eq!((target.workflow_id, target.owner_id, target.version), (workflow.id, owner.id, 1));
    assert_eq!(
        (target.method.as_str(), target.mode, target.respond_with.as_deref()),
        ("POST", WebhookMode::Async, Some("greet"))
    );
    assert_eq!(store.webhook("greet").await.unwrap(), None, "the path alone is no address");
    assert_eq!(store.webhook("nope").await.unwrap(), None);

    // Another workflow may use the path: it gets its own address.
    let same = with_triggers("Same", json!([{"type": "webhook", "path": "greet"}]));
    let same_path = store.create_workflow(owner.id, &same).await.unwrap();
    let other = store.webhook_addresses(same_path.id).await.unwrap()[0].1.clone();
    assert_ne!(other, greet);
    assert_eq!(store.webhook(&other).await.unwrap().unwrap().workflow_id, same_path.id);

    // A new version keeps the address of a path it keeps, makes one for a new
    // path, drops the rest, and adds a schedule.
    let moved = with_triggers(
        "Hooked",
        json!([{"type": "webhook", "path": "greet", "method": "PUT"}, {"type": "webhook", "path": "hello"},
               {"type": "cron", "schedule": "* * * * *"}]),
    );
    store.save_workflow_version(Scope::Owner(owner.id), workflow.id, &moved).await.unwrap();
    let addresses = store.webhook_addresses(workflow.id).await.unwrap();
    assert_eq!(addresses.len(), 2);
    assert!(addresses.contains(&("PUT".to_string(), greet.clone())), "{addresses:?}");
    let hello = addresses.iter().find(|(_, a)| a.ends_with("/hello")).unwrap().1.clone();
    assert_eq!(store.webhook(&hello).await.unwrap().unwrap().version, 2);
    let schedules = store.workflow_schedules(Scope::Owner(owner.id), workflow.id).await.unwrap();
    assert_eq!((schedules.len(), schedules[0].timezone.as_str(), schedules[0].next_fire_at), (1, "UTC", None));
    store.save_workflow_version(Scope::Owner(owner.id), workflow.id, &hooked).await.unwrap();
    assert_eq!(store.webhook(&hello).await.unwrap(), None, "a dropped path stops answering");
    assert!(store.webhook(&greet).await.unwrap().is_some());

    store.delete_workflow(Scope::Owner(owner.id), workflow.id).await.unwrap();
    assert_eq!(store.webhook(&greet).await.unwrap(), None);
    store.delete_workflow(Scope::Owner(owner.id), same_path.id).await.unwrap();
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
