//! The harness: the built `scim` binary as real processes, an HTTP client, and a TCP proxy
//! that can cut the way to the database.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use scim_store::postgres::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scim` binary under test.
pub fn scim() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scim"));
    // The tests choose every setting themselves.
    for var in [
        "SCIM_DATABASE_URL",
        "SCIM_DATA_DIR",
        "SCIM_CONFIG",
        "SCIM_LISTEN",
        "SCIM_PUBLIC_URL",
        "SCIM_SCHEMAS_DIR",
        "SCIM_DATABASE_MAX_CONNECTIONS",
        "SCIM_DATABASE_CONNECT_TIMEOUT",
        "RUST_BACKTRACE",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs an admin command; returns its stdout, panicking with its output if it failed.
pub fn run(args: &[&str]) -> String {
    let out = scim().args(args).output().expect("run scim");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scim {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A PostgreSQL database for a test, `None` when skipped.
pub async fn test_database(test: &str) -> Option<TestDatabase> {
    TestDatabase::create(test)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Creates tenant `acme` and a token for it with the CLI; returns the token.
pub fn tenant_and_token(database_url: &str) -> String {
    // Administration never creates a database: `migrate` does (and is idempotent).
    run(&["migrate", "--database-url", database_url]);
    run(&["tenant", "create", "acme", "--database-url", database_url]);
    let out = run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "idp",
        "--database-url",
        database_url,
    ]);
    token_in(&out).expect("token printed")
}

/// The first bearer token (`scim_{16 hex}_{secret}`) in a text.
pub fn token_in(text: &str) -> Option<String> {
    text.match_indices("scim_").find_map(|(start, _)| {
        let token: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        let id = token.get(5..21)?;
        (id.bytes().all(|b| b.is_ascii_hexdigit()) && token.get(21..22) == Some("_"))
            .then_some(token)
    })
}

/// A running `scim serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub output: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `scim serve` on 127.0.0.1:0 with these extra arguments and waits until it
    /// serves.
    pub fn start(args: &[&str]) -> Server {
        Self::spawn(args).ready()
    }

    /// Starts several servers at once (their starts overlap) and waits for all.
    pub fn start_together(n: usize, args: &[&str]) -> Vec<Server> {
        let starting: Vec<Starting> = (0..n).map(|_| Self::spawn(args)).collect();
        starting.into_iter().map(Starting::ready).collect()
    }

    /// Starts `scim serve` through `sh -c '{shell}; exec scim serve …'` (to set a umask or a
    /// ulimit first) and waits until it serves.
    pub fn start_after_shell(shell: &str, args: &[&str]) -> Server {
        let c = scim();
        let program = c.get_program().to_owned();
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("{shell}; exec \"$0\" \"$@\""))
            .arg(program)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args);
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        Self::spawn_command(sh).ready()
    }

    fn spawn(args: &[&str]) -> Starting {
        let mut c = scim();
        c.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args);
        Self::spawn_command(c)
    }

    pub fn spawn_command(mut command: Command) -> Starting {
        let mut child = command
            .env("SCIM_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start scim serve");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let (output, tx) = (output.clone(), tx.clone());
            // Keep draining the pipes for the whole life of the process.
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            });
        }
        Starting {
            child,
            output,
            lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the server to stop, as a service manager does (SIGTERM).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit (after [`Server::terminate`]).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

/// A server that has been started but may not serve yet.
pub struct Starting {
    child: Child,
    output: Arc<Mutex<String>>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Starting {
    /// Waits until the server logs that it serves (standard error, with its address) and says
    /// so on standard output, after any first-start block: once both are seen, everything
    /// the server printed at start is in `output`.
    pub fn ready(mut self) -> Server {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut listen, mut announced) = (None::<String>, false);
        loop {
            if let (Some(listen), true) = (&listen, announced) {
                return Server {
                    child: self.child,
                    url: format!("http://{listen}"),
                    output: self.output,
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if line.starts_with("scim is serving ") {
                        announced = true;
                        continue;
                    }
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if v["fields"]["message"] == "scim is serving" {
                        listen = v["fields"]["listen"].as_str().map(str::to_string);
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("scim serve did not start: {}", self.output.lock().unwrap());
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_string()
    }

    /// Asserts a 503 SCIM error with Retry-After.
    #[track_caller]
    pub fn expect_unavailable(self) -> Reply {
        assert_eq!(self.status.as_u16(), 503, "body: {}", self.body);
        assert!(
            self.header("retry-after")
                .is_some_and(|v| v.parse::<u64>().is_ok()),
            "Retry-After: {:?}",
            self.headers
        );
        assert_eq!(self.body["schemas"][0], ERROR_SCHEMA, "{}", self.body);
        assert_eq!(self.body["status"], "503", "{}", self.body);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.body
        );
        self
    }
}

/// An HTTP client for one tenant of any number of servers.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    pub fn new(token: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Client {
            http,
            token: token.to_string(),
        }
    }

    /// A request to `{server}/scim/v2/acme{path}`.
    pub async fn call(
        &self,
        server: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{server}/scim/v2/acme{path}"))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, server: &str, path: &str) -> Reply {
        self.call(server, Method::GET, path, None, &[]).await
    }

    pub async fn create_user(&self, server: &str, user_name: &str) -> Reply {
        let body = json!({"schemas": [USER_SCHEMA], "userName": user_name});
        self.call(server, Method::POST, "/Users", Some(body), &[])
            .await
    }

    pub async fn patch(
        &self,
        server: &str,
        path: &str,
        ops: Value,
        if_match: Option<&str>,
    ) -> Reply {
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        let headers: Vec<(&str, &str)> = if_match.map(|m| ("if-match", m)).into_iter().collect();
        self.call(server, Method::PATCH, path, Some(body), &headers)
            .await
    }

    /// The `totalResults` of a filtered list.
    pub async fn count(&self, server: &str, endpoint: &str, filter: &str) -> u64 {
        let f: String = form_urlencode(filter);
        let r = self
            .get(server, &format!("/{endpoint}?filter={f}&count=0"))
            .await
            .expect(200);
        r.body["totalResults"].as_u64().expect("totalResults")
    }
}

fn form_urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A TCP forwarder on 127.0.0.1:0 in front of the database that can be cut (every
/// connection closed, new ones refused) and restored on the same port.
pub struct Proxy {
    pub addr: SocketAddr,
    target: (String, u16),
    running: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(target: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let proxy = Proxy {
            addr,
            target,
            running: Mutex::new(None),
            connections: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, connections) = (self.target.clone(), self.connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        TcpStream::connect((target.0.as_str(), target.1)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(forward);
            }
        });
        *self.running.lock().unwrap() = Some(accept);
    }

    /// Closes every forwarded connection and stops listening (connections are refused).
    pub async fn cut(&self) {
        if let Some(accept) = self.running.lock().unwrap().take() {
            accept.abort();
        }
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
        // Let the aborted tasks drop their sockets.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Listens again on the same address.
    pub async fn restore(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("proxy rebind: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

/// Polls `f` until it returns true or the time is up.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not within {within:?}");
}
