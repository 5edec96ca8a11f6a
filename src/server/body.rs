//! Response bodies: a buffer, a byte range of a file read in chunks, or
//! bytes from a blocking reader (a decompressor). All report their exact length, so every response carries a
//! Content-Length and none is sent chunked.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

const CHUNK: u64 = 64 * 1024;

/// A response body.
pub enum Body {
    /// Bytes in memory (possibly none).
    Full(Option<Bytes>),
    /// `remaining` bytes of a file, from its current position.
    File {
        /// The open file, positioned at the first byte to send.
        file: tokio::fs::File,
        /// Bytes still to send.
        remaining: u64,
    },
    /// `remaining` bytes arriving on a bounded channel: from a blocking
    /// reader on another thread (a decompressor) or from an upstream fetch
    /// being stored as it streams. An error item, or fewer bytes than
    /// announced, fails the response.
    Stream {
        /// Chunks from the reader thread.
        rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
        /// Bytes still to send.
        remaining: u64,
    },
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body::Full(None)
    }

    /// A body of `bytes`.
    pub fn bytes(bytes: impl Into<Bytes>) -> Body {
        let b: Bytes = bytes.into();
        if b.is_empty() {
            Body::Full(None)
        } else {
            Body::Full(Some(b))
        }
    }

    /// `len` bytes of `file` starting at `start`.
    pub async fn file_range(
        mut file: tokio::fs::File,
        start: u64,
        len: u64,
    ) -> std::io::Result<Body> {
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        Ok(Body::File {
            file,
            remaining: len,
        })
    }
}

impl Body {
    /// `count` bytes of `reader` after skipping `skip` bytes, read on a
    /// blocking thread. A reader that ends early fails the response
    /// (never a short body under a longer Content-Length).
    pub fn reader(reader: Box<dyn Read + Send>, skip: u64, count: u64) -> Body {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            if skip > 0 {
                match std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink()) {
                    Ok(n) if n == skip => {}
                    Ok(_) => {
                        let _ = tx.blocking_send(Err(short()));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
            let mut left = count;
            while left > 0 {
                let mut buf = vec![0u8; left.min(CHUNK) as usize];
                let n = match reader.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.blocking_send(Err(short()));
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                buf.truncate(n);
                left -= n as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return; // the client went away
                }
            }
        });
        Body::Stream {
            rx,
            remaining: count,
        }
    }
}

fn short() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the data is shorter than its announced length",
    )
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (*remaining).min(CHUNK) as usize;
                let mut buf = vec![0u8; want];
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(file).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            // The file shrank under us: fail the response
                            // rather than send fewer bytes than announced.
                            return Poll::Ready(Some(Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "nar file is shorter than its announced length",
                            ))));
                        }
                        buf.truncate(n);
                        *remaining -= n as u64;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
                    }
                }
            }
            Body::Stream { rx, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(None) => Poll::Ready(Some(Err(short()))),
                    Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Some(Ok(b))) => {
                        if b.len() as u64 > *remaining {
                            return Poll::Ready(Some(Err(std::io::Error::other(
                                "the reader sent more than announced",
                            ))));
                        }
                        *remaining -= b.len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(b))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_none(),
            Body::File { remaining, .. } | Body::Stream { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File { remaining, .. } | Body::Stream { remaining, .. } => {
                SizeHint::with_exact(*remaining)
            }
        }
    }
}
