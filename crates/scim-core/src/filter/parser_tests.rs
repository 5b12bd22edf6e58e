//! Parser and rendering tests, driven through one `check` helper.
//!
//! `check(input, expected)`: `expected` is either the parse tree as an S-expression
//! (`(and (pr title) (eq userType "Employee"))`) or `!` followed by the start of the
//! error detail. Every successful parse is also rendered and parsed back.

use super::{
    CompValue, Filter, FilterLimits, parse_element_filter, parse_filter, parse_filter_with,
};
use crate::error::ScimType;

/// The tree in a form that shows its structure.
fn sexpr(f: &Filter) -> String {
    match f {
        Filter::And(l, r) => format!("(and {} {})", sexpr(l), sexpr(r)),
        Filter::Or(l, r) => format!("(or {} {})", sexpr(l), sexpr(r)),
        Filter::Not(f) => format!("(not {})", sexpr(f)),
        Filter::Compare { path, op, value } => format!("({} {path} {value})", op.as_str()),
        Filter::Present(path) => format!("(pr {path})"),
        Filter::ValuePath { attr, filter } => format!("{attr}[{}]", sexpr(filter)),
    }
}

fn outcome(result: crate::error::ScimResult<Filter>) -> String {
    match result {
        Ok(f) => {
            let text = f.to_string();
            let again = parse_filter(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(again, f, "the rendering {text} parses to another tree");
            sexpr(&f)
        }
        Err(e) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
            format!("!{}", e.detail)
        }
    }
}

#[track_caller]
fn check(input: &str, expected: &str) {
    check_result(input, parse_filter(input), expected);
}

#[track_caller]
fn check_result(input: &str, result: crate::error::ScimResult<Filter>, expected: &str) {
    let got = outcome(result);
    if let Some(prefix) = expected.strip_prefix('!') {
        assert!(
            got.strip_prefix('!').is_some_and(|g| g.starts_with(prefix)),
            "input:    {input}\nexpected: {expected}\ngot:      {got}"
        );
    } else {
        assert_eq!(got, expected, "input: {input}");
    }
}

