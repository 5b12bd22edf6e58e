//! The accept loop: each connection is served by hyper with a header-read timeout (which
//! also closes idle keep-alive connections), under a limit on open connections, with the
//! peer's address available to handlers (`ConnectInfo`), and a graceful shutdown. With TLS
//! ([`serve_tls`]), the handshake runs on the connection's own task (bounded by the same
//! header-read timeout) and ALPN offers HTTP/2 beside HTTP/1.1; the acceptor's certificate
//! resolver decides which certificate each new handshake gets, so a certificate reloaded
//! meanwhile applies to new connections while open ones carry on.
//!
//! Before this, idle and byte-by-byte connections were never closed: 1,100 of them used up
//! a 1,024 file-descriptor limit and the server stopped answering, logging nothing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How connections are accepted and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once; at the limit, new connections wait in the kernel's
    /// queue until one closes (and a line is logged).
    pub max_connections: usize,
    /// How long the server waits for a request's head (method, path, headers): a client
    /// that sends it too slowly, or a keep-alive connection idle for that long, is closed.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the requests
/// in flight to finish.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_inner(listener, router, limits, None, shutdown).await
}

/// [`serve_connections`] over TLS: HTTP/1.1 and HTTP/2 (ALPN `h2`, `http/1.1`, set on the
/// acceptor's configuration by the caller).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: tokio_rustls::TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_inner(listener, router, limits, Some(tls), shutdown).await
}

async fn serve_inner(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let at_limit = Arc::new(AtomicBool::new(false));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let mut auto = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    auto.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // HTTP/2 has no request heads to time out between: pings find peers that went away.
    auto.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let auto = Arc::new(auto);
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the limit, connections wait in the kernel's backlog.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !at_limit.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes \
                         (raise --max-connections, or look for idle or slow clients)"
                    );
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or memory: say so, let connections close,
                    // and go on (never spin).
                    tracing::error!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if at_limit.load(Ordering::Relaxed) && permits.available_permits() > 0 {
            at_limit.store(false, Ordering::Relaxed);
            tracing::info!("connections below the limit again");
        }
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req.map(axum::body::Body::new)
            });
        let Some(tls) = &tls else {
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                drop(permit);
            });
            continue;
        };
        let (tls, auto, watcher) = (tls.clone(), auto.clone(), graceful.watcher());
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let conn =
                auto.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
