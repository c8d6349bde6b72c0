//! HDFS's file checksum, MD5-of-MD5-of-CRC32C, computed from the data as it streams.
//!
//! HDFS keeps a CRC32C of every `bytes_per_crc` bytes (512 by default) of every block. Its file
//! checksum (`hadoop fs -checksum`, `FileSystem.getFileChecksum`, what distcp compares) is
//! `MD5(MD5(crcs of block 0) ‖ MD5(crcs of block 1) ‖ … ‖ zeros)`, each CRC as 4 big-endian
//! bytes, reported with `bytes_per_crc` and `crc_per_block` (the CRC count of the first block
//! when the file has more than one block, else 0). The zeros are a quirk every Hadoop client
//! keeps: it digests the whole backing array of the buffer that collected the block MD5s, which
//! starts at 32 bytes and doubles, so the MD5s are padded with zeros to that capacity (a file
//! without blocks digests 32 zero bytes). See [`block_md5_padding`]. The value therefore depends on the file's block size:
//! the same bytes written with another block size have another checksum.
//!
//! [`HdfsHasher`] computes that value from the bytes, in order, at CRC32C speed (one extra
//! MD5 over 4 bytes per 512). Parts of a file can be checksummed independently with
//! [`ChunkCrcs::compute`] and fed in order with [`HdfsHasher::update_chunk_crcs`], so parallel
//! part copies cost no second pass. A store that asks its DataNodes for the value
//! (`BLOCK_CHECKSUM`) assembles it with [`HdfsFileChecksum::from_block_md5s`].
//!
//! The text form ([`HdfsFileChecksum::to_hex`], carried by
//! [`Checksum::HdfsMd5Md5Crc32c`](ferry_core::Checksum::HdfsMd5Md5Crc32c)) is exactly the hex Hadoop's
//! FsShell prints: `bytes_per_crc` (4 bytes), `crc_per_block` (8 bytes) and the MD5 (16 bytes).

use std::fmt;

use md5::{Digest, Md5};

use ferry_core::{Checksum, Error, ErrorKind, Result};

/// HDFS's default `dfs.bytes-per-checksum`.
pub const DEFAULT_BYTES_PER_CRC: u32 = 512;

/// The zero bytes Hadoop digests after `blocks` block MD5s: the unused capacity of a
/// `DataOutputBuffer` (32 bytes, doubling as it fills) holding 16 bytes per block.
pub fn block_md5_padding(blocks: u64) -> usize {
    let used = 16 * blocks;
    let mut capacity = 32u64;
    while capacity < used {
        capacity *= 2;
    }
    (capacity - used) as usize
}

/// What the checksum of a file depends on besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HdfsChecksumParams {
    /// Bytes covered by one CRC (`dfs.bytes-per-checksum`).
    pub bytes_per_crc: u32,
    /// The file's block size (a multiple of `bytes_per_crc`).
    pub block_size: u64,
}

impl HdfsChecksumParams {
    /// Checks that the parameters describe a possible HDFS file.
    ///
    /// Errors (`InvalidInput`): a zero value, or a block size that is not a multiple of
    /// `bytes_per_crc` (HDFS refuses those too).
    pub fn validate(self) -> Result<HdfsChecksumParams> {
        if self.bytes_per_crc == 0
            || self.block_size == 0
            || !self
                .block_size
                .is_multiple_of(u64::from(self.bytes_per_crc))
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "HDFS block size {} is not a positive multiple of bytes-per-checksum {}",
                    self.block_size, self.bytes_per_crc
                ),
            ));
        }
        Ok(self)
    }
}

/// An HDFS file checksum (Hadoop's `MD5MD5CRC32FileChecksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HdfsFileChecksum {
    /// Bytes per CRC; 0 for a file without blocks.
    pub bytes_per_crc: u32,
    /// CRCs in the first block when the file has several blocks, else 0.
    pub crc_per_block: u64,
    /// MD5 of the blocks' MD5s.
    pub md5: [u8; 16],
}

impl HdfsFileChecksum {
    /// The checksum of a file without blocks (0 bytes), as Hadoop reports it
    /// (`MD5-of-0MD5-of-0CRC32`, the MD5 of 32 zero bytes).
    pub fn empty() -> HdfsFileChecksum {
        HdfsFileChecksum {
            bytes_per_crc: 0,
            crc_per_block: 0,
            md5: Md5::digest([0u8; 32]).into(),
        }
    }

