//! Test-only byte builder: writes `_metadata` bytes by hand, following the format doc, without
//! using the crate's encoder, so decoder and encoder are checked independently.

#![allow(dead_code)]

/// A growable byte buffer with big-endian writers (Java `DataOutputStream` conventions).
#[derive(Default, Clone)]
pub struct B(pub Vec<u8>);

impl B {
    pub fn new() -> Self {
        B(Vec::new())
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    /// `writeUTF` for ASCII text (modified UTF-8 == ASCII there).
    pub fn utf(&mut self, s: &str) -> &mut Self {
        assert!(
            s.bytes().all(|b| (1..0x80).contains(&b)),
            "builder utf() is ASCII-only"
        );
        self.utf_raw(s.as_bytes())
    }

    /// `writeUTF` with explicit encoded bytes.
    pub fn utf_raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u16).to_be_bytes());
        self.raw(b)
    }

    pub fn bytes32(&mut self, b: &[u8]) -> &mut Self {
        self.i32(b.len() as i32).raw(b)
    }

    pub fn i64s(&mut self, v: &[i64]) -> &mut Self {
        self.i32(v.len() as i32);
        for &x in v {
            self.i64(x);
        }
        self
    }

    pub fn header(&mut self, version: i32) -> &mut Self {
        self.raw(&[0x49, 0x60, 0x67, 0x2D]).i32(version)
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.0.clone()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

pub const OP_ID: [u8; 16] = [
    0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66, 0x77, 0x77, 0x88, 0x88,
];

// ---- stream handles (context S) -------------------------------------------------------

pub fn s_null() -> Vec<u8> {
    vec![0]
}

pub fn s1(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = B::new();
    b.u8(1).utf(name).bytes32(data);
    b.bytes()
}

pub fn s2(size: i64, path: &str) -> Vec<u8> {
    let mut b = B::new();
    b.u8(2).i64(size).utf(path);
    b.bytes()
}

pub fn s3(start: i32, offsets: &[i64], delegate: &[u8]) -> Vec<u8> {
    let mut b = B::new();
    b.u8(3).i32(start).i32(offsets.len() as i32);
    for &o in offsets {
        b.i64(o);
    }
    b.raw(delegate);
    b.bytes()
}

pub fn s6(path: &str, size: i64) -> Vec<u8> {
    let mut b = B::new();
    b.u8(6).utf(path).i64(size);
    b.bytes()
}

pub fn s15(start: i64, size: i64, scope: i32, path: &str, id: &str) -> Vec<u8> {
    let mut b = B::new();
    b.u8(15).i64(start).i64(size).i32(scope).utf(path).utf(id);
    b.bytes()
}

pub fn s16() -> Vec<u8> {
    vec![16]
}

// ---- operator handles (context O) ----------------------------------------------------------

/// `(name, mode, offsets)` entries.
pub fn op_states(b: &mut B, states: &[(&str, u8, &[i64])]) {
    b.i32(states.len() as i32);
    for (name, mode, offsets) in states {
        b.utf(name).u8(*mode).i64s(offsets);
    }
}

pub fn o4(states: &[(&str, u8, &[i64])], delegate: &[u8]) -> Vec<u8> {
    let mut b = B::new();
    b.u8(4);
    op_states(&mut b, states);
    b.raw(delegate);
    b.bytes()
}

pub fn o17(
    states: &[(&str, u8, &[i64])],
    task_owned: &str,
    shared: &str,
    empty: bool,
    delegate: &[u8],
) -> Vec<u8> {
    let mut b = B::new();
    b.u8(17);
    op_states(&mut b, states);
    b.utf(task_owned)
        .utf(shared)
        .u8(u8::from(empty))
        .raw(delegate);
    b.bytes()
}

// ---- keyed handles (context K) -------------------------------------------------------------

pub fn k_key_groups(
    tag: u8,
    start: i32,
    offsets: &[i64],
    delegate: &[u8],
    id: Option<&str>,
) -> Vec<u8> {
    let mut b = B::new();
    b.u8(tag).i32(start).i32(offsets.len() as i32);
    for &o in offsets {
        b.i64(o);
    }
    b.raw(delegate);
    if let Some(id) = id {
        b.utf(id);
    }
    b.bytes()
}

pub struct Incremental<'a> {
    pub checkpoint_id: i64,
    pub backend: &'a str,
    pub start: i32,
    pub count: i32,
    pub meta: Vec<u8>,
    pub shared: Vec<(&'a str, Vec<u8>)>,
    pub private: Vec<(&'a str, Vec<u8>)>,
}

pub fn k5(h: &Incremental<'_>) -> Vec<u8> {
    incremental(5, h, None, None)
}

pub fn k11(h: &Incremental<'_>, checkpointed_size: i64, id: &str) -> Vec<u8> {
    incremental(11, h, Some(checkpointed_size), Some(id))
}

fn incremental(tag: u8, h: &Incremental<'_>, size: Option<i64>, id: Option<&str>) -> Vec<u8> {
    let mut b = B::new();
    b.u8(tag)
        .i64(h.checkpoint_id)
        .utf(h.backend)
        .i32(h.start)
        .i32(h.count);
    if let Some(s) = size {
        b.i64(s);
    }
    b.raw(&h.meta);
    for list in [&h.shared, &h.private] {
        b.i32(list.len() as i32);
        for (name, handle) in list {
            b.utf(name).raw(handle);
        }
    }
    if let Some(id) = id {
        b.utf(id);
    }
    b.bytes()
}

// ---- subtasks / operators ------------------------------------------------------------------

/// V3+ subtask body (after the index): presence-int slots, keyed handles, channel lists.
pub struct Sub {
    pub managed_op: Option<Vec<u8>>,
    pub raw_op: Option<Vec<u8>>,
    pub managed_keyed: Vec<u8>,
    pub raw_keyed: Vec<u8>,
    pub input: Vec<Vec<u8>>,
    pub output: Vec<Vec<u8>>,
}

impl Default for Sub {
    fn default() -> Self {
        Sub {
            managed_op: None,
            raw_op: None,
            managed_keyed: vec![0],
            raw_keyed: vec![0],
            input: vec![],
            output: vec![],
        }
    }
}

impl Sub {
    pub fn write(&self, b: &mut B) {
        for slot in [&self.managed_op, &self.raw_op] {
            match slot {
                Some(h) => b.i32(1).raw(h),
                None => b.i32(0),
            };
        }
        b.raw(&self.managed_keyed).raw(&self.raw_keyed);
        for list in [&self.input, &self.output] {
            b.i32(list.len() as i32);
            for h in list {
                b.raw(h);
            }
        }
    }
}

/// A V3/V4 operator record: id, parallelism, max parallelism, coordinator, subtasks.
pub fn op_v3(b: &mut B, coordinator: &[u8], subtasks: &[(i32, Option<&Sub>)]) {
    b.raw(&OP_ID)
        .i32(2)
        .i32(128)
        .raw(coordinator)
        .i32(subtasks.len() as i32);
    for (idx, s) in subtasks {
        b.i32(*idx);
        if let Some(s) = s {
            s.write(b);
        }
    }
}

/// A minimal but plausible Java-serialized CheckpointProperties trailer for a savepoint or a
/// checkpoint (structure as in doc §5; UIDs arbitrary).
pub fn properties_trailer(savepoint: bool, canonical: bool, forced: bool) -> Vec<u8> {
    let mut b = B::new();
    b.raw(&[0xAC, 0xED, 0x00, 0x05, 0x73, 0x72]);
    b.utf("org.apache.flink.runtime.checkpoint.CheckpointProperties");
    b.i64(2).u8(0x02);
    let bools = [
        "discardCancelled",
        "discardFailed",
        "discardFinished",
        "discardSubsumed",
        "discardSuspended",
        "forced",
        "unclaimed",
    ];
    b.raw(&[0x00, 0x08]);
    for f in bools {
        b.u8(b'Z').utf(f);
    }
    b.u8(b'L')
        .utf("checkpointType")
        .u8(0x74)
        .utf("Lorg/apache/flink/runtime/checkpoint/SnapshotType;");
    b.u8(0x78).u8(0x70);
    for f in bools {
        b.u8(u8::from(
            f == "forced" && forced || f == "discardSubsumed" && !savepoint,
        ));
    }
    if savepoint {
        b.raw(&[0x73, 0x72])
            .utf("org.apache.flink.runtime.checkpoint.SavepointType");
        b.raw(&[0xA0, 0x87, 0xD3, 0x08, 0xA4, 0x58, 0x14, 0xB8])
            .u8(0x02)
            .raw(&[0x00, 0x03]);
        b.u8(b'L')
            .utf("formatType")
            .u8(0x74)
            .utf("Lorg/apache/flink/core/execution/SavepointFormatType;");
        b.u8(b'L').utf("name").u8(0x74).utf("Ljava/lang/String;");
        b.u8(b'L')
            .utf("postCheckpointAction")
            .u8(0x74)
            .utf("Lorg/apache/flink/runtime/checkpoint/SavepointType$PostCheckpointAction;");
        b.u8(0x78).u8(0x70);
        b.raw(&[0x7E, 0x72])
            .utf("org.apache.flink.core.execution.SavepointFormatType");
        b.i64(0).u8(0x12).raw(&[0x00, 0x00]).u8(0x78);
        b.raw(&[0x72])
            .utf("java.lang.Enum")
            .i64(0)
            .u8(0x12)
            .raw(&[0x00, 0x00])
            .u8(0x78)
            .u8(0x70);
        b.u8(0x74)
            .utf(if canonical { "CANONICAL" } else { "NATIVE" });
        b.u8(0x74).utf("Savepoint");
        b.raw(&[0x7E, 0x72])
            .utf("org.apache.flink.runtime.checkpoint.SavepointType$PostCheckpointAction");
        b.i64(0)
            .u8(0x12)
            .raw(&[0x00, 0x00])
            .u8(0x78)
            .raw(&[0x71, 0x00, 0x7E, 0x00, 0x07]);
        b.u8(0x74).utf("NONE");
    } else {
        b.raw(&[0x73, 0x72])
            .utf("org.apache.flink.runtime.checkpoint.CheckpointType");
        b.raw(&[0xD6, 0xDE, 0x4F, 0x03, 0x05, 0xAE, 0x1D, 0x3A])
            .u8(0x02)
            .raw(&[0x00, 0x02]);
        b.u8(b'L').utf("name").u8(0x74).utf("Ljava/lang/String;");
        b.u8(b'L')
            .utf("sharingFilesStrategy")
            .u8(0x74)
            .utf("Lorg/apache/flink/runtime/checkpoint/SnapshotType$SharingFilesStrategy;");
        b.u8(0x78).u8(0x70);
        b.u8(0x74).utf("Checkpoint");
        b.raw(&[0x7E, 0x72])
            .utf("org.apache.flink.runtime.checkpoint.SnapshotType$SharingFilesStrategy");
        b.i64(0).u8(0x12).raw(&[0x00, 0x00]).u8(0x78);
        b.raw(&[0x72])
            .utf("java.lang.Enum")
            .i64(0)
            .u8(0x12)
            .raw(&[0x00, 0x00])
            .u8(0x78)
            .u8(0x70);
        b.u8(0x74).utf("FORWARD_BACKWARD");
    }
    b.bytes()
}

pub mod files;
