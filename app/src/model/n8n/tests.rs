//! A hand-written n8n export in n8n's documented shape (nodes with `type`,
//! `typeVersion`, `parameters`, `position`; `connections` by node name and
//! output), holding every node kind the importer maps, an IF and a Switch
//! with several outputs, a disabled node, a sticky note and a node Weft has
//! no equivalent for.

use serde_json::{json, Value};

use super::*;
use crate::model::validate_to_save;

fn export() -> Value {
    let node = |name: &str, kind: &str, parameters: Value| {
        json!({"id": format!("uuid-{name}"), "name": name, "type": kind, "typeVersion": 1,
               "position": [100, 200], "parameters": parameters})
    };
    let mut disabled = node("Log it", "n8n-nodes-base.noOp", json!({}));
    disabled["disabled"] = json!(true);
    json!({
        "name": "Triage tickets",
        "nodes": [
            node("Webhook", "n8n-nodes-base.webhook", json!({"path": "tickets/new", "httpMethod": "POST"})),
            node("Every 15 minutes", "n8n-nodes-base.scheduleTrigger",
                 json!({"rule": {"interval": [{"field": "minutes", "minutesInterval": 15}]}})),
            node("When clicking 'Test workflow'", "n8n-nodes-base.manualTrigger", json!({})),
            node("Edit Fields", "n8n-nodes-base.set", json!({"assignments": {"assignments": [
                {"id": "a", "name": "title", "value": "={{ $json.body.title }}", "type": "string"},
                {"id": "b", "name": "source", "value": "web", "type": "string"}]}})),
            node("Fetch user", "n8n-nodes-base.httpRequest", json!({"method": "GET",
                "url": "=https://api.example.com/users/{{ $json.title }}", "sendHeaders": true,
                "headerParameters": {"parameters": [{"name": "Accept", "value": "application/json"}]}})),
            node("Is VIP", "n8n-nodes-base.if", json!({"conditions": {"combinator": "and", "conditions": [
                {"leftValue": "={{ $json.tier }}", "rightValue": "vip", "operator": {"type": "string", "operation": "equals"}}]}})),
            node("Route", "n8n-nodes-base.switch", json!({"rules": {"values": [
                {"conditions": {"conditions": [{"leftValue": "={{ $('Fetch user').item.json.country }}", "rightValue": "FR",
                    "operator": {"type": "string", "operation": "equals"}}]}, "outputKey": "france"},
                {"conditions": {"conditions": [{"leftValue": "={{ $('Fetch user').item.json.country }}", "rightValue": "DE",
                    "operator": {"type": "string", "operation": "equals"}}]}}]}})),
            node("Summarize", "@n8n/n8n-nodes-langchain.openAi", json!({"modelId": {"value": "gpt-4o-mini"},
                "messages": {"values": [{"content": "=Summarize {{ $('Edit Fields').item.json.title }}"}]}})),
            node("Score", "n8n-nodes-base.code", json!({"jsCode": "return [{json: {score: 1}}];"})),
            node("Pause", "n8n-nodes-base.wait", json!({"resume": "timeInterval", "amount": 2, "unit": "minutes"})),
            node("Approval", "n8n-nodes-base.wait", json!({"resume": "webhook"})),
            node("Escalate", "n8n-nodes-base.executeWorkflow", json!({"workflowId": {"value": "42"}})),
            node("Join", "n8n-nodes-base.merge", json!({})),
            node("Tweet", "n8n-nodes-base.twitter", json!({"text": "hi"})),
            disabled,
            node("Note", "n8n-nodes-base.stickyNote", json!({"content": "remember"})),
        ],
        "connections": {
            "Webhook": {"main": [[{"node": "Edit Fields", "type": "main", "index": 0}]]},
            "Every 15 minutes": {"main": [[{"node": "Edit Fields", "type": "main", "index": 0}]]},
            "Edit Fields": {"main": [[{"node": "Fetch user", "type": "main", "index": 0}]]},
            "Fetch user": {"main": [[{"node": "Is VIP", "type": "main", "index": 0}]]},
            "Is VIP": {"main": [
                [{"node": "Summarize", "type": "main", "index": 0}],
                [{"node": "Route", "type": "main", "index": 0}]]},
            "Route": {"main": [
                [{"node": "Score", "type": "main", "index": 0}],
                [{"node": "Pause", "type": "main", "index": 0}],
                [{"node": "Escalate", "type": "main", "index": 0}]]},
            "Summarize": {"main": [[{"node": "Join", "type": "main", "index": 0}]]},
            "Score": {"main": [[{"node": "Join", "type": "main", "index": 1}]]},
            "Pause": {"main": [[{"node": "Approval", "type": "main", "index": 0}]]},
            "Join": {"main": [[{"node": "Tweet", "type": "main", "index": 0}]]},
            "Tweet": {"main": [[{"node": "Log it", "type": "main", "index": 0}]]}
        },
        "settings": {"executionOrder": "v1"}
    })
}

fn node<'a>(definition: &'a WorkflowDefinition, id: &str) -> &'a NodeDefinition {
    definition.nodes.iter().find(|n| n.id == id).unwrap_or_else(|| panic!("no node {id}: {:?}", definition.nodes))
}

