//! The LLM provider's settings as the browser and the server share them (the
//! settings page edits them; the engine's port reads and saves them).

use serde::{Deserialize, Serialize};

/// The LLM provider's settings as the browser sees them: the API key itself is
/// never sent, only whether one is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmProvider {
    pub base_url: String,
    pub default_model: String,
    pub cache_ttl_secs: u64,
    pub cache_capacity: u64,
    pub max_concurrency: u32,
    pub has_api_key: bool,
}

impl LlmProvider {
    /// What is wrong with these settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        let url = self.base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() < 10
            || url.contains(char::is_whitespace)
        {
            return Err(format!("the base URL must be an http(s) URL, not `{url}`"));
        }
        if self.default_model.trim().is_empty() {
            return Err("a default model is needed".into());
        }
        if self.cache_capacity > 10_000_000 {
            return Err("the cache holds at most 10,000,000 answers".into());
        }
        if self.cache_ttl_secs > 365 * 24 * 3600 {
            return Err("answers are cached for at most a year".into());
        }
        if !(1..=1024).contains(&self.max_concurrency) {
            return Err("concurrent LLM requests must be 1 to 1,024".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> LlmProvider {
        LlmProvider {
            base_url: "https://api.openai.com/v1".into(),
            default_model: "gpt-4o-mini".into(),
            cache_ttl_secs: 3600,
            cache_capacity: 1000,
            max_concurrency: 8,
            has_api_key: false,
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(provider().check().is_ok());
        assert!(LlmProvider { base_url: "ftp://x.example".into(), ..provider() }.check().is_err());
        assert!(LlmProvider { base_url: "http://local host/v1".into(), ..provider() }.check().is_err());
        assert!(LlmProvider { max_concurrency: 0, ..provider() }.check().is_err());
        assert!(LlmProvider { default_model: " ".into(), ..provider() }.check().is_err());
    }
}
