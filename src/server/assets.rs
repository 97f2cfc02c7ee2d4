//! The browser bundle (the WASM chunks, their JavaScript and the stylesheet)
//! under an address that names its content: `/assets/<build>/pkg/…`, where
//! `<build>` is a hash of every file of the bundle. Such an address never
//! serves other bytes, so browsers may keep it for a year without asking
//! again (`immutable`); a new build has a new address. Pages and API answers,
//! which change, are never stored; other files are checked with the server
//! on each use.
//!
//! The hash is taken when the server starts rather than by cargo-leptos's
//! `hash-files`, which renames each file and needs a `hash.txt` beside the
//! binary: one prefix for the whole bundle keeps every name the WASM loader and
//! the lazy routes' manifest use unchanged, with nothing to copy at deploy.

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// A year: what browsers may keep a content-addressed file.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Pages and API answers: never stored.
pub const NO_STORE: &str = "no-store";
/// Other files (the favicon, the unhashed `/pkg` paths): kept, but checked first.
pub const REVALIDATE: &str = "no-cache";

/// The bundle of one build, as the server found it at start.
#[derive(Debug, Clone)]
pub struct BuildAssets {
    /// `/assets/<build>`: what page shells put before `/pkg/…`.
    pub root: String,
    pkg_dir: PathBuf,
}

impl BuildAssets {
    /// Hashes the files under `site_root/pkg_dir` (names and bytes, in name order).
    pub fn load(site_root: &str, pkg_dir: &str) -> std::io::Result<Self> {
        let pkg = Path::new(site_root).join(pkg_dir);
        let build = fingerprint(&pkg)?;
        Ok(Self { root: format!("/assets/{build}"), pkg_dir: pkg })
    }

    /// A bundle that could not be read: pages still name `/pkg/…` directly.
    pub fn unreadable() -> Self {
        Self { root: String::new(), pkg_dir: PathBuf::new() }
    }

    /// Serves the bundle under its hashed address, to anyone (the sign-in
    /// page needs it too). A wrong hash falls through to "not found".
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        if self.root.is_empty() {
            return Router::new();
        }
        let files = ServeDir::new(&self.pkg_dir).append_index_html_on_directories(false);
        Router::new()
            .nest_service(&format!("{}/pkg", self.root), files)
            .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)))
    }
}

/// 16 hex digits of a SHA-256 over every file below `dir` (its path from
/// `dir` and its bytes). A missing directory (tests without a built bundle)
/// hashes as empty.
pub fn fingerprint(dir: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut hash = Sha256::new();
    for (name, path) in files {
        hash.update(name.as_bytes());
        hash.update([0]);
        let bytes = std::fs::read(&path)?;
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    Ok(hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
        } else {
            let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            files.push((name, path));
        }
    }
    Ok(())
}

/// Says how long an answer may be kept, where its handler did not: HTML,
/// JSON and event streams never; any other file until it is checked again.
pub async fn cache_policy(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let dynamic = ["text/html", "application/json", "text/event-stream", "application/problem+json", "text/plain"]
            .iter()
            .any(|kind| content_type.starts_with(kind));
        let policy = if dynamic || content_type.is_empty() { NO_STORE } else { REVALIDATE };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_names_and_bytes() {
        let dir = std::env::temp_dir().join(format!("weft-assets-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("chunks")).unwrap();
        std::fs::write(dir.join("weft.js"), "a").unwrap();
        std::fs::write(dir.join("chunks/x.wasm"), "b").unwrap();
        let first = fingerprint(&dir).unwrap();
        assert_eq!(first.len(), 16);
        assert_eq!(fingerprint(&dir).unwrap(), first, "the same files hash the same");
        std::fs::write(dir.join("chunks/x.wasm"), "c").unwrap();
        let changed = fingerprint(&dir).unwrap();
        assert_ne!(changed, first, "a changed byte changes the address");
        std::fs::rename(dir.join("chunks/x.wasm"), dir.join("chunks/y.wasm")).unwrap();
        assert_ne!(fingerprint(&dir).unwrap(), changed, "a renamed file changes it too");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(fingerprint(&dir).unwrap().len(), 16, "a missing bundle still has an address");
    }
}