#[test]
fn an_export_becomes_a_valid_workflow_with_every_kind_mapped() {
    let export = export();
    assert!(is_n8n_export(&export));
    let N8nImport { definition, notes } = convert(&export).unwrap();
    assert_eq!(definition.name, "Triage tickets");
    if let Err(errors) = validate_to_save(&definition) {
        panic!("{errors:?}\n{}", definition.to_json_pretty());
    }
    let kinds: Vec<(&str, &str)> = definition.nodes.iter().map(|n| (n.id.as_str(), n.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("edit_fields", "template"),
            ("fetch_user", "http"),
            ("is_vip", "condition"),
            ("route", "switch"),
            ("summarize", "llm"),
            ("score", "code"),
            ("pause", "delay"),
            ("approval", "wait"),
            ("escalate", "code"),
            ("join", "merge"),
            ("tweet", "code"),
            ("log_it", "template"),
        ]
    );
    assert_eq!(
        definition.triggers,
        [
            json!({"type": "webhook", "path": "tickets/new", "method": "POST"}),
            json!({"type": "cron", "schedule": "*/15 * * * *"})
        ]
    );
    // Expressions: the webhook body is the input; an HTTP node's output is its body.
    assert_eq!(
        node(&definition, "edit_fields").config["template"],
        r#"{"source": {{ ("web") | tojson }}, "title": {{ ((input.title)) | tojson }}}"#
    );
    assert_eq!(
        node(&definition, "fetch_user").config["url"],
        "https://api.example.com/users/{{ nodes.edit_fields.title }}"
    );
    assert_eq!(node(&definition, "fetch_user").config["headers"], json!({"Accept": "application/json"}));
    assert_eq!(node(&definition, "is_vip").config["expr"], r#"nodes.fetch_user.body.tier == "vip""#);
    assert_eq!(
        node(&definition, "route").config["cases"][0],
        json!({"name": "france", "expr": r#"nodes.fetch_user.body.country == "FR""#})
    );
    assert_eq!(node(&definition, "route").config["cases"][1]["name"], "case_2");
    assert_eq!(
        node(&definition, "summarize").config,
        json!({"model": "gpt-4o-mini", "prompt": "Summarize {{ nodes.edit_fields.title }}"})
    );
    assert_eq!(node(&definition, "pause").config, json!({"ms": 120_000}));
    // Edges: the IF's outputs are its branches, the Switch's its cases, then `default`.
    let edge =
        |from: &str, to: &str| definition.edges.iter().find(|e| e.from == from && e.to == to).map(|e| e.branch.clone());
    assert_eq!(edge("is_vip", "summarize"), Some(Some("true".into())));
    assert_eq!(edge("is_vip", "route"), Some(Some("false".into())));
    assert_eq!(edge("route", "score"), Some(Some("france".into())));
    assert_eq!(edge("route", "pause"), Some(Some("case_2".into())));
    assert_eq!(edge("route", "escalate"), Some(Some("default".into())));
    assert_eq!(edge("score", "join"), Some(None));
    // Nothing dropped in silence: each node that did not carry over is in the report.
    let said = |node: &str, words: &str| notes.iter().any(|n| n.node == node && n.reason.contains(words));
    assert!(said("Tweet", "`twitter` node has no Weft equivalent"), "{notes:?}");
    assert!(said("Escalate", "choose the Weft workflow to run"), "{notes:?}");
    assert!(said("Log it", "was disabled in n8n"), "{notes:?}");
    assert!(said("Note", "sticky note"), "{notes:?}");
    assert!(said("When clicking 'Test workflow'", "Run button"), "{notes:?}");
    assert!(said("Score", "Code is copied as written"), "{notes:?}");
    let tweet = node(&definition, "tweet").config["source"].as_str().unwrap();
    assert!(tweet.starts_with("throw new Error(") && tweet.contains("Replace this node"), "{tweet}");
}

#[test]
fn a_weft_definition_is_not_taken_for_an_export() {
    let weft = json!({"name": "w", "nodes": [{"id": "a", "type": "http", "config": {}}], "edges": []});
    assert!(!is_n8n_export(&weft));
    assert!(convert(&weft).unwrap_err().contains("not an n8n workflow export"));
}

#[test]
fn pinned_data_comes_over_as_the_nodes_pinned_output() {
    let mut export = export();
    export["pinData"] = json!({
        "Fetch user": [{"json": {"id": 7, "subject": "Refund"}}],
        "Edit Fields": [{"json": {"a": 1}}, {"json": {"a": 2}}],
        "Nobody": [{"json": {}}]
    });
    let import = convert(&export).unwrap();
    let fetch = import.definition.nodes.iter().find(|n| n.pinned.as_ref().is_some_and(|p| p.get("body").is_some()));
    assert_eq!(
        fetch.unwrap().pinned,
        Some(json!({"status": 200, "headers": {}, "body": {"id": 7, "subject": "Refund"}}))
    );
    assert!(import.notes.iter().any(|n| n.node == "Edit Fields" && n.reason.contains("2 items")), "{:?}", import.notes);
    validate_to_save(&import.definition).expect("an import with pins saves");
}
