//! CSV records as bytes, with exact byte offsets and line numbers, in bounded memory.
//!
//! Built on `csv_core` rather than `csv::Reader` for three reasons: the cursor needs the exact
//! offset after a record and the exact line a record starts on (the csv crate reports the
//! position where a read *began*, before any skipped line ends); a record must not grow without
//! bound (an unbalanced quote would otherwise swallow the rest of a 2 GB file); and a reader
//! started mid-file must not mistake data for a byte order mark.
//!
//! Line ends (`\n`, `\r\n`, `\r`) and blank lines between records are skipped here; a line is
//! counted per `\n`, which never occurs inside a GBK/GB18030 multi-byte character.

use std::io::{self, BufRead, BufReader, Read};

/// Most bytes of field content in one record.
pub const RECORD_BYTES_MAX: usize = 1024 * 1024;
/// Most fields in one record.
pub const RECORD_FIELDS_MAX: usize = 16 * 1024;
/// Read buffer size.
const READ_BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "the record starting at line {line} exceeds {RECORD_BYTES_MAX} bytes or {RECORD_FIELDS_MAX} fields (unbalanced quote?)"
    )]
    TooLong { line: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

pub struct RecordReader<R> {
    core: csv_core::Reader,
    input: BufReader<R>,
    /// Absolute offset of the next unconsumed byte.
    offset: u64,
    /// Line of the next unconsumed byte (1-based).
    line: u64,
    buf: Vec<u8>,
    ends: Vec<usize>,
    len: usize,
}

impl<R: Read> RecordReader<R> {
    /// Reads records from `input`, which is positioned at absolute byte `offset`, on `line`.
    pub fn new(input: R, delimiter: u8, offset: u64, line: u64) -> Self {
        let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
        if offset > 0 {
            // csv_core strips a UTF-8 BOM from its very first input. Mid-file, those bytes are
            // data (they can start a GBK character): let it see a blank line first, which it
            // skips, so the real input is never taken for the start of the file.
            let _ = core.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
        }
        RecordReader {
            core,
            input: BufReader::with_capacity(READ_BUFFER_BYTES, input),
            offset,
            line,
            buf: vec![0; 4096],
            ends: vec![0; 64],
            len: 0,
        }
    }

    /// `(offset, line)` of the next unconsumed byte: where to resume after the last record.
    pub fn position(&self) -> (u64, u64) {
        (self.offset, self.line)
    }

    /// Reads the next record; returns the line it starts on, or `None` at the end of input.
    pub fn read(&mut self) -> Result<Option<u64>, ReadError> {
        self.len = 0;
        // Skip line ends and blank lines, counting lines.
        loop {
            let input = self.input.fill_buf()?;
            if input.is_empty() {
                return Ok(None);
            }
            let skip = input
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            self.line += input[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset += skip as u64;
            let more = skip < input.len();
            self.input.consume(skip);
            if more {
                break;
            }
        }
        let start_line = self.line;
        let (mut out, mut nends) = (0, 0);
        loop {
            let input = self.input.fill_buf()?;
            let (res, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.buf[out..], &mut self.ends[nends..]);
            self.line += input[..nin].iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset += nin as u64;
            self.input.consume(nin);
            out += nout;
            nends += nend;
            use csv_core::ReadRecordResult as R;
            match res {
                R::InputEmpty => {}
                R::OutputFull => {
                    if self.buf.len() >= RECORD_BYTES_MAX {
                        return Err(ReadError::TooLong { line: start_line });
                    }
                    let grown = (self.buf.len() * 2).min(RECORD_BYTES_MAX);
                    self.buf.resize(grown, 0);
                }
                R::OutputEndsFull => {
                    if self.ends.len() >= RECORD_FIELDS_MAX {
                        return Err(ReadError::TooLong { line: start_line });
                    }
                    let grown = (self.ends.len() * 2).min(RECORD_FIELDS_MAX);
                    self.ends.resize(grown, 0);
                }
                R::Record => {
                    self.len = nends;
                    return Ok(Some(start_line));
                }
                R::End => return Ok(None),
            }
        }
    }

    /// Fields of the last record read.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let ends = &self.ends[..self.len];
        ends.iter().enumerate().map(move |(i, &end)| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &self.buf[start..end]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads all records of `input` from `offset`: (line, fields, position after).
    fn read_all(input: &[u8], offset: usize, line: u64) -> Vec<(u64, Vec<String>, (u64, u64))> {
        let mut r = RecordReader::new(&input[offset..], b',', offset as u64, line);
        let mut out = Vec::new();
        while let Some(line) = r.read().unwrap() {
            let fields = r
                .fields()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            out.push((line, fields, r.position()));
        }
        out
    }

    fn fields(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn lines_and_offsets_are_exact() {
        let input = b"a,b\r\n\r\n1,\"x\ny\"\r\n2,\"q\"\"\"\n\n3,z";
        let got = read_all(input, 0, 1);
        assert_eq!(
            got,
            [
                (1, fields(&["a", "b"]), (4, 1)),
                (3, fields(&["1", "x\ny"]), (15, 4)),
                (5, fields(&["2", "q\""]), (24, 6)),
                (7, fields(&["3", "z"]), (28, 7)),
            ]
        );
        // Resuming at any recorded position yields exactly the rest.
        for (i, (_, _, (offset, line))) in got.iter().enumerate() {
            assert_eq!(read_all(input, *offset as usize, *line), got[i + 1..]);
        }
    }

    #[test]
    fn a_bom_is_stripped_only_at_the_start() {
        assert_eq!(
            read_all(b"\xEF\xBB\xBFa,b\n", 0, 1)[0].1,
            fields(&["a", "b"])
        );
        let input = b"h\n\xEF\xBB\xBF\xA1,1\n";
        let mut r = RecordReader::new(&input[2..], b',', 2, 2);
        assert_eq!(r.read().unwrap(), Some(2));
        assert_eq!(r.fields().next().unwrap(), b"\xEF\xBB\xBF\xA1");
    }

    #[test]
    fn an_unbalanced_quote_stops_at_the_limit() {
        let mut input = b"a,b\n1,\"open\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', RECORD_BYTES_MAX + 10));
        let mut r = RecordReader::new(&input[..], b',', 0, 1);
        assert_eq!(r.read().unwrap(), Some(1));
        assert!(matches!(r.read(), Err(ReadError::TooLong { line: 2 })));
    }
}
