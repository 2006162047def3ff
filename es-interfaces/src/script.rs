//! Remote command scripts of ETSI TS 102 226 §5: the expanded format (command script `AA`/`AE`, response script
//! `AB`/`AF`) used on ES5 and ES8 (wire-profile §2, §3, §5), and the compact format (§5.1) for completeness.

use crate::apdu::{ApduError, CommandApdu, ResponseApdu, StatusWord};
use crate::tlv::{self, Tag, TlvError};

/// Command Scripting Template, definite length (ETSI TS 102 226 §5.2.1).
pub const TAG_COMMAND_SCRIPT: Tag = Tag::byte(0xAA);
/// Command Scripting Template, indefinite length (ETSI TS 102 226 §5.2.1).
pub const TAG_COMMAND_SCRIPT_INDEFINITE: Tag = Tag::byte(0xAE);
/// C-APDU TLV inside a command script (ETSI TS 102 226 §5.2.1).
pub const TAG_C_APDU: Tag = Tag::byte(0x22);
/// Response Scripting Template, definite length (ETSI TS 102 226 §5.2.2).
pub const TAG_RESPONSE_SCRIPT: Tag = Tag::byte(0xAB);
/// Response Scripting Template, indefinite length (ETSI TS 102 226 §5.2.2).
pub const TAG_RESPONSE_SCRIPT_INDEFINITE: Tag = Tag::byte(0xAF);
/// Number of executed C-APDUs inside a response script (ETSI TS 102 226 §5.2.2).
pub const TAG_EXECUTED: Tag = Tag::byte(0x80);
/// R-APDU TLV inside a response script (ETSI TS 102 226 §5.2.2).
pub const TAG_R_APDU: Tag = Tag::byte(0x23);
/// Bad Format TLV inside a response script (ETSI TS 102 226 §5.2.2).
pub const TAG_BAD_FORMAT: Tag = Tag::byte(0x90);

/// Errors of the script codecs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The TLV structure is broken.
    #[error("script TLV: {0}")]
    Tlv(#[from] TlvError),
    /// An APDU inside the script is malformed.
    #[error("APDU #{index} of the script: {source}")]
    Apdu {
        /// Zero-based position of the APDU in the script.
        index: usize,
        /// The APDU error.
        source: ApduError,
    },
    /// The outer tag is not the expected template.
    #[error("expected a {expected} template, found tag {found}")]
    WrongTemplate {
        /// What was expected.
        expected: &'static str,
        /// The tag found.
        found: Tag,
    },
    /// A TLV inside the template is not one the script format allows here.
    #[error("unexpected tag {tag} at offset {offset} inside the script")]
    UnexpectedTag {
        /// The tag.
        tag: Tag,
        /// Its offset.
        offset: usize,
    },
    /// The number-of-executed-commands TLV is not one byte, or appears twice.
    #[error("malformed number-of-executed-commands TLV at offset {offset}")]
    BadExecutedCount {
        /// Its offset.
        offset: usize,
    },
    /// More than 255 APDUs do not fit a one-byte count.
    #[error("{count} responses exceed the one-byte executed count")]
    TooManyApdus {
        /// The number of APDUs.
        count: usize,
    },
    /// A compact script is truncated.
    #[error("compact script truncated at offset {offset}")]
    CompactTruncated {
        /// Offset where bytes were missing.
        offset: usize,
    },
    /// A command without data cannot be written in a compact script (its P3 would be read as Lc).
    #[error("command #{index} has no data and cannot be written in compact form")]
    CompactWithoutData {
        /// Zero-based position of the command.
        index: usize,
    },
}

/// A remote command script: C-APDUs executed in order (ETSI TS 102 226 §5.1.1 / §5.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandScript {
    /// The C-APDUs.
    pub commands: Vec<CommandApdu>,
}

impl CommandScript {
    /// A script of `commands` (ETSI TS 102 226 §5.2.1).
    pub fn new(commands: Vec<CommandApdu>) -> CommandScript {
        CommandScript { commands }
    }

    fn apdu_tlvs(&self) -> Result<Vec<u8>, ScriptError> {
        let mut inner = Vec::new();
        for (index, c) in self.commands.iter().enumerate() {
            let bytes = c
                .to_bytes()
                .map_err(|source| ScriptError::Apdu { index, source })?;
            tlv::encode_into(TAG_C_APDU, &bytes, &mut inner)?;
        }
        Ok(inner)
    }

