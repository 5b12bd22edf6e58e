//! Templates: text with `{expression}` holes, parsed by hand.
//!
//! ```text
//! template   := ( text | "{{" | "}}" | "{" expression "}" )*
//! expression := term ( "|" filter )*
//! term       := field | string | number | "true" | "false" | "null"
//! field      := name-char+ ( "[" … "]" name-char* )*   |   "`" any-but-backtick+ "`"
//! filter     := identifier ( "(" literal ( "," literal )* ")" )?
//! string     := "'" … "'" | '"' … '"'          (backslash escapes \\ \' \" \n \t)
//! ```
//!
//! A template that is exactly one `{expression}` keeps the expression's type (boolean, list,
//! null, number); any other template is text, with null holes written as nothing and the
//! whole template null when every hole is null.

use serde_json::Value;

use crate::filter::{Filter, FilterKind};

/// Where a template failed to parse: a character offset into the template and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Character (not byte) offset into the template text.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Expr),
}

/// One `{…}` expression: a term and its filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression starts from.
    pub term: Term,
    /// The filters applied to it, left to right (`| lower | trim`).
    pub filters: Vec<Filter>,
}

/// The start of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A named field of the input (a record's column, or a SCIM attribute path).
    Field(String),
    /// A literal: a quoted string, a number, `true`, `false` or `null`.
    Literal(Value),
}

/// What a template reads: named fields. Records and SCIM resources both implement it.
pub trait Fields {
    /// The value of the field `name`, or `None` when it is absent.
    fn field(&self, name: &str) -> Option<Value>;
}

/// A template's evaluation failed for one input (a filter got a value it cannot handle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

impl Template {
    /// Parses template text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Parser::new(text).template()
    }

    /// The field names the template reads, in order of appearance.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(Expr {
                term: Term::Field(f),
                ..
            }) => Some(f.as_str()),
            _ => None,
        })
    }

    /// The field this template copies when it is exactly `{field}` (optionally through
    /// case or trim filters): such a rule can be read back in the other direction.
    pub fn single_field(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [
                Part::Expr(Expr {
                    term: Term::Field(f),
                    filters,
                }),
            ] if filters.iter().all(|f| {
                matches!(
                    f.kind,
                    FilterKind::Lower | FilterKind::Upper | FilterKind::Trim
                )
            }) =>
            {
                Some(f)
            }
            _ => None,
        }
    }

    /// Evaluates the template against one input.
    pub fn eval(&self, input: &dyn Fields) -> Result<Value, EvalError> {
        if let [Part::Expr(e)] = self.parts.as_slice() {
            return e.eval(input);
        }
        let mut out = String::new();
        let mut holes = 0usize;
        let mut null_holes = 0usize;
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => {
                    holes += 1;
                    match e.eval(input)? {
                        Value::Null => null_holes += 1,
                        v => out.push_str(&crate::filter::to_text(&v)),
                    }
                }
            }
        }
        if holes > 0 && holes == null_holes {
            return Ok(Value::Null);
        }
        Ok(Value::String(out))
    }
}

