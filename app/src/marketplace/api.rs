//! Server functions of the marketplace.

use leptos::prelude::*;

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{normalized_search, Scope, UserId};
use crate::model::{MarketplaceTemplate, WorkflowId, WorkflowSummary};
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// The slug of a template a user publishes: theirs alone (`u<id>-…`), so it can
/// never replace a built-in template or someone else's.
#[cfg(feature = "ssr")]
fn user_slug(user: UserId, name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(60).collect();
    format!("u{user}-{}", if slug.is_empty() { "workflow" } else { slug.trim_end_matches('-') })
}

#[server(endpoint = "marketplace/list")]
pub async fn list_templates(search: Option<String>) -> Result<Vec<MarketplaceTemplate>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.viewer().await?;
            ctx.store.list_templates(normalized_search(search.as_deref())).await
        }
        .await,
    )
}

#[server(endpoint = "marketplace/install")]
pub async fn install_template(slug: String) -> Result<WorkflowSummary, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let owner = ctx.viewer().await?;
            ctx.workflows.install_template(owner.id, &slug).await
        }
        .await,
    )
}

/// Publishes the current version of one of the viewer's workflows as a
/// template (without its triggers); publishing it again updates the template.
/// Refused while an `http` node holds a literal secret header.
#[server(endpoint = "marketplace/publish")]
pub async fn publish_template(workflow_id: WorkflowId, description: String) -> Result<MarketplaceTemplate, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let author = ctx.viewer().await?;
            let description = description.trim();
            if description.is_empty() || description.chars().count() > 1000 {
                return Err(AppError::BadRequest("a template needs a description of 1 to 1,000 characters".into()));
            }
            let workflow = ctx.store.workflow(Scope::Owner(author.id), workflow_id).await?;
            let mut definition = workflow.definition;
            definition.triggers.clear();
            // Pinned outputs are the author's data (answers of their services): never published.
            definition.nodes.iter_mut().for_each(|node| node.pinned = None);
            // A template is read by everyone: a secret written into a header would be published with it.
            if let Some((node, header)) = crate::model::literal_secret_headers(&definition).into_iter().next() {
                return Err(AppError::BadRequest(format!(
                    "node `{node}` (http) has a literal `{header}` header, which would publish a secret: \
                     store the value as a credential, set config.credential on the node, and publish again"
                )));
            }
            // Whoever installs it saves it: fields Weft does not know would be refused then.
            crate::model::validate_to_save(&definition).map_err(AppError::Invalid)?;
            let slug = user_slug(author.id, &definition.name);
            ctx.store.upsert_template(&slug, description, &definition, Some(author.id)).await
        }
        .await,
    )
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn published_slugs_belong_to_their_author() {
        assert_eq!(super::user_slug(7, "Summarize a URL!"), "u7-summarize-a-url");
        assert_eq!(super::user_slug(7, "<img src=x>"), "u7-img-src-x");
        assert_eq!(super::user_slug(7, "日本語"), "u7-workflow");
    }
}
