//! Server-Sent Events (the WHATWG event-stream format) read from a streaming response:
//! `GET /v1/events`. reqwest's `stream` feature is off in this workspace, so the body is
//! read chunk by chunk and the blocks between blank lines are parsed here.

use crate::http::ApiError;
use crate::types::Event;
use futures_util::Stream;

/// The events of `res`, in order, until the server ends the stream or the connection
/// drops (then one last `Err`). Comments and keep-alives (`:` lines) and blocks without
/// `data` are skipped.
pub fn event_stream(
    res: reqwest::Response,
    server: String,
) -> impl Stream<Item = Result<Event, ApiError>> + Send + 'static {
    let state = Some(Reader {
        res,
        buf: String::new(),
        server,
    });
    futures_util::stream::unfold(state, |state| async move {
        let mut reader = state?;
        match reader.next().await {
            Ok(Some(event)) => Some((Ok(event), Some(reader))),
            Ok(None) => None,
            // After an error the stream ends: the caller reconnects with the last id.
            Err(e) => Some((Err(e), None)),
        }
    })
}

struct Reader {
    res: reqwest::Response,
    buf: String,
    server: String,
}

impl Reader {
    async fn next(&mut self) -> Result<Option<Event>, ApiError> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Ok(Some(event));
                }
            }
            let chunk = self.res.chunk().await.map_err(|e| ApiError::Transport {
                message: format!("the event stream from {} broke: {e}", self.server),
                transient: true,
                connected: true,
            })?;
            let Some(bytes) = chunk else {
                return Ok(None);
            };
            self.buf.push_str(&String::from_utf8_lossy(&bytes));
            // The format allows CRLF and CR line ends as well; a CR at the very end may be
            // the first half of a CRLF, so it waits for the next chunk.
            if self.buf.contains('\r') {
                let keep_cr = self.buf.ends_with('\r');
                let mut text = self.buf.replace("\r\n", "\n");
                if keep_cr {
                    text.pop();
                }
                self.buf = text.replace('\r', "\n");
                if keep_cr {
                    self.buf.push('\r');
                }
            }
        }
    }
}

/// One block of field lines; `None` when it carries no data.
pub fn parse_block(block: &str) -> Option<Event> {
    let mut event = Event {
        id: None,
        event: None,
        data: String::new(),
    };
    let mut has_data = false;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "id" => event.id = Some(value.to_owned()),
            "event" => event.event = Some(value.to_owned()),
            "data" => {
                if has_data {
                    event.data.push('\n');
                }
                event.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    has_data.then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_gives_its_id_kind_and_data_and_comments_are_skipped() {
        let e = parse_block(": keep-alive\nid: 7\nevent: handoff\ndata: {\"a\":1}\n\n");
        assert_eq!(
            e,
            Some(Event {
                id: Some("7".to_owned()),
                event: Some("handoff".to_owned()),
                data: "{\"a\":1}".to_owned(),
            })
        );
        assert_eq!(parse_block(": only a comment\n\n"), None);
        let multi = parse_block("data: one\ndata:two\n\n").map(|e| e.data);
        assert_eq!(multi.as_deref(), Some("one\ntwo"));
    }
}
