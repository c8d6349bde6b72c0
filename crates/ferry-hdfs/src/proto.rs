//! The few Hadoop protobuf messages the checksum client speaks, declared by hand with prost's
//! derive (no protoc, no generated files). Field numbers and types follow Hadoop's
//! `RpcHeader.proto`, `IpcConnectionContext.proto`, `ProtobufRpcEngine.proto`,
//! `ClientNamenodeProtocol.proto`, `hdfs.proto` and `datatransfer.proto`; fields ferry does not
//! read are left out (protobuf skips unknown fields), enums are carried as plain integers.

#![allow(missing_docs)] // each field is the .proto field of the same name

use prost::Message;

/// `RpcRequestHeaderProto.rpcKind`: protocol buffers.
pub const RPC_PROTOCOL_BUFFER: i32 = 2;
/// `RpcResponseHeaderProto.status`: success.
pub const RPC_SUCCESS: i32 = 0;
/// `RpcResponseHeaderProto.status`: fatal (the server closes the connection).
pub const RPC_FATAL: i32 = 2;
/// `Status` of a DataTransferProtocol reply: success.
pub const DT_SUCCESS: i32 = 0;
/// `Status` of a DataTransferProtocol reply: bad block access token.
pub const DT_ERROR_ACCESS_TOKEN: i32 = 5;
/// `ChecksumTypeProto`: CRC32C.
pub const CHECKSUM_CRC32C: i32 = 2;

#[derive(Clone, PartialEq, Message)]
pub struct RpcRequestHeaderProto {
    #[prost(int32, optional, tag = "1")]
    pub rpc_kind: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub rpc_op: Option<i32>,
    #[prost(sint32, required, tag = "3")]
    pub call_id: i32,
    #[prost(bytes = "vec", required, tag = "4")]
    pub client_id: Vec<u8>,
    #[prost(sint32, optional, tag = "5")]
    pub retry_count: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct RpcResponseHeaderProto {
    #[prost(uint32, required, tag = "1")]
    pub call_id: u32,
    #[prost(int32, required, tag = "2")]
    pub status: i32,
    #[prost(string, optional, tag = "4")]
    pub exception_class_name: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub error_msg: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct UserInformationProto {
    #[prost(string, optional, tag = "1")]
    pub effective_user: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub real_user: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct IpcConnectionContextProto {
    #[prost(message, optional, tag = "2")]
    pub user_info: Option<UserInformationProto>,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct RequestHeaderProto {
    #[prost(string, required, tag = "1")]
    pub method_name: String,
    #[prost(string, required, tag = "2")]
    pub declaring_class_protocol_name: String,
    #[prost(uint64, required, tag = "3")]
    pub client_protocol_version: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetBlockLocationsRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(uint64, required, tag = "2")]
    pub offset: u64,
    #[prost(uint64, required, tag = "3")]
    pub length: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetBlockLocationsResponseProto {
    #[prost(message, optional, tag = "1")]
    pub locations: Option<LocatedBlocksProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetServerDefaultsRequestProto {}

#[derive(Clone, PartialEq, Message)]
pub struct GetServerDefaultsResponseProto {
    #[prost(message, optional, tag = "1")]
    pub server_defaults: Option<FsServerDefaultsProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FsServerDefaultsProto {
    #[prost(uint64, required, tag = "1")]
    pub block_size: u64,
    #[prost(uint32, required, tag = "2")]
    pub bytes_per_checksum: u32,
    #[prost(uint32, required, tag = "4")]
    pub replication: u32,
    #[prost(int32, optional, tag = "8")]
    pub checksum_type: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LocatedBlocksProto {
    #[prost(uint64, required, tag = "1")]
    pub file_length: u64,
    #[prost(message, repeated, tag = "2")]
    pub blocks: Vec<LocatedBlockProto>,
    #[prost(bool, required, tag = "3")]
    pub under_construction: bool,
    #[prost(bytes = "vec", optional, tag = "6")]
    pub file_encryption_info: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub ec_policy: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LocatedBlockProto {
    #[prost(message, required, tag = "1")]
    pub b: ExtendedBlockProto,
    #[prost(uint64, required, tag = "2")]
    pub offset: u64,
    #[prost(message, repeated, tag = "3")]
    pub locs: Vec<DatanodeInfoProto>,
    #[prost(bool, required, tag = "4")]
    pub corrupt: bool,
    #[prost(message, required, tag = "5")]
    pub block_token: TokenProto,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExtendedBlockProto {
    #[prost(string, required, tag = "1")]
    pub pool_id: String,
    #[prost(uint64, required, tag = "2")]
    pub block_id: u64,
    #[prost(uint64, required, tag = "3")]
    pub generation_stamp: u64,
    #[prost(uint64, optional, tag = "4")]
    pub num_bytes: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TokenProto {
    #[prost(bytes = "vec", required, tag = "1")]
    pub identifier: Vec<u8>,
    #[prost(bytes = "vec", required, tag = "2")]
    pub password: Vec<u8>,
    #[prost(string, required, tag = "3")]
    pub kind: String,
    #[prost(string, required, tag = "4")]
    pub service: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct DatanodeInfoProto {
    #[prost(message, required, tag = "1")]
    pub id: DatanodeIdProto,
}

#[derive(Clone, PartialEq, Message)]
pub struct DatanodeIdProto {
    #[prost(string, required, tag = "1")]
    pub ip_addr: String,
    #[prost(string, required, tag = "2")]
    pub host_name: String,
    #[prost(uint32, required, tag = "4")]
    pub xfer_port: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct BaseHeaderProto {
    #[prost(message, required, tag = "1")]
    pub block: ExtendedBlockProto,
    #[prost(message, optional, tag = "2")]
    pub token: Option<TokenProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OpBlockChecksumProto {
    #[prost(message, required, tag = "1")]
    pub header: BaseHeaderProto,
}

#[derive(Clone, PartialEq, Message)]
pub struct BlockOpResponseProto {
    #[prost(int32, required, tag = "1")]
    pub status: i32,
    #[prost(message, optional, tag = "3")]
    pub checksum_response: Option<OpBlockChecksumResponseProto>,
    #[prost(string, optional, tag = "5")]
    pub message: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OpBlockChecksumResponseProto {
    #[prost(uint32, required, tag = "1")]
    pub bytes_per_crc: u32,
    #[prost(uint64, required, tag = "2")]
    pub crc_per_block: u64,
    #[prost(bytes = "vec", required, tag = "3")]
    pub block_checksum: Vec<u8>,
    #[prost(int32, optional, tag = "4")]
    pub crc_type: Option<i32>,
}
