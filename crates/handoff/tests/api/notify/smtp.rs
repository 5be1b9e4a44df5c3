//! A tiny SMTP listener on loopback that accepts (or refuses, as scripted) and keeps the
//! messages, and the MIME reading the e-mail tests need.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// One message the SMTP listener accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA, dot-unstuffed, lines joined with CRLF.
    pub text: String,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    pub mails: Arc<Mutex<Vec<Mail>>>,
    /// Answers to the next `RCPT TO`s (e.g. `451 …`, `550 …`); `250` once it runs out.
    pub rcpt_replies: Arc<Mutex<VecDeque<&'static str>>>,
    /// How many `RCPT TO`s came.
    pub rcpts: Arc<Mutex<usize>>,
    /// How many messages were accepted; waiters watch it.
    accepted: Arc<watch::Sender<usize>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the SMTP listener");
        let port = listener.local_addr().expect("an address").port();
        let sink = SmtpSink {
            port,
            mails: Arc::default(),
            rcpt_replies: Arc::default(),
            rcpts: Arc::default(),
            accepted: Arc::new(watch::Sender::new(0)),
        };
        let session = sink.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(smtp_session(sock, session.clone()));
            }
        });
        sink
    }

    /// Waits (up to `within`) until `n` messages were accepted; woken by each one.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + within;
        let mut accepted = self.accepted.subscribe();
        loop {
            let mails = self.mails.lock().expect("lock").clone();
            if mails.len() >= n {
                return mails;
            }
            match tokio::time::timeout_at(deadline, accepted.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("{} mails within {within:?}, not {n}", mails.len()),
            }
        }
    }
}

async fn smtp_session(sock: tokio::net::TcpStream, sink: SmtpSink) {
    let mails = sink.mails.clone();
    let (read, mut write) = sock.into_split();
    let mut lines = BufReader::new(read);
    let say = async |w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        w.write_all(text.as_bytes()).await.is_ok()
    };
    if !say(&mut write, "220 sink.test ESMTP ready\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            "250-sink.test greets you\r\n250 8BITMIME\r\n".to_owned()
        } else if upper.starts_with("HELO") {
            "250 sink.test\r\n".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd["MAIL FROM:".len()..].trim().to_owned();
            to.clear();
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            *sink.rcpts.lock().expect("lock") += 1;
            match sink.rcpt_replies.lock().expect("lock").pop_front() {
                Some(reply) => format!("{reply}\r\n"),
                None => {
                    to.push(cmd["RCPT TO:".len()..].trim().to_owned());
                    "250 OK\r\n".to_owned()
                }
            }
        } else if upper == "DATA" {
            if !say(&mut write, "354 end with <CRLF>.<CRLF>\r\n").await {
                return;
            }
            let mut data = Vec::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let l = line.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                data.push(l.strip_prefix('.').unwrap_or(l).to_owned());
            }
            mails.lock().expect("lock").push(Mail {
                from: from.clone(),
                to: to.clone(),
                text: data.join("\r\n"),
            });
            sink.accepted.send_modify(|n| *n += 1);
            "250 OK queued\r\n".to_owned()
        } else if upper == "QUIT" {
            let _ = say(&mut write, "221 bye\r\n").await;
            return;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            "250 OK\r\n".to_owned()
        } else {
            "502 not implemented\r\n".to_owned()
        };
        if !say(&mut write, &reply).await {
            return;
        }
    }
}

/// Headers (unfolded, names lowercased) and body of a MIME entity.
fn split_entity(text: &str) -> (HashMap<String, String>, String) {
    let text = text.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let headers = unfolded
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (headers, body.to_owned())
}

fn decode_quoted_printable(s: &str) -> String {
    let s = s.replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_part(headers: &HashMap<String, String>, body: &str) -> String {
    let cte = headers
        .get("content-transfer-encoding")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    match cte.as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8_lossy(&STANDARD.decode(joined).expect("a base64 part")).into_owned()
        }
        "quoted-printable" => decode_quoted_printable(body),
        _ => body.to_owned(),
    }
}

/// The parts of a multipart/alternative message: (content type, decoded body).
pub fn alternative_parts(message: &str) -> (HashMap<String, String>, Vec<(String, String)>) {
    let (headers, body) = split_entity(message);
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    assert!(
        content_type
            .to_ascii_lowercase()
            .starts_with("multipart/alternative"),
        "content-type {content_type:?} of\n{message}"
    );
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .expect("a boundary")
        .trim_matches('"')
        .to_owned();
    let delimiter = format!("--{boundary}");
    let parts = body
        .split(&delimiter)
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|p| {
            let (h, b) = split_entity(p.trim_start_matches('\n'));
            let ct = h.get("content-type").cloned().unwrap_or_default();
            (ct, decode_part(&h, &b))
        })
        .collect();
    (headers, parts)
}

/// A header value with its RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`)
/// decoded; the whitespace between two encoded words is dropped, as the RFC says, and
/// their bytes are joined before they are read as UTF-8.
pub fn decode_header(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    for token in value.split([' ', '\t']).filter(|t| !t.is_empty()) {
        let word = token
            .strip_prefix("=?")
            .and_then(|t| t.strip_suffix("?="))
            .and_then(|t| {
                let mut it = t.splitn(3, '?');
                Some((it.next()?, it.next()?, it.next()?))
            });
        match word {
            Some((_charset, enc, text)) => {
                if enc.eq_ignore_ascii_case("b") {
                    pending.extend(STANDARD.decode(text).expect("a base64 encoded word"));
                } else {
                    pending.extend(decode_quoted_printable(&text.replace('_', " ")).into_bytes());
                }
            }
            None => {
                flush(&mut out, &mut pending);
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
            }
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u8>) {
    if pending.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(&String::from_utf8_lossy(pending));
    pending.clear();
}
