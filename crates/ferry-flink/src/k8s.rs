//! The hand-off to the Flink Kubernetes Operator: a `FlinkStateSnapshot` that registers a
//! migrated snapshot as an existing savepoint, and the merge patch that restarts a
//! `FlinkDeployment` from it.
//!
//! Field names follow the operator's CRDs (apache/flink-kubernetes-operator,
//! `helm/flink-kubernetes-operator/crds/`; pinned by this module's tests):
//! `flinkstatesnapshots.flink.apache.org` v1beta1 `spec.savepoint.{path, alreadyExists,
//! disposeOnDelete, formatType}` and `spec.jobReference.{kind, name}` (operator 1.10 and later);
//! `flinkdeployments.flink.apache.org` v1beta1 `spec.job.initialSavepointPath` and
//! `spec.job.savepointRedeployNonce` (1.8 and later). The CRD has no
//! `job.initialStateReference`: the patch sets `initialSavepointPath` and bumps
//! `savepointRedeployNonce`, which makes the operator redeploy the job from that path whatever
//! its `upgradeMode`. `alreadyExists: true` keeps the operator from triggering anything;
//! `disposeOnDelete: false` keeps it from deleting the copy when the resource is deleted.

use serde_json::{json, Value};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOff {
    /// The snapshot's path (a Flink URI).
    pub path: String,
    /// The `FlinkStateSnapshot`'s name (DNS-1123; see [`resource_name`]).
    pub name: String,
    /// Its namespace (None: kubectl's current one).
    pub namespace: Option<String>,
    /// The `FlinkDeployment` to restart from it (None: a placeholder in the patch).
    pub deployment: Option<String>,
    /// The new `savepointRedeployNonce` (any value other than the current one).
    pub nonce: u64,
}

