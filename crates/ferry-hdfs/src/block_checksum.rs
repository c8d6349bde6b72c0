//! HDFS file checksums from the DataNodes, without reading the data: what Hadoop's
//! `DFSClient.getFileChecksum` does, which hdfs-native lacks.
//!
//! 1. `getBlockLocations` on the NameNode ([`crate::rpc`]) gives every block's id, generation
//!    stamp, length, access token and DataNodes.
//! 2. For each block, one DataNode answers the DataTransferProtocol op `BLOCK_CHECKSUM` (85):
//!    the request is the protocol version (2 bytes, 28), the op code (1 byte) and a
//!    varint-delimited `OpBlockChecksumProto`; the answer a varint-delimited
//!    `BlockOpResponseProto` whose `checksumResponse` holds the MD5 of the block's chunk CRCs,
//!    read by the DataNode from its block metadata file.
//! 3. The block MD5s are combined as Hadoop does
//!    ([`HdfsFileChecksum::from_block_md5s`]).
//!
//! A replica that fails is skipped for the next DataNode of the block. Files still being
//! written, erasure-coded or encrypted files, and files whose blocks are not all CRC32C have no
//! comparable checksum: `Ok(None)`.

use std::collections::HashMap;
use std::time::Duration;

use crate::checksum::HdfsFileChecksum;
use ferry_core::{Error, ErrorKind, Result};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::error;
use crate::proto;
use crate::rpc::NameNodeClient;

/// DataTransferProtocol version of Hadoop 2.x and 3.x.
const DATA_TRANSFER_VERSION: u16 = 28;
/// The `BLOCK_CHECKSUM` op code.
const OP_BLOCK_CHECKSUM: u8 = 85;
const TIMEOUT: Duration = Duration::from_secs(60);

/// What one DataNode reported for one block.
struct BlockChecksum {
    bytes_per_crc: u32,
    crc_per_block: u64,
    md5: [u8; 16],
    crc32c: bool,
}

/// What the cluster reports about a closed file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredFile {
    /// The length the NameNode reports.
    pub length: u64,
    /// The file checksum from its DataNodes; `None` when it has no comparable one.
    pub checksum: Option<HdfsFileChecksum>,
}

/// The file checksum of `path` (a NameNode path), from its DataNodes.
pub async fn file_checksum(
    namenode: &NameNodeClient,
    path: &str,
    use_hostname: bool,
) -> Result<Option<HdfsFileChecksum>> {
    stored_file(namenode, path, use_hostname)
        .await
        .map(|f| f.checksum)
}

/// The length and file checksum of `path` (a NameNode path).
pub async fn stored_file(
    namenode: &NameNodeClient,
    path: &str,
    use_hostname: bool,
) -> Result<StoredFile> {
    let response: proto::GetBlockLocationsResponseProto = namenode
        .call(
            "getBlockLocations",
            &proto::GetBlockLocationsRequestProto {
                src: path.to_string(),
                offset: 0,
                length: i64::MAX as u64,
            },
        )
        .await?;
    let Some(located) = response.locations else {
        return Err(Error::new(ErrorKind::NotFound, "no such file"));
    };
    let none = StoredFile {
        length: located.file_length,
        checksum: None,
    };
    if located.under_construction {
        tracing::debug!(path, "no HDFS checksum: the file is still being written");
        return Ok(none);
    }
    if located.ec_policy.is_some() || located.file_encryption_info.is_some() {
        tracing::debug!(
            path,
            "no HDFS checksum for erasure-coded or encrypted files"
        );
        return Ok(none);
    }
    let mut remaining = located.file_length;
    let mut connections: HashMap<String, BufReader<TcpStream>> = HashMap::new();
    let mut md5s = Vec::with_capacity(located.blocks.len());
    let (mut bytes_per_crc, mut first_crc_per_block) = (0, 0);
    for (index, block) in located.blocks.iter().enumerate() {
        if remaining == 0 {
            break;
        }
        let mut extended = block.b.clone();
        let len = extended.num_bytes.unwrap_or(0).min(remaining);
        extended.num_bytes = Some(len);
        remaining -= len;
        let sum = block_checksum(block, extended, use_hostname, &mut connections).await?;
        if !sum.crc32c {
            tracing::debug!(path, "no HDFS CRC32C checksum: a block uses another CRC");
            return Ok(none);
        }
        if index == 0 {
            (bytes_per_crc, first_crc_per_block) = (sum.bytes_per_crc, sum.crc_per_block);
        } else if sum.bytes_per_crc != bytes_per_crc {
            tracing::debug!(
                path,
                "no HDFS checksum: blocks differ in bytes per checksum"
            );
            return Ok(none);
        }
        md5s.push(sum.md5);
    }
    Ok(StoredFile {
        length: located.file_length,
        checksum: Some(HdfsFileChecksum::from_block_md5s(
            bytes_per_crc,
            first_crc_per_block,
            &md5s,
        )),
    })
}

