//! HDFS errors → ferry's [`ErrorKind`] and retry status, in one table.
//!
//! Two sources: hdfs-native's [`HdfsError`] (its variants, and the Java exception class names
//! the NameNode sends back in `RPCError`), and the checksum client's own RPC and
//! DataTransferProtocol failures, which carry the same class names. Every row gives a one-line
//! message saying what happened and what to do; the server's own text (its first line only,
//! never a Java stack trace) follows as the source.

use std::fmt;

use ferry_core::error::table::{self, row, Row};
use ferry_core::{Error, ErrorKind};
use hdfs_native::HdfsError;

/// NameNode and DataNode exceptions by Java class (Hadoop 2.x/3.x `org.apache.hadoop…`).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    row("java.io.FileNotFoundException", ErrorKind::NotFound, false, "no such file or directory"),
    row("org.apache.hadoop.security.AccessControlException", ErrorKind::PermissionDenied, false,
        "permission denied (set HADOOP_USER_NAME or -o user=NAME to act as another user)"),
    row("org.apache.hadoop.security.authorize.AuthorizationException", ErrorKind::PermissionDenied, false,
        "this user may not use the NameNode's protocol"),
    row("org.apache.hadoop.security.token.SecretManager$InvalidToken", ErrorKind::PermissionDenied, false,
        "a delegation or block token was refused (expired?)"),
    row("org.apache.hadoop.hdfs.server.namenode.SafeModeException", ErrorKind::Unexpected, true,
        "the NameNode is in safe mode (it leaves it once DataNodes report enough blocks; \
         see `hdfs dfsadmin -safemode get`)"),
    row("org.apache.hadoop.fs.FileAlreadyExistsException", ErrorKind::AlreadyExists, false,
        "the path already exists (as a directory?)"),
    row("org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException", ErrorKind::ConditionNotMatch, true,
        "another client holds the lease on this file (it is being written; the lease expires \
         after a minute if that writer died)"),
    row("org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException", ErrorKind::ConditionNotMatch, true,
        "the write lease was lost (the file was deleted or recovered by another client)"),
    row("org.apache.hadoop.hdfs.protocol.RecoveryInProgressException", ErrorKind::ConditionNotMatch, true,
        "lease recovery of this file is in progress; try again shortly"),
    row("org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException", ErrorKind::Unexpected, true,
        "the previous block is not replicated yet"),
    row("org.apache.hadoop.ipc.RetriableException", ErrorKind::Unexpected, true,
        "the NameNode asked to retry"),
    row("org.apache.hadoop.ipc.StandbyException", ErrorKind::Unexpected, true,
        "the NameNode is standby and no active NameNode answered"),
    row("org.apache.hadoop.ipc.ObserverRetryOnActiveException", ErrorKind::Unexpected, true,
        "the observer NameNode asked to retry on the active one"),
    row("org.apache.hadoop.ipc.RetryCache$CacheEntry", ErrorKind::Unexpected, true,
        "the NameNode is still processing an earlier attempt"),
    row("org.apache.hadoop.hdfs.protocol.DSQuotaExceededException", ErrorKind::Unexpected, false,
        "the directory's space quota is exceeded (`hdfs dfs -count -q`)"),
    row("org.apache.hadoop.hdfs.protocol.NSQuotaExceededException", ErrorKind::Unexpected, false,
        "the directory's file-count quota is exceeded (`hdfs dfs -count -q`)"),
    row("org.apache.hadoop.hdfs.protocol.QuotaByStorageTypeExceededException", ErrorKind::Unexpected, false,
        "the directory's storage-type quota is exceeded"),
    row("org.apache.hadoop.fs.ParentNotDirectoryException", ErrorKind::InvalidInput, false,
        "a path component is a file, not a directory"),
    row("org.apache.hadoop.fs.PathIsNotEmptyDirectoryException", ErrorKind::InvalidInput, false,
        "the directory is not empty"),
    row("org.apache.hadoop.fs.InvalidPathException", ErrorKind::InvalidInput, false,
        "HDFS refuses this path name"),
    row("org.apache.hadoop.hdfs.protocol.UnresolvedPathException", ErrorKind::Unsupported, false,
        "the path goes through a symlink, which ferry does not follow"),
    row("org.apache.hadoop.ipc.RpcNoSuchMethodException", ErrorKind::Unsupported, false,
        "the NameNode is too old for this operation"),
    row("java.lang.UnsupportedOperationException", ErrorKind::Unsupported, false,
        "the NameNode does not support this operation"),
    row("org.apache.hadoop.hdfs.server.datanode.ReplicaNotFoundException", ErrorKind::Unexpected, true,
        "the DataNode does not have this replica (any more)"),
];

