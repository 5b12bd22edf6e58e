//! A pooled PostgreSQL connection as a [`Db`]: `?` placeholders rewritten to `$n`, typed
//! parameters, and a per-connection statement cache.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::ClientWrapper;
use tokio::runtime::Handle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Row, Statement};

use super::error::{self, Kind};
use crate::StoreError;
use crate::sql::db::{Db, DbError, Dialect, OnFailure, SqlRow, SqlValue, numbered_placeholders};

/// Prepared statements kept per connection. The store's fixed statements are a few dozen;
/// listings add one per filter *shape*, which a client chooses, so the cache is bounded.
const STATEMENT_CACHE_LIMIT: usize = 512;

/// The parameter type of a value: the schema's BIGINT, BOOLEAN, TEXT and BYTEA. A NULL is
/// a text NULL (every nullable column the store writes a NULL to is TEXT).
fn param_type(v: &SqlValue) -> Type {
    match v {
        SqlValue::Null | SqlValue::Text(_) | SqlValue::Document(_) => Type::TEXT,
        SqlValue::Int(_) => Type::INT8,
        SqlValue::Bool(_) => Type::BOOL,
        SqlValue::Blob(_) => Type::BYTEA,
    }
}

/// The escape character of stored text (see [`escape`]).
const ESCAPE: char = '\u{1}';

/// PostgreSQL text cannot hold NUL, which SQLite and JSON strings can: text is stored with
/// a lossless escape, U+0001 as U+0001 U+0001 and NUL as U+0001 '0'. The mapping is one to
/// one and no encoded character is a prefix of another, so equality, uniqueness and lookups
/// are exactly those of the original strings. (Only the relative order of strings that
/// differ at a NUL or U+0001 can differ from SQLite's.)
fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['\0', ESCAPE]) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => {
                out.push(ESCAPE);
                out.push('0');
            }
            ESCAPE => {
                out.push(ESCAPE);
                out.push(ESCAPE);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Reverses [`escape`].
fn unescape(s: String) -> String {
    if !s.contains(ESCAPE) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == ESCAPE {
            match chars.next() {
                Some('0') => out.push('\0'),
                Some(other) => out.push(other),
                None => out.push(ESCAPE),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(i) => i.to_sql(ty, out),
            SqlValue::Bool(b) => b.to_sql(ty, out),
            SqlValue::Text(s) => escape(s).as_ref().to_sql(ty, out),
            // PostgreSQL compresses large text itself (TOAST).
            SqlValue::Document(d) => escape(d.text()).as_ref().to_sql(ty, out),
            SqlValue::Blob(b) => b.to_sql(ty, out),
        }
    }

    /// Statements are prepared with the types of `param_type`, so the declared type always
    /// fits the value; the per-value check happens in `to_sql`.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Why a statement failed: the database said so, or it did not answer in time (a server
/// that accepts connections but hangs, a cut network the kernel has not noticed yet).
#[derive(Debug)]
pub(crate) enum StmtError {
    Pg(tokio_postgres::Error),
    TimedOut(Duration),
}

impl StmtError {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            StmtError::Pg(e) => error::kind(e),
            // The connection is in an unknown state: never reuse it.
            StmtError::TimedOut(_) => Kind::Broken,
        }
    }

    pub(crate) fn to_store(&self) -> StoreError {
        match self {
            StmtError::Pg(e) => error::to_store(e),
            StmtError::TimedOut(d) => StoreError::Unavailable(format!(
                "the database did not answer within {} s",
                d.as_secs_f64()
            )),
        }
    }
}

