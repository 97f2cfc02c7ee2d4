use super::*;
use serde_json::json;

fn definition(value: serde_json::Value) -> WorkflowDefinition {
    serde_json::from_value(value).expect("test definitions are well-formed JSON")
}

fn messages(value: serde_json::Value) -> Vec<String> {
    validate(&definition(value))
        .expect_err("expected the definition to be rejected")
        .into_iter()
        .map(|e| e.message)
        .collect()
}

fn summarize_a_page() -> serde_json::Value {
    json!({
        "name": "Summarize a page",
        "description": "optional text",
        "nodes": [
            {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "{{ input.url }}"}, "position": {"x": 0, "y": 0}},
            {"id": "ok", "type": "condition", "config": {"expr": "nodes.fetch.status == 200"}},
            {"id": "sum", "type": "llm", "config": {"model": "gpt-4o-mini", "prompt": "Summarize: {{ nodes.fetch.body }}"}},
            {"id": "oops", "type": "template", "config": {"template": "fetch failed: {{ nodes.fetch.status }}"}}
        ],
        "edges": [
            {"from": "fetch", "to": "ok"},
            {"from": "ok", "to": "sum", "branch": "true"},
            {"from": "ok", "to": "oops", "branch": "false"}
        ]
    })
}

#[test]
fn the_documented_example_is_valid_and_typed() {
    let valid = validate(&definition(summarize_a_page())).unwrap();
    let ids: Vec<_> = valid.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["fetch", "ok", "sum", "oops"]);
    match &valid.nodes[2].config {
        NodeConfig::Llm(llm) => {
            assert_eq!(llm.model, "gpt-4o-mini");
            assert!(llm.cache, "cache defaults to true");
        }
        other => panic!("expected an llm config, got {other:?}"),
    }
}

#[test]
fn unknown_top_level_fields_survive_a_round_trip() {
    let mut value = summarize_a_page();
    value["owner_team"] = json!("growth");
    let parsed = definition(value);
    let back: serde_json::Value = serde_json::from_str(&parsed.to_json_pretty()).unwrap();
    assert_eq!(back["owner_team"], "growth");
    assert!(validate(&parsed).is_ok());
}

#[test]
fn duplicate_and_empty_ids_are_named() {
    let errors = messages(json!({"name": "w", "nodes": [
        {"id": "a", "type": "delay", "config": {"ms": 1}},
        {"id": "a", "type": "delay", "config": {"ms": 1}},
        {"id": "", "type": "delay", "config": {"ms": 1}}
    ]}));
    assert!(errors.iter().any(|m| m == "node id `a` is used twice"), "{errors:?}");
    assert!(errors.iter().any(|m| m == "node #3 has an empty id"), "{errors:?}");
}

#[test]
fn an_edge_to_an_unknown_node_names_it() {
    let errors = messages(json!({"name": "w",
        "nodes": [{"id": "a", "type": "delay", "config": {"ms": 1}}],
        "edges": [{"from": "a", "to": "ghost"}]}));
    assert_eq!(errors, ["edge a → ghost refers to unknown node `ghost`"]);
}

#[test]
fn a_cycle_names_the_nodes_on_it() {
    let def = definition(json!({"name": "w",
        "nodes": [
            {"id": "start", "type": "delay", "config": {"ms": 1}},
            {"id": "a", "type": "delay", "config": {"ms": 1}},
            {"id": "b", "type": "delay", "config": {"ms": 1}},
            {"id": "c", "type": "delay", "config": {"ms": 1}}
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "a"}]}));
    let errors = validate(&def).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.starts_with("the graph has a cycle: "), "{}", errors[0].message);
    let mut on_cycle = errors[0].nodes.clone();
    on_cycle.sort();
    assert_eq!(on_cycle, ["a", "b", "c"]);
}

#[test]
fn a_self_loop_is_a_cycle() {
    let errors = messages(json!({"name": "w",
        "nodes": [{"id": "a", "type": "delay", "config": {"ms": 1}}],
        "edges": [{"from": "a", "to": "a"}]}));
    assert_eq!(errors, ["the graph has a cycle: a → a"]);
}

