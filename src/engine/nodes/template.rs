//! `template` and `condition` nodes, and the template rendering other nodes use.
//!
//! A template is code a user wrote, run on the server: a loop of 10^10 steps or
//! a gigabyte of text must not stall anything else. So a template renders off
//! the async runtime (on a [`SandboxPool`] of low-priority threads), with
//! fuel (a budget of steps that stops a runaway loop) and a cap on the text it
//! writes. A node's timeout is real: the node stops waiting at its limit, and
//! the fuel ends the render soon after. Text without template syntax (a fixed
//! URL, `GET`) is used as it is, without a trip to the pool.

mod context;
mod undefined;

use std::io;
use std::sync::Arc;

use app::model::node_config::TemplateConfig;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

use self::context::{ReadBudget, ScopeContext};
use super::pool::SandboxPool;
use super::NodeScope;

#[derive(Debug, Clone)]
pub struct TemplateSettings {
    /// Fuel one render may use (minijinja: steps, bytes built, items iterated).
    pub fuel: u64,
    /// The longest text one render may produce.
    pub max_output_bytes: usize,
    /// Renders running at once, across all runs.
    pub max_concurrency: usize,
}

impl Default for TemplateSettings {
    fn default() -> Self {
        Self { fuel: 20_000_000, max_output_bytes: 8 * 1024 * 1024, max_concurrency: super::pool::cores().max(2) }
    }
}

/// Renders templates and evaluates conditions under the limits above.
pub struct Templates {
    environment: Arc<Environment<'static>>,
    /// The same, with [`INLINE_FUEL`].
    inline_environment: Environment<'static>,
    settings: TemplateSettings,
    pool: SandboxPool,
    /// Renders done on the pool (tests tell where a render happened).
    #[cfg(test)]
    pool_renders: std::sync::atomic::AtomicUsize,
}

impl Templates {
    pub fn new(settings: TemplateSettings) -> Self {
        let mut environment = Environment::new();
        // Lenient: a missing optional value (`{{ input.query.q }}`) prints as
        // empty, while a typo in a path (`{{ nodes.fetc.body }}`) is still an
        // error, since reading an attribute of an undefined value fails.
        environment.set_undefined_behavior(UndefinedBehavior::Lenient);
        // An object or a list printed into text is JSON (what a prompt or a
        // request body needs), not minijinja's Python-like `{"ok": True}`.
        environment.set_formatter(json_formatter);
        let mut inline_environment = environment.clone();
        inline_environment.set_fuel(Some(INLINE_FUEL.min(settings.fuel)));
        environment.set_fuel(Some(settings.fuel));
        Self {
            environment: Arc::new(environment),
            inline_environment,
            pool: SandboxPool::new("weft-template", settings.max_concurrency),
            settings,
            #[cfg(test)]
            pool_renders: Default::default(),
        }
    }

    /// Renders one template text with `input` and `nodes`. Errors name the field and the line.
    pub async fn render(&self, field: &str, source: &str, scope: &NodeScope) -> Result<String, String> {
        let mut rendered = self.render_fields(vec![(field.to_string(), source.to_string())], scope).await?;
        Ok(rendered.pop().unwrap_or_default())
    }

    /// Renders several fields of one node (in one trip to the pool when it
    /// comes to that), in order.
    pub async fn render_fields(&self, fields: Vec<(String, String)>, scope: &NodeScope) -> Result<Vec<String>, String> {
        if !fields.iter().any(|(_, source)| has_template_syntax(source)) {
            return Ok(fields.into_iter().map(|(_, source)| source).collect());
        }
        match self.execute(Job::Fields(fields), scope).await? {
            Done::Fields(texts) => Ok(texts),
            _ => Err("the template renderer mixed up its jobs".to_string()),
        }
    }

    pub async fn render_node(&self, config: &TemplateConfig, scope: &NodeScope) -> Result<Value, String> {
        let text = self.render("template", &config.template, scope).await?;
        if config.json {
            serde_json::from_str(&text)
                .map_err(|e| format!("template: the rendered text is not JSON ({e}): {}", snippet(&text)))
        } else {
            Ok(serde_json::json!({ "text": text }))
        }
    }

