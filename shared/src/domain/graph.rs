//! The steps of a workflow as a graph: what each step waits for. An action without `depends`
//! waits for the previous one (so a plain list runs in order, as it always did); `depends: []`
//! makes a root; a step a switch names in its cases waits for that switch. The graph is
//! checked when the workflow is saved (unknown ids, cycles) and walked by the runner.

use super::workflow::Action;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
pub struct StepGraph {
    /// For each action, the indices of the actions it waits for.
    dependencies: Vec<Vec<usize>>,
}

/// Why a list of actions is not a graph: the field it is about and a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    pub field: String,
    pub message: String,
}

impl StepGraph {
    /// The graph of `actions`, whose ids are known to be unique.
    pub fn of(actions: &[Action]) -> Result<Self, GraphError> {
        let index_of = |id: &str| actions.iter().position(|a| a.id() == Some(id));
        let mut switched: Vec<Option<usize>> = vec![None; actions.len()];
        for (i, action) in actions.iter().enumerate() {
            let Action::Switch(switch) = action else {
                continue;
            };
            let named = switch
                .cases
                .iter()
                .flat_map(|(case, ids)| ids.iter().map(move |id| (format!("cases.{case}"), id)))
                .chain(switch.default.iter().map(|id| ("default".to_string(), id)));
            for (field, id) in named {
                let Some(target) = index_of(id) else {
                    return Err(GraphError {
                        field: format!("actions[{i}].{field}"),
                        message: format!("`{id}` is not the id of a step of this workflow"),
                    });
                };
                match switched[target] {
                    Some(other) if other != i => {
                        return Err(GraphError {
                            field: format!("actions[{i}].{field}"),
                            message: format!(
                                "`{id}` is a branch of the switch at actions[{other}] already; a step belongs to one switch"
                            ),
                        })
                    }
                    _ => switched[target] = Some(i),
                }
            }
        }
        let mut dependencies = Vec::with_capacity(actions.len());
        for (i, action) in actions.iter().enumerate() {
            let mut waits: Vec<usize> = Vec::new();
            match (action.depends(), switched[i]) {
                (Some(ids), _) => {
                    for (j, id) in ids.iter().enumerate() {
                        let field = format!("actions[{i}].depends[{j}]");
                        match index_of(id) {
                            Some(d) if d == i => {
                                return Err(GraphError {
                                    field,
                                    message: format!("`{id}` is this step itself"),
                                })
                            }
                            Some(d) => waits.push(d),
                            None => {
                                return Err(GraphError {
                                    field,
                                    message: format!(
                                        "`{id}` is not the id of a step of this workflow"
                                    ),
                                })
                            }
                        }
                    }
                }
                // A branch waits for its switch, not for whatever is listed before it.
                (None, Some(_)) => {}
                (None, None) if i > 0 => waits.push(i - 1),
                (None, None) => {}
            }
            if let Some(switch) = switched[i] {
                waits.push(switch);
            }
            waits.sort_unstable();
            waits.dedup();
            dependencies.push(waits);
        }
        let graph = Self { dependencies };
        graph.refuse_cycles(actions)?;
        Ok(graph)
    }

    fn refuse_cycles(&self, actions: &[Action]) -> Result<(), GraphError> {
        // Kahn's algorithm: whatever cannot be ordered sits on a cycle.
        let mut waiting: Vec<usize> = self.dependencies.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
        let mut ordered = 0;
        while let Some(done) = ready.pop() {
            ordered += 1;
            for (i, deps) in self.dependencies.iter().enumerate() {
                if deps.contains(&done) {
                    waiting[i] -= 1;
                    if waiting[i] == 0 {
                        ready.push(i);
                    }
                }
            }
        }
        if ordered == waiting.len() {
            return Ok(());
        }
        let on_cycle: Vec<String> = (0..waiting.len())
            .filter(|&i| waiting[i] > 0)
            .map(|i| match actions[i].id() {
                Some(id) => format!("`{id}`"),
                None => format!("actions[{i}]"),
            })
            .collect();
        let first = (0..waiting.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
        Err(GraphError {
            field: format!("actions[{first}].depends"),
            message: format!(
                "the steps {} wait for each other in a cycle",
                on_cycle.join(", ")
            ),
        })
    }

    pub fn len(&self) -> usize {
        self.dependencies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty()
    }

    /// The actions step `i` waits for.
    pub fn dependencies(&self, i: usize) -> &[usize] {
        &self.dependencies[i]
    }

    /// Every step that finishes before step `i` starts: what its templates may read.
    pub fn upstream(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = self.dependencies[i].clone();
        while let Some(d) = todo.pop() {
            if seen.insert(d) {
                todo.extend(&self.dependencies[d]);
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(json: serde_json::Value) -> Vec<Action> {
        serde_json::from_value(json).unwrap()
    }

    fn log(id: &str, depends: Option<&[&str]>) -> serde_json::Value {
        let mut a = serde_json::json!({"type": "log", "id": id, "message": "m"});
        if let Some(d) = depends {
            a["depends"] = serde_json::json!(d);
        }
        a
    }

    #[test]
    fn a_plain_list_is_a_chain_and_an_empty_depends_a_root() {
        let g = StepGraph::of(&actions(serde_json::json!([
            log("a", None),
            log("b", None),
            log("c", Some(&[])),
            log("d", Some(&["a", "c"]))
        ])))
        .unwrap();
        assert_eq!(
            (0..4)
                .map(|i| g.dependencies(i).to_vec())
                .collect::<Vec<_>>(),
            vec![vec![], vec![0], vec![], vec![0, 2]]
        );
        assert_eq!(g.upstream(3), BTreeSet::from([0, 2]));
    }

    #[test]
    fn branches_wait_for_their_switch_and_bad_graphs_are_named() {
        let g = StepGraph::of(&actions(serde_json::json!([
            log("lookup", None),
            {"type": "switch", "id": "route", "value": "steps.lookup.output", "cases": {"gold": ["gold"]}, "default": ["other"]},
            log("gold", None),
            log("other", None),
            log("join", Some(&["gold", "other"]))
        ])))
        .unwrap();
        assert_eq!(g.dependencies(2), &[1]);
        assert_eq!(g.dependencies(3), &[1]);
        assert_eq!(g.upstream(4), BTreeSet::from([0, 1, 2, 3]));
        let cases = [
            (
                serde_json::json!([log("a", Some(&["nope"]))]),
                "actions[0].depends[0]",
                "nope",
            ),
            (
                serde_json::json!([log("a", Some(&["a"]))]),
                "actions[0].depends[0]",
                "itself",
            ),
            (
                serde_json::json!([log("a", Some(&["b"])), log("b", Some(&["a"]))]),
                "actions[0].depends",
                "cycle",
            ),
            (
                serde_json::json!([{"type": "switch", "id": "s", "value": "1", "cases": {"x": ["ghost"]}}]),
                "actions[0].cases.x",
                "ghost",
            ),
        ];
        for (list, field, says) in cases {
            let err = StepGraph::of(&actions(list)).unwrap_err();
            assert_eq!(err.field, field, "{}", err.message);
            assert!(err.message.contains(says), "{}", err.message);
        }
    }
}
