//! The HTTP target: each event type becomes a request to an application's API, described
//! declaratively — method, URL template, headers (secrets from environment variables or
//! files, never in the file itself), a JSON body template, and which statuses mean
//! success, retry or permanent failure.
//!
//! Templates are `scim-mapping` templates. Their fields: SCIM attribute paths of the
//! event's resource (`userName`, `emails[type eq "work"].value`), `id` (the resource's id,
//! also after a delete), `tenant`, `event.id` / `event.type` / `event.position` /
//! `event.timestamp`, `member.value` / `member.type` (with `each_member = true`), and
//! `secret.NAME` (in headers only). Values put in a URL are percent-encoded.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use scim_core::path::AttrPath;
use scim_core::schema::SchemaRegistry;
use scim_delivery::{Event, EventType};
use scim_mapping::{Fields, LoadError, ScimPath, Template};
use scim_store::RecordedMember;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::TargetError;
use crate::config::{Common, line_of, secret};
use crate::target::{Applied, Target};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[allow(dead_code)]
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[allow(dead_code)]
    tenant: String,
    base_url: Option<Spanned<String>>,
    timeout_seconds: Option<u64>,
    success: Option<Spanned<Vec<u16>>>,
    retry: Option<Spanned<Vec<u16>>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecret>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    events: BTreeMap<String, Spanned<RawRequest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    method: Spanned<String>,
    url: Spanned<String>,
    body: Option<Spanned<toml::Value>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    each_member: bool,
    success: Option<Vec<u16>>,
    retry: Option<Vec<u16>>,
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone)]
enum Body {
    Template(Template),
    Literal(Value),
    Object(Vec<(String, Body)>),
    Array(Vec<Body>),
}

impl Body {
    fn eval(&self, f: &dyn Fields) -> Result<Value, TargetError> {
        Ok(match self {
            Body::Template(t) => t
                .eval(f)
                .map_err(|e| TargetError::permanent(format!("body: {e}")))?,
            Body::Literal(v) => v.clone(),
            Body::Object(items) => {
                let mut m = serde_json::Map::new();
                for (k, b) in items {
                    m.insert(k.clone(), b.eval(f)?);
                }
                Value::Object(m)
            }
            Body::Array(items) => {
                Value::Array(items.iter().map(|b| b.eval(f)).collect::<Result<_, _>>()?)
            }
        })
    }

    fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            Body::Template(t) => out.push(t),
            Body::Literal(_) => {}
            Body::Object(items) => items.iter().for_each(|(_, b)| b.templates(out)),
            Body::Array(items) => items.iter().for_each(|b| b.templates(out)),
        }
    }
}

#[derive(Debug, Clone)]
struct Request {
    method: reqwest::Method,
    url: Template,
    headers: Vec<(String, Template)>,
    body: Option<Body>,
    each_member: bool,
    success: Option<Vec<u16>>,
    retry: Option<Vec<u16>>,
}

/// An HTTP target (see the module documentation).
pub struct HttpTarget {
    name: String,
    client: reqwest::Client,
    base_url: String,
    headers: Vec<(String, Template)>,
    secrets: HashMap<String, String>,
    requests: HashMap<EventType, Request>,
    success: Vec<u16>,
    retry: Vec<u16>,
}

/// What a template of a request reads.
struct EventFields<'a> {
    event: &'a Event,
    member: Option<&'a RecordedMember>,
    secrets: &'a HashMap<String, String>,
    url: bool,
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Fields for EventFields<'_> {
    fn field(&self, name: &str) -> Option<Value> {
        let e = self.event;
        let v = match name {
            "id" => Some(Value::String(e.data.id.clone())),
            "tenant" => Some(Value::String(e.tenant.clone())),
            "event.id" => Some(Value::String(e.id.clone())),
            "event.type" => Some(Value::String(e.event_type.as_str().to_string())),
            "event.position" => Some(Value::from(e.position)),
            "event.timestamp" => Some(Value::String(e.timestamp.clone())),
            "member.value" => self.member.map(|m| Value::String(m.value.clone())),
            "member.type" => self.member.and_then(|m| m.kind.clone().map(Value::String)),
            _ => match name.strip_prefix("secret.") {
                Some(s) => self.secrets.get(s).cloned().map(Value::String),
                None => e
                    .data
                    .resource
                    .as_ref()
                    .and_then(|r| ScimPath::parse(name).ok()?.get(r)),
            },
        };
        if self.url {
            v.map(|v| match v {
                Value::String(s) => Value::String(encode(&s)),
                other => Value::String(encode(&scim_mapping::filter::to_text(&other))),
            })
        } else {
            v
        }
    }
}

const EVENT_FIELDS: [&str; 6] = [
    "id",
    "tenant",
    "event.id",
    "event.type",
    "event.position",
    "event.timestamp",
];

