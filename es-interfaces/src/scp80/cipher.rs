//! Block-cipher helpers shared by SCP80 and SCP03: CBC with an explicit IV and the DES CBC-MAC
//! (ETSI TS 102 225 §5.1.2/§5.1.3; GP Amendment D §6.2.6). Keys are held by the caller in zeroizing types.

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockSizeUser, KeyInit};

/// A keyed block cipher of the algorithms SCP80 and SCP03 use.
pub(crate) enum BlockCipher {
    Aes128(aes::Aes128),
    Aes192(aes::Aes192),
    Aes256(aes::Aes256),
    Tdes2(des::TdesEde2),
    Tdes3(des::TdesEde3),
}

/// The key does not fit the algorithm, or the data is not a whole number of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CipherError {
    KeyLength,
    NotBlockAligned,
}

fn cbc_enc<C: BlockCipherEncrypt>(c: &C, iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
    let mut prev = Array::<u8, C::BlockSize>::try_from(iv).map_err(|_| CipherError::KeyLength)?;
    let (blocks, rest) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(data);
    if !rest.is_empty() {
        return Err(CipherError::NotBlockAligned);
    }
    for b in blocks {
        for (x, p) in b.iter_mut().zip(prev.iter()) {
            *x ^= *p;
        }
        c.encrypt_block(b);
        prev.copy_from_slice(b);
    }
    Ok(())
}

fn cbc_dec<C: BlockCipherDecrypt>(c: &C, iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
    let mut prev = Array::<u8, C::BlockSize>::try_from(iv).map_err(|_| CipherError::KeyLength)?;
    let (blocks, rest) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(data);
    if !rest.is_empty() {
        return Err(CipherError::NotBlockAligned);
    }
    for b in blocks {
        let cipher_block = b.clone();
        c.decrypt_block(b);
        for (x, p) in b.iter_mut().zip(prev.iter()) {
            *x ^= *p;
        }
        prev = cipher_block;
    }
    Ok(())
}

impl BlockCipher {
    /// AES with a 16-, 24- or 32-byte key (FIPS 197).
    pub(crate) fn aes(key: &[u8]) -> Result<BlockCipher, CipherError> {
        let e = |_| CipherError::KeyLength;
        Ok(match key.len() {
            16 => BlockCipher::Aes128(aes::Aes128::new_from_slice(key).map_err(e)?),
            24 => BlockCipher::Aes192(aes::Aes192::new_from_slice(key).map_err(e)?),
            32 => BlockCipher::Aes256(aes::Aes256::new_from_slice(key).map_err(e)?),
            _ => return Err(CipherError::KeyLength),
        })
    }

    /// Two-key triple DES (16-byte key, EDE) (ETSI TS 102 225 §5.1.2).
    pub(crate) fn tdes2(key: &[u8]) -> Result<BlockCipher, CipherError> {
        des::TdesEde2::new_from_slice(key)
            .map(BlockCipher::Tdes2)
            .map_err(|_| CipherError::KeyLength)
    }

    /// Three-key triple DES (24-byte key, EDE) (ETSI TS 102 225 §5.1.2).
    pub(crate) fn tdes3(key: &[u8]) -> Result<BlockCipher, CipherError> {
        des::TdesEde3::new_from_slice(key)
            .map(BlockCipher::Tdes3)
            .map_err(|_| CipherError::KeyLength)
    }

    /// Block size in bytes: 16 for AES, 8 for DES.
    pub(crate) fn block_size(&self) -> usize {
        match self {
            BlockCipher::Aes128(_) | BlockCipher::Aes192(_) | BlockCipher::Aes256(_) => {
                aes::Aes128::block_size()
            }
            BlockCipher::Tdes2(_) | BlockCipher::Tdes3(_) => des::TdesEde2::block_size(),
        }
    }

    /// CBC encryption in place with `iv` (NIST SP 800-38A §6.2); `data` must be block aligned.
    pub(crate) fn cbc_encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
        match self {
            BlockCipher::Aes128(c) => cbc_enc(c, iv, data),
            BlockCipher::Aes192(c) => cbc_enc(c, iv, data),
            BlockCipher::Aes256(c) => cbc_enc(c, iv, data),
            BlockCipher::Tdes2(c) => cbc_enc(c, iv, data),
            BlockCipher::Tdes3(c) => cbc_enc(c, iv, data),
        }
    }

    /// CBC decryption in place with `iv` (NIST SP 800-38A §6.2); `data` must be block aligned.
    pub(crate) fn cbc_decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
        match self {
            BlockCipher::Aes128(c) => cbc_dec(c, iv, data),
            BlockCipher::Aes192(c) => cbc_dec(c, iv, data),
            BlockCipher::Aes256(c) => cbc_dec(c, iv, data),
            BlockCipher::Tdes2(c) => cbc_dec(c, iv, data),
            BlockCipher::Tdes3(c) => cbc_dec(c, iv, data),
        }
    }

    /// CBC with a zero IV (ETSI TS 102 225 §5.1.2).
    pub(crate) fn cbc_encrypt_zero_iv(&self, data: &mut [u8]) -> Result<(), CipherError> {
        let iv = vec![0u8; self.block_size()];
        self.cbc_encrypt(&iv, data)
    }

    /// CBC decryption with a zero IV (ETSI TS 102 225 §5.1.2).
    pub(crate) fn cbc_decrypt_zero_iv(&self, data: &mut [u8]) -> Result<(), CipherError> {
        let iv = vec![0u8; self.block_size()];
        self.cbc_decrypt(&iv, data)
    }

    /// ECB encryption of one block (FIPS 197 / SP 800-67), used for SCP03 ICVs (GP Amendment D §6.2.6).
    pub(crate) fn encrypt_one_block(&self, block: &mut [u8]) -> Result<(), CipherError> {
        if block.len() != self.block_size() {
            return Err(CipherError::NotBlockAligned);
        }
        let iv = vec![0u8; self.block_size()];
        self.cbc_encrypt(&iv, block)
    }

    /// CBC-MAC with a zero IV over `data` zero-padded to the block size; the last block
    /// (ETSI TS 102 225 §5.1.3, DES CBC mode).
    pub(crate) fn cbc_mac_zero_padded(&self, data: &[u8]) -> Result<Vec<u8>, CipherError> {
        let bs = self.block_size();
        let mut buf = data.to_vec();
        let pad = (bs - buf.len() % bs) % bs;
        buf.resize(buf.len() + pad, 0);
        if buf.is_empty() {
            buf.resize(bs, 0);
        }
        self.cbc_encrypt_zero_iv(&mut buf)?;
        Ok(buf[buf.len() - bs..].to_vec())
    }
}