impl Expr {
    fn eval(&self, input: &dyn Fields) -> Result<Value, EvalError> {
        let mut v = match &self.term {
            Term::Field(name) => input.field(name).unwrap_or(Value::Null),
            Term::Literal(v) => v.clone(),
        };
        for f in &self.filters {
            v = f.apply(v)?;
        }
        Ok(v)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn err<T>(&self, offset: usize, reason: impl Into<String>) -> Result<T, TemplateError> {
        Err(TemplateError {
            offset,
            reason: reason.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn template(mut self) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            match c {
                '{' if self.chars.get(self.pos + 1) == Some(&'{') => {
                    text.push('{');
                    self.pos += 2;
                }
                '}' if self.chars.get(self.pos + 1) == Some(&'}') => {
                    text.push('}');
                    self.pos += 2;
                }
                '}' => return self.err(self.pos, "unmatched '}' (write '}}' for a literal brace)"),
                '{' => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    let open = self.pos;
                    self.pos += 1;
                    let e = self.expr()?;
                    self.skip_ws();
                    match self.peek() {
                        Some('}') => self.pos += 1,
                        Some(c) => {
                            return self
                                .err(self.pos, format!("expected '|' or '}}', found '{c}'"));
                        }
                        None => return self.err(open, "unclosed '{'"),
                    }
                    parts.push(Part::Expr(e));
                }
                c => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    fn expr(&mut self) -> Result<Expr, TemplateError> {
        self.skip_ws();
        let term = self.term()?;
        let mut filters = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() != Some('|') {
                break;
            }
            self.pos += 1;
            self.skip_ws();
            filters.push(self.filter()?);
        }
        Ok(Expr { term, filters })
    }

    fn term(&mut self) -> Result<Term, TemplateError> {
        let start = self.pos;
        match self.peek() {
            None => self.err(start, "expected a field name or a literal, found the end"),
            Some('\'' | '"') => Ok(Term::Literal(Value::String(self.string()?))),
            Some('`') => {
                self.pos += 1;
                let mut name = String::new();
                loop {
                    match self.peek() {
                        None => return self.err(start, "unclosed '`'"),
                        Some('`') => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => {
                            name.push(c);
                            self.pos += 1;
                        }
                    }
                }
                if name.trim().is_empty() {
                    return self.err(start, "empty field name");
                }
                Ok(Term::Field(name))
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let n = self.number()?;
                Ok(Term::Literal(n))
            }
            Some(c) if is_name_char(c) => {
                let name = self.field_name()?;
                Ok(match name.as_str() {
                    "true" => Term::Literal(Value::Bool(true)),
                    "false" => Term::Literal(Value::Bool(false)),
                    "null" => Term::Literal(Value::Null),
                    _ => Term::Field(name),
                })
            }
            Some(c) => self.err(
                start,
                format!("expected a field name or a literal, found '{c}'"),
            ),
        }
    }

    fn field_name(&mut self) -> Result<String, TemplateError> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if is_name_char(c) {
                name.push(c);
                self.pos += 1;
            } else if c == '[' {
                // A value filter of a SCIM path: copy through to the matching ']'.
                let open = self.pos;
                let mut quote: Option<char> = None;
                loop {
                    let Some(c) = self.peek() else {
                        return self.err(open, "unclosed '['");
                    };
                    name.push(c);
                    self.pos += 1;
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), '\\') => {
                            if let Some(n) = self.peek() {
                                name.push(n);
                                self.pos += 1;
                            }
                        }
                        (None, '"' | '\'') => quote = Some(c),
                        (None, ']') => break,
                        _ => {}
                    }
                }
            } else {
                break;
            }
        }
        Ok(name)
    }

    fn number(&mut self) -> Result<Value, TemplateError> {
        let start = self.pos;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '.' | 'e' | 'E' | '+') {
                s.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if let Ok(i) = s.parse::<i64>() {
            return Ok(Value::from(i));
        }
        match s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) => Ok(Value::Number(n)),
            None => self.err(start, format!("'{s}' is not a number")),
        }
    }

    fn string(&mut self) -> Result<String, TemplateError> {
        let start = self.pos;
        let Some(q) = self.peek() else {
            return self.err(start, "expected a string");
        };
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return self.err(start, "unclosed string"),
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(c @ ('\\' | '\'' | '"')) => s.push(c),
                        Some(c) => return self.err(self.pos, format!("unknown escape '\\{c}'")),
                        None => return self.err(start, "unclosed string"),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn filter(&mut self) -> Result<Filter, TemplateError> {
        let start = self.pos;
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if name.is_empty() {
            return self.err(start, "expected a filter name after '|'");
        }
        let Some(kind) = FilterKind::from_name(&name) else {
            return self.err(
                start,
                format!(
                    "unknown filter '{name}' (known: {})",
                    FilterKind::NAMES.join(", ")
                ),
            );
        };
        self.skip_ws();
        let mut args = Vec::new();
        if self.peek() == Some('(') {
            self.pos += 1;
            loop {
                self.skip_ws();
                if self.peek() == Some(')') && args.is_empty() {
                    self.pos += 1;
                    break;
                }
                let arg = match self.peek() {
                    Some('\'' | '"') => Value::String(self.string()?),
                    Some(c) if c.is_ascii_digit() || c == '-' => self.number()?,
                    Some(c) if c.is_ascii_alphabetic() => {
                        let at = self.pos;
                        let word = self.field_name()?;
                        match word.as_str() {
                            "true" => Value::Bool(true),
                            "false" => Value::Bool(false),
                            "null" => Value::Null,
                            _ => {
                                return self.err(
                                    at,
                                    format!(
                                        "filter arguments are literals; quote '{word}' if it is text"
                                    ),
                                );
                            }
                        }
                    }
                    Some(c) => {
                        return self.err(self.pos, format!("expected a literal, found '{c}'"));
                    }
                    None => return self.err(start, "unclosed '(' in filter arguments"),
                };
                args.push(arg);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) => {
                        return self.err(self.pos, format!("expected ',' or ')', found '{c}'"));
                    }
                    None => return self.err(start, "unclosed '(' in filter arguments"),
                }
            }
        }
        if let Err(reason) = kind.check_arity(args.len()) {
            return self.err(start, reason);
        }
        Ok(Filter { kind, args })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '$' | '@' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Map(serde_json::Map<String, Value>);
    impl Fields for Map {
        fn field(&self, name: &str) -> Option<Value> {
            self.0.get(name).cloned()
        }
    }
    fn input(v: Value) -> Map {
        match v {
            Value::Object(m) => Map(m),
            _ => Map(Default::default()),
        }
    }
    fn eval(t: &str, v: Value) -> Value {
        match Template::parse(t) {
            Ok(t) => t
                .eval(&input(v))
                .unwrap_or_else(|e| Value::String(format!("ERR {e}"))),
            Err(e) => Value::String(format!("PARSE {e:?}")),
        }
    }

    #[test]
    fn single_expression_keeps_its_type() {
        assert_eq!(eval("{a}", json!({"a": [1, 2]})), json!([1, 2]));
        assert_eq!(eval("{true}", json!({})), json!(true));
        assert_eq!(eval("{a}", json!({})), Value::Null);
        assert_eq!(eval("{ 42 }", json!({})), json!(42));
    }

    #[test]
    fn text_template_joins_and_all_null_is_null() {
        assert_eq!(
            eval("{f} {l}", json!({"f": "Ann", "l": "Lee"})),
            json!("Ann Lee")
        );
        assert_eq!(eval("{f} {l}", json!({"f": "Ann"})), json!("Ann "));
        assert_eq!(eval("{f} {l}", json!({})), Value::Null);
        assert_eq!(eval("x{{y}}", json!({})), json!("x{y}"));
        assert_eq!(eval("plain", json!({})), json!("plain"));
    }

    #[test]
    fn fields_with_brackets_and_backticks() {
        let t = Template::parse(r#"{emails[type eq "work"].value | lower}"#);
        assert!(
            matches!(t, Ok(ref t) if t.single_field() == Some(r#"emails[type eq "work"].value"#))
        );
        assert_eq!(
            eval("{`Employee ID`}", json!({"Employee ID": "7"})),
            json!("7")
        );
    }

    #[test]
    fn parse_errors_have_positions() {
        let e = Template::parse("{a | lowr}").err();
        assert_eq!(e.as_ref().map(|e| e.offset), Some(5));
        assert!(e.is_some_and(|e| e.reason.contains("unknown filter 'lowr'")));
        assert_eq!(Template::parse("ab {a").err().map(|e| e.offset), Some(3));
        assert_eq!(Template::parse("a}b").err().map(|e| e.offset), Some(1));
        assert!(Template::parse("{a | default}").is_err());
        assert!(Template::parse("{a | split(x)}").is_err());
        assert!(Template::parse("{}").is_err());
        assert!(Template::parse("{'abc}").is_err());
    }
}
