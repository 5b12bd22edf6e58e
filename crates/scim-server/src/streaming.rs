//! Response bodies sent in pieces. A group whose members come from a [`MemberStream`] is
//! written member chunk by member chunk as the client takes them, so that serving a
//! 1,000,000-member group (or a page holding one) holds a few chunks in memory, not the
//! whole answer.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::projection::Projection;
use scim_core::resource::render;
use scim_store::{Member, MemberStream, StoredResource};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::http::SCIM_JSON;
use crate::service::{self, MEMBERS, Target};
use crate::state::AppState;

/// Bytes gathered before they are handed to the connection.
const FLUSH_AT: usize = 64 * 1024;
/// Pieces of a body waiting for the connection (with [`FLUSH_AT`], what one answer holds).
const PIECES_IN_FLIGHT: usize = 2;

/// A rendered resource whose members follow from a stream.
pub struct StreamedResource {
    /// The rendered resource; its `members` holds a placeholder where the members go.
    fields: Map<String, Value>,
    members: MemberStream,
    target: Target,
    projection: Projection,
    base: String,
}

/// A resource of an answer: rendered whole, or with its members still to come.
pub enum Rendered {
    /// The resource's whole body.
    Whole(Value),
    /// The resource with its members still to be read from the store, chunk by chunk.
    Streamed(Box<StreamedResource>),
}

impl Rendered {
    /// The rendered resource, if it is whole.
    pub fn into_whole(self) -> Option<Value> {
        match self {
            Rendered::Whole(v) => Some(v),
            Rendered::Streamed(_) => None,
        }
    }
}

/// Renders a resource whose members are still in `members`: the resource is rendered with
/// a placeholder member (so that the projection decides whether and where `members`
/// appears), and the members are rendered chunk by chunk when the body is written.
pub async fn render_streamed(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    mut stored: StoredResource,
    members: MemberStream,
    projection: &Projection,
) -> ApiResult<Rendered> {
    stored.members = Some(vec![Member {
        value: String::new(),
        kind: Some("User".into()),
        display: Some(String::new()),
    }]);
    let rendered = service::render_resource(state, auth, target, stored, projection).await?;
    match rendered {
        Value::Object(fields) if fields.contains_key(MEMBERS) => {
            Ok(Rendered::Streamed(Box::new(StreamedResource {
                fields,
                members,
                target: target.clone(),
                projection: projection.clone(),
                base: state.config.base_url(&auth.tenant.name),
            })))
        }
        // The projection leaves `members` out: the stream is not needed.
        other => Ok(Rendered::Whole(other)),
    }
}

/// Groups with at most this many members are rendered in memory; larger ones are streamed.
const INLINE_MEMBERS: usize = 1000;

/// Renders a resource as read by `get_streamed`: whole when it has no member stream or
/// few members, else with its members streamed.
pub async fn render_read(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    mut stored: StoredResource,
    members: Option<MemberStream>,
    projection: &Projection,
) -> ApiResult<Rendered> {
    let Some(mut members) = members else {
        let body = service::render_resource(state, auth, target, stored, projection).await?;
        return Ok(Rendered::Whole(body));
    };
    if members.fill(INLINE_MEMBERS).await? {
        stored.members = Some(members.take_buffered());
        let body = service::render_resource(state, auth, target, stored, projection).await?;
        return Ok(Rendered::Whole(body));
    }
    render_streamed(state, auth, target, stored, members, projection).await
}

impl StreamedResource {
    /// A chunk of members as `members` elements under the answer's projection.
    fn render_members(&self, chunk: &[Member]) -> Vec<Value> {
        let elements = chunk.iter().map(|m| m.to_json(Some(&self.base))).collect();
        let mut doc = Map::new();
        doc.insert(MEMBERS.into(), Value::Array(elements));
        let mut out = render(
            &self.target.registry,
            &self.target.rt,
            doc,
            &self.projection,
        );
        match out.shift_remove(MEMBERS) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        }
    }
}

/// Why writing a body stopped early.
enum Stop {
    /// The client went away: nothing more to do.
    Gone,
    /// Reading the members failed midway: the body is cut off (the client sees an
    /// incomplete answer, never a complete-looking wrong one).
    Failed(String),
}

