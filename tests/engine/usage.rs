//! What llm nodes spend, on both backends: each upstream call recorded with
//! its tokens and its cost at the price table's prices (cached answers cost
//! nothing), and a spent daily budget failing llm nodes before anything is sent.

use super::*;

on_both_backends!(
    every_upstream_call_is_recorded_with_its_cost_and_cached_answers_are_free,
    a_spent_daily_budget_fails_llm_nodes_and_sends_nothing,
);

fn prices() -> UsagePolicy {
    let mut policy = UsagePolicy::default();
    // The fake provider answers as `fake-1`, 3 prompt and 2 completion tokens.
    policy.prices.insert("fake-*".into(), ModelPrice { prompt: 1.0, completion: 10.0 });
    policy
}

async fn every_upstream_call_is_recorded_with_its_cost_and_cached_answers_are_free(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    h.engine.services().llm.usage().set_policy(prices());
    let first = h.run(llm_workflow("count me", true), json!({})).await;
    let cached = h.run(llm_workflow("count me", true), json!({})).await;
    assert_eq!(node(&cached, "ask").output.as_ref().unwrap()["cached"], true);
    let spent = h.store.llm_usage(UsageOf::Execution(first.id), 0).await.unwrap();
    assert_eq!(
        spent,
        UsageTotals { calls: 1, prompt_tokens: 3, completion_tokens: 2, cost_micros: 3 + 20, unpriced_calls: 0 }
    );
    assert_eq!(h.store.llm_usage(UsageOf::Execution(cached.id), 0).await.unwrap(), UsageTotals::default());
    let version = h.store.execution(Scope::Everyone, first.id).await.unwrap();
    let of_workflow = h.store.llm_usage(UsageOf::Workflow(version.workflow_id), 0).await.unwrap();
    assert_eq!(of_workflow.calls, 1, "recorded with its workflow");

    // A model without a price counts tokens, not cost.
    h.engine.services().llm.usage().set_policy(UsagePolicy::default());
    let unpriced = h.run(llm_workflow("count me too", false), json!({})).await;
    let spent = h.store.llm_usage(UsageOf::Execution(unpriced.id), 0).await.unwrap();
    assert_eq!((spent.calls, spent.tokens(), spent.cost_micros, spent.unpriced_calls), (1, 5, 0, 1));
}

async fn a_spent_daily_budget_fails_llm_nodes_and_sends_nothing(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    h.engine.services().llm.usage().set_policy(UsagePolicy { daily_tokens_per_user: Some(8), ..prices() });
    // 5 tokens each: the second call starts under the budget and ends past it.
    for (prompt, cache) in [("one", true), ("two", false)] {
        let report = h.run(llm_workflow(prompt, cache), json!({})).await;
        assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    }
    let refused = h.run(llm_workflow("three", false), json!({})).await;
    assert_eq!(refused.status, ExecutionStatus::Failed);
    let error = node(&refused, "ask").error.clone().unwrap_or_default();
    assert_eq!(
        error,
        "the daily LLM budget is spent: 10 of 8 tokens used today (it renews at 00:00 UTC); nothing was sent"
    );
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 2, "nothing sent upstream");
    // A cached answer costs nothing, so it is still given.
    let cached = h.run(llm_workflow("one", true), json!({})).await;
    assert_eq!(node(&cached, "ask").output.as_ref().map(|o| o["cached"].clone()), Some(json!(true)));
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 2);
    // The budget is per user: someone else's runs go on.
    let other = h.store.create_user("other@example.com", None, false).await.unwrap();
    let version = h.version(llm_workflow("four", false)).await;
    let report = h.engine.run(StartRequest::new(&version, other.id, Trigger::Manual, json!({}))).await.unwrap();
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);

    // A cost budget, the same way.
    h.engine.services().llm.usage().set_policy(UsagePolicy { daily_cost_per_user: Some(0.00004), ..prices() });
    let refused = h.run(llm_workflow("five", false), json!({})).await;
    let error = node(&refused, "ask").error.clone().unwrap_or_default();
    assert!(error.starts_with("the daily LLM budget is spent: $0.000046 of $0.000040 used today"), "{error}");
}
