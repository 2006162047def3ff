//! SCP03t: the TLV form of SCP03 that carries the profile package from the SM-DP to the ISD-P (SGP.02 §4.1.3.3;
//! wire-profile §7 [P], SCP03 primitives [V]).
//!
//! Every TLV travels alone in a STORE DATA `80 E2 11 <block> Lc <TLV>` (last: P1 `91`):
//! `84 0A <KVN> <key id> <host challenge>` (INITIALIZE UPDATE), `85 11 <SL> <host cryptogram> <C-MAC>`
//! (EXTERNAL AUTHENTICATE), then `86 L <ciphertext> <C-MAC>` per segment of at most 239 plaintext bytes. The C-MAC
//! covers `MCV ‖ tag ‖ BER length of the whole value ‖ value without the MAC`; segments are AES-CBC with
//! ICV = AES(S-ENC, counter) and `80 00…` padding; answers to `86` carry an R-MAC over
//! `MCV of that command ‖ data ‖ SW`.

use super::{
    CardPending, InitializeUpdateResponse, Scp03Error, SecurityLevel, SessionKeys, StaticKeys,
    context, pad80, pseudo_random_card_challenge, unpad80,
};
use crate::apdu::{self, CommandApdu, ResponseApdu, StatusWord, StoreDataP1};
use crate::scp80::cipher::BlockCipher;
use crate::tlv::{self, Tag};
use certs::kdf::{Scp03Constant, aes_cmac};

/// Largest plaintext segment per `86` TLV, so that the TLV fits a short APDU (wire-profile §7).
pub const SEGMENT_MAX: usize = 239;
/// Security level of SCP03t: C-MAC, C-DECRYPTION, R-MAC (wire-profile §7).
pub const SECURITY_LEVEL: SecurityLevel = SecurityLevel(0x13);

const TAG_INITIALIZE_UPDATE: u8 = 0x84;
const TAG_EXTERNAL_AUTHENTICATE: u8 = 0x85;
const TAG_SEGMENT: u8 = 0x86;

/// STORE DATA carrying one SCP03t TLV: P1 `11` (BER-TLV, response expected) or `91` for the last one, P2 = block
/// number (wire-profile §7; GP Card Specification §11.11).
pub fn store_data(block: u8, tlv: Vec<u8>, last: bool) -> CommandApdu {
    apdu::store_data(
        StoreDataP1 {
            last_block: last,
            encryption: apdu::StoreDataEncryption::None,
            structure: apdu::StoreDataStructure::BerTlv,
            response_expected: true,
        },
        block,
        tlv,
    )
}

/// The INITIALIZE UPDATE TLV `84 0A <KVN> <key id> <host challenge 8>` (wire-profile §7).
pub fn initialize_update_tlv(kvn: u8, key_id: u8, host_challenge: [u8; 8]) -> Vec<u8> {
    let mut out = vec![TAG_INITIALIZE_UPDATE, 0x0A, kvn, key_id];
    out.extend_from_slice(&host_challenge);
    out
}

/// MAC chaining and encryption counter shared by both ends (wire-profile §7).
#[derive(Debug)]
struct TlvChannel {
    keys: SessionKeys,
    mcv: [u8; 16],
    counter: u128,
}

impl TlvChannel {
    /// Full CMAC over `MCV ‖ tag ‖ BER length(total) ‖ body` (wire-profile §7).
    fn c_mac(&self, tag: u8, total: usize, body: &[u8]) -> Result<[u8; 16], Scp03Error> {
        let mut input = self.mcv.to_vec();
        input.push(tag);
        tlv::encode_length(total, &mut input)
            .map_err(|_| Scp03Error::DataTooLong { len: total })?;
        input.extend_from_slice(body);
        aes_cmac(self.keys.s_mac.expose(), &input).map_err(|_| Scp03Error::KeyLength("S-MAC"))
    }

    fn icv(&self) -> Result<Vec<u8>, Scp03Error> {
        let mut block = self.counter.to_be_bytes().to_vec();
        self.cipher()?
            .encrypt_one_block(&mut block)
            .map_err(|_| Scp03Error::KeyLength("S-ENC"))?;
        Ok(block)
    }

    fn cipher(&self) -> Result<BlockCipher, Scp03Error> {
        BlockCipher::aes(self.keys.s_enc.expose()).map_err(|_| Scp03Error::KeyLength("S-ENC"))
    }

    fn r_mac(&self, mcv: &[u8; 16], data: &[u8], sw: StatusWord) -> Result<[u8; 8], Scp03Error> {
        let mut input = mcv.to_vec();
        input.extend_from_slice(data);
        input.extend_from_slice(&sw.0.to_be_bytes());
        let full = aes_cmac(self.keys.s_rmac.expose(), &input)
            .map_err(|_| Scp03Error::KeyLength("S-RMAC"))?;
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        Ok(out)
    }
}

