//! A local HTTP receiver standing in for Slack, Discord, Teams, a webhook consumer, and the
//! faulty receivers: it records every request and answers by path.
//!
//! - `/ok/...`: 200
//! - `/fail/...`: 500
//! - `/hang/...`: reads the request and never answers (until the test ends)
//! - `/limited/...`: 429 with `Retry-After: 2` the first time, 200 after

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Clone)]
pub struct LocalReceiver {
    pub base: String,
    seen: Arc<Mutex<Vec<Received>>>,
    /// Connections held open by `/hang`: dropped with the receiver.
    _held: Arc<Mutex<Vec<TcpStream>>>,
}

impl LocalReceiver {
    pub fn start() -> LocalReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, h) = (seen.clone(), held.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, h) = (s.clone(), h.clone());
                std::thread::spawn(move || serve(stream, &s, &h));
            }
        });
        LocalReceiver {
            base,
            seen,
            _held: held,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests to `path` so far.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Received>>, held: &Mutex<Vec<TcpStream>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let earlier = {
        let mut seen = seen.lock().unwrap();
        let earlier = seen.iter().filter(|r| r.path == path).count();
        seen.push(Received {
            path: path.clone(),
            headers,
            body,
            at: Instant::now(),
        });
        earlier
    };
    let (status, extra) = if path.starts_with("/fail") {
        ("500 Internal Server Error", "")
    } else if path.starts_with("/hang") {
        held.lock().unwrap().push(stream);
        return;
    } else if path.starts_with("/limited") && earlier == 0 {
        ("429 Too Many Requests", "retry-after: 2\r\n")
    } else {
        ("200 OK", "")
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{extra}content-length: 2\r\nconnection: close\r\n\r\nok"
    );
}
