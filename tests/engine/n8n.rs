//! An n8n export, converted, runs on both backends: Edit Fields reading the
//! input, an IF taking its true branch, a Set reading an earlier node by name.

use super::*;

on_both_backends!(an_imported_n8n_workflow_runs);

async fn an_imported_n8n_workflow_runs(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let node = |name: &str, kind: &str, parameters: Value| json!({"id": name, "name": name, "type": kind, "typeVersion": 1, "position": [0, 0], "parameters": parameters});
    let export = json!({
        "name": "From n8n",
        "nodes": [
            node("Start", "n8n-nodes-base.manualTrigger", json!({})),
            node("Edit Fields", "n8n-nodes-base.set", json!({"assignments": {"assignments": [
                {"name": "greeting", "value": "=Hello {{ $json.who }}", "type": "string"},
                {"name": "vip", "value": "={{ $json.tier === \"gold\" }}", "type": "boolean"}]}})),
            node("Is VIP", "n8n-nodes-base.if", json!({"conditions": {"conditions": [
                {"leftValue": "={{ $json.vip }}", "rightValue": "", "operator": {"type": "boolean", "operation": "true"}}]}})),
            node("Welcome", "n8n-nodes-base.set", json!({"assignments": {"assignments": [
                {"name": "message", "value": "={{ $('Edit Fields').item.json.greeting }}, gold member", "type": "string"}]}})),
            node("Other", "n8n-nodes-base.noOp", json!({})),
        ],
        "connections": {
            "Start": {"main": [[{"node": "Edit Fields", "type": "main", "index": 0}]]},
            "Edit Fields": {"main": [[{"node": "Is VIP", "type": "main", "index": 0}]]},
            "Is VIP": {"main": [[{"node": "Welcome", "type": "main", "index": 0}], [{"node": "Other", "type": "main", "index": 0}]]}
        }
    });
    let imported = app::model::n8n::convert(&export).unwrap();
    let report =
        h.run(serde_json::to_value(&imported.definition).unwrap(), json!({"who": "Ada", "tier": "gold"})).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    assert_eq!(node_output(&report, "welcome"), json!({"message": "Hello Ada, gold member"}));
    assert_eq!(node_output(&report, "edit_fields"), json!({"greeting": "Hello Ada", "vip": true}));
    assert_eq!(report.nodes["other"].status, NodeStatus::Skipped);
}

fn node_output(report: &ExecutionReport, id: &str) -> Value {
    node(report, id).output.clone().unwrap_or_else(|| panic!("{id}: {:?}", node(report, id).error))
}
