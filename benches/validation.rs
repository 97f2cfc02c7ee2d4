//! How long validation takes: it runs on every keystroke in the editor and
//! before every run, so it must stay far below a frame (16 ms) even for large graphs.
//! `run` is what a run checks; `save` adds the unknown-field check of saving and the editor.
//! And what keeping NUL characters out of run data costs a run (`nul`): every
//! node's output is looked through once.

use app::model::{validate, validate_to_save, WorkflowDefinition};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;

/// A layered graph: `width` parallel template nodes per layer, each layer fully
/// connected to the next, ending in one merge.
fn layered(layers: usize, width: usize) -> WorkflowDefinition {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for layer in 0..layers {
        for i in 0..width {
            let id = format!("n{layer}_{i}");
            nodes.push(json!({"id": id, "type": "template", "config": {"template": "{{ input.x }} and {{ nodes }}"}}));
            if layer > 0 {
                for j in 0..width {
                    edges.push(json!({"from": format!("n{}_{j}", layer - 1), "to": id}));
                }
            }
        }
    }
    nodes.push(json!({"id": "merge", "type": "merge"}));
    for i in 0..width {
        edges.push(json!({"from": format!("n{}_{i}", layers - 1), "to": "merge"}));
    }
    serde_json::from_value(json!({"name": "bench", "nodes": nodes, "edges": edges})).unwrap()
}

fn bench_validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    for (layers, width) in [(4, 5), (20, 10)] {
        let definition = layered(layers, width);
        let label = format!("{}nodes_{}edges", definition.nodes.len(), definition.edges.len());
        group.bench_with_input(BenchmarkId::new("run", &label), &definition, |b, d| b.iter(|| validate(d).unwrap()));
        // Saving also looks for fields Weft does not know (each config parsed once more).
        group.bench_with_input(BenchmarkId::new("save", &label), &definition, |b, d| {
            b.iter(|| validate_to_save(d).unwrap())
        });
    }
    group.finish();
}

/// Outputs as a run makes them: a template's, a merge of ten (load benchmark
/// W2's last node), and an `http` node's 64 KiB text body.
fn bench_replace_nul(c: &mut Criterion) {
    let mut group = c.benchmark_group("nul");
    let template = json!({"text": "step 3 load"});
    let merge: serde_json::Map<String, serde_json::Value> =
        (0..10).map(|i| (format!("t{i}"), json!({"text": format!("step {i} load")}))).collect();
    let body = json!({"status": 200, "headers": {"content-type": "text/plain"}, "body": "x".repeat(64 * 1024)});
    for (name, output) in
        [("template", template), ("merge_of_10", serde_json::Value::Object(merge)), ("http_64KiB", body)]
    {
        group.bench_with_input(BenchmarkId::from_parameter(name), &output, |b, output| {
            b.iter_batched(
                || output.clone(),
                |mut output| {
                    app::model::nul::replace_nul(&mut output);
                    output
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_validate, bench_replace_nul);
criterion_main!(benches);
