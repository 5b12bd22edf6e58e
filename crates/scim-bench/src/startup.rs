//! `scim-bench startup`: time from starting a server process to its first answered request.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::{StartupArgs, host_port};

/// The path and query of a URL (`/` when it has none).
pub fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest.get(i..).unwrap_or("/").to_string(),
        None => "/".to_string(),
    }
}

/// Whether an HTTP response starts with a 200 status line.
pub fn is_ok_response(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split_whitespace();
    parts.next().is_some_and(|v| v.starts_with("HTTP/")) && parts.next() == Some("200")
}

fn probe(addr: &std::net::SocketAddr, request: &[u8]) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(request).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(buf.get_mut(got..).unwrap_or(&mut [])) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    is_ok_response(buf.get(..got).unwrap_or(&[]))
}

/// Starts the command, polls the health URL every 0.5 ms, and returns the milliseconds until
/// the first 200. The process is killed afterwards.
pub fn run(args: &StartupArgs) -> Result<f64> {
    let (host, port) =
        host_port(&args.health_url).ok_or_else(|| anyhow!("cannot parse {}", args.health_url))?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .ok_or_else(|| anyhow!("{host} has no address"))?;
    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        bail!("something already listens on {addr}; stop it first");
    }
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n",
        path_of(&args.health_url)
    );
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow!("no command given"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest).stdin(Stdio::null());
    if !args.show_output {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let deadline = start + Duration::from_secs(args.timeout);
    let result = loop {
        if probe(&addr, request.as_bytes()) {
            break Ok(start.elapsed().as_secs_f64() * 1000.0);
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(anyhow!("the server exited before answering: {status}"));
        }
        if Instant::now() >= deadline {
            break Err(anyhow!(
                "no 200 from {} within {} s",
                args.health_url,
                args.timeout
            ));
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_status_lines() {
        assert_eq!(path_of("http://127.0.0.1:8080/health"), "/health");
        assert_eq!(path_of("http://127.0.0.1:8080"), "/");
        assert!(is_ok_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2"));
        assert!(!is_ok_response(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(!is_ok_response(b""));
    }
}
