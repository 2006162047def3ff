//! SMPP 3.4 §3.2: cutting a TCP byte stream into PDUs by their command_length, for partial reads.

use super::PduError;
use super::pdu::HEADER_LEN;

/// SMPP 3.4 §3.2: a streaming frame decoder. Feed it the octets read from the socket with [`extend`], then take
/// whole PDUs with [`next_frame`] until it answers `None`. A command_length below 16 or above the limit is an
/// error after which the stream cannot be resynchronised (the caller closes the connection).
///
/// [`extend`]: FrameDecoder::extend
/// [`next_frame`]: FrameDecoder::next_frame
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_command_length: u32,
}

impl FrameDecoder {
    /// The default limit: 64 KiB, room for a submit_sm with a large message_payload TLV.
    pub const DEFAULT_MAX_COMMAND_LENGTH: u32 = 65_536;

    /// SMPP 3.4 §3.2: a decoder refusing PDUs longer than `max_command_length` octets.
    pub fn new(max_command_length: u32) -> Self {
        FrameDecoder {
            buf: Vec::with_capacity(8192),
            start: 0,
            max_command_length: max_command_length.max(HEADER_LEN as u32),
        }
    }

    /// Appends octets read from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= 4096) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Octets received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// SMPP 3.4 §3.2: the next whole PDU (header included), `None` if more octets are needed, or an error for a
    /// command_length outside 16..=limit.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, PduError> {
        let avail = &self.buf[self.start..];
        if avail.len() < 4 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]);
        if length < HEADER_LEN as u32 || length > self.max_command_length {
            return Err(PduError::InvalidCommandLength {
                length,
                max: self.max_command_length,
            });
        }
        let length = length as usize;
        if avail.len() < length {
            return Ok(None);
        }
        let begin = self.start;
        self.start += length;
        Ok(Some(&self.buf[begin..begin + length]))
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(Self::DEFAULT_MAX_COMMAND_LENGTH)
    }
}