/// The server's first line, without Java's stack trace.
#[derive(Debug)]
struct Remote(String);

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Remote {}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    const MAX: usize = 400;
    if line.len() > MAX {
        let mut cut = MAX;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &line[..cut])
    } else {
        line.to_string()
    }
}

/// Maps a remote (Java) exception by class name and message.
pub fn remote(class: &str, message: &str) -> Error {
    let short = class.rsplit('.').next().unwrap_or(class);
    let (kind, temporary, text) = match table::lookup(TABLE, class) {
        Some(row) => (row.kind, row.temporary, row.hint.to_string()),
        // The NameNode reports "no DataNode could take the block" as a plain IOException.
        None if message.contains("could only be replicated to") => (
            ErrorKind::Unexpected,
            true,
            "no DataNode could take the block (are DataNodes up and not full?)".to_string(),
        ),
        None => (ErrorKind::Unexpected, false, format!("HDFS error {short}")),
    };
    let error = Error::new(kind, text)
        .with_context("exception", short)
        .with_source(Remote(first_line(message)));
    if temporary {
        error.temporary()
    } else {
        error
    }
}

/// Maps a socket error talking to a NameNode or DataNode.
pub fn io(error: std::io::Error, peer: &str) -> Error {
    use std::io::ErrorKind as Io;
    let error_kind = error.kind();
    let (message, temporary) = match error_kind {
        Io::ConnectionRefused => (format!("cannot connect to {peer} (is it running?)"), true),
        Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof => (
            format!("connection to {peer} was cut (did it stop or restart?)"),
            true,
        ),
        Io::TimedOut | Io::WouldBlock => (format!("{peer} did not answer in time"), true),
        _ => (format!("I/O error talking to {peer}"), false),
    };
    let mut err = Error::new(ErrorKind::Unexpected, message).with_source(error);
    if matches!(
        error_kind,
        Io::ConnectionRefused | Io::TimedOut | Io::WouldBlock
    ) {
        // Nothing listens there, or nothing answers: every request will fail alike.
        err = err.store_unreachable();
    }
    if temporary {
        err.temporary()
    } else {
        err
    }
}

