//! A workflow's steps drawn as a graph (SVG, top to bottom): each step sits one row below the
//! deepest step it waits for, so roots share the first row and parallel branches sit side by
//! side. On an execution's page the boxes take the status of each step.

use super::layout::clip;
use maud::{html, Markup};
use shared::domain::graph::StepGraph;
use shared::domain::Action;

const NODE_W: usize = 168;
const NODE_H: usize = 46;
const GAP_X: usize = 24;
const GAP_Y: usize = 40;
const PAD: usize = 8;

/// Where each step goes: its row (depth) and column, and the size of the whole.
#[derive(Debug, PartialEq)]
pub struct Layout {
    pub cells: Vec<(usize, usize)>,
    pub rows: usize,
    pub columns: usize,
}

/// Rows by depth: a step goes one row below the deepest step it waits for.
fn layout(graph: &StepGraph) -> Layout {
    let n = graph.len();
    let mut depth = vec![0usize; n];
    // The graph is acyclic (checked when saved): n passes settle every depth.
    for _ in 0..n {
        let mut changed = false;
        for i in 0..n {
            let d = graph
                .dependencies(i)
                .iter()
                .map(|&j| depth[j] + 1)
                .max()
                .unwrap_or(0);
            if d != depth[i] {
                depth[i] = d;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let rows = depth.iter().max().map_or(0, |d| d + 1);
    let mut filled = vec![0usize; rows];
    let cells = depth
        .iter()
        .map(|&d| {
            filled[d] += 1;
            (d, filled[d] - 1)
        })
        .collect();
    Layout {
        cells,
        rows,
        columns: filled.into_iter().max().unwrap_or(0),
    }
}

/// The name a step is shown by: its id, or its place in the list.
pub fn step_name(id: Option<&str>, index: usize) -> String {
    id.map_or_else(|| format!("#{}", index + 1), str::to_string)
}

/// The SVG; `statuses[i]` colours step i when given.
pub fn svg(actions: &[Action], statuses: Option<&[&str]>) -> Markup {
    let Ok(graph) = StepGraph::of(actions) else {
        return html! { p.muted { "The steps do not form a graph." } };
    };
    let layout = layout(&graph);
    let width = layout.columns.max(1) * (NODE_W + GAP_X) - GAP_X + 2 * PAD;
    let height = layout.rows.max(1) * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD;
    let origin = |i: usize| {
        let (row, column) = layout.cells[i];
        (
            PAD + column * (NODE_W + GAP_X),
            PAD + row * (NODE_H + GAP_Y),
        )
    };
    let names: Vec<String> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| step_name(a.id(), i))
        .collect();
    let description = describe(&graph, &names, statuses);
    html! {
        svg.graph role="img" aria-labelledby="graph-title graph-desc"
            viewBox={"0 0 " (width) " " (height)} width=(width) height=(height)
            preserveAspectRatio="xMinYMin meet" {
            title #graph-title { "Step graph" }
            desc #graph-desc { (description) }
            defs {
                marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" fill="#55606e" {}
                }
            }
            @for i in 0..actions.len() {
                @for &j in graph.dependencies(i) {
                    @let (x1, y1) = origin(j);
                    @let (x2, y2) = origin(i);
                    @let (x1, y1, x2, y2) = (x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2);
                    @let mid = (y1 + y2) / 2;
                    path.edge d={"M " (x1) " " (y1) " C " (x1) " " (mid) ", " (x2) " " (mid) ", " (x2) " " (y2)}
                        marker-end="url(#arrow)" {}
                }
            }
            @for (i, action) in actions.iter().enumerate() {
                @let (x, y) = origin(i);
                @let status = statuses.and_then(|s| s.get(i).copied()).unwrap_or("step");
                g class={"node s-" (status)} transform={"translate(" (x) "," (y) ")"} data-step=(names[i]) {
                    rect width=(NODE_W) height=(NODE_H) rx="6" {}
                    text.name x="10" y="19" { (clip(&names[i], 20)) }
                    text.kind x="10" y="36" {
                        (action.kind())
                        @if action.for_each().is_some() { " · for each" }
                        @if statuses.is_some() { " · " (status) }
                    }
                }
            }
        }
    }
}

/// The graph in words, for screen readers: "fetch (succeeded), then transform after fetch".
fn describe(graph: &StepGraph, names: &[String], statuses: Option<&[&str]>) -> String {
    (0..names.len())
        .map(|i| {
            let status = statuses
                .and_then(|s| s.get(i))
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let after: Vec<&str> = graph
                .dependencies(i)
                .iter()
                .map(|&j| names[j].as_str())
                .collect();
            if after.is_empty() {
                format!("{}{status} starts", names[i])
            } else {
                format!("{}{status} after {}", names[i], after.join(" and "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::decode_workflow_spec;

    fn actions(json: &str) -> Vec<Action> {
        let spec =
            format!(r#"{{"workflowId":"g","trigger":{{"type":"manual"}},"actions":{json}}}"#);
        decode_workflow_spec(spec.as_bytes()).unwrap().actions
    }

    #[test]
    fn a_list_is_a_column_and_parallel_roots_share_the_first_row() {
        let chain = actions(r#"[{"type":"log","message":"a"},{"type":"log","message":"b"}]"#);
        let l = layout(&StepGraph::of(&chain).unwrap());
        assert_eq!((l.cells, l.rows, l.columns), (vec![(0, 0), (1, 0)], 2, 1));

        let diamond = actions(
            r#"[{"id":"a","type":"log","message":"a","depends":[]},
                {"id":"b","type":"log","message":"b","depends":[]},
                {"id":"c","type":"log","message":"c","depends":["a","b"]}]"#,
        );
        let graph = StepGraph::of(&diamond).unwrap();
        let l = layout(&graph);
        assert_eq!(
            (l.cells, l.rows, l.columns),
            (vec![(0, 0), (0, 1), (1, 0)], 2, 2)
        );
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            describe(&graph, &names, Some(&["succeeded", "failed", "skipped"])),
            "a (succeeded) starts; b (failed) starts; c (skipped) after a and b"
        );
    }

    #[test]
    fn each_step_is_drawn_with_its_status() {
        let chain =
            actions(r#"[{"id":"fetch","type":"log","message":"a"},{"type":"log","message":"b"}]"#);
        let svg = svg(&chain, Some(&["succeeded", "running"])).into_string();
        assert!(svg.contains(r#"class="node s-succeeded""#), "{svg}");
        assert!(svg.contains(r##"data-step="#2""##), "{svg}");
        assert_eq!(svg.matches("<path class=\"edge\"").count(), 1, "{svg}");
    }
}