/// Runs `fut` on the runtime from a blocking thread, for at most `deadline`.
pub(crate) fn wait<T>(
    handle: &Handle,
    deadline: Duration,
    fut: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StmtError> {
    handle.block_on(async {
        match tokio::time::timeout(deadline, fut).await {
            Ok(r) => r.map_err(StmtError::Pg),
            Err(_) => Err(StmtError::TimedOut(deadline)),
        }
    })
}

/// Runs one read statement on `client` outside any transaction (it sees one snapshot, as
/// every statement does), awaited where it is asked, for at most `deadline`: the rows, to
/// be read with [`map_rows`].
pub(crate) async fn query_once(
    client: &ClientWrapper,
    sql: &str,
    params: &[SqlValue],
    deadline: Duration,
) -> Result<Vec<Row>, StmtError> {
    let types: Vec<Type> = params.iter().map(param_type).collect();
    let sql = numbered_placeholders(sql);
    if client.statement_cache.size() >= STATEMENT_CACHE_LIMIT {
        client.statement_cache.clear();
    }
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let answer = tokio::time::timeout(deadline, async {
        let statement = client.prepare_typed_cached(&sql, &types).await?;
        client.query(&statement, &refs).await
    });
    match answer.await {
        Ok(rows) => rows.map_err(StmtError::Pg),
        Err(_) => Err(StmtError::TimedOut(deadline)),
    }
}

/// Each of `rows` mapped by `map`, as [`Db::query`] hands them over.
pub(crate) fn map_rows<T>(
    rows: &[Row],
    mut map: impl FnMut(&dyn SqlRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|row| map(&PgRow(row))).collect()
}

/// An answer of the database to one request.
enum Answer {
    Rows(Vec<Row>),
    Count(u64),
}

/// The answer to a request already sent.
type Reply<'c> = Pin<Box<dyn Future<Output = Result<Answer, tokio_postgres::Error>> + 'c>>;

/// A prepared statement and its parameters, kept until the statement is confirmed, to be
/// sent again after a rollback to a savepoint before it.
#[derive(Clone)]
struct Prepared {
    statement: Statement,
    params: Arc<Vec<SqlValue>>,
    /// Whether it changes rows (for [`super::analyze`]).
    writes: bool,
}

/// What a request sent and not answered yet is.
enum Origin {
    /// Transaction control (`BEGIN`, savepoints): if it fails, the transaction is in an
    /// unknown state.
    Control,
    /// A deferred statement of a write, and what its failures mean.
    Deferred { write: usize, on: OnFailure },
    /// A statement whose answer its write awaits ([`PgDb::run_now`]; never queued).
    Now,
}

struct InFlight<'c> {
    reply: Reply<'c>,
    /// The answer, once read ahead of [`PgDb::settle`] (see [`InFlight::read_ahead`]).
    answered: Option<Result<Answer, tokio_postgres::Error>>,
    origin: Origin,
    writes: bool,
}

impl InFlight<'_> {
    /// Reads the answer if it has arrived, keeping it for [`PgDb::settle`]. Waiting for one
    /// answer (a statement being prepared, a request sent earlier) without reading the
    /// others already due could wait until the deadline: the connection hands each
    /// request's answer over a channel with room for little, and reads no further while one
    /// is full (the likely cause of the hang `a_statement_prepared_after_a_failed_write_is_answered`
    /// reproduced). So every wait on the connection reads the other answers meanwhile.
    fn read_ahead(&mut self, cx: &mut Context<'_>) {
        if self.answered.is_none()
            && let Poll::Ready(answer) = self.reply.as_mut().poll(cx)
        {
            self.answered = Some(answer);
        }
    }
}

/// One write of the transaction (a batch runs several, each in a savepoint).
#[derive(Default)]
struct Write {
    /// Whether it sent any statement.
    sent: bool,
    /// Its deferred statements sent and not confirmed yet.
    unconfirmed: Vec<(Prepared, OnFailure)>,
    /// The savepoint commands sent after it ended, once it ended well.
    closed: Option<&'static str>,
    /// Why one of its statements failed (its statements are then undone).
    failed: Option<StoreError>,
}

/// Commands between two writes of a batch: the previous one kept.
const NEXT_WRITE: &str = "RELEASE SAVEPOINT job; SAVEPOINT job";
/// Undoes the current write of a batch (the savepoint stays, for the next write).
const UNDO_WRITE: &str = "ROLLBACK TO SAVEPOINT job";

