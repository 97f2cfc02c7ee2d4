//! What an `agent` node's config may not be, beyond its shape: each message
//! names the field (`config.tools[1].name: …`).

use serde_json::Value;

use super::{check_answer_schema, ModelChoice};
use crate::model::check_credential_name;
use crate::model::node_config::{AgentConfig, MAX_AGENT_STEPS, MAX_AGENT_TOOLS, MAX_WAIT_MS};

/// Whether `name` can name a tool (what OpenAI's and Anthropic's APIs accept).
pub fn check_tool_name(name: &str) -> Result<(), String> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` must be 1 to 64 letters, digits, `_` or `-`"))
    }
}

/// What is wrong with an agent's config beyond its shape: each message names
/// the field (`config.tools[1].name: …`).
pub fn agent_problems(config: &AgentConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if config.prompt.trim().is_empty() {
        problems.push("config.prompt is empty: say what the agent should do".to_string());
    }
    if config.max_steps == 0 || config.max_steps > MAX_AGENT_STEPS {
        problems.push(format!("config.max_steps must be 1 to {MAX_AGENT_STEPS}, not {}", config.max_steps));
    }
    let choice = ModelChoice {
        provider: config.provider.as_deref(),
        model: &config.model,
        fallbacks: &config.fallbacks,
        temperature: config.temperature,
        max_tokens: config.max_tokens,
    };
    problems.extend(choice.problems());
    if config.tools.len() > MAX_AGENT_TOOLS {
        problems.push(format!("config.tools lists {} tools, at most {MAX_AGENT_TOOLS}", config.tools.len()));
    }
    let mut names = std::collections::HashSet::new();
    for (i, tool) in config.tools.iter().enumerate() {
        let at = format!("config.tools[{i}]");
        if let Err(message) = check_tool_name(&tool.name) {
            problems.push(format!("{at}.name: {message}"));
        } else if !names.insert(tool.name.as_str()) {
            problems.push(format!("{at}.name: `{}` is used by another tool", tool.name));
        }
        // OpenAI's limit for a function's description.
        if tool.description.chars().count() > 1024 {
            problems.push(format!("{at}.description is {} characters, at most 1024", tool.description.chars().count()));
        }
        if tool.input_schema.get("type").and_then(Value::as_str) != Some("object") {
            problems.push(format!(
                "{at}.input_schema must be a JSON Schema of an object ({{\"type\": \"object\", \"properties\": …}})"
            ));
        } else if let Err(message) = check_answer_schema(&tool.input_schema) {
            problems.push(format!("{at}.input_schema {message}"));
        }
        match (&tool.workflow, &tool.http) {
            (Some(_), Some(_)) => problems.push(format!("{at}: give either `workflow` or `http`, not both")),
            (None, None) => problems.push(format!(
                "{at}: say what the tool runs: `workflow` (the id of one of your workflows) or `http` (a request)"
            )),
            (Some(id), None) if *id <= 0 => {
                problems.push(format!("{at}.workflow must be the id of one of your workflows, not {id}"))
            }
            (None, Some(http)) => {
                if http.url.trim().is_empty() {
                    problems.push(format!("{at}.http.url is empty"));
                }
                if http.method.trim().is_empty() {
                    problems.push(format!("{at}.http.method is empty"));
                }
                if let Some(Err(message)) = http.credential.as_deref().map(check_credential_name) {
                    problems.push(format!("{at}.http.credential: {message}"));
                }
                match http.timeout_ms {
                    Some(0) => problems.push(format!("{at}.http.timeout_ms must be more than 0")),
                    Some(ms) if ms > MAX_WAIT_MS => {
                        problems.push(format!("{at}.http.timeout_ms must be at most {MAX_WAIT_MS} (a day), not {ms}"))
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if tool.version.is_some() && tool.workflow.is_none() {
            problems.push(format!("{at}.version pins a workflow's version: it needs `workflow`"));
        }
        if let Some(version) = tool.version.filter(|v| *v <= 0) {
            problems.push(format!("{at}.version must be 1 or more, not {version}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node_config::DEFAULT_AGENT_STEPS;
    use serde_json::json;

    fn config(tools: Value) -> AgentConfig {
        serde_json::from_value(json!({"prompt": "Plan a trip", "tools": tools})).unwrap()
    }

    #[test]
    fn a_plain_agent_has_ten_steps_and_no_problems() {
        let agent = config(json!([{"name": "weather", "workflow": 3,
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]));
        assert_eq!(agent.max_steps, DEFAULT_AGENT_STEPS);
        assert_eq!(agent_problems(&agent), Vec::<String>::new());
    }

    #[test]
    fn each_tool_problem_names_its_field() {
        let agent = config(json!([
            {"name": "bad name", "workflow": 1},
            {"name": "dup", "workflow": 1},
            {"name": "dup", "http": {"method": "GET", "url": ""}},
            {"name": "neither"},
            {"name": "schema", "workflow": 2, "input_schema": {"type": "string"}},
        ]));
        let problems = agent_problems(&agent);
        assert!(problems[0].starts_with("config.tools[0].name: `bad name`"), "{problems:?}");
        assert!(problems.iter().any(|p| p == "config.tools[2].name: `dup` is used by another tool"), "{problems:?}");
        assert!(problems.iter().any(|p| p == "config.tools[2].http.url is empty"), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("config.tools[3]: say what the tool runs")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("config.tools[4].input_schema must be")), "{problems:?}");
    }
}
