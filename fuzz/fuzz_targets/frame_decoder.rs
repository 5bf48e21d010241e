//! Fuzzes the wire frame decoder with arbitrary bytes, as a hostile or broken peer could send.
//!
//! Checks, for every input:
//! - `decode_all` and `FrameDecoder` never panic, whatever the bytes;
//! - feeding the bytes to `FrameDecoder` in arbitrary chunks gives exactly what `decode_all`
//!   gives on the whole buffer (same frames, same error);
//! - a poisoned decoder keeps returning its error;
//! - every frame decoded re-encodes with `frame_bytes` and decodes back equal (round trip).

#![no_main]

use libfuzzer_sys::fuzz_target;
use xt_shared::protocol::{DecodeError, Frame, FrameDecoder, decode_all, frame_bytes};

/// Most leading bytes used as chunk sizes.
const CHUNK_SIZE_BYTES_MAX: usize = 8;

fuzz_target!(|data: &[u8]| {
    // The whole input as one buffer.
    if let Ok(frames) = decode_all(data) {
        frames.iter().for_each(round_trip);
    }

    // The same decoder fed in chunks: data[0] says how many of the following bytes are chunk
    // sizes (1..=8, each 1..=256 bytes, used in turn); the rest is the stream.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n as usize % CHUNK_SIZE_BYTES_MAX + 1).min(rest.len());
    let (sizes, stream) = rest.split_at(n);
    let chunked = decode_chunked(stream, sizes);
    if let Ok(frames) = &chunked {
        frames.iter().for_each(round_trip);
    }
    assert_eq!(
        chunked,
        decode_all(stream),
        "chunked decoding differs from whole-buffer decoding"
    );
});

/// Pushes `stream` in chunks of the given sizes, taking frames after each push until the decoder
/// needs more bytes or fails; then `finish()`.
fn decode_chunked(stream: &[u8], sizes: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes.next().map_or(rest.len(), |&s| s as usize + 1);
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    // Poisoned: the same error again, whatever is pushed afterwards.
                    decoder.push(rest);
                    assert_eq!(decoder.next_frame(), Err(e.clone()));
                    assert_eq!(decoder.finish(), Err(e.clone()));
                    return Err(e);
                }
            }
        }
    }
    decoder.finish()?;
    Ok(frames)
}

/// A decoded frame encodes again and decodes back to itself.
fn round_trip(frame: &Frame) {
    let bytes = frame_bytes(frame).expect("a decoded frame encodes again");
    let back = decode_all(&bytes).expect("a re-encoded frame decodes");
    assert_eq!(
        back.as_slice(),
        std::slice::from_ref(frame),
        "round trip changed the frame"
    );
}