    /// Evaluates a condition expression to true or false (minijinja truthiness).
    pub async fn evaluate_condition(&self, expr: &str, scope: &NodeScope) -> Result<bool, String> {
        match self.execute(Job::Condition(expr.to_string()), scope).await? {
            Done::Condition(result) => Ok(result),
            _ => Err("the template renderer mixed up its jobs".to_string()),
        }
    }

    /// Evaluates a `for_each` expression to its list of items (as JSON), refusing
    /// anything but a list, and a list of more than `max_items`.
    pub async fn evaluate_list(&self, expr: &str, scope: &NodeScope, max_items: usize) -> Result<Vec<Value>, String> {
        match self.execute(Job::List { expr: expr.to_string(), max_items }, scope).await? {
            Done::List(items) => Ok(items),
            _ => Err("the template renderer mixed up its jobs".to_string()),
        }
    }

    /// Evaluates an expression to its value as JSON (a `workflow` node's
    /// input); `field` names it in errors. Undefined is `null`.
    pub async fn evaluate_value(&self, field: &str, expr: &str, scope: &NodeScope) -> Result<Value, String> {
        match self.execute(Job::Value { field: field.to_string(), expr: expr.to_string() }, scope).await? {
            Done::Value(value) => Ok(value),
            _ => Err("the template renderer mixed up its jobs".to_string()),
        }
    }

    /// Small jobs over small data render right here, within [`INLINE_FUEL`]
    /// (microseconds, so the runtime is never held up): most templates are
    /// `{{ input.url }}`, and a trip to another thread would cost more than
    /// the render. A job that needs more fuel, or reads more data, is done
    /// on the pool with the full budget (rendering has no side effects, so
    /// starting over is safe).
    async fn execute(&self, job: Job, scope: &NodeScope) -> Result<Done, String> {
        let cap = self.settings.max_output_bytes;
        let budget = ReadBudget::new(INLINE_READ_BYTES);
        match run_job(&job, &self.inline_environment, ScopeContext::value(scope, Some(budget.clone())), cap) {
            // It read more than a render on the runtime may: whatever came of it does not count.
            _ if budget.exceeded() => {}
            Err(Failed::OutOfFuel(_)) => {}
            Err(Failed::Other(message)) => return Err(message),
            Ok(done) => return Ok(done),
        }
        #[cfg(test)]
        self.pool_renders.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let environment = self.environment.clone();
        let context = ScopeContext::value(scope, None);
        let fuel = self.settings.fuel;
        // A runaway keeps its thread until its fuel runs out, even when the node stopped waiting.
        self.pool
            .run(move || {
                run_job(&job, &environment, context, cap).map_err(|failed| match failed {
                    Failed::OutOfFuel(field) => {
                        format!("{field}: the template took more than its {fuel} steps and was stopped")
                    }
                    Failed::Other(message) => message,
                })
            })
            .await?
    }
}

/// The fuel of a render done on the async runtime: a few microseconds of work.
const INLINE_FUEL: u64 = 20_000;
/// The most data (input and outputs, as JSON) a render done on the runtime may
/// read: a template reading one small output of a long run stays here, however
/// big the run's other outputs are.
const INLINE_READ_BYTES: usize = 64 * 1024;

/// What one render does: fields of a node, a condition, or a `for_each` list.
enum Job {
    Fields(Vec<(String, String)>),
    Condition(String),
    List { expr: String, max_items: usize },
    Value { field: String, expr: String },
}

enum Done {
    Fields(Vec<String>),
    Condition(bool),
    List(Vec<Value>),
    Value(Value),
}

enum Failed {
    /// The field whose render ran out of fuel.
    OutOfFuel(String),
    Other(String),
}

