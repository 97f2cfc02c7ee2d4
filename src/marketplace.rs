//! The marketplace's built-in templates: JSON files in `src/templates/`,
//! compiled into the binary and written to the store when the server starts
//! (an upsert by slug, so a new release updates them).

use app::model::{validate_to_save, WorkflowDefinition};
use app::ports::Store;
use serde::Deserialize;

const BUILT_IN: &[&str] = &[
    include_str!("templates/daily-digest.json"),
    include_str!("templates/draft-review-revise.json"),
    include_str!("templates/extract-structured-json.json"),
    include_str!("templates/http-health-check.json"),
    include_str!("templates/parallel-research.json"),
    include_str!("templates/rewrite-text-api.json"),
    include_str!("templates/summarize-url.json"),
    include_str!("templates/support-triage.json"),
    include_str!("templates/translate-parallel.json"),
    include_str!("templates/webhook-llm-callback.json"),
];

#[derive(Deserialize)]
pub struct BuiltInTemplate {
    pub slug: String,
    pub description: String,
    pub definition: WorkflowDefinition,
}

/// Every built-in template, parsed and validated (a broken file is a bug, caught by the tests).
pub fn built_in_templates() -> anyhow::Result<Vec<BuiltInTemplate>> {
    BUILT_IN
        .iter()
        .map(|text| {
            let template: BuiltInTemplate = serde_json::from_str(text)?;
            validate_to_save(&template.definition).map_err(|errors| {
                let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                anyhow::anyhow!("built-in template {}: {}", template.slug, messages.join("; "))
            })?;
            Ok(template)
        })
        .collect()
}

pub async fn install_built_ins(store: &dyn Store) -> anyhow::Result<usize> {
    let templates = built_in_templates()?;
    for template in &templates {
        store.upsert_template(&template.slug, &template.description, &template.definition, None).await?;
    }
    Ok(templates.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_built_in_template_is_valid_and_has_its_own_slug_and_webhook_paths() {
        let templates = super::built_in_templates().expect("valid templates");
        assert!(templates.len() >= 8, "the marketplace promises at least eight");
        let mut slugs: Vec<&str> = templates.iter().map(|t| t.slug.as_str()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), templates.len(), "slugs are unique");
        let mut paths: Vec<String> = templates
            .iter()
            .flat_map(|t| t.definition.triggers.iter())
            .filter_map(|t| t.get("path").and_then(|p| p.as_str()).map(str::to_owned))
            .collect();
        let count = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), count, "webhook paths are unique");
        assert!(templates
            .iter()
            .all(|t| !t.description.trim().is_empty() && t.definition.nodes.iter().all(|n| n.position.is_some())));
    }
}
