//! `template` and `condition` nodes, and the template rendering other nodes use.

use app::model::node_config::TemplateConfig;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use super::NodeScope;

fn environment(undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(undefined);
    env
}

/// Renders one template text with `input` and `nodes`. Errors name the field
/// and the line.
pub fn render(field: &str, source: &str, scope: &NodeScope) -> Result<String, String> {
    // Lenient: a missing optional value (`{{ input.query.q }}`) prints as empty,
    // while a typo in a path (`{{ nodes.fetc.body }}`) is still an error, since
    // reading an attribute of an undefined value fails.
    environment(UndefinedBehavior::Lenient).render_str(source, scope.context()).map_err(|e| match e.line() {
        Some(line) => {
            format!("{field}: template error at line {line}: {}", e.detail().unwrap_or(&e.kind().to_string()))
        }
        None => format!("{field}: template error: {e}"),
    })
}

pub fn render_node(config: &TemplateConfig, scope: &NodeScope) -> Result<Value, String> {
    let text = render("template", &config.template, scope)?;
    if config.json {
        serde_json::from_str(&text)
            .map_err(|e| format!("template: the rendered text is not JSON ({e}): {}", snippet(&text)))
    } else {
        Ok(serde_json::json!({ "text": text }))
    }
}

/// Evaluates a condition expression to true or false (minijinja truthiness).
pub fn evaluate_condition(expr: &str, scope: &NodeScope) -> Result<bool, String> {
    // Lenient: `nodes.fetch.error` is simply false when the node has no error.
    let env = environment(UndefinedBehavior::Lenient);
    let compiled = env.compile_expression(expr).map_err(|e| format!("expr: {e}"))?;
    compiled.eval(scope.context()).map(|v| v.is_true()).map_err(|e| format!("expr: {e}"))
}

fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(120).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> NodeScope {
        let mut nodes = serde_json::Map::new();
        nodes.insert("fetch".into(), json!({"status": 200, "body": {"title": "Hi"}}));
        NodeScope {
            node_id: "t".into(),
            idempotency_key: "weft-1-t".into(),
            input: json!({"url": "http://x"}),
            nodes,
            live_inputs: vec!["fetch".into()],
        }
    }

    #[test]
    fn templates_see_input_and_upstream_outputs() {
        let config = TemplateConfig { template: "{{ input.url }} {{ nodes.fetch.body.title }}".into(), json: false };
        assert_eq!(render_node(&config, &scope()).unwrap(), json!({"text": "http://x Hi"}));
    }

    #[test]
    fn a_json_template_yields_the_parsed_value() {
        let config =
            TemplateConfig { template: r#"{"ok": {{ (nodes.fetch.status == 200) | tojson }}}"#.into(), json: true };
        assert_eq!(render_node(&config, &scope()).unwrap(), json!({"ok": true}));
    }

    #[test]
    fn conditions_follow_truthiness() {
        assert!(evaluate_condition("nodes.fetch.status == 200", &scope()).unwrap());
        assert!(!evaluate_condition("nodes.fetch.status >= 400", &scope()).unwrap());
    }

    #[test]
    fn an_undefined_name_in_a_template_is_an_error() {
        let config = TemplateConfig { template: "{{ nodes.fetc.body }}".into(), json: false };
        assert!(render_node(&config, &scope()).is_err());
        assert!(!evaluate_condition("nodes.fetch.error", &scope()).unwrap());
    }

    #[test]
    fn rendering_errors_name_the_field_and_line() {
        let config = TemplateConfig { template: "ok\n{{ 1 + \"a\" }}".into(), json: false };
        let error = render_node(&config, &scope()).unwrap_err();
        assert!(error.starts_with("template: template error at line 2"), "{error}");
    }
}