/// A DNS-1123 resource name from a path's last component: `ferry-<name>`, lowercase
/// alphanumerics and `-`, at most 63 characters.
pub fn resource_name(path: &str) -> String {
    let last = path
        .trim_end_matches('/')
        .trim_end_matches("/_metadata")
        .rsplit('/')
        .next()
        .unwrap_or("");
    let mut name = String::from("ferry-");
    for c in last.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

impl HandOff {
    /// The `FlinkStateSnapshot` resource.
    pub fn state_snapshot(&self) -> Value {
        let mut metadata = json!({ "name": self.name });
        if let Some(ns) = &self.namespace {
            metadata["namespace"] = ns.clone().into();
        }
        let mut spec = json!({
            "savepoint": {
                "path": self.path,
                "alreadyExists": true,
                "disposeOnDelete": false,
            }
        });
        if let Some(d) = &self.deployment {
            spec["jobReference"] = json!({ "kind": "FlinkDeployment", "name": d });
        }
        json!({
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": "FlinkStateSnapshot",
            "metadata": metadata,
            "spec": spec,
        })
    }

    /// The merge patch of the `FlinkDeployment`.
    pub fn deployment_patch(&self) -> Value {
        json!({
            "spec": {
                "job": {
                    "initialSavepointPath": self.path,
                    "savepointRedeployNonce": self.nonce,
                }
            }
        })
    }

    /// The YAML to print: the snapshot resource, then the patch with the command applying it.
    pub fn yaml(&self) -> String {
        let deployment = self
            .deployment
            .as_deref()
            .unwrap_or("<your-flinkdeployment>");
        let ns = self
            .namespace
            .as_deref()
            .map_or(String::new(), |n| format!(" -n {n}"));
        let mut out = String::new();
        out.push_str(
            "# Registers the migrated snapshot with the Flink Kubernetes Operator (1.10+) as an\n\
             # existing savepoint; the operator neither triggers nor deletes it.\n\
             # kubectl apply -f THIS_FILE\n",
        );
        emit(&mut out, &self.state_snapshot(), 0);
        out.push_str(&format!(
            "---\n# Restarts the deployment from it (operator 1.8+): save the document below as\n\
             # patch.yaml, then\n\
             #   kubectl patch flinkdeployment {deployment}{ns} --type merge --patch-file patch.yaml\n\
             # (savepointRedeployNonce must differ from the deployment's current value).\n"
        ));
        for line in yaml_of(&self.deployment_patch()).lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn yaml_of(value: &Value) -> String {
    let mut out = String::new();
    emit(&mut out, value, 0);
    out
}

/// A small YAML emitter for maps of scalars and maps (all ferry needs): strings are written
/// as JSON strings, which YAML reads as double-quoted scalars.
fn emit(out: &mut String, value: &Value, indent: usize) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, v) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(key);
        out.push(':');
        match v {
            Value::Object(_) => {
                out.push('\n');
                emit(out, v, indent + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&other.to_string());
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every leaf path of `value` (`spec.savepoint.path`, …).
    fn leaves(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(v, &p, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    fn hand_off() -> HandOff {
        HandOff {
            path: "s3://bucket/sp/savepoint-ab12-cd34".into(),
            name: resource_name("s3://bucket/sp/savepoint-ab12-cd34"),
            namespace: Some("flink".into()),
            deployment: Some("orders".into()),
            nonce: 1_765_000_000,
        }
    }

    #[test]
    fn fields_are_the_operators_crd_fields() {
        // The spec properties of the operator's CRDs (flinkstatesnapshots and
        // flinkdeployments .flink.apache.org-v1.yml, releases 1.10.0 to 1.15.0).
        let crd_snapshot = [
            "spec.backoffLimit",
            "spec.checkpoint",
            "spec.jobReference.kind",
            "spec.jobReference.name",
            "spec.savepoint.alreadyExists",
            "spec.savepoint.disposeOnDelete",
            "spec.savepoint.formatType",
            "spec.savepoint.path",
        ];
        let crd_job = [
            "spec.job.initialSavepointPath",
            "spec.job.savepointRedeployNonce",
            "spec.job.upgradeMode",
            "spec.job.allowNonRestoredState",
        ];
        let h = hand_off();
        let mut paths = Vec::new();
        leaves(&h.state_snapshot(), "", &mut paths);
        for p in paths.iter().filter(|p| p.starts_with("spec.")) {
            assert!(crd_snapshot.contains(&p.as_str()), "{p} is not in the CRD");
        }
        let snap = h.state_snapshot();
        assert_eq!(snap["apiVersion"], "flink.apache.org/v1beta1");
        assert_eq!(snap["kind"], "FlinkStateSnapshot");
        assert_eq!(snap["spec"]["savepoint"]["alreadyExists"], true);
        assert_eq!(snap["spec"]["savepoint"]["disposeOnDelete"], false);
        assert_eq!(snap["spec"]["jobReference"]["kind"], "FlinkDeployment");
        let mut paths = Vec::new();
        leaves(&h.deployment_patch(), "", &mut paths);
        assert_eq!(
            paths,
            vec![
                "spec.job.initialSavepointPath",
                "spec.job.savepointRedeployNonce"
            ]
        );
        for p in &paths {
            assert!(crd_job.contains(&p.as_str()), "{p}");
        }
    }

    #[test]
    fn names_are_dns_1123() {
        assert_eq!(
            resource_name("s3://b/sp/savepoint-AB12_cd34/"),
            "ferry-savepoint-ab12-cd34"
        );
        assert_eq!(
            resource_name("hdfs:///cp/j/chk-42/_metadata"),
            "ferry-chk-42"
        );
        let long = resource_name(&format!("/x/{}", "a".repeat(100)));
        assert_eq!(long.len(), 63);
    }

    #[test]
    fn yaml_reads_as_the_resources() {
        let y = hand_off().yaml();
        assert!(
            y.contains("apiVersion: \"flink.apache.org/v1beta1\"\nkind: \"FlinkStateSnapshot\"\n")
        );
        assert!(y.contains(
            "spec:\n  jobReference:\n    kind: \"FlinkDeployment\"\n    name: \"orders\"\n  \
             savepoint:\n    alreadyExists: true\n    disposeOnDelete: false\n    \
             path: \"s3://bucket/sp/savepoint-ab12-cd34\"\n"
        ));
        assert!(y.contains("kubectl patch flinkdeployment orders -n flink --type merge"));
        assert!(y.contains("#     initialSavepointPath: \"s3://bucket/sp/savepoint-ab12-cd34\"\n"));
        assert!(y.contains("#     savepointRedeployNonce: 1765000000\n"));
    }
}