#[test]
fn an_unknown_type_lists_the_known_ones() {
    let errors = messages(json!({"name": "w", "nodes": [{"id": "x", "type": "ftp", "config": {}}]}));
    assert_eq!(
        errors,
        ["node `x` has unknown type `ftp` (known types: http, llm, agent, template, code, condition, switch, merge, delay, wait, workflow)"]
    );
}

#[test]
fn a_missing_required_field_names_node_and_field() {
    let errors =
        messages(json!({"name": "w", "nodes": [{"id": "fetch", "type": "http", "config": {"method": "GET"}}]}));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("node `fetch` (http): config: missing field `url`"), "{errors:?}");
}

#[test]
fn a_field_of_the_wrong_type_names_its_path() {
    let errors = messages(json!({"name": "w", "nodes": [{"id": "wait", "type": "delay", "config": {"ms": "soon"}}]}));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("node `wait` (delay): config.ms: invalid type: string \"soon\""), "{errors:?}");
}

#[test]
fn a_wait_node_names_its_bad_timeout_and_cannot_run_per_item() {
    let errors = messages(json!({"name": "w", "nodes": [
        {"id": "never", "type": "wait", "config": {"timeout_ms": 0}},
        {"id": "too_long", "type": "wait", "config": {"timeout_ms": 2_592_000_001_u64}},
        {"id": "unsure", "type": "wait", "config": {"on_timeout": "maybe"}},
        {"id": "each", "type": "wait", "config": {}, "for_each": "input.rows"}
    ]}));
    assert!(
        errors.iter().any(|m| m.starts_with("node `never` (wait): config.timeout_ms must be more than 0")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|m| m.starts_with("node `too_long` (wait): config.timeout_ms must be at most 2592000000")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|m| m.starts_with("node `unsure` (wait): config.on_timeout: unknown variant `maybe`")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|m| m.contains("`each`") && m.contains("for_each")), "{errors:?}");
    assert_eq!(errors.len(), 4, "{errors:?}");
    let fine =
        definition(json!({"name": "w", "nodes": [{"id": "ok", "type": "wait", "config": {"on_timeout": "continue"}}]}));
    assert!(validate(&fine).is_ok(), "{:?}", validate(&fine).err());
}

#[test]
fn a_branch_on_an_edge_not_leaving_a_condition_is_rejected() {
    let errors = messages(json!({"name": "w",
        "nodes": [{"id": "a", "type": "delay", "config": {"ms": 1}}, {"id": "b", "type": "delay", "config": {"ms": 1}}],
        "edges": [{"from": "a", "to": "b", "branch": "true"}]}));
    assert_eq!(errors, ["edge a → b has a branch, but `a` is not a condition or switch node"]);
}

#[test]
fn a_condition_edge_without_a_branch_is_rejected() {
    let errors = messages(json!({"name": "w",
        "nodes": [{"id": "ok", "type": "condition", "config": {"expr": "true"}}, {"id": "b", "type": "delay", "config": {"ms": 1}}],
        "edges": [{"from": "ok", "to": "b"}]}));
    assert_eq!(errors, ["edge ok → b leaves condition `ok` and needs \"branch\": one of \"true\", \"false\""]);
}

#[test]
fn a_template_that_does_not_parse_gives_node_field_and_position() {
    let errors = messages(json!({"name": "w",
        "nodes": [{"id": "t", "type": "template", "config": {"template": "line one\nhello {{ name "}}]}));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("node `t` (template): config.template: syntax error at line 2"), "{errors:?}");
}

#[test]
fn a_bad_condition_expression_is_rejected() {
    let errors = messages(
        json!({"name": "w", "nodes": [{"id": "c", "type": "condition", "config": {"expr": "nodes.a.status =="}}]}),
    );
    assert!(errors[0].starts_with("node `c` (condition): config.expr: syntax error"), "{errors:?}");
}

