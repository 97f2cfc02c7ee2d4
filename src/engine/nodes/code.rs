//! `code` nodes: a JavaScript function body run in QuickJS (rquickjs).
//!
//! The sandbox is a bare QuickJS context: the language and its built-ins, no
//! modules, so no file, network or process access. Each run gets its own runtime
//! with a memory limit and an interrupt deadline, on a low-priority thread of
//! a [`SandboxPool`] (a busy script never stalls the async workers).
//!
//! `nodes` is read lazily: a script is handed a proxy that brings a node's
//! output into the sandbox (as JSON) the first time the script reads it. Handing
//! over every output up front cost each code node the size of the whole run so
//! far: a chain of code nodes was quadratic in its length.

use std::time::{Duration, Instant};

use app::model::node_config::CodeConfig;
use rquickjs::{CatchResultExt, Context, Function, Runtime};
use serde_json::Value;

use super::pool::SandboxPool;
use super::{NodeScope, Outputs};

#[derive(Debug, Clone)]
pub struct CodeSettings {
    pub memory_limit_bytes: usize,
    pub time_limit: Duration,
    /// Scripts running at once, across all runs.
    pub max_concurrency: usize,
}

impl Default for CodeSettings {
    fn default() -> Self {
        Self {
            memory_limit_bytes: 64 * 1024 * 1024,
            time_limit: Duration::from_secs(5),
            max_concurrency: super::pool::cores(),
        }
    }
}

pub struct CodeRunner {
    settings: CodeSettings,
    pool: SandboxPool,
}

impl CodeRunner {
    pub fn new(settings: CodeSettings) -> Self {
        Self { pool: SandboxPool::new("weft-code", settings.max_concurrency), settings }
    }

    pub async fn run(&self, config: &CodeConfig, scope: &NodeScope) -> Result<Value, String> {
        let source = config.source.clone();
        let input = serde_json::to_string(&*scope.input).map_err(|e| e.to_string())?;
        // Shared, not copied: the script takes what it reads.
        let nodes = scope.nodes.clone();
        let settings = self.settings.clone();
        let item = match &scope.item {
            Some(item) => Some((serde_json::to_string(&*item.value).map_err(|e| e.to_string())?, item.index)),
            None => None,
        };
        self.pool.run(move || run_script(&source, &input, item, &nodes, &settings)).await?
    }
}

/// Makes `nodes` in the script's scope: a read-only view of the outputs, each
/// fetched (and parsed) on its first read. `Object.keys(nodes)`, `in` and
/// `JSON.stringify(nodes)` see every node; what a script assigns to it stays
/// in the script (as with the copy it used to get). One line, so the script's own
/// line numbers move by one as before.
const LAZY_NODES: &str = "const nodes = (() => { const seen = new Map(); \
    const read = (key) => { if (typeof key !== 'string') return undefined; \
    if (!seen.has(key)) { const text = __weft_node(key); seen.set(key, text === undefined ? undefined : JSON.parse(text)); } \
    return seen.get(key); }; \
    return new Proxy({}, { get: (_, key) => read(key), has: (_, key) => typeof key === 'string' && __weft_node_ids().includes(key), \
    ownKeys: () => __weft_node_ids(), \
    set: (_, key, value) => { seen.set(key, value); return true; }, deleteProperty: (_, key) => { seen.set(key, undefined); return true; }, \
    getOwnPropertyDescriptor: (_, key) => { const value = read(key); \
    return value === undefined ? undefined : { value, enumerable: true, configurable: true, writable: true }; } }); })();";

