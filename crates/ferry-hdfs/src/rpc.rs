//! A minimal Hadoop IPC client for the two NameNode calls hdfs-native does not expose:
//! `getBlockLocations` (block ids, generation stamps, tokens and DataNodes, for
//! `BLOCK_CHECKSUM`) and `getServerDefaults` (block size and bytes per checksum of new files).
//!
//! Wire format (Hadoop IPC version 9, protobuf engine, SIMPLE authentication): the preamble
//! `hrpc`, 9, service class 0, auth 0; then frames of a 4-byte big-endian length followed by
//! varint-delimited messages — the connection context once (`RpcRequestHeaderProto` with call
//! id -3 and `IpcConnectionContextProto`), then per call `RpcRequestHeaderProto`,
//! `RequestHeaderProto` (method and protocol) and the request; answers are
//! `RpcResponseHeaderProto` and, on success, the response. Calls are sequential on one
//! connection, which is reconnected on error; an HA nameservice's NameNodes are tried in turn
//! until the active one answers. Secure (Kerberos) clusters are not spoken to: the storage
//! disables checksums there instead.

use std::time::Duration;

use ferry_core::{Error, ErrorKind, Result};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::error;
use crate::proto;

const PROTOCOL: &str = "org.apache.hadoop.hdfs.protocol.ClientProtocol";
const TIMEOUT: Duration = Duration::from_secs(60);
const MAX_RESPONSE: usize = 256 << 20;

struct Connection {
    stream: BufReader<TcpStream>,
    address: usize,
    next_call: i32,
}

/// A client of the NameNode(s) serving one `hdfs://` authority.
#[derive(Debug)]
pub struct NameNodeClient {
    addresses: Vec<String>,
    user: String,
    client_id: Vec<u8>,
    connection: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection(address {})", self.address)
    }
}

fn client_id() -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut id = nanos.to_le_bytes().to_vec();
    id[12..16].copy_from_slice(&std::process::id().to_le_bytes());
    id
}

impl NameNodeClient {
    /// A client for these RPC addresses (`host:port`), acting as `user`. Connects lazily.
    pub fn new(addresses: Vec<String>, user: String) -> NameNodeClient {
        NameNodeClient {
            addresses,
            user,
            client_id: client_id(),
            connection: Mutex::new(None),
        }
    }