#[test]
fn node_policies_are_checked() {
    let errors = messages(json!({"name": "w", "nodes": [
        {"id": "a", "type": "delay", "config": {"ms": 1}, "on_error": "ignore"},
        {"id": "b", "type": "delay", "config": {"ms": 1}, "retry": {"max_attempts": 0}},
        {"id": "c", "type": "delay", "config": {"ms": 1}, "timeout_ms": 0}
    ]}));
    assert!(
        errors.contains(&"node `a`: on_error must be \"fail\" or \"continue\", not \"ignore\"".to_string()),
        "{errors:?}"
    );
    assert!(errors.contains(&"node `b`: retry.max_attempts must be at least 1".to_string()), "{errors:?}");
    assert!(errors.contains(&"node `c`: timeout_ms must be more than 0".to_string()), "{errors:?}");
}

#[test]
fn valid_policies_are_typed() {
    let valid = validate(&definition(json!({"name": "w", "nodes": [
        {"id": "a", "type": "delay", "config": {"ms": 1}, "on_error": "continue", "timeout_ms": 500,
         "retry": {"max_attempts": 3, "backoff_ms": 100}}
    ]})))
    .unwrap();
    let policy = &valid.nodes[0].policy;
    assert_eq!(policy.on_error, OnError::Continue);
    assert_eq!(policy.timeout_ms, Some(500));
    assert_eq!(policy.retry, Some(RetryPolicy { max_attempts: 3, backoff_ms: 100 }));
}

#[test]
fn an_empty_name_and_no_nodes_are_rejected() {
    let errors = messages(json!({"name": "  ", "nodes": []}));
    assert_eq!(errors, ["the workflow needs a name", "the workflow has no nodes"]);
}

#[test]
fn position_is_optional_and_merge_needs_no_config() {
    assert!(validate(&definition(json!({"name": "w", "nodes": [{"id": "m", "type": "merge"}]}))).is_ok());
}

#[test]
fn triggers_are_checked_and_typed() {
    let mut value = summarize_a_page();
    value["triggers"] = json!([
        {"type": "webhook", "path": "pages/summarize", "respond_with": "sum"},
        {"type": "cron", "schedule": "0 * * * *", "timezone": "Europe/Paris"}
    ]);
    let def = definition(value.clone());
    assert!(validate(&def).is_ok());
    let typed = def.typed_triggers();
    assert!(
        matches!(&typed[0], crate::model::TriggerDefinition::Webhook(h) if h.method == "POST" && h.mode == crate::model::WebhookMode::Sync)
    );

    value["triggers"] = json!([
        {"type": "webhook", "path": "../etc", "method": "TRACE", "respond_with": "ghost"},
        {"type": "cron", "schedule": "every hour"},
        {"type": "email"}
    ]);
    let errors = messages(value);
    assert!(errors.iter().any(|m| m.starts_with("trigger #1: webhook path `../etc`")), "{errors:?}");
    assert!(errors.iter().any(|m| m.starts_with("trigger #1: method must be one of")), "{errors:?}");
    assert!(errors.iter().any(|m| m == "trigger #1: respond_with names unknown node `ghost`"), "{errors:?}");
    assert!(errors.iter().any(|m| m.starts_with("trigger #2: schedule `every hour` needs five fields")), "{errors:?}");
    assert!(errors.iter().any(|m| m.starts_with("trigger #3: unknown variant `email`")), "{errors:?}");
}

#[test]
fn a_nul_character_anywhere_in_the_definition_is_named() {
    let expected = "text cannot contain the NUL character (U+0000): remove it from the definition";
    let mut in_name = summarize_a_page();
    in_name["name"] = json!("Sum\u{0}marize");
    assert_eq!(messages(in_name), [expected]);
    let mut in_config = summarize_a_page();
    in_config["nodes"][3]["config"]["template"] = json!("fetch \u{0} failed");
    assert_eq!(messages(in_config), [expected]);
}

