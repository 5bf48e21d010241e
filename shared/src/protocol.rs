//! The wire protocol: length-prefixed postcard frames.
//!
//! A frame on the wire is a 4-byte big-endian length followed by that many bytes of a postcard
//! encoded [`Frame`]. Variants of [`Frame`] (and of every enum inside it) are only ever appended,
//! never reordered or removed: postcard encodes the variant index, and agents stay un-upgraded on
//! customers' servers for years.

use crate::change::SourceChange;
use crate::command::{AgentCommand, CommandOutcome};
use crate::ids::{AgentId, SiteId, SourceName, TenantId};
use serde::{Deserialize, Serialize};

/// Bumped when a change is not backwards compatible. Carried in [`Frame::Hello`].
pub const PROTOCOL_VERSION: u16 = 1;
/// ALPN for the sync protocol (client certificate required).
pub const ALPN_SYNC: &[u8] = b"xietong/1";
/// ALPN for enrollment (no client certificate yet; only [`Frame::EnrollRequest`] is accepted).
pub const ALPN_ENROLL: &[u8] = b"xietong-enroll/1";
/// The name the hub's server certificate is issued for. Agents pin the hub's CA, so the name
/// need not match the address IT typed.
pub const HUB_SERVER_NAME: &str = "hub.xietong.internal";
/// Largest frame either side accepts, in bytes (length prefix excluded).
pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Bytes of the length prefix.
pub const FRAME_PREFIX_BYTES: usize = 4;

/// What an agent role may do. Fixed at enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    Warehouse,
    Finance,
    Pos,
}

impl AgentRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            AgentRole::Warehouse => "warehouse",
            AgentRole::Finance => "finance",
            AgentRole::Pos => "pos",
        }
    }
}

impl std::str::FromStr for AgentRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "warehouse" => Ok(AgentRole::Warehouse),
            "finance" => Ok(AgentRole::Finance),
            "pos" => Ok(AgentRole::Pos),
            other => Err(format!(
                "unknown role {other:?} (expected warehouse, finance or pos)"
            )),
        }
    }
}

/// What an agent reports about one of its sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub source: SourceName,
    /// Highest seq durable in the agent's outbox for this source.
    pub durable_seq: u64,
    /// Changes in the outbox not yet acknowledged by the hub.
    pub backlog: u64,
    /// Rows this source refused (kept in the agent's quarantine), since the agent was enrolled.
    pub quarantined: u64,
    /// The last error the source hit, if it is currently failing.
    pub last_error: Option<String>,
}

/// Where the hub stands for one origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub source: SourceName,
    /// Every seq up to and including this one is applied durably at the hub.
    pub applied_seq: u64,
}

/// A change the hub refused while applying a batch (it still counts as processed: the seq
/// advances and the refusal is kept at the hub with its reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub seq: u64,
    pub reason: String,
}

/// Every message either side sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Agent → hub, first frame on the control stream.
    Hello {
        protocol: u16,
        agent_version: String,
        sources: Vec<SourceStatus>,
    },
    /// Hub → agent, answer to `Hello`: where to resume each origin.
    Welcome {
        protocol: u16,
        agent: AgentId,
        resume: Vec<ResumePoint>,
    },
    /// Agent → hub, on the batch stream: consecutive changes of one source.
    Batch {
        batch_id: u64,
        source: SourceName,
        changes: Vec<SourceChange>,
    },
    /// Hub → agent: the batch is durable at the hub; `applied_seq` is the new resume point.
    Ack {
        batch_id: u64,
        source: SourceName,
        applied_seq: u64,
        rejected: Vec<Rejection>,
    },
    /// Agent → hub: periodic health of its sources.
    Status { sources: Vec<SourceStatus> },
    /// Agent → hub: a certificate signing request for a fresh key (renewal).
    RenewRequest { csr_der: Vec<u8> },
    /// Hub → agent: the renewed certificate.
    RenewResponse { cert_der: Vec<u8> },
    /// Agent → hub on the enrollment ALPN: a one-time token and a CSR for a locally made key.
    EnrollRequest { token: String, csr_der: Vec<u8> },
    /// Hub → agent: the agent's identity and certificate.
    EnrollResponse {
        agent: AgentId,
        tenant: TenantId,
        site: SiteId,
        role: AgentRole,
        cert_der: Vec<u8>,
        ca_der: Vec<u8>,
    },
    /// Either side: a refusal with a machine code and a human message, then the stream closes.
    Error { code: ErrorCode, message: String },
    /// Agent → hub, first frame of the command stream (a second bidirectional stream the agent
    /// opens after `Welcome` when it has sinks): the kinds of command it can apply. An agent
    /// that never sends it never receives a command.
    CommandsReady { sinks: Vec<String> },
    /// Hub → agent, on the command stream: apply this command. `seq` is strictly increasing
    /// per agent; a command not yet answered is sent again after a reconnect.
    Command { seq: u64, command: AgentCommand },
    /// Agent → hub, on the command stream: the command `seq` is decided (durably, at the agent).
    CommandResult { seq: u64, outcome: CommandOutcome },
}

