//! Templates in action fields (minijinja): `{{ inputs.profileId }}`,
//! `{{ steps.lookup.output.body.kind }}`, `{{ execution.id }}`. A string without `{{` or `{%`
//! is taken literally, as before; a string that is exactly one `{{ … }}` keeps the JSON type of
//! its value (an object stays an object). References are checked when the workflow is saved,
//! so that a typo fails then and not at run time; an undefined value at run time is an error
//! too (strict), and fuel and a recursion limit bound what a template may cost.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;
use std::sync::OnceLock;

/// Instructions one rendering may run: plenty for any field, and a `range(10**9)` loop stops.
const FUEL: u64 = 50_000;
const RECURSION_LIMIT: usize = 32;

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        env
    })
}

/// Whether a string is a template at all.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// `{{ expr }}` and nothing else: the expression.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !text.contains("{%")).then_some(inner.trim())
}

/// Whether a string is exactly one `{{ … }}`: its value's type is known only when it runs.
pub fn is_sole_expression(text: &str) -> bool {
    sole_expression(text).is_some()
}

/// What the templates of one action may refer to.
pub struct Scope<'a> {
    /// The declared inputs.
    pub inputs: Vec<&'a str>,
    /// The ids of the steps that finish before this one starts.
    pub steps: Vec<&'a str>,
    /// Whether `item` is defined: in the fields of a step with `forEach`, not in its `items`.
    pub item: bool,
}

/// Checks a field's template when the workflow is saved: it parses, and every name it reads
/// is a declared input, an upstream step or the execution.
pub fn check(text: &str, scope: &Scope) -> Result<(), String> {
    if !is_template(text) {
        return Ok(());
    }
    check_names(names(text)?, scope)
}

/// Checks a bare expression (`when`, `switch.value`, `forEach.items`); its `{{ … }}` form too.
pub fn check_expression(text: &str, scope: &Scope) -> Result<(), String> {
    let expr = sole_expression(text).unwrap_or(text);
    let names = environment()
        .compile_expression(expr)
        .map_err(|e| e.to_string())?
        .undeclared_variables(true);
    check_names(names.into_iter().collect(), scope)
}

/// Evaluates a bare expression against `context`.
pub fn eval_expression(text: &str, context: &minijinja::Value) -> Result<Value, String> {
    let expr = sole_expression(text).unwrap_or(text);
    let found = environment()
        .compile_expression(expr)
        .and_then(|e| e.eval(context))
        .map_err(|e| e.to_string())?;
    if found.is_undefined() {
        return Err(format!("`{}` is undefined", expr.trim()));
    }
    serde_json::to_value(&found).map_err(|e| e.to_string())
}

/// The dotted names a template (or a bare expression) reads, e.g. `steps.a.output.body`;
/// none when it does not parse.
pub fn references(text: &str) -> Vec<String> {
    let found = match is_template(text) {
        true => names(text).ok(),
        false => environment()
            .compile_expression(text)
            .ok()
            .map(|e| e.undeclared_variables(true).into_iter().collect()),
    };
    found.unwrap_or_default()
}

fn names(text: &str) -> Result<Vec<String>, String> {
    let env = environment();
    let names = match sole_expression(text) {
        Some(expr) => env
            .compile_expression(expr)
            .map_err(|e| e.to_string())?
            .undeclared_variables(true),
        None => env
            .template_from_str(text)
            .map_err(|e| e.to_string())?
            .undeclared_variables(true),
    };
    Ok(names.into_iter().collect())
}

fn check_names(names: Vec<String>, scope: &Scope) -> Result<(), String> {
    let env = environment();
    // The environment's own globals (`range`, `dict`, `namespace`) are not references.
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|name| {
            let root = name.split('.').next().unwrap_or_default();
            !env.globals().any(|(global, _)| global == root)
        })
        .collect();
    names.sort();
    names
        .iter()
        .try_for_each(|name| check_reference(name, scope))
}