    /// Encodes the definite expanded form `AA L { 22 L <C-APDU> … }` (ETSI TS 102 226 §5.2.1; wire-profile §2).
    pub fn to_expanded(&self) -> Result<Vec<u8>, ScriptError> {
        Ok(tlv::encode(TAG_COMMAND_SCRIPT, &self.apdu_tlvs()?)?)
    }

    /// Encodes the indefinite expanded form `AE 80 { 22 L <C-APDU> … } 00 00` (ETSI TS 102 226 §5.2.1;
    /// wire-profile §3).
    pub fn to_expanded_indefinite(&self) -> Result<Vec<u8>, ScriptError> {
        let mut out = vec![0xAE, 0x80];
        out.extend_from_slice(&self.apdu_tlvs()?);
        out.extend_from_slice(&[0x00, 0x00]);
        Ok(out)
    }

    /// Parses an expanded command script, definite `AA` or indefinite `AE` (ETSI TS 102 226 §5.2.1).
    pub fn parse_expanded(bytes: &[u8]) -> Result<CommandScript, ScriptError> {
        let outer = tlv::parse_indefinite(bytes)?;
        if outer.tag != TAG_COMMAND_SCRIPT && outer.tag != TAG_COMMAND_SCRIPT_INDEFINITE {
            return Err(ScriptError::WrongTemplate {
                expected: "command scripting (AA/AE)",
                found: outer.tag,
            });
        }
        let mut commands = Vec::new();
        for item in outer.children()? {
            if item.tag != TAG_C_APDU {
                return Err(ScriptError::UnexpectedTag {
                    tag: item.tag,
                    offset: item.offset,
                });
            }
            let index = commands.len();
            commands.push(
                CommandApdu::parse(item.value)
                    .map_err(|source| ScriptError::Apdu { index, source })?,
            );
        }
        Ok(CommandScript { commands })
    }

    /// Encodes the compact form: the C-APDUs concatenated as `CLA INS P1 P2 Lc data` (ETSI TS 102 226 §5.1.1).
    /// Le is dropped (the card answers the last command's data in the compact response); commands without data
    /// are refused because their P3 would be read as Lc.
    pub fn to_compact(&self) -> Result<Vec<u8>, ScriptError> {
        let mut out = Vec::new();
        for (index, c) in self.commands.iter().enumerate() {
            if c.data.is_empty() {
                return Err(ScriptError::CompactWithoutData { index });
            }
            let mut plain = c.clone();
            plain.le = None;
            out.extend_from_slice(
                &plain
                    .to_bytes()
                    .map_err(|source| ScriptError::Apdu { index, source })?,
            );
        }
        Ok(out)
    }

    /// Parses the compact form written by [`CommandScript::to_compact`]: each command `CLA INS P1 P2 Lc data`
    /// (ETSI TS 102 226 §5.1.1). `Lc = 00` is refused as [`CommandScript::to_compact`] refuses to write it: that
    /// P3 is a case 1 or case 2 command, not an empty Lc.
    pub fn parse_compact(bytes: &[u8]) -> Result<CommandScript, ScriptError> {
        let mut commands = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let header = bytes
                .get(pos..pos + 5)
                .ok_or(ScriptError::CompactTruncated { offset: pos })?;
            let lc = usize::from(header[4]);
            if lc == 0 {
                return Err(ScriptError::CompactWithoutData {
                    index: commands.len(),
                });
            }
            let data = bytes
                .get(pos + 5..pos + 5 + lc)
                .ok_or(ScriptError::CompactTruncated { offset: pos + 5 })?;
            commands.push(
                CommandApdu::new(header[0], header[1], header[2], header[3])
                    .with_data(data.to_vec()),
            );
            pos += 5 + lc;
        }
        Ok(CommandScript { commands })
    }
}

/// An expanded response script (ETSI TS 102 226 §5.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseScript {
    /// Number of executed C-APDUs (`80 01 n`; when absent on input, the number of R-APDUs).
    pub executed: u8,
    /// The R-APDUs, one per executed command that answered.
    pub responses: Vec<ResponseApdu>,
    /// The Bad Format TLV `90` value, if the card refused the script's format.
    pub bad_format: Option<Vec<u8>>,
}

impl ResponseScript {
    /// A response script for `responses`, executed count = their number (ETSI TS 102 226 §5.2.2).
    pub fn new(responses: Vec<ResponseApdu>) -> Result<ResponseScript, ScriptError> {
        let executed = u8::try_from(responses.len()).map_err(|_| ScriptError::TooManyApdus {
            count: responses.len(),
        })?;
        Ok(ResponseScript {
            executed,
            responses,
            bad_format: None,
        })
    }