fn run_job(
    job: &Job,
    environment: &Environment<'static>,
    context: minijinja::Value,
    cap: usize,
) -> Result<Done, Failed> {
    let failed = |field: &str, source: &str, error: minijinja::Error| match error.kind() {
        ErrorKind::OutOfFuel => Failed::OutOfFuel(field.to_string()),
        ErrorKind::UndefinedError => {
            let message = explain(field, &error, cap);
            match undefined::describe(source, &error, &context) {
                Some(what) => Failed::Other(format!("{message}: {what}")),
                None => Failed::Other(message),
            }
        }
        _ => Failed::Other(explain(field, &error, cap)),
    };
    match job {
        Job::Fields(fields) => fields
            .iter()
            .map(|(field, source)| {
                render_capped(environment, source, context.clone(), cap).map_err(|e| failed(field, source, e))
            })
            .collect::<Result<_, _>>()
            .map(Done::Fields),
        Job::Condition(expr) => {
            let compiled = environment.compile_expression(expr).map_err(|e| Failed::Other(format!("expr: {e}")))?;
            compiled.eval(context.clone()).map(|v| Done::Condition(v.is_true())).map_err(|e| failed("expr", expr, e))
        }
        Job::List { expr, max_items } => {
            let compiled = environment.compile_expression(expr).map_err(|e| Failed::Other(format!("for_each: {e}")))?;
            let list = compiled.eval(context.clone()).map_err(|e| failed("for_each", expr, e))?;
            list_items(&list, *max_items).map(Done::List).map_err(|e| Failed::Other(format!("for_each: {e}")))
        }
        Job::Value { field, expr } => {
            let compiled = environment.compile_expression(expr).map_err(|e| Failed::Other(format!("{field}: {e}")))?;
            let value = compiled.eval(context.clone()).map_err(|e| failed(field, expr, e))?;
            if value.is_undefined() {
                return Ok(Done::Value(Value::Null));
            }
            serde_json::to_value(&value).map(Done::Value).map_err(|e| Failed::Other(format!("{field}: {e}")))
        }
    }
}

/// The items of a `for_each` list, as JSON. The length is checked before any
/// item is converted, so an oversized list costs nothing to refuse.
fn list_items(list: &minijinja::Value, max_items: usize) -> Result<Vec<Value>, String> {
    use minijinja::value::ValueKind;
    match list.kind() {
        ValueKind::Seq | ValueKind::Iterable => {}
        ValueKind::Undefined | ValueKind::None => {
            return Err("the expression gave nothing (undefined or none), not a list".into())
        }
        kind => return Err(format!("the expression gave {kind}, not a list")),
    }
    if let Some(len) = list.len() {
        if len > max_items {
            return Err(format!("the list has {len} items, more than the {max_items} one node may run"));
        }
    }
    let items = list.try_iter().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for item in items {
        if out.len() == max_items {
            return Err(format!("the list has more than the {max_items} items one node may run"));
        }
        out.push(serde_json::to_value(&item).map_err(|e| format!("item {}: {e}", out.len()))?);
    }
    Ok(out)
}

