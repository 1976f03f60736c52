//! Expected against actual work: `expect:` evaluated over the before-snapshot,
//! the change each metric went through, and the anomalies between the two.

use super::{MetricError, RunFacts, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use workflow_core::expr::{eval, Expr};

/// A metric whose change was not the expected one, or that could not be measured.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// The metric's name.
    pub metric: String,
    /// The expected change (`null` when there was no expectation or it could not be computed).
    pub expected: Value,
    /// The actual change, after − before (`null` when it could not be measured).
    pub actual: Value,
    /// What differs, in one sentence.
    pub message: String,
}

/// Evaluates each `expect:` expression over the before-snapshot and the
/// variables: metric → its **expected change** during the run (a number).
///
/// An expression that reads a metric which could not be measured, fails to
/// evaluate, or yields something other than a number gives a [`MetricError`]
/// for its metric, whose expected value is then `null`.
pub fn expected_work(expect: &[(String, Expr)], before: &Snapshot, variables: &Map<String, Value>) -> (Snapshot, Vec<MetricError>) {
    // `expect:` reads only `before.*` and variables (the checks see to it): the
    // facts of a run that has not happened yet are empty.
    let nothing = Snapshot::new();
    let env = RunFacts { status: "", before, after: &nothing, delta: &nothing, variables };
    let mut expected = Snapshot::new();
    let mut errors = Vec::new();
    for (metric, expr) in expect {
        let value = match expected_change(expr, &env) {
            Ok(value) => value,
            Err(message) => {
                errors.push(MetricError::new(metric, format!("cannot compute the expected change `{expr}`: {message}")));
                Value::Null
            }
        };
        expected.insert(metric.clone(), value);
    }
    (expected, errors)
}

fn expected_change(expr: &Expr, env: &RunFacts) -> Result<Value, String> {
    // Say which metric is missing rather than "`-` needs numbers, found null".
    for (path, _) in expr.paths() {
        if let [when, metric] = path {
            if when == "before" && env.before.get(metric).is_none_or(Value::is_null) {
                return Err(format!("metric `{metric}` was not measured before the run"));
            }
        }
    }
    match eval(expr, env).map_err(|e| e.message)? {
        value @ Value::Number(_) => Ok(value),
        other => Err(format!("it must be a number, found {other}")),
    }
}

/// After − before, per metric; `null` where either side is not a number.
///
/// Two ints give an int (a float if it overflows); anything else a float.
/// Every metric of either snapshot has an entry.
pub fn delta(before: &Snapshot, after: &Snapshot) -> Snapshot {
    let names = before.keys().chain(after.keys().filter(|k| !before.contains_key(*k)));
    names.map(|name| (name.clone(), difference(before.get(name), after.get(name)))).collect()
}

fn difference(before: Option<&Value>, after: Option<&Value>) -> Value {
    let (Some(Value::Number(b)), Some(Value::Number(a))) = (before, after) else {
        return Value::Null;
    };
    if let (Some(b), Some(a)) = (b.as_i64(), a.as_i64()) {
        if let Some(d) = a.checked_sub(b) {
            return Value::from(d);
        }
    }
    match (b.as_f64(), a.as_f64()) {
        (Some(b), Some(a)) => serde_json::Number::from_f64(a - b).map_or(Value::Null, Value::Number),
        _ => Value::Null,
    }
}

/// Whether two changes are the same, ints exactly and floats within a relative 1e-9.
fn same_change(expected: &serde_json::Number, actual: &serde_json::Number) -> bool {
    if let (Some(e), Some(a)) = (expected.as_i64(), actual.as_i64()) {
        return e == a;
    }
    match (expected.as_f64(), actual.as_f64()) {
        (Some(e), Some(a)) => (e - a).abs() <= 1e-9 * e.abs().max(a.abs()).max(1.0),
        _ => false,
    }
}

/// A change as people write it: `+559`, `-47`, `0`.
fn signed(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(x) if x > 0.0 => format!("+{n}"),
        _ => n.to_string(),
    }
}

/// The anomalies of a run, given the expected changes (from [`expected_work`]),
/// the actual changes (from [`delta`], **not** the after-snapshot) and every
/// [`MetricError`] met on the way (before, expectation, after).
///
/// One per metric with an expectation whose actual change differs from it,
/// then one per metric with errors (their messages joined). A metric with
/// errors is not also compared: its numbers are already missing.
pub fn anomalies(expected: &Snapshot, delta: &Snapshot, errors: &[MetricError]) -> Vec<Anomaly> {
    let failed = |metric: &str| errors.iter().any(|e| e.metric == metric);
    let mut found = Vec::new();
    for (metric, want) in expected.iter().filter(|(metric, _)| !failed(metric)) {
        let actual = delta.get(metric).cloned().unwrap_or(Value::Null);
        let message = match (want, &actual) {
            (Value::Number(w), Value::Number(a)) if same_change(w, a) => continue,
            (Value::Number(w), Value::Number(a)) => format!("expected `{metric}` to change by {}, but it changed by {}", signed(w), signed(a)),
            (Value::Number(w), _) => format!("expected `{metric}` to change by {}, but its change is not a number ({actual})", signed(w)),
            _ => format!("the expected change of `{metric}` is not a number ({want})"),
        };
        found.push(Anomaly { metric: metric.clone(), expected: want.clone(), actual, message });
    }
    let mut seen: Vec<&str> = Vec::new();
    for error in errors {
        if seen.contains(&error.metric.as_str()) {
            continue;
        }
        seen.push(&error.metric);
        let message = errors.iter().filter(|e| e.metric == error.metric).map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
        found.push(Anomaly {
            metric: error.metric.clone(),
            expected: expected.get(&error.metric).cloned().unwrap_or(Value::Null),
            actual: delta.get(&error.metric).cloned().unwrap_or(Value::Null),
            message,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use workflow_core::expr::parse;

    fn snapshot(v: Value) -> Snapshot {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn literal_expectations_need_no_snapshot() {
        let expect = [("merged".to_string(), parse("1").unwrap())];
        let (expected, errors) = expected_work(&expect, &Snapshot::new(), &Map::new());
        assert_eq!((expected["merged"].clone(), errors), (json!(1), vec![]));
    }

    #[test]
    fn deltas_keep_ints_and_overflow_to_floats() {
        let before = snapshot(json!({"a": i64::MIN, "b": 1.5, "c": "x"}));
        let after = snapshot(json!({"a": i64::MAX, "b": 1, "c": 3, "d": 4}));
        let d = delta(&before, &after);
        assert_eq!(Value::Object(d), json!({"a": 2f64.powi(64), "b": -0.5, "c": null, "d": null}));
    }

    #[test]
    fn float_changes_match_within_tolerance() {
        let (e, a) = (serde_json::Number::from_f64(0.3).unwrap(), serde_json::Number::from_f64(0.1 + 0.2).unwrap());
        assert!(same_change(&e, &a));
        assert!(!same_change(&e, &serde_json::Number::from_f64(0.31).unwrap()));
    }
}