/// A connection inside a transaction, used from a blocking thread. Statements whose answer
/// a write needs run to completion with the runtime handle (the connection's I/O task runs
/// on the runtime); deferred statements ([`Db::execute_deferred`]) and transaction commands
/// are only sent, and their answers read together with the next statement's (PostgreSQL
/// runs a connection's requests in order), so that a write whose statements need no answer
/// costs one network round trip however many it runs.
///
/// In a batch ([`PgDb::batch`]) each write runs in the savepoint `job`. When the answers show
/// that a deferred statement failed, its write is undone (`ROLLBACK TO SAVEPOINT job`, the
/// savepoint taken before it) and the deferred statements of the writes sent after it, which
/// the failed transaction refused, are sent again: every write gets the outcome it would
/// have had alone, in the same order.
pub(crate) struct PgDb<'c> {
    client: &'c ClientWrapper,
    handle: &'c Handle,
    /// How long one statement may take before the connection is given up (the server's
    /// own `statement_timeout` is shorter; this covers a server that does not answer).
    deadline: Duration,
    /// The commands that open the transaction, until they are sent with the first statement
    /// (not at all if no statement follows).
    begin: Option<String>,
    /// Whether the transaction was opened.
    began: bool,
    /// Whether writes run in savepoints (a batch) rather than one per transaction.
    savepoints: bool,
    /// Requests sent and not answered yet, in the order sent.
    queue: VecDeque<InFlight<'c>>,
    /// The writes, the current one last.
    writes: Vec<Write>,
    /// Why the transaction is in an unknown state (the connection must be dropped).
    broken: Option<StoreError>,
    /// Facts remembered for the rest of the transaction ([`Db::remember`]; batches only).
    memo: Option<HashMap<String, bool>>,
    /// Rows inserted, updated or deleted by the statements so far (for [`super::analyze`]).
    pub(crate) rows_written: u64,
}

impl<'c> PgDb<'c> {
    /// A transaction opened by `begin`, for one unit of work.
    pub(crate) fn new(
        client: &'c ClientWrapper,
        handle: &'c Handle,
        begin: String,
        deadline: Duration,
    ) -> Self {
        PgDb {
            client,
            handle,
            deadline,
            begin: Some(begin),
            began: false,
            savepoints: false,
            queue: VecDeque::new(),
            writes: vec![Write::default()],
            broken: None,
            memo: None,
            rows_written: 0,
        }
    }

    /// A transaction for a batch of one tenant's writes, each in the savepoint `job`;
    /// `begin` opens it, locks the tenant's row and takes the first savepoint.
    pub(crate) fn batch(
        client: &'c ClientWrapper,
        handle: &'c Handle,
        begin: String,
        deadline: Duration,
    ) -> Self {
        PgDb {
            savepoints: true,
            memo: Some(HashMap::new()),
            ..PgDb::new(client, handle, begin, deadline)
        }
    }

    /// Whether the transaction was opened (a statement was sent).
    pub(crate) fn began(&self) -> bool {
        self.began
    }

    /// Why the transaction can no longer be used, if it cannot.
    pub(crate) fn broken(&self) -> Option<&StoreError> {
        self.broken.as_ref()
    }

    fn current(&mut self) -> &mut Write {
        if self.writes.is_empty() {
            self.writes.push(Write::default());
        }
        let last = self.writes.len() - 1;
        &mut self.writes[last]
    }

    /// The error every statement of the current write gets once it cannot succeed.
    fn unusable(&mut self) -> Option<StoreError> {
        if let Some(e) = &self.broken {
            return Some(e.clone());
        }
        self.current().failed.clone()
    }

    /// Sends a request: polls its future once, which queues it on the connection (the
    /// future then only waits for the answer).
    fn send(&self, mut reply: Reply<'c>) -> Reply<'c> {
        let mut cx = Context::from_waker(Waker::noop());
        match reply.as_mut().poll(&mut cx) {
            Poll::Pending => reply,
            Poll::Ready(answer) => Box::pin(std::future::ready(answer)),
        }
    }

    /// Sends transaction commands (a simple query), opening the transaction first if needed.
    fn control(&mut self, commands: &str) {
        self.open();
        self.push_control(commands.to_string());
    }

    fn push_control(&mut self, commands: String) {
        let client = self.client;
        let reply = self.send(Box::pin(async move {
            client
                .batch_execute(&commands)
                .await
                .map(|()| Answer::Count(0))
        }));
        self.queue.push_back(InFlight {
            reply,
            answered: None,
            origin: Origin::Control,
            writes: false,
        });
    }

    /// Sends the commands that open the transaction, if they have not gone yet.
    fn open(&mut self) {
        if let Some(begin) = self.begin.take() {
            self.began = true;
            self.push_control(begin);
        }
    }

    fn reply(&self, p: &Prepared, rows: bool) -> Reply<'c> {
        let client = self.client;
        let (statement, params) = (p.statement.clone(), p.params.clone());
        self.send(Box::pin(async move {
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            if rows {
                client.query(&statement, &refs).await.map(Answer::Rows)
            } else {
                client.execute(&statement, &refs).await.map(Answer::Count)
            }
        }))
    }

