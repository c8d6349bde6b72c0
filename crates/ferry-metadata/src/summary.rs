//! A compact summary of a [`Metadata`]: operator/subtask counts, handle counts per kind and the
//! total size of referenced files. Formatting is left to the caller.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{
    ChannelHandle, KeyedHandle, Metadata, OperatorHandle, StreamHandle, SubtaskStates,
};

/// Counts over one metadata file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Format version.
    pub version: i32,
    /// Checkpoint id.
    pub checkpoint_id: i64,
    /// Number of master states.
    pub master_states: usize,
    /// Number of operators.
    pub operators: usize,
    /// Operators marked fully finished.
    pub fully_finished_operators: usize,
    /// Subtask entries with state.
    pub subtasks: usize,
    /// Finished-subtask markers.
    pub finished_subtasks: usize,
    /// Non-null handles per kind label (e.g. `"S-2 file"`, `"K-11 incremental"`).
    pub handles: BTreeMap<&'static str, usize>,
    /// Sum of recorded sizes of S-2 and S-6 files and S-15 segments (unknown sizes skipped).
    /// Files referenced several times are counted each time.
    pub referenced_bytes: u64,
    /// Sum of S-1 inline data lengths.
    pub inline_bytes: u64,
}

impl Metadata {
    /// Computes a [`Summary`].
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            version: self.version,
            checkpoint_id: self.checkpoint_id,
            master_states: self.master_states.len(),
            operators: self.operators.len(),
            ..Summary::default()
        };
        for op in &self.operators {
            s.stream(op.coordinator_state.as_ref());
            match &op.subtasks {
                SubtaskStates::FullyFinished { .. } => s.fully_finished_operators += 1,
                SubtaskStates::Entries(entries) => {
                    for e in entries {
                        let Some(st) = &e.state else {
                            s.finished_subtasks += 1;
                            continue;
                        };
                        s.subtasks += 1;
                        if let Some(l) = &st.legacy {
                            l.handles.iter().for_each(|h| s.stream(h.as_ref()));
                        }
                        for slot in [&st.managed_operator_state, &st.raw_operator_state] {
                            slot.handles.iter().for_each(|h| s.operator(h.as_ref()));
                        }
                        s.keyed(st.managed_keyed_state.as_deref());
                        s.keyed(st.raw_keyed_state.as_deref());
                        for h in st
                            .input_channel_state
                            .iter()
                            .chain(&st.result_subpartition_state)
                        {
                            s.channel(h);
                        }
                    }
                }
            }
        }
        s
    }
}

impl Summary {
    fn count(&mut self, label: &'static str) {
        *self.handles.entry(label).or_insert(0) += 1;
    }

    fn size(&mut self, v: i64) {
        if let Ok(v) = u64::try_from(v) {
            self.referenced_bytes = self.referenced_bytes.saturating_add(v);
        }
    }

    fn stream(&mut self, h: Option<&StreamHandle>) {
        let Some(h) = h else { return };
        match h {
            StreamHandle::ByteStream(b) => {
                self.count("S-1 inline");
                self.inline_bytes = self.inline_bytes.saturating_add(b.data.len() as u64);
            }
            StreamHandle::File(f) => {
                self.count("S-2 file");
                self.size(f.state_size);
            }
            StreamHandle::KeyGroups(k) => {
                self.count("S-3 key-groups");
                self.stream(k.delegate.as_ref());
            }
            StreamHandle::RelativeFile(f) => {
                self.count("S-6 relative file");
                self.size(f.state_size);
            }
            StreamHandle::Segment(seg) => {
                self.count("S-15 segment");
                self.size(seg.state_size);
            }
            StreamHandle::EmptySegment => self.count("S-16 empty segment"),
        }
    }

    fn keyed(&mut self, h: Option<&KeyedHandle>) {
        let Some(h) = h else { return };
        match h {
            KeyedHandle::KeyGroups(k) => {
                self.count(match k.kind.tag() {
                    3 => "K-3 key-groups",
                    7 => "K-7 savepoint key-groups",
                    _ => "K-12 key-groups",
                });
                self.stream(k.data.delegate.as_ref());
            }
            KeyedHandle::Incremental(k) => {
                self.count(if k.kind.tag() == 5 {
                    "K-5 incremental"
                } else {
                    "K-11 incremental"
                });
                self.stream(k.meta_state.as_ref());
                for e in k.shared_state.iter().chain(&k.private_state) {
                    self.stream(e.handle.as_ref());
                }
            }
            KeyedHandle::ChangelogBackend(c) => {
                self.count(if c.kind.tag() == 8 {
                    "K-8 changelog backend"
                } else {
                    "K-14 changelog backend"
                });
                for e in c.materialized.iter().chain(&c.non_materialized) {
                    self.keyed(e.as_ref());
                }
            }
            KeyedHandle::InMemoryChangelog(_) => self.count("K-9 in-memory changelog"),
            KeyedHandle::ChangelogFiles(c) => {
                self.count(if c.kind.tag() == 10 {
                    "K-10 changelog files"
                } else {
                    "K-13 changelog files"
                });
                for e in &c.handles {
                    self.stream(e.handle.as_ref());
                }
            }
        }
    }

    fn operator(&mut self, h: Option<&OperatorHandle>) {
        let Some(h) = h else { return };
        self.count(match h {
            OperatorHandle::Stream(_) => "O-4 operator stream",
            OperatorHandle::FileMerging(_) => "O-17 file-merging operator",
        });
        self.stream(h.delegate());
    }

    fn channel(&mut self, h: &ChannelHandle) {
        self.count(match h {
            ChannelHandle::Single(_) => "C single channel",
            ChannelHandle::Merged(_) => "C merged channel",
        });
        self.stream(h.delegate());
    }
}