/// Loads an HTTP target from its file's text.
pub fn load_http_target(
    text: &str,
    path: &Path,
    common: &Common,
    registry: &SchemaRegistry,
) -> Result<HttpTarget, LoadError> {
    let file = path.display().to_string();
    let err = |span: std::ops::Range<usize>, reason: String| LoadError {
        file: file.clone(),
        line: line_of(text, span.start),
        reason,
    };
    let raw: RawHttp = toml::from_str(text).map_err(|e| LoadError {
        file: file.clone(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        reason: e.message().trim().to_string(),
    })?;
    let mut secrets = HashMap::new();
    for (name, s) in &raw.secrets {
        let value = match (&s.get_ref().env, &s.get_ref().file) {
            (Some(env), None) => secret(&file, text, env, true)?,
            (None, Some(f)) => secret(&file, text, f, false)?,
            _ => {
                return Err(err(
                    s.span(),
                    format!("secrets.{name}: give exactly one of `env` or `file`"),
                ));
            }
        };
        secrets.insert(name.clone(), value);
    }
    let template = |s: &Spanned<String>, what: &str| {
        Template::parse(s.get_ref()).map_err(|e| {
            err(
                s.span(),
                format!(
                    "{what}: {} (at character {} of the template)",
                    e.reason,
                    e.offset + 1
                ),
            )
        })
    };
    // Every field a template reads must exist: an attribute of the event's resource type,
    // an event field, a member field (each_member), or a secret (headers only).
    let check = |t: &Template,
                 span: std::ops::Range<usize>,
                 what: &str,
                 resource_type: Option<&str>,
                 members: bool,
                 header: bool|
     -> Result<(), LoadError> {
        for f in t.fields() {
            if EVENT_FIELDS.contains(&f) || (members && f.starts_with("member.")) {
                continue;
            }
            if let Some(s) = f.strip_prefix("secret.") {
                if !header {
                    return Err(err(
                        span,
                        format!("{what}: secrets may only be used in headers ('{f}')"),
                    ));
                }
                if !secrets.contains_key(s) {
                    return Err(err(span, format!("{what}: no secret '{s}' in [secrets]")));
                }
                continue;
            }
            let known = resource_type.is_some_and(|rt| {
                let Some(rt) = registry.resource_type(rt) else {
                    return false;
                };
                ScimPath::parse(f).is_ok_and(|p| {
                    registry
                        .resolve(
                            rt,
                            &AttrPath {
                                schema: p.urn,
                                attr: p.attr,
                                sub_attr: p.sub,
                            },
                        )
                        .is_some()
                })
            });
            if !known {
                return Err(err(
                    span,
                    format!(
                        "{what}: '{f}' is neither an attribute of {} nor an event field",
                        resource_type.unwrap_or("the resource")
                    ),
                ));
            }
        }
        Ok(())
    };
    let mut headers = Vec::new();
    for (name, v) in &raw.headers {
        let t = template(v, &format!("headers.{name}"))?;
        check(&t, v.span(), &format!("headers.{name}"), None, false, true)?;
        headers.push((name.clone(), t));
    }
    let mut requests = HashMap::new();
    for (name, r) in &raw.events {
        let Some(kind) = EventType::parse(name) else {
            return Err(err(
                r.span(),
                format!("events.\"{name}\": no such event type"),
            ));
        };
        let rt = match name.split('.').next() {
            Some("user") => Some("User"),
            Some("group") => Some("Group"),
            _ => None,
        };
        let req = r.get_ref();
        let what = format!("events.\"{name}\"");
        let method =
            reqwest::Method::from_bytes(req.method.get_ref().to_ascii_uppercase().as_bytes())
                .map_err(|_| {
                    err(
                        req.method.span(),
                        format!(
                            "{what}.method: '{}' is not an HTTP method",
                            req.method.get_ref()
                        ),
                    )
                })?;
        if req.each_member && !name.contains("members_") {
            return Err(err(
                r.span(),
                format!("{what}: each_member only applies to *.members_* events"),
            ));
        }
        let url = template(&req.url, &format!("{what}.url"))?;
        check(
            &url,
            req.url.span(),
            &format!("{what}.url"),
            rt,
            req.each_member,
            false,
        )?;
        let mut req_headers = Vec::new();
        for (h, v) in &req.headers {
            let t = template(v, &format!("{what}.headers.{h}"))?;
            check(
                &t,
                v.span(),
                &format!("{what}.headers.{h}"),
                rt,
                req.each_member,
                true,
            )?;
            req_headers.push((h.clone(), t));
        }
        let body = match &req.body {
            Some(b) => {
                let body =
                    body_of(b.get_ref()).map_err(|e| err(b.span(), format!("{what}.body: {e}")))?;
                let mut ts = Vec::new();
                body.templates(&mut ts);
                for t in ts {
                    check(
                        t,
                        b.span(),
                        &format!("{what}.body"),
                        rt,
                        req.each_member,
                        false,
                    )?;
                }
                Some(body)
            }
            None => None,
        };
        requests.insert(
            kind,
            Request {
                method,
                url,
                headers: req_headers,
                body,
                each_member: req.each_member,
                success: req.success.clone(),
                retry: req.retry.clone(),
            },
        );
    }
    if requests.is_empty() {
        return Err(LoadError {
            file: file.clone(),
            line: 0,
            reason: "an HTTP target needs at least one [events.\"TYPE\"] request".into(),
        });
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(
            raw.timeout_seconds.unwrap_or(10).clamp(1, 300),
        ))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| LoadError {
            file: file.clone(),
            line: 0,
            reason: format!("HTTP client: {e}"),
        })?;
    let base_url = match &raw.base_url {
        Some(b) if b.get_ref().starts_with("http://") || b.get_ref().starts_with("https://") => {
            b.get_ref().trim_end_matches('/').to_string()
        }
        Some(b) => {
            return Err(err(
                b.span(),
                "base_url must start with http:// or https://".into(),
            ));
        }
        None => String::new(),
    };
    Ok(HttpTarget {
        name: common.name.clone(),
        client,
        base_url,
        headers,
        secrets,
        requests,
        success: raw.success.map(|s| s.into_inner()).unwrap_or_default(),
        retry: raw
            .retry
            .map(|s| s.into_inner())
            .unwrap_or_else(|| vec![408, 425, 429]),
    })
}

