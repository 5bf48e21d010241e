//! Frames over quinn streams: the length prefix and limit of [`crate::protocol`]. The one IO
//! adapter of this crate (feature `quic`), shared by the agent and the hub so both read and
//! write frames the same way.

use crate::protocol::{
    DecodeError, FRAME_BYTES_MAX, FRAME_PREFIX_BYTES, Frame, decode_body, frame_bytes, frame_len,
};

#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    #[error("stream read failed: {0}")]
    Read(#[from] quinn::ReadExactError),
    #[error("stream write failed: {0}")]
    Write(#[from] quinn::WriteError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("frame could not be encoded: {0}")]
    Encode(String),
}

/// The next frame, or `None` if the peer finished the stream cleanly between frames.
pub async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Option<Frame>, FrameIoError> {
    read_frame_within(recv, FRAME_BYTES_MAX).await
}

/// [`read_frame`] for a stream whose frames are small: a length prefix over `bytes_max` is
/// refused before anything more is read or allocated.
pub async fn read_frame_within(
    recv: &mut quinn::RecvStream,
    bytes_max: usize,
) -> Result<Option<Frame>, FrameIoError> {
    let mut prefix = [0u8; FRAME_PREFIX_BYTES];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(n)) => {
            return Err(DecodeError::Truncated { buffered: n }.into());
        }
        Err(e) => return Err(e.into()),
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
    recv.read_exact(&mut body).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(n) => {
            FrameIoError::Decode(DecodeError::Truncated { buffered: n })
        }
        e => e.into(),
    })?;
    Ok(Some(decode_body(&body)?))
}

pub async fn write_frame(send: &mut quinn::SendStream, frame: &Frame) -> Result<(), FrameIoError> {
    let bytes = frame_bytes(frame).map_err(|e| FrameIoError::Encode(e.to_string()))?;
    send.write_all(&bytes).await?;
    Ok(())
}
