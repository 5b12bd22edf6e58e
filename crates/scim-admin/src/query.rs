//! Strict query strings: every parameter known, at most once, and well formed, else a 400
//! that names it.

use std::collections::BTreeMap;

use crate::AdminError;

/// A request's query parameters, taken one by one.
pub(crate) struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    pub fn parse(query: Option<&str>) -> Result<Params, AdminError> {
        let mut values = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if values.insert(k.to_string(), v.to_string()).is_some() {
                return Err(AdminError::invalid(
                    &k,
                    format!("'{k}' is given more than once"),
                ));
            }
        }
        Ok(Params { values })
    }

    pub fn text(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    /// An integer within `min..=max`.
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Result<Option<i64>, AdminError> {
        let Some(text) = self.values.remove(name) else {
            return Ok(None);
        };
        match text.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(AdminError::invalid(
                name,
                format!("'{name}' must be an integer from {min} to {max}, not '{text}'"),
            )),
        }
    }

    /// Fails on any parameter not taken.
    pub fn finish(self) -> Result<(), AdminError> {
        match self.values.keys().next() {
            Some(k) => Err(AdminError::invalid(k, format!("unknown parameter '{k}'"))),
            None => Ok(()),
        }
    }
}
