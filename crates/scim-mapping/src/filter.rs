//! The filters of the mapping language (`{field | lower}`), and what each does to a value.

use serde_json::Value;

use crate::template::EvalError;

/// A filter and its literal arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Which filter.
    pub kind: FilterKind,
    /// Its literal arguments (`default("none")`: one string).
    pub args: Vec<Value>,
}

/// Every filter the language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Lower case (text, or every text in a list).
    Lower,
    /// Upper case.
    Upper,
    /// Strip surrounding white space.
    Trim,
    /// `default(x)`: `x` when the value is null or empty text.
    Default,
    /// `split(sep)`: text → list of non-empty trimmed parts.
    Split,
    /// `join(sep)`: list → text.
    Join,
    /// `first`: the first element of a list.
    First,
    /// `eq(x)`: true when equal to `x` (text compared case-insensitively).
    Eq,
    /// `ne(x)`: the opposite of `eq`.
    Ne,
    /// `in(a, b, …)`: true when equal to one of the arguments.
    In,
    /// `bool`: "true/yes/y/1/active" → true, "false/no/n/0/inactive/''" → false.
    Bool,
    /// `present`: true when the value is neither null nor empty.
    Present,
    /// `not`: negates a boolean (null counts as false).
    Not,
    /// `if(a, b)`: `a` when the value is true-ish, else `b` (`b` defaults to null).
    If,
    /// `replace(from, to)`: replaces every occurrence in text.
    Replace,
    /// `int`: text → integer.
    Int,
    /// `string`: any value → its text.
    String,
}

impl FilterKind {
    /// Every filter's name, as written in templates.
    pub const NAMES: &'static [&'static str] = &[
        "lower", "upper", "trim", "default", "split", "join", "first", "eq", "ne", "in", "bool",
        "present", "not", "if", "replace", "int", "string",
    ];

    /// The filter of this name (`None`: no such filter).
    pub fn from_name(name: &str) -> Option<FilterKind> {
        Some(match name {
            "lower" => FilterKind::Lower,
            "upper" => FilterKind::Upper,
            "trim" => FilterKind::Trim,
            "default" => FilterKind::Default,
            "split" => FilterKind::Split,
            "join" => FilterKind::Join,
            "first" => FilterKind::First,
            "eq" => FilterKind::Eq,
            "ne" => FilterKind::Ne,
            "in" => FilterKind::In,
            "bool" => FilterKind::Bool,
            "present" => FilterKind::Present,
            "not" => FilterKind::Not,
            "if" => FilterKind::If,
            "replace" => FilterKind::Replace,
            "int" => FilterKind::Int,
            "string" => FilterKind::String,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        let i = self as usize;
        Self::NAMES.get(i).copied().unwrap_or("?")
    }

    /// Checks the number of arguments at load time.
    pub fn check_arity(self, n: usize) -> Result<(), String> {
        let (min, max) = match self {
            FilterKind::Lower
            | FilterKind::Upper
            | FilterKind::Trim
            | FilterKind::First
            | FilterKind::Bool
            | FilterKind::Present
            | FilterKind::Not
            | FilterKind::Int
            | FilterKind::String => (0, 0),
            FilterKind::Default | FilterKind::Eq | FilterKind::Ne => (1, 1),
            FilterKind::Split | FilterKind::Join => (0, 1),
            FilterKind::In => (1, usize::MAX),
            FilterKind::If => (1, 2),
            FilterKind::Replace => (2, 2),
        };
        if n < min || n > max {
            let want = match (min, max) {
                (0, 0) => "no arguments".to_string(),
                (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
                (a, usize::MAX) => format!("at least {a} argument(s)"),
                (a, b) => format!("{a} to {b} arguments"),
            };
            return Err(format!("filter '{}' takes {want}, got {n}", self.name()));
        }
        Ok(())
    }
}

/// The text of a value, as a template writes it.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(to_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::String(x), other) | (other, Value::String(x)) if !other.is_null() => {
            x.eq_ignore_ascii_case(&to_text(other))
        }
        _ => a == b,
    }
}

fn map_text(v: Value, f: impl Fn(&str) -> String + Copy) -> Value {
    match v {
        Value::String(s) => Value::String(f(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|i| map_text(i, f)).collect()),
        other => other,
    }
}

fn arg_text(args: &[Value], i: usize, default: &str) -> String {
    args.get(i)
        .map(to_text)
        .unwrap_or_else(|| default.to_string())
}