    /// Assembles the file checksum from its blocks' MD5s, in block order, as `DFSClient` does
    /// with the DataNodes' `BLOCK_CHECKSUM` answers. `crc_per_block` is the first block's.
    pub fn from_block_md5s(
        bytes_per_crc: u32,
        first_crc_per_block: u64,
        block_md5s: &[[u8; 16]],
    ) -> HdfsFileChecksum {
        if block_md5s.is_empty() {
            return HdfsFileChecksum::empty();
        }
        let mut file = Md5::new();
        block_md5s.iter().for_each(|m| file.update(m));
        file.update(vec![0u8; block_md5_padding(block_md5s.len() as u64)]);
        HdfsFileChecksum {
            bytes_per_crc,
            crc_per_block: if block_md5s.len() > 1 {
                first_crc_per_block
            } else {
                0
            },
            md5: file.finalize().into(),
        }
    }

    /// Hadoop's name for the algorithm: `MD5-of-2048MD5-of-512CRC32C`.
    pub fn algorithm(&self) -> String {
        if self.bytes_per_crc == 0 {
            "MD5-of-0MD5-of-0CRC32".to_string()
        } else {
            format!(
                "MD5-of-{}MD5-of-{}CRC32C",
                self.crc_per_block, self.bytes_per_crc
            )
        }
    }

    /// The 56 hex digits FsShell `-checksum` prints.
    pub fn to_hex(&self) -> String {
        let mut bytes = Vec::with_capacity(28);
        bytes.extend_from_slice(&self.bytes_per_crc.to_be_bytes());
        bytes.extend_from_slice(&self.crc_per_block.to_be_bytes());
        bytes.extend_from_slice(&self.md5);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`HdfsFileChecksum::to_hex`]'s form; `None` if it is not 56 hex digits.
    pub fn parse_hex(text: &str) -> Option<HdfsFileChecksum> {
        if text.len() != 56 || !text.is_ascii() {
            return None;
        }
        let bytes: Vec<u8> = (0..28)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<_>>()?;
        Some(HdfsFileChecksum {
            bytes_per_crc: u32::from_be_bytes(bytes[0..4].try_into().ok()?),
            crc_per_block: u64::from_be_bytes(bytes[4..12].try_into().ok()?),
            md5: bytes[12..28].try_into().ok()?,
        })
    }

    /// Whether two checksums were computed with the same parameters, so that comparing them
    /// says something about the data. A file written with another block size or
    /// bytes-per-checksum has another checksum whatever its bytes: that is no corruption.
    pub fn comparable(&self, other: &HdfsFileChecksum) -> bool {
        self.bytes_per_crc == other.bytes_per_crc && self.crc_per_block == other.crc_per_block
    }

    /// As a [`Checksum`].
    pub fn to_checksum(&self) -> Checksum {
        Checksum::HdfsMd5Md5Crc32c(self.to_hex())
    }

    /// From a [`Checksum::HdfsMd5Md5Crc32c`].
    pub fn from_checksum(checksum: &Checksum) -> Option<HdfsFileChecksum> {
        match checksum {
            Checksum::HdfsMd5Md5Crc32c(hex) => HdfsFileChecksum::parse_hex(hex),
            _ => None,
        }
    }
}

impl fmt::Display for HdfsFileChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm(), self.to_hex())
    }
}

/// The chunk CRCs of one part of a file, computed independently of the other parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkCrcs {
    /// Bytes covered.
    pub len: u64,
    /// One CRC32C per `bytes_per_crc` bytes; the last may cover fewer.
    pub crcs: Vec<u32>,
}

impl ChunkCrcs {
    /// The chunk CRCs of `data`, which must start on a chunk boundary of the file.
    pub fn compute(data: &[u8], bytes_per_crc: u32) -> ChunkCrcs {
        let chunk = bytes_per_crc.max(1) as usize;
        ChunkCrcs {
            len: data.len() as u64,
            crcs: data.chunks(chunk).map(crc32c::crc32c).collect(),
        }
    }
}

/// Computes an [`HdfsFileChecksum`] from a file's bytes, fed in order.
#[derive(Debug, Clone)]
pub struct HdfsHasher {
    params: HdfsChecksumParams,
    /// MD5 of the current block's CRCs.
    block: Md5,
    /// Block MD5s so far.
    file: Md5,
    blocks: u64,
    /// Bytes into the current block.
    in_block: u64,
    /// CRC and length of the current, incomplete chunk.
    chunk_crc: u32,
    chunk_len: u32,
    total: u64,
}

impl HdfsHasher {
    /// A hasher for a file with these parameters (see [`HdfsChecksumParams::validate`]).
    pub fn new(params: HdfsChecksumParams) -> Result<HdfsHasher> {
        Ok(HdfsHasher {
            params: params.validate()?,
            block: Md5::new(),
            file: Md5::new(),
            blocks: 0,
            in_block: 0,
            chunk_crc: 0,
            chunk_len: 0,
            total: 0,
        })
    }