#[test]
fn a_declared_input_is_checked_and_named_by_its_field() {
    let mut good = summarize_a_page();
    good["input"] = json!([{"name": "url", "type": "string", "required": true, "example": "https://example.com"}]);
    let valid = validate(&definition(good)).unwrap();
    assert_eq!(valid.definition.input_fields()[0].name, "url");

    let mut bad = summarize_a_page();
    bad["input"] = json!([{"name": "url", "type": "url"}, {"name": "n", "type": "number", "example": "3"}]);
    let found = messages(bad);
    assert!(found.iter().any(|m| m.starts_with("input field `url`: type `url` is not one of")), "{found:?}");
    assert!(found.contains(&"input field `n`: the example is a string, not a number".to_string()), "{found:?}");
}

#[test]
fn waits_and_retries_are_bounded_so_no_run_holds_the_process_for_ever() {
    let errors = messages(json!({"name": "w", "nodes": [
        {"id": "nap", "type": "delay", "config": {"ms": 1_000_000_000_000_000u64}},
        {"id": "slow", "type": "template", "timeout_ms": 86_400_001, "config": {"template": "x"}},
        {"id": "again", "type": "template", "retry": {"max_attempts": 1_000_000}, "config": {"template": "x"}},
        {"id": "later", "type": "template", "retry": {"max_attempts": 3, "backoff_ms": 86_400_000}, "config": {"template": "x"}},
        {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "https://x", "timeout_ms": 86_400_001}}
    ]}));
    assert_eq!(
        errors,
        [
            "node `nap` (delay): config.ms must be at most 86400000 (a day), not 1000000000000000",
            "node `slow`: timeout_ms must be at most 86400000 (a day), not 86400001",
            "node `again`: retry.max_attempts must be at most 10, not 1000000",
            "node `later`: retry.backoff_ms must be at most 3600000 (an hour), not 86400000",
            "node `fetch` (http): config.timeout_ms must be at most 86400000 (a day), not 86400001",
        ]
    );
    assert!(validate(&definition(json!({"name": "w", "nodes": [
        {"id": "nap", "type": "delay", "config": {"ms": 86_400_000}},
        {"id": "again", "type": "template", "retry": {"max_attempts": 10, "backoff_ms": 3_600_000}, "config": {"template": "x"}}
    ]})))
    .is_ok());
}

#[test]
fn a_switch_names_its_cases_and_its_edges_leave_by_them() {
    let definition = |cases: serde_json::Value, edges: serde_json::Value| {
        json!({"name": "w", "nodes": [
            {"id": "s", "type": "switch", "config": {"cases": cases}},
            {"id": "a", "type": "delay", "config": {"ms": 1}}, {"id": "b", "type": "delay", "config": {"ms": 1}}
        ], "edges": edges})
    };
    let switch = |cases, edges| messages(definition(cases, edges));
    // Two edges to one node, by different cases, are fine.
    let good = definition(
        json!([{"name": "big", "expr": "input.n > 10"}, {"name": "small", "expr": "input.n > 0"}]),
        json!([{"from": "s", "to": "a", "branch": "big"}, {"from": "s", "to": "b", "branch": "small"},
               {"from": "s", "to": "b", "branch": "default"}]),
    );
    let good: WorkflowDefinition = serde_json::from_value(good).unwrap();
    assert!(validate(&good).is_ok(), "{:?}", validate(&good).err());
    let bad = switch(
        json!([{"name": "big", "expr": "input.n >"}, {"name": "big", "expr": "true"}, {"name": "default", "expr": "true"}]),
        json!([{"from": "s", "to": "a", "branch": "huge"}, {"from": "s", "to": "b"}]),
    );
    assert_eq!(
        bad,
        [
            "node `s` (switch): config.cases[0].expr: syntax error at line 1, column 9: unexpected end of input, expected expression",
            "node `s` (switch): config.cases[1].name `big` is used twice",
            "node `s` (switch): config.cases[2].name: `default` is the branch taken when no case holds",
            "edge s → a: branch must be one of \"big\", \"default\", not \"huge\"",
            "edge s → b leaves switch `s` and needs \"branch\": one of \"big\", \"default\"",
        ]
    );
    let none = switch(json!([]), json!([]));
    assert_eq!(none, ["node `s` (switch): config.cases must hold 1 to 20 cases, not 0"]);
}