/// Asks the block's DataNodes in turn until one answers.
async fn block_checksum(
    block: &proto::LocatedBlockProto,
    extended: proto::ExtendedBlockProto,
    use_hostname: bool,
    connections: &mut HashMap<String, BufReader<TcpStream>>,
) -> Result<BlockChecksum> {
    let request = proto::OpBlockChecksumProto {
        header: proto::BaseHeaderProto {
            block: extended,
            token: Some(block.block_token.clone()),
        },
    };
    let mut message = Vec::with_capacity(64);
    message.extend_from_slice(&DATA_TRANSFER_VERSION.to_be_bytes());
    message.push(OP_BLOCK_CHECKSUM);
    request
        .encode_length_delimited(&mut message)
        .map_err(|e| Error::new(ErrorKind::Unexpected, "cannot encode a request").with_source(e))?;
    let mut last_error = Error::new(
        ErrorKind::Corrupted,
        format!(
            "block {} has no DataNode (missing block: `hdfs fsck`)",
            block.b.block_id
        ),
    );
    for datanode in &block.locs {
        let host = if use_hostname {
            &datanode.id.host_name
        } else {
            &datanode.id.ip_addr
        };
        let address = format!("{host}:{}", datanode.id.xfer_port);
        // A kept connection may have been closed by the DataNode's idle timeout: then one
        // more try on a fresh connection.
        let reused = connections.contains_key(&address);
        let mut result = ask_in_time(&address, &message, connections).await;
        if result.is_err() && reused {
            connections.remove(&address);
            result = ask_in_time(&address, &message, connections).await;
        }
        match result {
            Ok(sum) => return Ok(sum),
            Err(err) => {
                connections.remove(&address);
                tracing::debug!(%err, %address, "BLOCK_CHECKSUM failed; trying the next replica");
                last_error = err;
            }
        }
    }
    Err(last_error.with_operation("block checksum"))
}

async fn ask_in_time(
    address: &str,
    message: &[u8],
    connections: &mut HashMap<String, BufReader<TcpStream>>,
) -> Result<BlockChecksum> {
    tokio::time::timeout(TIMEOUT, ask(address, message, connections))
        .await
        .unwrap_or_else(|_| Err(error::io(std::io::ErrorKind::TimedOut.into(), address)))
}

async fn ask(
    address: &str,
    message: &[u8],
    connections: &mut HashMap<String, BufReader<TcpStream>>,
) -> Result<BlockChecksum> {
    let io = |e| error::io(e, address);
    if !connections.contains_key(address) {
        let stream = TcpStream::connect(address).await.map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        connections.insert(address.to_string(), BufReader::new(stream));
    }
    let stream = connections.get_mut(address).expect("inserted above");
    stream.get_mut().write_all(message).await.map_err(io)?;
    let len = read_varint(stream).await.map_err(io)?;
    if len > 1 << 20 {
        return Err(Error::new(
            ErrorKind::Unexpected,
            format!("DataNode {address} sent a {len}-byte reply (not DataTransferProtocol?)"),
        ));
    }
    let mut body = vec![0; len as usize];
    stream.read_exact(&mut body).await.map_err(io)?;
    let reply = proto::BlockOpResponseProto::decode(body.as_slice()).map_err(|e| {
        Error::new(
            ErrorKind::Unexpected,
            format!("cannot decode the reply of DataNode {address}"),
        )
        .with_source(e)
    })?;
    if reply.status != proto::DT_SUCCESS {
        let message = reply.message.unwrap_or_default();
        let (kind, what) = if reply.status == proto::DT_ERROR_ACCESS_TOKEN {
            (ErrorKind::PermissionDenied, "refused the block token")
        } else {
            (ErrorKind::Unexpected, "could not checksum the block")
        };
        return Err(Error::new(
            kind,
            format!(
                "DataNode {address} {what} (status {}): {message}",
                reply.status
            ),
        )
        .temporary());
    }
    let sum = reply.checksum_response.ok_or_else(|| {
        Error::new(
            ErrorKind::Unexpected,
            format!("DataNode {address} answered BLOCK_CHECKSUM without a checksum"),
        )
    })?;
    let md5: [u8; 16] = sum.block_checksum.as_slice().try_into().map_err(|_| {
        Error::new(
            ErrorKind::Unexpected,
            format!(
                "DataNode {address} sent a {}-byte block MD5",
                sum.block_checksum.len()
            ),
        )
    })?;
    Ok(BlockChecksum {
        bytes_per_crc: sum.bytes_per_crc,
        crc_per_block: sum.crc_per_block,
        md5,
        // Hadoop 2.0 DataNodes omit the type; they only wrote CRC32.
        crc32c: sum.crc_type == Some(proto::CHECKSUM_CRC32C),
    })
}

async fn read_varint(stream: &mut BufReader<TcpStream>) -> std::io::Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = stream.read_u8().await?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "varint longer than 64 bits",
    ))
}
