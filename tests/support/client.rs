//! Clients for the running test server, one method per endpoint the tests call:
//! [`Browser`] for what the pages use (server functions, pages, the event stream,
//! webhooks, health), [`Api`] for the REST API behind an API key.

use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// A browser on the test server: its base URL and a client that does not follow
/// redirects (so tests see them), carrying a session cookie when signed in.
#[derive(Clone, Debug)]
pub struct Browser {
    base: String,
    client: Client,
}

impl Browser {
    /// A browser without a session.
    pub fn anonymous(base: &str) -> Self {
        Self { base: base.to_string(), client: super::browser(None) }
    }

    /// A browser sending `cookie` (`weft_session=…`, real or not).
    pub fn with_cookie(base: &str, cookie: &str) -> Self {
        Self { base: base.to_string(), client: super::browser(Some(cookie)) }
    }

    /// Signs in through `accounts/sign-in`; the browser carries the session, or
    /// the refusal is given back.
    pub async fn sign_in(base: &str, email: &str, password: &str) -> Result<Self, Response> {
        let response =
            Self::anonymous(base).server_fn("accounts/sign-in", &[("email", email), ("password", password)]).await;
        if !response.status().is_success() {
            return Err(response);
        }
        let cookie = super::session_cookie_of(&response).expect("sign-in sets the session cookie");
        Ok(Self::with_cookie(base, &cookie))
    }

    /// Creates a user (through the store) with [`super::PASSWORD`] and signs them in.
    pub async fn signed_in_user(store: &dyn app::ports::Store, base: &str, email: &str, admin: bool) -> Self {
        let hash = weft::cli::hash_password(super::PASSWORD).unwrap();
        store.create_user(email, Some(&hash), admin).await.unwrap();
        Self::sign_in(base, email, super::PASSWORD).await.map_err(|r| r.status()).expect("signing in works")
    }

    /// Another browser on the same server, without a session.
    pub fn without_session(&self) -> Self {
        Self::anonymous(&self.base)
    }

    /// The server's base URL, `http://127.0.0.1:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The underlying client (with this browser's session, if any).
    pub fn into_client(self) -> Client {
        self.client
    }