/// One protected `86` TLV and the MAC chaining value its answer's R-MAC is computed with (wire-profile §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedSegment {
    /// The `86 L <ciphertext> <C-MAC>` TLV.
    pub tlv: Vec<u8>,
    /// The full C-MAC of this TLV (the MCV for its R-MAC).
    pub mcv: [u8; 16],
}

/// The SM-DP's end of an SCP03t session (wire-profile §7).
#[derive(Debug)]
pub struct HostSession {
    channel: TlvChannel,
}

impl HostSession {
    /// Verifies the card cryptogram of the INITIALIZE UPDATE answer, derives the session keys and returns the
    /// session with the `85` EXTERNAL AUTHENTICATE TLV (wire-profile §7; GP Amendment D §6.2).
    pub fn open(
        keys: &StaticKeys,
        host_challenge: [u8; 8],
        response: &InitializeUpdateResponse,
    ) -> Result<(HostSession, Vec<u8>), Scp03Error> {
        let ctx = context(&host_challenge, &response.card_challenge);
        let session_keys = SessionKeys::derive(keys, &ctx)?;
        let card = session_keys.cryptogram(Scp03Constant::CardCryptogram, &ctx)?;
        if !crate::constant_time_eq(&card, &response.card_cryptogram) {
            return Err(Scp03Error::CardCryptogramMismatch);
        }
        let host = session_keys.cryptogram(Scp03Constant::HostCryptogram, &ctx)?;
        let mut channel = TlvChannel {
            keys: session_keys,
            mcv: [0u8; 16],
            counter: 0,
        };
        let mut body = vec![SECURITY_LEVEL.0];
        body.extend_from_slice(&host);
        let mac = channel.c_mac(TAG_EXTERNAL_AUTHENTICATE, body.len() + 8, &body)?;
        channel.mcv = mac;
        let mut value = body;
        value.extend_from_slice(&mac[..8]);
        let ea = tlv::encode(Tag::byte(TAG_EXTERNAL_AUTHENTICATE), &value)
            .map_err(|_| Scp03Error::DataTooLong { len: value.len() })?;
        Ok((HostSession { channel }, ea))
    }

    /// Protects one segment of at most [`SEGMENT_MAX`] bytes as an `86` TLV (wire-profile §7).
    pub fn protect_segment(&mut self, segment: &[u8]) -> Result<ProtectedSegment, Scp03Error> {
        if segment.len() > SEGMENT_MAX {
            return Err(Scp03Error::SegmentTooLong {
                len: segment.len(),
                max: SEGMENT_MAX,
            });
        }
        self.channel.counter += 1;
        let mut data = pad80(segment);
        let icv = self.channel.icv()?;
        let len = data.len();
        self.channel
            .cipher()?
            .cbc_encrypt(&icv, &mut data)
            .map_err(|_| Scp03Error::NotBlockAligned { len })?;
        let mac = self.channel.c_mac(TAG_SEGMENT, data.len() + 8, &data)?;
        self.channel.mcv = mac;
        data.extend_from_slice(&mac[..8]);
        let tlv = tlv::encode(Tag::byte(TAG_SEGMENT), &data)
            .map_err(|_| Scp03Error::DataTooLong { len: data.len() })?;
        Ok(ProtectedSegment { tlv, mcv: mac })
    }

    /// Cuts a profile package into segments of [`SEGMENT_MAX`] bytes and protects each (wire-profile §7).
    pub fn protect_package(&mut self, package: &[u8]) -> Result<Vec<ProtectedSegment>, Scp03Error> {
        package
            .chunks(SEGMENT_MAX)
            .map(|s| self.protect_segment(s))
            .collect()
    }

    /// Checks the R-MAC of the answer to `sent` and returns the data before it (wire-profile §7). Error status
    /// words carry no R-MAC and are returned as is.
    pub fn check_response(
        &self,
        sent: &ProtectedSegment,
        response: &ResponseApdu,
    ) -> Result<ResponseApdu, Scp03Error> {
        if !(response.sw.is_success() || response.sw.is_warning()) {
            return Ok(response.clone());
        }
        let split = response
            .data
            .len()
            .checked_sub(8)
            .ok_or(Scp03Error::MissingMac("response"))?;
        let (body, mac) = response.data.split_at(split);
        if !crate::constant_time_eq(&self.channel.r_mac(&sent.mcv, body, response.sw)?, mac) {
            return Err(Scp03Error::RMacMismatch);
        }
        Ok(ResponseApdu::new(body.to_vec(), response.sw))
    }
}

/// The ISD-P's end of an SCP03t session between `84` and `85` (wire-profile §7).
#[derive(Debug)]
pub struct CardPendingTlv {
    pending: CardPending,
}

/// The ISD-P's end of an open SCP03t session (wire-profile §7).
#[derive(Debug)]
pub struct CardSession {
    channel: TlvChannel,
}