/// The writing end of a streamed body.
struct Out {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Out {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn push_json(&mut self, v: &impl serde::Serialize) -> Result<(), Stop> {
        serde_json::to_writer(&mut self.buf, v).map_err(|e| Stop::Failed(e.to_string()))
    }

    async fn flush(&mut self, force: bool) -> Result<(), Stop> {
        if self.buf.is_empty() || (!force && self.buf.len() < FLUSH_AT) {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.send(Ok(piece)).await.map_err(|_| Stop::Gone)
    }

    async fn resource(&mut self, item: Rendered) -> Result<(), Stop> {
        let mut r = match item {
            Rendered::Whole(v) => return self.push_json(&v),
            Rendered::Streamed(r) => r,
        };
        self.push(b"{");
        let mut first = true;
        let fields = std::mem::take(&mut r.fields);
        for (key, value) in &fields {
            if key != MEMBERS {
                if !first {
                    self.push(b",");
                }
                first = false;
                self.push_json(key)?;
                self.push(b":");
                self.push_json(value)?;
                continue;
            }
            // An empty member list is left out, as a group without members is rendered.
            let mut any = false;
            while let Some(chunk) = r.members.next_chunk().await {
                let chunk = chunk.map_err(|e| Stop::Failed(e.to_string()))?;
                for element in r.render_members(&chunk) {
                    if any {
                        self.push(b",");
                    } else {
                        if !first {
                            self.push(b",");
                        }
                        first = false;
                        self.push_json(key)?;
                        self.push(b":[");
                        any = true;
                    }
                    self.push_json(&element)?;
                }
                self.flush(false).await?;
            }
            if any {
                self.push(b"]");
            }
        }
        self.push(b"}");
        Ok(())
    }
}

/// A body of `head`, the resources separated by commas, and `tail`, written on a task of its
/// own as the client takes it.
fn body(head: Vec<u8>, items: Vec<Rendered>, tail: &'static [u8]) -> Body {
    let (tx, rx) = mpsc::channel(PIECES_IN_FLIGHT);
    tokio::spawn(async move {
        let mut out = Out {
            tx: tx.clone(),
            buf: head,
        };
        let mut written: Result<(), Stop> = Ok(());
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(b",");
            }
            written = out.resource(item).await;
            if written.is_err() {
                break;
            }
        }
        if written.is_ok() {
            out.push(tail);
            written = out.flush(true).await;
        }
        if let Err(Stop::Failed(e)) = written {
            tracing::error!(error = %e, "a streamed answer failed midway; the body was cut off");
            let _ = tx.send(Err(std::io::Error::other(e))).await;
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    }))
}

/// A streamed answer: status, SCIM media type, optional `ETag` / `Location`.
fn response(
    status: StatusCode,
    etag: Option<String>,
    location: Option<String>,
    body: Body,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        headers.insert(header::ETAG, tag);
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, loc);
    }
    response
}

/// One resource as a response (streamed or not).
pub fn resource_response(
    status: StatusCode,
    etag: Option<String>,
    location: Option<String>,
    item: Rendered,
) -> Response {
    match item {
        Rendered::Whole(body) => crate::http::ScimJson {
            status,
            body,
            etag,
            location,
        }
        .into_response(),
        streamed => response(
            status,
            etag,
            location,
            body(Vec::new(), vec![streamed], b""),
        ),
    }
}

/// A ListResponse: `header` (schemas and counters) followed by `Resources`.
pub fn list_response(header: Map<String, Value>, resources: Vec<Rendered>) -> Response {
    if resources.iter().all(|r| matches!(r, Rendered::Whole(_))) {
        let mut body = header;
        let items = resources
            .into_iter()
            .filter_map(Rendered::into_whole)
            .collect();
        body.insert("Resources".into(), Value::Array(items));
        return crate::http::ScimJson::ok(Value::Object(body)).into_response();
    }
    let mut head = serde_json::to_vec(&Value::Object(header)).unwrap_or_else(|_| b"{}".to_vec());
    // `{…}` without its closing brace, then the list.
    head.pop();
    if head.len() > 1 {
        head.push(b',');
    }
    head.extend_from_slice(b"\"Resources\":[");
    response(StatusCode::OK, None, None, body(head, resources, b"]}"))
}