    /// A POST to `path` to finish by hand: for requests no endpoint method makes.
    pub fn post_raw(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    /// A GET of `path` to finish by hand: for requests no endpoint method makes.
    pub fn get_raw(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    /// POST `/api/{name}` with `form`: any server function.
    pub async fn server_fn(&self, name: &str, form: &[(&str, &str)]) -> Response {
        self.post_raw(&format!("/api/{name}")).form(form).send().await.unwrap()
    }

    /// GET `path`: a page, or any other plain route.
    pub async fn page(&self, path: &str) -> Response {
        self.get_raw(path).send().await.unwrap()
    }

    /// GET `/healthz`.
    pub async fn healthz(&self) -> Response {
        self.page("/healthz").await
    }

    /// GET `/readyz`.
    pub async fn readyz(&self) -> Response {
        self.page("/readyz").await
    }

    /// POST `/hooks/{path}` (which may carry a query) with a JSON body.
    pub async fn webhook(&self, path: &str, body: &Value) -> Response {
        self.post_raw(&format!("/hooks/{path}")).json(body).send().await.unwrap()
    }

    /// GET `/executions/{id}/events`: the run page's event stream.
    pub async fn events(&self, id: i64) -> Response {
        self.page(&format!("/executions/{id}/events")).await
    }

    /// `accounts/setup`: creates the first admin.
    pub async fn setup_admin(&self, email: &str, password: &str) -> Response {
        self.server_fn("accounts/setup", &[("email", email), ("password", password)]).await
    }

    /// `accounts/sign-out`.
    pub async fn sign_out(&self) -> Response {
        self.server_fn("accounts/sign-out", &[]).await
    }

    /// `accounts/users/create`.
    pub async fn create_user(&self, email: &str, password: &str) -> Response {
        self.server_fn("accounts/users/create", &[("email", email), ("password", password)]).await
    }

    /// `accounts/users`: every user (admins only).
    pub async fn list_users(&self) -> Response {
        self.server_fn("accounts/users", &[]).await
    }

    /// `accounts/api-keys/create`.
    pub async fn create_api_key(&self, name: &str) -> Response {
        self.server_fn("accounts/api-keys/create", &[("name", name)]).await
    }

    /// `accounts/api-keys`: the user's keys.
    pub async fn list_api_keys(&self) -> Response {
        self.server_fn("accounts/api-keys", &[]).await
    }

    /// `accounts/api-keys/revoke`.
    pub async fn revoke_api_key(&self, id: i64) -> Response {
        self.server_fn("accounts/api-keys/revoke", &[("id", &id.to_string())]).await
    }

    /// `settings/llm`: the LLM settings (without the key).
    pub async fn llm_settings(&self) -> Response {
        self.server_fn("settings/llm", &[]).await
    }

    /// `settings/llm/save` with the settings form's fields.
    pub async fn save_llm_settings(&self, form: &[(&str, &str)]) -> Response {
        self.server_fn("settings/llm/save", form).await
    }

    /// `workflows/import` with `definition`, sent as given (valid or not).
    pub async fn import_workflow(&self, definition: &str) -> Response {
        self.server_fn("workflows/import", &[("definition", definition)]).await
    }

    /// `workflows/import`, which must succeed; the new workflow's id.
    pub async fn import_workflow_id(&self, definition: &Value) -> i64 {
        let response = self.import_workflow(&definition.to_string()).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// `workflows/save`: a new version of workflow `id`.
    pub async fn save_workflow(&self, id: i64, definition: &str) -> Response {
        self.server_fn("workflows/save", &[("id", &id.to_string()), ("definition", definition)]).await
    }

    /// `workflows/list` with the list page's filter fields.
    pub async fn list_workflows(&self, form: &[(&str, &str)]) -> Response {
        self.server_fn("workflows/list", form).await
    }

    /// `runs/start`: runs `workflow` on `input` (JSON text, as typed).
    pub async fn start_run(&self, workflow: i64, input: &str) -> Response {
        self.server_fn("runs/start", &[("workflow_id", &workflow.to_string()), ("input", input)]).await
    }

    /// `runs/start`, which must succeed; the new run's id.
    pub async fn start_run_id(&self, workflow: i64, input: &str) -> i64 {
        let response = self.start_run(workflow, input).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// `runs/load`: the run view's data.
    pub async fn load_run(&self, id: i64) -> Response {
        self.server_fn("runs/load", &[("id", &id.to_string())]).await
    }

    /// Polls `runs/load` until run `id` has ended; its details.
    pub async fn finished_run(&self, id: i64) -> Value {
        for _ in 0..200 {
            let details: Value = self.load_run(id).await.json().await.unwrap();
            if ["succeeded", "failed", "cancelled"].contains(&details["execution"]["status"].as_str().unwrap()) {
                return details;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("run {id} did not finish in 5 s");
    }

    /// `runs/rerun`: all of run `id` again, or from its failed node; on the
    /// saved version unless `version` says otherwise (`"original"`).
    pub async fn rerun(&self, id: i64, from_failed: bool, version: Option<&str>) -> Response {
        let (id, from_failed) = (id.to_string(), from_failed.to_string());
        let mut form = vec![("id", id.as_str()), ("from_failed", from_failed.as_str())];
        form.extend(version.map(|version| ("version", version)));
        self.server_fn("runs/rerun", &form).await
    }

    /// `runs/cancel`.
    pub async fn cancel_run(&self, id: i64) -> Response {
        self.server_fn("runs/cancel", &[("id", &id.to_string())]).await
    }

    /// `history/load` with the history page's `query` (sent as JSON, as the page does).
    pub async fn history(&self, query: Value) -> Response {
        self.post_raw("/api/history/load").json(&serde_json::json!({ "query": query })).send().await.unwrap()
    }

    /// The rows the history's list fetches as it is scrolled (`query.after` is the cursor).
    pub async fn history_rows(&self, query: Value) -> Response {
        self.post_raw("/api/history/rows").json(&serde_json::json!({ "query": query })).send().await.unwrap()
    }
}

/// A REST API client: `/api/v1` on the test server, with a bearer key or none.
#[derive(Clone, Debug)]
pub struct Api {
    base: String,
    key: Option<String>,
    client: Client,
}

impl Api {
    /// A client sending `key` to the server at `base`.
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            base: base.to_string(),
            key: Some(key.to_string()),
            client: Client::builder().timeout(super::REQUEST_TIMEOUT).build().unwrap(),
        }
    }

    /// Creates a user and an API key for them (through the store); their client.
    pub async fn for_new_user(server: &weft::server::RunningServer, base: &str, email: &str) -> Self {
        let user = server.store.create_user(email, None, false).await.unwrap();
        let (_, key) =
            weft::api::create_api_key(server.store.as_ref(), user.id, "tests", Default::default()).await.unwrap();
        Self::new(base, &key)
    }

    /// The same server with another key (valid or not).
    pub fn with_key(&self, key: &str) -> Self {
        Self { key: Some(key.to_string()), ..self.clone() }
    }

    /// The same server without a key.
    pub fn without_key(&self) -> Self {
        Self { key: None, ..self.clone() }
    }

    /// `method` on `/api/v1{path}` with the key, to finish by hand.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, format!("{}/api/v1{path}", self.base));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// `method` on `/api/v1{path}` with an optional JSON body; the status and the
    /// body (JSON, a string if not JSON, null if empty).
    pub async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    /// `path` with `?query` unless the query is empty.
    fn with_query(path: &str, query: &str) -> String {
        if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        }
    }

    /// POST `/workflows`.
    pub async fn create_workflow(&self, definition: &Value) -> (StatusCode, Value) {
        self.json(Method::POST, "/workflows", Some(definition.clone())).await
    }

    /// POST `/workflows`, which must answer 201; the new workflow's id.
    pub async fn create_workflow_id(&self, definition: &Value) -> i64 {
        let (status, created) = self.create_workflow(definition).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_i64().unwrap()
    }

    /// The address (`{id}/{path}`, called at `/hooks/{address}`) of a workflow's first webhook.
    pub async fn hook_address(&self, workflow: i64) -> String {
        let (status, got) = self.get_workflow(workflow).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        let url = got["webhooks"][0]["url"].as_str().unwrap_or_else(|| panic!("a webhook in {got}"));
        url.strip_prefix("/hooks/").expect("a /hooks/ URL").to_string()
    }

    /// Creates a workflow with a webhook; the webhook's address.
    pub async fn create_hook(&self, definition: &Value) -> String {
        let id = self.create_workflow_id(definition).await;
        self.hook_address(id).await
    }

    /// GET `/workflows?{query}`.
    pub async fn list_workflows(&self, query: &str) -> (StatusCode, Value) {
        self.json(Method::GET, &Self::with_query("/workflows", query), None).await
    }

    /// GET `/workflows/{id}`.
    pub async fn get_workflow(&self, id: i64) -> (StatusCode, Value) {
        self.json(Method::GET, &format!("/workflows/{id}"), None).await
    }

    /// PUT `/workflows/{id}`: a new version.
    pub async fn update_workflow(&self, id: i64, definition: &Value) -> (StatusCode, Value) {
        self.json(Method::PUT, &format!("/workflows/{id}"), Some(definition.clone())).await
    }

    /// DELETE `/workflows/{id}`.
    pub async fn delete_workflow(&self, id: i64) -> (StatusCode, Value) {
        self.json(Method::DELETE, &format!("/workflows/{id}"), None).await
    }

    /// GET `/workflows/{id}/export`: the download, headers and all.
    pub async fn export_workflow(&self, id: i64) -> Response {
        self.request(Method::GET, &format!("/workflows/{id}/export")).send().await.unwrap()
    }

    /// POST `/workflows/{id}/executions`: starts a run and answers at once.
    pub async fn start_execution(&self, workflow: i64, body: Option<Value>) -> (StatusCode, Value) {
        self.json(Method::POST, &format!("/workflows/{workflow}/executions"), body).await
    }

    /// POST `/workflows/{id}/executions?wait=true`: runs and answers with the report.
    pub async fn run_execution(&self, workflow: i64, body: Option<Value>) -> (StatusCode, Value) {
        self.json(Method::POST, &format!("/workflows/{workflow}/executions?wait=true"), body).await
    }

    /// GET `/executions?{query}`.
    pub async fn list_executions(&self, query: &str) -> (StatusCode, Value) {
        self.json(Method::GET, &Self::with_query("/executions", query), None).await
    }

    /// GET `/executions/{id}`.
    pub async fn get_execution(&self, id: i64) -> (StatusCode, Value) {
        self.json(Method::GET, &format!("/executions/{id}"), None).await
    }

    /// POST `/executions/{id}/cancel`.
    pub async fn cancel_execution(&self, id: i64) -> (StatusCode, Value) {
        self.json(Method::POST, &format!("/executions/{id}/cancel"), None).await
    }

    /// GET `/executions/{id}/events`: the event stream.
    pub async fn execution_events(&self, id: i64) -> Response {
        self.request(Method::GET, &format!("/executions/{id}/events")).send().await.unwrap()
    }

    /// GET `/templates?{query}`.
    pub async fn list_templates(&self, query: &str) -> (StatusCode, Value) {
        self.json(Method::GET, &Self::with_query("/templates", query), None).await
    }

    /// POST `/templates/{slug}/install` (`slug` as it goes in the path).
    pub async fn install_template(&self, slug: &str) -> (StatusCode, Value) {
        self.json(Method::POST, &format!("/templates/{slug}/install"), None).await
    }

    /// GET `/api/v1/openapi.json`, public: sent without the key.
    pub async fn openapi(&self) -> Response {
        self.without_key().request(Method::GET, "/openapi.json").send().await.unwrap()
    }

    /// GET `/metrics` (outside `/api/v1`, without the key): the Prometheus text.
    pub async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap()
    }
}