fn body_of(v: &toml::Value) -> Result<Body, String> {
    Ok(match v {
        toml::Value::String(s) => {
            Body::Template(Template::parse(s).map_err(|e| format!("{} (in \"{s}\")", e.reason))?)
        }
        toml::Value::Integer(i) => Body::Literal(Value::from(*i)),
        toml::Value::Float(f) => Body::Literal(Value::from(*f)),
        toml::Value::Boolean(b) => Body::Literal(Value::Bool(*b)),
        toml::Value::Datetime(d) => Body::Literal(Value::String(d.to_string())),
        toml::Value::Array(a) => Body::Array(a.iter().map(body_of).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => Body::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), body_of(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

impl HttpTarget {
    /// success: the request's own list, else the target's, else any 2xx. retry: the
    /// request's, else the target's (default 408, 425, 429) and every 5xx not listed as
    /// success. Anything else is permanent.
    fn classify(&self, req: &Request, status: u16) -> Option<bool> {
        let success = req.success.as_ref().unwrap_or(&self.success);
        let ok = if success.is_empty() {
            (200..300).contains(&status)
        } else {
            success.contains(&status)
        };
        if ok {
            return None;
        }
        let retry = req.retry.as_ref().unwrap_or(&self.retry);
        Some(retry.contains(&status) || status >= 500)
    }

    async fn send(&self, req: &Request, fields: &EventFields<'_>) -> Result<(), TargetError> {
        let url_fields = EventFields {
            url: true,
            ..*fields
        };
        let path = req
            .url
            .eval(&url_fields)
            .map_err(|e| TargetError::permanent(format!("url: {e}")))?;
        let path = scim_mapping::filter::to_text(&path);
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path
        } else {
            format!("{}{path}", self.base_url)
        };
        let mut r = self.client.request(req.method.clone(), &url);
        for (name, t) in self.headers.iter().chain(&req.headers) {
            let v = t
                .eval(fields)
                .map_err(|e| TargetError::permanent(format!("header {name}: {e}")))?;
            r = r.header(name.as_str(), scim_mapping::filter::to_text(&v));
        }
        if let Some(body) = &req.body {
            r = r.json(&body.eval(fields)?);
        }
        let what = format!("{} {url}", req.method);
        let resp = r
            .send()
            .await
            .map_err(|e| TargetError::retry(format!("{what}: {e}")))?;
        let status = resp.status().as_u16();
        match self.classify(req, status) {
            None => Ok(()),
            Some(retry) => {
                let mut text = resp.text().await.unwrap_or_default();
                text.truncate(text.floor_char_boundary(300));
                let msg = format!("{what}: {status} {}", text.trim());
                Err(if retry {
                    TargetError::retry(msg)
                } else {
                    TargetError::permanent(msg)
                })
            }
        }
    }
}

#[async_trait]
impl Target for HttpTarget {
    fn name(&self) -> &str {
        &self.name
    }

    async fn apply(&self, event: &Event) -> Result<Applied, TargetError> {
        let Some(req) = self.requests.get(&event.event_type) else {
            return Ok(Applied::Done);
        };
        if req.each_member {
            for m in &event.data.members {
                let f = EventFields {
                    event,
                    member: Some(m),
                    secrets: &self.secrets,
                    url: false,
                };
                self.send(req, &f).await?;
            }
        } else {
            let f = EventFields {
                event,
                member: None,
                secrets: &self.secrets,
                url: false,
            };
            self.send(req, &f).await?;
        }
        Ok(Applied::Done)
    }
}
