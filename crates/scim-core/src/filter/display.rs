//! Canonical filter text: `impl Display for Filter`.
//!
//! The rendering parses back to the identical tree: operators and keywords in lower case,
//! single spaces, strings JSON-escaped, and parentheses exactly where precedence and the
//! left associativity of `and`/`or` need them (`a or (b or c)` keeps its parentheses,
//! `(a or b) or c` loses them). `not` is always written `not (…)`, as the RFC requires.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{CompValue, Filter};

/// Binding strength: `or` binds loosest, then `and`, then everything else.
fn strength(f: &Filter) -> u8 {
    match f {
        Filter::Or(..) => 1,
        Filter::And(..) => 2,
        _ => 3,
    }
}

/// Writes `f`, in parentheses when it binds looser than `min`.
fn write_operand(out: &mut Formatter<'_>, f: &Filter, min: u8) -> fmt::Result {
    if strength(f) < min {
        write!(out, "({f})")
    } else {
        write!(out, "{f}")
    }
}

/// Writes an `and` or `or` node and the same operator down its left spine, in a loop
/// rather than by recursion (the parser builds `a or b or c …` left-deep). Left operands
/// may be the same operator (left associativity); right operands must bind tighter.
fn write_chain(out: &mut Formatter<'_>, f: &Filter) -> fmt::Result {
    let (keyword, min) = match f {
        Filter::And(..) => (" and ", 2),
        _ => (" or ", 1),
    };
    let mut rights = Vec::new();
    let mut node = f;
    loop {
        match node {
            Filter::And(l, r) if min == 2 => {
                rights.push(r);
                node = l;
            }
            Filter::Or(l, r) if min == 1 => {
                rights.push(r);
                node = l;
            }
            _ => break,
        }
    }
    write_operand(out, node, min)?;
    for r in rights.iter().rev() {
        out.write_str(keyword)?;
        write_operand(out, r, min + 1)?;
    }
    Ok(())
}

impl Display for Filter {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Or(..) | Filter::And(..) => write_chain(out, self),
            Filter::Not(inner) => write!(out, "not ({inner})"),
            Filter::Compare { path, op, value } => {
                write!(out, "{path} {} {value}", op.as_str())
            }
            Filter::Present(path) => write!(out, "{path} pr"),
            Filter::ValuePath { attr, filter } => write!(out, "{attr}[{filter}]"),
        }
    }
}

impl Display for CompValue {
    /// The value as a JSON literal.
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => out.write_str("null"),
            CompValue::Bool(b) => write!(out, "{b}"),
            CompValue::Number(n) => write!(out, "{n}"),
            CompValue::String(s) => write_json_string(out, s),
        }
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_json_string(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{8}' => out.write_str("\\b")?,
            '\u{c}' => out.write_str("\\f")?,
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::ast::CompareOp;
    use crate::filter::parse_filter;
    use crate::path::AttrPath;

    fn cmp(attr: &str, value: CompValue) -> Filter {
        Filter::Compare {
            path: AttrPath::simple(attr),
            op: CompareOp::Eq,
            value,
        }
    }

    fn pr(attr: &str) -> Filter {
        Filter::Present(AttrPath::simple(attr))
    }

    fn b(f: Filter) -> Box<Filter> {
        Box::new(f)
    }

    /// Renders `f`, checks the rendering, and checks that it parses back to `f`.
    fn check(f: Filter, expected: &str) {
        let text = f.to_string();
        assert_eq!(text, expected);
        assert_eq!(parse_filter(&text).unwrap(), f, "{text}");
    }

    #[test]
    fn parenthesises_by_precedence_and_associativity() {
        check(
            Filter::Or(b(Filter::Or(b(pr("a")), b(pr("b")))), b(pr("c"))),
            "a pr or b pr or c pr",
        );
        check(
            Filter::Or(b(pr("a")), b(Filter::Or(b(pr("b")), b(pr("c"))))),
            "a pr or (b pr or c pr)",
        );
        check(
            Filter::And(b(Filter::Or(b(pr("a")), b(pr("b")))), b(pr("c"))),
            "(a pr or b pr) and c pr",
        );
        check(
            Filter::Or(b(pr("a")), b(Filter::And(b(pr("b")), b(pr("c"))))),
            "a pr or b pr and c pr",
        );
        check(
            Filter::And(b(pr("a")), b(Filter::And(b(pr("b")), b(pr("c"))))),
            "a pr and (b pr and c pr)",
        );
        check(
            Filter::Not(b(Filter::Or(b(pr("a")), b(pr("b"))))),
            "not (a pr or b pr)",
        );
        check(
            Filter::ValuePath {
                attr: AttrPath::simple("emails"),
                filter: b(Filter::And(
                    b(cmp("type", CompValue::String("work".into()))),
                    b(pr("value")),
                )),
            },
            r#"emails[type eq "work" and value pr]"#,
        );
    }

    #[test]
    fn values_render_as_json_literals() {
        check(cmp("a", CompValue::Null), "a eq null");
        check(cmp("a", CompValue::Bool(false)), "a eq false");
        check(cmp("a", CompValue::Number((-7).into())), "a eq -7");
        check(
            cmp(
                "a",
                CompValue::Number(serde_json::Number::from_f64(0.1).unwrap()),
            ),
            "a eq 0.1",
        );
        check(
            cmp(
                "a",
                CompValue::String("q\"b\\s/\n\r\t\u{8}\u{c}\u{1}é😀".into()),
            ),
            r#"a eq "q\"b\\s/\n\r\t\b\f\u0001é😀""#,
        );
    }

    #[test]
    fn keyword_named_attributes_round_trip() {
        check(pr("not"), "not pr");
        check(cmp("and", CompValue::Bool(true)), "and eq true");
        check(Filter::Or(b(pr("or")), b(pr("and"))), "or pr or and pr");
        check(
            Filter::ValuePath {
                attr: AttrPath::simple("not"),
                filter: b(pr("pr")),
            },
            "not[pr pr]",
        );
    }
}
