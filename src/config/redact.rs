//! Secrets never print: a setting that holds one is a [`Secret`], whose
//! `Debug` shows that it is set, never its value, so no log line or panic
//! message can carry it; the database URL's `Debug` hides its password.

/// A secret setting (an API key, the sealing key). Read it with
/// [`Secret::expose`], where it is used, never to print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<set>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(text))
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

/// `scheme://user:***@host/…`: a database URL with its password hidden.
pub fn url_without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_everything_but_its_password() {
        assert_eq!(
            url_without_password("postgres://weft:s3cret@db:5432/weft?x=1"),
            "postgres://weft:***@db:5432/weft?x=1"
        );
        assert_eq!(url_without_password("postgres://weft@db/weft"), "postgres://weft@db/weft");
        assert_eq!(url_without_password("sqlite://data/weft.db"), "sqlite://data/weft.db");
        assert_eq!(
            url_without_password("postgres://db/a@b"),
            "postgres://db/a@b",
            "an @ after the host is not a login"
        );
    }

    #[test]
    fn no_settings_struct_prints_a_secret() {
        let canary = "canary-7f3a9c";
        let database = crate::config::DatabaseSettings::with_url(format!("postgres://weft:{canary}@db/weft"));
        let llm = crate::engine::nodes::llm::LlmSettings { api_key: Some(canary.into()), ..Default::default() };
        let key = crate::config::SecretKeySource {
            key_hex: Some(canary.into()),
            file: "k".into(),
            previous_hex: Some(canary.into()),
        };
        let args = <crate::config::EngineArgs as clap::FromArgMatches>::from_arg_matches(
            &<crate::config::EngineArgs as clap::Args>::augment_args(clap::Command::new("t")).get_matches_from([
                "t",
                "--llm-api-key",
                canary,
                "--secret-key",
                canary,
                "--secret-key-previous",
                canary,
            ]),
        )
        .unwrap();
        let edge = crate::config::EdgeSettings { metrics_token: Some(canary.into()), ..Default::default() };
        let printed =
            [format!("{database:?}"), format!("{llm:?}"), format!("{key:?}"), format!("{args:?}"), format!("{edge:?}")];
        for printed in printed {
            assert!(!printed.contains(canary), "{printed}");
            assert!(printed.contains("<set>") || printed.contains("***"), "{printed}");
        }
    }
}