    /// Sends a deferred statement of write `write`.
    fn push_deferred(&mut self, write: usize, p: &Prepared, on: OnFailure) {
        let reply = self.reply(p, false);
        self.queue.push_back(InFlight {
            reply,
            answered: None,
            origin: Origin::Deferred { write, on },
            writes: p.writes,
        });
    }

    fn count(&mut self, writes: bool, answer: &Answer) {
        if writes {
            self.rows_written += match answer {
                Answer::Rows(rows) => rows.len() as u64,
                Answer::Count(n) => *n,
            };
        }
    }

    /// Reads the answers to every request sent, in order. When a deferred statement failed,
    /// its write fails: in a batch, the transaction goes back to the savepoint before that
    /// write and the deferred statements of the later writes are sent again (and their
    /// answers read); otherwise the transaction has failed. Returns whether a write failed;
    /// `Err` when the transaction is in an unknown state.
    fn settle(&mut self) -> Result<bool, StoreError> {
        self.settle_beside(None)
    }

    /// [`Self::settle`], reading `beside`'s answer too as it arrives: a request sent after
    /// the queued ones, whose answer its sender awaits once they are settled (see
    /// [`InFlight::read_ahead`]: every answer already due is read while another is awaited).
    fn settle_beside(&mut self, mut beside: Option<&mut InFlight<'c>>) -> Result<bool, StoreError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let mut failed_any = false;
        loop {
            let mut failure = None;
            while let Some(item) = self.queue.pop_front() {
                let InFlight {
                    reply,
                    answered,
                    origin,
                    writes,
                } = item;
                let answer = match answered {
                    Some(answer) => answer.map_err(StmtError::Pg),
                    None => {
                        let (queue, mut reply) = (&mut self.queue, reply);
                        let mut beside = beside.as_deref_mut();
                        let answered = std::future::poll_fn(move |cx| {
                            for item in queue.iter_mut().chain(beside.as_deref_mut()) {
                                item.read_ahead(cx);
                            }
                            reply.as_mut().poll(cx)
                        });
                        wait(self.handle, self.deadline, answered)
                    }
                };
                match answer {
                    Ok(answer) => self.count(writes, &answer),
                    Err(e) => {
                        failure = Some((origin, e));
                        break;
                    }
                }
            }
            let Some((origin, e)) = failure else {
                for w in &mut self.writes {
                    w.unconfirmed.clear();
                }
                return Ok(failed_any);
            };
            // The requests after the failed one were refused (the transaction failed).
            self.queue.clear();
            let (write, on) = match origin {
                Origin::Deferred { write, on } if e.kind() != Kind::Broken => (write, on),
                _ => {
                    let error = e.to_store();
                    self.broken = Some(error.clone());
                    return Err(error);
                }
            };
            failed_any = true;
            let failed = &mut self.writes[write];
            failed.failed = Some(deferred_error(&e, on));
            failed.unconfirmed.clear();
            failed.closed = None;
            if !self.savepoints {
                return Ok(true);
            }
            self.push_control(UNDO_WRITE.to_string());
            for later in write + 1..self.writes.len() {
                let again = self.writes[later].unconfirmed.clone();
                for (p, on) in again {
                    self.push_deferred(later, &p, on);
                }
                if let Some(next) = self.writes[later].closed {
                    self.push_control(next.to_string());
                }
            }
        }
    }

    /// Records the failure of a statement of the current write and returns its error. In a
    /// batch the write is undone at once (the savepoint stays for the next write).
    fn fail_current(&mut self, e: &StmtError) -> StoreError {
        let error = e.to_store();
        if e.kind() == Kind::Broken {
            self.broken = Some(error.clone());
            return error;
        }
        let savepoints = self.savepoints;
        let current = self.current();
        current.failed = Some(StoreError::Database(
            "a statement failed inside the transaction; it was rolled back".into(),
        ));
        current.unconfirmed.clear();
        if savepoints {
            self.push_control(UNDO_WRITE.to_string());
        }
        error
    }