/// Runs one script to completion (or to its limits) on the calling thread.
/// `item`: for a node with `for_each`, the item (as JSON) and its index, the
/// script's `item` and `index` (else both are `undefined`).
pub fn run_script(
    source: &str,
    input: &str,
    item: Option<(String, usize)>,
    nodes: &Outputs,
    settings: &CodeSettings,
) -> Result<Value, String> {
    let runtime = Runtime::new().map_err(|e| format!("cannot start the sandbox: {e}"))?;
    runtime.set_memory_limit(settings.memory_limit_bytes);
    runtime.set_max_stack_size(1024 * 1024);
    let deadline = Instant::now() + settings.time_limit;
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
    let context = Context::full(&runtime).map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let limit_ms = settings.time_limit.as_millis();
    let limit_mb = settings.memory_limit_bytes / (1024 * 1024);

    context.with(|ctx| {
        let explain = |error: rquickjs::CaughtError<'_>| {
            let text = error.to_string();
            if Instant::now() > deadline || text.contains("interrupted") {
                format!("the script ran longer than its {limit_ms} ms limit and was stopped")
            } else if text.contains("out of memory") {
                format!("the script used more than its {limit_mb} MB memory limit and was stopped")
            } else {
                format!("script error: {text}")
            }
        };
        let wrapped =
            format!("(function (input, item, index, __weft_node, __weft_node_ids) {{ {LAZY_NODES}\n{source}\n}})");
        let function: Function = ctx.eval(wrapped).catch(&ctx).map_err(explain)?;
        let input = ctx.json_parse(input).catch(&ctx).map_err(explain)?;
        let (item, index) = match item {
            Some((json, index)) => (ctx.json_parse(json).catch(&ctx).map_err(explain)?, Some(index as f64)),
            None => (rquickjs::Value::new_undefined(ctx.clone()), None),
        };
        let outputs = nodes.clone();
        let node = Function::new(ctx.clone(), move |id: String| -> Option<String> {
            outputs.get(&id).and_then(|value| serde_json::to_string(&**value).ok())
        })
        .catch(&ctx)
        .map_err(explain)?;
        let ids: Vec<String> = nodes.keys().cloned().collect();
        let node_ids = Function::new(ctx.clone(), move || ids.clone()).catch(&ctx).map_err(explain)?;
        let result: rquickjs::Value =
            function.call((input, item, index, node, node_ids)).catch(&ctx).map_err(explain)?;
        let json = ctx.json_stringify(result).catch(&ctx).map_err(explain)?;
        match json {
            None => Ok(Value::Null),
            Some(text) => {
                let text = text.to_string().map_err(|e| format!("script result: {e}"))?;
                serde_json::from_str(&text).map_err(|e| format!("the script's result is not JSON: {e}"))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(source: &str) -> Result<Value, String> {
        let settings = CodeSettings {
            memory_limit_bytes: 16 * 1024 * 1024,
            time_limit: Duration::from_millis(300),
            max_concurrency: 1,
        };
        let mut nodes = Outputs::new();
        nodes.insert("a".into(), std::sync::Arc::new(json!({"text": "hi"})));
        nodes.insert("b".into(), std::sync::Arc::new(json!([1, 2])));
        run_script(source, r#"{"n": 20}"#, None, &nodes, &settings)
    }

    #[test]
    fn a_script_sees_input_and_nodes_and_returns_json() {
        assert_eq!(
            run("return {sum: input.n + 1, text: nodes.a.text.toUpperCase()};").unwrap(),
            json!({"sum": 21, "text": "HI"})
        );
        assert_eq!(run("return undefined;").unwrap(), json!(null));
    }

    #[test]
    fn nodes_read_lazily_still_look_like_an_object() {
        assert_eq!(
            run("return [Object.keys(nodes), 'a' in nodes, 'c' in nodes, nodes.c, JSON.stringify(nodes), nodes.b.length];")
                .unwrap(),
            json!([["a", "b"], true, false, null, r#"{"a":{"text":"hi"},"b":[1,2]}"#, 2])
        );
        // The same read twice is the same object, and changes stay in the script.
        assert_eq!(
            run("nodes.a.extra = 1; const before = nodes.a.extra; nodes.b = 5; return [before, nodes.b];").unwrap(),
            json!([1, 5])
        );
    }

    #[test]
    fn a_script_run_per_item_sees_the_item_and_its_index() {
        let settings = CodeSettings {
            memory_limit_bytes: 16 * 1024 * 1024,
            time_limit: Duration::from_millis(300),
            max_concurrency: 1,
        };
        let item = Some((r#"{"name": "ada"}"#.to_string(), 3));
        let result = run_script("return [item.name, index, input.n];", r#"{"n": 1}"#, item, &Outputs::new(), &settings);
        assert_eq!(result.unwrap(), json!(["ada", 3, 1]));
        assert_eq!(run("return [typeof item, typeof index];").unwrap(), json!(["undefined", "undefined"]));
    }

    #[test]
    fn a_runaway_loop_is_stopped_at_the_time_limit() {
        let error = run("while (true) {}").unwrap_err();
        assert!(error.contains("ran longer than its 300 ms limit"), "{error}");
    }

    #[test]
    fn a_memory_hog_is_stopped_at_the_memory_limit() {
        let error = run("let a = []; while (true) { a.push(new Array(100000).fill(1)); }").unwrap_err();
        assert!(error.contains("memory limit"), "{error}");
    }

    #[test]
    fn thrown_errors_and_syntax_errors_are_reported() {
        assert!(run("throw new Error('nope')").unwrap_err().contains("nope"));
        assert!(run("return {").unwrap_err().starts_with("script error"));
    }

    #[test]
    fn the_sandbox_has_no_host_access() {
        let result = run("return [typeof require, typeof process, typeof fetch, typeof std, typeof os];").unwrap();
        assert_eq!(result, json!(["undefined", "undefined", "undefined", "undefined", "undefined"]));
    }
}