/// Whether minijinja would do anything with this text but print it.
fn has_template_syntax(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

fn render_capped(
    environment: &Environment<'static>,
    source: &str,
    context: minijinja::Value,
    cap: usize,
) -> Result<String, minijinja::Error> {
    let template = environment.template_from_str(source)?;
    let mut out = CappedWriter { text: Vec::new(), cap };
    template.render_captured_to(context, &mut out)?;
    // Templates are text and the writer is fed whole UTF-8 pieces.
    Ok(String::from_utf8_lossy(&out.text).into_owned())
}

/// Prints a value into a template's text: objects and lists as JSON, the rest
/// as minijinja does.
fn json_formatter(
    out: &mut minijinja::Output<'_>,
    state: &mut minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::Map | ValueKind::Seq => {
            let json = serde_json::to_string(value).map_err(|e| {
                minijinja::Error::new(ErrorKind::BadSerialization, format!("cannot print this value as JSON: {e}"))
            })?;
            out.write_str(&json).map_err(|_| minijinja::Error::from(ErrorKind::WriteFailure))
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Collects rendered text, refusing to grow past `cap` bytes.
struct CappedWriter {
    text: Vec<u8>,
    cap: usize,
}

impl io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.text.len() + buf.len() > self.cap {
            return Err(io::Error::other("output limit"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn explain(field: &str, error: &minijinja::Error, cap: usize) -> String {
    match error.kind() {
        ErrorKind::WriteFailure => format!("{field}: the rendered text is larger than the {cap}-byte limit"),
        kind => match error.line() {
            Some(line) => {
                format!("{field}: template error at line {line}: {}", error.detail().unwrap_or(&kind.to_string()))
            }
            None => format!("{field}: template error: {error}"),
        },
    }
}

fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(120).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> NodeScope {
        let mut nodes = super::super::Outputs::new();
        nodes.insert("fetch".into(), Arc::new(json!({"status": 200, "body": {"title": "Hi"}})));
        NodeScope {
            execution_id: 1,
            depth: 0,
            node_id: "t".into(),
            owner: 1,
            idempotency_key: "weft-1-t".into(),
            input: Arc::new(json!({"url": "http://x"})),
            sizes: super::super::ScopeSizes {
                input: 20,
                outputs: nodes.keys().map(|id| (id.clone(), 40_usize)).collect(),
            },
            nodes,
            live_inputs: vec!["fetch".into()],
            vars: Arc::new(json!({"base_url": "https://api.example"})),
            resume_urls: Arc::new(json!({"approve": "/resume/1/approve/token"})),
            item: None,
        }
    }

    fn templates() -> Templates {
        Templates::new(TemplateSettings { fuel: 100_000, max_output_bytes: 1024, max_concurrency: 2 })
    }

    async fn render(template: &str) -> Result<Value, String> {
        templates().render_node(&TemplateConfig { template: template.into(), json: false }, &scope()).await
    }

    #[tokio::test]
    async fn objects_and_lists_print_as_json() {
        assert_eq!(
            render("Summarise {{ nodes.fetch.body }} of {{ [1, true, none] }}").await.unwrap(),
            json!({"text": "Summarise {\"title\":\"Hi\"} of [1,true,null]"})
        );
        assert_eq!(render("{{ nodes.fetch.status }} {{ 'a' }}").await.unwrap(), json!({"text": "200 a"}));
        // URLs built from values (an agent's HTTP tool from the model's arguments).
        assert_eq!(render("q={{ 'a b&c' | urlencode }}").await.unwrap(), json!({"text": "q=a%20b%26c"}));
    }

    #[tokio::test]
    async fn an_undefined_path_says_what_is_there_instead() {
        let error = render("{{ nodes.fetch.output.body }}").await.unwrap_err();
        assert_eq!(
            error,
            "template: template error at line 1: `nodes.fetch.output` is undefined: `nodes.fetch` has `body`, `status`"
        );
        let error = render("Hello\n{{ nodes.fetch.body.title.x.y }}").await.unwrap_err();
        assert!(
            error.ends_with(
                "`nodes.fetch.body.title.x` is undefined: `nodes.fetch.body.title` is a string, not an object"
            ),
            "{error}"
        );
        let error = render("{{ nodes.fetc.body }}").await.unwrap_err();
        assert!(error.ends_with("`nodes.fetc` is undefined: `nodes` has `fetch`"), "{error}");
    }

    #[tokio::test]
    async fn templates_see_input_and_upstream_outputs() {
        assert_eq!(
            render("{{ input.url }} {{ nodes.fetch.body.title }}").await.unwrap(),
            json!({"text": "http://x Hi"})
        );
        assert_eq!(render("{% for k in nodes %}{{ k }}{% endfor %}").await.unwrap(), json!({"text": "fetch"}));
        assert_eq!(render("{{ idempotency_key }}").await.unwrap(), json!({"text": "weft-1-t"}));
        assert_eq!(render("{{ vars.base_url }}/v1").await.unwrap(), json!({"text": "https://api.example/v1"}));
        assert_eq!(render("{{ resume_urls.approve }}").await.unwrap(), json!({"text": "/resume/1/approve/token"}));
    }

    #[tokio::test]
    async fn small_and_large_reads_render_alike_on_and_off_the_runtime() {
        let mut large = scope();
        large.sizes.outputs.insert("fetch".into(), usize::MAX);
        for (scope, on_pool) in [(scope(), 0), (large, 1)] {
            let templates = templates();
            let config = TemplateConfig { template: "{{ input.url }} {{ nodes.fetch.status }}".into(), json: false };
            assert_eq!(templates.render_node(&config, &scope).await.unwrap(), json!({"text": "http://x 200"}));
            assert_eq!(templates.pool_renders.load(std::sync::atomic::Ordering::Relaxed), on_pool);
            assert!(templates
                .render_node(&TemplateConfig { template: "{{ 1 + }}".into(), json: false }, &scope)
                .await
                .is_err());
        }
    }

    #[tokio::test]
    async fn a_render_reading_little_of_a_big_run_stays_on_the_runtime() {
        // A long run's outputs weigh far more than the budget; the template reads one small one.
        let mut big = scope();
        for i in 0..5_000 {
            big.nodes.insert(format!("t{i}"), Arc::new(json!({"text": "x".repeat(100)})));
            big.sizes.outputs.insert(format!("t{i}"), 111);
        }
        let templates = templates();
        let config = TemplateConfig { template: "{{ nodes.t4999.text | length }}".into(), json: false };
        assert_eq!(templates.render_node(&config, &big).await.unwrap(), json!({"text": "100"}));
        assert_eq!(templates.pool_renders.load(std::sync::atomic::Ordering::Relaxed), 0);
        // Reading a big output goes to the pool, and gives what it would have given here.
        big.sizes.outputs.insert("t0".into(), 100_000);
        let all = TemplateConfig { template: "{{ nodes.t0.text | length }}".into(), json: false };
        assert_eq!(templates.render_node(&all, &big).await.unwrap(), json!({"text": "100"}));
        assert_eq!(templates.pool_renders.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_json_template_yields_the_parsed_value() {
        let config =
            TemplateConfig { template: r#"{"ok": {{ (nodes.fetch.status == 200) | tojson }}}"#.into(), json: true };
        assert_eq!(templates().render_node(&config, &scope()).await.unwrap(), json!({"ok": true}));
    }

    #[tokio::test]
    async fn conditions_follow_truthiness() {
        let templates = templates();
        assert!(templates.evaluate_condition("nodes.fetch.status == 200", &scope()).await.unwrap());
        assert!(!templates.evaluate_condition("nodes.fetch.status >= 400", &scope()).await.unwrap());
        assert!(!templates.evaluate_condition("nodes.fetch.error", &scope()).await.unwrap());
    }

    #[tokio::test]
    async fn an_undefined_name_in_a_template_is_an_error() {
        assert!(render("{{ nodes.fetc.body }}").await.is_err());
    }

    #[tokio::test]
    async fn rendering_errors_name_the_field_and_line() {
        let error = render("ok\n{{ 1 + \"a\" }}").await.unwrap_err();
        assert!(error.starts_with("template: template error at line 2"), "{error}");
    }

    #[tokio::test]
    async fn a_runaway_loop_runs_out_of_fuel() {
        let error = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
            .await
            .unwrap_err();
        assert_eq!(error, "template: the template took more than its 100000 steps and was stopped");
        let error = templates().evaluate_condition("range(100000) | map('string') | join | length > 0", &scope()).await;
        assert_eq!(error.unwrap_err(), "expr: the template took more than its 100000 steps and was stopped");
        // Work done inside one step (building, copying, searching, printing a
        // huge sequence) is charged too, so none of it can take the process's memory.
        for runaway in [
            "{{ (range(100000) * 1000) | list | length }}",
            "{{ -1 in range(100000) * 1000 }}",
            "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "{{ ('a' * 100000000) | length }}",
        ] {
            let error = render(runaway).await.unwrap_err();
            assert!(error.contains("steps and was stopped") || error.contains("too large"), "{runaway}: {error}");
        }
    }

    #[tokio::test]
    async fn rendered_text_is_capped() {
        let error = render("{{ 'a' * 100000 }}").await.unwrap_err();
        assert_eq!(error, "template: the rendered text is larger than the 1024-byte limit");
        assert!(render("{{ 'a' * 1000 }}").await.is_ok());
    }

    #[tokio::test]
    async fn text_without_template_syntax_is_used_as_it_is() {
        let fields = vec![("method".to_string(), "GET".to_string()), ("url".to_string(), "http://x/{y}".to_string())];
        assert_eq!(templates().render_fields(fields, &scope()).await.unwrap(), ["GET", "http://x/{y}"]);
    }
}