    /// Prepares a statement (cached per connection). A transaction that failed refuses to
    /// prepare: if requests are still unanswered, they are settled first and it is tried
    /// again.
    fn prepare_for(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Statement, (StoreError, Option<Kind>)> {
        if let Some(e) = self.unusable() {
            return Err((e, None));
        }
        match self.prepare(sql, params) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() != Kind::Broken && !self.queue.is_empty() => {
                self.settle().map_err(|e| (e, None))?;
                if let Some(e) = self.unusable() {
                    return Err((e, None));
                }
                self.prepare(sql, params).map_err(|e| {
                    let kind = e.kind();
                    (self.fail_current(&e), Some(kind))
                })
            }
            Err(e) => {
                let kind = e.kind();
                Err((self.fail_current(&e), Some(kind)))
            }
        }
    }

    fn prepare(&mut self, sql: &str, params: &[SqlValue]) -> Result<Statement, StmtError> {
        let types: Vec<Type> = params.iter().map(param_type).collect();
        let sql = numbered_placeholders(sql);
        let client = self.client;
        if client.statement_cache.size() >= STATEMENT_CACHE_LIMIT {
            client.statement_cache.clear();
        }
        let queue = &mut self.queue;
        let mut prepared = std::pin::pin!(client.prepare_typed_cached(&sql, &types));
        // The answers to the requests sent before are read while this one is awaited (see
        // `InFlight::read_ahead`).
        let answered = std::future::poll_fn(move |cx| {
            for item in queue.iter_mut() {
                item.read_ahead(cx);
            }
            prepared.as_mut().poll(cx)
        });
        wait(self.handle, self.deadline, answered)
    }

    /// Runs a statement whose answer the write needs now: sent after the requests still
    /// unanswered, whose answers are read first. The error's kind is that of the statement's
    /// own failure (none when it was not run).
    fn run_now(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        rows: bool,
    ) -> Result<Answer, (StoreError, Option<Kind>)> {
        let statement = self.prepare_for(sql, params)?;
        let p = Prepared {
            statement,
            params: Arc::new(params.to_vec()),
            writes: writes(sql),
        };
        loop {
            self.open();
            let mut now = InFlight {
                reply: self.reply(&p, rows),
                answered: None,
                origin: Origin::Now,
                writes: p.writes,
            };
            self.current().sent = true;
            let failed_before = self.settle_beside(Some(&mut now)).map_err(|e| (e, None))?;
            if failed_before {
                // Refused by the failed transaction: sent again after the recovery, unless
                // it was this write that failed.
                drop(now);
                if let Some(e) = self.unusable() {
                    return Err((e, None));
                }
                continue;
            }
            let answer = match now.answered {
                Some(answer) => answer.map_err(StmtError::Pg),
                None => wait(self.handle, self.deadline, now.reply),
            };
            return match answer {
                Ok(answer) => {
                    self.count(p.writes, &answer);
                    Ok(answer)
                }
                Err(e) => {
                    let kind = e.kind();
                    Err((self.fail_current(&e), Some(kind)))
                }
            };
        }
    }

    /// Ends the current write of a batch: kept (`ok`) or undone. Returns its number.
    pub(crate) fn end_write(&mut self, ok: bool) -> usize {
        let index = self.writes.len() - 1;
        let current = &self.writes[index];
        if self.broken.is_none() && current.failed.is_none() && current.sent {
            if ok {
                self.control(NEXT_WRITE);
                self.writes[index].closed = Some(NEXT_WRITE);
            } else {
                // The write gave up after sending statements: once the earlier writes'
                // outcomes are known, its own are undone.
                if self.settle().is_ok() && self.writes[index].failed.is_none() {
                    self.push_control(UNDO_WRITE.to_string());
                }
            }
        }
        self.writes.push(Write::default());
        index
    }

    /// Why write `index`'s statements failed, if they did (known once [`Self::finish`]
    /// returned).
    pub(crate) fn write_failure(&self, index: usize) -> Option<StoreError> {
        self.writes.get(index).and_then(|w| w.failed.clone())
    }

