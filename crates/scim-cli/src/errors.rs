//! How the command line reports a failure: one sentence, without protocol codes.

use scim_store::StoreError;

/// The error as a sentence: the causes in order, a SCIM error by its detail only (not
/// `409 uniqueness: …`), capitalised and ending with a full stop.
pub fn sentence(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = if let Some(s) = cause.downcast_ref::<StoreError>() {
            match s {
                StoreError::Scim(scim) => scim.detail.clone(),
                StoreError::Unavailable(d) => format!("the database is unavailable ({d})"),
                StoreError::Database(d) => format!("the database failed ({d})"),
            }
        } else if let Some(scim) = cause.downcast_ref::<scim_core::ScimError>() {
            scim.detail.clone()
        } else {
            cause.to_string()
        };
        // A wrapper that repeats its cause's text adds nothing.
        if parts
            .last()
            .is_some_and(|p| p.ends_with(&text) || p == &text)
        {
            continue;
        }
        parts.push(text);
    }
    let mut out = parts.join(": ");
    if let Some(first) = out.chars().next() {
        let upper: String = first.to_uppercase().collect();
        out.replace_range(..first.len_utf8(), &upper);
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn scim_errors_read_as_sentences() {
        let e: anyhow::Error = StoreError::from(scim_core::ScimError::uniqueness(
            "tenant 'acme' already exists",
        ))
        .into();
        assert_eq!(sentence(&e), "Tenant 'acme' already exists.");
        let e = Err::<(), _>(std::io::Error::other("permission denied"))
            .context("cannot read config file x.toml")
            .unwrap_err();
        assert_eq!(
            sentence(&e),
            "Cannot read config file x.toml: permission denied."
        );
    }
}