/// Machine-readable refusal reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    ProtocolVersion,
    TokenUnknown,
    TokenUsed,
    TokenExpired,
    BadRequest,
    Revoked,
    UnknownAgent,
    Internal,
    SequenceGap,
}

/// Why bytes could not become a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversized { len: usize, max: usize },
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error("frame is not a valid message: {0}")]
    Garbage(String),
    #[error("frame has {0} trailing bytes after the message")]
    TrailingBytes(usize),
}

#[derive(Debug, thiserror::Error)]
#[error("frame could not be encoded: {0}")]
pub struct EncodeError(String);

/// Encodes `frame` with its length prefix, appending to `out`.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_PREFIX_BYTES]);
    let body =
        postcard::to_extend(frame, std::mem::take(out)).map_err(|e| EncodeError(e.to_string()));
    *out = body?;
    let len = out.len() - start - FRAME_PREFIX_BYTES;
    if len > FRAME_BYTES_MAX {
        out.truncate(start);
        return Err(EncodeError(format!(
            "{len} bytes exceeds the limit of {FRAME_BYTES_MAX}"
        )));
    }
    out[start..start + FRAME_PREFIX_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Encodes one frame into a fresh buffer.
pub fn frame_bytes(frame: &Frame) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out)?;
    Ok(out)
}

/// Decodes a frame body (without the prefix). The whole slice must be one message.
pub fn decode_body(body: &[u8]) -> Result<Frame, DecodeError> {
    if body.len() > FRAME_BYTES_MAX {
        return Err(DecodeError::Oversized {
            len: body.len(),
            max: FRAME_BYTES_MAX,
        });
    }
    let (frame, rest) = postcard::take_from_bytes::<Frame>(body)
        .map_err(|e| DecodeError::Garbage(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(frame)
}

/// Reads the length prefix at the start of `buf`, checking it against the limit.
pub fn frame_len(prefix: [u8; FRAME_PREFIX_BYTES]) -> Result<usize, DecodeError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(DecodeError::Oversized {
            len,
            max: FRAME_BYTES_MAX,
        });
    }
    Ok(len)
}

/// An incremental decoder: push bytes as they arrive, take frames as they complete.
/// After an error the decoder is poisoned (the stream is out of sync) and keeps returning it.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    poisoned: Option<DecodeError>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.poisoned.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        if self.buf.len() < FRAME_PREFIX_BYTES {
            return Ok(None);
        }
        let prefix: [u8; FRAME_PREFIX_BYTES] =
            self.buf[..FRAME_PREFIX_BYTES].try_into().expect("4 bytes");
        let len = match frame_len(prefix) {
            Ok(len) => len,
            Err(e) => return Err(self.poison(e)),
        };
        if self.buf.len() < FRAME_PREFIX_BYTES + len {
            return Ok(None);
        }
        let result = decode_body(&self.buf[FRAME_PREFIX_BYTES..FRAME_PREFIX_BYTES + len]);
        self.buf.drain(..FRAME_PREFIX_BYTES + len);
        result.map(Some).map_err(|e| self.poison(e))
    }

    /// Call when the stream ended: an error if a partial frame is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Truncated {
                buffered: self.buf.len(),
            })
        }
    }

    fn poison(&mut self, e: DecodeError) -> DecodeError {
        self.buf = Vec::new();
        self.poisoned = Some(e.clone());
        e
    }
}

/// Decodes every frame in `bytes`, which must hold whole frames only.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.next_frame()? {
        frames.push(frame);
    }
    decoder.finish()?;
    Ok(frames)
}
