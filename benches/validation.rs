//! How long validation takes: it runs on every keystroke in the editor and
//! before every run, so it must stay far below a frame (16 ms) even for large graphs.

use app::model::{validate, WorkflowDefinition};
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
        group.bench_with_input(BenchmarkId::from_parameter(label), &definition, |b, d| b.iter(|| validate(d).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench_validate);
criterion_main!(benches);