    async fn connect(&self, address: usize) -> Result<Connection> {
        let peer = &self.addresses[address];
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(peer))
            .await
            .map_err(|_| error::io(std::io::ErrorKind::TimedOut.into(), peer))?
            .map_err(|e| error::io(e, peer))?;
        stream.set_nodelay(true).map_err(|e| error::io(e, peer))?;
        let mut connection = Connection {
            stream: BufReader::new(stream),
            address,
            next_call: 0,
        };
        let header = proto::RpcRequestHeaderProto {
            rpc_kind: Some(proto::RPC_PROTOCOL_BUFFER),
            rpc_op: Some(0),
            call_id: -3,
            client_id: self.client_id.clone(),
            retry_count: Some(-1),
        };
        let context = proto::IpcConnectionContextProto {
            user_info: Some(proto::UserInformationProto {
                effective_user: Some(self.user.clone()),
                real_user: None,
            }),
            protocol: Some(PROTOCOL.to_string()),
        };
        let mut preamble = b"hrpc\x09\x00\x00".to_vec();
        preamble.extend(frame(&[
            &header.encode_length_delimited_to_vec(),
            &context.encode_length_delimited_to_vec(),
        ]));
        connection
            .stream
            .get_mut()
            .write_all(&preamble)
            .await
            .map_err(|e| error::io(e, peer))?;
        Ok(connection)
    }

    /// Calls `method` with `request`, on the active NameNode.
    pub async fn call<Q: Message, R: Message + Default>(
        &self,
        method: &str,
        request: &Q,
    ) -> Result<R> {
        let mut slot = self.connection.lock().await;
        let start = slot.as_ref().map_or(0, |c| c.address);
        let mut last_error = None;
        // Each NameNode once, plus one reconnect to the first for a stale connection.
        for attempt in 0..=self.addresses.len() {
            let address = (start + attempt) % self.addresses.len();
            if slot.as_ref().is_none_or(|c| c.address != address) {
                *slot = None;
                match self.connect(address).await {
                    Ok(connection) => *slot = Some(connection),
                    Err(err) => {
                        last_error = Some(err);
                        continue;
                    }
                }
            }
            let connection = slot.as_mut().expect("connected above");
            let result = tokio::time::timeout(TIMEOUT, self.exchange(connection, method, request))
                .await
                .unwrap_or_else(|_| {
                    Err(error::io(
                        std::io::ErrorKind::TimedOut.into(),
                        &self.addresses[address],
                    ))
                });
            match result {
                Ok(Reply::Success(response)) => return Ok(response),
                Ok(Reply::Remote {
                    class,
                    message,
                    fatal,
                }) => {
                    if fatal {
                        *slot = None;
                    }
                    let err = error::remote(&class, &message).with_operation("namenode rpc");
                    if class.ends_with("StandbyException") && self.addresses.len() > 1 {
                        *slot = None;
                        last_error = Some(err);
                        continue;
                    }
                    return Err(err);
                }
                Err(err) => {
                    *slot = None;
                    last_error = Some(err);
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| Error::new(ErrorKind::ConfigInvalid, "no NameNode address to call")))
    }

    async fn exchange<Q: Message, R: Message + Default>(
        &self,
        connection: &mut Connection,
        method: &str,
        request: &Q,
    ) -> Result<Reply<R>> {
        let peer = self.addresses[connection.address].clone();
        let io = |e| error::io(e, &peer);
        let call_id = connection.next_call;
        connection.next_call = connection.next_call.wrapping_add(1) & i32::MAX;
        let header = proto::RpcRequestHeaderProto {
            rpc_kind: Some(proto::RPC_PROTOCOL_BUFFER),
            rpc_op: Some(0),
            call_id,
            client_id: self.client_id.clone(),
            retry_count: Some(0),
        };
        let method_header = proto::RequestHeaderProto {
            method_name: method.to_string(),
            declaring_class_protocol_name: PROTOCOL.to_string(),
            client_protocol_version: 1,
        };
        let bytes = frame(&[
            &header.encode_length_delimited_to_vec(),
            &method_header.encode_length_delimited_to_vec(),
            &request.encode_length_delimited_to_vec(),
        ]);
        connection
            .stream
            .get_mut()
            .write_all(&bytes)
            .await
            .map_err(io)?;
        loop {
            let len = connection.stream.read_u32().await.map_err(io)? as usize;
            if len > MAX_RESPONSE {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("NameNode {peer} sent a {len}-byte response (not Hadoop IPC?)"),
                ));
            }
            let mut body = vec![0; len];
            connection.stream.read_exact(&mut body).await.map_err(io)?;
            let mut body = body.as_slice();
            let response = proto::RpcResponseHeaderProto::decode_length_delimited(&mut body)
                .map_err(|e| protocol_error(&peer, e))?;
            if response.call_id != call_id as u32 {
                continue; // an answer to an abandoned call
            }
            return Ok(match response.status {
                proto::RPC_SUCCESS => Reply::Success(
                    R::decode_length_delimited(&mut body).map_err(|e| protocol_error(&peer, e))?,
                ),
                status => Reply::Remote {
                    class: response.exception_class_name.unwrap_or_default(),
                    message: response.error_msg.unwrap_or_default(),
                    fatal: status == proto::RPC_FATAL,
                },
            });
        }
    }
}

enum Reply<R> {
    Success(R),
    Remote {
        class: String,
        message: String,
        fatal: bool,
    },
}

fn protocol_error(peer: &str, error: prost::DecodeError) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("cannot decode the answer of NameNode {peer}"),
    )
    .with_source(error)
}

/// A frame: the parts' total length as 4 big-endian bytes, then the parts.
fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    parts.iter().for_each(|p| out.extend_from_slice(p));
    out
}