#[test]
fn for_each_is_an_expression_with_a_bounded_concurrency_on_kinds_that_run_per_item() {
    let one = |node: serde_json::Value| json!({"name": "w", "nodes": [node]});
    let valid =
        validate(&definition(one(json!({"id": "each", "type": "template", "config": {"template": "{{ item }}"},
        "for_each": "input.rows"}))))
        .unwrap();
    assert_eq!(
        valid.nodes[0].policy.for_each,
        Some(ForEach { expr: "input.rows".into(), concurrency: DEFAULT_FOR_EACH_CONCURRENCY })
    );
    let cases = [
        (json!({"for_each": "input.rows |"}), "node `n`: for_each: syntax error at line 1"),
        (json!({"for_each": ["a"]}), "node `n`: for_each must be an expression giving a list, as text"),
        (
            json!({"for_each": "x", "concurrency": 0}),
            "node `n`: concurrency must be a whole number from 1 to 50, not 0",
        ),
        (
            json!({"for_each": "x", "concurrency": 51}),
            "node `n`: concurrency must be a whole number from 1 to 50, not 51",
        ),
        (json!({"for_each": "x", "concurrency": "4"}), "node `n`: concurrency must be a whole number from 1 to 50"),
        (json!({"concurrency": 4}), "node `n`: concurrency applies only with for_each"),
    ];
    for (fields, expected) in cases {
        let mut node = json!({"id": "n", "type": "template", "config": {"template": "x"}});
        node.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let found = messages(one(node));
        assert!(found.iter().any(|m| m.starts_with(expected)), "{expected}: {found:?}");
    }
    let on_branch = messages(one(json!({"id": "c", "type": "condition", "config": {"expr": "true"}, "for_each": "x"})));
    assert!(on_branch[0].contains("for_each is not available on condition nodes"), "{on_branch:?}");
    // Saving knows the fields (they are not "unknown").
    let saved = one(
        json!({"id": "n", "type": "code", "config": {"source": "return item;"}, "for_each": "x", "concurrency": 4}),
    );
    assert_eq!(validate_to_save(&definition(saved)).unwrap().nodes[0].policy.for_each.as_ref().unwrap().concurrency, 4);
}

#[test]
fn an_llm_answer_schema_is_an_object() {
    let errors = messages(json!({"name": "w", "nodes": [
        {"id": "extract", "type": "llm", "config": {"prompt": "Who?", "schema": "a person"}}
    ]}));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("node `extract` (llm): config.schema: must be a JSON Schema (an object"),
        "{errors:?}"
    );
    let fine = json!({"name": "w", "nodes": [
        {"id": "extract", "type": "llm", "config": {"prompt": "Who?", "schema": {"type": "object"}}}
    ]});
    assert!(validate(&definition(fine)).is_ok());
}

#[test]
fn llm_providers_and_fallbacks_are_checked_by_name() {
    let errors = messages(json!({"name": "w", "nodes": [
        {"id": "ask", "type": "llm", "config": {"prompt": "Hi", "provider": "my claude", "fallbacks": [
            {"provider": "ok"}, {"provider": "bad/name"}, {"model": "m"}, {"model": "n"}
        ]}}
    ]}));
    assert!(
        errors.iter().any(|e| e.starts_with("node `ask` (llm): config.provider: credential name `my claude`")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.starts_with("node `ask` (llm): config.fallbacks[1].provider:")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e == "node `ask` (llm): config.fallbacks lists 4 providers, at most 3"),
        "{errors:?}"
    );
    let errors = messages(json!({"name": "w", "nodes": [
        {"id": "ask", "type": "llm", "config": {"prompt": "Hi", "fallbacks": [{"provider": "x", "temperature": 1}]}}
    ]}));
    assert!(errors.iter().any(|e| e.contains("node `ask`") && e.contains("temperature")), "{errors:?}");
    let fine = json!({"name": "w", "nodes": [
        {"id": "ask", "type": "llm", "config": {"prompt": "Hi", "provider": "claude", "model": "claude-sonnet-4-5",
            "fallbacks": [{"provider": "ollama", "model": "llama3.2"}, {}]}}
    ]});
    assert!(validate(&definition(fine)).is_ok());
}