/// Maps an hdfs-native error from operation `op` on `path`.
pub fn map(error: HdfsError, op: &'static str, path: &str) -> Error {
    let mapped = match error {
        HdfsError::RPCError(class, message) | HdfsError::FatalRPCError(class, message) => {
            remote(&class, &message)
        }
        HdfsError::FileNotFound(_) => Error::new(ErrorKind::NotFound, "no such file or directory"),
        HdfsError::AlreadyExists(message) => {
            // hdfs-native folds AlreadyBeingCreatedException into AlreadyExists.
            if message.contains("lease") || message.contains("being created") {
                remote(
                    "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException",
                    &message,
                )
            } else {
                remote("org.apache.hadoop.fs.FileAlreadyExistsException", &message)
            }
        }
        HdfsError::IsADirectoryError(_) => Error::new(ErrorKind::InvalidInput, "is a directory"),
        HdfsError::IOError(e) => io(e, "an HDFS NameNode or DataNode"),
        HdfsError::DataTransferError(message) => Error::new(
            ErrorKind::Unexpected,
            "the DataNode pipeline failed (a DataNode died or refused the block)",
        )
        .with_source(Remote(first_line(&message)))
        .temporary(),
        HdfsError::ChecksumError => Error::new(
            ErrorKind::Corrupted,
            "a DataNode sent data that fails its CRC (a corrupt replica; retrying)",
        )
        .temporary(),
        HdfsError::BlocksNotFound(_) => Error::new(
            ErrorKind::Corrupted,
            "no DataNode has a replica of a block of this file (missing blocks: `hdfs fsck`)",
        ),
        HdfsError::OperationFailed(message) if message.contains("complete") => Error::new(
            ErrorKind::Unexpected,
            "the NameNode did not confirm the file's last block in time (DataNodes slow?)",
        )
        .with_source(Remote(message))
        .temporary(),
        HdfsError::OperationFailed(message) => {
            Error::new(ErrorKind::Unexpected, "HDFS operation failed").with_source(Remote(message))
        }
        HdfsError::InvalidPath(message) | HdfsError::InvalidArgument(message) => {
            Error::new(ErrorKind::InvalidInput, "HDFS refused the request")
                .with_source(Remote(message))
        }
        HdfsError::UrlParseError(e) => {
            Error::new(ErrorKind::InvalidInput, "not a valid HDFS URI").with_source(e)
        }
        HdfsError::UnsupportedErasureCodingPolicy(message)
        | HdfsError::ErasureCodingError(message)
        | HdfsError::UnsupportedFeature(message) => Error::new(
            ErrorKind::Unsupported,
            "not supported by ferry's HDFS client",
        )
        .with_source(Remote(message)),
        HdfsError::TrashNotEnabled => Error::new(ErrorKind::Unsupported, "trash is not enabled"),
        error @ (HdfsError::SASLError(_)
        | HdfsError::GSSAPIError(..)
        | HdfsError::NoSASLMechanism) => Error::new(
            ErrorKind::PermissionDenied,
            "Kerberos/SASL authentication failed (kinit, or -o kerberos_principal= and \
             kerberos_keytab=; needs a ferry built with the `kerberos` feature)",
        )
        .with_source(Remote(first_line(&error.to_string()))),
        HdfsError::XmlParseError(e) => Error::new(
            ErrorKind::ConfigInvalid,
            "cannot parse the Hadoop configuration",
        )
        .with_source(e),
        error @ (HdfsError::InternalError(_) | HdfsError::InvalidRPCResponse(_)) => {
            Error::new(ErrorKind::Unexpected, "HDFS protocol error")
                .with_source(Remote(first_line(&error.to_string())))
        }
    };
    mapped
        .with_operation(op)
        .with_context("path", path)
        .with_context("backend", "hdfs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_unique_codes_and_one_line_hints() {
        table::check(TABLE).unwrap();
    }

    fn rpc(class: &str, message: &str) -> Error {
        map(
            HdfsError::RPCError(class.into(), message.into()),
            "write",
            "/x",
        )
    }

    #[test]
    fn table_maps_kinds_and_retries() {
        let cases = [
            ("java.io.FileNotFoundException", ErrorKind::NotFound, false),
            (
                "org.apache.hadoop.security.AccessControlException",
                ErrorKind::PermissionDenied,
                false,
            ),
            (
                "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
                ErrorKind::Unexpected,
                true,
            ),
            (
                "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException",
                ErrorKind::Unexpected,
                true,
            ),
            (
                "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException",
                ErrorKind::ConditionNotMatch,
                true,
            ),
            ("org.example.Unknown", ErrorKind::Unexpected, false),
        ];
        for (class, kind, temporary) in cases {
            let err = rpc(class, "boom");
            assert_eq!(err.kind(), kind, "{class}");
            assert_eq!(err.is_temporary(), temporary, "{class}");
        }
    }

    #[test]
    fn messages_are_one_actionable_line_without_stack_traces() {
        let err = rpc(
            "org.apache.hadoop.security.AccessControlException",
            "Permission denied: user=bob, access=WRITE, inode=\"/\":root:supergroup:drwxr-xr-x\n\
             \tat org.apache.hadoop.hdfs.server.namenode.FSPermissionChecker.check(X.java:1)",
        );
        let text = err.to_string();
        assert!(!text.contains('\n'));
        assert!(!text.contains("FSPermissionChecker"), "{text}");
        assert!(text.contains("user=bob"), "{text}");
        assert!(text.contains("HADOOP_USER_NAME"), "{text}");
        assert!(text.contains("op=write"), "{text}");
        assert!(text.contains("/x"), "{text}");
    }

    #[test]
    fn lease_conflicts_folded_into_already_exists_are_recognised() {
        let err = map(
            HdfsError::AlreadyExists(
                "Failed to CREATE_FILE /t for DFSClient_1 because this file lease is currently \
                 owned by DFSClient_2"
                    .into(),
            ),
            "write",
            "/t",
        );
        assert_eq!(err.kind(), ErrorKind::ConditionNotMatch);
        assert!(err.is_temporary());
        let err = map(HdfsError::AlreadyExists("/d".into()), "write", "/d");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    }

    #[test]
    fn no_datanode_for_a_block_is_temporary() {
        let err = rpc(
            "java.io.IOException",
            "File /f could only be replicated to 0 nodes instead of minReplication (=1).",
        );
        assert!(err.is_temporary());
        assert!(err.to_string().contains("DataNodes up"), "{err}");
        let refused = map(
            HdfsError::IOError(std::io::ErrorKind::ConnectionRefused.into()),
            "write",
            "/f",
        );
        assert!(refused.is_temporary());
    }
}
