//! Walking every page of a list: by cursor (RFC 9865) when the server offers it, else by
//! `startIndex`/`count` (RFC 7644 §3.4.2.4).

use scim_core::messages::ListResponse;
use serde_json::Value;

use crate::{Client, ClientError};

/// Query parameters of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// `filter` (RFC 7644 §3.4.2.2).
    pub filter: Option<String>,
    /// `attributes`: the attributes to return.
    pub attributes: Option<String>,
    /// `excludedAttributes`: attributes not to return.
    pub excluded_attributes: Option<String>,
    /// `sortBy`.
    pub sort_by: Option<String>,
    /// `startIndex` (1-based).
    pub start_index: Option<u64>,
    /// `count`: the page size asked for.
    pub count: Option<u64>,
    /// `Some("")` asks for the first page of a cursor walk.
    pub cursor: Option<String>,
}

impl ListParams {
    /// The parameters as query pairs (SCIM names), the absent ones left out.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let mut push = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        };
        push("filter", &self.filter);
        push("attributes", &self.attributes);
        push("excludedAttributes", &self.excluded_attributes);
        push("sortBy", &self.sort_by);
        push("cursor", &self.cursor);
        if let Some(s) = self.start_index {
            q.push(("startIndex", s.to_string()));
        }
        if let Some(c) = self.count {
            q.push(("count", c.to_string()));
        }
        q
    }
}

/// How to walk the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// By cursor (RFC 9865).
    Cursor,
    /// By `startIndex` and `count`.
    Index,
}

/// An iterator over pages; `next_page` returns `None` after the last.
#[derive(Debug)]
pub struct Pager {
    client: Client,
    endpoint: String,
    params: ListParams,
    paging: Paging,
    page_size: u64,
    next_index: u64,
    next_cursor: Option<String>,
    done: bool,
    seen: u64,
}

impl Pager {
    pub(crate) fn new(client: Client, endpoint: &str, params: ListParams, paging: Paging) -> Pager {
        let page_size = params.count.unwrap_or(100).max(1);
        Pager {
            client,
            endpoint: endpoint.to_string(),
            params,
            paging,
            page_size,
            next_index: 1,
            next_cursor: Some(String::new()),
            done: false,
            seen: 0,
        }
    }

    /// The next page's resources, or `None` when the list is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Value>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let mut params = self.params.clone();
        params.count = Some(self.page_size);
        match self.paging {
            Paging::Cursor => params.cursor = self.next_cursor.clone(),
            Paging::Index => params.start_index = Some(self.next_index),
        }
        let page: ListResponse = self.client.list(&self.endpoint, &params).await?;
        let n = page.resources.len() as u64;
        self.seen += n;
        match self.paging {
            Paging::Cursor => {
                self.next_cursor = page.next_cursor.filter(|c| !c.is_empty());
                self.done = self.next_cursor.is_none() || n == 0;
            }
            Paging::Index => {
                self.next_index += n;
                // A server that pages smaller than asked is followed; an empty page or the
                // advertised total ends the walk.
                self.done = n == 0 || self.seen >= page.total_results;
            }
        }
        Ok(Some(page.resources))
    }

    /// Every resource of every page.
    pub async fn collect_all(mut self) -> Result<Vec<Value>, ClientError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }
}