impl Filter {
    /// Applies the filter to a value.
    pub fn apply(&self, v: Value) -> Result<Value, EvalError> {
        let a = &self.args;
        Ok(match self.kind {
            FilterKind::Lower => map_text(v, str::to_lowercase),
            FilterKind::Upper => map_text(v, str::to_uppercase),
            FilterKind::Trim => map_text(v, |s| s.trim().to_string()),
            FilterKind::Default => match &v {
                Value::Null => a.first().cloned().unwrap_or(Value::Null),
                Value::String(s) if s.trim().is_empty() => {
                    a.first().cloned().unwrap_or(Value::Null)
                }
                _ => v,
            },
            FilterKind::Split => {
                let sep = arg_text(a, 0, ",");
                match v {
                    Value::String(s) if sep.is_empty() => Value::Array(
                        s.split_whitespace()
                            .map(|p| Value::String(p.to_string()))
                            .collect(),
                    ),
                    Value::String(s) => Value::Array(
                        s.split(sep.as_str())
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(|p| Value::String(p.to_string()))
                            .collect(),
                    ),
                    other => other,
                }
            }
            FilterKind::Join => {
                let sep = arg_text(a, 0, ",");
                match v {
                    Value::Array(items) => Value::String(
                        items
                            .iter()
                            .filter(|i| !i.is_null())
                            .map(to_text)
                            .collect::<Vec<_>>()
                            .join(&sep),
                    ),
                    other => other,
                }
            }
            FilterKind::First => match v {
                Value::Array(items) => items.into_iter().next().unwrap_or(Value::Null),
                other => other,
            },
            FilterKind::Eq => Value::Bool(a.first().is_some_and(|x| loose_eq(&v, x))),
            FilterKind::Ne => Value::Bool(!a.first().is_some_and(|x| loose_eq(&v, x))),
            FilterKind::In => Value::Bool(a.iter().any(|x| loose_eq(&v, x))),
            FilterKind::Bool => match v {
                Value::Null => Value::Null,
                Value::Bool(b) => Value::Bool(b),
                Value::Number(n) => Value::Bool(n.as_f64().is_some_and(|f| f != 0.0)),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "y" | "1" | "active" | "on" => Value::Bool(true),
                    "false" | "no" | "n" | "0" | "inactive" | "off" | "" => Value::Bool(false),
                    other => {
                        return Err(EvalError(format!(
                            "'{other}' is not a boolean (true/false, yes/no, 1/0)"
                        )));
                    }
                },
                other => {
                    return Err(EvalError(format!("{other} is not a boolean")));
                }
            },
            FilterKind::Present => Value::Bool(match &v {
                Value::String(s) => !s.trim().is_empty(),
                other => truthy(other) || matches!(other, Value::Bool(false) | Value::Number(_)),
            }),
            FilterKind::Not => Value::Bool(!truthy(&v)),
            FilterKind::If => {
                if truthy(&v) {
                    a.first().cloned().unwrap_or(Value::Null)
                } else {
                    a.get(1).cloned().unwrap_or(Value::Null)
                }
            }
            FilterKind::Replace => {
                let from = arg_text(a, 0, "");
                let to = arg_text(a, 1, "");
                if from.is_empty() {
                    v
                } else {
                    map_text(v, |s| s.replace(from.as_str(), &to))
                }
            }
            FilterKind::Int => match v {
                Value::Null => Value::Null,
                Value::Number(n) if n.is_i64() => Value::Number(n),
                Value::String(s) if s.trim().is_empty() => Value::Null,
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(i) => Value::from(i),
                    Err(_) => return Err(EvalError(format!("'{s}' is not an integer"))),
                },
                other => return Err(EvalError(format!("{other} is not an integer"))),
            },
            FilterKind::String => match v {
                Value::Null => Value::Null,
                other => Value::String(to_text(&other)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(kind: FilterKind, args: Vec<Value>, v: Value) -> Value {
        Filter { kind, args }
            .apply(v)
            .unwrap_or_else(|e| json!(format!("ERR {e}")))
    }

    #[test]
    fn text_filters() {
        assert_eq!(f(FilterKind::Lower, vec![], json!("AbC")), json!("abc"));
        assert_eq!(
            f(FilterKind::Upper, vec![], json!(["a", "b"])),
            json!(["A", "B"])
        );
        assert_eq!(f(FilterKind::Trim, vec![], json!(" a ")), json!("a"));
        assert_eq!(f(FilterKind::Lower, vec![], Value::Null), Value::Null);
        assert_eq!(
            f(
                FilterKind::Replace,
                vec![json!("-"), json!("")],
                json!("a-b-c")
            ),
            json!("abc")
        );
    }

    #[test]
    fn lists() {
        assert_eq!(
            f(FilterKind::Split, vec![json!(";")], json!("a; b;;c")),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            f(FilterKind::Join, vec![json!(" ")], json!(["a", null, "b"])),
            json!("a b")
        );
        assert_eq!(f(FilterKind::First, vec![], json!(["x", "y"])), json!("x"));
        assert_eq!(f(FilterKind::First, vec![], json!([])), Value::Null);
    }

    #[test]
    fn conditions() {
        assert_eq!(
            f(FilterKind::Eq, vec![json!("active")], json!("Active")),
            json!(true)
        );
        assert_eq!(
            f(FilterKind::Ne, vec![json!("x")], Value::Null),
            json!(true)
        );
        assert_eq!(
            f(FilterKind::In, vec![json!("A"), json!("L")], json!("l")),
            json!(true)
        );
        assert_eq!(
            f(FilterKind::In, vec![json!("A")], Value::Null),
            json!(false)
        );
        assert_eq!(f(FilterKind::Bool, vec![], json!("Yes")), json!(true));
        assert_eq!(f(FilterKind::Bool, vec![], json!("")), json!(false));
        assert!(
            Filter {
                kind: FilterKind::Bool,
                args: vec![]
            }
            .apply(json!("maybe"))
            .is_err()
        );
        assert_eq!(
            f(FilterKind::If, vec![json!("a"), json!("b")], json!(false)),
            json!("b")
        );
        assert_eq!(f(FilterKind::Present, vec![], json!("  ")), json!(false));
        assert_eq!(f(FilterKind::Not, vec![], Value::Null), json!(true));
        assert_eq!(
            f(FilterKind::Default, vec![json!("x")], json!("")),
            json!("x")
        );
        assert_eq!(f(FilterKind::Int, vec![], json!(" 12 ")), json!(12));
        assert!(
            Filter {
                kind: FilterKind::Int,
                args: vec![]
            }
            .apply(json!("1x"))
            .is_err()
        );
    }

    #[test]
    fn names_match_kinds() {
        for name in FilterKind::NAMES {
            let kind = FilterKind::from_name(name);
            assert_eq!(kind.map(FilterKind::name), Some(*name));
        }
    }
}
