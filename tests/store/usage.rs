//! LLM usage: calls recorded in one write, summed per run, workflow and user
//! since a time, and per UTC day; a run deleted keeps what it spent.

use app::model::usage::DAY_MS;

use super::*;

crate::store_suite!(llm_calls_are_summed_per_run_workflow_user_and_day,);

fn call(execution: ExecutionId, user: UserId, model: &str, tokens: (i64, i64), cost: Option<i64>, at: i64) -> LlmCall {
    LlmCall {
        execution_id: execution,
        user_id: user,
        node_id: "ask".into(),
        provider: "default".into(),
        model: model.into(),
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
        cost_micros: cost,
        at,
    }
}

async fn llm_calls_are_summed_per_run_workflow_user_and_day(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let summaries = store.create_workflow(ada.id, &definition("Summaries")).await.unwrap();
    let other = store.create_workflow(ada.id, &definition("Other")).await.unwrap();
    let bobs = store.create_workflow(bob.id, &definition("Bob's")).await.unwrap();
    let first = start(store.as_ref(), &summaries, json!({})).await;
    let second = start(store.as_ref(), &summaries, json!({})).await;
    let elsewhere = start(store.as_ref(), &other, json!({})).await;
    let his = start(store.as_ref(), &bobs, json!({})).await;
    let day = 20_000 * DAY_MS;
    store
        .record_llm_calls(&[
            call(first.id, ada.id, "gpt-4o-mini", (100, 20), Some(27), day - 1000),
            call(first.id, ada.id, "gpt-4o-mini", (50, 10), Some(13), day + 1000),
            call(second.id, ada.id, "llama3.2", (7, 3), None, day + 2000),
            call(elsewhere.id, ada.id, "gpt-4o-mini", (1, 1), Some(1), day + 3000),
            call(his.id, bob.id, "gpt-4o-mini", (1000, 1000), Some(900), day + 4000),
        ])
        .await
        .unwrap();
    let of_first = store.llm_usage(UsageOf::Execution(first.id), 0).await.unwrap();
    assert_eq!(
        of_first,
        UsageTotals { calls: 2, prompt_tokens: 150, completion_tokens: 30, cost_micros: 40, unpriced_calls: 0 }
    );
    let of_workflow = store.llm_usage(UsageOf::Workflow(summaries.id), 0).await.unwrap();
    assert_eq!((of_workflow.calls, of_workflow.tokens(), of_workflow.unpriced_calls), (3, 190, 1));
    let ada_today = store.llm_usage(UsageOf::User(ada.id), day).await.unwrap();
    assert_eq!((ada_today.calls, ada_today.tokens(), ada_today.cost_micros), (3, 72, 14), "since the day began");
    assert_eq!(store.llm_usage(UsageOf::User(bob.id), day).await.unwrap().tokens(), 2000);
    assert_eq!(store.llm_usage(UsageOf::Execution(999_999), 0).await.unwrap(), UsageTotals::default());

    let by_day = store.llm_usage_by_day(ada.id, day - DAY_MS).await.unwrap();
    let days: Vec<(i64, i64, i64)> = by_day.iter().map(|(d, t)| (*d, t.calls, t.tokens())).collect();
    assert_eq!(days, [(day - DAY_MS, 1, 120), (day, 3, 72)]);
    assert!(store.llm_usage_by_day(ada.id, day + DAY_MS).await.unwrap().is_empty());
    store.record_llm_calls(&[]).await.unwrap();
}
