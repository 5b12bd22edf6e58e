//! Property tests of the mapping language's parsers: templates and attribute paths.

use proptest::prelude::*;
use scim_mapping::{Fields, Mapping, Record, ScimPath, Template};
use serde_json::{Map, Value, json};

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,8}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text either parses or fails with a position inside it; never a panic.
    #[test]
    fn template_parse_total(text in "\\PC{0,40}") {
        if let Err(e) = Template::parse(&text) {
            prop_assert!(e.offset <= text.chars().count());
            prop_assert!(!e.reason.is_empty());
        }
    }

    /// Text with its braces doubled is a template that evaluates to the text itself.
    #[test]
    fn escaped_text_is_itself(text in "[^\\x00]{1,30}") {
        let escaped = text.replace('{', "{{").replace('}', "}}");
        let t = Template::parse(&escaped);
        prop_assert!(t.is_ok());
        if let Ok(t) = t {
            prop_assert_eq!(t.eval(&Record::new()).ok(), Some(Value::String(text)));
        }
    }

    /// `prefix{field}suffix` interpolates the field's text exactly.
    #[test]
    fn interpolation(field in name(), value in "[^{}]{0,20}", pre in "[^{}]{0,5}", post in "[^{}]{0,5}") {
        let t = Template::parse(&format!("{pre}{{{field}}}{post}"));
        prop_assert!(t.is_ok());
        let mut r = Record::new();
        r.insert(field.clone(), Value::String(value.clone()));
        let got = t.ok().and_then(|t| t.eval(&r).ok());
        let want = if pre.is_empty() && post.is_empty() { Value::String(value) } else { Value::String(format!("{pre}{value}{post}")) };
        prop_assert_eq!(got, Some(want));
    }

    /// Filter pipelines of known filters always parse; split then join restores trimmed parts.
    #[test]
    fn split_join(parts in prop::collection::vec("[a-z0-9]{1,6}", 1..6)) {
        let t = Template::parse("{v | split(';') | join(';')}");
        prop_assert!(t.is_ok());
        let mut r = Record::new();
        r.insert("v", Value::String(parts.join(" ; ")));
        prop_assert_eq!(t.ok().and_then(|t| t.eval(&r).ok()), Some(Value::String(parts.join(";"))));
    }

    /// Paths print to text that parses back to the same path.
    #[test]
    fn path_round_trip(
        urn in prop::option::of("urn:[a-z]{1,5}:[a-z0-9.]{1,8}"),
        attr in name(),
        select in prop::option::of((name(), "[^\"\\\\\\]]{0,8}")),
        sub in prop::option::of(name()),
    ) {
        let p = ScimPath { urn, attr, select, sub };
        prop_assert_eq!(ScimPath::parse(&p.to_string()), Ok(p));
    }

    /// Arbitrary path text never panics.
    #[test]
    fn path_parse_total(text in "\\PC{0,40}") {
        let _ = ScimPath::parse(&text);
    }

    /// Writing then reading a value at any path gives the value back.
    #[test]
    fn set_get(attr in name(), select in prop::option::of(("type", "[a-z]{1,6}")), sub in prop::option::of(name()), v in "[a-z]{1,10}") {
        let p = ScimPath { urn: None, attr, select: select.map(|(a, b)| (a.to_string(), b)), sub };
        let mut m = Map::new();
        p.set(&mut m, json!(v));
        prop_assert_eq!(p.get(&Value::Object(m)), Some(json!(v)));
    }

    /// A mapping of copy rules maps a record to a resource and reads the same record back.
    #[test]
    fn mapping_round_trip(values in prop::collection::vec("[a-z0-9@.]{1,12}", 4)) {
        let text = "[user]\nuserName = \"{login}\"\n\"name.givenName\" = \"{given}\"\n'emails[type eq \"work\"].value' = \"{mail}\"\n\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber\" = \"{num}\"\n";
        let m = Mapping::parse(text, "t");
        prop_assert!(m.is_ok());
        let Some(s) = m.ok().and_then(|m| m.user) else { return Err(TestCaseError::fail("no user")) };
        let mut r = Record::new();
        for (k, v) in ["login", "given", "mail", "num"].iter().zip(&values) {
            r.insert(*k, json!(v));
        }
        let res = s.to_resource(&r);
        prop_assert!(res.is_ok());
        let back = res.ok().and_then(|res| s.to_record(&res).ok());
        prop_assert!(back.is_some());
        if let Some(back) = back {
            for k in ["login", "given", "mail", "num"] {
                prop_assert_eq!(back.field(k), r.field(k));
            }
        }
    }

    /// Any TOML-ish text loads or fails with a line inside the file.
    #[test]
    fn load_total(lines in prop::collection::vec("[\\[\\]a-z={}\"'| .]{0,20}", 0..6)) {
        let text = format!("[user]\n{}", lines.join("\n"));
        if let Err(e) = Mapping::parse(&text, "f") {
            prop_assert!(e.line <= text.lines().count() + 1, "{e}");
        }
    }
}
