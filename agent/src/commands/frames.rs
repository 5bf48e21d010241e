//! Frames over any byte stream (`tokio::io::AsyncRead` / `AsyncWrite`): a quinn stream in
//! production, `tokio::io::duplex` in tests. Same prefix and limits as [`xt_shared::quic`].

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use xt_shared::protocol::{
    DecodeError, FRAME_PREFIX_BYTES, Frame, decode_body, frame_bytes, frame_len,
};

#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    #[error("stream failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("frame could not be encoded: {0}")]
    Encode(String),
}

/// Reads into `buf` until full; `Ok(n < len)` when the stream ended after `n` bytes.
async fn fill<R: AsyncRead + Unpin>(recv: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = recv.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// The next frame, `None` if the peer finished the stream cleanly between frames. A length
/// prefix over `bytes_max` is refused before anything more is read or allocated.
pub async fn read_frame<R: AsyncRead + Unpin>(
    recv: &mut R,
    bytes_max: usize,
) -> Result<Option<Frame>, FrameIoError> {
    let mut prefix = [0u8; FRAME_PREFIX_BYTES];
    match fill(recv, &mut prefix).await? {
        0 => return Ok(None),
        FRAME_PREFIX_BYTES => {}
        n => return Err(DecodeError::Truncated { buffered: n }.into()),
    }
    let len = frame_len(prefix)?;
    if len > bytes_max {
        return Err(DecodeError::Oversized {
            len,
            max: bytes_max,
        }
        .into());
    }
    let mut body = vec![0u8; len];
    let n = fill(recv, &mut body).await?;
    if n < len {
        return Err(DecodeError::Truncated {
            buffered: FRAME_PREFIX_BYTES + n,
        }
        .into());
    }
    Ok(Some(decode_body(&body)?))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(
    send: &mut W,
    frame: &Frame,
) -> Result<(), FrameIoError> {
    let bytes = frame_bytes(frame).map_err(|e| FrameIoError::Encode(e.to_string()))?;
    send.write_all(&bytes).await?;
    send.flush().await?;
    Ok(())
}