    /// The parameters.
    pub fn params(&self) -> HdfsChecksumParams {
        self.params
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        let bpc = self.params.bytes_per_crc;
        while !data.is_empty() {
            let take = ((bpc - self.chunk_len) as usize).min(data.len());
            let (head, rest) = data.split_at(take);
            self.chunk_crc = crc32c::crc32c_append(self.chunk_crc, head);
            self.chunk_len += take as u32;
            self.total += take as u64;
            data = rest;
            if self.chunk_len == bpc {
                let crc = std::mem::take(&mut self.chunk_crc);
                self.chunk_len = 0;
                self.push_crc(crc, u64::from(bpc));
            }
        }
    }

    /// Feeds the chunk CRCs of the next part of the file (see [`ChunkCrcs::compute`]).
    ///
    /// Errors (`InvalidInput`): the hasher is not on a chunk boundary, i.e. an earlier part's
    /// length was not a multiple of `bytes_per_crc`.
    pub fn update_chunk_crcs(&mut self, part: &ChunkCrcs) -> Result<()> {
        if self.chunk_len != 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "part at offset {} does not start on a {}-byte checksum chunk",
                    self.total, self.params.bytes_per_crc
                ),
            ));
        }
        let bpc = u64::from(self.params.bytes_per_crc);
        let mut left = part.len;
        for (i, crc) in part.crcs.iter().enumerate() {
            let len = left.min(bpc);
            left -= len;
            self.total += len;
            if len == bpc {
                self.push_crc(*crc, len);
            } else if i + 1 == part.crcs.len() {
                // A short last chunk stays open, as in `update`, until the file ends.
                self.chunk_crc = *crc;
                self.chunk_len = len as u32;
            }
        }
        Ok(())
    }

    fn push_crc(&mut self, crc: u32, len: u64) {
        self.block.update(crc.to_be_bytes());
        self.in_block += len;
        if self.in_block == self.params.block_size {
            let md5 = std::mem::replace(&mut self.block, Md5::new()).finalize();
            self.file.update(md5);
            self.blocks += 1;
            self.in_block = 0;
        }
    }

    /// The file checksum of everything fed.
    pub fn finish(mut self) -> HdfsFileChecksum {
        if self.total == 0 {
            return HdfsFileChecksum::empty();
        }
        if self.chunk_len > 0 {
            self.block.update(self.chunk_crc.to_be_bytes());
            self.in_block += u64::from(self.chunk_len);
        }
        if self.in_block > 0 {
            self.file.update(self.block.finalize());
            self.blocks += 1;
        }
        self.file.update(vec![0u8; block_md5_padding(self.blocks)]);
        let bpc = self.params.bytes_per_crc;
        HdfsFileChecksum {
            bytes_per_crc: bpc,
            crc_per_block: if self.blocks > 1 {
                self.params.block_size / u64::from(bpc)
            } else {
                0
            },
            md5: self.file.finalize().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect()
    }

    /// The definition, written the slow and obvious way.
    fn reference(data: &[u8], params: HdfsChecksumParams) -> HdfsFileChecksum {
        let block_md5s: Vec<[u8; 16]> = data
            .chunks(params.block_size as usize)
            .map(|block| {
                let crcs: Vec<u8> = block
                    .chunks(params.bytes_per_crc as usize)
                    .flat_map(|c| crc32c::crc32c(c).to_be_bytes())
                    .collect();
                Md5::digest(&crcs).into()
            })
            .collect();
        let cpb = params.block_size.div_ceil(u64::from(params.bytes_per_crc));
        HdfsFileChecksum::from_block_md5s(params.bytes_per_crc, cpb, &block_md5s)
    }

    const PARAMS: HdfsChecksumParams = HdfsChecksumParams {
        bytes_per_crc: 512,
        block_size: 4096,
    };

    #[test]
    fn matches_the_definition_at_every_boundary() {
        for len in [
            1, 511, 512, 513, 4095, 4096, 4097, 8192, 8193, 12_345, 40_000,
        ] {
            let bytes = data(len);
            let mut hasher = HdfsHasher::new(PARAMS).unwrap();
            hasher.update(&bytes);
            assert_eq!(hasher.len(), len as u64);
            assert_eq!(hasher.finish(), reference(&bytes, PARAMS), "len {len}");
        }
    }

    #[test]
    fn feeding_in_odd_pieces_changes_nothing() {
        let bytes = data(30_001);
        let mut whole = HdfsHasher::new(PARAMS).unwrap();
        whole.update(&bytes);
        let mut pieces = HdfsHasher::new(PARAMS).unwrap();
        for piece in bytes.chunks(333) {
            pieces.update(piece);
        }
        assert_eq!(whole.finish(), pieces.finish());
    }

    #[test]
    fn parallel_parts_give_the_same_value() {
        let bytes = data(50_000);
        let mut sequential = HdfsHasher::new(PARAMS).unwrap();
        sequential.update(&bytes);
        let expected = sequential.finish();
        for part in [512, 1024, 4096, 10_240] {
            let parts: Vec<ChunkCrcs> = bytes
                .chunks(part)
                .map(|p| ChunkCrcs::compute(p, 512))
                .collect();
            let mut hasher = HdfsHasher::new(PARAMS).unwrap();
            for p in &parts {
                hasher.update_chunk_crcs(p).unwrap();
            }
            assert_eq!(hasher.finish(), expected, "part size {part}");
        }
        let mut hasher = HdfsHasher::new(PARAMS).unwrap();
        hasher.update(&bytes[..100]);
        assert!(hasher
            .update_chunk_crcs(&ChunkCrcs::compute(&bytes[100..], 512))
            .is_err());
    }

    #[test]
    fn single_block_files_report_no_crc_per_block() {
        let mut hasher = HdfsHasher::new(PARAMS).unwrap();
        hasher.update(&data(4096));
        let sum = hasher.finish();
        assert_eq!(sum.crc_per_block, 0);
        assert_eq!(sum.algorithm(), "MD5-of-0MD5-of-512CRC32C");
        let mut hasher = HdfsHasher::new(PARAMS).unwrap();
        hasher.update(&data(4097));
        assert_eq!(hasher.finish().algorithm(), "MD5-of-8MD5-of-512CRC32C");
    }

    #[test]
    fn empty_file_is_hadoops_magic_value() {
        let sum = HdfsHasher::new(PARAMS).unwrap().finish();
        assert_eq!(sum, HdfsFileChecksum::empty());
        assert_eq!(
            sum.to_hex(),
            "00000000000000000000000070bc8f4b72a86921468bf8e8441dce51"
        );
        assert_eq!(sum.algorithm(), "MD5-of-0MD5-of-0CRC32");
    }

    #[test]
    fn padding_follows_the_buffer_capacity() {
        let padding: Vec<usize> = (0..6).map(block_md5_padding).collect();
        assert_eq!(padding, [32, 16, 0, 16, 0, 48]);
    }

    /// Three blocks: 48 bytes of MD5s, digested with 16 zero bytes (the buffer holds 64), as
    /// Hadoop 2.7.3's FsShell `-checksum` does (checked on the test cluster by ferry-hdfs).
    #[test]
    fn three_blocks_pad_like_hadoop() {
        let sum = HdfsFileChecksum::from_block_md5s(512, 2048, &[[1; 16], [2; 16], [3; 16]]);
        let mut manual = Md5::new();
        manual.update([[1u8; 16], [2; 16], [3; 16], [0; 16]].concat());
        assert_eq!(sum.md5, <[u8; 16]>::from(manual.finalize()));
        assert_eq!(sum.algorithm(), "MD5-of-2048MD5-of-512CRC32C");
    }

    #[test]
    fn hex_round_trips_and_compares_parameters() {
        let mut hasher = HdfsHasher::new(PARAMS).unwrap();
        hasher.update(&data(10_000));
        let sum = hasher.finish();
        let hex = sum.to_hex();
        assert_eq!(hex.len(), 56);
        assert!(hex.starts_with("00000200" /* 512 */));
        assert_eq!(HdfsFileChecksum::parse_hex(&hex), Some(sum));
        assert_eq!(
            HdfsFileChecksum::from_checksum(&sum.to_checksum()),
            Some(sum)
        );
        assert_eq!(HdfsFileChecksum::parse_hex("zz"), None);
        let other_block_size = HdfsFileChecksum {
            crc_per_block: 16,
            ..sum
        };
        assert!(!sum.comparable(&other_block_size));
        assert!(sum.comparable(&HdfsFileChecksum {
            md5: [0; 16],
            ..sum
        }));
    }

    #[test]
    fn invalid_parameters_are_refused() {
        for (bpc, block) in [(0, 4096), (512, 0), (512, 1000)] {
            let params = HdfsChecksumParams {
                bytes_per_crc: bpc,
                block_size: block,
            };
            assert!(HdfsHasher::new(params).is_err(), "{params:?}");
        }
    }
}