fn check_reference(name: &str, scope: &Scope) -> Result<(), String> {
    let mut parts = name.split('.');
    match (parts.next().unwrap_or_default(), parts.next()) {
        ("inputs", Some(input)) if !scope.inputs.contains(&input) => {
            Err(format!("`inputs.{input}` is not a declared input"))
        }
        ("steps", Some(step)) if !scope.steps.contains(&step) => Err(format!(
            "`steps.{step}` is not a step this one depends on (directly or through others)"
        )),
        ("item", _) if scope.item => Ok(()),
        ("item", _) => Err(
            "`item` is defined only in a step with `forEach` (and not in its `items`)".to_string(),
        ),
        // Secrets live with the runners; a name they lack fails the step when it runs.
        ("inputs" | "steps" | "execution" | "secrets", _) => Ok(()),
        (other, _) => Err(format!(
            "`{other}` is not known here; a template reads inputs, steps, execution and secrets"
        )),
    }
}

/// Renders the templates in `value` (its strings, at any depth) against `context`.
pub fn render_value(value: &Value, context: &minijinja::Value) -> Result<Value, String> {
    match value {
        Value::String(text) if is_template(text) => match sole_expression(text) {
            Some(_) => eval_expression(text, context),
            None => render_text(text, context).map(Value::String),
        },
        Value::Array(items) => items.iter().map(|v| render_value(v, context)).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_value(v, context)?)))
            .collect::<Result<serde_json::Map<_, _>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Renders a field that is always text (a URL, a header, a log message).
pub fn render_text(text: &str, context: &minijinja::Value) -> Result<String, String> {
    if !is_template(text) {
        return Ok(text.to_string());
    }
    environment()
        .render_str(text, context)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope<'static> {
        Scope {
            inputs: vec!["profileId"],
            steps: vec!["lookup"],
            item: false,
        }
    }

    #[test]
    fn references_are_checked_when_saved() {
        assert!(check("plain text", &scope()).is_ok());
        assert!(check("{{ steps.lookup.output.body.kind }}", &scope()).is_ok());
        assert!(check("id={{ inputs.profileId }}&e={{ execution.id }}", &scope()).is_ok());
        assert!(check("{% for i in range(3) %}{{ i }}{% endfor %}", &scope()).is_ok());
        let errors = [
            ("{{ steps.later.output }}", "steps.later"),
            ("{{ inputs.nope }}", "inputs.nope"),
            ("{{ item }}", "`item`"),
            ("{{ steps.lookup.output", "syntax error"),
        ];
        for (text, says) in errors {
            let err = check(text, &scope()).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn bare_expressions_are_checked_and_evaluated() {
        assert!(check_expression("inputs.profileId == 'x'", &scope()).is_ok());
        assert!(check_expression("{{ steps.lookup.output.body }}", &scope()).is_ok());
        assert!(check_expression("steps.nope.output", &scope())
            .unwrap_err()
            .contains("steps.nope"));
        assert!(check_expression("item", &scope())
            .unwrap_err()
            .contains("forEach"));
        let fan_out = Scope {
            item: true,
            ..scope()
        };
        assert!(check_expression("item.id", &fan_out).is_ok());
        let ctx = minijinja::Value::from_serialize(json!({"inputs": {"n": 3, "list": [1, 2]}}));
        assert_eq!(eval_expression("inputs.n > 2", &ctx).unwrap(), json!(true));
        assert_eq!(
            eval_expression("{{ inputs.list }}", &ctx).unwrap(),
            json!([1, 2])
        );
        assert!(eval_expression("inputs.missing", &ctx).is_err());
        assert_eq!(
            references("steps.a.output.body.x"),
            vec!["steps.a.output.body.x"]
        );
    }

    #[test]
    fn a_sole_expression_keeps_its_type_and_text_is_rendered() {
        let ctx = minijinja::Value::from_serialize(json!({
            "steps": {"a": {"output": {"body": {"id": 42, "tags": ["x"]}}}}
        }));
        let body = json!({"id": "{{ steps.a.output.body.id }}", "all": "{{ steps.a.output.body }}",
            "note": "id {{ steps.a.output.body.id }}", "n": 1});
        assert_eq!(
            render_value(&body, &ctx).unwrap(),
            json!({"id": 42, "all": {"id": 42, "tags": ["x"]}, "note": "id 42", "n": 1})
        );
        assert!(render_text("{{ steps.b.output }}", &ctx)
            .unwrap_err()
            .contains("undefined"));
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let ctx = minijinja::Value::from_serialize(json!({}));
        let nested =
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}";
        let err = render_text(nested, &ctx).unwrap_err();
        assert!(err.contains("fuel"), "{err}");
    }
}
