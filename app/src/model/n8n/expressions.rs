//! n8n expressions (`={{ $json.name }}`, `{{ $('Fetch').item.json.id }}`,
//! `$input.first().json.x`) in Weft's template language, where the meaning
//! is the same: what the node before gave is `nodes.<id>` (its `body` for an
//! HTTP request, whose n8n output is the body), and a workflow's first nodes
//! read `input`. Anything else is kept as written and said in the report.

use std::collections::HashMap;

/// What n8n's data references become in Weft.
pub struct Scope<'a> {
    /// The Weft path of what `$json` means for the node being translated:
    /// its single upstream node's output, or `input`.
    pub current: String,
    /// Each n8n node name's Weft path (`nodes.fetch.body`).
    pub by_name: &'a HashMap<String, String>,
}

/// A value as n8n stores a parameter: an expression when it starts with `=`.
/// Returns the Weft template text and what could not be translated.
pub fn template(value: &str, scope: &Scope) -> (String, Vec<String>) {
    match value.strip_prefix('=') {
        Some(expression) => translate_text(expression, scope),
        None => (value.to_string(), Vec::new()),
    }
}

/// An expression's inside (`$json.ok && $json.count > 1`) as a Weft
/// expression, for conditions; with what could not be translated.
pub fn expression(value: &str, scope: &Scope) -> (String, Vec<String>) {
    let text = value.strip_prefix('=').unwrap_or(value).trim();
    let inner = text.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")).map(str::trim);
    match inner {
        Some(inner) => translate_code(inner, scope),
        // A literal: quoted as a string unless it is a number or a boolean.
        None if text.parse::<f64>().is_ok() || text == "true" || text == "false" => (text.to_string(), Vec::new()),
        None => (serde_json::to_string(text).unwrap_or_default(), Vec::new()),
    }
}

/// A parameter's value as one Weft expression: an n8n expression's text and
/// `{{ … }}` parts joined with `~` (`"Hello " ~ (input.who)`), a plain value
/// as a literal.
pub fn value_expression(value: &str, scope: &Scope) -> (String, Vec<String>) {
    let Some(text) = value.strip_prefix('=') else {
        return (serde_json::to_string(value).unwrap_or_default(), Vec::new());
    };
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else { break };
        if start > 0 {
            parts.push(serde_json::to_string(&rest[..start]).unwrap_or_default());
        }
        let (code, mut problems) = translate_code(rest[start + 2..start + end].trim(), scope);
        notes.append(&mut problems);
        parts.push(format!("({code})"));
        rest = &rest[start + end + 2..];
    }
    if !rest.is_empty() {
        parts.push(serde_json::to_string(rest).unwrap_or_default());
    }
    match parts.len() {
        0 => ("\"\"".to_string(), notes),
        _ => (parts.join(" ~ "), notes),
    }
}

/// Text with `{{ … }}` parts, each translated.
fn translate_text(text: &str, scope: &Scope) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut notes = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return (out, notes);
        };
        let inner = rest[start + 2..start + end].trim();
        let (code, mut problems) = translate_code(inner, scope);
        notes.append(&mut problems);
        out.push_str(&format!("{{{{ {code} }}}}"));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    (out, notes)
}

/// One expression's code: n8n's references replaced, operators made
/// minijinja's. Code with calls Weft has no equivalent for is kept as
/// written, and reported.
fn translate_code(code: &str, scope: &Scope) -> (String, Vec<String>) {
    let mut text = code.to_string();
    // `$('Name')…json` and `$node["Name"].json`: that node's output.
    for (name, path) in scope.by_name {
        for quoted in [format!("'{name}'"), format!("\"{name}\"")] {
            for accessor in [".item.json", ".first().json", ".last().json", ".json"] {
                text = text.replace(&format!("$({quoted}){accessor}"), path);
            }
            text = text.replace(&format!("$node[{quoted}].json"), path);
        }
    }
    for input in ["$input.first().json", "$input.last().json", "$input.item.json", "$json"] {
        text = text.replace(input, &scope.current);
    }
    // A webhook's body is the run's input in Weft (n8n wraps it with headers and query).
    text = text.replace("input.body.", "input.").replace("input.body", "input");
    text = text.replace("===", "==").replace("!==", "!=").replace("&&", " and ").replace("||", " or ");
    let text = collapse_spaces(&text);
    let untranslated = ["$", "=>", ".map(", ".filter(", ".length", "new "];
    match untranslated.iter().find(|marker| text.contains(**marker)) {
        Some(marker) => {
            (text.clone(), vec![format!("`{{{{ {code} }}}}` was kept as written (`{marker}` has no Weft equivalent)")])
        }
        None => (text, Vec::new()),
    }
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(by_name: &HashMap<String, String>) -> Scope<'_> {
        Scope { current: "nodes.fetch.body".into(), by_name }
    }

    #[test]
    fn references_become_weft_paths() {
        let names = HashMap::from([("Get user".to_string(), "nodes.get_user.body".to_string())]);
        let scope = scope(&names);
        assert_eq!(template("=Hello {{ $json.name }}!", &scope).0, "Hello {{ nodes.fetch.body.name }}!");
        assert_eq!(template("={{ $('Get user').item.json.id }}", &scope).0, "{{ nodes.get_user.body.id }}");
        assert_eq!(template("={{ $node[\"Get user\"].json.id }}", &scope).0, "{{ nodes.get_user.body.id }}");
        assert_eq!(template("={{ $input.first().json.x }}", &scope).0, "{{ nodes.fetch.body.x }}");
        assert_eq!(template("plain text", &scope), ("plain text".to_string(), vec![]));
        assert_eq!(
            expression("={{ $json.ok === true && $json.n > 1 }}", &scope).0,
            "nodes.fetch.body.ok == true and nodes.fetch.body.n > 1"
        );
        assert_eq!(expression("urgent", &scope).0, "\"urgent\"");
        assert_eq!(expression("3", &scope).0, "3");
    }

    #[test]
    fn what_has_no_equivalent_is_kept_and_reported() {
        let names = HashMap::new();
        let (text, notes) = template("={{ $now.toISO() }}", &scope(&names));
        assert_eq!(text, "{{ $now.toISO() }}");
        assert!(notes[0].contains("kept as written"), "{notes:?}");
        let (_, notes) = template("={{ $json.items.map(i => i.id) }}", &scope(&names));
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn a_value_is_one_expression() {
        let names = HashMap::new();
        let scope = Scope { current: "input".into(), by_name: &names };
        assert_eq!(value_expression("=Hello {{ $json.who }}!", &scope).0, r#""Hello " ~ (input.who) ~ "!""#);
        assert_eq!(value_expression("={{ $json.n > 1 }}", &scope).0, "(input.n > 1)");
        assert_eq!(value_expression("web", &scope).0, r#""web""#);
    }

    #[test]
    fn a_webhook_body_is_the_input() {
        let names = HashMap::new();
        let scope = Scope { current: "input".into(), by_name: &names };
        assert_eq!(template("={{ $json.body.email }}", &scope).0, "{{ input.email }}");
    }
}