    fn inner(&self) -> Result<Vec<u8>, ScriptError> {
        let mut inner = Vec::new();
        tlv::encode_into(TAG_EXECUTED, &[self.executed], &mut inner)?;
        for r in &self.responses {
            tlv::encode_into(TAG_R_APDU, &r.to_bytes(), &mut inner)?;
        }
        if let Some(bad) = &self.bad_format {
            tlv::encode_into(TAG_BAD_FORMAT, bad, &mut inner)?;
        }
        Ok(inner)
    }

    /// Encodes the definite form `AB L { 80 01 n, 23 L <R-APDU> … }` (ETSI TS 102 226 §5.2.2; wire-profile §2).
    pub fn to_expanded(&self) -> Result<Vec<u8>, ScriptError> {
        Ok(tlv::encode(TAG_RESPONSE_SCRIPT, &self.inner()?)?)
    }

    /// Encodes the indefinite form `AF 80 { 80 01 n, 23 L <R-APDU> … } 00 00` (ETSI TS 102 226 §5.2.2;
    /// wire-profile §3).
    pub fn to_expanded_indefinite(&self) -> Result<Vec<u8>, ScriptError> {
        let mut out = vec![0xAF, 0x80];
        out.extend_from_slice(&self.inner()?);
        out.extend_from_slice(&[0x00, 0x00]);
        Ok(out)
    }

    /// Parses a definite `AB` or indefinite `AF` response script; the `80` count is optional
    /// (ETSI TS 102 226 §5.2.2).
    pub fn parse_expanded(bytes: &[u8]) -> Result<ResponseScript, ScriptError> {
        let outer = tlv::parse_indefinite(bytes)?;
        if outer.tag != TAG_RESPONSE_SCRIPT && outer.tag != TAG_RESPONSE_SCRIPT_INDEFINITE {
            return Err(ScriptError::WrongTemplate {
                expected: "response scripting (AB/AF)",
                found: outer.tag,
            });
        }
        let mut executed = None;
        let mut responses = Vec::new();
        let mut bad_format = None;
        for item in outer.children()? {
            match item.tag {
                t if t == TAG_EXECUTED => match (executed, item.value) {
                    (None, [n]) => executed = Some(*n),
                    _ => {
                        return Err(ScriptError::BadExecutedCount {
                            offset: item.offset,
                        });
                    }
                },
                t if t == TAG_R_APDU => {
                    let index = responses.len();
                    responses.push(
                        ResponseApdu::parse(item.value)
                            .map_err(|source| ScriptError::Apdu { index, source })?,
                    );
                }
                t if t == TAG_BAD_FORMAT && bad_format.is_none() => {
                    bad_format = Some(item.value.to_vec());
                }
                tag => {
                    return Err(ScriptError::UnexpectedTag {
                        tag,
                        offset: item.offset,
                    });
                }
            }
        }
        let executed = match executed {
            Some(n) => n,
            None => u8::try_from(responses.len()).map_err(|_| ScriptError::TooManyApdus {
                count: responses.len(),
            })?,
        };
        Ok(ResponseScript {
            executed,
            responses,
            bad_format,
        })
    }
}

/// A compact response: number of executed commands, then the last R-APDU as `SW1 SW2 | data`
/// (ETSI TS 102 226 §5.1.2; the PoR vector `01 6132`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactResponse {
    /// Number of executed commands.
    pub executed: u8,
    /// Status word of the last executed command.
    pub sw: StatusWord,
    /// Response data of the last executed command.
    pub data: Vec<u8>,
}

impl CompactResponse {
    /// Encodes `n | SW1 SW2 | data` (ETSI TS 102 226 §5.1.2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.data.len());
        out.push(self.executed);
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Parses `n | SW1 SW2 | data` (ETSI TS 102 226 §5.1.2).
    pub fn parse(bytes: &[u8]) -> Result<CompactResponse, ScriptError> {
        match bytes {
            [n, sw1, sw2, data @ ..] => Ok(CompactResponse {
                executed: *n,
                sw: StatusWord(u16::from_be_bytes([*sw1, *sw2])),
                data: data.to_vec(),
            }),
            _ => Err(ScriptError::CompactTruncated {
                offset: bytes.len(),
            }),
        }
    }
}