/// The canonical rendering of `input`.
#[track_caller]
fn check_display(input: &str, expected: &str) {
    let f = parse_filter(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(f.to_string(), expected, "input: {input}");
}

#[test]
fn every_comparison_operator() {
    check(r#"userName eq "bjensen""#, r#"(eq userName "bjensen")"#);
    check(r#"title ne "x""#, r#"(ne title "x")"#);
    check(
        r#"name.familyName co "O'Malley""#,
        r#"(co name.familyName "O'Malley")"#,
    );
    check(r#"userName sw "J""#, r#"(sw userName "J")"#);
    check(r#"userName ew "n""#, r#"(ew userName "n")"#);
    check(
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"(gt meta.lastModified "2011-05-13T04:42:34Z")"#,
    );
    check(
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"(ge meta.lastModified "2011-05-13T04:42:34Z")"#,
    );
    check(
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"(lt meta.lastModified "2011-05-13T04:42:34Z")"#,
    );
    check(
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"(le meta.lastModified "2011-05-13T04:42:34Z")"#,
    );
    check("title pr", "(pr title)");
}

#[test]
fn keywords_and_names_are_case_insensitive_and_names_kept_as_written() {
    check(r#"USERNAME EQ "x""#, r#"(eq USERNAME "x")"#);
    check(
        r#"userName Sw "x" AND title PR Or not (x Pr)"#,
        r#"(or (and (sw userName "x") (pr title)) (not (pr x)))"#,
    );
    check_display(
        r#"userName EQ "x" AnD NOT (title pR)"#,
        r#"userName eq "x" and not (title pr)"#,
    );
    check(
        "a eq TRUE or b eq False or c eq NULL",
        "(or (or (eq a true) (eq b false)) (eq c null))",
    );
}

#[test]
fn precedence_not_over_and_over_or() {
    check("a pr or b pr and c pr", "(or (pr a) (and (pr b) (pr c)))");
    check("a pr and b pr or c pr", "(or (and (pr a) (pr b)) (pr c))");
    check("a pr or b pr or c pr", "(or (or (pr a) (pr b)) (pr c))");
    check("a pr and b pr and c pr", "(and (and (pr a) (pr b)) (pr c))");
    check("not (a pr) and b pr", "(and (not (pr a)) (pr b))");
    check(
        "a pr and not (b pr or c pr)",
        "(and (pr a) (not (or (pr b) (pr c))))",
    );
    check("(a pr or b pr) and c pr", "(and (or (pr a) (pr b)) (pr c))");
    check("a pr or (b pr or c pr)", "(or (pr a) (or (pr b) (pr c)))");
    check("((a pr))", "(pr a)");
    check("not (not (a pr))", "(not (not (pr a)))");
}

#[test]
fn rendering_parenthesises_only_where_needed() {
    check_display("(a pr) or ((b pr and c pr))", "a pr or b pr and c pr");
    check_display("(a pr or b pr) and c pr", "(a pr or b pr) and c pr");
    check_display("a pr or (b pr or c pr)", "a pr or (b pr or c pr)");
    check_display("a pr and (b pr and c pr)", "a pr and (b pr and c pr)");
    check_display("(a pr and b pr) and c pr", "a pr and b pr and c pr");
    check_display("not(a pr)", "not (a pr)");
    check_display("a  eq\t\"x\"\n", r#"a eq "x""#);
}

#[test]
fn rfc7644_examples() {
    // The examples of RFC 7644 §3.4.2.2.
    for (input, expected) in [
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"(sw urn:ietf:params:scim:schemas:core:2.0:User:userName "J")"#,
        ),
        (
            r#"title pr and userType eq "Employee""#,
            r#"(and (pr title) (eq userType "Employee"))"#,
        ),
        (
            r#"title pr or userType eq "Intern""#,
            r#"(or (pr title) (eq userType "Intern"))"#,
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"(eq schemas "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")"#,
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"(and (eq userType "Employee") (or (co emails "example.com") (co emails.value "example.org")))"#,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"(and (ne userType "Employee") (not (or (co emails "example.com") (co emails.value "example.org"))))"#,
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"(and (eq userType "Employee") (eq emails.type "work"))"#,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"(and (eq userType "Employee") emails[(and (eq type "work") (co value "@example.com"))])"#,
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            r#"(or emails[(and (eq type "work") (co value "@example.com"))] ims[(and (eq type "xmpp") (co value "@foo.com"))])"#,
        ),
    ] {
        check(input, expected);
    }
}

#[test]
fn urn_qualified_paths() {
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
        r#"(eq urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department "x")"#,
    );
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
        r#"(eq urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value "26118915")"#,
    );
    let f =
        parse_filter("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr")
            .unwrap();
    let Filter::Present(p) = f else {
        panic!("{f:?}")
    };
    assert_eq!(
        p.schema.as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(p.attr, "manager");
    assert_eq!(p.sub_attr.as_deref(), Some("value"));
    check(
        r#"members.$ref eq "https://x/Users/1""#,
        r#"(eq members.$ref "https://x/Users/1")"#,
    );
}

#[test]
fn entra_work_email_value_path_filter() {
    // Microsoft Entra ID matches users on `emails[type eq "work"].value eq "…"`.
    check(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#,
        r#"emails[(and (eq type "work") (eq value "bjensen@example.com"))]"#,
    );
    check_display(
        r#"emails[type eq "work"].value eq "a@x""#,
        r#"emails[type eq "work" and value eq "a@x"]"#,
    );
    // The bracket filter keeps its own grouping when a tail is added.
    check(
        r#"emails[type eq "work" or type eq "home"].value pr"#,
        r#"emails[(and (or (eq type "work") (eq type "home")) (pr value))]"#,
    );
    check(
        r#"emails[type eq "work"].value eq "a" and active eq true"#,
        r#"(and emails[(and (eq type "work") (eq value "a"))] (eq active true))"#,
    );
    check(
        r#"emails[type eq "work"]."#,
        "!invalid filter at position 24: expected a sub-attribute name after '].', found end of input",
    );
    check(
        r#"emails[type eq "work"].value"#,
        "!invalid filter at position 29: expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr), found end of input",
    );
    check(
        r#"emails[type eq "work"].a.b eq 1"#,
        "!invalid filter at position 24: expected a sub-attribute name after '].', found 'a.b'",
    );
}

#[test]
fn entra_test_connection_guid_username_filter() {
    check(
        r#"userName eq "2ad1b41f-8c5e-4e5d-9d1a-0e2c1b0f6a7d""#,
        r#"(eq userName "2ad1b41f-8c5e-4e5d-9d1a-0e2c1b0f6a7d")"#,
    );
}

#[test]
fn values_numbers_booleans_null() {
    check("a eq 42", "(eq a 42)");
    check("a eq -42", "(eq a -42)");
    check("a gt 1.5", "(gt a 1.5)");
    check("a lt -1.25e-3", "(lt a -0.00125)");
    check("a lt 1E2", "(lt a 100.0)");
    check(
        "a eq true and b eq false and c eq null",
        "(and (and (eq a true) (eq b false)) (eq c null))",
    );
    check(
        "a eq 01",
        "!invalid filter at position 6: invalid number '01': leading zeros are not allowed",
    );
    check(
        "a eq 1.",
        "!invalid filter at position 6: invalid number '1.': expected a digit after '.'",
    );
    check(
        "a eq 1e999",
        "!invalid filter at position 6: the number 1e999 is out of range",
    );
    check(
        "a eq 12ab",
        "!invalid filter at position 6: invalid number '12ab'",
    );
    assert_eq!(
        parse_filter("a eq 3").unwrap(),
        Filter::Compare {
            path: crate::path::AttrPath::simple("a"),
            op: super::CompareOp::Eq,
            value: CompValue::Number(3.into())
        }
    );
}

#[test]
fn string_escapes() {
    check(
        r#"a eq "q\"b\\s\/\b\f\n\r\t""#,
        r#"(eq a "q\"b\\s/\b\f\n\r\t")"#,
    );
    check(r#"a eq "\u00e9\u0041""#, r#"(eq a "éA")"#);
    check(r#"a eq "\uD83D\uDE00""#, r#"(eq a "😀")"#);
    check(r#"a eq "\u0001""#, r#"(eq a "\u0001")"#);
    check(
        r#"a eq "O'Malley [x] (y) and or""#,
        r#"(eq a "O'Malley [x] (y) and or")"#,
    );
    check(
        r#"a eq "\x""#,
        r#"!invalid filter at position 7: invalid escape '\x'"#,
    );
    check(
        r#"a eq "\uD800""#,
        r#"!invalid filter at position 7: invalid escape '\uD800': a high surrogate"#,
    );
    check(
        r#"a eq "\uDC00""#,
        r#"!invalid filter at position 7: invalid escape '\uDC00': a low surrogate"#,
    );
    check(
        r#"a eq "\u00G0""#,
        r#"!invalid filter at position 7: invalid escape: '\u' must be followed by four hex digits"#,
    );
    check(
        "a eq \"tab\there\"",
        "!invalid filter at position 10: control character U+0009 must be escaped",
    );
    check(
        r#"userName eq "abc"#,
        r#"!invalid filter at position 13: unterminated string"#,
    );
}

#[test]
fn whitespace_and_adjacency_are_tolerated() {
    check("not(a pr)", "(not (pr a))");
    check(r#"a eq"x""#, r#"(eq a "x")"#);
    check("(a pr)and(b pr)", "(and (pr a) (pr b))");
    check("  a pr  ", "(pr a)");
    check("a [b pr]", "a[(pr b)]");
    check("a\tpr\r\nand\nb pr", "(and (pr a) (pr b))");
}

#[test]
fn attributes_named_like_keywords() {
    check("not pr", "(pr not)");
    check(r#"not eq "x""#, r#"(eq not "x")"#);
    check("and pr and or pr", "(and (pr and) (pr or))");
    check("or pr or pr pr", "(or (pr or) (pr pr))");
    check(r#"not[type eq "x"]"#, r#"not[(eq type "x")]"#);
    check("true eq true", "(eq true true)");
}

#[test]
fn error_positions_and_messages() {
    check(
        r#"userName equals "x""#,
        "!invalid filter at position 10: expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr), found 'equals'",
    );
    check(
        "",
        "!invalid filter at position 1: expected an attribute path, '(' or 'not', found end of input",
    );
    check(
        "   ",
        "!invalid filter at position 4: expected an attribute path, '(' or 'not', found end of input",
    );
    check(
        "userName eq",
        "!invalid filter at position 12: expected a value after 'eq' (a string in double quotes, a number, true, false or null), found end of input",
    );
    check(
        "userName eq bob",
        "!invalid filter at position 13: expected a value after 'eq' (a string in double quotes, a number, true, false or null), found 'bob' (strings need double quotes)",
    );
    check(
        "userName eq (",
        "!invalid filter at position 13: expected a value after 'eq'",
    );
    check(
        "(userName pr",
        "!invalid filter at position 13: expected 'and', 'or' or ')' to close the '(' at position 1, found end of input",
    );
    check(
        "(a pr or b pr c pr)",
        "!invalid filter at position 15: expected 'and', 'or' or ')' to close the '(' at position 1, found 'c'",
    );
    check(
        "userName pr)",
        "!invalid filter at position 12: there is no '(' to match this ')'",
    );
    check(
        "userName pr]",
        "!invalid filter at position 12: there is no '[' to match this ']'",
    );
    check(
        "userName pr extra",
        "!invalid filter at position 13: expected 'and', 'or' or the end of the filter, found 'extra'",
    );
    check(
        r#"userName eq "x" "y""#,
        r#"!invalid filter at position 17: expected 'and', 'or' or the end of the filter, found the string "y""#,
    );
    check(
        r#"userName eq "x" and"#,
        "!invalid filter at position 20: expected an attribute path, '(' or 'not', found end of input",
    );
    check(
        "not userName pr",
        "!invalid filter at position 5: expected '(' after 'not' (write not (…)), found 'userName'",
    );
    check(
        r#"emails[type eq "work""#,
        "!invalid filter at position 22: expected 'and', 'or' or ']' to close the '[' at position 7, found end of input",
    );
    check(
        r#"emails[type[value pr] pr]"#,
        "!invalid filter at position 12: value filters cannot be nested: '[' inside the '[…]' of 'emails'",
    );
    check(
        r#"emails[urn:ietf:params:scim:schemas:core:2.0:User:type eq "x"]"#,
        "!invalid filter at position 8: inside '[…]' a path names a sub-attribute of 'emails', so it cannot be URN-qualified",
    );
    check(
        "a.b.c pr",
        "!invalid filter at position 1: invalid attribute path: 'a.b.c' has more than one sub-attribute level",
    );
    check(
        "a. pr",
        "!invalid filter at position 1: invalid attribute path: 'a.' is not a valid attribute name",
    );
    check(
        "$x pr",
        "!invalid filter at position 1: invalid attribute path: '$x' is not a valid attribute name",
    );
    check(
        "a & b",
        "!invalid filter at position 3: unexpected character '&'",
    );
    check(
        "[a pr]",
        "!invalid filter at position 1: expected an attribute path, '(' or 'not', found '['",
    );
    check(
        r#""x" eq a"#,
        r#"!invalid filter at position 1: expected an attribute path, '(' or 'not', found the string "x""#,
    );
    check(
        "a pr and ()",
        "!invalid filter at position 11: expected an attribute path, '(' or 'not', found ')'",
    );
    check(
        "a [b pr",
        "!invalid filter at position 8: expected 'and', 'or' or ']' to close the '[' at position 3",
    );
    // Positions count characters, not bytes.
    check(
        r#"displayName eq "😀é" foo"#,
        "!invalid filter at position 21: expected 'and', 'or' or the end of the filter, found 'foo'",
    );
    check(
        "é pr",
        "!invalid filter at position 1: unexpected character 'é'",
    );
}

#[test]
fn a_value_path_attribute_is_kept_as_written() {
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "1"]"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[(eq value "1")]"#,
    );
    // Sub-attribute before '[' parses (the grammar allows it); resolution rejects it.
    check(
        r#"emails.value[type eq "x"]"#,
        r#"emails.value[(eq type "x")]"#,
    );
}

#[test]
fn element_filters_for_patch_paths() {
    let f = parse_element_filter(r#"value eq "2819c223""#).unwrap();
    assert_eq!(f, parse_filter(r#"value eq "2819c223""#).unwrap());
    check_result(
        "x",
        parse_element_filter(r#"urn:x:y:value eq "1""#),
        "!invalid filter at position 1: inside '[…]' a path names a sub-attribute, so it cannot be URN-qualified",
    );
    check_result(
        "x",
        parse_element_filter("a[b pr]"),
        "!invalid filter at position 2: value filters cannot be nested",
    );
}

fn nested_parens(depth: usize) -> String {
    format!("{}a pr{}", "(".repeat(depth), ")".repeat(depth))
}

#[test]
fn limits_length() {
    let long = format!(r#"a eq "{}""#, "x".repeat(8192 - 7));
    assert_eq!(long.chars().count(), 8192);
    assert!(parse_filter(&long).is_ok());
    let too_long = format!(r#"a eq "{}""#, "x".repeat(8192 - 6));
    check(
        &too_long,
        "!invalid filter: it is longer than the maximum of 8192 characters",
    );
    // Characters, not bytes.
    let wide = format!(r#"a eq "{}""#, "é".repeat(8192 - 7));
    assert!(parse_filter(&wide).is_ok());
}

#[test]
fn limits_depth() {
    assert!(parse_filter(&nested_parens(32)).is_ok());
    check(
        &nested_parens(33),
        "!invalid filter at position 33: the filter nests '(', 'not (' and '[' more than 32 levels deep, the maximum",
    );
    let nots = format!("{}a pr{}", "not (".repeat(33), ")".repeat(33));
    check(&nots, "!invalid filter at position 165: the filter nests");
    // A value path counts as one level.
    let inner = format!(
        "{}emails[{}type pr{}]{}",
        "(".repeat(31),
        "(".repeat(0),
        "",
        ")".repeat(31)
    );
    assert!(parse_filter(&inner).is_ok());
    let too_deep = format!("{}emails[(type pr)]{}", "(".repeat(31), ")".repeat(31));
    check(
        &too_deep,
        "!invalid filter at position 39: the filter nests",
    );
    // Far beyond the limit: rejected at the limit, no stack overflow.
    let limits = FilterLimits {
        max_length: 1 << 20,
        ..FilterLimits::default()
    };
    let huge = nested_parens(200_000);
    check_result(
        "huge",
        parse_filter_with(&huge, &limits),
        "!invalid filter at position 33: the filter nests",
    );
}

#[test]
fn limits_nodes() {
    let chain = |n: usize| vec!["a pr"; n].join(" or ");
    // n leaves and n - 1 `or` nodes.
    assert!(parse_filter(&chain(256)).is_ok());
    check(
        &chain(257),
        "!invalid filter at position 2046: the filter has more than 512 expressions, the maximum",
    );
    let limits = FilterLimits {
        max_nodes: 3,
        ..FilterLimits::default()
    };
    assert!(parse_filter_with("a pr and b pr", &limits).is_ok());
    check_result(
        "x",
        parse_filter_with("a pr and b pr and c pr", &limits),
        "!invalid filter at position 19: the filter has more than 3 expressions",
    );
    // The Entra tail adds a comparison and an `and`.
    let limits = FilterLimits {
        max_nodes: 3,
        ..FilterLimits::default()
    };
    assert!(parse_filter_with(r#"emails[type eq "w"]"#, &limits).is_ok());
    assert!(parse_filter_with(r#"emails[type eq "w"].value pr"#, &limits).is_err());
    let limits = FilterLimits {
        max_nodes: 4,
        ..FilterLimits::default()
    };
    assert!(parse_filter_with(r#"emails[type eq "w"].value pr"#, &limits).is_ok());
}

#[test]
fn hostile_inputs_are_rejected_quickly() {
    // Each would be slow if any step were quadratic.
    // `max_nodes` also bounds the depth of the tree (and/or chains are left-deep), which
    // keeps the recursive Display, Drop, resolution and evaluation shallow.
    let limits = FilterLimits {
        max_length: 4 << 20,
        ..FilterLimits::default()
    };
    let many = vec!["a pr"; 200_000].join(" and ");
    assert!(parse_filter_with(&many, &limits).is_err());
    let string = format!("a eq \"{}", "\\n".repeat(1 << 20));
    assert!(parse_filter_with(&string, &limits).is_err());
    let brackets = "[".repeat(1 << 20);
    assert!(parse_filter_with(&brackets, &limits).is_err());
    let nots = "not ".repeat(1 << 18);
    assert!(parse_filter_with(&nots, &limits).is_err());
}