/// The parsed `84` TLV: KVN, key identifier and host challenge (wire-profile §7).
fn parse_initialize_update(tlv_bytes: &[u8]) -> Result<(u8, u8, [u8; 8]), Scp03Error> {
    let unexpected = Scp03Error::UnexpectedTlv {
        expected: "84 0A <KVN> <key id> <host challenge>",
    };
    let t = tlv::parse_single(tlv_bytes).map_err(|_| unexpected.clone())?;
    match (t.tag.value(), t.value) {
        (0x84, [kvn, key_id, hc @ ..]) => {
            let hc: [u8; 8] = hc.try_into().map_err(|_| unexpected.clone())?;
            Ok((*kvn, *key_id, hc))
        }
        _ => Err(unexpected),
    }
}

impl CardPendingTlv {
    /// Answers the `84` TLV with the pseudo-random card challenge of `sequence_counter` and `isd_p_aid`; the
    /// answer data is `<key diversification data> <KVN> 03 70 <card challenge> <card cryptogram> <counter>`
    /// (wire-profile §7).
    pub fn initialize_update(
        keys: &StaticKeys,
        tlv_84: &[u8],
        key_diversification_data: [u8; 10],
        sequence_counter: [u8; 3],
        isd_p_aid: &[u8],
    ) -> Result<(CardPendingTlv, InitializeUpdateResponse), Scp03Error> {
        let (kvn, _key_id, host_challenge) = parse_initialize_update(tlv_84)?;
        let card_challenge = pseudo_random_card_challenge(&keys.enc, sequence_counter, isd_p_aid)?;
        let (pending, response) = CardPending::initialize_update(
            keys,
            kvn,
            key_diversification_data,
            0x70,
            host_challenge,
            card_challenge,
            Some(sequence_counter),
        )?;
        Ok((CardPendingTlv { pending }, response))
    }

    /// Checks the `85` TLV (security level `13`, host cryptogram, C-MAC) and opens the session
    /// (wire-profile §7).
    pub fn external_authenticate(self, tlv_85: &[u8]) -> Result<CardSession, Scp03Error> {
        let unexpected = Scp03Error::UnexpectedTlv {
            expected: "85 11 13 <host cryptogram> <C-MAC>",
        };
        let t = tlv::parse_single(tlv_85).map_err(|_| unexpected.clone())?;
        if t.tag.value() != u32::from(TAG_EXTERNAL_AUTHENTICATE) || t.value.len() != 17 {
            return Err(unexpected);
        }
        if t.value[0] != SECURITY_LEVEL.0 {
            return Err(Scp03Error::SecurityLevel(t.value[0]));
        }
        let mut channel = TlvChannel {
            keys: self.pending.keys,
            mcv: [0u8; 16],
            counter: 0,
        };
        let (body, mac) = t.value.split_at(9);
        let full = channel.c_mac(TAG_EXTERNAL_AUTHENTICATE, 17, body)?;
        if !crate::constant_time_eq(&full[..8], mac) {
            return Err(Scp03Error::CMacMismatch);
        }
        if !crate::constant_time_eq(&body[1..], &self.pending.host_cryptogram) {
            return Err(Scp03Error::HostCryptogramMismatch);
        }
        channel.mcv = full;
        Ok(CardSession { channel })
    }
}

impl CardSession {
    /// Checks the C-MAC of an `86` TLV and returns the deciphered segment (wire-profile §7).
    pub fn open_segment(&mut self, tlv_86: &[u8]) -> Result<Vec<u8>, Scp03Error> {
        let unexpected = Scp03Error::UnexpectedTlv {
            expected: "86 L <ciphertext> <C-MAC>",
        };
        let t = tlv::parse_single(tlv_86).map_err(|_| unexpected.clone())?;
        if t.tag.value() != u32::from(TAG_SEGMENT) {
            return Err(unexpected);
        }
        let split = t
            .value
            .len()
            .checked_sub(8)
            .ok_or(Scp03Error::MissingMac("86 TLV"))?;
        let (body, mac) = t.value.split_at(split);
        let full = self.channel.c_mac(TAG_SEGMENT, t.value.len(), body)?;
        if !crate::constant_time_eq(&full[..8], mac) {
            return Err(Scp03Error::CMacMismatch);
        }
        self.channel.mcv = full;
        self.channel.counter += 1;
        let icv = self.channel.icv()?;
        let mut data = body.to_vec();
        let len = data.len();
        self.channel
            .cipher()?
            .cbc_decrypt(&icv, &mut data)
            .map_err(|_| Scp03Error::NotBlockAligned { len })?;
        unpad80(data, "86 segment")
    }

    /// The answer to the last opened `86`: `data ‖ R-MAC` with `sw` (wire-profile §7).
    pub fn respond(&self, data: &[u8], sw: StatusWord) -> Result<ResponseApdu, Scp03Error> {
        let mut out = data.to_vec();
        out.extend_from_slice(&self.channel.r_mac(&self.channel.mcv, data, sw)?);
        Ok(ResponseApdu::new(out, sw))
    }
}
