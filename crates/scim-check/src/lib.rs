//! `scim-check`: tells any SCIM 2.0 server what real identity providers will trip on.
//!
//! Each check replays what a provider actually sends (after IDP-COMPAT.md: Microsoft Entra
//! ID, Okta, OneLogin, JumpCloud, Google) or what the RFC requires, and records a verdict —
//! pass, fail with the reason, or skip — with the providers it matters to and the RFC
//! section. The checker creates its own users and groups (named `scimcheck-<random>-…`),
//! never touches anything else, and deletes what it created at the end.

#![warn(missing_docs)]

mod checks;

use serde::Serialize;

pub use checks::run;

/// Who relies on a behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Microsoft Entra ID.
    Entra,
    /// Okta.
    Okta,
    /// OneLogin.
    OneLogin,
    /// JumpCloud.
    JumpCloud,
    /// Google Workspace.
    Google,
    /// Every client (an RFC requirement).
    Rfc,
}

impl Provider {
    /// The provider's name as the report shows it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Entra => "Entra ID",
            Provider::Okta => "Okta",
            Provider::OneLogin => "OneLogin",
            Provider::JumpCloud => "JumpCloud",
            Provider::Google => "Google",
            Provider::Rfc => "RFC",
        }
    }
}

/// Which failures decide the exit code (`--provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// What Entra ID relies on (and the RFC's requirements).
    Entra,
    /// What Okta relies on (and the RFC's requirements).
    Okta,
    /// Every check.
    All,
}

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The server behaves as the providers expect.
    Pass,
    /// It does not (the reason says how).
    Fail,
    /// Not checked: an optional feature the server does not advertise, or a check an earlier failure made impossible.
    Skip,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable identifier (`entra.user.filter_username`, …).
    pub id: &'static str,
    /// What is checked, in one line.
    pub title: &'static str,
    /// Who relies on the behaviour.
    pub providers: Vec<Provider>,
    /// The section of RFC 7643/7644 that defines it.
    pub rfc: &'static str,
    /// Optional features (Bulk, sorting, cursors, ETags) are checked only when advertised.
    pub optional: bool,
    /// The verdict.
    pub status: Status,
    /// Why it failed or was skipped (empty on a pass).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl CheckResult {
    /// Whether a failure of this check matters to `focus`.
    pub fn affects(&self, focus: Focus) -> bool {
        match focus {
            Focus::All => true,
            Focus::Entra => self
                .providers
                .iter()
                .any(|p| matches!(p, Provider::Entra | Provider::Rfc)),
            Focus::Okta => self
                .providers
                .iter()
                .any(|p| matches!(p, Provider::Okta | Provider::Rfc)),
        }
    }
}

/// All results of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The SCIM base URL checked.
    pub target: String,
    /// Every check's result, in the order run.
    pub results: Vec<CheckResult>,
    /// Resources the checker created and could not delete (should be empty).
    pub left_behind: Vec<String>,
}

impl Report {
    /// How many checks ended with this verdict.
    pub fn count(&self, s: Status) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }

    /// True when a check that `focus` relies on failed.
    pub fn failed_for(&self, focus: Focus) -> bool {
        self.results
            .iter()
            .any(|r| r.status == Status::Fail && r.affects(focus))
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = format!("SCIM checks against {}\n\n", self.target);
        let w = self.results.iter().map(|r| r.id.len()).max().unwrap_or(10);
        for r in &self.results {
            let status = match r.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            let who: Vec<&str> = r.providers.iter().map(|p| p.name()).collect();
            s.push_str(&format!(
                "{status}  {:<w$}  {} [{}; {}]\n",
                r.id,
                r.title,
                who.join(", "),
                r.rfc
            ));
            if !r.reason.is_empty() {
                s.push_str(&format!("      {:<w$}  ↳ {}\n", "", r.reason));
            }
        }
        s.push_str(&format!(
            "\n{} passed, {} failed, {} skipped.\n",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Skip)
        ));
        if !self.left_behind.is_empty() {
            s.push_str(&format!(
                "Could not delete what the checker created: {}\n",
                self.left_behind.join(", ")
            ));
        }
        s
    }

    /// JUnit XML, one test case per check.
    pub fn junit(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str(&format!(
            "<testsuite name=\"scim check\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
            self.results.len(),
            self.count(Status::Fail),
            self.count(Status::Skip)
        ));
        for r in &self.results {
            let who: Vec<&str> = r.providers.iter().map(|p| p.name()).collect();
            s.push_str(&format!(
                "  <testcase classname=\"{}\" name=\"{}: {}\">",
                xml(&who.join(", ")),
                xml(r.id),
                xml(r.title)
            ));
            match r.status {
                Status::Pass => {}
                Status::Fail => s.push_str(&format!(
                    "<failure message=\"{}\">{}</failure>",
                    xml(&r.reason),
                    xml(r.rfc)
                )),
                Status::Skip => s.push_str(&format!("<skipped message=\"{}\"/>", xml(&r.reason))),
            }
            s.push_str("</testcase>\n");
        }
        s.push_str("</testsuite>\n");
        s
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Status, providers: Vec<Provider>) -> CheckResult {
        CheckResult {
            id: "x.y",
            title: "t <&>",
            providers,
            rfc: "RFC 7644 §3.4.2",
            optional: false,
            status,
            reason: "r \"q\"".into(),
        }
    }

    #[test]
    fn focus_and_rendering() {
        let r = Report {
            target: "http://t".into(),
            results: vec![
                result(Status::Fail, vec![Provider::Okta]),
                result(Status::Pass, vec![Provider::Rfc]),
                result(Status::Skip, vec![Provider::Entra]),
            ],
            left_behind: vec![],
        };
        assert!(
            r.failed_for(Focus::Okta) && r.failed_for(Focus::All) && !r.failed_for(Focus::Entra)
        );
        let x = r.junit();
        assert!(
            x.contains("failures=\"1\"")
                && x.contains("t &lt;&amp;&gt;")
                && x.contains("r &quot;q&quot;")
        );
        assert!(r.table().contains("1 passed, 1 failed, 1 skipped."));
    }
}
