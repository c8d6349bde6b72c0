//! `kill -9` at random points (fixed seed) of `ferry cp` and `ferry migrate`, local→local and
//! local→S3, each followed by a re-run of the same command: the re-run must end identical to
//! the source. While the first run is alive the destination is polled: whenever `_metadata`
//! exists there, every file it references must exist with its full size.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_core::storage::read_to_bytes;
use ferry_core::{BackendOptions, ErrorKind, Location, Storage};
use futures::TryStreamExt;

use crate::support::*;

/// Trials per command and destination.
const TRIALS: u64 = 8;
const SEED: u64 = 0x4B11_1E57;

/// The kill point of trial `n`: 30–900 ms after the start (SplitMix64 of the seed).
fn kill_after(n: u64) -> Duration {
    let mut z = SEED.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Duration::from_millis(30 + (z ^ (z >> 31)) % 870)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A destination the trials write to and poll: local or S3.
enum Dest {
    Local,
    S3 {
        store: Box<ferry_s3::S3Storage>,
        env: Vec<(&'static str, String)>,
        endpoint: String,
        root: String,
    },
}

impl Dest {
    fn s3() -> Option<Dest> {
        let get = ferry_conformance::server_env;
        let endpoint = get("FERRY_TEST_S3_ENDPOINT")?;
        let (key, secret) = (
            get("FERRY_TEST_S3_ACCESS_KEY")?,
            get("FERRY_TEST_S3_SECRET_KEY")?,
        );
        let bucket = get("FERRY_TEST_S3_BUCKET")?;
        let options = BackendOptions::new()
            .with("endpoint", &endpoint)
            .with("access_key_id", &key)
            .with("secret_access_key", &secret);
        let store = runtime()
            .block_on(ferry_s3::S3Storage::open(&options))
            .unwrap();
        Some(Dest::S3 {
            store: Box::new(store),
            env: vec![
                ("AWS_ACCESS_KEY_ID", key),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
                ("AWS_CONFIG_FILE", "/dev/null".into()),
                ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ],
            endpoint,
            root: format!("s3://{bucket}/{}", ferry_conformance::unique_prefix("kill")),
        })
    }

    /// Where trial `name` writes.
    fn uri(&self, local_root: &Path, name: &str) -> String {
        match self {
            Dest::Local => local_root.join(name).display().to_string(),
            Dest::S3 { root, .. } => format!("{root}/{name}"),
        }
    }

    fn command(&self, state: &Path, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(ferry_bin());
        cmd.env("FERRY_STATE_DIR", state).env_remove("FERRY_FAULTS");
        cmd.args(args);
        if let Dest::S3 { env, endpoint, .. } = self {
            cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .args(["-o", &format!("endpoint={endpoint}")]);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    }

    /// The size of the file at `uri` (a `file:` path or an `s3://` URI), if it exists.
    fn size(&self, uri: &str) -> Option<u64> {
        match self {
            Dest::Local => {
                let path = uri.trim_start_matches("file:");
                let path = format!("/{}", path.trim_start_matches('/'));
                std::fs::metadata(path).ok().map(|m| m.len())
            }
            Dest::S3 { store, .. } => {
                let at = Location::parse(uri).unwrap();
                match runtime().block_on(store.stat(&at)) {
                    Ok(entry) => Some(entry.size),
                    Err(e) if e.kind() == ErrorKind::NotFound => None,
                    Err(e) => panic!("stat {uri}: {e}"),
                }
            }
        }
    }

    /// The bytes of `_metadata` under `dir`, if it exists.
    fn metadata(&self, dir: &str) -> Option<Vec<u8>> {
        match self {
            Dest::Local => std::fs::read(Path::new(dir).join("_metadata")).ok(),
            Dest::S3 { store, .. } => {
                let at = Location::parse(&format!("{dir}/_metadata")).unwrap();
                match runtime().block_on(read_to_bytes(&**store, &at, None)) {
                    Ok(bytes) => Some(bytes.to_vec()),
                    Err(e) if e.kind() == ErrorKind::NotFound => None,
                    Err(e) => panic!("read {at}: {e}"),
                }
            }
        }
    }

    /// Every file below `dir`: relative path → bytes.
    fn tree(&self, dir: &str) -> BTreeMap<String, Vec<u8>> {
        match self {
            Dest::Local => read_tree(Path::new(dir)),
            Dest::S3 { store, .. } => {
                let root = Location::parse(dir).unwrap();
                runtime().block_on(async {
                    let entries: Vec<_> = store.list(&root).try_collect().await.unwrap();
                    let mut files = BTreeMap::new();
                    for entry in entries {
                        let rel = entry.location.strip_prefix(&root).unwrap().to_string();
                        let bytes = read_to_bytes(&**store, &entry.location, None)
                            .await
                            .unwrap();
                        files.insert(rel, bytes.to_vec());
                    }
                    files
                })
            }
        }
    }
}

/// Checks the invariant: a `_metadata` at `dir` names only files present in full. `sizes`
/// maps each path the source `_metadata` names to its size, in the same order as the paths
/// of the rewritten one.
fn assert_metadata_complete(dest: &Dest, dir: &str, source_sizes: &[Option<u64>]) -> bool {
    let Some(bytes) = dest.metadata(dir) else {
        return false;
    };
    let metadata = ferry_metadata::Metadata::from_bytes(&bytes)
        .expect("a _metadata at the destination that does not decode");
    let paths = metadata.paths();
    assert_eq!(paths.len(), source_sizes.len());
    for (path, want) in paths.iter().zip(source_sizes) {
        let Some(want) = want else {
            continue; // a relative handle or an inline name
        };
        let uri = path.value_str().into_owned();
        assert_eq!(
            dest.size(&uri),
            Some(*want),
            "_metadata present while {uri} is missing or short"
        );
    }
    true
}

/// Runs `args`, kills it after `after` (polling the destination meanwhile with `poll`), then
/// runs it again to its end. Returns whether the kill struck a live run, and the re-run.
fn kill_and_rerun(
    dest: &Dest,
    state: &Path,
    args: &[&str],
    after: Duration,
    poll: impl Fn(),
) -> (bool, std::process::Output) {
    let started = Instant::now();
    let mut child = dest.command(state, args).spawn().unwrap();
    let mut finished = false;
    while started.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            finished = true;
            break;
        }
        poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    poll();
    (!finished, dest.command(state, args).output().unwrap())
}

fn assert_success(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cp_trials(dest: &Dest) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let mut files = vec![("big.bin".to_string(), bytes(12 * 1024 * 1024, 7))];
    for i in 0..40 {
        files.push((format!("d/f{i:02}"), bytes(20_000 + i * 3_000, i as u64)));
    }
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    write_tree(&src, &refs);
    let expected: BTreeMap<String, Vec<u8>> = files.into_iter().collect();
    for n in 0..TRIALS {
        let dst = dest.uri(dir.path(), &format!("cp-{n}"));
        let state = dir.path().join(format!("state-cp-{n}"));
        let src_arg = src.display().to_string();
        let args = [
            "cp",
            "-q",
            "--part-size",
            "5M",
            "--bwlimit",
            "16M",
            &src_arg,
            &dst,
        ];
        let (killed, rerun) = kill_and_rerun(dest, &state, &args, kill_after(n), || {});
        assert_success(&format!("cp trial {n} (killed: {killed}): re-run"), &rerun);
        let got = dest.tree(&dst);
        assert!(got == expected, "cp trial {n}: the destination differs");
        eprintln!("cp trial {n}: killed a live run: {killed}");
    }
}

fn migrate_trials(dest: &Dest) {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(
        "2.3.0",
        "chained-incremental-checkpoint",
        &dir.path().join("old"),
    );
    let job = manifest["job_id"].as_str().unwrap().to_string();
    // Big enough to be killed midway: an unreferenced file in the snapshot directory.
    std::fs::write(snapshot.join("zz-padding.bin"), bytes(10 * 1024 * 1024, 3)).unwrap();
    let source_sizes: Vec<Option<u64>> = metadata_paths(&snapshot.join("_metadata"))
        .iter()
        .map(|p| {
            let path = p.strip_prefix("file:")?;
            let path = format!("/{}", path.trim_start_matches('/'));
            Some(
                std::fs::metadata(&path)
                    .unwrap_or_else(|e| panic!("{path}: {e}"))
                    .len(),
            )
        })
        .collect();
    assert!(source_sizes.iter().flatten().count() > 3);
    let snapshot_files = read_tree(&snapshot);
    for n in 0..TRIALS {
        let base = dest.uri(dir.path(), &format!("mig-{n}"));
        let dst = format!("{base}/{job}/chk-2");
        let state = dir.path().join(format!("state-mig-{n}"));
        let src_arg = snapshot.display().to_string();
        let args = [
            "migrate",
            "-q",
            "--part-size",
            "1M",
            "--bwlimit",
            "12M",
            &src_arg,
            &dst,
        ];
        let seen = std::cell::Cell::new(false);
        let (killed, rerun) = kill_and_rerun(dest, &state, &args, kill_after(100 + n), || {
            if assert_metadata_complete(dest, &dst, &source_sizes) {
                seen.set(true);
            }
        });
        // The same command always succeeds: also when the first run had written `_metadata`
        // and was killed during its read-back (the re-run finds it complete and says so).
        assert_success(
            &format!(
                "migrate trial {n} (killed: {killed}, _metadata there: {}): re-run",
                seen.get()
            ),
            &rerun,
        );
        if seen.get() {
            let verify = dest.command(&state, &["verify", &dst]).output().unwrap();
            assert_success(&format!("migrate trial {n}: verify"), &verify);
        }
        assert!(assert_metadata_complete(dest, &dst, &source_sizes));
        // The snapshot directory's own files arrive byte for byte (`_metadata` rewritten).
        let got = dest.tree(&dst);
        for (name, content) in &snapshot_files {
            if name != "_metadata" {
                assert!(got.get(name) == Some(content), "migrate trial {n}: {name}");
            }
        }
        eprintln!(
            "migrate trial {n}: killed a live run: {killed}, _metadata there before the re-run: {}",
            seen.get()
        );
    }
}

#[test]
fn killed_cp_reruns_to_an_identical_copy_local() {
    cp_trials(&Dest::Local);
}

#[test]
fn killed_cp_reruns_to_an_identical_copy_s3() {
    let Some(dest) = Dest::s3() else { return };
    cp_trials(&dest);
}

#[test]
fn killed_migrate_never_shows_metadata_early_local() {
    migrate_trials(&Dest::Local);
}

#[test]
fn killed_migrate_never_shows_metadata_early_s3() {
    let Some(dest) = Dest::s3() else { return };
    migrate_trials(&dest);
}
