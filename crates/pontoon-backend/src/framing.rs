//! JSON lines, one message a line, as a backend writes them on its stdout and reads them
//! on its stdin. Hand-written rather than tokio-util's `LinesCodec` + serde_json because a
//! backend is hostile: a line past the limit is skipped to its end without being kept in
//! memory, and nesting is bounded before the parser sees it (serde_json's own limit, 128,
//! is deeper than any vocabulary message and its recursion is on our stack). A bad line is
//! reported and the stream goes on; only the pipe's end or failure ends it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// Longest line read (bytes, without its newline): a message with a long text and a few
/// attachments' descriptions is far below it.
pub const MAX_LINE: usize = 256 * 1024;
/// Deepest nesting of arrays and objects in a message (the vocabulary's deepest is about 8).
pub const MAX_DEPTH: usize = 32;

/// What was wrong with one line; the next line is read as if it had not been.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    /// Longer than [`MAX_LINE`]; skipped.
    #[error("a line of more than {MAX_LINE} bytes")]
    TooLong,
    /// Not UTF-8.
    #[error("a line that is not UTF-8")]
    NotUtf8,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("a message nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Not JSON, or not a message of the expected type.
    #[error("not a message: {0}")]
    Malformed(String),
}

/// The pipe itself failed.
#[derive(Debug, thiserror::Error)]
#[error("the backend's pipe: {0}")]
pub struct PipeError(#[from] std::io::Error);

/// Reads messages of type `T`, one a line, from a backend's output.
pub struct Reader<R> {
    input: R,
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> Reader<R> {
    /// Reads from `input`.
    pub fn new(input: R) -> Self {
        Reader {
            input,
            line: Vec::new(),
        }
    }

    /// The next line's message, or what was wrong with it; `Ok(None)` at the end of the
    /// stream. Blank lines are skipped.
    pub async fn next<T: DeserializeOwned>(
        &mut self,
    ) -> Result<Option<Result<T, LineError>>, PipeError> {
        loop {
            match self.read_line().await? {
                None => return Ok(None),
                Some(Err(e)) => return Ok(Some(Err(e))),
                Some(Ok(())) if self.line.iter().all(u8::is_ascii_whitespace) => continue,
                Some(Ok(())) => return Ok(Some(parse(&self.line))),
            }
        }
    }

    /// One line into `self.line` (without its newline); a line past [`MAX_LINE`] is read
    /// to its end and dropped as it comes.
    async fn read_line(&mut self) -> Result<Option<Result<(), LineError>>, PipeError> {
        self.line.clear();
        let mut too_long = false;
        loop {
            let available = self.input.fill_buf().await?;
            if available.is_empty() {
                // The end: a last line without its newline still counts.
                return Ok(match (too_long, self.line.is_empty()) {
                    (true, _) => Some(Err(LineError::TooLong)),
                    (false, true) => None,
                    (false, false) => Some(Ok(())),
                });
            }
            let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            if !too_long {
                if self.line.len() + chunk.len() > MAX_LINE {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let used = done.unwrap_or(available.len());
            self.input.consume(used);
            if done.is_some() {
                return Ok(Some(if too_long {
                    Err(LineError::TooLong)
                } else {
                    Ok(())
                }));
            }
        }
    }
}

/// One line's message.
fn parse<T: DeserializeOwned>(line: &[u8]) -> Result<T, LineError> {
    let text = std::str::from_utf8(line).map_err(|_| LineError::NotUtf8)?;
    if depth(text) > MAX_DEPTH {
        return Err(LineError::TooDeep);
    }
    serde_json::from_str(text).map_err(|e| LineError::Malformed(e.to_string()))
}

/// The deepest nesting of `[` and `{` outside strings.
fn depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Writes `message` as one line to a backend's input (JSON escapes every newline inside
/// strings, so a message is always one line).
pub async fn write<W: AsyncWrite + Unpin, T: Serialize>(
    output: &mut W,
    message: &T,
) -> Result<(), PipeError> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    output.write_all(&line).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::Value;
    use tokio::io::BufReader;

    async fn read_all(input: &[u8]) -> Vec<Result<Value, LineError>> {
        // A small buffer, so lines span several reads.
        let mut reader = Reader::new(BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        while let Some(line) = reader.next::<Value>().await.unwrap() {
            out.push(line);
        }
        out
    }

    #[tokio::test]
    async fn one_message_a_line_blank_lines_skipped_last_without_newline() {
        let got = read_all(b"{\"a\":1}\n\n  \n\"connected\"\n[1,2]").await;
        assert_eq!(
            got,
            vec![
                Ok(serde_json::json!({"a": 1})),
                Ok(Value::String("connected".into())),
                Ok(serde_json::json!([1, 2]))
            ]
        );
    }

    #[tokio::test]
    async fn a_bad_line_is_reported_and_the_next_read() {
        let mut input = Vec::new();
        input.extend_from_slice(b"not json\n");
        input.extend_from_slice(b"\xff\xfe\n");
        input.extend_from_slice(&b"["[..].repeat(MAX_DEPTH + 1));
        input.push(b'\n');
        input.extend_from_slice(&vec![b'x'; MAX_LINE + 10]);
        input.push(b'\n');
        input.extend_from_slice(b"{\"ok\":true}\n");
        let got = read_all(&input).await;
        assert!(matches!(got[0], Err(LineError::Malformed(_))), "{got:?}");
        assert_eq!(got[1], Err(LineError::NotUtf8));
        assert_eq!(got[2], Err(LineError::TooDeep));
        assert_eq!(got[3], Err(LineError::TooLong));
        assert_eq!(got[4], Ok(serde_json::json!({"ok": true})));
        assert_eq!(got.len(), 5);
    }

    #[tokio::test]
    async fn brackets_inside_strings_are_not_nesting() {
        let deep_text = format!(
            "{{\"body\":\"{}\\\"{}\"}}",
            "[".repeat(100),
            "{".repeat(100)
        );
        let got = read_all(format!("{deep_text}\n").as_bytes()).await;
        assert!(got[0].is_ok(), "{got:?}");
    }

    #[tokio::test]
    async fn a_written_message_is_one_line() {
        let mut out = Vec::new();
        write(&mut out, &serde_json::json!({"body": "two\nlines"}))
            .await
            .unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        let back = read_all(&out).await;
        assert_eq!(back, vec![Ok(serde_json::json!({"body": "two\nlines"}))]);
    }
}
