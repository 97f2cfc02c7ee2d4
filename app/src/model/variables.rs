//! Variables: non-secret values workflows read as `vars.NAME` in templates
//! (base URLs, channel names, thresholds), so they live outside definitions.
//! A user's own variable wins over an instance-wide one of the same name.

use serde::{Deserialize, Serialize};

use super::node_config::NodeConfig;
use super::validation::ValidatedNode;

/// The most variables one user (or the instance) may hold.
pub const MAX_VARIABLES: i64 = 200;
/// The longest value.
pub const MAX_VARIABLE_VALUE_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Variable {
    pub name: String,
    pub value: String,
    /// Instance-wide (set by an admin); a user's own of the same name is used instead.
    pub shared: bool,
    pub updated_at: i64,
}

/// A variable's name is what templates write after `vars.`: an identifier.
pub fn check_variable(name: &str, value: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > 64 {
        return Err(format!(
            "variable name `{name}` must be 1 to 64 letters, digits and `_`, not starting with a digit (templates read it as vars.{name})"
        ));
    }
    if value.len() > MAX_VARIABLE_VALUE_BYTES {
        return Err(format!("variable `{name}` is longer than {MAX_VARIABLE_VALUE_BYTES} bytes"));
    }
    if value.contains('\0') {
        return Err(format!("variable `{name}` contains a NUL character"));
    }
    Ok(())
}

/// Whether any template or expression of these nodes may read `vars`: runs of
/// workflows that do not skip reading the owner's variables.
pub fn reads_variables(nodes: &[ValidatedNode]) -> bool {
    nodes.iter().any(|node| {
        let expression = match &node.config {
            NodeConfig::Condition(c) => Some(c.expr.as_str()),
            _ => None,
        };
        node.config.templates().iter().map(|(_, source)| *source).chain(expression).any(|s| s.contains("vars"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers_and_values_are_bounded() {
        assert!(check_variable("base_url", "https://api.example").is_ok());
        assert!(check_variable("_x1", "").is_ok());
        assert!(check_variable("1st", "x").unwrap_err().contains("vars.1st"));
        assert!(check_variable("a-b", "x").is_err());
        assert!(check_variable("", "x").is_err());
        assert!(check_variable("big", &"x".repeat(MAX_VARIABLE_VALUE_BYTES + 1)).unwrap_err().contains("longer"));
    }

    #[test]
    fn only_workflows_whose_templates_mention_vars_read_them() {
        let workflow = |template: &str| {
            let definition: super::super::WorkflowDefinition = serde_json::from_value(serde_json::json!({
                "name": "w", "nodes": [{"id": "t", "type": "template", "config": {"template": template}}]
            }))
            .unwrap();
            super::super::validate(&definition).unwrap()
        };
        assert!(reads_variables(&workflow("{{ vars.base_url }}/x").nodes));
        assert!(!reads_variables(&workflow("{{ input.x }}").nodes));
    }
}