    /// Reads every answer still due. `Err` when the transaction must not be committed: its
    /// state is unknown, or (outside a batch) one of its statements failed.
    pub(crate) fn finish(&mut self) -> Result<(), StoreError> {
        self.settle()?;
        if !self.savepoints
            && let Some(e) = self.writes.first().and_then(|w| w.failed.clone())
        {
            return Err(e);
        }
        Ok(())
    }
}

/// The error of a failed deferred statement, as its write asked.
fn deferred_error(e: &StmtError, on: OnFailure) -> StoreError {
    if let StmtError::Pg(pg) = e {
        if pg.code() == Some(&SqlState::UNIQUE_VIOLATION)
            && let Some(error) = on.unique
        {
            return error;
        }
        if pg.code() == Some(&SqlState::NOT_NULL_VIOLATION)
            && let Some(error) = on.not_null
        {
            return error;
        }
    }
    e.to_store()
}

/// Whether a statement changes rows (rather than only reading them): it starts with
/// `INSERT`, `UPDATE` or `DELETE`, or with a `WITH` whose parts do.
fn writes(sql: &str) -> bool {
    const WRITES: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];
    let sql = sql.trim_start();
    let head = sql.get(..6).unwrap_or_default();
    if WRITES.iter().any(|w| head.eq_ignore_ascii_case(w)) {
        return true;
    }
    sql.get(..4).is_some_and(|h| h.eq_ignore_ascii_case("WITH"))
        && WRITES.iter().any(|w| sql.contains(w))
}

impl Db for PgDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        match self.run_now(sql, params, false) {
            Ok(Answer::Count(n)) => Ok(n),
            Ok(Answer::Rows(rows)) => Ok(rows.len() as u64),
            Err((_, Some(Kind::Unique))) => Err(DbError::Unique),
            Err((e, _)) => Err(DbError::Store(e)),
        }
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        f: &mut dyn FnMut(&dyn SqlRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let rows = match self.run_now(sql, params, true) {
            Ok(Answer::Rows(rows)) => rows,
            Ok(Answer::Count(_)) => Vec::new(),
            Err((e, _)) => return Err(e),
        };
        for row in &rows {
            f(&PgRow(row))?;
        }
        Ok(())
    }

    fn execute_deferred(
        &mut self,
        sql: &str,
        params: Vec<SqlValue>,
        on: OnFailure,
    ) -> Result<(), StoreError> {
        let statement = self.prepare_for(sql, &params).map_err(|(e, _)| e)?;
        let p = Prepared {
            statement,
            params: Arc::new(params),
            writes: writes(sql),
        };
        self.open();
        let index = self.writes.len() - 1;
        self.push_deferred(index, &p, on.clone());
        let current = self.current();
        current.sent = true;
        current.unconfirmed.push((p, on));
        Ok(())
    }

    fn remembered(&self, key: &str) -> Option<bool> {
        self.memo.as_ref().and_then(|m| m.get(key).copied())
    }

    fn remember(&mut self, key: &str, value: bool) {
        if let Some(m) = &mut self.memo {
            m.insert(key.to_string(), value);
        }
    }
}

/// One result row.
struct PgRow<'r>(&'r Row);

impl PgRow<'_> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T, StoreError> {
        self.0
            .try_get(i)
            .map_err(|e| StoreError::Database(format!("column {i}: {}", error::describe(&e))))
    }
}

impl SqlRow for PgRow<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        match ty {
            Some(Type::INT4) => self.get::<i32>(i).map(i64::from),
            Some(Type::INT2) => self.get::<i16>(i).map(i64::from),
            _ => self.get::<i64>(i),
        }
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map(unescape)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get::<Option<String>>(i).map(|t| t.map(unescape))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        match ty {
            Some(Type::INT4) => Ok(self.get::<Option<i32>>(i)?.map(i64::from)),
            _ => self.get::<Option<i64>>(i),
        }
    }
    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escaping_round_trips_and_keeps_equality() {
        let samples = [
            "",
            "plain",
            "nul\0in",
            "\u{1}",
            "\u{1}0",
            "\0",
            "a\u{1}\u{1}\0b",
            "\u{1}\0",
        ];
        for a in samples {
            assert_eq!(unescape(escape(a).into_owned()), a);
            assert!(!escape(a).contains('\0'));
            for b in samples {
                assert_eq!(escape(a) == escape(b), a == b, "{a:?} {b:?}");
            }
        }
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }
}
