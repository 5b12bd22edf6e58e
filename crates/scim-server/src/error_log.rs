//! What the request log says about a failed request: the SCIM error's `scimType` and its
//! `detail`, without the values a client sent.
//!
//! Details name attributes (`attribute 'active' must be a boolean`), allowed values
//! (`sortOrder must be "ascending" or "descending"`) and RFC terms, and some also quote what
//! was sent (`userName 'bjensen@example.com' is already in use`), which is personal data.
//! The code that builds such a detail marks each value the client sent
//! ([`scim_core::Sent`]); the log keeps the detail with every marked value replaced by
//! `…` ([`ScimError::logged_detail`]) and everything else as the client read it. Secrets
//! never appear in a detail in the first place (authentication failures have a fixed one).

use scim_core::ScimError;

/// The part of a SCIM error the request log shows, attached to the response.
#[derive(Debug, Clone)]
pub(crate) struct ErrorSummary {
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

/// Longest detail logged, in characters.
const MAX_DETAIL: usize = 300;

impl ErrorSummary {
    pub(crate) fn of(e: &ScimError) -> ErrorSummary {
        let mut detail = e.logged_detail();
        if detail.chars().count() > MAX_DETAIL {
            detail = detail.chars().take(MAX_DETAIL).collect::<String>() + "…";
        }
        ErrorSummary {
            scim_type: e.scim_type.map(|t| t.as_str()),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_core::Sent;

    #[test]
    fn values_are_hidden_and_names_and_allowed_values_kept() {
        let logged = |e: ScimError| ErrorSummary::of(&e).detail;
        assert_eq!(
            logged(ScimError::uniqueness(format!(
                "userName '{}' is already in use by another User",
                Sent("bjensen@example.com")
            ))),
            "userName '…' is already in use by another User"
        );
        assert_eq!(
            logged(ScimError::invalid_value(
                "attribute \"active\" must be one of \"true\", \"false\""
            )),
            "attribute \"active\" must be one of \"true\", \"false\""
        );
        let long = "x".repeat(400);
        let cut = logged(ScimError::invalid_value(long));
        assert_eq!(cut.chars().count(), MAX_DETAIL + 1);
    }
}
