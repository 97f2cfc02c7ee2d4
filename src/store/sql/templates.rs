//! Marketplace templates, by slug.

use app::error::AppResult;
use app::model::*;
use app::ports::store::TemplateStore;
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::QueryBuilder;

use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::{db_error, not_found};
use crate::store::rows::TemplateRow;
use crate::store::{check_search, like_pattern};

#[async_trait]
impl TemplateStore for Backend {
    async fn upsert_template(
        &self,
        slug: &str,
        description: &str,
        definition: &WorkflowDefinition,
        author: Option<UserId>,
    ) -> AppResult<MarketplaceTemplate> {
        let row: TemplateRow = sqlx::query_as(
            "INSERT INTO templates (slug, name, description, definition, author_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (slug) DO UPDATE SET name = excluded.name, description = excluded.description,
                 definition = excluded.definition, author_id = excluded.author_id
             RETURNING id, slug, name, description, definition, author_id, created_at",
        )
        .bind(slug)
        .bind(&definition.name)
        .bind(description)
        .bind(Json(definition))
        .bind(author)
        .bind(now_ms())
        .fetch_one(self.writer())
        .await
        .map_err(db_error)?;
        Ok(row.into())
    }

    async fn list_templates(&self, search: Option<&str>) -> AppResult<Vec<MarketplaceTemplate>> {
        // The marketplace holds tens of templates, not millions: a scan is fine.
        let mut query = QueryBuilder::<Db>::new(
            "SELECT id, slug, name, description, definition, author_id, created_at FROM templates WHERE 1 = 1",
        );
        if let Some(search) = search.filter(|s| !s.is_empty()) {
            check_search(search)?;
            let pattern = like_pattern(search);
            query
                .push(" AND (lower(name) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(description) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        query.push(" ORDER BY name, id");
        let rows: Vec<TemplateRow> = query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn template(&self, slug: &str) -> AppResult<MarketplaceTemplate> {
        let row: TemplateRow = sqlx::query_as(
            "SELECT id, slug, name, description, definition, author_id, created_at FROM templates WHERE slug = $1",
        )
        .bind(slug)
        .fetch_one(self.reader())
        .await
        .map_err(not_found("template"))?;
        Ok(row.into())
    }
}
